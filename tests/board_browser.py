"""The board as a reader sees it: its pages opened in headless Chromium (the system's, driven by
Playwright), once the in-browser engine has loaded the data and drawn every chart."""

from __future__ import annotations

import shutil
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import partial
from http.server import ThreadingHTTPServer
from pathlib import Path

from calback_platform.board.serve import BoardHandler

# Evidence draws every chart with ECharts, which marks its element once it has drawn.
CHARTS = "[_echarts_instance_]"
CHART_CONTAINERS = ".chart-container"
# What Evidence prints in place of a component whose query failed or returned nothing.
ERROR_TEXTS = ("Error in", "Error!", "Dataset is empty", "No Results")


@dataclass
class PageView:
    url: str
    text: str
    charts: int
    chart_containers: int
    # Console errors, uncaught exceptions, and requests that left the machine.
    errors: list[str] = field(default_factory=list)
    external_requests: list[str] = field(default_factory=list)
    headlines: dict[str, str] = field(default_factory=dict)
    definitions: int = 0


@contextmanager
def serving(site: Path) -> Iterator[str]:
    """The board's own server (`calback board`) on a free loopback port; its base URL."""
    handler = partial(BoardHandler, site=site, webserver_url="http://127.0.0.1:3000")
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def chromium_path() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        if path := shutil.which(name):
            return path
    raise FileNotFoundError("no Chromium: tests/servers/prepare-chromium.sh installs it")


def open_pages(urls: list[str], screenshots: Path | None = None) -> list[PageView]:
    from playwright.sync_api import sync_playwright

    views = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=chromium_path(), args=["--no-sandbox", "--disable-gpu"]
        )
        try:
            for url in urls:
                views.append(_view(browser, url, screenshots))
        finally:
            browser.close()
    return views


def _view(browser, url: str, screenshots: Path | None) -> PageView:
    page = browser.new_page(viewport={"width": 1400, "height": 1600})
    errors: list[str] = []
    external: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.on(
        "request",
        lambda r: (
            None
            if r.url.startswith(("http://127.0.0.1", "data:", "blob:"))
            else external.append(r.url)
        ),
    )
    page.goto(url, wait_until="networkidle")
    # Every chart container holds a drawn chart once the in-browser engine has the data.
    page.wait_for_function(
        f"document.querySelectorAll('{CHART_CONTAINERS}').length === 0 || "
        f"document.querySelectorAll('{CHART_CONTAINERS} {CHARTS}').length >= "
        f"document.querySelectorAll('{CHART_CONTAINERS}').length",
        timeout=60_000,
    )
    page.wait_for_load_state("networkidle")
    headlines = {
        element.get_attribute("data-metric"): element.inner_text()
        for element in page.query_selector_all(".headline[data-metric]")
    }
    view = PageView(
        url=url,
        text=page.inner_text("main") if page.query_selector("main") else page.inner_text("body"),
        charts=len(page.query_selector_all(f"{CHART_CONTAINERS} {CHARTS}")),
        chart_containers=len(page.query_selector_all(CHART_CONTAINERS)),
        errors=errors,
        external_requests=external,
        headlines=headlines,
        definitions=len(page.query_selector_all(".definition")),
    )
    if screenshots:
        name = url.rstrip("/").rsplit("/", 1)[-1] if url.count("/") > 3 else "index"
        page.screenshot(path=str(screenshots / f"{name}.png"), full_page=True)
    page.close()
    return view
