"""EC2: NAT gateway tag filters, launch templates (own tags, client tokens, versions, pagination), client tokens of
creates, the checks' network (VPC, subnets, security groups); issue 20's default security group rules, flow
logs and detailed monitoring.

Patches (`@patch`) and fixtures (`@fixture`) first, then the checks (`check_*(ctx)`) that
check_emulator.py runs and that fail without them. See patches/__init__.py.
"""

import base64
import copy
import uuid

from . import patch
from .ssm import UBUNTU_AMD64
from .expect import expect, expect_equal, expect_error, run_tag, twice


@patch
def ec2_nat_gateway_tag_filters():
    """EC2 `DescribeNatGateways` with a `tag:<key>` (or `tag-key`, `tag-value`) filter.

    AWS: returns only the gateways carrying the tag. moto 5.2.5: ignores tag filters and
    returns every gateway in the region, so a tool that finds its resources by tag would
    adopt another stack's gateways. Needed by: tests/it/adopt.rs (nothing left tagged after
    destroy) and every observe of a stack with NAT gateways.
    """
    from moto.ec2.models.nat_gateways import NatGatewayBackend
    from moto.ec2.utils import is_tag_filter, tag_filter_matches

    original = NatGatewayBackend.describe_nat_gateways

    def describe_nat_gateways(self, filters, nat_gateway_ids):
        gateways = original(self, filters, nat_gateway_ids)
        for name, values in (filters or {}).items():
            if is_tag_filter(name):
                gateways = [g for g in gateways if tag_filter_matches(g, name, values)]
        return gateways

    NatGatewayBackend.describe_nat_gateways = describe_nat_gateways


@patch
def ec2_launch_template_own_tags():
    """EC2 `CreateLaunchTemplate` with top-level TagSpecifications (ResourceType launch-template) (F8).

    AWS: those tags go on the launch template itself (DescribeLaunchTemplates Tags); the
    version's LaunchTemplateData.TagSpecifications holds only what LaunchTemplateData sent (the
    tags for instances and volumes launched from it). moto 5.2.5: also appends the top-level
    TagSpecifications to LaunchTemplateData.TagSpecifications, so instances launched from the
    template would carry them and a client comparing the template data sees drift. Needed by:
    moodle-ha's launch template observe/drift check.
    """
    from moto.ec2.models.launch_templates import LaunchTemplateBackend

    original = LaunchTemplateBackend.create_launch_template

    def create_launch_template(self, name, description, template_data, tag_spec, *args, **kwargs):
        # moto's response handler appended one entry per top-level resource type: take them back out.
        appended = [
            {"ResourceType": kind, "Tags": [{"Key": k, "Value": v} for k, v in tags.items()]}
            for kind, tags in (tag_spec or {}).items()
        ]
        specs = template_data.get("TagSpecifications") or []
        if appended and specs[-len(appended):] == appended:
            del specs[-len(appended):]
            if not specs:
                del template_data["TagSpecifications"]
        return original(self, name, description, template_data, tag_spec, *args, **kwargs)

    LaunchTemplateBackend.create_launch_template = create_launch_template


@patch
def ec2_launch_template_client_token():
    """EC2 `CreateLaunchTemplate` / `CreateLaunchTemplateVersion` retried with the same ClientToken.

    AWS: the token makes the call idempotent: a retry with the same token and parameters answers
    the template (or version) the first call created and creates nothing; the same token with
    other parameters answers IdempotentParameterMismatch. moto 5.2.5: ignores ClientToken, so a
    retried CreateLaunchTemplate answers InvalidLaunchTemplateName.AlreadyExistsException and a
    retried CreateLaunchTemplateVersion creates a second version. Needed by: moodle-ha's launch
    template create/update, which retries with the same token after a timeout.
    """
    from moto.ec2.responses.launch_templates import LaunchTemplates

    original_create = LaunchTemplates.create_launch_template
    original_version = LaunchTemplates.create_launch_template_version

    def create_launch_template(self):
        return _ec2_idempotent(self, original_create, "template", snapshot=True)

    def create_launch_template_version(self):
        template = self._get_param("LaunchTemplateId") or self._get_param("LaunchTemplateName")
        return _ec2_idempotent(self, original_version, ("version", template), snapshot=True)

    LaunchTemplates.create_launch_template = create_launch_template
    LaunchTemplates.create_launch_template_version = create_launch_template_version


def _ec2_idempotent(response, original, scope, snapshot):
    """Runs an EC2 create action `original` once per ClientToken, as AWS does.

    The first call with a token runs it and remembers the request and the answer; a later call
    with the same token and the same parameters answers the same (a copy of the answer as it
    was when `snapshot`, else the same resource as it is now) and creates nothing; the same
    token with other parameters answers IdempotentParameterMismatch. Without a token the
    action runs as usual.
    """
    from moto.core.responses import ActionResult
    from moto.ec2.exceptions import EC2ClientError

    token = response._get_param("ClientToken")
    if not token:
        return original(response)
    tokens = response.ec2_backend.__dict__.setdefault("_client_tokens", {})
    request = sorted((k, v) for k, v in response.querystring.items() if k not in ("ClientToken", "Action", "Version"))
    key = (scope, token)
    if key in tokens:
        seen, answer = tokens[key]
        if seen != request:
            raise EC2ClientError("IdempotentParameterMismatch", "The client token you have provided is associated with a resource that is already deleted or has different parameters.")
        return ActionResult(copy.deepcopy(answer) if snapshot else answer)
    result = original(response)
    tokens[key] = (request, copy.deepcopy(result.result) if snapshot else result.result)
    return result


@patch
def ec2_client_token_nat_route_table_instances():
    """EC2 `CreateNatGateway`, `CreateRouteTable` and `RunInstances` retried with the same ClientToken.

    AWS: the token makes each call idempotent: a retry with the same token and parameters
    answers the gateway, route table or reservation the first call created and creates nothing
    (a different request with the same token: IdempotentParameterMismatch). moto 5.2.5:
    ignores ClientToken, so a retry whose first answer was lost creates a second NAT gateway,
    route table or instance. Needed by: tests/it/resilience.rs
    (apply_converges_when_answers_are_lost), which loses the answer to these creates.
    """
    from moto.ec2.responses.instances import InstanceResponse
    from moto.ec2.responses.nat_gateways import NatGateways
    from moto.ec2.responses.route_tables import RouteTables

    for cls, action in (
        (NatGateways, "create_nat_gateway"),
        (RouteTables, "create_route_table"),
        (InstanceResponse, "run_instances"),
    ):
        original = getattr(cls, action)

        def idempotent(self, original=original, action=action):
            return _ec2_idempotent(self, original, action, snapshot=False)

        setattr(cls, action, idempotent)


@patch
def ec2_create_flow_logs_client_token():
    """EC2 `CreateFlowLogs` retried with the same ClientToken.

    AWS: ClientToken makes the call idempotent ("Unique, case-sensitive identifier that you
    provide to ensure the idempotency of the request"): a retry with the same token and
    parameters answers the FlowLogIds of the first call and creates nothing. moto 5.2.5:
    ignores ClientToken, and the retry of a call whose answer was lost fails with
    FlowLogAlreadyExists. Needed by: tests/it/resilience.rs
    (apply_converges_when_the_answer_to_taking_the_lock_is_lost loses the answer to
    CreateFlowLogs; the SDK's retry carries the same token).
    """
    from moto.ec2.responses.flow_logs import FlowLogs

    original = FlowLogs.create_flow_logs

    def create_flow_logs(self):
        return _ec2_idempotent(self, original, "create_flow_logs", snapshot=True)

    FlowLogs.create_flow_logs = create_flow_logs


@patch
def ec2_launch_template_version_user_data():
    """EC2 `CreateLaunchTemplateVersion` with LaunchTemplateData.UserData, then an ASG launching from it.

    AWS: a version's UserData is base64 like the first version's, and an Auto Scaling group
    launches instances from any version. moto 5.2.5: keeps the UserData of versions 2+ as a
    plain string, so a CreateAutoScalingGroup / UpdateAutoScalingGroup / SetDesiredCapacity that
    launches an instance from such a version answers HTTP 500 (AssertionError in
    LaunchTemplateVersion.user_data). Needed by: moodle-ha's web tier, whose ASG runs the
    latest launch template version (user data in every version).
    """
    from moto.ec2.models.launch_templates import LaunchTemplate
    from moto.ec2.utils import parse_user_data

    original = LaunchTemplate.create_version

    def create_version(self, data, description):
        if isinstance(data, dict) and isinstance(data.get("UserData"), str):
            data["UserData"] = parse_user_data(data["UserData"])
        return original(self, data, description)

    LaunchTemplate.create_version = create_version

@patch
def ec2_launch_template_pagination():
    """EC2 `DescribeLaunchTemplates` / `DescribeLaunchTemplateVersions` with more results than one page.

    AWS: answers every match when MaxResults is omitted, or MaxResults of them and a NextToken for
    the rest. moto 5.2.5: answers at most MaxResults (15 when omitted) and never a NextToken, so
    the 16th template (or version) silently disappears. Needed by: moodle-ha observe (all
    templates of a stack; all versions of a template that has been updated often).
    """
    from moto.ec2.responses.launch_templates import LaunchTemplates

    def paginated(method, key):
        original = getattr(LaunchTemplates, method)

        def describe(self):
            limit = self._get_int_param("MaxResults")
            start = int(self._get_param("NextToken") or 0)
            get_int = self._get_int_param
            self._get_int_param = lambda name, default=None: 1 << 30 if name == "MaxResults" else get_int(name, default)
            try:
                result = original(self)
            finally:
                del self._get_int_param
            items = result.result[key]
            end = len(items) if limit is None else start + limit
            result.result[key] = items[start:end]
            if end < len(items):
                result.result["NextToken"] = str(end)
            return result

        setattr(LaunchTemplates, method, describe)

    paginated("describe_launch_templates", "LaunchTemplates")
    paginated("describe_launch_template_versions", "LaunchTemplateVersions")


@patch
def ec2_default_security_group_self_ingress():
    """EC2 `CreateVpc`: the rules of the VPC's default security group.

    AWS: the default security group of a new VPC allows all inbound traffic from itself (one
    rule, protocol -1, source the group) and all outbound traffic (0.0.0.0/0), until revoked.
    moto 5.2.5: only the outbound rule. Needed by: issue 20's
    ec2_securitygroup_default_restrict_traffic control (the stack revokes both rules of its
    VPC's default group; with one rule missing the revocation of the other is never exercised).
    """
    from moto.ec2.models.vpcs import VPCBackend

    original = VPCBackend.create_vpc

    def create_vpc(self, *args, **kwargs):
        vpc = original(self, *args, **kwargs)
        group = self.get_security_group_from_name("default", vpc_id=vpc.id)
        if group is not None and not group.ingress_rules:
            self.authorize_security_group_ingress(
                group.id, "-1", None, None, [], source_groups=[{"GroupId": group.id, "UserId": self.account_id}], vpc_id=vpc.id,
            )
        return vpc

    VPCBackend.create_vpc = create_vpc


@patch
def ec2_monitor_instances():
    """EC2 `MonitorInstances` / `UnmonitorInstances`: detailed monitoring switched on a running instance.

    AWS: answers InstanceMonitorings [{InstanceId, Monitoring: {State: pending | disabling}}]
    and the instance's Monitoring.State becomes enabled / disabled; an unknown instance is
    InvalidInstanceID.NotFound. moto 5.2.5: HTTP 500, "not yet implemented". The emulator
    switches at once (DescribeInstances shows enabled / disabled right away). Needed by: issue
    20's ec2_instance_detailed_monitoring_enabled control, updated in place on the cron
    instance.
    """
    from moto.core.responses import ActionResult
    from moto.ec2.responses.monitoring import Monitoring

    def switch(response, state, answered):
        response.error_on_dryrun()
        result = []
        for instance_id in response._get_param("InstanceIds", []):
            instance = response.ec2_backend.get_instance(instance_id)
            instance.monitoring_state = state
            result.append({"InstanceId": instance_id, "Monitoring": {"State": answered}})
        return ActionResult({"InstanceMonitorings": result})

    Monitoring.monitor_instances = lambda self: switch(self, "enabled", "pending")
    Monitoring.unmonitor_instances = lambda self: switch(self, "disabled", "disabling")


@patch
def ec2_launch_template_monitoring():
    """EC2 instances launched from a launch template whose data has `Monitoring.Enabled=true`.

    AWS: the instance has detailed monitoring (Monitoring.State "enabled"), whether RunInstances
    names the template or an Auto Scaling group launches it; a `Monitoring` parameter sent with
    RunInstances overrides the template's. moto 5.2.5: ignores the template's Monitoring
    ("disabled"). Needed by: issue 20's ec2_instance_detailed_monitoring_enabled control on the
    web instances, which the Auto Scaling group launches from moodle-ha's launch template.
    """
    import threading

    from moto.ec2.models.instances import InstanceBackend
    from moto.ec2.responses.instances import InstanceResponse

    sent = threading.local()
    original_response = InstanceResponse.run_instances
    original_backend = InstanceBackend.run_instances

    def run_instances_response(self):
        sent.monitoring = self._get_param("Monitoring.Enabled")
        try:
            return original_response(self)
        finally:
            sent.monitoring = None

    def run_instances(self, image_id, count, user_data, security_group_names, **kwargs):
        explicit = getattr(sent, "monitoring", None)
        if kwargs.get("launch_template") and explicit is None:
            data = self._get_template_from_args(kwargs["launch_template"]).data
            if str((data.get("Monitoring") or {}).get("Enabled")).lower() == "true":
                kwargs["monitoring_state"] = "enabled"
        return original_backend(self, image_id, count, user_data, security_group_names, **kwargs)

    InstanceResponse.run_instances = run_instances_response
    InstanceBackend.run_instances = run_instances


# Checks --------------------------------------------------------------------------------------


def check_network(ctx):
    """The VPC, subnets and security groups the other checks use (removed by check_cleanup_network)."""
    vpc = ctx.ec2.create_vpc(CidrBlock="10.231.0.0/16")["Vpc"]["VpcId"]
    ctx.vpc = vpc
    ctx.subnets = [
        ctx.ec2.create_subnet(VpcId=vpc, CidrBlock=f"10.231.{i}.0/24", AvailabilityZone=f"{ctx.region}{az}")["Subnet"]["SubnetId"]
        for i, az in enumerate("abc")
    ]
    ctx.sgs = [
        ctx.ec2.create_security_group(GroupName=ctx.name(f"sg{i}"), Description="check", VpcId=vpc)["GroupId"]
        for i in range(2)
    ]
    ctx.private_subnets = [
        ctx.ec2.create_subnet(VpcId=vpc, CidrBlock=f"10.231.{10 + i}.0/24", AvailabilityZone=f"{ctx.region}{az}")["Subnet"]["SubnetId"]
        for i, az in enumerate("abc")
    ]


def check_launch_template_own_tags(ctx):
    """F8; the template is then the Auto Scaling check's (autoscaling.check_update_keeps_omitted_fields)."""
    ec2 = ctx.ec2
    template_tags = [{"Key": "moodle-ha:stack", "Value": ctx.run}]
    instance_tags = [{"ResourceType": "instance", "Tags": [{"Key": "Name", "Value": "moodle"}]}]
    template = ec2.create_launch_template(
        LaunchTemplateName=ctx.name("lt"),
        LaunchTemplateData={"ImageId": "ami-12c6146b", "InstanceType": "t3.small", "TagSpecifications": instance_tags},
        TagSpecifications=[{"ResourceType": "launch-template", "Tags": template_tags}],
    )["LaunchTemplate"]
    template_id = template["LaunchTemplateId"]
    described = ec2.describe_launch_templates(LaunchTemplateIds=[template_id])["LaunchTemplates"][0]
    expect_equal(described.get("Tags"), template_tags, "DescribeLaunchTemplates Tags")
    data = ec2.describe_launch_template_versions(LaunchTemplateId=template_id)["LaunchTemplateVersions"][0]["LaunchTemplateData"]
    expect_equal(data.get("TagSpecifications"), instance_tags, "CreateLaunchTemplate: top-level TagSpecifications stay out of LaunchTemplateData (F8)")
    ctx.asg_template = template_id


def check_idempotent_creates(ctx):
    """Creates whose answer was lost: sent again with the same ClientToken, they create nothing."""
    ec2 = ctx.ec2
    token = f"chk-{ctx.run}"

    def tag(kind):
        return run_tag(ctx, kind)

    table = twice("CreateRouteTable", ec2.create_route_table, lambda a: a["RouteTable"]["RouteTableId"],
                  VpcId=ctx.vpc, ClientToken=f"{token}-rtb", TagSpecifications=tag("route-table"))
    tables = ec2.describe_route_tables(Filters=[{"Name": "tag:moodle-ha:resource", "Values": [f"route-table/{ctx.run}"]}])["RouteTables"]
    expect_equal([t["RouteTableId"] for t in tables], [table], "CreateRouteTable twice with one ClientToken: route tables")
    expect_error("IdempotentParameterMismatch", ec2.create_route_table, VpcId=ctx.vpc, ClientToken=f"{token}-rtb")

    allocation = ec2.allocate_address(Domain="vpc")["AllocationId"]
    nat = twice("CreateNatGateway", ec2.create_nat_gateway, lambda a: a["NatGateway"]["NatGatewayId"],
                SubnetId=ctx.subnets[0], AllocationId=allocation, ClientToken=f"{token}-nat", TagSpecifications=tag("natgateway"))
    nats = ec2.describe_nat_gateways(Filters=[{"Name": "subnet-id", "Values": [ctx.subnets[0]]}])["NatGateways"]
    expect_equal([n["NatGatewayId"] for n in nats if n["State"] not in ("deleted", "deleting")], [nat], "CreateNatGateway twice with one ClientToken: gateways")
    for value, wanted in ((f"natgateway/{ctx.run}", [nat]), (f"natgateway/{ctx.run}-other", [])):
        found = ec2.describe_nat_gateways(Filters=[{"Name": "tag:moodle-ha:resource", "Values": [value]}])["NatGateways"]
        expect_equal([n["NatGatewayId"] for n in found], wanted, f"DescribeNatGateways tag:moodle-ha:resource={value}")

    instance = twice("RunInstances", ec2.run_instances, lambda a: [i["InstanceId"] for i in a["Instances"]],
                     ImageId="ami-12c6146b", MinCount=1, MaxCount=1, InstanceType="t3.small", SubnetId=ctx.subnets[0],
                     ClientToken=f"{token}-i", TagSpecifications=tag("instance"))
    running = ec2.describe_instances(Filters=[{"Name": "tag:moodle-ha:resource", "Values": [f"instance/{ctx.run}"]}])["Reservations"]
    expect_equal([i["InstanceId"] for r in running for i in r["Instances"]], instance, "RunInstances twice with one ClientToken: instances")

    vpc_for_flow_log = ec2.create_vpc(CidrBlock="10.233.0.0/16")["Vpc"]["VpcId"]
    log_group = f"/moodle-ha/{ctx.run}/flow-log-token"
    flow = dict(ResourceIds=[vpc_for_flow_log], ResourceType="VPC", TrafficType="ALL", LogDestinationType="cloud-watch-logs",
                LogGroupName=log_group, DeliverLogsPermissionArn=f"arn:aws:iam::{ctx.account}:role/{ctx.name('flow-logs')}",
                MaxAggregationInterval=60, TagSpecifications=tag("vpc-flow-log"))
    ids = twice("CreateFlowLogs", ec2.create_flow_logs, lambda a: (a["FlowLogIds"], a["Unsuccessful"]), ClientToken=f"{token}-fl", **flow)
    expect_equal(len(ids[0]), 1, "CreateFlowLogs FlowLogIds")
    found = ec2.describe_flow_logs(Filters=[{"Name": "resource-id", "Values": [vpc_for_flow_log]}])["FlowLogs"]
    expect_equal([f["FlowLogId"] for f in found], ids[0], "CreateFlowLogs twice with one ClientToken: flow logs")
    ec2.delete_flow_logs(FlowLogIds=ids[0])
    ec2.delete_vpc(VpcId=vpc_for_flow_log)

    ec2.terminate_instances(InstanceIds=instance)
    ec2.delete_nat_gateway(NatGatewayId=nat)
    ec2.release_address(AllocationId=allocation)
    ec2.delete_route_table(RouteTableId=table)


def check_launch_templates(ctx):
    ec2 = ctx.ec2
    image = ec2.describe_images(ImageIds=[ctx.ssm.get_parameter(Name=UBUNTU_AMD64)["Parameter"]["Value"]])["Images"][0]
    stack_tag = [{"Key": "moodle-ha:stack", "Value": ctx.run}]

    def data(volume_size, user_data):
        return {
            "ImageId": image["ImageId"], "IamInstanceProfile": {"Name": ctx.name("web")}, "SecurityGroupIds": [ctx.sgs[0]],
            "UserData": base64.b64encode(user_data.encode()).decode(),
            "MetadataOptions": {"HttpTokens": "required", "HttpPutResponseHopLimit": 1, "HttpEndpoint": "enabled", "InstanceMetadataTags": "enabled"},
            "BlockDeviceMappings": [{"DeviceName": image["RootDeviceName"], "Ebs": {"VolumeSize": volume_size, "VolumeType": "gp3", "Encrypted": True, "DeleteOnTermination": True}}],
            "TagSpecifications": [{"ResourceType": kind, "Tags": stack_tag} for kind in ("instance", "volume")],
        }

    token = str(uuid.uuid4())
    create = dict(
        ClientToken=token, LaunchTemplateName=ctx.name("web-lt"), VersionDescription="v1", LaunchTemplateData=data(20, "#!/bin/bash\necho 1\n"),
        TagSpecifications=[{"ResourceType": "launch-template", "Tags": stack_tag}],
    )
    first = ec2.create_launch_template(**create)["LaunchTemplate"]
    again = ec2.create_launch_template(**create)["LaunchTemplate"]
    expect_equal(again["LaunchTemplateId"], first["LaunchTemplateId"], "CreateLaunchTemplate retried with the same ClientToken answers the first template")
    template = ctx.web_template = first["LaunchTemplateId"]
    versions = {}
    for number in (2, 3):
        sent = data(20 + number, f"#!/bin/bash\necho {number}\n")
        args = dict(LaunchTemplateId=template, VersionDescription=f"v{number}", LaunchTemplateData=sent, ClientToken=str(uuid.uuid4()))
        answer = ec2.create_launch_template_version(**args)["LaunchTemplateVersion"]
        retried = ec2.create_launch_template_version(**args)["LaunchTemplateVersion"]
        expect_equal((answer["VersionNumber"], retried["VersionNumber"]), (number, number), "CreateLaunchTemplateVersion (and its retry with the same ClientToken) VersionNumber")
        versions[number] = sent
    listed = ec2.describe_launch_templates(Filters=[{"Name": "tag:moodle-ha:stack", "Values": [ctx.run]}])["LaunchTemplates"]
    expect_equal([(t["LaunchTemplateId"], t["LatestVersionNumber"], t["DefaultVersionNumber"]) for t in listed], [(template, 3, 1)], "DescribeLaunchTemplates tag filter")
    expect_equal(listed[0].get("Tags"), stack_tag, "DescribeLaunchTemplates Tags")
    ec2.modify_launch_template(LaunchTemplateId=template, DefaultVersion="3")
    for asked in ("$Default", "3"):
        version = ec2.describe_launch_template_versions(LaunchTemplateId=template, Versions=[asked])["LaunchTemplateVersions"]
        expect_equal([(v["VersionNumber"], v["DefaultVersion"], v["VersionDescription"]) for v in version], [(3, True, "v3")], f"DescribeLaunchTemplateVersions {asked}")
        expect_equal(version[0]["LaunchTemplateData"], versions[3], f"DescribeLaunchTemplateVersions {asked} LaunchTemplateData as sent (types included)")
    version = ec2.describe_launch_template_versions(LaunchTemplateId=template, Versions=["1"])["LaunchTemplateVersions"][0]
    expect_equal((version["DefaultVersion"], version["LaunchTemplateData"]), (False, create["LaunchTemplateData"]), "DescribeLaunchTemplateVersions 1")
    all_versions, pages = [], 0
    for page in ec2.get_paginator("describe_launch_template_versions").paginate(LaunchTemplateId=template, PaginationConfig={"PageSize": 2}):
        all_versions += [v["VersionNumber"] for v in page["LaunchTemplateVersions"]]
        pages += 1
    expect_equal((sorted(all_versions), pages), ([1, 2, 3], 2), "DescribeLaunchTemplateVersions (MaxResults=2) versions/pages")


def check_cleanup_network(ctx):
    for sg in ctx.sgs:
        ctx.ec2.delete_security_group(GroupId=sg)
    for subnet in ctx.subnets + ctx.private_subnets:
        ctx.ec2.delete_subnet(SubnetId=subnet)
    ctx.ec2.delete_vpc(VpcId=ctx.vpc)


def check_security_controls(ctx):
    """Issue 20's EC2 controls: default security group rules, flow logs to CloudWatch Logs, detailed monitoring."""
    ec2, logs = ctx.ec2, ctx.logs
    vpc = ec2.create_vpc(CidrBlock="10.232.0.0/16")["Vpc"]["VpcId"]
    default = ec2.describe_security_groups(Filters=[{"Name": "vpc-id", "Values": [vpc]}, {"Name": "group-name", "Values": ["default"]}])["SecurityGroups"]
    expect_equal(len(default), 1, "CreateVpc: one default security group")
    group = default[0]
    expect_equal(
        [(p["IpProtocol"], [g["GroupId"] for g in p.get("UserIdGroupPairs", [])], p.get("IpRanges")) for p in group["IpPermissions"]],
        [("-1", [group["GroupId"]], [])], "default security group IpPermissions (all traffic from itself)",
    )
    expect_equal(
        [(p["IpProtocol"], p.get("IpRanges")) for p in group["IpPermissionsEgress"]],
        [("-1", [{"CidrIp": "0.0.0.0/0"}])], "default security group IpPermissionsEgress (all traffic out)",
    )
    ec2.revoke_security_group_ingress(GroupId=group["GroupId"], IpPermissions=group["IpPermissions"])
    ec2.revoke_security_group_egress(GroupId=group["GroupId"], IpPermissions=group["IpPermissionsEgress"])
    group = ec2.describe_security_groups(GroupIds=[group["GroupId"]])["SecurityGroups"][0]
    expect_equal((group["IpPermissions"], group["IpPermissionsEgress"]), ([], []), "default security group after revoking both rules")
    rules = ec2.describe_security_group_rules(Filters=[{"Name": "group-id", "Values": [group["GroupId"]]}])["SecurityGroupRules"]
    expect_equal(rules, [], "DescribeSecurityGroupRules of the emptied default group")

    # Flow logs to a CloudWatch Logs group, found by the resource and by tag.
    log_group = f"/moodle-ha/{ctx.run}/vpc-flow-logs"
    logs.create_log_group(logGroupName=log_group)
    role = f"arn:aws:iam::{ctx.account}:role/{ctx.name('flow-logs')}"
    created = ec2.create_flow_logs(
        ResourceIds=[vpc], ResourceType="VPC", TrafficType="ALL", LogDestinationType="cloud-watch-logs", LogGroupName=log_group,
        DeliverLogsPermissionArn=role, MaxAggregationInterval=60, TagSpecifications=run_tag(ctx, "vpc-flow-log"),
    )
    expect_equal(created.get("Unsuccessful"), [], "CreateFlowLogs Unsuccessful")
    flow = ec2.describe_flow_logs(Filters=[{"Name": "resource-id", "Values": [vpc]}])["FlowLogs"]
    expect_equal(
        [(f["ResourceId"], f["TrafficType"], f["LogDestinationType"], f["LogGroupName"], f["DeliverLogsPermissionArn"], f["MaxAggregationInterval"], f["FlowLogStatus"]) for f in flow],
        [(vpc, "ALL", "cloud-watch-logs", log_group, role, 60, "ACTIVE")], "DescribeFlowLogs(resource-id)",
    )
    tagged = ec2.describe_flow_logs(Filters=[{"Name": "tag:moodle-ha:resource", "Values": [f"vpc-flow-log/{ctx.run}"]}])["FlowLogs"]
    expect_equal([f["FlowLogId"] for f in tagged], created["FlowLogIds"], "DescribeFlowLogs(tag filter)")
    ec2.delete_flow_logs(FlowLogIds=created["FlowLogIds"])
    expect_equal(ec2.describe_flow_logs(Filters=[{"Name": "resource-id", "Values": [vpc]}])["FlowLogs"], [], "DeleteFlowLogs")
    logs.delete_log_group(logGroupName=log_group)

    # Detailed monitoring: RunInstances, launch templates, and switched on/off in place.
    subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.232.0.0/24", AvailabilityZone=f"{ctx.region}a")["Subnet"]["SubnetId"]
    instance = ec2.run_instances(ImageId="ami-12c6146b", MinCount=1, MaxCount=1, InstanceType="t3.small", SubnetId=subnet, Monitoring={"Enabled": True})["Instances"][0]
    expect_equal(instance.get("Monitoring"), {"State": "enabled"}, "RunInstances Monitoring.Enabled=true answer")
    described = ec2.describe_instances(InstanceIds=[instance["InstanceId"]])["Reservations"][0]["Instances"][0]
    expect_equal(described.get("Monitoring"), {"State": "enabled"}, "DescribeInstances Monitoring")
    answer = ec2.unmonitor_instances(InstanceIds=[instance["InstanceId"]])["InstanceMonitorings"]
    expect_equal([m["Monitoring"]["State"] for m in answer], ["disabling"], "UnmonitorInstances answer")
    described = ec2.describe_instances(InstanceIds=[instance["InstanceId"]])["Reservations"][0]["Instances"][0]
    expect(described["Monitoring"]["State"] in ("disabling", "disabled"), "UnmonitorInstances then DescribeInstances Monitoring:", described["Monitoring"])
    answer = ec2.monitor_instances(InstanceIds=[instance["InstanceId"]])["InstanceMonitorings"]
    expect_equal([m["Monitoring"]["State"] for m in answer], ["pending"], "MonitorInstances answer")
    described = ec2.describe_instances(InstanceIds=[instance["InstanceId"]])["Reservations"][0]["Instances"][0]
    expect(described["Monitoring"]["State"] in ("pending", "enabled"), "MonitorInstances then DescribeInstances Monitoring:", described["Monitoring"])
    expect_error("InvalidInstanceID.NotFound", ec2.monitor_instances, InstanceIds=["i-0123456789abcdef0"])
    template = ec2.create_launch_template(LaunchTemplateName=ctx.name("monitoring"), LaunchTemplateData={"ImageId": "ami-12c6146b", "InstanceType": "t3.small", "Monitoring": {"Enabled": True}})["LaunchTemplate"]
    data = ec2.describe_launch_template_versions(LaunchTemplateId=template["LaunchTemplateId"])["LaunchTemplateVersions"][0]["LaunchTemplateData"]
    expect_equal(data.get("Monitoring"), {"Enabled": True}, "CreateLaunchTemplate Monitoring round trip")
    launched = []
    for monitoring, wanted in ((None, "enabled"), (False, "disabled")):
        extra = {} if monitoring is None else {"Monitoring": {"Enabled": monitoring}}
        answer = ec2.run_instances(LaunchTemplate={"LaunchTemplateId": template["LaunchTemplateId"]}, MinCount=1, MaxCount=1, SubnetId=subnet, **extra)["Instances"][0]
        launched.append(answer["InstanceId"])
        expect_equal(answer["Monitoring"]["State"], wanted, f"RunInstances from a template with Monitoring.Enabled=true, Monitoring sent: {extra or 'none'}")
    group = ctx.name("monitoring-asg")
    ctx.autoscaling.create_auto_scaling_group(AutoScalingGroupName=group, MinSize=1, MaxSize=1, DesiredCapacity=1, VPCZoneIdentifier=subnet,
                                              LaunchTemplate={"LaunchTemplateId": template["LaunchTemplateId"], "Version": "$Latest"})
    ids = [i["InstanceId"] for i in ctx.autoscaling.describe_auto_scaling_groups(AutoScalingGroupNames=[group])["AutoScalingGroups"][0]["Instances"]]
    states = [i["Monitoring"]["State"] for r in ec2.describe_instances(InstanceIds=ids)["Reservations"] for i in r["Instances"]]
    expect_equal(states, ["enabled"], "an Auto Scaling group's instance launched from a template with Monitoring.Enabled=true")
    ctx.autoscaling.delete_auto_scaling_group(AutoScalingGroupName=group, ForceDelete=True)
    ec2.terminate_instances(InstanceIds=launched + ids)
    ec2.delete_launch_template(LaunchTemplateId=template["LaunchTemplateId"])
    ec2.terminate_instances(InstanceIds=[instance["InstanceId"]])
    ec2.delete_subnet(SubnetId=subnet)
    ec2.delete_vpc(VpcId=vpc)
