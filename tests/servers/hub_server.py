#!/usr/bin/env python3
"""A local stand-in for the Hugging Face hub's file endpoint, for tests.

Serves ROOT/<owner>/<name>/<file> at /<owner>/<name>/resolve/<rev>/<file>. Files larger than
--lfs-min bytes behave like LFS files: a 302 to /cdn/<sha256> with X-Linked-Etag and
X-Linked-Size; /cdn/ honours Range requests. Faults:
  --drop-after N   the first GET of each LFS file sends only N bytes, then drops the connection
  --corrupt FILE   serves FILE's bytes with one byte flipped (the X-Linked-Etag stays right)
  --html FILE      answers requests for FILE with 200 and an HTML page (a captive portal or a
                   proxy's error page), without X-Linked-Etag
Writes one line per request to --log: METHOD PATH RANGE. Prints the port on stdout.
"""
import argparse, hashlib, http.server, os, socketserver, sys, threading

ap = argparse.ArgumentParser()
ap.add_argument("root")
ap.add_argument("--log", required=True)
ap.add_argument("--lfs-min", type=int, default=100000)
ap.add_argument("--drop-after", type=int, default=0)
ap.add_argument("--corrupt", default="")
ap.add_argument("--html", default="")
args = ap.parse_args()

lock = threading.Lock()
dropped = set()
by_sha = {}
for dirpath, _, files in os.walk(args.root):
    for f in files:
        p = os.path.join(dirpath, f)
        by_sha[hashlib.sha256(open(p, "rb").read()).hexdigest()] = p


def log(line):
    with lock:
        with open(args.log, "a") as fp:
            fp.write(line + "\n")


class H(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *a):
        pass

    def body_of(self, path):
        data = open(path, "rb").read()
        if args.corrupt and os.path.basename(path) == args.corrupt:
            data = bytes([data[0] ^ 1]) + data[1:]
        return data

    def do_GET(self):
        rng = self.headers.get("Range", "")
        log(f"GET {self.path} {rng}")
        parts = self.path.split("/")
        if len(parts) == 3 and parts[1] == "cdn" and parts[2] in by_sha:
            path = by_sha[parts[2]]
            data = self.body_of(path)
            start = 0
            if rng.startswith("bytes="):
                start = int(rng[6:].split("-")[0])
            if start >= len(data) and start > 0:
                self.send_response(416)
                self.send_header("Content-Range", f"bytes */{len(data)}")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            chunk = data[start:]
            self.send_response(206 if start else 200)
            if start:
                self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
            self.send_header("Content-Length", str(len(chunk)))
            self.end_headers()
            key = parts[2]
            if args.drop_after and key not in dropped and start == 0:
                with lock:
                    dropped.add(key)
                self.wfile.write(chunk[: args.drop_after])
                self.wfile.flush()
                self.close_connection = True
                return
            self.wfile.write(chunk)
            return
        # /<owner>/<name>/resolve/<rev>/<file>
        if len(parts) >= 6 and parts[3] == "resolve":
            if args.html and parts[-1] == args.html:
                page = (b"<!DOCTYPE html>\n<html><head><title>Sign in to the network</title></head>"
                        b"<body>Please accept the terms of use.</body></html>\n")
                self.send_response(200)
                self.send_header("Content-Type", "text/html")
                self.send_header("Content-Length", str(len(page)))
                self.end_headers()
                self.wfile.write(page)
                return
            path = os.path.join(args.root, parts[1], parts[2], *parts[5:])
            if os.path.isfile(path):
                data = open(path, "rb").read()
                if len(data) >= args.lfs_min:
                    sha = hashlib.sha256(data).hexdigest()
                    self.send_response(302)
                    self.send_header("Location", f"/cdn/{sha}")
                    self.send_header("X-Linked-Etag", f'"{sha}"')
                    self.send_header("X-Linked-Size", str(len(data)))
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                data = self.body_of(path)
                self.send_response(200)
                self.send_header("ETag", '"0123456789abcdef0123456789abcdef01234567"')
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)
                return
        msg = b"Entry not found"
        self.send_response(404)
        self.send_header("Content-Length", str(len(msg)))
        self.end_headers()
        self.wfile.write(msg)


class S(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True


srv = S(("127.0.0.1", 0), H)
print(srv.server_address[1], flush=True)
srv.serve_forever()
