"""S3: the stack's ALB access-log bucket (issue 20): encryption, public access block, lifecycle, bucket policy.

Patches (`@patch`) first, then the checks (`check_*(ctx)`) that check_emulator.py runs and that
fail without them. See patches/__init__.py.
"""

import json

from . import patch
from .expect import expect_equal, expect_error

SSE_S3_DEFAULT = {"Rules": [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}, "BucketKeyEnabled": False}]}


@patch
def s3_default_encryption():
    """S3 `GetBucketEncryption` of a bucket without an encryption configuration (or after DeleteBucketEncryption).

    AWS (since January 2023): every bucket has SSE-S3 default encryption, so GetBucketEncryption
    answers {SSEAlgorithm: AES256, BucketKeyEnabled: false}; DeleteBucketEncryption returns the
    bucket to that default. moto 5.2.5: ServerSideEncryptionConfigurationNotFoundError. Needed by:
    issue 20's log bucket (moodle-ha observes its encryption; an unset configuration must read
    as AWS's default, not as missing).
    """
    from moto.s3.models import FakeBucket, S3Backend

    original_init = FakeBucket.__init__
    original_delete = S3Backend.delete_bucket_encryption
    default = {"Rule": {"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}, "BucketKeyEnabled": "false"}}

    def __init__(self, *args, **kwargs):
        original_init(self, *args, **kwargs)
        if not getattr(self, "encryption", None):
            self.encryption = json.loads(json.dumps(default))

    def delete_bucket_encryption(self, bucket_name):
        original_delete(self, bucket_name)
        self.get_bucket(bucket_name).encryption = json.loads(json.dumps(default))

    FakeBucket.__init__ = __init__
    S3Backend.delete_bucket_encryption = delete_bucket_encryption


# Checks --------------------------------------------------------------------------------------


def check_log_bucket(ctx):
    """A bucket set up as the ALB access-log bucket: every setting reads back as sent."""
    s3 = ctx.s3
    bucket = f"chk-{ctx.run}-alb-logs"
    s3.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": ctx.region})
    expect_equal(s3.get_bucket_location(Bucket=bucket).get("LocationConstraint"), ctx.region, "GetBucketLocation")
    expect_equal(s3.get_bucket_encryption(Bucket=bucket)["ServerSideEncryptionConfiguration"], SSE_S3_DEFAULT, "GetBucketEncryption of a new bucket (SSE-S3 default)")
    sent = {"Rules": [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "aws:kms", "KMSMasterKeyID": "alias/aws/s3"}, "BucketKeyEnabled": True}]}
    s3.put_bucket_encryption(Bucket=bucket, ServerSideEncryptionConfiguration=sent)
    expect_equal(s3.get_bucket_encryption(Bucket=bucket)["ServerSideEncryptionConfiguration"], sent, "PutBucketEncryption then GetBucketEncryption")
    s3.delete_bucket_encryption(Bucket=bucket)
    expect_equal(s3.get_bucket_encryption(Bucket=bucket)["ServerSideEncryptionConfiguration"], SSE_S3_DEFAULT, "DeleteBucketEncryption: back to the SSE-S3 default")
    block = {"BlockPublicAcls": True, "IgnorePublicAcls": True, "BlockPublicPolicy": True, "RestrictPublicBuckets": True}
    s3.put_public_access_block(Bucket=bucket, PublicAccessBlockConfiguration=block)
    expect_equal(s3.get_public_access_block(Bucket=bucket)["PublicAccessBlockConfiguration"], block, "GetPublicAccessBlock")
    rules = [{"ID": "expire", "Status": "Enabled", "Filter": {"Prefix": ""}, "Expiration": {"Days": 90}, "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": 7}}]
    s3.put_bucket_lifecycle_configuration(Bucket=bucket, LifecycleConfiguration={"Rules": rules})
    expect_equal(s3.get_bucket_lifecycle_configuration(Bucket=bucket)["Rules"], rules, "GetBucketLifecycleConfiguration")
    policy = {"Version": "2012-10-17", "Statement": [
        {"Sid": "alb-log-delivery", "Effect": "Allow", "Principal": {"Service": "logdelivery.elasticloadbalancing.amazonaws.com"},
         "Action": "s3:PutObject", "Resource": f"arn:aws:s3:::{bucket}/alb/AWSLogs/{ctx.account}/*"},
        {"Sid": "tls-only", "Effect": "Deny", "Principal": "*", "Action": "s3:*", "Resource": [f"arn:aws:s3:::{bucket}", f"arn:aws:s3:::{bucket}/*"],
         "Condition": {"Bool": {"aws:SecureTransport": "false"}}},
    ]}
    s3.put_bucket_policy(Bucket=bucket, Policy=json.dumps(policy))
    expect_equal(json.loads(s3.get_bucket_policy(Bucket=bucket)["Policy"]), policy, "GetBucketPolicy")
    s3.put_bucket_ownership_controls(Bucket=bucket, OwnershipControls={"Rules": [{"ObjectOwnership": "BucketOwnerEnforced"}]})
    expect_equal(s3.get_bucket_ownership_controls(Bucket=bucket)["OwnershipControls"]["Rules"], [{"ObjectOwnership": "BucketOwnerEnforced"}], "GetBucketOwnershipControls")
    s3.put_bucket_tagging(Bucket=bucket, Tagging={"TagSet": [{"Key": "moodle-ha:stack", "Value": ctx.run}]})
    expect_equal(s3.get_bucket_tagging(Bucket=bucket)["TagSet"], [{"Key": "moodle-ha:stack", "Value": ctx.run}], "GetBucketTagging")
    s3.delete_bucket_policy(Bucket=bucket)
    expect_error("NoSuchBucketPolicy", s3.get_bucket_policy, Bucket=bucket)
    s3.delete_bucket(Bucket=bucket)
    expect_error("NoSuchBucket", s3.get_bucket_location, Bucket=bucket)
