"""CloudWatch Logs: log groups with retention and tags (issue 20: flow logs, RDS log exports, WAF logs).

Patches (`@patch`) first, then the checks (`check_*(ctx)`) that check_emulator.py runs and that
fail without them. See patches/__init__.py.
"""

from . import patch
from .expect import expect_equal, expect_error

# The values PutRetentionPolicy accepts (CloudWatch Logs API reference, PutRetentionPolicy).
RETENTION_DAYS = (1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653)


@patch
def logs_retention_in_days_values():
    """CloudWatch Logs `PutRetentionPolicy` with a retentionInDays AWS does not offer (e.g. 31).

    AWS: only 1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192,
    2557, 2922, 3288 or 3653 days; anything else is InvalidParameterException. moto 5.2.5:
    accepts any number. Needed by: issue 20's log retention setting in the spec (a retention
    AWS would refuse must fail against the emulator too).
    """
    from moto.logs.exceptions import InvalidParameterException
    from moto.logs.models import LogsBackend

    original = LogsBackend.put_retention_policy

    def put_retention_policy(self, log_group_name, retention_in_days):
        if int(retention_in_days) not in RETENTION_DAYS:
            raise InvalidParameterException(
                constraint=f"Member must satisfy enum value set: [{', '.join(map(str, RETENTION_DAYS))}]",
                parameter="retentionInDays", value=retention_in_days,
            )
        return original(self, log_group_name, retention_in_days)

    LogsBackend.put_retention_policy = put_retention_policy


# Checks --------------------------------------------------------------------------------------


def check_log_groups(ctx):
    """CreateLogGroup with tags, PutRetentionPolicy / DeleteRetentionPolicy, DescribeLogGroups, ListTagsForResource."""
    logs = ctx.logs
    name = f"/moodle-ha/{ctx.run}/rds/error"
    logs.create_log_group(logGroupName=name, tags={"moodle-ha:stack": ctx.run})
    expect_error("ResourceAlreadyExistsException", logs.create_log_group, logGroupName=name)
    logs.put_retention_policy(logGroupName=name, retentionInDays=30)
    groups = logs.describe_log_groups(logGroupNamePrefix=name)["logGroups"]
    arn = f"arn:aws:logs:{ctx.region}:{ctx.account}:log-group:{name}"
    expect_equal([(g["logGroupName"], g.get("retentionInDays"), g.get("logGroupArn")) for g in groups], [(name, 30, arn)], "DescribeLogGroups retentionInDays/logGroupArn")
    expect_equal(logs.list_tags_for_resource(resourceArn=arn)["tags"], {"moodle-ha:stack": ctx.run}, "ListTagsForResource(log group)")
    expect_error("InvalidParameterException", logs.put_retention_policy, logGroupName=name, retentionInDays=31)
    logs.delete_retention_policy(logGroupName=name)
    expect_equal(logs.describe_log_groups(logGroupNamePrefix=name)["logGroups"][0].get("retentionInDays"), None, "DeleteRetentionPolicy: never expire")
    logs.delete_log_group(logGroupName=name)
    expect_equal(logs.describe_log_groups(logGroupNamePrefix=name)["logGroups"], [], "DeleteLogGroup")
