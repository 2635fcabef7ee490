"""A webhook receiver for the notification tests: a real HTTP server on loopback that
checks every Standard Webhooks signature with the `standardwebhooks` package (an
implementation independent of the issuer's) and appends one JSON line per request it gets
to a log the test reads.

    python3 webhook_receiver.py --port P --secret-file F --log L [--hold-first S] [--fail N]

- POST /hook/<channel>: a generic webhook; verified with the secret (204 when valid, 400
  otherwise).
- POST /slack/<channel>: a Slack incoming webhook; the body is recorded (200 "ok").
- anything else: 404 (a channel pointing nowhere).
- --hold-first S: the first request is held S seconds before it is answered (the issuer
  can be killed while it waits). Each arrival is also appended to `<log>.arrivals` at once.
- --fail N: the first N requests are answered 503 (a receiver having a bad time).

Each line: {"path", "webhook_id", "timestamp", "verified", "error", "body", "answered"}.
"""

import argparse
import json
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from standardwebhooks.webhooks import Webhook, WebhookVerificationError


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--secret-file", required=True)
    parser.add_argument("--log", required=True)
    parser.add_argument("--hold-first", type=float, default=0.0)
    parser.add_argument("--fail", type=int, default=0)
    args = parser.parse_args()
    with open(args.secret_file, encoding="utf-8") as file:
        webhook = Webhook(file.read().strip())
    lock = threading.Lock()
    state = {"seen": 0}

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self):
            length = int(self.headers.get("content-length", "0"))
            body = self.rfile.read(length)
            with lock:
                state["seen"] += 1
                number = state["seen"]
                with open(args.log + ".arrivals", "a", encoding="utf-8") as arrivals:
                    arrivals.write(self.path + "\n")
            if number == 1 and args.hold_first > 0:
                time.sleep(args.hold_first)
            record = {
                "path": self.path,
                "webhook_id": self.headers.get("webhook-id"),
                "timestamp": self.headers.get("webhook-timestamp"),
                "verified": False,
                "error": None,
                "body": body.decode("utf-8", "replace"),
            }
            if number <= args.fail:
                status, answer = 503, b"busy"
            elif self.path.startswith("/hook/"):
                try:
                    webhook.verify(body, dict(self.headers.items()))
                    record["verified"] = True
                    status, answer = 204, b""
                except WebhookVerificationError as error:
                    record["error"] = str(error)
                    status, answer = 400, b"bad signature"
            elif self.path.startswith("/slack/"):
                status, answer = 200, b"ok"
            else:
                status, answer = 404, b"no such hook"
            record["answered"] = status
            with lock:
                with open(args.log, "a", encoding="utf-8") as log:
                    log.write(json.dumps(record) + "\n")
            self.send_response(status)
            self.send_header("content-length", str(len(answer)))
            self.end_headers()
            self.wfile.write(answer)

        def log_message(self, *_):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", args.port), Handler)
    print("listening", flush=True)
    sys.stdout.flush()
    server.serve_forever()


if __name__ == "__main__":
    main()
