"""EC2: NAT gateway tag filters, launch templates (own tags, client tokens, versions, pagination), client tokens of
creates, and the checks' network (VPC, subnets, security groups).

Patches (`@patch`) and fixtures (`@fixture`) first, then the checks (`check_*(ctx)`) that
check_emulator.py runs and that fail without them. See patches/__init__.py.
"""

import base64
import copy
import uuid

from . import patch
from .ssm import UBUNTU_AMD64
from .expect import expect_equal, expect_error, run_tag, twice


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
                SubnetId=ctx.subnets[0], AllocationId=allocation, ClientToken=f"{token}-nat")
    nats = ec2.describe_nat_gateways(Filters=[{"Name": "subnet-id", "Values": [ctx.subnets[0]]}])["NatGateways"]
    expect_equal([n["NatGatewayId"] for n in nats if n["State"] not in ("deleted", "deleting")], [nat], "CreateNatGateway twice with one ClientToken: gateways")

    instance = twice("RunInstances", ec2.run_instances, lambda a: [i["InstanceId"] for i in a["Instances"]],
                     ImageId="ami-12c6146b", MinCount=1, MaxCount=1, InstanceType="t3.small", SubnetId=ctx.subnets[0],
                     ClientToken=f"{token}-i", TagSpecifications=tag("instance"))
    running = ec2.describe_instances(Filters=[{"Name": "tag:moodle-ha:resource", "Values": [f"instance/{ctx.run}"]}])["Reservations"]
    expect_equal([i["InstanceId"] for r in running for i in r["Instances"]], instance, "RunInstances twice with one ClientToken: instances")

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
