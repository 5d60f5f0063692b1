"""S3: the stack's ALB access-log bucket (issue 20): encryption, public access block, lifecycle, bucket policy.

Patches (`@patch`) first, then the checks (`check_*(ctx)`) that check_emulator.py runs and that
fail without them. See patches/__init__.py.
"""

import json

import botocore.exceptions

from . import patch
from .expect import Mismatch, expect_equal, expect_error

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


@patch
def s3_bucket_policy_conditions():
    """S3 object requests (PutObject, GetObject, DeleteObjects) against a bucket policy with conditions.

    AWS: a statement applies only when its Condition holds; a Deny conditioned on
    `aws:SecureTransport` "false" refuses plain-HTTP requests and nothing else (the SDK always
    uses HTTPS with AWS's endpoints). moto 5.2.5: a statement whose condition does not hold is
    read as an explicit DENY whatever its Effect, so that TLS-only Deny refuses every object
    request (HTTP 403). The emulator speaks plain HTTP as a stand-in for AWS's HTTPS endpoint,
    so its requests are evaluated as `aws:SecureTransport` "true" (the value every request from
    an SDK to AWS has). Needed by: issue 20's stack bucket (tests/it/edge_security.rs: a release
    put into the bucket, and destroy emptying it before deleting it).
    """
    from moto.iam.access_control import IAMPolicyStatement, PermissionResult
    from moto.s3.models import FakeBucket

    context = {"aws:SecureTransport": "true"}

    def holds(condition):
        for operator, pairs in condition.items():
            for key, wanted in pairs.items():
                wanted = [str(w).lower() for w in (wanted if isinstance(wanted, list) else [wanted])]
                actual = context.get(key)
                if operator in ("Bool", "StringEquals", "StringEqualsIgnoreCase"):
                    if actual is None or actual.lower() not in wanted:
                        return False
                elif operator in ("StringNotEquals", "StringNotEqualsIgnoreCase"):
                    if actual is not None and actual.lower() in wanted:
                        return False
                else:
                    return False  # a condition this emulator cannot evaluate: not applied
        return True

    def get_permission(self, action, resource):
        if self.policy is None:
            return PermissionResult.NEUTRAL
        document = json.loads(self.policy.decode() if isinstance(self.policy, bytes) else self.policy)
        statements = document.get("Statement", [])
        if isinstance(statements, dict):
            statements = [statements]
        permitted = False
        for statement in statements:
            condition = statement.get("Condition")
            if condition and not holds(condition):
                continue
            plain = {k: v for k, v in statement.items() if k != "Condition"}
            result = IAMPolicyStatement(plain).is_action_permitted(action, resource)
            if result == PermissionResult.DENIED:
                return result
            permitted = permitted or result == PermissionResult.PERMITTED
        return PermissionResult.PERMITTED if permitted else PermissionResult.NEUTRAL

    FakeBucket.get_permission = get_permission


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


def check_tls_only_bucket_policy(ctx):
    """A TLS-only bucket policy refuses nothing the SDK sends; an unconditional Deny still refuses."""
    s3 = ctx.s3
    bucket = f"chk-{ctx.run}-tls-only"
    s3.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": ctx.region})
    arn = f"arn:aws:s3:::{bucket}"
    tls_only = {"Sid": "tls-only", "Effect": "Deny", "Principal": "*", "Action": "s3:*", "Resource": [arn, f"{arn}/*"],
                "Condition": {"Bool": {"aws:SecureTransport": "false"}}}
    s3.put_bucket_policy(Bucket=bucket, Policy=json.dumps({"Version": "2012-10-17", "Statement": [tls_only]}))
    s3.put_object(Bucket=bucket, Key="releases/moodle.tgz", Body=b"release")
    expect_equal(s3.get_object(Bucket=bucket, Key="releases/moodle.tgz")["Body"].read(), b"release", "GetObject under a TLS-only policy")
    deleted = s3.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": "releases/moodle.tgz"}], "Quiet": True})
    expect_equal(deleted.get("Errors", []), [], "DeleteObjects under a TLS-only policy")
    deny_puts = {"Sid": "no-puts", "Effect": "Deny", "Principal": "*", "Action": "s3:PutObject", "Resource": f"{arn}/*"}
    s3.put_bucket_policy(Bucket=bucket, Policy=json.dumps({"Version": "2012-10-17", "Statement": [tls_only, deny_puts]}))
    try:
        s3.put_object(Bucket=bucket, Key="x", Body=b"x")
        raise Mismatch("PutObject under an unconditional Deny: expected HTTP 403, got success")
    except botocore.exceptions.ClientError as error:
        expect_equal(error.response["ResponseMetadata"]["HTTPStatusCode"], 403, "PutObject under an unconditional Deny")
    s3.delete_bucket_policy(Bucket=bucket)
    s3.delete_bucket(Bucket=bucket)
