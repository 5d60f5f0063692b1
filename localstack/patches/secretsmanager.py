"""Secrets Manager: create again after a scheduled deletion; resource policies, public ones refused with BlockPublicPolicy (issue 20).

Patches (`@patch`) and fixtures (`@fixture`) first, then the checks (`check_*(ctx)`) that
check_emulator.py runs and that fail without them. See patches/__init__.py.
"""

import datetime
import json
import string
import uuid

from . import patch
from .expect import expect, expect_equal, expect_error, paginate


@patch
def secretsmanager_create_secret_scheduled_for_deletion():
    """Secrets Manager `CreateSecret` with the name of a secret that is scheduled for deletion.

    AWS: InvalidRequestException "You can't create this secret because a secret with this name
    is already scheduled for deletion." (the old secret can be restored or force-deleted).
    moto 5.2.5: ResourceExistsException, the answer for a live secret of that name, which a
    client would take as "already created". Needed by: moodle-ha deploy after a destroy that
    left the stack's redis-auth secret in its recovery window.
    """
    from moto.secretsmanager.exceptions import InvalidRequestException
    from moto.secretsmanager.models import SecretsManagerBackend

    original = SecretsManagerBackend.create_secret

    def create_secret(self, name, *args, **kwargs):
        existing = self.secrets.get(name)
        if existing is not None and getattr(existing, "deleted_date", None):
            raise InvalidRequestException(
                "You can't create this secret because a secret with this name is already scheduled for deletion."
            )
        return original(self, name, *args, **kwargs)

    SecretsManagerBackend.create_secret = create_secret


@patch
def secretsmanager_block_public_policy():
    """Secrets Manager `PutResourcePolicy` with `BlockPublicPolicy=true` and a policy that grants
    broad access (an `Allow` to every principal, `*` or `{"AWS": "*"}`, without a condition).

    AWS: PublicPolicyException (Zelkova finds the secret broadly accessible), the policy is not
    put. moto 5.2.5: the parameter is ignored ("not yet implemented") and the policy is put.
    Needed by: moodle-ha puts every secret's policy with BlockPublicPolicy (issue 20), so a
    policy that granted broad access would be refused on AWS; the emulator refuses it too.
    This stands in for Zelkova only for the plain case (a condition is not judged).
    """
    from moto.secretsmanager.exceptions import SecretsManagerClientError
    from moto.secretsmanager.responses import SecretsManagerResponse

    original = SecretsManagerResponse.put_resource_policy

    def broad(policy):
        statements = policy.get("Statement", []) if isinstance(policy, dict) else []
        if isinstance(statements, dict):
            statements = [statements]
        for s in statements:
            principal = s.get("Principal")
            if isinstance(principal, dict):
                principal = principal.get("AWS")
            principals = principal if isinstance(principal, list) else [principal]
            if s.get("Effect") == "Allow" and "*" in principals and not s.get("Condition"):
                return True
        return False

    def put_resource_policy(self):
        if self._get_param("BlockPublicPolicy"):
            try:
                policy = json.loads(self._get_param("ResourcePolicy") or "{}")
            except ValueError:
                policy = {}
            if broad(policy):
                raise SecretsManagerClientError(
                    "PublicPolicyException",
                    "The BlockPublicPolicy parameter is set to true, and the resource policy did not prevent broad access to the secret.",
                )
        return original(self)

    SecretsManagerResponse.put_resource_policy = put_resource_policy


# ELBv2 -----------------------------------------------------------------------------------------


# Checks --------------------------------------------------------------------------------------


def check_secrets(ctx):
    sm = ctx.secretsmanager
    password = sm.get_random_password(PasswordLength=64, ExcludePunctuation=True)["RandomPassword"]
    expect_equal(len(password), 64, "GetRandomPassword length")
    expect(set(password) <= set(string.ascii_letters + string.digits), "GetRandomPassword ExcludePunctuation:", password)

    tag_key = "moodle-ha:stack"
    name = f"moodle-ha/{ctx.name('stack')}/redis-auth"
    other = f"moodle-ha/{ctx.name('stack2')}/redis-auth"
    token = str(uuid.uuid4())
    created = sm.create_secret(Name=name, SecretString=password, Tags=[{"Key": tag_key, "Value": ctx.run}], ClientRequestToken=token)
    expect_equal(created["VersionId"], token, "CreateSecret VersionId is the ClientRequestToken")
    sm.create_secret(Name=other, SecretString="x" * 64, Tags=[{"Key": tag_key, "Value": ctx.run + "-2"}])
    expect_equal(sm.get_secret_value(SecretId=name)["SecretString"], password, "GetSecretValue")
    expect_error("ResourceExistsException", sm.create_secret, Name=name, SecretString="other", ClientRequestToken=str(uuid.uuid4()))

    def listed(**kwargs):
        secrets, _ = paginate(sm, "list_secrets", "SecretList", 1, Filters=[{"Key": "tag-key", "Values": [tag_key]}], **kwargs)
        return {s["Name"] for s in secrets}

    expect({name, other} <= listed(), "ListSecrets tag-key filter (paginated, MaxResults=1) misses secrets")
    deleted = sm.delete_secret(SecretId=name, RecoveryWindowInDays=7)
    in_days = (deleted["DeletionDate"] - datetime.datetime.now(datetime.timezone.utc)).total_seconds() / 86400
    expect(6.9 < in_days < 7.1, "DeleteSecret RecoveryWindowInDays=7 DeletionDate:", deleted["DeletionDate"])
    expect(name not in listed(), "ListSecrets lists a secret scheduled for deletion")
    expect(name in listed(IncludePlannedDeletion=True), "ListSecrets IncludePlannedDeletion=true misses the scheduled secret")
    expect_error("InvalidRequestException", sm.get_secret_value, SecretId=name)
    expect_error("InvalidRequestException", sm.create_secret, Name=name, SecretString="again")
    sm.delete_secret(SecretId=name, ForceDeleteWithoutRecovery=True)
    expect_error("ResourceNotFoundException", sm.get_secret_value, SecretId=name)
    sm.delete_secret(SecretId=other, ForceDeleteWithoutRecovery=True)
    expect_error("ResourceNotFoundException", sm.get_secret_value, SecretId=other)
    sm.create_secret(Name=other, SecretString="new")
    expect_equal(sm.get_secret_value(SecretId=other)["SecretString"], "new", "CreateSecret after a forced delete")
    sm.delete_secret(SecretId=other, ForceDeleteWithoutRecovery=True)


def check_resource_policy(ctx):
    """Issue 20's secret resource policy: PutResourcePolicy, GetResourcePolicy, DeleteResourcePolicy round trip."""
    sm = ctx.secretsmanager
    name = f"moodle-ha/{ctx.name('stack')}/admin"
    arn = sm.create_secret(Name=name, SecretString="x" * 32)["ARN"]
    answer = sm.get_resource_policy(SecretId=name)
    expect_equal((answer["ARN"], answer.get("ResourcePolicy")), (arn, None), "GetResourcePolicy of a secret without a policy")
    policy = {"Version": "2012-10-17", "Statement": [{
        "Sid": "only-the-installer", "Effect": "Deny", "Principal": "*", "Action": "secretsmanager:GetSecretValue", "Resource": "*",
        "Condition": {"StringNotEquals": {"aws:PrincipalArn": f"arn:aws:iam::{ctx.account}:role/{ctx.name('cron')}"}},
    }]}
    answer = sm.put_resource_policy(SecretId=name, ResourcePolicy=json.dumps(policy), BlockPublicPolicy=True)
    expect_equal((answer["ARN"], answer["Name"]), (arn, name), "PutResourcePolicy answer")
    expect_equal(json.loads(sm.get_resource_policy(SecretId=arn)["ResourcePolicy"]), policy, "GetResourcePolicy after PutResourcePolicy")
    public = {"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Principal": {"AWS": "*"}, "Action": "secretsmanager:GetSecretValue", "Resource": "*",
    }]}
    expect_error("PublicPolicyException", sm.put_resource_policy, SecretId=name, ResourcePolicy=json.dumps(public), BlockPublicPolicy=True)
    expect_equal(json.loads(sm.get_resource_policy(SecretId=name)["ResourcePolicy"]), policy, "GetResourcePolicy after a refused public policy")
    sm.put_resource_policy(SecretId=name, ResourcePolicy=json.dumps(public))
    expect_equal(json.loads(sm.get_resource_policy(SecretId=name)["ResourcePolicy"]), public, "PutResourcePolicy of a public policy without BlockPublicPolicy")
    sm.delete_resource_policy(SecretId=name)
    expect_equal(sm.get_resource_policy(SecretId=name).get("ResourcePolicy"), None, "GetResourcePolicy after DeleteResourcePolicy")
    sm.delete_secret(SecretId=name, ForceDeleteWithoutRecovery=True)
