#!/usr/bin/env python
"""Look at a built book the way a reader does: in a browser, 1280 px wide, every page.

The book's HTML can be valid and its build warning-free while a page still reads badly: a table
wider than the text column (a horizontal scroll bar on a laptop), a notebook's parameters cell
showing ``profile = 'smoke'`` above the findings, an image that does not load, a cell cut with
"...". Only a browser sees those, so this script serves a built book on 127.0.0.1, opens every
page of it in sequence in one headless Chromium at 1280x900 (driven over the DevTools protocol
with ``websocket-client``; no driver binary, nothing from the network) and checks each page:

* no horizontal overflow: ``document.scrollingElement.scrollWidth <= window.innerWidth``, no
  table wider than any box it sits in, up to the article (a wider one spills or scrolls), and no
  code block or cell output wider than its column (output is wrapped, never clipped);
* no table cell cut with "..." (pandas' 50-character default), no pandas row index (0, 1, ...)
  shown as a column, and no count printed as a float (``160.0`` in a ``support`` column, or a
  whole column of ``X.0`` above 1);
* no Python repr in a cell's output: a cell's value shown as plain text (``'a string'``,
  ``<IPython.core.display.Markdown object>``, a list, a Series, an object's address);
* at most ``MAX_SIDEBAR`` entries visible in the sidebar, and no page titled by a notebook's
  generic heading ("Experiment", ...): a page's title names its run or arm;
* on the landing page, a figure, and no run id shown before it (results first; provenance is
  folded at the end);
* no visible parameters cell: no element tagged ``injected-parameters`` / ``parameters``, and no
  code cell showing ``profile = `` or ``Parameters:``;
* every ``<img>`` loaded (``naturalWidth > 0``).

Screenshots (full page, ``<out>/<page>.png``, ``/`` in a page's path written ``__``): by default
of the pages a reader opens first (the landing page, an experiment page, Table 1, an ablation,
the claims and a seed page, named so) and of every page that failed; ``--screenshots all`` or
``failed`` changes that. The last line says how many pages were checked and how many failures
were found (``browser check: 142 pages, 0 failure(s)``). It exits 1 listing every failure, 2
when it cannot run (no Chromium, no book), 0 otherwise::

    python scripts/browser_check.py _build/smoke/_build/html     # screenshots: _build/screenshots
    python scripts/browser_check.py _build/cpu/_build/html        # every page of the cpu book
    python scripts/browser_check.py _build/cpu/_build/html --page claims=book/runs/cpu/claims.html

Importable: ``tests/test_browser.py`` calls :func:`check_book`.
"""

from __future__ import annotations

import argparse
import base64
import functools
import http.server
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from wbcrepro.reproduction.executed import GENERIC_TITLES  # the headings runs replace

WIDTH, HEIGHT = 1280, 900
CHROMIUM_ENV = "WBCREPRO_CHROMIUM"
CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
    f"--window-size={WIDTH},{HEIGHT}",
)
MAX_SCREENSHOT_HEIGHT = 20000
"""Pixels; a longer page is cut there (a screenshot of an endless page helps nobody)."""
INSTALL_HINT = "chromium not installed: apt-get install chromium"
DEFAULT_OUT = Path("_build") / "screenshots"


class BrowserError(RuntimeError):
    """Chromium could not be started or driven (not a finding about the book)."""


def find_chromium() -> str | None:
    """``$WBCREPRO_CHROMIUM``, else the first Chromium or Chrome on the PATH; None when none."""
    explicit = os.environ.get(CHROMIUM_ENV)
    if explicit:
        return explicit if Path(explicit).is_file() else None
    for name in CHROMIUM_NAMES:
        found = shutil.which(name)
        if found:
            return found
    return None


# --- serving the book -----------------------------------------------------------------------------
class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


@contextmanager
def serve(folder: str | os.PathLike) -> Iterator[str]:
    """Serve ``folder`` on 127.0.0.1 (a free port, a daemon thread); yields the base URL."""
    handler = functools.partial(_QuietHandler, directory=str(folder))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


# --- driving Chromium -----------------------------------------------------------------------------
class DevTools:
    """A minimal DevTools-protocol client for one page target (requests in order, events
    ignored): enough to size the viewport, navigate, evaluate and take screenshots."""

    def __init__(self, ws_url: str, timeout: float = 60.0) -> None:
        import websocket  # websocket-client (the dev extra)

        self._ws = websocket.create_connection(ws_url, timeout=timeout, suppress_origin=True)
        self._next = 0

    def call(self, method: str, **params: Any) -> dict[str, Any]:
        self._next += 1
        self._ws.send(json.dumps({"id": self._next, "method": method, "params": params}))
        while True:
            message = json.loads(self._ws.recv())
            if message.get("id") != self._next:
                continue  # an event
            if "error" in message:
                raise BrowserError(f"{method}: {message['error']}")
            return message.get("result", {})

    def evaluate(self, expression: str, await_promise: bool = False) -> Any:
        result = self.call(
            "Runtime.evaluate",
            expression=expression,
            returnByValue=True,
            awaitPromise=await_promise,
        )
        if "exceptionDetails" in result:
            raise BrowserError(f"page script failed: {result['exceptionDetails']}")
        return result.get("result", {}).get("value")

    def close(self) -> None:
        self._ws.close()


def _page_target(port: int, deadline: float) -> str:
    """The websocket URL of the browser's first page target."""
    while True:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=5) as r:
                targets = json.loads(r.read())
            pages = [t for t in targets if t.get("type") == "page"]
            if pages:
                return pages[0]["webSocketDebuggerUrl"]
        except OSError:
            pass
        if time.monotonic() > deadline:
            raise BrowserError("Chromium started but shows no page target")
        time.sleep(0.2)


@contextmanager
def chromium(executable: str, startup_timeout: float = 60.0) -> Iterator[DevTools]:
    """Headless Chromium with a new, empty profile; yields a :class:`DevTools` on its page."""
    profile = Path(tempfile.mkdtemp(prefix="wbcrepro-chromium-"))
    command = [
        executable,
        *CHROMIUM_FLAGS,
        f"--user-data-dir={profile}",
        "--remote-debugging-port=0",
        "about:blank",
    ]
    proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    devtools = None
    try:
        deadline = time.monotonic() + startup_timeout
        port_file = profile / "DevToolsActivePort"
        while not (port_file.is_file() and port_file.read_text().strip()):
            if proc.poll() is not None:
                err = proc.stderr.read().decode(errors="replace")[-2000:] if proc.stderr else ""
                raise BrowserError(f"Chromium exited with {proc.returncode}: {err}")
            if time.monotonic() > deadline:
                raise BrowserError(f"Chromium did not start within {startup_timeout:.0f} s")
            time.sleep(0.1)
        port = int(port_file.read_text().split()[0])
        devtools = DevTools(_page_target(port, deadline))
        devtools.call(
            "Emulation.setDeviceMetricsOverride",
            width=WIDTH,
            height=HEIGHT,
            deviceScaleFactor=1,
            mobile=False,
        )
        yield devtools
    finally:
        if devtools is not None:
            devtools.close()
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=15)
        shutil.rmtree(profile, ignore_errors=True)


# --- the checks -----------------------------------------------------------------------------------
WAIT_JS = """
new Promise((resolve) => {
  const images = Array.from(document.images).map((img) => img.complete ? null
    : new Promise((done) => {
      img.addEventListener('load', done);
      img.addEventListener('error', done);
    }));
  const timer = new Promise((done) => setTimeout(done, 15000));
  Promise.race([Promise.all([...images, document.fonts.ready]), timer]).then(() => resolve(true));
})
"""

MAX_SIDEBAR = 40
"""Sidebar entries a reader sees at once (collapsed sub-entries, such as seed pages under their
arm, are not counted): more than this is a list to dig through, not a table of contents."""

CHECK_JS = r"""
(() => {
  const MAX_SIDEBAR = __MAX_SIDEBAR__;
  const IS_LANDING = __IS_LANDING__;
  const GENERIC_TITLES = __GENERIC_TITLES__;
  // a cell output that is a value's repr: a quoted string, a container, an object's address,
  // a pandas Series, a numpy array or a path object
  const REPR = [/^(['"])[^]*\1$/, /^[\[{(]['"\d]/, / object at 0x[0-9a-f]+>/, /<[\w.]+ object>/,
    /\ndtype: \w+$/, /^array\(/, /^(Posix|Windows)?Path\(/];
  // a column that counts things (images, supports, seeds): its values are integers
  const COUNT_HEADER =
    /(^|[^a-z])(n|count|counts|support|images|cells|seeds|runs|epochs?|files)([^a-z]|$)/i;
  const failures = [];
  // checkVisibility: an entry inside a closed <details> (a collapsed sidebar section) keeps its
  // boxes in Chromium but is not shown; checkVisibility says so, getClientRects does not
  const visible = (el) => el.getClientRects().length > 0
    && getComputedStyle(el).visibility !== 'hidden'
    && (typeof el.checkVisibility !== 'function' || el.checkVisibility({visibilityProperty: true}));
  const name = (el) => (el.innerText || '').trim().replace(/\s+/g, ' ').slice(0, 60);
  const root = document.scrollingElement || document.documentElement;
  if (root.scrollWidth > window.innerWidth) {
    failures.push(`the page is ${root.scrollWidth} px wide in a ${window.innerWidth} px window `
      + '(horizontal scroll)');
  }
  const article = document.querySelector('article') || document.querySelector('main')
    || document.body;
  document.querySelectorAll('table').forEach((table) => {
    if (!visible(table)) return;
    const width = Math.ceil(table.getBoundingClientRect().width);
    for (let box = table.parentElement; box; box = box.parentElement) {
      if (box.clientWidth > 0 && width > box.clientWidth + 1) {
        failures.push(`table "${name(table.querySelector('tr') || table)}" is ${width} px wide `
          + `in a ${box.clientWidth} px container (${box.tagName.toLowerCase()}.`
          + `${Array.from(box.classList).join('.')})`);
        break;
      }
      if (box === article) break;
    }
  });
  document.querySelectorAll('pre').forEach((pre) => {
    if (!visible(pre) || pre.scrollWidth <= pre.clientWidth + 1) return;
    const what = pre.closest('.cell_output') ? 'output' : 'code block';
    failures.push(`${what} "${name(pre)}" is wider than its column `
      + `(${pre.scrollWidth} px of text in ${pre.clientWidth} px: clipped or scrolled)`);
  });
  const entries = Array.from(document.querySelectorAll('.bd-sidebar-primary nav a, nav.bd-links a'))
    .filter(visible);
  if (entries.length > MAX_SIDEBAR) {
    failures.push(`the sidebar shows ${entries.length} entries (at most ${MAX_SIDEBAR})`);
  }
  const heading = document.querySelector('article h1, main h1, h1');
  const title = heading ? name(heading).replace(/[#¶]$/, '').trim() : '';
  if (GENERIC_TITLES.includes(title)) {
    failures.push(`the page is titled "${title}" (a page's title names its run or arm)`);
  }
  document.querySelectorAll('[class*="injected-parameters"], [class*="tag_parameters"]')
    .forEach((el) => {
      if (visible(el)) failures.push(`a parameters cell is shown: "${name(el)}"`);
    });
  document.querySelectorAll('.cell_input').forEach((el) => {
    const text = el.textContent || '';
    if (visible(el) && (text.includes('profile = ') || text.includes('Parameters:'))) {
      failures.push(`a code cell shows parameters: "${name(el)}"`);
    }
  });
  // what a notebook's output should never show a reader
  document.querySelectorAll('td, th').forEach((cell) => {
    const text = (cell.innerText || '').trim();
    if (visible(cell) && /(\.\.\.|\u2026)$/.test(text) && text.length > 3) {
      failures.push(`table cell "${name(cell)}" is cut with "..."`);
    }
  });
  document.querySelectorAll('.cell_output pre').forEach((pre) => {
    if (!visible(pre)) return;
    const text = (pre.innerText || '').trim();
    const value = pre.closest('.output.text_plain') !== null;  // a cell's value, not print()
    if (REPR.some((pattern) => pattern.test(text)) || (value && text)) {
      failures.push(`output shows a Python value's repr: "${name(pre)}"`);
    }
  });
  document.querySelectorAll('table').forEach((table) => {
    if (!visible(table)) return;
    const rows = Array.from(table.querySelectorAll('tbody tr'));
    // a column's header: its non-empty cells over every header row (pandas puts the index's
    // name in a second row)
    const headers = [];
    table.querySelectorAll('thead tr').forEach((tr) => {
      Array.from(tr.children).forEach((c, i) => {
        const text = (c.innerText || '').trim();
        headers[i] = [headers[i], text].filter((t) => t).join(' ');
      });
    });
    for (let i = 0; i < headers.length; i++) headers[i] = headers[i] || '';
    const column = (i) => rows.map((r) => r.children[i]).filter((c) => c)
      .map((c) => (c.innerText || '').trim());
    const first = column(0);
    if (rows.length >= 2 && headers.length && headers[0] === ''
        && first.length === rows.length && first.every((t, i) => t === String(i))) {
      failures.push(`table "${name(table.querySelector('tr') || table)}" shows pandas' row `
        + 'index (0, 1, ...) as a column');
    }
    headers.forEach((header, i) => {
      const values = column(i).filter((t) => t !== '' && t !== '-' && t !== '\u2013');
      const floats = values.filter((t) => /^-?\d[\d,]*\.0+$/.test(t));
      const counted = COUNT_HEADER.test(header)
        && !/%|accuracy|recall|rate|mean|fraction|per/i.test(header);
      // a whole column of X.0 above 1 (not a proportion that happens to be 0.0 or 1.0)
      const integral = values.length >= 3 && floats.length === values.length
        && floats.some((t) => Math.abs(parseFloat(t.replace(/,/g, ''))) > 1);
      if (floats.length && (counted || integral)) {
        failures.push(`table column "${header.slice(0, 40)}" shows a count as a float `
          + `("${floats[0]}")`);
      }
    });
  });
  if (IS_LANDING) {  // results first: the headline figure before any run id
    const scope = 'article img, main img';
    const figure = Array.from(document.querySelectorAll(scope)).find(visible);
    const seedId = /\b[a-z0-9]+(?:-[a-z0-9.]+)*-s\d+\b/;
    const runId = /^[a-z0-9]+(?:-[a-z0-9.]+)+$/;
    const cells = 'article code, article td, main code, main td';
    const firstId = Array.from(document.querySelectorAll(cells))
      .filter(visible)
      .find((el) => seedId.test(el.innerText || '')
        || (el.tagName === 'CODE' && runId.test((el.innerText || '').trim())));
    if (!figure) {
      failures.push('the landing page shows no figure');
    } else if (firstId
        && (firstId.compareDocumentPosition(figure) & Node.DOCUMENT_POSITION_FOLLOWING)) {
      failures.push(`run id "${name(firstId)}" comes before the landing page's first figure`);
    }
  }
  Array.from(document.images).forEach((img) => {
    if (!img.complete || img.naturalWidth === 0) {
      failures.push(`image not loaded: ${img.getAttribute('src')}`);
    }
  });
  return {failures: failures, title: document.title};
})()
"""


def _load(devtools: DevTools, url: str, timeout: float = 60.0) -> None:
    devtools.call("Page.navigate", url=url)
    deadline = time.monotonic() + timeout
    while devtools.evaluate("document.readyState") != "complete":
        if time.monotonic() > deadline:
            raise BrowserError(f"{url} did not finish loading within {timeout:.0f} s")
        time.sleep(0.1)
    devtools.evaluate(WAIT_JS, await_promise=True)


def screenshot(devtools: DevTools, path: Path) -> Path:
    """A full-page PNG of the loaded page (1280 px wide, cut at MAX_SCREENSHOT_HEIGHT), from its
    top left corner."""
    devtools.evaluate("window.scrollTo(0, 0)")
    size = devtools.call("Page.getLayoutMetrics")["cssContentSize"]
    height = min(MAX_SCREENSHOT_HEIGHT, max(HEIGHT, int(size["height"])))
    shot = devtools.call(
        "Page.captureScreenshot",
        format="png",
        captureBeyondViewport=True,
        clip={"x": 0, "y": 0, "width": WIDTH, "height": height, "scale": 1},
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(base64.b64decode(shot["data"]))
    return path


def check_page(
    devtools: DevTools, url: str, name: str, out_dir: Path, shoot: bool | None = True
) -> list[str]:
    """Load ``url`` and check it; the failures, each prefixed by the page's name. Saves
    ``out_dir/<name>.png`` when ``shoot`` is true, or when it is None and the page failed."""
    _load(devtools, url)
    script = CHECK_JS.replace("__MAX_SIDEBAR__", str(MAX_SIDEBAR))
    script = script.replace("__IS_LANDING__", "true" if name == "landing" else "false")
    result = devtools.evaluate(script.replace("__GENERIC_TITLES__", json.dumps(GENERIC_TITLES)))
    if shoot or (shoot is None and result["failures"]):
        screenshot(devtools, out_dir / f"{name.replace('/', '__')}.png")
    return [f"{name} ({url}): {failure}" for failure in result["failures"]]


_REDIRECT = re.compile(r"""url=([^"'>\s]+)""", re.IGNORECASE)
NOT_PAGES = ("genindex.html", "search.html", "py-modindex.html")
"""Sphinx's generated pages, which hold no content of the book."""


def landing_page(html: Path) -> str | None:
    """The page the root ``index.html`` redirects to (the book's landing page), or None."""
    index = html / "index.html"
    match = _REDIRECT.search(index.read_text(encoding="utf-8")) if index.is_file() else None
    return match.group(1) if match else None


def default_pages(html: Path) -> dict[str, str | None]:
    """The pages a reader opens first, by role -> path relative to ``html`` (None when the book
    has no such page: a failure for the required ones, ``landing``, ``experiment`` and
    ``table1``). Each of them is checked and photographed."""

    def first(pattern: str) -> str | None:
        found = sorted(html.glob(pattern))
        return found[0].relative_to(html).as_posix() if found else None

    pages: dict[str, str | None] = {
        "landing": landing_page(html),
        "experiment": first("book/runs/*/main-*.html"),
        "table1": first("book/runs/*/table1.html"),
    }
    optional = {
        "ablation": "book/runs/*/ablation-*.html",
        "claims": "book/runs/*/claims.html",
        # the deepest page of the sidebar: a seed under an arm under leave-one-lab-out
        "seed": "book/runs/*/lolo-*-s0.html",
    }
    pages.update({name: first(glob) for name, glob in optional.items() if first(glob)})
    return pages


def all_pages(html: Path) -> dict[str, str | None]:
    """Every page of the built book: the :func:`default_pages` under their role's name, then
    every other HTML page (not the root redirect, Sphinx's index and search pages, or static
    files) under its path without ``.html``."""
    pages = default_pages(html)
    named = set(pages.values())
    for path in sorted(html.rglob("*.html")):
        rel = path.relative_to(html)
        if rel.parts[0].startswith("_") or rel.as_posix() in ("index.html", *NOT_PAGES):
            continue
        if rel.as_posix() not in named:
            pages[rel.with_suffix("").as_posix()] = rel.as_posix()
    return pages


def check_book(
    html: str | os.PathLike,
    out_dir: str | os.PathLike = DEFAULT_OUT,
    pages: Mapping[str, str | None] | None = None,
    executable: str | None = None,
    screenshots: str = "default",
) -> tuple[list[str], int]:
    """Check ``pages`` (default: :func:`all_pages`) of the built book in ``html``, in one
    browser, in sequence; (the failures, empty when every page reads well; the number of pages
    checked). ``screenshots``: ``default`` photographs the :func:`default_pages` and every page
    that failed, ``all`` every page, ``failed`` only the failed ones. Raises
    :class:`BrowserError` when Chromium is missing or cannot be driven."""
    if screenshots not in SCREENSHOTS:
        raise ValueError(f"screenshots must be one of {SCREENSHOTS}, got {screenshots!r}")
    html, out_dir = Path(html), Path(out_dir)
    executable = executable or find_chromium()
    if executable is None:
        raise BrowserError(INSTALL_HINT)
    if not (html / "index.html").is_file():
        raise BrowserError(f"{html} holds no built book (no index.html)")
    pages = dict(pages) if pages is not None else all_pages(html)
    photographed = set(default_pages(html)) if screenshots == "default" else set()
    failures = [f"{name}: no such page in {html}" for name, rel in pages.items() if rel is None]
    checked = 0
    with serve(html) as base, chromium(executable) as devtools:
        for name, rel in pages.items():
            if rel is None:
                continue
            if not (html / rel).is_file():
                failures.append(f"{name}: {rel} does not exist in {html}")
                continue
            shoot = True if screenshots == "all" or name in photographed else None
            failures += check_page(devtools, base + rel, name, out_dir, shoot)
            checked += 1
    return failures, checked


SCREENSHOTS = ("default", "all", "failed")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("html", type=Path, help="the built book, e.g. _build/smoke/_build/html")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="screenshot folder")
    parser.add_argument(
        "--page",
        action="append",
        default=[],
        metavar="NAME=PATH",
        help="check only this page (relative to the book) instead of every page; repeatable",
    )
    parser.add_argument(
        "--screenshots",
        choices=SCREENSHOTS,
        default="default",
        help="which pages to photograph (default: the landing, experiment, Table 1, ablation, "
        "claims and seed pages, and every page that failed)",
    )
    parser.add_argument("--chromium", help=f"the browser (default: ${CHROMIUM_ENV} or PATH)")
    args = parser.parse_args(argv)
    pages = None
    if args.page:
        bad = [p for p in args.page if "=" not in p]
        if bad:
            parser.error(f"--page takes NAME=PATH, got {', '.join(bad)}")
        pages = dict(p.split("=", 1) for p in args.page)
    try:
        failures, checked = check_book(
            args.html, args.out, pages, args.chromium, screenshots=args.screenshots
        )
    except BrowserError as err:
        print(f"browser check: cannot run: {err}", file=sys.stderr)
        return 2
    for failure in failures:
        print(f"FAIL {failure}")
    failed = len({f.split(" (", 1)[0].split(":", 1)[0] for f in failures})
    on_pages = f" on {failed} page(s)" if failures else ""
    print(f"browser check: screenshots in {args.out}")
    print(f"browser check: {checked} pages, {len(failures)} failure(s){on_pages}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
