"""Open the built book in headless Chromium, as a reader would, with no network.

Every page is opened once, and every check that needs a page is made in that one visit, at three
sizes (the pages share the browser's cache; a page's weight counts every file it loads all the
same):

- 1280 px (a laptop): no console error, failed request or HTTP error; every formula rendered
  by MathJax (no raw `$$` or `\\(` left, no MathJax error); every image loaded, with real alt
  text (not empty, not a file name); every icon's glyph in the trimmed icon font; every internal
  link (and its #anchor) resolves; no code block and no display equation wider than its box;
  every collapsed solution cell says which exercise it solves; the bytes the page loads are
  counted (`_build/page-weights.json`; the first page must stay under 1.5 MB).
- 390 px (a phone): a display equation wider than the screen shows a cue that it goes on (the
  scroll shadow of `_ext/static/book-site.css`); the page itself does not scroll sideways.
- print (A4: CSS print media, 718 px, the text width of an A4 page with 10 mm margins, after
  the browser's `beforeprint` event): every collapsed cell and solution open, no display
  equation and no code block wider than the column (paper cannot scroll), a 79-character code
  line fits.

The pages are visited several at a time (asyncio, one browser), and so are the scenarios of
what a reader does: open the chapter list and the page's contents at phone, tablet and desktop
widths and follow a link (the phone's drawer then closes); tap the buttons (no tooltip stays);
print a page (`page.pdf()`: the browser's own print opens every solution); download a notebook;
search. With BOOK_SCREENSHOTS=1 in the environment a screenshot of each page (1280 and 390 px)
and of each menu state is saved under `_build/screenshots/`.

The browser is Debian's `chromium` (or an installed Google Chrome), driven by Playwright, which
downloads nothing here. Without it the test is skipped with the command that installs it; under
CI it fails instead.
"""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import gzip
import http.server
import json
import os
import re
import shutil
import threading
import time
import traceback
from pathlib import Path
from urllib.parse import quote_plus, urldefrag, urljoin, urlparse

import pytest

ROOT = Path(__file__).resolve().parent.parent
BUILD = ROOT / "_build"
SCREENSHOTS = BUILD / "screenshots"
SAVE_SCREENSHOTS = bool(os.environ.get("BOOK_SCREENSHOTS"))
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
FIRST_PAGE = "index.html"  # forwards to the book's first page; its bytes count too
FIRST_PAGE_BUDGET = 1_500_000
CHAPTER = "content/2-classification/classification.html"
NOTEBOOK = "content/2-classification/2-1-multiclass-classification.html"
PRINTED = "content/2-classification/2-2-multiclass-classification-keras.html"  # hidden cells, solutions
# What a reader does with the menus, buttons and downloads does not depend on the page: the
# scenarios use light ones (few formulas), since each loads its page afresh.
LIGHT_PAGE = "content/intro.html"
LIGHT_NOTEBOOK = "content/2-classification/2-2-multiclass-classification-keras.html"
MENU_TARGET = "content/appendix/benchmarks.html"  # a top-level entry of the chapter list
WIDTHS = {"phone": 390, "tablet": 800, "desktop": 1280}
# A4 is 210 mm wide; less Chrome's default print margins (about 10 mm a side) that is 190 mm,
# 718 CSS pixels at 96 px per inch.
PRINT_WIDTH = 718
CODE_LINE = 79  # the width tools/ and the notebooks are formatted to (ruff, CONTRIBUTING.md)
# Pages open at once: the browser's renderers share the machine's cores with the test process.
CONCURRENCY = max(2, min(6, 2 * (os.cpu_count() or 1)))
# The icon fonts that pydata-sphinx-theme's stylesheet draws with, by CSS family and weight.
ICON_FONTS = {("Font Awesome 6 Free", "900"): "fa-solid-900.woff2",
              ("Font Awesome 6 Free", "400"): "fa-regular-400.woff2",
              ("Font Awesome 6 Brands", "400"): "fa-brands-400.woff2"}
RAW_TEX = re.compile(r"\\[A-Za-z]+|\\[()\[\]]|\$\$")
# Alt text that is no description: a file name or path, a hash, a single word.
FILE_LIKE_ALT = re.compile(r"\.(?:png|jpe?g|gif|svg|webp)\b|_images/|^\S*/\S*$|\b[0-9a-f]{12,}\b", re.IGNORECASE)
SOLUTION_CODE = re.compile(r"#\s*Solution to exercise (\d+)\b")

pytestmark = pytest.mark.slow


def find_chromium() -> str | None:
    """Debian's headless shell (lighter: scripts/install_browser.sh) or chromium, or the Chrome
    that GitHub's Ubuntu runners ship."""
    names = ("chromium-headless-shell", "chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
    return next((path for path in map(shutil.which, names) if path), None)


def chromium_or_skip() -> str:
    executable = find_chromium()
    advice = "install it with `sudo apt-get install chromium` (make test does so when run as root)"
    if executable is None:
        if os.environ.get("CI"):
            pytest.fail(f"Chromium is missing on CI: {advice}")
        pytest.skip(f"Chromium is not installed: {advice}")
    pytest.importorskip("playwright.async_api", reason="playwright is not installed: run `make setup`")
    return executable


@pytest.fixture(scope="module")
def site(built_book):
    """Serve the built book on 127.0.0.1 (an ephemeral port) for the duration of the tests."""

    class Quiet(http.server.SimpleHTTPRequestHandler):
        # As GitHub Pages serves it: a browser shows this type in a tab rather than saving it.
        extensions_map = {**http.server.SimpleHTTPRequestHandler.extensions_map, ".ipynb": "application/json"}

        def log_message(self, *args):
            pass

    class Server(http.server.ThreadingHTTPServer):
        def handle_error(self, request, client_address):
            pass  # a page closed while a file was on its way (BrokenPipe): nothing to report

    server = Server(("127.0.0.1", 0), functools.partial(Quiet, directory=str(built_book)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/", built_book
    server.shutdown()
    thread.join(timeout=5)


# --- What one visit measures, in the page ----------------------------------------------------

# Every element, or ::before / ::after, drawn with an icon font: its font and the characters.
ICONS_SHOWN = """() => {
  const shown = [];
  // MathJax's glyphs and highlighted code (thousands of elements) draw no icon: skip them.
  const walker = document.createTreeWalker(document.documentElement, NodeFilter.SHOW_ELEMENT,
    {acceptNode: el => el.tagName === 'MJX-CONTAINER' || el.tagName === 'PRE' ? NodeFilter.FILTER_REJECT : NodeFilter.FILTER_ACCEPT});
  for (let el = walker.currentNode; el; el = walker.nextNode()) {
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

# Helpers shared by the probes below (defined on the page once).
PROBE_HELPERS = """() => {
  window.__book = {
    // Every shown code block or output wider than its box, with its first and widest lines.
    wideBlocks: () => [...new Set(document.querySelectorAll('div.highlight pre, .output pre, .cell_output'))]
      .filter(el => el.getClientRects().length && el.scrollWidth > el.clientWidth + 1)
      .map(el => { const lines = el.textContent.split('\\n');
        return {first: lines[0].slice(0, 70), widest: Math.max(...lines.map(l => l.length)),
                overflow: el.scrollWidth - el.clientWidth}; }),
    // How many characters of the code font one line of a code block holds.
    codeColumn: () => { const pre = document.querySelector('div.highlight pre'); if (!pre) return null;
      const style = getComputedStyle(pre);
      const probe = document.createElement('span'); probe.textContent = 'x'.repeat(200); pre.appendChild(probe);
      const char = probe.getBoundingClientRect().width / 200; probe.remove();
      const room = pre.clientWidth - parseFloat(style.paddingLeft) - parseFloat(style.paddingRight);
      return {characters: Math.floor(room / char), room, char, size: style.fontSize}; },
    // Every shown display equation: its number, TeX, and how far it is wider than its box.
    equations: () => [...document.querySelectorAll('div.math mjx-container[display="true"]')]
      .filter(el => el.getClientRects().length)
      .map(el => { const box = el.closest('div.math');
        let tex = '';
        try { tex = MathJax.startup.document.getMathItemsWithin(box)[0].math; } catch (e) { tex = box.textContent; }
        const style = getComputedStyle(el);
        return {number: (box.querySelector('.eqno') || {textContent: ''}).textContent.replace('#', '').trim(),
                tex: tex.replace(/\\s+/g, ' ').trim().slice(0, 80),
                overflow: el.scrollWidth - el.clientWidth,
                cue: /radial-gradient.*radial-gradient/.test(style.backgroundImage)
                     && /local/.test(style.backgroundAttachment) && /scroll/.test(style.backgroundAttachment)}; }),
    pageScrollsSideways: () => document.scrollingElement.scrollWidth > window.innerWidth + 1,
  };
}"""

DESKTOP_PROBE = """() => {
  const book = window.__book;
  const article = document.querySelector('article');
  const text = (article || document.body).innerText;
  return {
    unrendered: [...document.querySelectorAll('.math')].filter(m => !m.querySelector('mjx-container'))
                  .map(m => m.textContent.trim().slice(0, 60)),
    mathErrors: [...document.querySelectorAll('mjx-merror')].map(e => e.getAttribute('data-mjx-error') || e.textContent),
    rawDelimiters: ['$$', '\\\\(', '\\\\['].filter(d => text.includes(d)),
    brokenImages: [...document.images].filter(i => i.naturalWidth === 0).map(i => i.src),
    images: [...document.querySelectorAll('article img')].map(i => ({src: i.getAttribute('src'), alt: i.getAttribute('alt')})),
    hrefs: [...new Set([...document.querySelectorAll('a[href]')].map(a => a.getAttribute('href')))],
    wideBlocks: book.wideBlocks(),
    codeColumn: book.codeColumn(),
    equations: book.equations(),
    sideways: book.pageScrollsSideways(),
    // MyST-NB's collapsed cells: the label of the toggle and the first line of the code.
    toggles: [...document.querySelectorAll('article details.hide')].map(d => ({
      label: (d.querySelector('summary .collapsed') || d.querySelector('summary')).textContent.trim(),
      code: ((d.querySelector('pre') || {textContent: ''}).textContent.split('\\n')[0] || '').trim()})),
  };
}"""

PRINT_PROBE = """() => {
  const book = window.__book;
  return {
    closed: [...document.querySelectorAll('article details:not([open]), article .toggle-hidden')]
              .map(el => (el.querySelector('summary, .admonition-title') || el).textContent.trim().slice(0, 60)),
    wideBlocks: book.wideBlocks(),
    codeColumn: book.codeColumn(),
    equations: book.equations(),
  };
}"""

# The page and every file it loaded (scripts, styles, fonts, images), by URL.
RESOURCES = """() => [...performance.getEntriesByType('navigation'), ...performance.getEntriesByType('resource')]
  .map(e => e.name.split('#')[0].split('?')[0])"""

PHONE_PROBE = """() => ({equations: window.__book.equations(), sideways: window.__book.pageScrollsSideways()})"""


@functools.lru_cache(maxsize=None)
def font_codepoints(font: Path) -> frozenset[int]:
    from fontTools.ttLib import TTFont

    return frozenset(TTFont(str(font)).getBestCmap())


@functools.lru_cache(maxsize=None)
def file_weight(file: Path) -> tuple[int, int]:
    """Bytes of ``file``, and gzip-compressed (most pages share their scripts, fonts, styles)."""
    body = file.read_bytes()
    return len(body), len(gzip.compress(body, 6))


@functools.lru_cache(maxsize=None)
def page_ids(local: Path) -> str:
    return local.read_text(errors="replace")


@dataclasses.dataclass
class PageReport:
    """What one visit found. ``problems``: what is wrong whatever the text says (errors, broken
    links and images, unrendered math); the other lists feed one test each."""

    problems: list[str] = dataclasses.field(default_factory=list)
    bytes: int = 0  # the files the page loads, as served (our server, like a file system, does not compress)
    gzip_bytes: int = 0  # the same files gzip-compressed, as most web servers would send them
    wide_code: list[dict] = dataclasses.field(default_factory=list)  # at 1280 px
    code_column: dict | None = None  # at 1280 px
    wide_equations: dict[str, list[dict]] = dataclasses.field(default_factory=dict)  # by width
    no_cue: list[dict] = dataclasses.field(default_factory=list)  # wide at 390 px, with no cue
    sideways: list[str] = dataclasses.field(default_factory=list)  # widths where the page scrolls
    bad_alt: list[dict] = dataclasses.field(default_factory=list)
    unlabelled_solutions: list[dict] = dataclasses.field(default_factory=list)
    print_closed: list[str] = dataclasses.field(default_factory=list)
    print_wide_code: list[dict] = dataclasses.field(default_factory=list)
    print_code_column: dict | None = None
    seconds: float = 0.0
    phases: dict[str, float] = dataclasses.field(default_factory=dict)  # seconds, by phase

    def lap(self, phase: str, since: list[float]) -> None:
        now = time.monotonic()
        self.phases[phase] = round(now - since[0], 2)
        since[0] = now


def alt_problem(alt: str | None) -> str | None:
    """Why ``alt`` is no description of an image, or None when it is one."""
    if alt is None or not alt.strip():
        return "no alt text"
    if FILE_LIKE_ALT.search(alt):
        return "a file name or hash"
    if len(alt.split()) < 2:
        return "a single word"
    return None


def toggle_problem(toggle: dict) -> str | None:
    """A collapsed solution cell whose toggle does not say which exercise it solves."""
    found = SOLUTION_CODE.match(toggle["code"])
    if not found:
        return None
    k = found.group(1)
    if not re.search(rf"\bsolution\s+(?:to\s+exercise\s+)?{k}\b", toggle["label"], re.IGNORECASE):
        return f"the toggle of solution {k} says {toggle['label']!r}"
    return None


def watch(page, problems: list[str]) -> None:
    page.on("console", lambda msg: msg.type == "error" and problems.append(f"console error: {msg.text}"))
    page.on("pageerror", lambda exc: problems.append(f"script error: {exc}"))
    page.on("requestfailed", lambda req: problems.append(f"request failed: {req.url} ({req.failure})"))
    page.on("response", lambda r: r.status >= 400 and problems.append(f"HTTP {r.status}: {r.url}"))


async def new_page(browser, width: int = 1280, height: int = 900, **options):
    """A page in a fresh context (an empty cache) whose errors land in ``page.problems``."""
    context = await browser.new_context(viewport={"width": width, "height": height}, **options)
    page = await context.new_page()
    page.problems = []
    watch(page, page.problems)
    return page


async def wait_until_ready(page) -> None:
    """Formulas typeset, every image (lazy ones too) and web font loaded."""
    await page.evaluate("""async () => {
      if (document.querySelector('.math')) {
        while (!(window.MathJax && MathJax.startup && MathJax.startup.promise)) await new Promise(r => setTimeout(r, 20));
        await MathJax.startup.promise;
      }
      document.querySelectorAll('img').forEach(img => img.loading = 'eager');
      await Promise.all([...document.images].map(img => img.complete ? null : new Promise(r => { img.onload = img.onerror = r; })));
      await document.fonts.ready;
    }""")


async def settle(page, inflight: set, timeout: float = 10.0) -> None:
    """Wait until no request of the page is in flight (fonts and images fetched late count too)."""
    deadline = time.monotonic() + timeout
    while inflight and time.monotonic() < deadline:
        await asyncio.sleep(0.02)


async def screenshot(page, name: str, full_page: bool = False) -> None:
    if SAVE_SCREENSHOTS:
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        await page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=full_page)


async def check_page(context, base: str, built: Path, page_path: str) -> PageReport:
    """Open one page in ``context``; report what is wrong with it at 1280 px, in print and at
    390 px, and what it weighs."""
    started = time.monotonic()
    since = [started]
    page = await context.new_page()
    await page.set_viewport_size({"width": WIDTHS["desktop"], "height": 900})
    page.problems = []
    watch(page, page.problems)
    report = PageReport(page.problems)
    inflight = set()
    page.on("request", lambda r: inflight.add(r))
    page.on("requestfinished", lambda r: inflight.discard(r))
    page.on("requestfailed", lambda r: inflight.discard(r))
    try:
        await page.goto(base + page_path, wait_until="load")
        local = built / page_path
        if local.is_file() and 'http-equiv="refresh"' in page_ids(local).lower():  # index.html forwards
            await page.wait_for_url(lambda u: not u.endswith("/" + page_path))
            await page.wait_for_load_state("load")
        url = page.url
        report.lap("load", since)
        await wait_until_ready(page)
        report.lap("ready", since)
        await page.evaluate(PROBE_HELPERS)
        found = await page.evaluate(DESKTOP_PROBE)
        report.lap("probe", since)
        problems = report.problems
        problems += [f"formula not rendered: {tex}" for tex in found["unrendered"]]
        problems += [f"MathJax error: {error}" for error in found["mathErrors"]]
        problems += [f"raw math delimiter {raw!r} left in the text" for raw in found["rawDelimiters"]]
        problems += [f"image did not load: {src}" for src in found["brokenImages"]]

        # Icons: the site's icon fonts are trimmed to the icons it uses; each one shown must be there.
        fonts = built / "_static/vendor/fontawesome/webfonts"
        for icon in await page.evaluate(ICONS_SHOWN):
            font = fonts / ICON_FONTS.get((icon["family"], icon["weight"]), "unknown")
            missing = [cp for cp in icon["codepoints"] if not font.is_file() or cp not in font_codepoints(font)]
            if missing:
                problems.append(f"icon {icon['element']} draws {[hex(cp) for cp in missing]}, not in {font.name}")
        report.lap("icons", since)

        # Internal links: the target page exists and so does its #anchor.
        for href in sorted(found["hrefs"]):
            target = urljoin(url, href)
            if urlparse(target).netloc != urlparse(base).netloc:
                continue
            target_url, anchor = urldefrag(target)
            local = built / urlparse(target_url).path.lstrip("/")
            if local.is_dir():
                local = local / "index.html"
            if not local.is_file():
                problems.append(f"broken link: {href}")
            elif anchor and local.suffix == ".html" and f'id="{anchor}"' not in page_ids(local):
                problems.append(f"broken anchor: {href}")
        report.lap("links", since)

        report.wide_code, report.code_column = found["wideBlocks"], found["codeColumn"]
        report.wide_equations["1280 px"] = [e for e in found["equations"] if e["overflow"] > 1]
        report.sideways += ["1280 px"] if found["sideways"] else []
        report.bad_alt = [{"src": i["src"], "alt": i["alt"], "why": why}
                          for i in found["images"] if (why := alt_problem(i["alt"]))]
        report.unlabelled_solutions = [why for t in found["toggles"] if (why := toggle_problem(t))]
        name = page_path.replace("/", "__").removesuffix(".html")
        await screenshot(page, name, full_page=True)
        report.lap("screenshot", since)

        # A phone.
        await page.set_viewport_size({"width": WIDTHS["phone"], "height": 844})
        phone = await page.evaluate(PHONE_PROBE)
        report.no_cue = [e for e in phone["equations"] if e["overflow"] > 1 and not e["cue"]]
        report.sideways += ["390 px"] if phone["sideways"] else []
        report.lap("phone", since)
        await screenshot(page, name + "-390", full_page=True)
        report.lap("screenshot-390", since)

        # Paper, last (the page is not put back): print media at the A4 text width, after the
        # event the browser sends before it prints.
        await page.set_viewport_size({"width": PRINT_WIDTH, "height": 1000})
        await page.emulate_media(media="print")
        await page.evaluate("() => window.dispatchEvent(new Event('beforeprint'))")
        printed = await page.evaluate(PRINT_PROBE)
        report.print_closed = printed["closed"]
        report.print_wide_code, report.print_code_column = printed["wideBlocks"], printed["codeColumn"]
        report.wide_equations["print"] = [e for e in printed["equations"] if e["overflow"] > 1]
        report.lap("print", since)

        # Weight: every file the page asked for (the browser's resource timing lists them, also
        # when they came from the cache that the pages share), as served: our server, like a
        # file system, sends each file as it is.
        await settle(page, inflight)
        urls = await page.evaluate(RESOURCES)
        files = {built / page_path} | {built / urlparse(u).path.lstrip("/") for u in urls
                                       if urlparse(u).netloc == urlparse(base).netloc}
        for file in sorted(f for f in files if f.is_file()):
            size, packed = file_weight(file)
            report.bytes += size
            report.gzip_bytes += packed
        report.lap("weigh", since)
    finally:
        await page.close()
    report.seconds = time.monotonic() - started
    return report


# --- What a reader does: the scenarios ------------------------------------------------------

CHAPTER_LINKS = "nav.bd-links a"  # the book's table of contents
CONTENTS_LINKS = "nav.page-toc a"  # this page's sections


async def the_visible(page, selector: str):
    """The one element matching `selector` that a reader can see (hidden copies do not count)."""
    visible = page.locator(f"{selector}:visible")
    count = await visible.count()
    assert count == 1, f"{count} visible {selector!r} buttons, expected 1"
    return visible.first


async def assert_no_top_bar(page) -> None:
    """pydata-sphinx-theme's header, which sphinx-book-theme does not use, shows nothing."""
    shown = await page.evaluate("() => [...document.querySelectorAll('.bd-header *')].filter(e => e.getClientRects().length).length")
    assert shown == 0, f"the theme's top bar shows {shown} elements"


async def narrow_menus(browser, base: str, width: int) -> None:
    """Open the chapter list, follow a link; open the page's contents, tap a section: the drawer
    closes and the section is in view."""
    from playwright.async_api import expect

    page = await new_page(browser, width, 800, has_touch=True, is_mobile=width < 500)
    await page.goto(base + LIGHT_PAGE, wait_until="load")
    await assert_no_top_bar(page)
    chapters = page.locator(CHAPTER_LINKS)
    await expect(chapters.first).not_to_be_in_viewport()  # narrow: the list starts hidden
    await screenshot(page, f"nav-{width}-start")

    await (await the_visible(page, ".primary-toggle")).tap()
    notebook = MENU_TARGET.rsplit("/", 1)[1]
    target = chapters.locator(f"xpath=self::*[substring(@href, string-length(@href) - {len(notebook) - 1}) = '{notebook}']")
    await expect(chapters.first).to_be_in_viewport()  # the drawer is open
    await target.scroll_into_view_if_needed()  # a reader scrolls the list down to the entry
    await expect(target).to_be_in_viewport()
    await screenshot(page, f"nav-{width}-chapters-open")
    await target.tap()
    await page.wait_for_url(f"**/{notebook}")

    contents = page.locator(CONTENTS_LINKS)
    await expect(contents.first).not_to_be_in_viewport()
    await (await the_visible(page, ".secondary-toggle")).tap()
    drawer = page.locator("dialog#pst-secondary-sidebar-modal")
    await expect(drawer).to_have_attribute("open", "")
    section = page.locator(f"{CONTENTS_LINKS}:visible").nth(1)  # a nested one may be folded
    await expect(section).to_be_in_viewport()
    await screenshot(page, f"nav-{width}-contents-open")
    anchor = await section.get_attribute("href")
    await section.tap()
    await page.wait_for_url(f"**/{notebook}{anchor}")
    await expect(drawer, "the contents drawer stays open after a tap on a section").not_to_have_attribute("open", "")
    await expect(page.locator(anchor)).to_be_in_viewport()
    await page.wait_for_timeout(700)  # longer than the tooltips' delay
    await screenshot(page, f"nav-{width}-contents-followed")
    assert await page.locator(".tooltip:visible").count() == 0, "a tooltip stays after the tap"
    assert page.problems == []
    await page.context.close()


async def wide_menu(browser, base: str) -> None:
    from playwright.async_api import expect

    width = WIDTHS["desktop"]
    page = await new_page(browser, width, 800)
    await page.goto(base + LIGHT_PAGE, wait_until="load")
    await assert_no_top_bar(page)
    chapters, contents = page.locator(CHAPTER_LINKS), page.locator(CONTENTS_LINKS)
    await expect(chapters.first).to_be_in_viewport()
    await expect(contents.first).to_be_in_viewport()  # wide: the page's contents sit beside the text
    await screenshot(page, f"nav-{width}-start")

    menu = await the_visible(page, ".primary-toggle")
    await menu.click()
    await expect(chapters.first).not_to_be_in_viewport()
    await screenshot(page, f"nav-{width}-chapters-collapsed")
    await menu.click()
    await expect(chapters.first).to_be_in_viewport()
    await screenshot(page, f"nav-{width}-chapters-restored")
    await chapters.locator(f"xpath=self::*[contains(@href, '{MENU_TARGET.rsplit('/', 1)[1]}')]").first.click()
    await page.wait_for_url(f"**/{MENU_TARGET}")
    await wait_until_ready(page)
    assert page.problems == []
    await page.context.close()


async def taps_leave_no_tooltip(browser, base: str) -> None:
    """On a touch screen a tap on the colour-mode or search button leaves no tooltip floating
    over the text; a mouse still gets its tooltip."""
    page = await new_page(browser, WIDTHS["phone"], 844, has_touch=True, is_mobile=True)
    await page.goto(base + LIGHT_PAGE, wait_until="load")
    tooltips = page.locator(".tooltip")
    await (await the_visible(page, ".theme-switch-button")).tap()
    await page.wait_for_timeout(800)  # the tooltips show after 500 ms
    await screenshot(page, "tap-colour-mode")
    assert await tooltips.count() == 0, "a tooltip stays after tapping the colour-mode button"
    await (await the_visible(page, ".search-button")).tap()
    await page.wait_for_timeout(800)
    await page.keyboard.press("Escape")  # close the search dialog
    await page.locator("#pst-search-dialog").wait_for(state="hidden")
    await screenshot(page, "tap-search")
    assert await tooltips.count() == 0, "a tooltip stays after tapping the search button"
    assert page.problems == []
    await page.context.close()

    page = await new_page(browser, WIDTHS["desktop"], 800)
    await page.goto(base + LIGHT_PAGE, wait_until="load")
    await (await the_visible(page, ".theme-switch-button")).hover()
    await page.locator(".tooltip").wait_for(state="visible", timeout=10_000)
    await page.context.close()


async def printing_opens_everything(browser, base: str) -> None:
    """The browser's own print (``page.pdf()``, what Ctrl+P and the ".pdf" button run) sends
    ``beforeprint``; by then every collapsed cell and solution of the page is open."""
    page = await new_page(browser)
    await page.goto(base + PRINTED, wait_until="load")
    await wait_until_ready(page)
    closed_before = await page.evaluate("() => document.querySelectorAll('article details:not([open]), article .toggle-hidden').length")
    assert closed_before > 0, "the page has nothing collapsed to open"
    # Registered after the site's own listeners, so it runs after them.
    await page.evaluate("""() => window.addEventListener('beforeprint', () => {
      window.__closedWhenPrinting = [...document.querySelectorAll('article details:not([open]), article .toggle-hidden')]
        .map(el => el.textContent.trim().slice(0, 60)); })""")
    await page.pdf(format="A4")
    closed = await page.evaluate("() => window.__closedWhenPrinting")
    assert closed == [], f"collapsed when printed: {closed}"
    # ... and closed again afterwards, as the reader left them.
    after = await page.evaluate("() => document.querySelectorAll('article details:not([open]), article .toggle-hidden').length")
    assert after == closed_before, f"{closed_before} collapsed before printing, {after} after"
    assert page.problems == []
    await page.context.close()


async def download_notebook(browser, base: str) -> None:
    page = await new_page(browser)
    await page.goto(base + LIGHT_NOTEBOOK, wait_until="load")
    await page.get_by_role("button", name="Download this page").click()
    link = page.locator("a.dropdown-item", has_text=".ipynb")
    async with page.expect_download(timeout=10_000) as info:
        await link.click()
    download = await info.value
    assert download.suggested_filename == LIGHT_NOTEBOOK.rsplit("/", 1)[1].replace(".html", ".ipynb")
    assert "cells" in json.loads(Path(await download.path()).read_text())
    assert len(page.context.pages) == 1, "the download also opened a tab"
    assert page.problems == []
    await page.context.close()


async def search(page, base: str, query: str) -> list[dict]:
    """Run a query on search.html; return each result's link and snippet."""
    await page.goto(base + "search.html?q=" + quote_plus(query), wait_until="load")
    await page.wait_for_function("() => /finished/.test(document.querySelector('#search-results .search-summary')?.textContent ?? '')")
    # Each snippet is fetched after the list is shown.
    await page.wait_for_function("() => [...document.querySelectorAll('#search-results li')].every(li => li.querySelector('p.context'))")
    # The favicon may still be loading: leaving the page now would abort it (a failed request).
    await page.wait_for_load_state("networkidle")
    return await page.evaluate("""() => [...document.querySelectorAll('#search-results li')].map(li => ({
        href: li.querySelector('a').getAttribute('href'), snippet: li.querySelector('p.context').textContent}))""")


async def search_whatever_the_hyphens(browser, base: str) -> None:
    page = await new_page(browser)
    found = {query: await search(page, base, query) for query in ("cross entropy", "cross-entropy", "softmax", "jacobian")}
    for query in ("cross entropy", "cross-entropy"):
        hrefs = [result["href"] for result in found[query]]
        assert f"{NOTEBOOK.removesuffix('.html')}.html#cross-entropy" in hrefs, f"{query!r} did not find the section: {hrefs}"
    tex = {(query, result["href"]): RAW_TEX.findall(result["snippet"])
           for query, results in found.items() for result in results if RAW_TEX.search(result["snippet"])}
    assert tex == {}, f"snippets with TeX in them: {tex}"
    await screenshot(page, "search-jacobian")
    assert page.problems == []
    await page.context.close()


async def one_search_box(browser, base: str) -> None:
    page = await new_page(browser)
    await page.goto(base + "search.html", wait_until="load")
    fields = page.locator(".search-button-field:visible, form input[name='q']:visible")
    count = await fields.count()
    assert count == 2, f"{count} search boxes: the sidebar's and the page's form expected"
    await page.context.close()


BROKEN_PAGE = "_broken_test_page.html"  # "_": not one of the book's pages


async def checker_notices_broken_pages(browser, base: str, built: Path) -> list[str]:
    context = await browser.new_context()
    report = await check_page(context, base, built, BROKEN_PAGE)
    await context.close()
    return report.problems


SCENARIOS = {
    "menus-phone": lambda b, base, built: narrow_menus(b, base, WIDTHS["phone"]),
    "menus-tablet": lambda b, base, built: narrow_menus(b, base, WIDTHS["tablet"]),
    "menus-desktop": lambda b, base, built: wide_menu(b, base),
    "tooltips": lambda b, base, built: taps_leave_no_tooltip(b, base),
    "print": lambda b, base, built: printing_opens_everything(b, base),
    "download": lambda b, base, built: download_notebook(b, base),
    "search": lambda b, base, built: search_whatever_the_hyphens(b, base),
    "search-box": lambda b, base, built: one_search_box(b, base),
    "broken-page": checker_notices_broken_pages,
}


@dataclasses.dataclass
class Walk:
    pages: dict[str, PageReport]
    scenarios: dict[str, object]  # name: what it returned, or the traceback of its failure
    failed: dict[str, str]
    seconds: float
    job_seconds: dict[str, float]  # each scenario's and page's, from its start to its end

    def scenario(self, name: str):
        if name in self.failed:
            pytest.fail(f"{name}:\n{self.failed[name]}", pytrace=False)
        return self.scenarios[name]


async def walk_book(executable: str, base: str, built: Path, pages: list[str]) -> Walk:
    from playwright.async_api import async_playwright

    started = time.monotonic()
    limit = asyncio.Semaphore(CONCURRENCY)
    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        # The pages share one context, and so the browser's cache: a script or font common to
        # all of them is fetched and compiled once (page weights do not depend on it).
        pages_context = await browser.new_context()

        async def run(name, task):
            async with limit:
                started = time.monotonic()
                try:
                    return True, await task()
                except Exception:
                    return False, traceback.format_exc()
                finally:
                    seconds[name] = round(time.monotonic() - started, 2)

        names = list(SCENARIOS)
        jobs = [functools.partial(SCENARIOS[name], browser, base, built) for name in names]
        jobs += [functools.partial(check_page, pages_context, base, built, page) for page in pages]
        # The scenarios first: each is a longer chain of steps than a page's visit.
        seconds: dict[str, float] = {}
        results = await asyncio.gather(*(run(name, job) for name, job in zip([*names, *pages], jobs)))
        await pages_context.close()
        await browser.close()
    scenarios = {name: value for name, (ok, value) in zip(names, results)}
    failed = {name: value for name, (ok, value) in zip(names, results) if not ok}
    reports = {}
    for page, (ok, value) in zip(pages, results[len(names):]):
        reports[page] = value if ok else PageReport([f"the visit failed:\n{value}"])
    return Walk(reports, scenarios, failed, time.monotonic() - started, seconds)


@pytest.fixture(scope="module")
def walk(site, book_pages) -> Walk:
    """Every page visited once and every scenario played, several at a time, in one browser."""
    executable = chromium_or_skip()
    base, built = site
    (built / BROKEN_PAGE).write_text(
        "<html><body><article><p>$$x$$</p><img src='missing.png'><a href='nowhere.html'>x</a>"
        "<script>console.error('boom')</script></article></body></html>"
    )
    try:
        result = asyncio.run(walk_book(executable, base, built, book_pages))
    finally:
        (built / BROKEN_PAGE).unlink()
    BUILD.mkdir(exist_ok=True)
    (BUILD / "browser-walk.json").write_text(json.dumps(
        {"seconds": round(result.seconds, 1), "concurrency": CONCURRENCY, "job_seconds": result.job_seconds,
         "pages": {page: {k: v for k, v in dataclasses.asdict(r).items() if v}
                   for page, r in result.pages.items()}}, indent=1) + "\n")
    return result


def listing(found: dict[str, list], line) -> str:
    return "\n".join(f"{page}: {line(item)}" for page, items in found.items() for item in items)


# --- The tests: each reads what the walk found ------------------------------------------------


def test_every_page_works_in_a_browser(walk):
    assert CHAPTER in walk.pages
    bad = {page: report.problems for page, report in walk.pages.items() if report.problems}
    assert bad == {}, "pages with problems:\n" + "\n".join(f"{p}: {probs}" for p, probs in bad.items())


def test_the_checker_notices_broken_pages(walk):
    """A page with a missing image, a broken link and a console error must be reported."""
    joined = "\n".join(walk.scenario("broken-page"))
    for expected in ("console error: boom", "image did not load", "broken link: nowhere.html", "raw math delimiter", "HTTP 404"):
        assert expected in joined, f"{expected!r} not reported in:\n{joined}"


def test_the_first_page_is_light(walk):
    """Bytes of every response the browser receives while it opens the page, renders its
    formulas and fetches its fonts and images, with an empty cache. Written down for each
    page in _build/page-weights.json, heaviest first."""
    weights = {page: {"bytes": r.bytes, "gzip_bytes": r.gzip_bytes}
               for page, r in sorted(walk.pages.items(), key=lambda item: -item[1].bytes)}
    BUILD.mkdir(exist_ok=True)
    (BUILD / "page-weights.json").write_text(json.dumps(weights, indent=2) + "\n")
    first = weights[FIRST_PAGE]["bytes"]
    assert first < FIRST_PAGE_BUDGET, f"the first page loads {first:,} bytes, over {FIRST_PAGE_BUDGET:,}: {weights}"


def test_no_code_block_scrolls_sideways_on_a_wide_screen(walk):
    offenders = {page: r.wide_code for page, r in walk.pages.items() if r.wide_code}
    column = next((r.code_column for r in walk.pages.values() if r.code_column), None)
    BUILD.mkdir(exist_ok=True)
    (BUILD / "code-column.json").write_text(json.dumps({"column_at_1280px": column, "wide_blocks": offenders}, indent=2) + "\n")
    assert column and column["characters"] >= CODE_LINE, f"a code line at 1280 px holds {column} characters"
    assert not offenders, f"code blocks scroll sideways at 1280 px (a line holds {column['characters']} characters):\n" + listing(
        offenders, lambda o: f"+{o['overflow']}px, widest line {o['widest']} chars, first line {o['first']!r}")


def equation_line(e: dict) -> str:
    return f"{e['number'] or 'unnumbered'} {e['tex']!r}: {e['overflow']} px wider than its box"


@pytest.mark.parametrize("where", ["1280 px", "print"])
def test_every_display_equation_fits_its_box(walk, where):
    """A formula cut at the edge of the column loses its end; on paper nothing can scroll. Break
    a long one by hand (CONTRIBUTING.md, Equations)."""
    offenders = {page: r.wide_equations[where] for page, r in walk.pages.items() if r.wide_equations.get(where)}
    assert not offenders, f"display equations wider than the text column ({where}):\n" + listing(offenders, equation_line)


def test_a_wide_equation_on_a_phone_shows_that_it_goes_on(walk):
    """At 390 px many formulas are wider than the screen; each of those must show a cue (the
    scroll shadow of book-site.css) or be broken into lines that fit."""
    offenders = {page: r.no_cue for page, r in walk.pages.items() if r.no_cue}
    assert not offenders, "display equations cut at 390 px with no cue that they go on:\n" + listing(offenders, equation_line)


def test_no_page_scrolls_sideways(walk):
    offenders = {page: r.sideways for page, r in walk.pages.items() if r.sideways}
    assert offenders == {}, f"pages wider than the screen: {offenders}"


def test_every_image_has_real_alt_text(walk):
    """A screen reader reads the alt text aloud: a description, never a file name or a hash
    (CONTRIBUTING.md, Figures: the cell's mystnb image alt metadata, or {image} :alt:)."""
    offenders = {page: r.bad_alt for page, r in walk.pages.items() if r.bad_alt}
    assert not offenders, "images without a description:\n" + listing(
        offenders, lambda i: f"{i['src']}: {i['why']} ({i['alt']!r})")


def test_every_solution_toggle_says_which_exercise_it_solves(walk):
    """CONTRIBUTING.md, Exercises and solutions: the code cell's mystnb code_prompt_show."""
    offenders = {page: r.unlabelled_solutions for page, r in walk.pages.items() if r.unlabelled_solutions}
    assert not offenders, "solution code behind a toggle that does not name its exercise:\n" + listing(offenders, str)


def test_print_opens_every_solution_and_fits_the_code_on_a4(walk):
    closed = {page: r.print_closed for page, r in walk.pages.items() if r.print_closed}
    assert closed == {}, f"collapsed on paper: {closed}"
    column = next((r.print_code_column for r in walk.pages.values() if r.print_code_column), None)
    assert column and column["characters"] >= CODE_LINE, f"a printed code line holds {column} characters, fewer than {CODE_LINE}"
    wide = {page: r.print_wide_code for page, r in walk.pages.items() if r.print_wide_code}
    assert not wide, "code blocks cut on A4:\n" + listing(
        wide, lambda o: f"+{o['overflow']}px, widest line {o['widest']} chars, first line {o['first']!r}")


def test_printing_a_page_opens_its_solutions(walk):
    walk.scenario("print")


@pytest.mark.parametrize("width", ["phone", "tablet"])
def test_narrow_screens_open_both_menus_follow_their_links_and_close(walk, width):
    walk.scenario(f"menus-{width}")


def test_wide_screen_menu_button_collapses_and_restores_the_chapter_list(walk):
    walk.scenario("menus-desktop")


def test_a_tap_leaves_no_tooltip_floating(walk):
    walk.scenario("tooltips")


def test_download_button_downloads_the_notebook(walk):
    walk.scenario("download")


def test_search_finds_sections_whatever_the_hyphens_and_shows_no_tex(walk):
    walk.scenario("search")


def test_search_page_shows_one_search_box_besides_its_own(walk):
    walk.scenario("search-box")


def test_the_helpers_judge_alt_text_and_toggles():
    assert alt_problem("") and alt_problem(None) and alt_problem("../../_images/e055a1b2c3d4e5f6.png")
    assert alt_problem("e055a1b2c3d4e5f6a7b8") and alt_problem("Figure")
    assert alt_problem("Loss against epoch for three learning rates") is None
    assert alt_problem("Accuracy rises in steps of one sample (1/15) to 0.9") is None
    solution = {"code": "# Solution to exercise 2", "label": "Show code cell content"}
    assert toggle_problem(solution) == "the toggle of solution 2 says 'Show code cell content'"
    assert toggle_problem({**solution, "label": "Show the code of solution 2"}) is None
    assert toggle_problem({**solution, "label": "Show the code of solution 12"})
    assert toggle_problem({"code": "import tools", "label": "Show code cell source"}) is None


def test_the_book_was_built_once_in_this_run(built_book, book_build_log):
    """The book and browser tests share one build, also when pytest-xdist runs them (make test)."""
    builds = book_build_log.read_text().splitlines()
    assert len(builds) == 1, f"the book was built {len(builds)} times: {builds}"
