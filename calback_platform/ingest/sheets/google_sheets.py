"""Google spreadsheets through gspread: read a tab, replace a tab with a DataFrame.

Credentials are Application Default Credentials (`google.auth.default`): the service account of
the GCP machine, or the key file GOOGLE_APPLICATION_CREDENTIALS names. google-auth already
refreshes the token and replays a request once on a 401. gspread retries nothing else (its
BackOffHTTPClient retries without a bound), so each operation here is retried a bounded number
of times on what is transient: 429, 5xx, an error page that is not Google's JSON (code -1),
a connection failure or a timeout. Every other failure becomes one message naming the sheet and
what to do about it, without tokens or keys.
"""

from __future__ import annotations

import math
import random
import time
from collections.abc import Callable
from datetime import date
from decimal import Decimal
from typing import TypeVar

import dagster as dg
import google.auth
import gspread
import numpy as np
import pandas as pd
import requests
from google.auth.exceptions import DefaultCredentialsError, RefreshError, TransportError
from gspread.utils import DateTimeOption, ValueRenderOption

from calback_platform.ingest.sheets.source import AdSpendSheet

SCOPES = ["https://www.googleapis.com/auth/spreadsheets"]
SHEETS_API = "https://sheets.googleapis.com"
T = TypeVar("T")


class _ToBaseUrl(requests.adapters.HTTPAdapter):
    """Sends what gspread addresses to the Sheets API to another host (a test server), with
    its path and query."""

    def __init__(self, base_url: str) -> None:
        super().__init__()
        self.base_url = base_url.rstrip("/")

    def send(self, request, **kwargs):
        request.url = self.base_url + request.url.removeprefix(SHEETS_API)
        # Proxies from the environment were chosen for Google's host, not this one.
        return super().send(request, **{**kwargs, "proxies": {}})


def is_transient(error: Exception) -> bool:
    if isinstance(error, gspread.exceptions.APIError):
        return error.code in (-1, 429) or error.code >= 500
    return isinstance(error, requests.ConnectionError | requests.Timeout | TransportError)


def sheet_value(value: object) -> object:
    """A value as the Sheets API takes it in JSON: blank for a missing or non-finite number,
    ISO text for dates and times, a float for a Decimal."""
    if isinstance(value, np.generic):
        value = value.item()
    if value is None or value is pd.NaT or value is pd.NA:
        return ""
    if isinstance(value, float) and not math.isfinite(value):
        return ""
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, date):  # datetime and pd.Timestamp too
        return value.isoformat()
    return value


def sheet_values(frame: pd.DataFrame) -> list[list]:
    """The header and rows of `frame` as the cells of a tab."""
    rows = frame.astype(object).itertuples(index=False, name=None)
    return [[str(column) for column in frame.columns]] + [
        [sheet_value(value) for value in row] for row in rows
    ]


class GoogleSheet(dg.ConfigurableResource):
    """One Google spreadsheet, shared with the service account (Viewer to read, Editor to
    write)."""

    sheet_id: str  # the part of the sheet's URL between /d/ and /edit
    # Another host for the Sheets API (SHEETS_API_BASE_URL: a test server).
    api_base_url: str | None = None
    max_attempts: int = 4  # per operation, on transient errors
    initial_backoff_seconds: float = 1.0
    max_backoff_seconds: float = 16.0
    timeout_seconds: float = 60.0

    def read_tab(self, tab: str) -> list[list]:
        """Every row of `tab`: numbers as numbers, dates as the text the sheet shows."""

        def read(spreadsheet: gspread.Spreadsheet) -> list[list]:
            values = spreadsheet.worksheet(tab).get_values(
                value_render_option=ValueRenderOption.unformatted,
                date_time_render_option=DateTimeOption.formatted_string,
            )
            return [list(row) for row in values]

        return self._run(f"Reading tab {tab!r} of Google sheet {self.sheet_id}", read)

    def replace_tab(self, tab: str, frame: pd.DataFrame) -> int:
        """Make `tab` hold `frame` (its header, then its rows) and nothing else, creating the
        tab if there is none; returns the number of rows written. Values are written RAW:
        text stays text ("0012", "=1+1")."""
        values = sheet_values(frame)
        rows, columns = len(values), max(1, len(frame.columns))

        def write(spreadsheet: gspread.Spreadsheet) -> None:
            try:
                worksheet = spreadsheet.worksheet(tab)
            except gspread.exceptions.WorksheetNotFound:
                worksheet = spreadsheet.add_worksheet(tab, rows=rows, cols=columns)
            if worksheet.row_count < rows or worksheet.col_count < columns:
                # Writing past a tab's grid is refused: grow it first.
                worksheet.resize(max(rows, worksheet.row_count), max(columns, worksheet.col_count))
            worksheet.clear()
            worksheet.update(values, "A1", raw=True)

        self._run(f"Writing tab {tab!r} of Google sheet {self.sheet_id}", write)
        return len(frame)

    def _run(self, what: str, operation: Callable[[gspread.Spreadsheet], T]) -> T:
        """`operation` on the opened spreadsheet, retried while it fails transiently."""
        try:
            credentials, _ = google.auth.default(scopes=SCOPES)
        except DefaultCredentialsError as error:
            raise dg.Failure(
                f"{what}: no Google credentials. Set GOOGLE_APPLICATION_CREDENTIALS to a "
                "service-account key file, or run with a service account on GCP."
            ) from error
        account = getattr(credentials, "service_account_email", None) or "the service account"
        client = gspread.authorize(credentials)
        client.set_timeout(self.timeout_seconds)
        if self.api_base_url:
            client.http_client.session.mount(SHEETS_API, _ToBaseUrl(self.api_base_url))
        try:
            return self._with_retries(what, lambda: operation(client.open_by_key(self.sheet_id)))
        except (gspread.exceptions.GSpreadException, PermissionError, RefreshError) as error:
            raise dg.Failure(f"{what}: {self._advice(error, account)}") from error

    def _with_retries(self, what: str, call: Callable[[], T]) -> T:
        log = dg.get_dagster_logger()
        for attempt in range(1, self.max_attempts + 1):
            try:
                return call()
            except Exception as error:
                if not is_transient(error):
                    raise
                reason = f"{type(error).__name__}: {_message(error)}"
                if attempt == self.max_attempts:
                    raise dg.Failure(
                        f"{what} failed {attempt} times in a row, last with {reason}. Google "
                        "Sheets is unreachable or over quota; re-run when it recovers."
                    ) from error
                backoff = min(
                    self.max_backoff_seconds, self.initial_backoff_seconds * 2 ** (attempt - 1)
                )
                # Half of the back-off is jitter, so parallel runs do not retry in step.
                delay = random.uniform(backoff / 2, backoff)
                log.warning(
                    f"{what}: attempt {attempt}/{self.max_attempts} failed ({reason}); "
                    f"retrying in {delay:.1f}s"
                )
                time.sleep(delay)
        raise AssertionError("unreachable")

    def _advice(self, error: Exception, account: str) -> str:
        share = f"share the sheet with {account} (Viewer to read, Editor to write)"
        if isinstance(error, gspread.exceptions.SpreadsheetNotFound):
            return (
                f"there is no spreadsheet {self.sheet_id}, or {account} cannot see it: check "
                f"the id (the part of the sheet's URL between /d/ and /edit) and {share}."
            )
        if isinstance(error, PermissionError) or getattr(error, "code", None) == 403:
            # gspread raises a bare PermissionError from the API's 403, which says why.
            return (
                f"{account} may not use spreadsheet {self.sheet_id} "
                f"({_message(error.__cause__ or error)}): {share}, and check that the Google "
                "Sheets API is enabled in its project."
            )
        if isinstance(error, gspread.exceptions.WorksheetNotFound):
            return "the spreadsheet has no tab of that name: rename the tab, or read another."
        if isinstance(error, RefreshError) or getattr(error, "code", None) == 401:
            return (
                f"Google refused the credentials of {account} ({_message(error)}): check the "
                "service-account key GOOGLE_APPLICATION_CREDENTIALS names; it may have been "
                "deleted or disabled."
            )
        return f"Google Sheets refused the request ({_message(error)})."


def _message(error: Exception) -> str:
    """An error's own message: an API error's text, a token refusal's first part (never the
    response that comes with it)."""
    if isinstance(error, gspread.exceptions.APIError):
        return f"[{error.code}] {error.error.get('message', '')}"[:300]
    return str(error.args[0] if error.args else type(error).__name__)[:300]


class GoogleAdSpendSheet(GoogleSheet, AdSpendSheet):
    """The marketer's ad spend sheet (AD_SPEND_SHEET_ID), its tab `tab`."""

    tab: str = "ad_spend"

    def describe(self) -> str:
        return f"tab {self.tab!r} of Google sheet {self.sheet_id}"

    def read_rows(self) -> list[list]:
        return self.read_tab(self.tab)
