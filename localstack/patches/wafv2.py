"""WAFv2: the ALB's web ACL (issue 20): AWS managed rule groups, a per-IP rate rule, logging, association.

Patches (`@patch`) first, then the checks (`check_*(ctx)`) that check_emulator.py runs and that
fail without them. See patches/__init__.py.
"""

import json

from . import patch
from .expect import expect, expect_equal


@patch
def wafv2_list_resources_for_web_acl():
    """WAFv2 `ListResourcesForWebACL`, and `AssociateWebACL` of a resource that has a web ACL already.

    AWS: ListResourcesForWebACL answers the ARNs of the resources associated with a regional web
    ACL (of ResourceType, APPLICATION_LOAD_BALANCER when omitted); a resource has at most one
    web ACL, so AssociateWebACL with another ACL moves it. moto 5.2.5: HTTP 500, action not
    implemented; and the resource stays listed under the old ACL too. Needed by: issue 20's
    elbv2_waf_acl_attached control (Prowler finds the ALB's ACL with ListResourcesForWebACL) and
    moodle-ha's observe of the association.
    """
    from moto.wafv2.models import WAFV2Backend
    from moto.wafv2.responses import WAFV2Response

    original_associate = WAFV2Backend.associate_web_acl
    kinds = {
        "APPLICATION_LOAD_BALANCER": ":loadbalancer/app/",
        "API_GATEWAY": ":/restapis/",
        "APPSYNC": ":apis/",
        "COGNITO_USER_POOL": ":userpool/",
        "APP_RUNNER_SERVICE": ":service/",
        "VERIFIED_ACCESS_INSTANCE": ":verified-access-instance/",
    }

    def associate_web_acl(self, web_acl_arn, resource_arn):
        for acl in self.wacls.values():
            if acl.arn != web_acl_arn and resource_arn in acl.associated_resources:
                acl.associated_resources.remove(resource_arn)
        original_associate(self, web_acl_arn, resource_arn)
        acl = self.wacls[web_acl_arn]
        acl.associated_resources[:] = list(dict.fromkeys(acl.associated_resources))

    def list_resources_for_web_acl(self):
        from moto.wafv2.exceptions import WAFNonexistentItemException

        body = json.loads(self.body)
        acl = self.wafv2_backend.wacls.get(body["WebACLArn"])
        if acl is None:
            raise WAFNonexistentItemException
        marker = kinds.get(body.get("ResourceType") or "APPLICATION_LOAD_BALANCER", "")
        arns = [arn for arn in acl.associated_resources if marker in arn]
        return 200, {"Content-Type": "application/json"}, json.dumps({"ResourceArns": arns})

    WAFV2Backend.associate_web_acl = associate_web_acl
    WAFV2Response.list_resources_for_web_acl = list_resources_for_web_acl


@patch
def wafv2_duplicate_item_error_code():
    """WAFv2 `CreateWebACL` with the name of a web ACL that exists in the scope.

    AWS: the error code is WAFDuplicateItemException (WAFv2 API reference, CreateWebACL,
    Errors). moto 5.2.5: WafV2DuplicateItem. Needed by: moodle-ha's create of the web ACL after
    an answer was lost (the retry finds the ACL and adopts it when its tags say it is the
    stack's), caught by tests/it/resilience.rs's lost-answer test.
    """
    from moto.wafv2 import exceptions

    def __init__(self):
        exceptions.WAFv2ClientError.__init__(
            self,
            "WAFDuplicateItemException",
            "AWS WAF could not perform the operation because some resource in your request is a duplicate of an existing one.",
        )

    exceptions.WAFV2DuplicateItemException.__init__ = __init__


# Checks --------------------------------------------------------------------------------------


def check_web_acl(ctx):
    """A regional web ACL as issue 20 wants it round-trips, is logged to CloudWatch Logs, and protects an ALB."""
    waf, elb, logs = ctx.wafv2, ctx.elbv2, ctx.logs
    visibility = lambda name: {"SampledRequestsEnabled": True, "CloudWatchMetricsEnabled": True, "MetricName": name}  # noqa: E731
    rules = [
        {"Name": "aws-common", "Priority": 1, "OverrideAction": {"None": {}}, "VisibilityConfig": visibility("aws-common"),
         "Statement": {"ManagedRuleGroupStatement": {"VendorName": "AWS", "Name": "AWSManagedRulesCommonRuleSet",
                                                     "RuleActionOverrides": [{"Name": "SizeRestrictions_BODY", "ActionToUse": {"Count": {}}}]}}},
        {"Name": "aws-bad-inputs", "Priority": 2, "OverrideAction": {"None": {}}, "VisibilityConfig": visibility("aws-bad-inputs"),
         "Statement": {"ManagedRuleGroupStatement": {"VendorName": "AWS", "Name": "AWSManagedRulesKnownBadInputsRuleSet"}}},
        {"Name": "per-ip-rate", "Priority": 3, "Action": {"Block": {}}, "VisibilityConfig": visibility("per-ip-rate"),
         "Statement": {"RateBasedStatement": {"Limit": 2000, "AggregateKeyType": "IP"}}},
    ]
    name = ctx.name("waf")
    summary = waf.create_web_acl(Name=name, Scope="REGIONAL", DefaultAction={"Allow": {}}, Rules=rules, VisibilityConfig=visibility("acl"),
                                 Tags=[{"Key": "moodle-ha:stack", "Value": ctx.run}])["Summary"]
    acl = waf.get_web_acl(Name=name, Scope="REGIONAL", Id=summary["Id"])
    expect_equal(acl["WebACL"]["Rules"], rules, "GetWebACL Rules (managed rule groups with a Count override, rate rule)")
    expect_equal(acl["WebACL"]["DefaultAction"], {"Allow": {}}, "GetWebACL DefaultAction")
    expect(acl.get("LockToken"), "GetWebACL LockToken missing")
    listed = [a["ARN"] for a in waf.list_web_acls(Scope="REGIONAL")["WebACLs"]]
    expect(summary["ARN"] in listed, "ListWebACLs(REGIONAL) misses the ACL:", listed)
    tags = waf.list_tags_for_resource(ResourceARN=summary["ARN"])["TagInfoForResource"]["TagList"]
    expect_equal(tags, [{"Key": "moodle-ha:stack", "Value": ctx.run}], "ListTagsForResource(web ACL)")

    log_group = f"aws-waf-logs-{ctx.run}"
    logs.create_log_group(logGroupName=log_group)
    destination = f"arn:aws:logs:{ctx.region}:{ctx.account}:log-group:{log_group}"
    waf.put_logging_configuration(LoggingConfiguration={"ResourceArn": summary["ARN"], "LogDestinationConfigs": [destination]})
    got = waf.get_logging_configuration(ResourceArn=summary["ARN"])["LoggingConfiguration"]
    expect_equal((got["ResourceArn"], got["LogDestinationConfigs"]), (summary["ARN"], [destination]), "GetLoggingConfiguration")

    lb = elb.create_load_balancer(Name=ctx.name("waf-lb"), Subnets=ctx.subnets, SecurityGroups=[ctx.sgs[0]], Type="application")["LoadBalancers"][0]["LoadBalancerArn"]
    other = waf.create_web_acl(Name=ctx.name("waf-other"), Scope="REGIONAL", DefaultAction={"Allow": {}}, Rules=[], VisibilityConfig=visibility("other"))["Summary"]
    waf.associate_web_acl(WebACLArn=other["ARN"], ResourceArn=lb)
    waf.associate_web_acl(WebACLArn=summary["ARN"], ResourceArn=lb)
    expect_equal(waf.get_web_acl_for_resource(ResourceArn=lb)["WebACL"]["ARN"], summary["ARN"], "GetWebACLForResource(ALB)")
    expect_equal(waf.list_resources_for_web_acl(WebACLArn=summary["ARN"], ResourceType="APPLICATION_LOAD_BALANCER")["ResourceArns"], [lb], "ListResourcesForWebACL(ALB)")
    expect_equal(waf.list_resources_for_web_acl(WebACLArn=summary["ARN"])["ResourceArns"], [lb], "ListResourcesForWebACL without ResourceType")
    expect_equal(waf.list_resources_for_web_acl(WebACLArn=other["ARN"])["ResourceArns"], [], "AssociateWebACL with another ACL moves the ALB")
    waf.disassociate_web_acl(ResourceArn=lb)
    expect_equal(waf.list_resources_for_web_acl(WebACLArn=summary["ARN"])["ResourceArns"], [], "DisassociateWebACL")

    waf.delete_logging_configuration(ResourceArn=summary["ARN"])
    for acl_summary in (summary, other):
        token = waf.get_web_acl(Name=acl_summary["Name"], Scope="REGIONAL", Id=acl_summary["Id"])["LockToken"]
        waf.delete_web_acl(Name=acl_summary["Name"], Scope="REGIONAL", Id=acl_summary["Id"], LockToken=token)
    elb.delete_load_balancer(LoadBalancerArn=lb)
    logs.delete_log_group(logGroupName=log_group)


def check_duplicate_web_acl(ctx):
    """A second web ACL of the same name is refused with AWS's code, WAFDuplicateItemException."""
    waf = ctx.wafv2
    visibility = {"SampledRequestsEnabled": False, "CloudWatchMetricsEnabled": False, "MetricName": "dup"}
    name = ctx.name("waf-dup")
    summary = waf.create_web_acl(Name=name, Scope="REGIONAL", DefaultAction={"Allow": {}}, Rules=[], VisibilityConfig=visibility)["Summary"]
    code = None
    try:
        waf.create_web_acl(Name=name, Scope="REGIONAL", DefaultAction={"Allow": {}}, Rules=[], VisibilityConfig=visibility)
    except waf.exceptions.ClientError as e:
        code = e.response["Error"]["Code"]
    finally:
        token = waf.get_web_acl(Name=name, Scope="REGIONAL", Id=summary["Id"])["LockToken"]
        waf.delete_web_acl(Name=name, Scope="REGIONAL", Id=summary["Id"], LockToken=token)
    expect_equal(code, "WAFDuplicateItemException", "CreateWebACL of an existing name: error code")
