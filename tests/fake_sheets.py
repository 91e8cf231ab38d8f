"""A local HTTP server standing in for Google: the OAuth token endpoint of a service account and
the Sheets v4 calls gspread makes to read a tab and to replace one (spreadsheet metadata, values
get / update / clear, batchUpdate addSheet and updateSheetProperties).

Tokens: any signed JWT assertion gets a fresh access token (the signature is not checked);
an API call with a token this server did not issue gets a 401, as an expired one does at
Google. A spreadsheet answers only the service accounts it is shared with (403), and an unknown
id is a 404. `fail()` injects errors; `requests` records every request (method, path, query).
"""

from __future__ import annotations

import base64
import itertools
import json
import re
import threading
from dataclasses import dataclass, field
from functools import cache
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

READER = "sheets-reader@calback-test.iam.gserviceaccount.com"


@cache
def _private_key_pem() -> str:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()


class ApiError(Exception):
    def __init__(self, code: int, message: str, status: str):
        super().__init__(message)
        self.code, self.body = code, {"error": {"code": code, "message": message, "status": status}}


@dataclass
class Tab:
    sheet_id: int
    rows: list[list] = field(default_factory=list)
    row_count: int = 1000
    column_count: int = 26


@dataclass
class Fault:
    status: int
    times: int
    method: str | None
    path: str | None
    body: object


class FakeSheets:
    def __init__(self) -> None:
        self.spreadsheets: dict[str, dict] = {}  # id -> {"shared_with": set, "tabs": {title: Tab}}
        self.tokens: dict[str, str] = {}  # access token -> service account
        self.faults: list[Fault] = []
        self.requests: list[tuple[str, str, str]] = []
        self.lock = threading.Lock()
        self._ids = itertools.count(1)
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def _handle(self) -> None:
                url = urlsplit(self.path)
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0)).decode()
                with fake.lock:
                    fake.requests.append((self.command, unquote(url.path), url.query))
                    status, payload = fake.answer(
                        self.command, unquote(url.path), parse_qs(url.query), body, self.headers
                    )
                text = payload if isinstance(payload, str) else json.dumps(payload)
                self.send_response(status)
                kind = "text/html" if isinstance(payload, str) else "application/json"
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(text.encode())))
                self.end_headers()
                self.wfile.write(text.encode())

            do_GET = do_POST = do_PUT = _handle

            def log_message(self, *args) -> None:  # keep test output quiet
                return

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    # --- set-up and faults ------------------------------------------------------------------
    def key_file(self, path: Path, account: str = READER) -> Path:
        """A service-account key file (as GCP issues them) whose token_uri is this server."""
        info = {
            "type": "service_account",
            "project_id": "calback-test",
            "private_key_id": "fake-key-1",
            "private_key": _private_key_pem(),
            "client_email": account,
            "client_id": "1",
            "token_uri": f"{self.url}/token",
        }
        path.write_text(json.dumps(info))
        return path

    def add_spreadsheet(self, sheet_id: str, tabs: dict[str, list[list]], shared_with=(READER,)):
        self.spreadsheets[sheet_id] = {
            "shared_with": set(shared_with),
            "tabs": {
                title: Tab(next(self._ids), [list(r) for r in rows]) for title, rows in tabs.items()
            },
        }

    def tab(self, sheet_id: str, title: str) -> Tab:
        return self.spreadsheets[sheet_id]["tabs"][title]

    def fail(self, status: int, times: int = 1, method=None, path=None, body=None) -> None:
        """The next `times` requests (of `method`, whose path contains `path`) get `status`,
        with Google's JSON error unless `body` is given (a str is sent as an HTML page)."""
        self.faults.append(Fault(status, times, method, path, body))

    def count(self, method: str, path: str) -> int:
        return sum(1 for m, p, _ in self.requests if m == method and path in p)

    # --- answers ----------------------------------------------------------------------------
    def answer(self, method: str, path: str, query: dict, body: str, headers) -> tuple[int, object]:
        for fault in self.faults:
            if fault.times and fault.method in (None, method) and (fault.path or "") in path:
                fault.times -= 1
                injected = ApiError(fault.status, "injected fault", "UNAVAILABLE").body
                return fault.status, injected if fault.body is None else fault.body
        if path == "/token":
            return self.issue_token(parse_qs(body))
        try:
            account = self.tokens.get(headers.get("Authorization", "").removeprefix("Bearer "))
            if account is None:
                raise ApiError(
                    401, "Request had invalid authentication credentials.", "UNAUTHENTICATED"
                )
            return 200, self.sheets_api(method, path, query, json.loads(body or "null"), account)
        except ApiError as error:
            return error.code, error.body

    def issue_token(self, form: dict) -> tuple[int, dict]:
        if form.get("grant_type") != ["urn:ietf:params:oauth:grant-type:jwt-bearer"]:
            return 400, {"error": "unsupported_grant_type"}
        claims = form["assertion"][0].split(".")[1]
        account = json.loads(base64.urlsafe_b64decode(claims + "=" * (-len(claims) % 4)))["iss"]
        token = f"fake-token-{next(self._ids)}"
        self.tokens[token] = account
        return 200, {"access_token": token, "expires_in": 3600, "token_type": "Bearer"}

    def sheets_api(self, method: str, path: str, query: dict, body, account: str) -> dict:
        match = re.fullmatch(
            r"/v4/spreadsheets/([^/:]+)(:batchUpdate|/values/(.+?)(:clear)?)?", path
        )
        if not match:
            raise ApiError(404, f"no such method {path}", "NOT_FOUND")
        sheet_id, verb, a1, clear = match.groups()
        spreadsheet = self.spreadsheets.get(sheet_id)
        if spreadsheet is None:
            raise ApiError(404, "Requested entity was not found.", "NOT_FOUND")
        if account not in spreadsheet["shared_with"]:
            raise ApiError(403, "The caller does not have permission", "PERMISSION_DENIED")
        tabs = spreadsheet["tabs"]
        if verb is None:
            return {
                "spreadsheetId": sheet_id,
                "properties": {"title": sheet_id},
                "sheets": [
                    {"properties": _properties(title, tab, index)}
                    for index, (title, tab) in enumerate(tabs.items())
                ],
            }
        if verb == ":batchUpdate":
            return {
                "spreadsheetId": sheet_id,
                "replies": [self.update_sheets(tabs, r) for r in body["requests"]],
            }
        title, start = re.fullmatch(r"'((?:[^']|'')*)'(?:!(\w+))?", a1).groups()
        tab = tabs.get(title.replace("''", "'"))
        if tab is None:
            raise ApiError(400, f"Unable to parse range: {a1}", "INVALID_ARGUMENT")
        if clear:
            tab.rows = []
            return {"spreadsheetId": sheet_id, "clearedRange": a1}
        if method == "GET":
            rows = [_trimmed(row) for row in tab.rows]
            while rows and not rows[-1]:  # the API leaves out trailing blank rows and cells
                rows.pop()
            return {"range": a1, "majorDimension": "ROWS", **({"values": rows} if rows else {})}
        values = body["values"]
        if start != "A1" or query.get("valueInputOption") != ["RAW"]:
            raise ApiError(400, "the fake writes RAW values from A1 only", "INVALID_ARGUMENT")
        width = max((len(row) for row in values), default=0)
        if len(values) > tab.row_count or width > tab.column_count:
            raise ApiError(400, f"Range ({a1}) exceeds grid limits.", "INVALID_ARGUMENT")
        for r, row in enumerate(values):
            tab.rows += [[] for _ in range(r + 1 - len(tab.rows))]
            tab.rows[r] += [""] * (len(row) - len(tab.rows[r]))
            for c, value in enumerate(row):
                if value is not None:  # null leaves the cell as it was
                    tab.rows[r][c] = value
        return {
            "spreadsheetId": sheet_id,
            "updatedRows": len(values),
            "updatedCells": sum(map(len, values)),
        }

    def update_sheets(self, tabs: dict[str, Tab], request: dict) -> dict:
        if "addSheet" in request:
            properties = request["addSheet"]["properties"]
            if properties["title"] in tabs:
                raise ApiError(
                    400, f"A sheet named {properties['title']!r} exists", "INVALID_ARGUMENT"
                )
            grid = properties.get("gridProperties", {})
            tab = Tab(next(self._ids), [], grid.get("rowCount", 1000), grid.get("columnCount", 26))
            tabs[properties["title"]] = tab
            return {
                "addSheet": {"properties": _properties(properties["title"], tab, len(tabs) - 1)}
            }
        if "updateSheetProperties" in request:
            properties = request["updateSheetProperties"]["properties"]
            tab = next(t for t in tabs.values() if t.sheet_id == properties["sheetId"])
            grid = properties.get("gridProperties", {})
            tab.row_count = grid.get("rowCount", tab.row_count)
            tab.column_count = grid.get("columnCount", tab.column_count)
            return {}
        raise ApiError(400, f"the fake does not know {sorted(request)}", "INVALID_ARGUMENT")


def _properties(title: str, tab: Tab, index: int) -> dict:
    grid = {"rowCount": tab.row_count, "columnCount": tab.column_count}
    return {
        "sheetId": tab.sheet_id,
        "title": title,
        "index": index,
        "sheetType": "GRID",
        "gridProperties": grid,
    }


def _trimmed(row: list) -> list:
    row = list(row)
    while row and row[-1] in ("", None):
        row.pop()
    return row
