"""Open a static website in headless Chromium as a reader would, and record every request it makes.

The folder is served on 127.0.0.1 by an http.server thread that logs each request and its status. A harness
page (served by the same thread, not part of the site) loads the pages in frames and reports, from inside
Chromium, what each page shows: its images decoded or not, its stylesheet applied, its script run, and every
address its elements point to. Chromium runs with every host name but 127.0.0.1 unresolvable and writes its
net log, from which the requests of the pages (those made for a frame of the served origin, not Chromium's
own background traffic) are taken: their hosts and their network errors.
"""

from __future__ import annotations

import html
import json
import shutil
import subprocess
import tempfile
import threading
from dataclasses import dataclass, field
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlsplit

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    # No host but the test server can be reached: a request elsewhere fails, and shows in the net log.
    "--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1",
]
HARNESS = "/__harness__.html"

HARNESS_SCRIPT = """
window.addEventListener("load", function () {
  var out = [];
  PAGES.forEach(function (page, i) {
    var doc = document.getElementById("f" + i).contentDocument;
    var refs = [];
    Array.prototype.forEach.call(doc.querySelectorAll("[src], [href], [srcset], [poster], [data]"), function (el) {
      ["src", "href", "srcset", "poster", "data"].forEach(function (name) {
        if (el.hasAttribute(name)) {
          var url = el[name] && typeof el[name] === "string" ? el[name] : el.getAttribute(name);
          refs.push({tag: el.tagName.toLowerCase(), attr: name, url: url});
        }
      });
    });
    var images = Array.prototype.map.call(doc.images, function (img) {
      return {src: img.currentSrc || img.src, decoded: img.complete && img.naturalWidth > 0, alt: img.alt};
    });
    var rules = 0;
    Array.prototype.forEach.call(doc.styleSheets, function (sheet) { rules += sheet.cssRules.length; });
    var skip = doc.querySelector(".skip-link");
    out.push({
      page: page, url: doc.location.href, title: doc.title, images: images, refs: refs, css_rules: rules,
      skip_link_hidden: skip ? doc.defaultView.getComputedStyle(skip).left.charAt(0) === "-" : null,
      sort_buttons: doc.querySelectorAll("table.sortable th button").length,
      actions: ACTIONS(doc)
    });
  });
  document.getElementById("result").textContent = JSON.stringify(out);
});
"""


@dataclass
class PageReport:
    """What Chromium showed of one page."""

    page: str
    url: str
    title: str
    images: list[dict]
    refs: list[dict]
    css_rules: int
    skip_link_hidden: bool | None
    sort_buttons: int
    actions: object


@dataclass
class BrowserRun:
    """The pages Chromium opened, and the requests the server and Chromium's net log saw."""

    pages: dict[str, PageReport]
    served: list[tuple[str, int]]  # path, HTTP status, as the server answered
    page_requests: list[str] = field(default_factory=list)  # URLs requested for the pages, from the net log
    failed: list[tuple[str, int]] = field(default_factory=list)  # URL, net error, from the net log
    port: int = 0

    def other_hosts(self) -> list[str]:
        """Return the URLs the pages requested from any host but the test server."""
        return [u for u in self.page_requests if urlsplit(u).hostname != "127.0.0.1"]

    def failed_requests(self) -> list[str]:
        """Return every request that failed: a network error in the net log, or a server status of 400 or more."""
        errors = [f"{url} (net error {code})" for url, code in self.failed]
        return errors + [f"{path} (HTTP {status})" for path, status in self.served if status >= 400]


class _Handler(SimpleHTTPRequestHandler):
    log: list[tuple[str, int]]
    harness: bytes

    def do_GET(self) -> None:  # noqa: N802 - http.server API
        if self.path == HARNESS:
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(self.harness)))
            self.end_headers()
            self.wfile.write(self.harness)
            return
        super().do_GET()

    def log_request(self, code="-", size="-") -> None:  # noqa: ARG002
        if self.path != HARNESS:
            self.log.append((self.path, int(code) if str(code).isdigit() else 0))

    def log_message(self, *args) -> None:
        pass


def _harness(pages: list[str], actions_js: str) -> bytes:
    frames = "".join(f'<iframe id="f{i}" src="/{p}" width="1000" height="800"></iframe>' for i, p in enumerate(pages))
    script = HARNESS_SCRIPT.replace("PAGES", json.dumps(pages)).replace("ACTIONS", f"({actions_js})")
    return (
        f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>harness</title>'
        '<link rel="icon" href="data:,"></head><body>'
        f'<pre id="result"></pre><script>{script}</script>{frames}</body></html>'
    ).encode()


def _net_log(path: Path, port: int) -> tuple[list[str], list[tuple[str, int]]]:
    """Return the URLs requested for the served pages and the failed ones, from Chromium's net log."""
    log = json.loads(path.read_text())
    names = {number: name for name, number in log["constants"]["logEventTypes"].items()}
    page_key = "http://127.0.0.1 http://127.0.0.1"  # the network isolation key of a request made for our pages
    urls: dict[int, str] = {}
    failed = []
    for event in log["events"]:
        params = event.get("params") or {}
        source = event["source"]["id"]
        if names[event["type"]] == "URL_REQUEST_START_JOB" and "url" in params:
            if params.get("network_isolation_key") == page_key:
                urls[source] = params["url"]
        elif source in urls and params.get("net_error", 0) < 0:
            failed.append((urls[source], params["net_error"]))
    assert urls, f"the net log holds no request of the pages on port {port}: did the page load?"
    return sorted(set(urls.values())), sorted(set(failed))


def open_site(folder: Path, pages: list[str], actions_js: str = "function (doc) { return null; }") -> BrowserRun:
    """Serve folder, load the pages in headless Chromium, and return what it showed and requested."""
    assert CHROMIUM, "chromium is installed by make (APT_PACKAGES)"
    handler = type("Handler", (_Handler,), {"log": [], "harness": _harness(pages, actions_js)})
    server = ThreadingHTTPServer(("127.0.0.1", 0), partial(handler, directory=str(folder)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    port = server.server_address[1]
    work = Path(tempfile.mkdtemp(prefix="chromium-"))
    try:
        net_log = work / "net.json"
        run = subprocess.run(
            [
                CHROMIUM,
                *FLAGS,
                f"--user-data-dir={work / 'profile'}",
                f"--log-net-log={net_log}",
                "--virtual-time-budget=15000",
                "--dump-dom",
                f"http://127.0.0.1:{port}{HARNESS}",
            ],
            capture_output=True,
            text=True,
            timeout=180,
        )
        assert run.returncode == 0, run.stderr[-2000:]
        start = run.stdout.find('<pre id="result">')
        end = run.stdout.find("</pre>", start)
        assert start >= 0 and end > start, run.stdout[:2000]
        reports = json.loads(html.unescape(run.stdout[start + len('<pre id="result">') : end]))
        requested, failed = _net_log(net_log, port)
    finally:
        server.shutdown()
        server.server_close()
        shutil.rmtree(work, ignore_errors=True)
    return BrowserRun(
        pages={r["page"]: PageReport(**r) for r in reports},
        served=list(handler.log),
        page_requests=requested,
        failed=failed,
        port=port,
    )


def _run_on_page(folder: Path, page: str, *flags: str) -> None:
    """Run headless Chromium once on one page of the site, with these flags and a throw-away profile."""
    assert CHROMIUM, "chromium is installed by make (APT_PACKAGES)"
    work = Path(tempfile.mkdtemp(prefix="chromium-"))
    try:
        subprocess.run(
            [CHROMIUM, *FLAGS, f"--user-data-dir={work / 'profile'}", *flags, (folder / page).resolve().as_uri()],
            capture_output=True,
            timeout=120,
            check=True,
        )
    finally:
        shutil.rmtree(work, ignore_errors=True)


def screenshot(folder: Path, page: str, target: Path, width: int = 1200, height: int = 1600) -> Path:
    """Save a screenshot of one page of the site as Chromium draws it."""
    _run_on_page(folder, page, f"--window-size={width},{height}", "--hide-scrollbars", f"--screenshot={target}")
    return target


def print_to_pdf(folder: Path, page: str, target: Path) -> Path:
    """Print one page of the site to PDF with Chromium (its print stylesheet applies)."""
    _run_on_page(folder, page, "--no-pdf-header-footer", f"--print-to-pdf={target}")
    return target
