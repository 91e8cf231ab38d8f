"""A local HTTP server standing in for Slack: incoming webhooks and the Web API."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs


class FakeSlack:
    """Records every message; `down = True` makes it answer 500 like an outage."""

    def __init__(self) -> None:
        self.messages: list[dict] = []
        self.refused = 0
        self.down = False
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0))).decode()
                if fake.down:
                    fake.refused += 1
                    self._reply(500, "slack is down")
                    return
                is_json = self.headers.get("Content-Type", "").startswith("application/json")
                payload = (
                    json.loads(body) if is_json else {k: v[0] for k, v in parse_qs(body).items()}
                )
                fake.messages.append(
                    {
                        "path": self.path,
                        "authorization": self.headers.get("Authorization"),
                        **payload,
                    }
                )
                if self.path.startswith("/api/"):
                    self._reply(200, json.dumps({"ok": True, "ts": "1.0"}), "application/json")
                else:
                    self._reply(200, "ok")

            def _reply(self, status: int, text: str, kind: str = "text/plain") -> None:
                self.send_response(status)
                self.send_header("Content-Type", kind)
                self.end_headers()
                self.wfile.write(text.encode())

            def log_message(self, *args) -> None:  # keep test output quiet
                return

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.webhook_url = f"{self.url}/services/T0000/B0000/fake-webhook-key"
        self.api_base_url = f"{self.url}/api/"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def texts(self) -> list[str]:
        return [message["text"] for message in self.messages]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
