#!/usr/bin/env python3
"""A loopback proxy for scripts/bench: holds every request DELAY_MS before passing it to
the ECR API at UPSTREAM, as a distant AWS region would, and counts GetAuthorizationToken
calls by the region in their signature. GET /__calls answers the count since the last
GET /__reset.

    delay_proxy.py PORT UPSTREAM_URL DELAY_MS
"""

import http.client
import http.server
import re
import sys
import threading
import time
import urllib.parse

port, upstream, delay_ms = int(sys.argv[1]), urllib.parse.urlsplit(sys.argv[2]), int(sys.argv[3])
lock = threading.Lock()
calls = {}


class Proxy(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as the SDK expects

    def log_message(self, *args):
        pass

    def reply(self, status, body, headers=()):
        self.send_response(status)
        for name, value in headers:
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        with lock:
            if self.path == "/__reset":
                calls.clear()
            body = " ".join(f"{r}={n}" for r, n in sorted(calls.items())).encode()
        self.reply(200, body)

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        if self.headers.get("X-Amz-Target", "").endswith(".GetAuthorizationToken"):
            scope = re.search(r"Credential=[^/]+/\d+/([^/]+)/", self.headers.get("Authorization", ""))
            with lock:
                region = scope.group(1) if scope else "?"
                calls[region] = calls.get(region, 0) + 1
        time.sleep(delay_ms / 1000)
        conn = http.client.HTTPConnection(upstream.hostname, upstream.port, timeout=30)
        headers = {k: v for k, v in self.headers.items() if k.lower() not in ("host", "connection")}
        conn.request("POST", self.path, body, headers)
        answer = conn.getresponse()
        data = answer.read()
        skip = ("content-length", "connection", "transfer-encoding", "server", "date")
        self.reply(answer.status, data, [(k, v) for k, v in answer.getheaders() if k.lower() not in skip])
        conn.close()


server = http.server.ThreadingHTTPServer(("127.0.0.1", port), Proxy)
server.daemon_threads = True
server.serve_forever()
