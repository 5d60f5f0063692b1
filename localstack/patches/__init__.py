"""moto 5.2.5's gaps against AWS, one module per AWS service, each patch next to its check.

A module (ec2.py, rds.py, …) holds, for its service:
- the patches (`@patch`): each restores one documented AWS behaviour moto lacks, names the test
  that needs it, and is applied in-process by `moto_launcher.py` before moto serves;
- the fixtures (`@fixture`): not gaps, but what a real AWS account has and moto cannot (acm.py,
  ssm.py);
- the checks (`check_*(ctx)`, `ctx` being check_emulator.py's `Checker`: boto3 clients, a unique run
  name, what earlier sections created): the assertions, run by `check_emulator.py`, that fail
  when the module's patches are missing. `localstack/check-patches` proves it, one patch at a
  time (MOODLE_HA_EMULATOR_DISABLE=<patch name>).

Patches and fixtures apply in SERVICES order, and in file order within a module.
"""

import importlib
import os

SERVICES = ("efs", "ec2", "elasticache", "rds", "secretsmanager", "elbv2", "iam", "autoscaling", "logs", "s3", "wafv2", "acm", "ssm")

PATCHES = []
FIXTURES = []


def patch(func):
    """Register a patch; the launcher applies every registered patch before serving."""
    PATCHES.append(func)
    return func


def fixture(func):
    """Register a fixture; the launcher applies every registered fixture before serving.

    A fixture puts into every region's backend, as moto creates it (at the first request for
    that region, and again after POST /moto-api/reset), what exists in a real AWS account (or
    what the example stack names) and moto cannot have, so it is there before any request can
    look for it.
    """
    FIXTURES.append(func)
    return func


def load():
    """Import every service module (which registers its patches and fixtures); returns them."""
    return [importlib.import_module(f"{__name__}.{service}") for service in SERVICES]


def registered():
    """(kind, service, name) of every patch and fixture, in the order they are applied."""
    load()
    return [(kind, func.__module__.rsplit(".", 1)[-1], func.__name__)
            for kind, funcs in (("patch", PATCHES), ("fixture", FIXTURES)) for func in funcs]


def disabled_names():
    """Patches or fixtures left out, by name: MOODLE_HA_EMULATOR_DISABLE=name[,name…].

    For proving that each check fails without its patch (localstack/check-patches); never set
    otherwise. An unknown name is an error, so a typo cannot pass for a proof.
    """
    names = {n.strip() for n in os.environ.get("MOODLE_HA_EMULATOR_DISABLE", "").split(",") if n.strip()}
    unknown = names - {name for _, _, name in registered()}
    if unknown:
        raise SystemExit(f"MOODLE_HA_EMULATOR_DISABLE names no patch or fixture: {', '.join(sorted(unknown))}")
    return names


def apply_all():
    """Apply every registered patch, then every fixture, except those disabled; returns the disabled."""
    disabled = disabled_names()
    for func in PATCHES + FIXTURES:
        if func.__name__ not in disabled:
            func()
    return disabled
