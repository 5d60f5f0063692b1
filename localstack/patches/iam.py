"""IAM: AWS managed policies, URL-encoded documents in lists, instance profiles by path prefix.

Patches (`@patch`) and fixtures (`@fixture`) first, then the checks (`check_*(ctx)`) that
check_emulator.py runs and that fail without them. See patches/__init__.py.
"""

import json
import urllib.parse

from . import patch
from .expect import expect, expect_equal, expect_error


@patch
def iam_aws_managed_policies():
    """IAM `AttachRolePolicy` / `DetachRolePolicy` / `GetPolicy` with an AWS managed policy ARN.

    AWS: every AWS managed policy exists in every account (e.g.
    arn:aws:iam::aws:policy/AmazonSSMManagedInstanceCore, …/CloudWatchAgentServerPolicy).
    moto 5.2.5: knows none unless MOTO_IAM_LOAD_MANAGED_POLICIES=true (NoSuchEntity "Policy …
    does not exist or is not attachable"). Loading moto's copy of them costs about 50 ms per
    account. Needed by: moodle-ha's web role (SSM and CloudWatch agent policies).
    """
    import os

    os.environ["MOTO_IAM_LOAD_MANAGED_POLICIES"] = "true"


@patch
def iam_list_url_encoded_documents():
    """IAM `ListRoles` / `ListInstanceProfiles` / `GetInstanceProfile` / `ListInstanceProfilesForRole`: AssumeRolePolicyDocument.

    AWS: every policy document in an IAM answer is URL-encoded (RFC 3986), in lists as in
    GetRole / GetRolePolicy. moto 5.2.5: URL-encodes it in CreateRole, GetRole and
    GetRolePolicy, but answers plain JSON in ListRoles and in the Roles of instance profiles.
    (boto3 decodes these documents itself, so only a raw answer shows the difference; the
    Rust SDK hands the string over as received.) Needed by: moodle-ha's role observe, which
    decodes the document it lists.
    """
    from moto.core.serialize import url_encode
    from moto.iam.responses import IamResponse

    IamResponse.RESPONSE_KEY_PATH_TO_TRANSFORMER.update({
        "ListRolesResponse.Roles.Role.AssumeRolePolicyDocument": url_encode,
        "Roles.Role.AssumeRolePolicyDocument": url_encode,  # the Roles of an instance profile
    })


@patch
def iam_list_instance_profiles_path_prefix():
    """IAM `ListInstanceProfiles` with PathPrefix (and MaxItems / Marker).

    AWS: answers only the instance profiles whose path starts with PathPrefix, MaxItems at a
    time (default 100) with IsTruncated and Marker. moto 5.2.5: ignores PathPrefix, MaxItems
    and Marker and answers every instance profile of the account. Needed by: moodle-ha observe
    and adopt, which find a stack's instance profiles by path (/moodle-ha/<stack>/).
    """
    from moto.core.responses import ActionResult
    from moto.iam.responses import IamResponse

    def list_instance_profiles(self):
        prefix = self._get_param("PathPrefix") or "/"
        profiles = [p for p in self.backend.get_instance_profiles() if p.path.startswith(prefix)]
        start = int(self._get_param("Marker") or 0)
        size = int(self._get_param("MaxItems") or 100)
        result = {"InstanceProfiles": profiles[start:start + size], "IsTruncated": start + size < len(profiles)}
        if result["IsTruncated"]:
            result["Marker"] = str(start + size)
        return ActionResult(result)

    IamResponse.list_instance_profiles = list_instance_profiles


# Auto Scaling / EC2 ---------------------------------------------------------------------------


# Checks --------------------------------------------------------------------------------------


def check_iam(ctx):
    iam = ctx.iam
    raw = {}
    iam.meta.events.register("after-call.iam", lambda http_response, model, **_: raw.__setitem__(model.name, http_response.text))
    stack = ctx.name("iam")
    path, other_path = f"/moodle-ha/{stack}/", f"/moodle-ha/{stack}-other/"
    trust = json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"}]})
    tags = [{"Key": "moodle-ha:stack", "Value": stack}]
    role = f"{stack}-web"
    created = iam.create_role(RoleName=role, Path=path, AssumeRolePolicyDocument=trust, Tags=tags, Description="web")["Role"]
    iam.create_role(RoleName=f"{stack}-web2", Path=path, AssumeRolePolicyDocument=trust)
    iam.create_role(RoleName=f"{stack}-elsewhere", Path=other_path, AssumeRolePolicyDocument=trust)
    expect_equal((created["Path"], created["Arn"].endswith(f":role{path}{role}")), (path, True), "CreateRole Path/Arn")
    roles, pages = [], 0
    for page in iam.get_paginator("list_roles").paginate(PathPrefix=path, PaginationConfig={"PageSize": 1}):
        roles += page["Roles"]
        pages += 1
    expect_equal((sorted(r["RoleName"] for r in roles), pages), (sorted([role, f"{stack}-web2"]), 2), "ListRoles PathPrefix (MaxItems=1) roles/pages")
    encoded = urllib.parse.quote(trust)
    got = iam.get_role(RoleName=role)["Role"]
    expect_equal((got["Description"], got.get("Tags"), got["AssumeRolePolicyDocument"]), ("web", tags, json.loads(trust)), "GetRole")
    for operation in ("CreateRole", "GetRole", "ListRoles"):
        expect(f"<AssumeRolePolicyDocument>{encoded}</AssumeRolePolicyDocument>" in raw[operation], f"{operation}: AssumeRolePolicyDocument must be URL-encoded:", raw[operation][:400])
    document = json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::moodle/*"}]})
    iam.put_role_policy(RoleName=role, PolicyName="moodledata", PolicyDocument=document)
    expect_equal(iam.get_role_policy(RoleName=role, PolicyName="moodledata")["PolicyDocument"], json.loads(document), "GetRolePolicy")
    expect(f"<PolicyDocument>{urllib.parse.quote(document)}</PolicyDocument>" in raw["GetRolePolicy"], "GetRolePolicy: PolicyDocument must be URL-encoded:", raw["GetRolePolicy"][:400])
    managed = ["arn:aws:iam::aws:policy/AmazonSSMManagedInstanceCore", "arn:aws:iam::aws:policy/CloudWatchAgentServerPolicy"]
    for arn in managed:
        iam.attach_role_policy(RoleName=role, PolicyArn=arn)
    attached = iam.list_attached_role_policies(RoleName=role)["AttachedPolicies"]
    expect_equal(sorted(p["PolicyArn"] for p in attached), managed, "AttachRolePolicy (AWS managed policies), then ListAttachedRolePolicies")

    profile = f"{stack}-web"
    iam.create_instance_profile(InstanceProfileName=profile, Path=path, Tags=tags)
    iam.create_instance_profile(InstanceProfileName=f"{stack}-elsewhere", Path=other_path)
    iam.add_role_to_instance_profile(InstanceProfileName=profile, RoleName=role)
    profiles = iam.list_instance_profiles(PathPrefix=path)["InstanceProfiles"]
    expect_equal([(p["InstanceProfileName"], [r["RoleName"] for r in p["Roles"]]) for p in profiles], [(profile, [role])], "ListInstanceProfiles PathPrefix, with Roles")
    expect(f"<AssumeRolePolicyDocument>{encoded}</AssumeRolePolicyDocument>" in raw["ListInstanceProfiles"], "ListInstanceProfiles: Roles' AssumeRolePolicyDocument must be URL-encoded:", raw["ListInstanceProfiles"][:400])
    expect_error("DeleteConflict", iam.delete_role, RoleName=role)
    iam.remove_role_from_instance_profile(InstanceProfileName=profile, RoleName=role)
    expect_error("DeleteConflict", iam.delete_role, RoleName=role)
    for arn in managed:
        iam.detach_role_policy(RoleName=role, PolicyArn=arn)
    expect_error("DeleteConflict", iam.delete_role, RoleName=role)
    iam.delete_role_policy(RoleName=role, PolicyName="moodledata")
    for name in (profile, f"{stack}-elsewhere"):
        iam.delete_instance_profile(InstanceProfileName=name)
    for name in (role, f"{stack}-web2", f"{stack}-elsewhere"):
        iam.delete_role(RoleName=name)
    expect_error("NoSuchEntity", iam.get_role, RoleName=role)
    expect_equal(iam.list_instance_profiles(PathPrefix=path)["InstanceProfiles"], [], "DeleteInstanceProfile")
