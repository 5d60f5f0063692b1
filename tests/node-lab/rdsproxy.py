#!/usr/bin/env python3
"""The lab's stand-in for RDS snapshots of the data: an HTTP proxy in front of the lab's
emulator, for the CLI only (loopback).

  rdsproxy.py --listen 127.0.0.1:PORT --upstream http://127.0.0.1:EMU --work WORK

Every request is forwarded to the emulator unchanged (method, path, headers, body) and its
answer returned unchanged. Two RDS calls (Query protocol: a form-encoded POST with `Action=`)
first act on the lab's MariaDB, which holds the site's data (the emulator's RDS holds none):

- `CreateDBSnapshot` of `<stack>-db`: `mariadb-dump` of the stack's `moodle` database (through
  its socket `WORK/<stack>/mysql/sock`) into `WORK/<stack>/snapshots/<snapshot id>.sql`, once
  (a second call with the same identifier keeps the first dump; the emulator refuses it).
- `RestoreDBInstanceFromDBSnapshot` of a snapshot this proxy dumped: the database as it is
  now dumped aside (`<snapshot id>.replaced.sql`), then the snapshot's dump loaded back into
  the stack's MariaDB (the `moodle` database dropped and created again by the dump).

What it does NOT emulate: the restore happens in place, at the restore call (on RDS a new
instance is made and takes the endpoint only at the identifier swap, the upgraded instance
kept aside; here the lab's one MariaDB per stack is the endpoint, so the upgraded data is kept
only as the `.replaced.sql` dump); no storage, timing, encryption, point in time, Aurora
cluster snapshots, or a snapshot's deletion. A dump that fails answers 500 without forwarding.
"""

import argparse
import glob
import http.client
import os
import subprocess
import sys
import threading
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

HOP = {"connection", "keep-alive", "transfer-encoding", "te", "trailer", "upgrade",
       "proxy-authorization", "proxy-authenticate"}
LOCK = threading.Lock()


def log(msg):
    print(f"rdsproxy: {msg}", file=sys.stderr, flush=True)


def socket_of(work, stack):
    return os.path.join(work, stack, "mysql", "sock")


def dump(work, stack, path):
    tmp = path + ".partial"
    with open(tmp, "wb") as out:
        subprocess.run(["mariadb-dump", f"--socket={socket_of(work, stack)}", "-uroot",
                        "--single-transaction", "--add-drop-database", "--databases", "moodle"],
                       stdout=out, check=True)
    os.replace(tmp, path)


def create_snapshot(work, form):
    db = form.get("DBInstanceIdentifier", "")
    snap = form.get("DBSnapshotIdentifier", "")
    if not db.endswith("-db") or not snap:
        return
    stack = db[: -len("-db")]
    if not os.path.isdir(os.path.join(work, stack, "mysql")):
        return
    d = os.path.join(work, stack, "snapshots")
    os.makedirs(d, exist_ok=True)
    path = os.path.join(d, f"{snap}.sql")
    if os.path.exists(path):
        log(f"{snap}: dumped before, kept")
        return
    dump(work, stack, path)
    log(f"CreateDBSnapshot {snap}: {stack}'s database dumped ({os.path.getsize(path)} bytes)")


def restore(work, form):
    snap = form.get("DBSnapshotIdentifier", "")
    found = glob.glob(os.path.join(work, "*", "snapshots", f"{glob.escape(snap)}.sql"))
    if not snap or not found:
        return
    path = found[0]
    stack = os.path.basename(os.path.dirname(os.path.dirname(path)))
    aside = os.path.join(os.path.dirname(path), f"{snap}.replaced.sql")
    if not os.path.exists(aside):
        dump(work, stack, aside)
    with open(path, "rb") as f:
        subprocess.run(["mariadb", f"--socket={socket_of(work, stack)}", "-uroot"], stdin=f, check=True)
    log(f"RestoreDBInstanceFromDBSnapshot {snap}: {stack}'s database loaded from the dump")


class Proxy(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def body(self):
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            parts = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip(), 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return b"".join(parts)
                parts.append(self.rfile.read(size))
                self.rfile.readline()
        n = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(n) if n else b""

    def handle_one(self):
        data = self.body()
        if self.command == "POST" and "x-www-form-urlencoded" in self.headers.get("Content-Type", ""):
            form = dict(urllib.parse.parse_qsl(data.decode("utf-8", "replace")))
            action = form.get("Action")
            try:
                with LOCK:
                    if action == "CreateDBSnapshot":
                        create_snapshot(self.server.work, form)
                    elif action == "RestoreDBInstanceFromDBSnapshot":
                        restore(self.server.work, form)
            except (OSError, subprocess.CalledProcessError) as e:
                log(f"{action}: {e}")
                self.answer(500, [("Content-Type", "text/plain")], f"rdsproxy: {action}: {e}\n".encode())
                return
        up = urllib.parse.urlsplit(self.server.upstream)
        conn = http.client.HTTPConnection(up.hostname, up.port, timeout=600)
        headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP}
        headers["Content-Length"] = str(len(data))
        conn.request(self.command, self.path, body=data, headers=headers)
        r = conn.getresponse()
        payload = r.read()
        # A HEAD's answer keeps the emulator's Content-Length (the object's size, no body).
        drop = HOP if self.command == "HEAD" else HOP | {"content-length"}
        self.answer(r.status, [(k, v) for k, v in r.getheaders() if k.lower() not in drop], payload)
        conn.close()

    def answer(self, status, headers, payload):
        self.send_response_only(status)
        for k, v in headers:
            self.send_header(k, v)
        if self.command != "HEAD":
            self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(payload)

    do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = do_PATCH = handle_one

    def log_message(self, *args):
        pass


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--listen", required=True)
    p.add_argument("--upstream", required=True)
    p.add_argument("--work", required=True)
    a = p.parse_args()
    host, port = a.listen.rsplit(":", 1)
    server = ThreadingHTTPServer((host, int(port)), Proxy)
    server.upstream, server.work = a.upstream, a.work
    log(f"listening on {a.listen}, forwarding to {a.upstream}")
    server.serve_forever()


if __name__ == "__main__":
    main()
