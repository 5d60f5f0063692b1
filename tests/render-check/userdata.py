#!/usr/bin/env python3
"""Reads the rendered cloud-init user data for tests/render-check/run.

  userdata.py extract FILE OUTDIR       write every write_files content, the runcmd/bootcmd
                                        script cloud-init would run and each `sh -c` string
                                        to OUTDIR; print one line per file:
                                        KIND<TAB>SHELL<TAB>FILE<TAB>ORIGIN (KIND: shell, php,
                                        other)
  userdata.py invariants web|cron FILE EXPECT_JSON
                                        the cron rules (web: no cron at all; cron: exactly one
                                        entry, in a /etc/cron.d file written by write_files)
  userdata.py schema FILE OS            cloud-init 22.4's `cloud-init schema`, plus the
                                        top-level keys 22.4 ignores, plus upstream's schema
                                        (OS: ubuntu, debian or al2023, for the verdict on
                                        keys only newer cloud-init knows)
  userdata.py embedded FILE SITE_FILE   whether the user data writes SITE_FILE's text
  userdata.py a2enmod FILE              the Apache modules the user data enables

Only the standard library, PyYAML (which cloud-init depends on) and, for the upstream schema,
jsonschema (also a cloud-init dependency).
"""

import base64
import gzip
import json
import os
import re
import shlex
import subprocess
import sys

import yaml

HERE = os.path.dirname(os.path.abspath(__file__))
UPSTREAM_SCHEMA = os.path.join(HERE, "cloud-init", "schema-cloud-config-v1.json")
UPSTREAM_VERSION = "26.2"
SHELLS = {"sh", "bash", "dash"}
SHEBANG = re.compile(r"^#!\s*(?:/usr)?/bin/(?:env\s+)?(bash|sh|dash)\b")


def die(msg):
    print(msg, file=sys.stderr)
    sys.exit(2)


def load(path):
    with open(path, encoding="utf-8") as f:
        text = f.read()
    if not text.startswith("#cloud-config\n"):
        die(f"{path}: the first line is not '#cloud-config'")
    try:
        doc = yaml.safe_load(text)
    except yaml.YAMLError as e:
        die(f"{path}: not YAML: {e}")
    if not isinstance(doc, dict):
        die(f"{path}: not a mapping")
    return text, doc


def content_of(entry):
    """A write_files entry's content as cloud-init writes it (cc_write_files' decoding)."""
    content = entry.get("content", "")
    if content is None:
        content = ""
    enc = str(entry.get("encoding", "text/plain")).lower().strip()
    if enc in ("gz", "gzip"):
        data = gzip.decompress(content if isinstance(content, bytes) else content.encode())
    elif enc in ("gz+base64", "gzip+base64", "gz+b64", "gzip+b64"):
        data = gzip.decompress(base64.b64decode(content))
    elif enc in ("b64", "base64"):
        data = base64.b64decode(content)
    else:
        return str(content)
    return data.decode("utf-8", "replace")


def write_files(doc):
    entries = doc.get("write_files") or []
    return [e for e in entries if isinstance(e, dict)]


def commands(doc, key):
    return [c for c in (doc.get(key) or []) if c is not None]


def shell_strings(cmd):
    """The shell code in one runcmd/bootcmd item: a string item is run by sh; a list item
    [sh|bash, …, -c, CODE, …] carries CODE."""
    if isinstance(cmd, str):
        return [("sh", cmd)]
    if isinstance(cmd, (list, tuple)) and cmd:
        argv = [str(a) for a in cmd]
        shell = os.path.basename(argv[0])
        if shell in SHELLS:
            for i, a in enumerate(argv[1:], start=1):
                if a.startswith("-") and "c" in a[1:] and i + 1 < len(argv):
                    return [(shell, argv[i + 1])]
    return []


def shellify(cmds):
    """cloud-init's own runcmd/bootcmd script (cloudinit.util.shellify), or a copy of it."""
    try:
        from cloudinit.util import shellify as ci_shellify  # noqa: PLC0415

        return ci_shellify(cmds)
    except ImportError:
        out = "#!/bin/sh\n"
        for c in cmds:
            if isinstance(c, (list, tuple)):
                out += " ".join("'%s'" % str(a).replace("'", "'\\''") for a in c) + "\n"
            else:
                out += f"{c}\n"
        return out


def all_strings(node, origin="", out=None):
    """(origin, text) for every string scalar in the document, write_files contents decoded."""
    if out is None:
        out = []
    if isinstance(node, dict):
        for k, v in node.items():
            all_strings(v, f"{origin}.{k}" if origin else str(k), out)
    elif isinstance(node, list):
        for i, v in enumerate(node):
            all_strings(v, f"{origin}[{i}]", out)
    elif isinstance(node, (str, bytes)):
        out.append((origin, node if isinstance(node, str) else node.decode("utf-8", "replace")))
    return out


def strings_decoded(doc):
    out = []
    for origin, s in all_strings({k: v for k, v in doc.items() if k != "write_files"}):
        out.append((origin, s))
    for i, e in enumerate(write_files(doc)):
        base = f"write_files[{i}] ({e.get('path')})"
        for origin, s in all_strings({k: v for k, v in e.items() if k != "content"}, base):
            out.append((origin, s))
        out.append((f"{base}.content", content_of(e)))
    return out


def cmd_extract(path, outdir):
    _, doc = load(path)
    os.makedirs(outdir, exist_ok=True)
    n = 0

    def emit(kind, shell, name, text, origin):
        nonlocal n
        n += 1
        safe = re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("_")[:60]
        f = os.path.join(outdir, f"{n:02d}-{safe}")
        with open(f, "w", encoding="utf-8") as fh:
            fh.write(text)
        print(f"{kind}\t{shell}\t{f}\t{origin}")

    for i, e in enumerate(write_files(doc)):
        text = content_of(e)
        origin = f"write_files[{i}] {e.get('path')}"
        m = SHEBANG.match(text)
        if m:
            emit("shell", m.group(1), str(e.get("path")), text, origin)
        elif text.lstrip("\ufeff").startswith("<?php"):
            emit("php", "-", str(e.get("path")), text, origin)
        else:
            emit("other", "-", str(e.get("path")), text, origin)
    for key in ("bootcmd", "runcmd"):
        cmds = commands(doc, key)
        if not cmds:
            continue
        emit("shell", "sh", f"{key}-script", shellify(cmds), f"{key} (as cloud-init runs it)")
        for i, c in enumerate(cmds):
            for shell, code in shell_strings(c):
                if isinstance(c, str):
                    continue  # already in the script above, as sh runs it
                emit("shell", shell, f"{key}-{i}-{shell}-c", code, f"{key}[{i}] {shell} -c")


def is_comment(line):
    return line.lstrip().startswith(("#", "//"))


# The cron instance's agent calls cron.php to switch cron off and on or to list its tasks; those
# lines run no cron.
CRON_CONTROL = re.compile(r"admin/cli/cron\.php\s+--(enable|disable|disable-wait|list|stop)\b")


def runs_cron(line):
    return "admin/cli/cron.php" in line and not is_comment(line) and not CRON_CONTROL.search(line)


def cmd_invariants(role, path, expect_path):
    _, doc = load(path)
    with open(expect_path, encoding="utf-8") as f:
        expect = json.load(f)
    errors = []
    strings = strings_decoded(doc)

    if role == "web":
        rules = [
            (re.compile(r"cron\.php"), "runs Moodle's cron.php"),
            (re.compile(r"/etc/cron\."), "writes a cron table (/etc/cron.*)"),
            (re.compile(r"/etc/anacrontab|/var/spool/cron"), "writes a cron table"),
            (re.compile(r"crontab"), "uses crontab"),
            (re.compile(r"OnCalendar"), "defines a systemd timer (OnCalendar)"),
            (re.compile(r"systemd-run\b.*--on-(calendar|active|boot|startup|unit)"),
             "starts a transient systemd timer"),
            (re.compile(r"(?i)moodle\S*\.timer"), "names a Moodle systemd timer"),
        ]
        for origin, s in strings:
            for n, line in enumerate(s.splitlines(), start=1):
                for rx, what in rules:
                    if rx.search(line):
                        errors.append(f"{origin} line {n}: {what}: {line.strip()}")
        for e in write_files(doc):
            p = str(e.get("path", ""))
            if p.endswith(".timer") or "/cron" in p:
                errors.append(f"write_files {p}: a timer or cron file on a web node")
        # The distribution's default site must not take the health check (Ubuntu and Debian only: AL2023's
        # nginx.conf server is not default_server, and httpd ships no virtual host).
        code = "\n".join(
            ln for _, s in strings for ln in s.splitlines() if not is_comment(ln))
        ubuntu = str(expect.get("fpm_socket", "")).startswith("/run/php/php")
        if ubuntu and expect.get("web_server") == "nginx" and "sites-enabled/default" not in code:
            errors.append(
                "Ubuntu's nginx enables /etc/nginx/sites-enabled/default (listen 80 "
                "default_server): the user data never removes it, so nginx refuses the site's "
                "default_server (duplicate default server)")
        if ubuntu and expect.get("web_server") == "apache":
            if not re.search(r"a2dissite\b.*\b000-default|sites-enabled/000-default", code):
                errors.append(
                    "Ubuntu's apache2 enables 000-default, the first virtual host: the user "
                    "data never disables it (a2dissite 000-default), so it takes the health "
                    "check")
            if not re.search(r"a2ensite\b|/etc/apache2/sites-enabled/", code):
                errors.append(
                    "the site is written to sites-available but never enabled (a2ensite)")
    elif role == "cron":
        user, php, root = expect["web_user"], expect["php_bin"], expect["code_root"]
        want = re.compile(
            r"^\*\s+\*\s+\*\s+\*\s+\*\s+"
            + re.escape(user) + r"\s+" + re.escape(php) + r"\s+"
            + re.escape(root.rstrip("/")) + r"/admin/cli/cron\.php\s+>\s*/dev/null$"
        )
        hits = []
        for origin, s in strings:
            for n, line in enumerate(s.splitlines(), start=1):
                if runs_cron(line):
                    hits.append((origin, n, line.strip()))
        if len(hits) != 1:
            errors.append(
                f"{len(hits)} lines run admin/cli/cron.php (want exactly 1): "
                + "; ".join(f"{o} line {n}: {t}" for o, n, t in hits)
            )
        entries = [
            e for e in write_files(doc)
            if any(runs_cron(ln) for ln in content_of(e).splitlines())
        ]
        if len(entries) != 1:
            errors.append(f"{len(entries)} write_files entries hold the cron.php line (want 1)")
        for e in entries:
            p = str(e.get("path", ""))
            text = content_of(e)
            if not re.fullmatch(r"/etc/cron\.d/[A-Za-z0-9_-]+", p):
                errors.append(
                    f"{p}: not a file cron reads: /etc/cron.d/NAME, NAME of letters, digits, "
                    "'_' and '-' only (cron skips names with dots)"
                )
            if e.get("append"):
                errors.append(f"{p}: appended (append: true), not written")
            perm = str(e.get("permissions", "0644"))
            if int(perm, 8) & 0o022:
                errors.append(f"{p}: permissions {perm}: cron ignores group/other-writable files")
            owner = str(e.get("owner", "root:root"))
            if owner.split(":")[0] != "root":
                errors.append(f"{p}: owner {owner}: cron.d files must be root's")
            if not text.endswith("\n"):
                errors.append(f"{p}: no newline at the end (cron drops the last line)")
            for ln in text.splitlines():
                if "admin/cli/cron.php" in ln and not is_comment(ln) and not want.match(ln.strip()):
                    errors.append(
                        f"{p}: {ln.strip()!r} is not '* * * * * {user} {php} "
                        f"{root}/admin/cli/cron.php >/dev/null'"
                    )
        for key in ("bootcmd", "runcmd"):
            for i, c in enumerate(commands(doc, key)):
                code = c if isinstance(c, str) else " ".join(str(a) for a in c)
                if re.search(r"crontab", code):
                    errors.append(f"{key}[{i}]: uses crontab: {code}")
                if "/etc/cron" in code and re.search(r">|\btee\b|\bcp\b|\binstall\b|\bmv\b|\bln\b|sed\s+-i", code):
                    errors.append(f"{key}[{i}]: writes a cron table from {key}: {code}")
        for origin, s in strings:
            if origin.endswith(".content") or origin.startswith(("runcmd", "bootcmd")):
                for n, line in enumerate(s.splitlines(), start=1):
                    if "crontab" in line and not is_comment(line):
                        errors.append(f"{origin} line {n}: uses crontab: {line.strip()}")
    else:
        die(f"unknown role {role}")
    for e in errors:
        print(f"  {e}")
    return 1 if errors else 0


def top_level_keys_224():
    """The top-level keys the installed cloud-init's schema defines (22.4 ignores others)."""
    from cloudinit.config.schema import get_schema  # noqa: PLC0415

    schema = get_schema()
    defs = schema.get("$defs", {})
    keys = set(schema.get("properties", {}))

    def collect(node):
        if not isinstance(node, dict):
            return
        if "$ref" in node:
            collect(defs.get(node["$ref"].split("/")[-1], {}))
        keys.update(node.get("properties", {}))
        for k in ("allOf", "anyOf", "oneOf"):
            for sub in node.get(k, []):
                collect(sub)

    for sub in schema.get("allOf", []):
        collect(sub)
    # Read by cloud-init 22.4's own code, outside its schema (upstream's schema lists them).
    return keys | {"output", "merge_how", "merge_type", "system_info", "launch-index"}


def upstream_errors(doc):
    """Errors against upstream cloud-init's schema (tests/render-check/cloud-init/)."""
    import jsonschema  # noqa: PLC0415

    with open(UPSTREAM_SCHEMA, encoding="utf-8") as f:
        schema = json.load(f)
    validator = jsonschema.Draft4Validator(schema)
    return sorted(
        "%s: %s" % (".".join(str(p) for p in e.absolute_path) or "(top level)", e.message)
        for e in validator.iter_errors(doc)
    )


def cmd_schema(path, os_name):
    _, doc = load(path)
    ci = subprocess.run(
        ["cloud-init", "schema", "--config-file", path],
        capture_output=True, text=True, check=False,
    )
    out = (ci.stdout + ci.stderr).strip()
    version = subprocess.run(
        ["cloud-init", "--version"], capture_output=True, text=True, check=False
    )
    local = (version.stdout + version.stderr).strip().split()[-1]
    unknown = sorted(set(doc) - top_level_keys_224())
    up = upstream_errors(doc)
    fail = False
    if ci.returncode != 0:
        print(f"  cloud-init {local} schema: {out}")
    dep = re.search(r"deprecations:\s*(\S.*)", out)
    if dep:
        print(f"  WARN cloud-init {local}: deprecated: {dep.group(1)}")
    for k in unknown:
        print(f"  cloud-init {local} does not know the top-level key {k!r} (it ignores it)")
    if up:
        for e in up:
            print(f"  cloud-init {UPSTREAM_VERSION} (upstream schema): {e}")
        fail = True
    if ci.returncode != 0 or unknown:
        if not up and os_name == "ubuntu":
            print(
                f"  WARN: valid for cloud-init {UPSTREAM_VERSION} (Ubuntu 24.04 ships 24.x "
                f"and newer) but not for {local}: not a failure for an Ubuntu node; a node "
                "with an older cloud-init would ignore or reject it"
            )
        else:
            if not up:
                shipped = (
                    "Debian 12 ships cloud-init 22.4"
                    if os_name == "debian"
                    else "Amazon Linux 2023 ships cloud-init 22.2"
                )
                print(
                    f"  valid for cloud-init {UPSTREAM_VERSION} only: {shipped}, which "
                    "ignores or rejects it"
                )
            fail = True
    return 1 if fail else 0


PLACEHOLDER = re.compile(r"<known after apply: [^>]*>")


def same_modulo_placeholders(embedded, standalone):
    """True when the standalone file is the embedded one with its `<known after apply: …>`
    placeholders filled in (line by line; a placeholder stands for any text)."""
    a, b = embedded.rstrip("\n").split("\n"), standalone.rstrip("\n").split("\n")
    if len(a) != len(b):
        return False
    for x, y in zip(a, b):
        if x == y:
            continue
        if "<known after apply: " in y or not PLACEHOLDER.search(x):
            return False
        rx = ".+".join(re.escape(part) for part in PLACEHOLDER.split(x))
        if not re.fullmatch(rx, y):
            return False
    return True


def cmd_embedded(path, site_file):
    """0: the user data writes SITE_FILE's text (placeholders aside); 1: it writes a file that
    starts like it but differs (diff printed); 3: it writes nothing like it."""
    import difflib  # noqa: PLC0415

    _, doc = load(path)
    with open(site_file, encoding="utf-8") as f:
        want = f.read()
    alike = []
    for e in write_files(doc):
        got = content_of(e)
        if same_modulo_placeholders(got, want):
            print(f"  written to {e.get('path')}")
            return 0
        if got.split("\n", 1)[0] == want.split("\n", 1)[0]:
            alike.append((e.get("path"), got))
    for p, got in alike:
        print(f"  {p} differs from {os.path.basename(site_file)}:")
        for line in difflib.unified_diff(
            got.splitlines(), want.splitlines(), str(p), site_file, lineterm="", n=1
        ):
            print(f"    {line}")
    return 1 if alike else 3


def cmd_a2enmod(path):
    _, doc = load(path)
    mods = []
    for _, s in strings_decoded(doc):
        for line in s.splitlines():
            if is_comment(line):
                continue
            for part in re.split(r"&&|\|\||;|\|", line):
                try:
                    words = shlex.split(part, comments=True)
                except ValueError:
                    words = part.split()
                if words and os.path.basename(words[0]) == "a2enmod":
                    mods += [w for w in words[1:] if not w.startswith("-")]
    # List items such as [a2enmod, headers, proxy_fcgi].
    for key in ("bootcmd", "runcmd"):
        for c in commands(doc, key):
            if isinstance(c, list) and c and os.path.basename(str(c[0])) == "a2enmod":
                mods += [str(w) for w in c[1:] if not str(w).startswith("-")]
    print("\n".join(dict.fromkeys(mods)))
    return 0


def main(argv):
    if len(argv) < 2:
        die(__doc__)
    cmd, args = argv[1], argv[2:]
    if cmd == "extract" and len(args) == 2:
        cmd_extract(*args)
        return 0
    if cmd == "invariants" and len(args) == 3:
        return cmd_invariants(*args)
    if cmd == "schema" and len(args) == 2:
        return cmd_schema(*args)
    if cmd == "embedded" and len(args) == 2:
        return cmd_embedded(*args)
    if cmd == "a2enmod" and len(args) == 1:
        return cmd_a2enmod(*args)
    die(__doc__)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
