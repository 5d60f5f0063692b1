"""Start moto in server mode, with small patches where moto 5.2.5 answers differently from AWS.

The patches live in patches/, one module per AWS service (patches/ec2.py, rds.py, …), each next
to the checks that fail without it (run by check_emulator.py). Each patch restores one documented
AWS behaviour and names the test that needs it: the fixes live in the emulator launcher, so that
moodle-ha's product code stays faithful to AWS and never special-cases the emulator. The fixtures
(acm.py, ssm.py) are not gaps: they put into every region what a real account has and moto
cannot (the example stack's ACM certificate, AWS's public Ubuntu AMI parameters).

Usage: python moto_launcher.py [-H HOST] [-p PORT]   (the arguments of moto_server)
       python moto_launcher.py --list                (every patch and fixture: kind service name)

MOODLE_HA_EMULATOR_DISABLE=name[,name…] leaves those patches or fixtures out; it exists only to
prove that each check fails without its patch (localstack/check-patches).
"""

import sys

import patches


def main(argv):
    if argv == ["--list"]:
        for kind, service, name in patches.registered():
            print(kind, service, name)
        return
    disabled = patches.apply_all()
    if disabled:
        print(f"moto_launcher: left out (MOODLE_HA_EMULATOR_DISABLE): {', '.join(sorted(disabled))}", file=sys.stderr)
    from moto.server import main as moto_main

    moto_main(argv)


if __name__ == "__main__":
    main(sys.argv[1:])
