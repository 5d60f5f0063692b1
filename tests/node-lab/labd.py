#!/usr/bin/env python3
"""Stand-ins the lab's nodes reach on the host's loopback (tests/node-lab/run starts and stops them).

  labd.py imds --listen HOST:PORT --node DIR
      An instance metadata service (IMDSv2) for one node. DIR/identity.json holds what it
      answers: instance-id, region, the Auto Scaling group's name (instance tags in the
      metadata), the role name. A Spot interruption is announced by creating DIR/spot-notice
      (its text is the notice's action, e.g. "terminate"); until then spot/instance-action is
      404, as on EC2. Every request needs a session token from PUT /latest/api/token, as with
      IMDSv2 required (http_tokens=required in the launch template). Role credentials are
      fixed test keys: the emulator accepts any.
  labd.py https --listen HOST:PORT --cert PEM --key PEM --serve URLPATH=FILE ...
      A static HTTPS server (the RDS CA bundle's download, which nodes fetch at boot).

Only the standard library. Logs one line per request to stderr (no secrets are served).
"""

import argparse
import http.server
import json
import os
import secrets
import socketserver
import ssl
import sys
import time


class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
    allow_reuse_address = True


def imds_handler(node_dir):
    tokens = {}

    def identity():
        with open(os.path.join(node_dir, "identity.json"), encoding="utf-8") as f:
            return json.load(f)

    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, fmt, *args):
            sys.stderr.write("imds %s: %s\n" % (os.path.basename(node_dir), fmt % args))

        def reply(self, code, body=b"", ctype="text/plain"):
            self.send_response(code)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_PUT(self):
            if self.path != "/latest/api/token":
                return self.reply(404)
            ttl = self.headers.get("X-aws-ec2-metadata-token-ttl-seconds", "")
            if not ttl.isdigit() or not 1 <= int(ttl) <= 21600:
                return self.reply(400)
            token = secrets.token_urlsafe(32)
            tokens[token] = time.time() + int(ttl)
            self.reply(200, token.encode())

        def do_GET(self):
            token = self.headers.get("X-aws-ec2-metadata-token", "")
            if tokens.get(token, 0) < time.time():
                return self.reply(401)
            ident = identity()
            role = ident.get("role", "node-lab-role")
            now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
            later = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + 3600))
            values = {
                "instance-id": ident["instance_id"],
                "placement/region": ident["region"],
                "placement/availability-zone": ident["region"] + "a",
                "local-ipv4": "127.0.0.1",
                "tags/instance": "aws:autoscaling:groupName" if ident.get("group") else "Name",
                "tags/instance/aws:autoscaling:groupName": ident.get("group"),
                "tags/instance/Name": ident.get("name", "node-lab"),
                "iam/security-credentials/": role,
                "iam/security-credentials/" + role: json.dumps({
                    "Code": "Success", "LastUpdated": now, "Type": "AWS-HMAC",
                    "AccessKeyId": "AKIANODELAB000000000", "SecretAccessKey": "node-lab-test-key",
                    "Token": "node-lab-token", "Expiration": later,
                }),
            }
            notice = os.path.join(node_dir, "spot-notice")
            if os.path.exists(notice):
                with open(notice, encoding="utf-8") as f:
                    action = f.read().strip() or "terminate"
                values["spot/instance-action"] = json.dumps({"action": action, "time": later})
            prefix = "/latest/meta-data/"
            if self.path == "/latest/dynamic/instance-identity/document":
                doc = {"instanceId": ident["instance_id"], "region": ident["region"],
                       "availabilityZone": ident["region"] + "a", "accountId": "123456789012"}
                return self.reply(200, json.dumps(doc).encode(), "application/json")
            if not self.path.startswith(prefix):
                return self.reply(404)
            value = values.get(self.path[len(prefix):])
            if value is None:
                return self.reply(404)
            self.reply(200, value.encode())

    return Handler


def https_handler(files):
    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, fmt, *args):
            sys.stderr.write("https: %s\n" % (fmt % args))

        def do_GET(self):
            path = files.get(self.path)
            if path is None:
                body, code = b"not found\n", 404
            else:
                with open(path, "rb") as f:
                    body, code = f.read(), 200
            self.send_response(code)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    return Handler


def listen(value):
    host, _, port = value.rpartition(":")
    return host, int(port)


def main():
    p = argparse.ArgumentParser()
    sub = p.add_subparsers(dest="cmd", required=True)
    i = sub.add_parser("imds")
    i.add_argument("--listen", required=True, type=listen)
    i.add_argument("--node", required=True)
    h = sub.add_parser("https")
    h.add_argument("--listen", required=True, type=listen)
    h.add_argument("--cert", required=True)
    h.add_argument("--key", required=True)
    h.add_argument("--serve", action="append", default=[])
    a = p.parse_args()
    if a.cmd == "imds":
        srv = Server(a.listen, imds_handler(a.node))
    else:
        files = dict(s.split("=", 1) for s in a.serve)
        srv = Server(a.listen, https_handler(files))
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(a.cert, a.key)
        srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
    sys.stderr.write(f"labd {a.cmd} listening on {a.listen[0]}:{a.listen[1]}\n")
    srv.serve_forever()


if __name__ == "__main__":
    main()
