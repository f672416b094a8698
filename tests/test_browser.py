"""Open every page of the built book in headless Chromium, as a reader would, with no network.

For each page: no console errors, no failed requests, formulas rendered by MathJax (no raw
`$$` or `\\(` left), every image loaded, every internal link (and its #anchor) resolves. A
full-page screenshot of each page is saved under `_build/screenshots/`.

The browser is Debian's `chromium` (or an installed Google Chrome), driven by Playwright, which
downloads nothing here.
Without it the test is skipped with the command that installs it; under CI it fails instead.
"""

from __future__ import annotations

import functools
import http.server
import os
import shutil
import threading
from pathlib import Path
from urllib.parse import urldefrag, urljoin, urlparse

import pytest

ROOT = Path(__file__).resolve().parent.parent
SCREENSHOTS = ROOT / "_build" / "screenshots"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]

pytestmark = pytest.mark.slow


def find_chromium() -> str | None:
    """Debian's chromium, or the Chrome that GitHub's Ubuntu runners ship."""
    names = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
    return next((path for path in map(shutil.which, names) if path), None)


@pytest.fixture(scope="module")
def browser():
    executable = find_chromium()
    advice = "install it with `sudo apt-get install chromium` (make test does so when run as root)"
    if executable is None:
        if os.environ.get("CI"):
            pytest.fail(f"Chromium is missing on CI: {advice}")
        pytest.skip(f"Chromium is not installed: {advice}")
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed: run `make setup`")
    with sync_api.sync_playwright() as p:
        instance = p.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        yield instance
        instance.close()


@pytest.fixture(scope="module")
def site(built_book):
    """Serve the built book on 127.0.0.1 (an ephemeral port) for the duration of the tests."""

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Quiet, directory=str(built_book)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/", built_book
    server.shutdown()
    thread.join(timeout=5)


def check_page(browser, base: str, built: Path, page_path: str) -> list[str]:
    """Open one page; return what is wrong with it (empty when all is well)."""
    problems: list[str] = []
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    page.on("console", lambda msg: msg.type == "error" and problems.append(f"console error: {msg.text}"))
    page.on("pageerror", lambda exc: problems.append(f"script error: {exc}"))
    page.on("requestfailed", lambda req: problems.append(f"request failed: {req.url} ({req.failure})"))
    page.on("response", lambda r: r.status >= 400 and problems.append(f"HTTP {r.status}: {r.url}"))
    page.goto(base + page_path, wait_until="networkidle")
    url = page.url  # after any redirect (index.html forwards to the first page)

    has_math = page.locator(".math").count() > 0
    if has_math:
        page.wait_for_function("() => window.MathJax && MathJax.startup && MathJax.startup.promise")
        page.evaluate("() => MathJax.startup.promise")
        if page.locator("mjx-container").count() == 0:
            problems.append("math not rendered: no mjx-container element")
    text = page.locator("article").first.inner_text() if page.locator("article").count() else page.inner_text("body")
    for raw in ("$$", "\\(", "\\["):
        if raw in text:
            problems.append(f"raw math delimiter {raw!r} left in the text")

    # Images: make lazy ones load, then every image must have pixels.
    page.evaluate("() => document.querySelectorAll('img').forEach(img => img.loading = 'eager')")
    page.wait_for_function("() => [...document.images].every(img => img.complete)")
    for src in page.evaluate("() => [...document.images].filter(i => i.naturalWidth === 0).map(i => i.src)"):
        problems.append(f"image did not load: {src}")

    # Internal links: the target page exists and so does its #anchor.
    hrefs = page.evaluate("() => [...document.querySelectorAll('a[href]')].map(a => a.getAttribute('href'))")
    for href in sorted(set(hrefs)):
        target = urljoin(url, href)
        if urlparse(target).netloc != urlparse(base).netloc:
            continue
        target_url, anchor = urldefrag(target)
        local = built / urlparse(target_url).path.lstrip("/")
        if local.is_dir():
            local = local / "index.html"
        if not local.is_file():
            problems.append(f"broken link: {href}")
        elif anchor and local.suffix == ".html" and f'id="{anchor}"' not in local.read_text(errors="replace"):
            problems.append(f"broken anchor: {href}")

    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / (page_path.replace("/", "__").removesuffix(".html") + ".png")), full_page=True)
    page.close()
    return problems


def test_every_page_works_in_a_browser(browser, site, book_pages):
    base, built = site
    pages = book_pages
    assert "content/2-classification/classification.html" in pages
    report = {p: check_page(browser, base, built, p) for p in pages}
    bad = {p: problems for p, problems in report.items() if problems}
    assert bad == {}, "pages with problems:\n" + "\n".join(f"{p}: {probs}" for p, probs in bad.items())


def test_the_checker_notices_broken_pages(browser, site, tmp_path):
    """A page with a missing image, a broken link and a console error must be reported."""
    base, built = site
    bad = built / "_broken_test_page.html"
    bad.write_text(
        "<html><body><article><p>$$x$$</p><img src='missing.png'><a href='nowhere.html'>x</a>"
        "<script>console.error('boom')</script></article></body></html>"
    )
    try:
        problems = check_page(browser, base, built, bad.name)
    finally:
        bad.unlink()
        (SCREENSHOTS / "_broken_test_page.png").unlink(missing_ok=True)
    joined = "\n".join(problems)
    for expected in ("console error: boom", "image did not load", "broken link: nowhere.html", "raw math delimiter", "HTTP 404"):
        assert expected in joined, f"{expected!r} not reported in:\n{joined}"


def test_the_book_was_built_once_in_this_run(built_book, book_build_log):
    """The book and browser tests share one build, also when pytest-xdist runs them (make test)."""
    builds = book_build_log.read_text().splitlines()
    assert len(builds) == 1, f"the book was built {len(builds)} times: {builds}"
