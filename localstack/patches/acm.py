"""ACM (fixture, not a gap): the certificate stacks/example.yaml names, in every region.

Patches (`@patch`) and fixtures (`@fixture`) first, then the checks (`check_*(ctx)`) that
check_emulator.py runs and that fail without them. See patches/__init__.py.
"""

import boto3

from . import fixture
from .expect import expect, expect_equal


# The certificate that stacks/example.yaml names (tls.certificate_arn).
FIXTURE_CERTIFICATE_ARN = "arn:aws:acm:eu-west-1:123456789012:certificate/8f3c2d1e-0a4b-4c5d-9e6f-7a8b9c0d1e2f"
FIXTURE_CERTIFICATE_DOMAIN = "moodle.example.edu"


@fixture
def acm_example_certificate():
    """ACM: an ISSUED certificate for moodle.example.edu with the exact ARN stacks/example.yaml names.

    moto's CreateListener (HTTPS) and ModifyListener answer CertificateNotFound for a
    certificate ACM does not know, and ACM makes up its own ARNs, so the example stack could not
    be applied. The certificate (AMAZON_ISSUED, ISSUED, RSA 2048, one year) is in every region
    under that ARN, so the example also applies in us-east-1; DescribeCertificate and
    ListCertificates answer it. Needed by: tests/it web tier (HTTPS listener) and the example.
    """
    from moto.acm.models import AWSCertificateManagerBackend, CertBundle

    original = AWSCertificateManagerBackend.__init__
    pem = {}

    def __init__(self, region_name, account_id):
        original(self, region_name, account_id)
        if not pem:  # one key for every region: generating an RSA key takes a while
            generated = CertBundle.generate_cert(FIXTURE_CERTIFICATE_DOMAIN, account_id, region_name)
            pem.update(certificate=generated.cert, private_key=generated.key)
        self._certificates[FIXTURE_CERTIFICATE_ARN] = CertBundle(
            account_id, pem["certificate"], pem["private_key"], region=region_name,
            arn=FIXTURE_CERTIFICATE_ARN, cert_type="AMAZON_ISSUED", cert_status="ISSUED",
        )

    AWSCertificateManagerBackend.__init__ = __init__


# Checks --------------------------------------------------------------------------------------


# What the checks expect, written out rather than taken from the fixture above: the ARN
# stacks/example.yaml names.
EXAMPLE_CERTIFICATE_ARN = "arn:aws:acm:eu-west-1:123456789012:certificate/8f3c2d1e-0a4b-4c5d-9e6f-7a8b9c0d1e2f"
REGIONS = ("eu-west-1", "us-east-1")


def check_example_certificate(ctx):
    """The example's certificate is ISSUED in every region (the example applies in us-east-1 too)."""
    for region in sorted({ctx.region, *REGIONS}):
        acm = boto3.client("acm", endpoint_url=ctx.endpoint, region_name=region, config=ctx.config)
        cert = acm.describe_certificate(CertificateArn=EXAMPLE_CERTIFICATE_ARN)["Certificate"]
        expect_equal((cert["DomainName"], cert["Status"]), ("moodle.example.edu", "ISSUED"), f"{region} DescribeCertificate(example certificate)")
        listed = [x["CertificateArn"] for x in acm.list_certificates(CertificateStatuses=["ISSUED"])["CertificateSummaryList"]]
        expect(EXAMPLE_CERTIFICATE_ARN in listed, f"{region} ListCertificates misses the example certificate:", listed)
