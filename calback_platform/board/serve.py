"""`calback board`: serve the published board (`<board_dir>/site`) on loopback.

Each request resolves the `site` link anew, so a new build shows on the next page load without
a restart. Before the first build, every page says how to build it.
"""

from __future__ import annotations

from functools import partial
from http import HTTPStatus
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

NOT_BUILT = (
    "<!doctype html><title>Calback board</title><h1>The board is not built yet</h1>"
    "<p>Materialize the <code>board/site</code> asset in Dagster ({webserver_url}), or run the "
    "<code>refresh_metrics</code> job; this page shows the board once it is built.</p>"
)


class BoardHandler(SimpleHTTPRequestHandler):
    def __init__(self, *args, site: Path, webserver_url: str, **kwargs):
        self.site = site
        self.webserver_url = webserver_url
        super().__init__(*args, directory=str(site), **kwargs)

    def send_head(self):
        if not self.site.exists():
            body = NOT_BUILT.format(webserver_url=self.webserver_url).encode()
            self.send_response(HTTPStatus.SERVICE_UNAVAILABLE)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            return None
        return super().send_head()

    def log_request(self, code="-", size="-") -> None:
        # Only failed requests: a line per asset file would drown the terminal `make dev` shares.
        if int(code) >= HTTPStatus.BAD_REQUEST:
            super().log_request(code, size)


def serve(site: Path, host: str, port: int, webserver_url: str) -> None:
    handler = partial(BoardHandler, site=site, webserver_url=webserver_url)
    with ThreadingHTTPServer((host, port), handler) as server:
        print(f"Serving the board from {site} at http://{host}:{port}/", flush=True)
        server.serve_forever()
