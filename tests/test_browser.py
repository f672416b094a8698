"""Open the built book in headless Chromium, as a reader would, with no network.

For each page: no console errors, no failed requests, every formula rendered by MathJax (no raw
`$$` or `\\(` left, no MathJax error), every image loaded, every icon's glyph in the trimmed icon
font, every internal link (and its #anchor) resolves, and the bytes the page loads are counted
(`_build/page-weights.json`; the first page must stay under 1.5 MB). Then what a reader does:
open the chapter list and the page's contents at phone, tablet and desktop widths and follow a
link; download a notebook; search. A screenshot of each page and of each menu state is saved
under `_build/screenshots/`.

The browser is Debian's `chromium` (or an installed Google Chrome), driven by Playwright, which
downloads nothing here.
Without it the test is skipped with the command that installs it; under CI it fails instead.
"""

from __future__ import annotations

import dataclasses
import functools
import gzip
import http.server
import json
import os
import re
import shutil
import threading
from pathlib import Path
from urllib.parse import quote_plus, urldefrag, urljoin, urlparse

import pytest

ROOT = Path(__file__).resolve().parent.parent
BUILD = ROOT / "_build"
SCREENSHOTS = BUILD / "screenshots"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
FIRST_PAGE = "index.html"  # forwards to the book's first page; its bytes count too
FIRST_PAGE_BUDGET = 1_500_000
CHAPTER = "content/2-classification/classification.html"
NOTEBOOK = "content/2-classification/2-1-multiclass-classification.html"
WIDTHS = {"phone": 390, "tablet": 800, "desktop": 1280}
# The icon fonts that pydata-sphinx-theme's stylesheet draws with, by CSS family and weight.
ICON_FONTS = {("Font Awesome 6 Free", "900"): "fa-solid-900.woff2",
              ("Font Awesome 6 Free", "400"): "fa-regular-400.woff2",
              ("Font Awesome 6 Brands", "400"): "fa-brands-400.woff2"}
RAW_TEX = re.compile(r"\\[A-Za-z]+|\\[()\[\]]|\$\$")

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
def expect():
    return pytest.importorskip("playwright.sync_api").expect


@pytest.fixture(scope="module")
def site(built_book):
    """Serve the built book on 127.0.0.1 (an ephemeral port) for the duration of the tests."""

    class Quiet(http.server.SimpleHTTPRequestHandler):
        # As GitHub Pages serves it: a browser shows this type in a tab rather than saving it.
        extensions_map = {**http.server.SimpleHTTPRequestHandler.extensions_map, ".ipynb": "application/json"}

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Quiet, directory=str(built_book)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/", built_book
    server.shutdown()
    thread.join(timeout=5)


def watched_page(browser, width: int = 1280, height: int = 900):
    """A new page (in a fresh context: empty cache) whose errors and failed requests land in
    ``page.problems``."""
    page = browser.new_page(viewport={"width": width, "height": height})
    page.problems = []
    page.on("console", lambda msg: msg.type == "error" and page.problems.append(f"console error: {msg.text}"))
    page.on("pageerror", lambda exc: page.problems.append(f"script error: {exc}"))
    page.on("requestfailed", lambda req: page.problems.append(f"request failed: {req.url} ({req.failure})"))
    page.on("response", lambda r: r.status >= 400 and page.problems.append(f"HTTP {r.status}: {r.url}"))
    return page


def wait_for_math(page) -> None:
    if page.locator(".math").count() > 0:
        page.wait_for_function("() => window.MathJax && MathJax.startup && MathJax.startup.promise")
        page.evaluate("() => MathJax.startup.promise")


@functools.lru_cache(maxsize=None)
def font_codepoints(font: Path) -> frozenset[int]:
    from fontTools.ttLib import TTFont

    return frozenset(TTFont(str(font)).getBestCmap())


# Every element, or ::before / ::after, drawn with an icon font: its font and the characters.
ICONS_SHOWN = """() => {
  const shown = [];
  for (const el of document.querySelectorAll('*')) {
    if (!el.getClientRects().length) continue;  // not rendered (display: none)
    for (const pseudo of ['::before', '::after']) {
      const style = getComputedStyle(el, pseudo);
      if (!/Font Awesome/.test(style.fontFamily) || !/^".*"$/.test(style.content)) continue;
      shown.push({family: style.fontFamily.replace(/["']/g, '').split(',')[0].trim(), weight: style.fontWeight,
                  codepoints: [...style.content.slice(1, -1)].map(c => c.codePointAt(0)),
                  element: el.tagName.toLowerCase() + '.' + [...el.classList].join('.')});
    }
  }
  return shown;
}"""


@dataclasses.dataclass
class PageReport:
    problems: list[str]
    bytes: int = 0  # response bodies as served (our server, like a file system, does not compress)
    gzip_bytes: int = 0  # the same bodies gzip-compressed, as most web servers would send them


def check_page(browser, base: str, built: Path, page_path: str) -> PageReport:
    """Open one page; report what is wrong with it (nothing when all is well) and its weight."""
    page = watched_page(browser)
    responses = []
    page.on("response", lambda response: responses.append(response))
    page.goto(base + page_path, wait_until="networkidle")
    url = page.url  # after any redirect (index.html forwards to the first page)
    problems = page.problems

    wait_for_math(page)
    if page.locator(".math").count() > 0:
        for tex in page.evaluate("() => [...document.querySelectorAll('.math')].filter(m => !m.querySelector('mjx-container')).map(m => m.textContent)"):
            problems.append(f"formula not rendered: {tex.strip()[:60]}")
        for error in page.evaluate("() => [...document.querySelectorAll('mjx-merror')].map(e => e.getAttribute('data-mjx-error') || e.textContent)"):
            problems.append(f"MathJax error: {error}")
    text = page.locator("article").first.inner_text() if page.locator("article").count() else page.inner_text("body")
    for raw in ("$$", "\\(", "\\["):
        if raw in text:
            problems.append(f"raw math delimiter {raw!r} left in the text")

    # Images: make lazy ones load, then every image must have pixels.
    page.evaluate("() => document.querySelectorAll('img').forEach(img => img.loading = 'eager')")
    page.wait_for_function("() => [...document.images].every(img => img.complete)")
    for src in page.evaluate("() => [...document.images].filter(i => i.naturalWidth === 0).map(i => i.src)"):
        problems.append(f"image did not load: {src}")

    # Icons: the site's icon fonts are trimmed to the icons it uses; each one shown must be there.
    page.evaluate("() => document.fonts.ready.then(() => true)")
    fonts = built / "_static/vendor/fontawesome/webfonts"
    for icon in page.evaluate(ICONS_SHOWN):
        font = fonts / ICON_FONTS.get((icon["family"], icon["weight"]), "unknown")
        missing = [cp for cp in icon["codepoints"] if not font.is_file() or cp not in font_codepoints(font)]
        if missing:
            problems.append(f"icon {icon['element']} draws {[hex(cp) for cp in missing]}, not in {font.name}")

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

    page.wait_for_load_state("networkidle")  # fonts and images fetched late count too
    report = PageReport(problems)
    for response in responses:
        if 300 <= response.status < 400:
            continue
        try:
            body = response.body()
        except Exception:  # a page navigated away from (index.html forwards): the file it was
            body = (built / urlparse(response.url).path.lstrip("/")).read_bytes()
        report.bytes += len(body)
        report.gzip_bytes += len(gzip.compress(body, 6))

    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / (page_path.replace("/", "__").removesuffix(".html") + ".png")), full_page=True)
    page.close()
    return report


@pytest.fixture(scope="module")
def reports(browser, site, book_pages) -> dict[str, PageReport]:
    base, built = site
    return {page: check_page(browser, base, built, page) for page in book_pages}


def test_every_page_works_in_a_browser(reports):
    assert CHAPTER in reports
    bad = {page: report.problems for page, report in reports.items() if report.problems}
    assert bad == {}, "pages with problems:\n" + "\n".join(f"{p}: {probs}" for p, probs in bad.items())


def test_the_first_page_is_light(reports):
    """Bytes of every response the browser receives while it opens the page, renders its
    formulas and fetches its fonts and images, with an empty cache. Written down for each
    page in _build/page-weights.json, heaviest first."""
    weights = {page: {"bytes": r.bytes, "gzip_bytes": r.gzip_bytes}
               for page, r in sorted(reports.items(), key=lambda item: -item[1].bytes)}
    BUILD.mkdir(exist_ok=True)
    (BUILD / "page-weights.json").write_text(json.dumps(weights, indent=2) + "\n")
    first = weights[FIRST_PAGE]["bytes"]
    assert first < FIRST_PAGE_BUDGET, f"the first page loads {first:,} bytes, over {FIRST_PAGE_BUDGET:,}: {weights}"


def test_the_checker_notices_broken_pages(browser, site, tmp_path):
    """A page with a missing image, a broken link and a console error must be reported."""
    base, built = site
    bad = built / "_broken_test_page.html"
    bad.write_text(
        "<html><body><article><p>$$x$$</p><img src='missing.png'><a href='nowhere.html'>x</a>"
        "<script>console.error('boom')</script></article></body></html>"
    )
    try:
        problems = check_page(browser, base, built, bad.name).problems
    finally:
        bad.unlink()
        (SCREENSHOTS / "_broken_test_page.png").unlink(missing_ok=True)
    joined = "\n".join(problems)
    for expected in ("console error: boom", "image did not load", "broken link: nowhere.html", "raw math delimiter", "HTTP 404"):
        assert expected in joined, f"{expected!r} not reported in:\n{joined}"


# --- Menus: the chapter list (primary sidebar, ☰) and the page's contents (secondary sidebar) ---

CHAPTER_LINKS = "nav.bd-links a"  # the book's table of contents
CONTENTS_LINKS = "nav.page-toc a"  # this page's sections


def shot(page, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"))


def the_visible(page, selector: str):
    """The one element matching `selector` that a reader can see (hidden copies do not count)."""
    visible = page.locator(f"{selector}:visible")
    assert visible.count() == 1, f"{visible.count()} visible {selector!r} buttons, expected 1"
    return visible.first


def assert_no_top_bar(page) -> None:
    """pydata-sphinx-theme's header, which sphinx-book-theme does not use, shows nothing."""
    shown = page.evaluate("() => [...document.querySelectorAll('.bd-header *')].filter(e => e.getClientRects().length).length")
    assert shown == 0, f"the theme's top bar shows {shown} elements"


@pytest.mark.parametrize("width", [WIDTHS["phone"], WIDTHS["tablet"]], ids=["phone", "tablet"])
def test_narrow_screens_open_both_menus_and_follow_their_links(browser, site, expect, width):
    base, _ = site
    page = watched_page(browser, width, 800)
    page.goto(base + NOTEBOOK, wait_until="networkidle")
    assert_no_top_bar(page)
    chapters = page.locator(CHAPTER_LINKS)
    expect(chapters.first).not_to_be_in_viewport()  # narrow: the list starts hidden
    shot(page, f"nav-{width}-start")

    the_visible(page, ".primary-toggle").click()
    target = chapters.filter(has_text="2.3 Gradients through the Jacobian")
    expect(target).to_be_in_viewport()
    shot(page, f"nav-{width}-chapters-open")
    target.click()
    page.wait_for_url("**/2-3-gradients-through-the-jacobian.html")

    contents = page.locator(CONTENTS_LINKS)
    expect(contents.first).not_to_be_in_viewport()
    the_visible(page, ".secondary-toggle").click()
    section = contents.nth(1)
    expect(section).to_be_in_viewport()
    shot(page, f"nav-{width}-contents-open")
    anchor = section.get_attribute("href")
    section.click()
    page.wait_for_url(f"**/2-3-gradients-through-the-jacobian.html{anchor}")
    expect(page.locator(anchor)).to_be_in_viewport()
    assert page.problems == []
    page.close()


def test_wide_screen_menu_button_collapses_and_restores_the_chapter_list(browser, site, expect):
    base, _ = site
    width = WIDTHS["desktop"]
    page = watched_page(browser, width, 800)
    page.goto(base + NOTEBOOK, wait_until="networkidle")
    assert_no_top_bar(page)
    chapters, contents = page.locator(CHAPTER_LINKS), page.locator(CONTENTS_LINKS)
    expect(chapters.first).to_be_in_viewport()
    expect(contents.first).to_be_in_viewport()  # wide: the page's contents sit beside the text
    shot(page, f"nav-{width}-start")

    menu = the_visible(page, ".primary-toggle")
    menu.click()
    expect(chapters.first).not_to_be_in_viewport()
    shot(page, f"nav-{width}-chapters-collapsed")
    menu.click()
    expect(chapters.first).to_be_in_viewport()
    shot(page, f"nav-{width}-chapters-restored")
    chapters.filter(has_text="2. Classification").first.click()
    page.wait_for_url(f"**/{CHAPTER}")
    assert page.problems == []
    page.close()


# --- Downloads and search ---


def test_download_button_downloads_the_notebook(browser, site):
    base, _ = site
    page = watched_page(browser)
    page.goto(base + NOTEBOOK, wait_until="networkidle")
    page.get_by_role("button", name="Download this page").click()
    link = page.locator("a.dropdown-item", has_text=".ipynb")
    with page.expect_download(timeout=10_000) as info:
        link.click()
    download = info.value
    assert download.suggested_filename == "2-1-multiclass-classification.ipynb"
    assert "cells" in json.loads(Path(download.path()).read_text())
    assert len(page.context.pages) == 1, "the download also opened a tab"
    assert page.problems == []
    page.close()


def search(page, base: str, query: str) -> list[dict]:
    """Run a query on search.html; return each result's link and snippet."""
    page.goto(base + "search.html?q=" + quote_plus(query), wait_until="networkidle")
    page.wait_for_function("() => /finished/.test(document.querySelector('#search-results .search-summary')?.textContent ?? '')")
    # Each snippet is fetched after the list is shown.
    page.wait_for_function("() => [...document.querySelectorAll('#search-results li')].every(li => li.querySelector('p.context'))")
    return page.evaluate("""() => [...document.querySelectorAll('#search-results li')].map(li => ({
        href: li.querySelector('a').getAttribute('href'), snippet: li.querySelector('p.context').textContent}))""")


def test_search_finds_sections_whatever_the_hyphens_and_shows_no_tex(browser, site):
    base, _ = site
    page = watched_page(browser)
    found = {query: search(page, base, query) for query in ("cross entropy", "cross-entropy", "softmax", "jacobian")}
    for query in ("cross entropy", "cross-entropy"):
        hrefs = [result["href"] for result in found[query]]
        assert f"{NOTEBOOK.removesuffix('.html')}.html#cross-entropy" in hrefs, f"{query!r} did not find the section: {hrefs}"
    tex = {(query, result["href"]): RAW_TEX.findall(result["snippet"])
           for query, results in found.items() for result in results if RAW_TEX.search(result["snippet"])}
    assert tex == {}, f"snippets with TeX in them: {tex}"
    shot(page, "search-jacobian")
    assert page.problems == []
    page.close()


def test_search_page_shows_one_search_box_besides_its_own(browser, site):
    base, _ = site
    page = watched_page(browser)
    page.goto(base + "search.html", wait_until="networkidle")
    fields = page.locator(".search-button-field:visible, form input[name='q']:visible")
    assert fields.count() == 2, f"{fields.count()} search boxes: the sidebar's and the page's form expected"
    page.close()


# --- Code blocks in the text column ---

# Every shown code block or output that is wider than its box, with its first and widest lines.
WIDE_BLOCKS = """() => [...new Set(document.querySelectorAll('div.highlight pre, .output pre, .cell_output'))]
  .filter(el => el.getClientRects().length && el.scrollWidth > el.clientWidth + 1)
  .map(el => { const lines = el.textContent.split('\\n');
    return {first: lines[0].slice(0, 70), widest: Math.max(...lines.map(l => l.length)), overflow: el.scrollWidth - el.clientWidth}; })"""

# How many characters of the code font one line of a code block holds.
CODE_COLUMN = """() => { const pre = document.querySelector('div.highlight pre'); const style = getComputedStyle(pre);
  const probe = document.createElement('span'); probe.textContent = 'x'.repeat(200); pre.appendChild(probe);
  const char = probe.getBoundingClientRect().width / 200; probe.remove();
  const room = pre.clientWidth - parseFloat(style.paddingLeft) - parseFloat(style.paddingRight);
  return {characters: Math.floor(room / char), room, char, font: style.fontFamily, size: style.fontSize}; }"""


def test_no_code_block_scrolls_sideways_on_a_wide_screen(browser, site, book_pages):
    base, _ = site
    offenders, column = [], None
    for page_path in (p for p in book_pages if p.startswith("content/")):
        page = watched_page(browser, WIDTHS["desktop"])
        page.goto(base + page_path, wait_until="networkidle")
        wait_for_math(page)
        offenders += [{"page": page_path, **block} for block in page.evaluate(WIDE_BLOCKS)]
        if column is None and page.locator("div.highlight pre").count():
            column = page.evaluate(CODE_COLUMN)
        page.close()
    BUILD.mkdir(exist_ok=True)
    (BUILD / "code-column.json").write_text(json.dumps({"column_at_1280px": column, "wide_blocks": offenders}, indent=2) + "\n")
    listing = "\n".join(f"{o['page']}: +{o['overflow']}px, widest line {o['widest']} chars, first line {o['first']!r}" for o in offenders)
    assert not offenders, f"{len(offenders)} code blocks scroll sideways at 1280 px (a line holds {column['characters']} characters):\n{listing}"


def test_the_book_was_built_once_in_this_run(built_book, book_build_log):
    """The book and browser tests share one build, also when pytest-xdist runs them (make test)."""
    builds = book_build_log.read_text().splitlines()
    assert len(builds) == 1, f"the book was built {len(builds)} times: {builds}"
