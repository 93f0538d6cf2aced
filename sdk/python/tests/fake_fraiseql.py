"""A stand-in for the `fraiseql` binary, to test FraiseQLTestClient without the engine.

`fake_fraiseql.py run <config> --port P --bind H` serves GET /health/live and echoes each
POST /graphql (body, headers, cwd, argv) back as `{"data": {"echo": …}}`. FAKE_MODE changes
its behaviour: `crash` exits at once with a message on stderr, `hang` never listens,
`stubborn` ignores SIGTERM.
"""

import argparse
import json
import os
import signal
import sys
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class Handler(BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def do_GET(self):
        self.reply(200 if self.path == "/health/live" else 404, {"status": "ok"})

    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        echo = {
            "path": self.path,
            "body": body,
            "headers": {k.lower(): v for k, v in self.headers.items()},
            "cwd": os.getcwd(),
            "argv": sys.argv[1:],
        }
        self.reply(400 if body["query"] == "bad" else 200, {"data": {"echo": echo}})

    def reply(self, status, payload):
        raw = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(raw)))
        self.end_headers()
        self.wfile.write(raw)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("command")
    parser.add_argument("config")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--bind", required=True)
    args = parser.parse_args()
    mode = os.environ.get("FAKE_MODE", "ok")
    print(f"fake fraiseql starting with {args.config}", flush=True)
    if mode == "crash":
        print("error: cannot open database: no such file", file=sys.stderr, flush=True)
        sys.exit(3)
    if mode == "hang":
        print("still loading the schema…", file=sys.stderr, flush=True)
        while True:
            time.sleep(1)
    if mode == "stubborn":
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
    else:
        signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    ThreadingHTTPServer((args.bind, args.port), Handler).serve_forever()


if __name__ == "__main__":
    main()
