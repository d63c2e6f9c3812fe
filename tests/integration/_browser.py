"""Headless Chromium for the integration tests: finding it, launching it, and watching a page.

The browser is Debian's ``chromium`` (``scripts/system-deps.sh`` installs it), driven by the
``playwright`` package over its own protocol; nothing is ever downloaded (``playwright
install`` is never run: these machines have no internet). When Chromium or playwright is
missing the browser tests are skipped on a developer's machine but FAIL in CI (``CI`` set), so
a CI machine without a browser cannot pass by testing nothing.

``PageRecorder`` records everything a page does that a test asserts on: every request it
makes (to prove the docs pages stay on the test server), every response's headers (to see
the ``Content-Encoding`` the browser got), console messages, uncaught errors and
Content-Security-Policy violations (reported by the page's own ``securitypolicyviolation``
events as well as by the console).
"""

from __future__ import annotations

import os
import re
from collections.abc import Collection, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn
from urllib.parse import urlsplit

import pytest

if TYPE_CHECKING:
    from playwright.sync_api import Browser, ConsoleMessage, Error, Page, Request, Response

CHROMIUM = os.environ.get("AREION_TEST_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",  # tests run as root in containers, where the sandbox cannot start
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    # No request of the browser's own (updates, safe browsing, sync) may reach the network or
    # show up among the page's requests.
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
REPO = Path(__file__).resolve().parents[2]
ARTIFACTS = Path(os.environ.get("AREION_TEST_ARTIFACTS", REPO / "test-artifacts"))
# Timeouts are generous: the machines are small and shared, and a slow page is not a failure.
TIMEOUT_MS = 30_000

# Installed into every page before its own scripts run: CSP violations as the page sees them.
_CSP_LISTENER = """
window.__cspViolations = [];
document.addEventListener('securitypolicyviolation', (e) => {
  window.__cspViolations.push({directive: e.violatedDirective, blocked: e.blockedURI,
                               source: e.sourceFile, line: e.lineNumber, sample: e.sample});
});
"""


def _in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


def unavailable(reason: str) -> NoReturn:
    """Fail in CI, skip elsewhere: the browser tests must not pass silently on a CI machine."""
    if _in_ci():
        pytest.fail(f"{reason} (CI is set, so the browser tests fail instead of skipping; "
                    "run scripts/system-deps.sh, or apt-get install chromium, and pip install -r "
                    "requirements-dev.txt)", pytrace=False)
    pytest.skip(reason)


def launch_chromium() -> Iterator[Browser]:
    """Start playwright and Debian's Chromium; yields the browser and stops both afterwards."""
    if not os.path.exists(CHROMIUM):
        unavailable(f"Chromium is not installed at {CHROMIUM}")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        unavailable("the playwright package is not installed")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS,
                                             headless=True, timeout=TIMEOUT_MS)
        try:
            yield browser
        finally:
            browser.close()


def artifact(name: str) -> Path:
    """Path of a test artefact (screenshots), under ``test-artifacts/`` (gitignored)."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return ARTIFACTS / name


@dataclass
class Seen:
    """One request the page made and what came back."""

    method: str
    url: str
    resource_type: str
    # Held so that the id() keys of PageRecorder._by_request are never reused while recording.
    request: Request | None = None
    status: int | None = None
    response: Response | None = None
    failure: str | None = None

    def headers(self) -> dict[str, str]:
        """The response headers as received (``Content-Encoding`` included; lower-case names)."""
        # Asked lazily, not in the event handler: all_headers() is a round trip to the browser.
        return self.response.all_headers() if self.response is not None else {}

    def request_headers(self) -> dict[str, str]:
        """The request headers as sent (``Accept-Encoding`` included, which the network stack adds)."""
        return self.request.all_headers() if self.request is not None else {}


class PageRecorder:
    """A fresh browser context and page whose requests, console and CSP reports are recorded."""

    def __init__(self, browser: Browser, **context_options: Any) -> None:
        self.context = browser.new_context(viewport={"width": 1280, "height": 900}, **context_options)
        self.context.set_default_timeout(TIMEOUT_MS)
        self.context.add_init_script(_CSP_LISTENER)
        self.page: Page = self.context.new_page()
        self.requests: list[Seen] = []
        self._by_request: dict[int, Seen] = {}
        self.console: list[ConsoleMessage] = []
        self.page_errors: list[str] = []
        # Context-level events also see requests made by workers (ReDoc's search index).
        self.context.on("request", self._on_request)
        self.context.on("response", self._on_response)
        self.context.on("requestfailed", self._on_failed)
        self.page.on("console", self._on_console)
        self.page.on("pageerror", self._on_page_error)

    def _on_request(self, request: Request) -> None:
        seen = Seen(request.method, request.url, request.resource_type, request)
        self._by_request[id(request)] = seen
        self.requests.append(seen)

    def _on_response(self, response: Response) -> None:
        seen = self._by_request.get(id(response.request))
        if seen is not None:
            seen.status = response.status
            seen.response = response

    def _on_console(self, message: ConsoleMessage) -> None:
        self.console.append(message)

    def _on_page_error(self, error: Error) -> None:
        self.page_errors.append(f"{error.name}: {error.message}")

    def _on_failed(self, request: Request) -> None:
        seen = self._by_request.get(id(request))
        if seen is not None:
            seen.failure = request.failure or "failed"

    def goto(self, url: str) -> Response:
        response = self.page.goto(url, wait_until="load")
        assert response is not None, f"no response for {url}"
        return response

    def settle(self) -> None:
        """Wait until the network is quiet, so late requests (workers, lazy assets) are seen."""
        self.page.wait_for_load_state("networkidle")

    def screenshot(self, name: str, *, full_page: bool = True) -> Path:
        path = artifact(name)
        self.page.screenshot(path=str(path), full_page=full_page)
        assert path.stat().st_size > 1000, f"screenshot {path} is suspiciously small"
        return path

    def csp_violations(self) -> list[dict[str, Any]]:
        return list(self.page.evaluate("window.__cspViolations || []"))

    def errors(self, *, aborted_ok: Collection[str] = ()) -> list[str]:
        """Console errors (CSP violations included), uncaught exceptions and failed requests.

        ``aborted_ok``: URLs the page itself closes early (an EventSource it closes), whose
        ``net::ERR_ABORTED`` is expected.
        """
        found = [f"console.{m.type}: {m.text} ({m.location.get('url', '')}:{m.location.get('lineNumber', '')})"
                 for m in self.console if m.type in ("error", "assert")]
        found += [f"console.{m.type}: {m.text}" for m in self.console
                  if m.type == "warning" and re.search(r"Content.Security.Policy|Refused to", m.text, re.I)]
        found += [f"uncaught: {e}" for e in self.page_errors]
        found += [f"CSP violation: {v}" for v in self.csp_violations()]
        found += [f"request failed: {s.method} {s.url}: {s.failure}" for s in self.requests
                  if s.failure and not (s.url in aborted_ok and s.failure == "net::ERR_ABORTED")]
        found += [f"HTTP {s.status}: {s.method} {s.url}" for s in self.requests
                  if s.status is not None and s.status >= 400]
        return found

    def assert_clean(self, *, aborted_ok: Collection[str] = ()) -> None:
        errors = self.errors(aborted_ok=aborted_ok)
        assert not errors, "the page reported errors:\n  " + "\n  ".join(errors)

    def assert_only_host(self, base_url: str, *, path_prefix: str = "") -> None:
        """Every request the page made went to ``base_url``'s scheme, host and port (``data:``
        and ``blob:`` URLs are in-page and never leave the browser), under ``path_prefix``."""
        origin = urlsplit(base_url)
        assert self.requests, "the page made no request at all"
        strays = []
        for seen in self.requests:
            url = urlsplit(seen.url)
            if url.scheme in ("data", "blob"):
                continue
            if (url.scheme, url.netloc) != (origin.scheme, origin.netloc) or not url.path.startswith(path_prefix):
                strays.append(f"{seen.method} {seen.url} ({seen.resource_type})")
        assert not strays, (f"the page requested URLs off {base_url}{path_prefix}:\n  "
                            + "\n  ".join(strays))

    def close(self) -> None:
        self.context.close()
