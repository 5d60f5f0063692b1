#!/usr/bin/env python3
"""The lab's own look-ups in the emulator (boto3, from the emulator's virtualenv).

  labaws.py facts STACK REGION          JSON: what the lab needs to stand in for the stack's
                                        database, Redis and EFS, and to impersonate its nodes
  labaws.py secret NAME_OR_ARN REGION   a secret's value (to stdout only; the lab writes it to
                                        files readable by root, never logs it)
  labaws.py targets TG_ARN REGION       the target group's registered instance IDs, one a line
  labaws.py complete GROUP HOOK INSTANCE REGION
                                        CompleteLifecycleAction (CONTINUE); prints AWS's error
                                        code and exits 1 when it is refused

  labaws.py record STACK REGION         the release record (the SSM parameter's JSON)
  labaws.py put-record STACK REGION JSON
                                        overwrites the release record (bad-release)
  labaws.py put-object BUCKET KEY FILE REGION
                                        uploads FILE (bad-release: a tampered archive)
  labaws.py put-agent STACK REGION JSON writes the agent's request parameter, as the CLI does
  labaws.py get-object BUCKET KEY REGION
                                        the object's body on stdout; exits 1 when there is none
  labaws.py delete-object BUCKET KEY REGION
  labaws.py journal HISTORY_JSON KIND   the last workflow of KIND (`upgrade`, `rollback`) in
                                        `moodle-ha history --output json`: its id, state, the
                                        seconds from its first step's start to its last step's
                                        end, and from `maintenance-on`'s start to
                                        `maintenance-off`'s end (the maintenance window), tab
                                        separated; `-` for what the journal lacks

AWS_ENDPOINT_URL (the emulator) and test credentials come from the environment.
"""

import json
import sys

import boto3
from botocore.exceptions import ClientError


def client(name, region):
    return boto3.client(name, region_name=region)


def facts(stack, region):
    rds = client("rds", region)
    db = rds.describe_db_instances(DBInstanceIdentifier=f"{stack}-db")["DBInstances"][0]
    ec = client("elasticache", region)
    rg = ec.describe_replication_groups(ReplicationGroupId=f"{stack}-redis")["ReplicationGroups"][0]
    efs = client("efs", region)
    fs = efs.describe_file_systems(CreationToken=f"moodle-ha/{stack}/moodledata")["FileSystems"][0]
    asg = client("autoscaling", region)
    group = asg.describe_auto_scaling_groups(AutoScalingGroupNames=[f"{stack}-web"])["AutoScalingGroups"][0]
    ec2 = client("ec2", region)
    cron = []
    for r in ec2.describe_instances(Filters=[
        {"Name": "tag:moodle-ha:stack", "Values": [stack]},
        {"Name": "instance-state-name", "Values": ["pending", "running"]},
    ])["Reservations"]:
        for i in r["Instances"]:
            if not any(t["Key"] == "aws:autoscaling:groupName" for t in i.get("Tags", [])):
                cron.append(i["InstanceId"])
    out = {
        "db_host": db["Endpoint"]["Address"],
        "master_secret_arn": db["MasterUserSecret"]["SecretArn"],
        "redis_host": rg["NodeGroups"][0]["PrimaryEndpoint"]["Address"],
        "efs_id": fs["FileSystemId"],
        "group": group["AutoScalingGroupName"],
        "web_instances": sorted(i["InstanceId"] for i in group["Instances"]),
        "target_groups": group.get("TargetGroupARNs", []),
        "cron_instance": sorted(cron)[0] if cron else None,
    }
    print(json.dumps(out, indent=1))


def secret(name, region):
    sys.stdout.write(client("secretsmanager", region).get_secret_value(SecretId=name)["SecretString"])


def targets(arn, region):
    health = client("elbv2", region).describe_target_health(TargetGroupArn=arn)
    for t in health["TargetHealthDescriptions"]:
        print(t["Target"]["Id"])


def complete(group, hook, instance, region):
    try:
        client("autoscaling", region).complete_lifecycle_action(
            AutoScalingGroupName=group, LifecycleHookName=hook, InstanceId=instance,
            LifecycleActionResult="CONTINUE")
    except ClientError as e:
        print(e.response["Error"].get("Code", "?"), e.response["Error"].get("Message", ""))
        sys.exit(1)
    print("accepted")


def members(stack, region):
    """The web group's instances (one ID per line): the lab boots a node for each new one."""
    asg = client("autoscaling", region)
    group = asg.describe_auto_scaling_groups(AutoScalingGroupNames=[f"{stack}-web"])["AutoScalingGroups"][0]
    for i in sorted(i["InstanceId"] for i in group["Instances"]):
        print(i)


def modified(bucket, key, region):
    """An object's LastModified, in seconds since the epoch."""
    head = client("s3", region).head_object(Bucket=bucket, Key=key)
    print(f"{head['LastModified'].timestamp():.0f}")


def record(stack, region):
    name = f"/moodle-ha/{stack}/release"
    print(client("ssm", region).get_parameter(Name=name)["Parameter"]["Value"])


def put_record(stack, region, value):
    name = f"/moodle-ha/{stack}/release"
    client("ssm", region).put_parameter(Name=name, Value=value, Type="String", Overwrite=True)


def put_object(bucket, key, path, region):
    with open(path, "rb") as f:
        client("s3", region).put_object(Bucket=bucket, Key=key, Body=f.read())


def put_agent(stack, region, value):
    name = f"/moodle-ha/{stack}/agent"
    client("ssm", region).put_parameter(Name=name, Value=value, Type="String", Overwrite=True)


def get_object(bucket, key, region):
    try:
        body = client("s3", region).get_object(Bucket=bucket, Key=key)["Body"].read()
    except ClientError as e:
        print(e.response["Error"].get("Code", "?"), file=sys.stderr)
        sys.exit(1)
    sys.stdout.buffer.write(body)


def delete_object(bucket, key, region):
    client("s3", region).delete_object(Bucket=bucket, Key=key)


def journal(path, kind):
    from datetime import datetime

    doc = json.load(open(path))
    flows = [w for w in doc.get("workflows", []) if w.get("id", "").startswith(f"{kind}-")]
    if not flows:
        print("-\t-\t-\t-\t-")
        return
    w = sorted(flows, key=lambda w: w["id"])[-1]
    state = w.get("state")
    if isinstance(state, dict):
        state = state.get("state")
    t = lambda s: datetime.fromisoformat(s.replace("Z", "+00:00"))
    steps = {e["step"]: e for e in w.get("steps", [])}
    starts = [t(e["started"]) for e in w.get("steps", [])]
    ends = [t(e["ended"]) for e in w.get("steps", []) if e.get("ended")]
    whole = f"{(max(ends) - min(starts)).total_seconds():.0f}" if starts and ends else "-"
    on, off = steps.get("maintenance-on"), steps.get("maintenance-off")
    window = (f"{(t(off['ended']) - t(on['started'])).total_seconds():.0f}"
              if on and off and off.get("ended") else "-")
    on_start = f"{t(on['started']).timestamp():.0f}" if on else "-"
    print(f"{w['id']}\t{state}\t{whole}\t{window}\t{on_start}")


if __name__ == "__main__":
    cmd, args = sys.argv[1], sys.argv[2:]
    {"facts": facts, "secret": secret, "targets": targets, "complete": complete,
     "record": record, "put-record": put_record, "put-object": put_object,
     "put-agent": put_agent, "get-object": get_object, "delete-object": delete_object,
     "journal": journal, "members": members, "modified": modified}[cmd](*args)
