"""Check that the (patched) emulator answers the calls moodle-ha makes the way AWS does.

Every check names the AWS behaviour it expects. The checks live next to the patches they prove,
one module per AWS service in patches/ (ec2.py, rds.py, …); this script runs them in sections.
It stops at the first mismatch, prints it and exits 1; it prints "all checks passed" and exits 0
otherwise. It uses unique names, so it can run against an emulator that other tests are using,
and it deletes what it created.

Usage: python check_emulator.py [--host 127.0.0.1] [--port 4566] [--region eu-west-1]
"""

import argparse
import os
import sys
import traceback
import uuid

import boto3
import botocore.config

from patches import acm, autoscaling, ec2, efs, elasticache, elbv2, iam, logs, rds, s3, secretsmanager, ssm, wafv2
from patches.expect import Mismatch

CHECKS_DIR = os.path.dirname(os.path.abspath(ec2.__file__))

# Sections in order (later ones use what earlier ones made: the network, the web tier's load
# balancer and launch template); each runs its service modules' checks in turn.
SECTIONS = [
    ("network", [ec2.check_network]),
    ("ElastiCache", [elasticache.check_elasticache, elasticache.check_security_controls]),
    ("RDS", [rds.check_rds, rds.check_security_controls, rds.check_aurora_rollback]),
    ("Secrets Manager", [secretsmanager.check_secrets, secretsmanager.check_resource_policy]),
    ("Auto Scaling / EC2", [ec2.check_launch_template_own_tags, autoscaling.check_update_keeps_omitted_fields]),
    ("fixtures", [acm.check_example_certificate, ssm.check_ubuntu_ami_parameters]),
    ("ELBv2", [elbv2.check_elbv2, elbv2.check_security_attributes]),
    ("creates sent again", [ec2.check_idempotent_creates, elbv2.check_idempotent_creates, efs.check_idempotent_creates]),
    ("launch templates", [ec2.check_launch_templates]),
    ("Auto Scaling (web tier)", [autoscaling.check_web_autoscaling]),
    ("IAM", [iam.check_iam]),
    ("EFS", [efs.check_file_system]),
    ("EC2 security controls", [ec2.check_security_controls]),
    ("CloudWatch Logs", [logs.check_log_groups]),
    ("S3", [s3.check_log_bucket, s3.check_tls_only_bucket_policy]),
    ("WAFv2", [wafv2.check_web_acl, wafv2.check_duplicate_web_acl]),
    ("cleanup", [ec2.check_cleanup_network]),
]


class Checker:
    def __init__(self, endpoint, region):
        config = botocore.config.Config(retries={"max_attempts": 1, "mode": "standard"})
        self.clients = {}
        for service in ("ec2", "elasticache", "rds", "secretsmanager", "autoscaling", "sts", "acm", "ssm", "elbv2", "iam", "efs", "logs", "s3", "wafv2"):
            self.clients[service] = boto3.client(service, endpoint_url=endpoint, region_name=region, config=config)
        self.endpoint, self.config = endpoint, config
        self.region = region
        self.run = uuid.uuid4().hex[:8]
        self.account = self.sts.get_caller_identity()["Account"]

    def __getattr__(self, name):
        clients = self.__dict__.get("clients", {})
        if name in clients:
            return clients[name]
        raise AttributeError(name)

    def name(self, kind):
        return f"chk-{self.run}-{kind}"


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=4566)
    parser.add_argument("--region", default="eu-west-1")
    args = parser.parse_args()
    for variable, value in (("AWS_ACCESS_KEY_ID", "test"), ("AWS_SECRET_ACCESS_KEY", "test")):
        os.environ.setdefault(variable, value)

    checker = Checker(f"http://{args.host}:{args.port}", args.region)
    for title, checks in SECTIONS:
        try:
            for check in checks:
                check(checker)
        except Mismatch as mismatch:
            print(f"MISMATCH in {title}: {mismatch}", file=sys.stderr)
            return 1
        except Exception as error:  # an unexpected AWS error, or an answer the SDK cannot parse (HTTP 500)
            here = [
                f for f in traceback.extract_tb(error.__traceback__)
                if os.path.dirname(os.path.abspath(f.filename)) == CHECKS_DIR and not f.filename.endswith("expect.py")
            ]
            where = f" (patches/{os.path.basename(here[-1].filename)} line {here[-1].lineno}: {here[-1].line})" if here else ""
            text = str(error)
            if "500 Internal Server Error" in text:
                text = "the emulator answered HTTP 500 (an unimplemented action or a crash; see its log)"
            print(f"MISMATCH in {title}{where}: unexpected {type(error).__name__}: {text}", file=sys.stderr)
            return 1
        print(f"ok  {title}")
    print("all checks passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
