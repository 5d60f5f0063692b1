"""SSM (fixture, not a gap): AWS's public parameters for Ubuntu 24.04 AMIs, in every region.

Patches (`@patch`) and fixtures (`@fixture`) first, then the checks (`check_*(ctx)`) that
check_emulator.py runs and that fail without them. See patches/__init__.py.
"""

import boto3

from . import fixture
from .expect import expect, expect_equal


# AWS public parameters for Ubuntu 24.04 and the built-in moto AMI each stands for (same in every
# region: amis.json is loaded everywhere). amd64: Canonical's Ubuntu 16.04 image (x86_64, root
# /dev/sda1, as Ubuntu's); arm64: moto has no arm64 Ubuntu, so Amazon Linux 2022 arm64 (root
# /dev/xvda). A client must read Architecture and RootDeviceName from DescribeImages.
FIXTURE_UBUNTU_PARAMETERS = {
    "/aws/service/canonical/ubuntu/server/24.04/stable/current/amd64/hvm/ebs-gp3/ami-id": "ami-785db401",
    "/aws/service/canonical/ubuntu/server/24.04/stable/current/arm64/hvm/ebs-gp3/ami-id": "ami-0e9271c829888680e",
}


@fixture
def ssm_ubuntu_ami_parameters():
    """SSM: the public parameters Canonical publishes for Ubuntu 24.04 AMIs (amd64 and arm64, ebs-gp3).

    AWS: GetParameter(s) answers them in every region (String, DataType text). moto 5.2.5 has
    only the Amazon Linux ones (/aws/service/ami-amazon-linux-latest/…, which point at AMIs its
    DescribeImages knows) and answers ParameterNotFound. These point at moto built-in AMIs (see
    above). Needed by: stacks/example.yaml (ami: ssm:/aws/service/canonical/…) and the web tier
    tests that resolve it.
    """
    from moto.ssm.models import Parameter, SimpleSystemManagerBackend

    original = SimpleSystemManagerBackend.__init__

    def __init__(self, region_name, account_id):
        original(self, region_name, account_id)
        for name, ami in FIXTURE_UBUNTU_PARAMETERS.items():
            # defaultdict's own __getitem__: ParameterDict's would try to lazy-load AWS's trees
            dict.setdefault(self._parameters, name, []).append(Parameter(
                account_id=account_id, name=name, value=ami, parameter_type="String", description=None,
                allowed_pattern=None, keyid=None, last_modified_date=1735689600.0, version=1, data_type="text",
            ))

    SimpleSystemManagerBackend.__init__ = __init__


# Checks --------------------------------------------------------------------------------------


# What the checks expect: AWS's public AMI parameters, and the architecture of the AMI each names.
UBUNTU_AMD64 = "/aws/service/canonical/ubuntu/server/24.04/stable/current/amd64/hvm/ebs-gp3/ami-id"
AMI_PARAMETERS = {
    UBUNTU_AMD64: "x86_64",
    "/aws/service/canonical/ubuntu/server/24.04/stable/current/arm64/hvm/ebs-gp3/ami-id": "arm64",
    "/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-x86_64": "x86_64",
    "/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-arm64": "arm64",
}
REGIONS = ("eu-west-1", "us-east-1")


def check_ubuntu_ami_parameters(ctx):
    """The public AMI parameters answer in every region and name AMIs DescribeImages knows."""
    for region in sorted({ctx.region, *REGIONS}):
        ssm = boto3.client("ssm", endpoint_url=ctx.endpoint, region_name=region, config=ctx.config)
        ec2 = boto3.client("ec2", endpoint_url=ctx.endpoint, region_name=region, config=ctx.config)
        answer = ssm.get_parameters(Names=list(AMI_PARAMETERS))
        expect_equal(answer["InvalidParameters"], [], f"{region} GetParameters(public AMI parameters) InvalidParameters")
        for parameter in answer["Parameters"]:
            image = ec2.describe_images(ImageIds=[parameter["Value"]])["Images"]
            expect(len(image) == 1, f"{region} {parameter['Name']} names an AMI DescribeImages does not know:", parameter["Value"])
            expect_equal(image[0]["Architecture"], AMI_PARAMETERS[parameter["Name"]], f"{region} {parameter['Name']} AMI Architecture")
            expect(image[0].get("RootDeviceName"), f"{region} {parameter['Name']} AMI has no RootDeviceName:", image[0])
        single = ssm.get_parameter(Name=UBUNTU_AMD64)["Parameter"]
        expect_equal((single["Type"], single["Value"].startswith("ami-")), ("String", True), f"{region} GetParameter({UBUNTU_AMD64})")
