"""report.py on made-up Prowler outputs: it passes, fails and excludes as documented.

Usage: python report_test.py   (exit 0 when every case gives the expected exit code)
"""

import contextlib
import io
import json
import os
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import report  # noqa: E402


def finding(check, uid, status):
    return {"metadata": {"event_code": check}, "status_code": status, "status_detail": f"{check} {status}", "resources": [{"uid": uid}]}


def run(empty, stack, artefacts=(), exceptions=()):
    with tempfile.TemporaryDirectory() as d:
        paths = []
        for name, items in (("empty", empty), ("stack", stack)):
            paths.append(os.path.join(d, f"{name}.json"))
            with open(paths[-1], "w") as f:
                json.dump(items, f)
        report.ARTEFACTS[:] = list(artefacts)
        report.EXCEPTIONS[:] = list(exceptions)
        with contextlib.redirect_stdout(io.StringIO()):
            return report.main(*paths)


def main():
    emulator_vpc = "arn:aws:ec2:eu-west-1:123456789012:vpc/vpc-default"
    own = [finding("vpc_flow_logs_enabled", emulator_vpc, "FAIL")]
    every_pass = [finding(check, f"arn:stack:{check}", "PASS") for check in report.CHECKS]
    one_fail = every_pass[1:] + [finding(report.CHECKS[0], "arn:stack:db", "FAIL")]
    cases = [
        ("every check PASS on a stack resource; the emulator's own FAIL left out", run(own, every_pass + own), 0),
        ("one FAIL on a stack resource", run(own, one_fail), 1),
        ("a check without any finding on a stack resource", run(own, every_pass[1:]), 1),
        ("a FAIL that is a named artefact", run(own, one_fail, [(report.CHECKS[0], r"arn:stack:db$", "moto lacks it")]), 0),
        ("an artefact pattern that does not match", run(own, one_fail, [(report.CHECKS[0], r"arn:stack:other$", "moto lacks it")]), 1),
        ("a FAIL that is a named exception by design", run(own, one_fail, (), [(report.CHECKS[0], r"arn:stack:db$", "by design")]), 0),
        ("an exception of another check", run(own, one_fail, (), [(report.CHECKS[1], r"arn:stack:db$", "by design")]), 1),
    ]
    failed = 0
    for name, got, wanted in cases:
        ok = got == wanted
        failed += not ok
        print(f"{'ok  ' if ok else 'FAIL'} {name}: exit {got}, expected {wanted}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
