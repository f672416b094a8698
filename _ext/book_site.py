"""What the built site needs to work offline, light and without errors in a reader's browser.

1. MathJax from the site itself, so that formulas render with no network. The pinned MathJax 3
   comes from the PyPI package ``django-static-mathjax`` (installed by ``make setup`` from
   requirements.txt; despite its name it needs no Django). Only the pieces the book uses are
   copied to ``_static/mathjax/es5`` (about 1 MB instead of the package's 24 MB): the loader
   ``startup.js`` that ``mathjax_path`` in ``_config.yml`` names, the components listed in
   ``MATHJAX_LOAD`` (TeX input with the packages the book's formulas need, HTML output, hidden
   MathML for screen readers) and the output's web fonts, which the browser fetches one by one
   when a formula needs them. Left out: MathML input, SVG output, speech and the right-click menu
   (425 kB on every page). A macro of a package not listed shows as a MathJax error, which
   tests/test_browser.py reports: add the package to ``MATHJAX_PACKAGES``.
2. Each inline script once. Jupyter Book 1 registers sphinx-thebe's configuration script twice,
   and its second ``const THEBE_JS_URL = ...`` is a SyntaxError on every page.
3. A valid default colour mode. pydata-sphinx-theme's page template reads ``default_mode``,
   which sphinx-book-theme leaves empty (and refuses as a theme option), so a reader's first
   visit logs "Got invalid theme mode". "auto" follows the reader's system setting.
4. ``/favicon.ico``. The root ``index.html`` that forwards to the first page has no icon link,
   so a browser may ask for ``/favicon.ico`` (a 404) before it follows; the configured favicon is
   copied there too.
5. Light pages (tests/test_browser.py weighs them). pydata-sphinx-theme loads a 1.5 MB script on
   every page that turns its ``<i class="fa-...">`` icons into SVG; its stylesheet already draws
   the same icons with the Font Awesome web fonts it ships, so the script tag is taken out of the
   pages and the script is not published. Those fonts (275 kB per page) and the stylesheet's
   list of 1,900 icons are cut down to the icons the site uses (``trim_font_awesome``, with
   fontTools and brotli). The search index and its scripts are loaded by the search page only
   (the theme loads them everywhere for a search-as-you-type that is off), and sphinx-design's
   stylesheet and script by the pages that use its components. Source maps (read only by a
   browser's developer tools) and the theme's translation catalogues (used while building,
   never by a page) are not published.
6. Download buttons that download. The theme's "Download .ipynb" / ".md" buttons are links that
   open the raw file in a new tab; they get a ``download`` attribute instead.
7. ``_ext/static/book-site.css``: the few places where the theme's look relied on that script.
8. Search without raw TeX in its snippets, and with titles found whatever the punctuation
   ("cross entropy" finds "Cross-entropy"): ``_ext/static/book-search.js``, on the search page only.
9. No live-code machinery. Jupyter Book 1 always loads sphinx-thebe, which ships a script, a
   stylesheet and a Binder configuration (pointing at someone else's repository) on every page,
   although the book has no live-code button (``launch_buttons: thebe`` is off). They are taken
   out of the pages and not published.
10. A search index of words, not TeX. Sphinx indexes the source of every formula, so that
    ``frac`` matched 12 pages and ``mathbf`` 14; formulas are left out of the index (their
    words, "softmax", "Jacobian", are in the prose around them). And no empty general index
    page (``html_use_index: false`` in ``_config.yml``): the book has no index entries.
11. ``_ext/static/book-site.js``: printing opens every collapsed cell and solution; a narrow
    screen's drawers close after a tap on one of their links; no tooltip stays after a tap. The
    print and narrow-screen rules of ``book-site.css`` go with it (code lines of 79 characters
    on A4; a visible cue on a display equation wider than the screen).
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

from docutils import nodes
from sphinx.application import Sphinx
from sphinx.errors import ExtensionError
from sphinx.search import IndexBuilder
from sphinx.util import logging

logger = logging.getLogger(__name__)

PREFIX = "mathjax/es5/"
# TeX packages beyond MathJax's base ones: ams (align, split, aligned, \operatorname, \dfrac...)
# and boldsymbol.
MATHJAX_PACKAGES = ["ams", "boldsymbol"]
MATHJAX_LOAD = ["input/tex-base", *(f"[tex]/{name}" for name in MATHJAX_PACKAGES), "output/chtml",
                "a11y/assistive-mml"]
# What the components above fetch, as files under es5/ (core.js is loaded by each of them, the
# font data by output/chtml); the woff-v2 fonts are fetched on demand by the CSS.
MATHJAX_FILES = ["startup.js", "core.js", "input/tex-base.js",
                 *(f"input/tex/extensions/{name}.js" for name in MATHJAX_PACKAGES),
                 "output/chtml.js", "output/chtml/fonts/tex.js", "a11y/assistive-mml.js"]
MATHJAX_FONTS = "output/chtml/fonts/woff-v2"

FONTAWESOME_SCRIPT = re.compile(r'[ \t]*<script\b[^>]*\bsrc="[^"]*_static/scripts/fontawesome\.js[^"]*"[^>]*>\s*</script>\n?')
DOWNLOAD_LINK = re.compile(r'<a href="(?P<href>[^"]*_sources/[^"]+)" target="_blank"(?P<rest>\s+class="[^"]*btn-download-(?:notebook|source)-button)')
SEARCH_SCRIPT = re.compile(r'[ \t]*<script src="[^"]*(?:_static/searchtools\.js|_static/language_data\.js|searchindex\.js)"></script>\n?')
SPHINX_DESIGN_ASSETS = ("sphinx-design.min.css", "design-tabs.js")
# Font Awesome as pydata-sphinx-theme ships it: a stylesheet with one rule per icon name
# (`.fa-bars:before,.fa-navicon:before{content:"\f0c9"}`) and the fonts that draw them.
FA_STYLESHEET = "_static/styles/pydata-sphinx-theme.css"
FA_FONTS = "_static/vendor/fontawesome/webfonts"
FA_ICON_RULE = re.compile(r'(?P<selectors>\.fa-[a-z0-9-]+::?before(?:,\.fa-[a-z0-9-]+::?before)*)\{content:"(?P<content>[^"]*)"\}')
FA_NAME = re.compile(r"\bfa-[a-z0-9]+(?:-[a-z0-9]+)*")
CSS_STRING = re.compile(r'"((?:[^"\\]|\\.)*)"')
# sphinx-thebe's tags: its stylesheet, its configuration script, its script, and the Binder
# configuration and kernel name it appends to each page's body.
THEBE_TAGS = re.compile(
    r'[ \t]*<link rel="stylesheet" type="text/css" href="[^"]*_static/sphinx-thebe\.css[^"]*" />\n?'
    r'|[ \t]*<script>const THEBE_JS_URL = [^<]*</script>\n?'
    r'|[ \t]*<script async="async" src="[^"]*_static/sphinx-thebe\.js[^"]*"></script>\n?'
    r'|[ \t]*<script type="text/x-thebe-config">.*?</script>\n?'
    r"|[ \t]*<script>kernelName = '[^']*'</script>\n?",
    re.S,
)
UNPUBLISHED = ["_static/sphinx-thebe.js", "_static/sphinx-thebe.css", "_static/scripts/fontawesome.js",
               "_static/scripts/fontawesome.js.LICENSE.txt", "_static/locales"]


def mathjax_es5_dir() -> Path:
    """The ``es5`` folder of the installed MathJax package."""
    try:
        import mathjax  # the django-static-mathjax distribution
    except ImportError as exc:
        raise ExtensionError(
            "MathJax is not installed: run `make setup` (pip install -r requirements.txt "
            "installs the pinned django-static-mathjax package)"
        ) from exc
    es5 = Path(mathjax.__file__).parent / "static" / "mathjax" / "es5"
    if not es5.is_dir():
        raise ExtensionError(f"the installed MathJax package has no es5 folder at {es5}")
    return es5


def check_config(app: Sphinx, config) -> None:
    if config.mathjax_path != PREFIX + "startup.js":
        raise ExtensionError(f"mathjax_path must be {PREFIX + 'startup.js'!r}, the loader of the components "
                             f"that _ext/book_site.py publishes; got {config.mathjax_path!r}")
    es5 = mathjax_es5_dir()
    missing = [name for name in [*MATHJAX_FILES, MATHJAX_FONTS] if not (es5 / name).exists()]
    if missing:
        raise ExtensionError(f"the installed MathJax lacks {missing} (under {es5})")
    # Merged into whatever _config.yml sets; myst-parser adds its processHtmlClass later.
    mj = config.mathjax3_config = dict(config.mathjax3_config or {})
    mj["loader"] = {**mj.get("loader", {}), "load": MATHJAX_LOAD}
    tex = mj["tex"] = dict(mj.get("tex", {}))
    tex["packages"] = {"[+]": MATHJAX_PACKAGES}


def fix_page_context(app: Sphinx, pagename: str, templatename: str, context: dict, doctree) -> None:
    if not context.get("default_mode"):
        context["default_mode"] = "auto"
    if 'class="sd-' not in context.get("body", ""):
        for key in ("css_files", "script_files"):
            if context.get(key):
                context[key] = [asset for asset in context[key]
                                if not str(getattr(asset, "filename", asset) or "").endswith(SPHINX_DESIGN_ASSETS)]
    scripts = context.get("script_files")
    if not scripts:
        return
    seen, unique = set(), []
    for script in scripts:
        # One copy has filename None and the other "", so compare the filename's text.
        key = (getattr(script, "filename", None) or "", tuple(sorted(getattr(script, "attributes", {}).items())))
        if key not in seen:
            seen.add(key)
            unique.append(script)
    context["script_files"] = unique


def add_search_script(app: Sphinx, pagename: str, templatename: str, context: dict, doctree) -> None:
    # Early (priority 100): the theme answers this event for the search page, which ends it there.
    # Deferred, the script runs after searchtools.js (a plain script further down the page) and
    # before the search starts (on DOMContentLoaded).
    if pagename == "search":
        app.add_js_file("book-search.js", loading_method="defer")


def rewrite_page(html: str, search_page: bool = False) -> str:
    """Drop the Font Awesome script tag, sphinx-thebe's tags (and the search scripts, but on the
    search page); make
    the download buttons download. Running it twice changes nothing more."""
    html = FONTAWESOME_SCRIPT.sub("", html)
    html = THEBE_TAGS.sub("", html)
    if not search_page:
        html = SEARCH_SCRIPT.sub("", html)

    def download(match: re.Match) -> str:
        name = match["href"].rsplit("/", 1)[-1]
        return f'<a href="{match["href"]}" download="{name}"{match["rest"]}'

    return DOWNLOAD_LINK.sub(download, html)


def pages(out: Path) -> list[Path]:
    """The built site's HTML pages (the theme's own templates copied to _static left out)."""
    return [page for page in out.rglob("*.html") if page.relative_to(out).parts[0] != "_static"]


def finish_site(app: Sphinx, exception: Exception | None) -> None:
    if exception is not None or app.builder.format != "html":
        return
    out = Path(app.outdir)
    es5, target = mathjax_es5_dir(), out / "_static" / PREFIX
    shutil.rmtree(target, ignore_errors=True)  # a previous build's copy may hold more
    for name in MATHJAX_FILES:
        (target / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(es5 / name, target / name)
    shutil.copytree(es5 / MATHJAX_FONTS, target / MATHJAX_FONTS)

    favicon = app.config.html_favicon
    if favicon and "://" not in favicon:
        shutil.copyfile(Path(app.confdir) / favicon, out / "favicon.ico")

    still_loading = []
    for page in pages(out):
        html = page.read_text(encoding="utf-8")
        new = rewrite_page(html, search_page=page == out / "search.html")
        if new != html:
            page.write_text(new, encoding="utf-8")
        if "scripts/fontawesome.js" in new or "thebe" in new.lower():
            still_loading.append(page.relative_to(out).as_posix())
    if still_loading:
        logger.warning("book_site: pages still load fontawesome.js or thebe (did the theme change its tags?): %s",
                       ", ".join(sorted(still_loading)[:5]))
    for name in UNPUBLISHED:
        path = out / name
        if path.is_dir():
            shutil.rmtree(path)
        else:
            path.unlink(missing_ok=True)
    for source_map in (out / "_static").rglob("*.map"):
        source_map.unlink()
    trim_font_awesome(out)


def css_codepoints(text: str) -> set[int]:
    """The private-use characters (where icon fonts put their glyphs) in a CSS text's strings."""
    found = set()
    for string in CSS_STRING.findall(text):
        chars = re.sub(r"\\([0-9a-fA-F]{1,6}) ?", lambda m: chr(int(m[1], 16)), string)
        found.update(ord(c) for c in chars if 0xE000 <= ord(c) <= 0xF8FF)
    return found


def trim_font_awesome(out: Path) -> None:
    """Keep the Font Awesome icons that the pages and scripts name, and the ones the stylesheets
    draw by themselves (admonition titles and the like): drop the other icon rules from the
    theme's stylesheet and the other glyphs from its fonts."""
    try:
        from fontTools import subset
        import brotli  # noqa: F401  (fontTools writes woff2 with it)
    except ImportError as exc:
        raise ExtensionError("fontTools and brotli are needed to trim the icon fonts: run `make setup`") from exc
    stylesheet, fonts = out / FA_STYLESHEET, out / FA_FONTS
    if not stylesheet.is_file() or not fonts.is_dir():
        logger.warning("book_site: the theme no longer has %s and %s; the icons were not trimmed", FA_STYLESHEET, FA_FONTS)
        return
    named = set()
    for path in [*pages(out), *(out / "_static").rglob("*.js")]:
        if PREFIX not in path.as_posix():
            named.update(FA_NAME.findall(path.read_text(encoding="utf-8", errors="replace")))

    def keep_if_named(rule: re.Match) -> str:
        names = {selector.lstrip(".").split(":")[0] for selector in rule["selectors"].split(",")}
        return rule[0] if names & named else ""

    css = stylesheet.read_text(encoding="utf-8")
    stylesheet.write_text(FA_ICON_RULE.sub(keep_if_named, css), encoding="utf-8")
    glyphs = set()
    for sheet in (out / "_static").rglob("*.css"):
        glyphs |= css_codepoints(sheet.read_text(encoding="utf-8", errors="replace"))
    options = subset.Options()
    options.layout_features = ["*"]
    for font in sorted(fonts.iterdir()):
        if font.suffix not in (".woff2", ".ttf"):
            continue
        options.flavor = "woff2" if font.suffix == ".woff2" else None
        face = subset.load_font(str(font), options)
        subsetter = subset.Subsetter(options)
        subsetter.populate(unicodes=sorted(glyphs))
        subsetter.subset(face)
        subset.save_font(face, str(font), options)


_collect_words = getattr(IndexBuilder, "_word_collector", None)


def collect_words_but_formulas(self: IndexBuilder, doctree: nodes.document):
    """Sphinx 7.4's IndexBuilder._word_collector (it has no option to skip a node), on a copy
    of the page without its formulas."""
    copy = doctree.deepcopy()
    for formula in list(copy.findall(lambda node: isinstance(node, (nodes.math, nodes.math_block)))):
        formula.parent.remove(formula)
    return _collect_words(self, copy)


def add_static_path(app: Sphinx, config) -> None:
    config.html_static_path = [*config.html_static_path, str(Path(__file__).parent / "static")]


def setup(app: Sphinx) -> dict:
    if _collect_words is None:
        raise ExtensionError("book_site: this Sphinx has no IndexBuilder._word_collector (written "
                             "for 7.4): adapt collect_words_but_formulas to it")
    IndexBuilder._word_collector = collect_words_but_formulas
    app.connect("config-inited", check_config)
    app.connect("config-inited", add_static_path)
    app.add_css_file("book-site.css")
    app.add_js_file("book-site.js", loading_method="defer")
    app.connect("html-page-context", add_search_script, priority=100)
    app.connect("html-page-context", fix_page_context, priority=900)
    app.connect("build-finished", finish_site)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
