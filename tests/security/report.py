"""PASS/FAIL of issue 20's Prowler checks on the example stack's resources (see tests/security/prowler).

Usage: python report.py EMPTY.ocsf.json STACK.ocsf.json

A stack resource is one the scan of the empty emulator did not see (by resource UID): what the
emulator has on its own (default VPC, its subnets and security group, AWS managed policies …) is
not the product's. Exit 1 when a check of the table FAILs on a stack resource, or has no finding
on any stack resource (a check that cannot fail proves nothing), unless an ARTEFACTS entry (the
emulator's) or an EXCEPTIONS entry (the product's by design, each in README.md's Security section)
names it.
"""

import collections
import json
import re
import sys

# Issue 20's table, in its order.
CHECKS = [
    "rds_instance_transport_encrypted",
    "rds_instance_integration_cloudwatch_logs",
    "rds_instance_enhanced_monitoring_enabled",
    "elbv2_alb_drop_invalid_header_fields_enabled",
    "elbv2_desync_mitigation_mode",
    "elbv2_deletion_protection",
    "elbv2_logging_enabled",
    "elbv2_waf_acl_attached",
    "vpc_flow_logs_enabled",
    "efs_not_publicly_accessible",
    "ec2_securitygroup_default_restrict_traffic",
    "secretsmanager_has_restrictive_resource_policy",
    "ec2_instance_detailed_monitoring_enabled",
    "elasticache_redis_cluster_auto_minor_version_upgrades",
    "elasticache_redis_cluster_backup_enabled",
]

# Findings that are the emulator's, not the product's: (check, regex on the resource UID, reason).
# A FAIL matching one is reported as excluded and does not fail the run. None so far: on the
# example applied by today's product every FAIL of the table is one AWS would report too (the
# emulator gaps these checks read were patched in localstack/patches/, see localstack/README.md).
ARTEFACTS = []

# FAILs that stay by design, each listed with its reason in README.md's Security section:
# (check, regex on the resource UID, reason). Reported as excluded, apart from the artefacts.
EXCEPTIONS = [
    (
        "secretsmanager_has_restrictive_resource_policy",
        r":secret:rds!(db|cluster)-",
        "RDS's managed master secret: owned and rotated by RDS, not the stack; left without a policy "
        "(README.md, Security); of the stack's roles only the cron role may read it",
    ),
]


def findings(path):
    with open(path) as f:
        return json.load(f)


def uid(finding):
    resources = finding.get("resources") or [{}]
    return resources[0].get("uid") or resources[0].get("name") or ""


def artefact(check, resource):
    """The reason a FAIL is excluded, prefixed by its kind (emulator artefact, by design); or None."""
    for kind, entries in (("emulator artefact", ARTEFACTS), ("by design", EXCEPTIONS)):
        for name, pattern, reason in entries:
            if name == check and re.search(pattern, resource):
                return f"{kind}: {reason}"
    return None


def main(empty_path, stack_path):
    emulator_own = {(f["metadata"]["event_code"], uid(f)) for f in findings(empty_path)}
    emulator_uids = {u for _, u in emulator_own}
    stack = [f for f in findings(stack_path) if uid(f) not in emulator_uids]
    counts = collections.defaultdict(collections.Counter)
    failing, excluded = [], []
    totals = collections.Counter(f["status_code"] for f in stack)
    for f in stack:
        check, resource, status = f["metadata"]["event_code"], uid(f), f["status_code"]
        if check not in CHECKS:
            continue
        reason = artefact(check, resource) if status == "FAIL" else None
        if reason:
            counts[check]["EXCLUDED"] += 1
            excluded.append((check, resource, reason))
        else:
            counts[check][status] += 1
            if status == "FAIL":
                failing.append((check, resource, f.get("status_detail", "")))

    width = max(map(len, CHECKS))
    print(f"{'check (issue 20)':<{width}}  PASS  FAIL  excluded  result")
    unevaluated = []
    for check in CHECKS:
        c = counts[check]
        if not sum(c.values()):
            result = "NO FINDING"
            unevaluated.append(check)
        else:
            result = "FAIL" if c["FAIL"] else "PASS"
        print(f"{check:<{width}}  {c['PASS']:>4}  {c['FAIL']:>4}  {c['EXCLUDED']:>8}  {result}")
    print(f"\nall checks of the scanned services on stack resources: {totals['PASS']} PASS, {totals['FAIL']} FAIL"
          f" ({len(stack)} findings; {len(emulator_own)} findings on the emulator's own resources left out)")
    if failing:
        print("\nFAIL on stack resources:")
        for check, resource, detail in failing:
            print(f"  {check}: {resource}: {detail}")
    if excluded:
        print("\nexcluded (emulator artefacts, and exceptions by design):")
        for check, resource, reason in excluded:
            print(f"  {check}: {resource}: {reason}")
    if unevaluated:
        print(f"\nno finding on any stack resource (the check proved nothing): {', '.join(unevaluated)}")
    ok = not failing and not unevaluated
    print(f"\nprowler: {'PASS' if ok else 'FAIL'}: {len(failing)} FAIL on stack resources, {len(unevaluated)} checks without a finding, {len(excluded)} excluded")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:3]))
