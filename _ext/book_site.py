"""What the built site needs to work offline and without errors in a reader's browser.

1. MathJax from the site itself, so that formulas render with no network. The pinned MathJax 3
   comes from the PyPI package ``django-static-mathjax`` (installed by ``make setup`` from
   requirements.txt; despite its name it needs no Django). After an HTML build its ``es5``
   bundle (scripts and web fonts, about 100 files) is copied to ``_static/mathjax/es5``, which
   is where ``mathjax_path`` in ``_config.yml`` points.
2. Each inline script once. Jupyter Book 1 registers sphinx-thebe's configuration script twice,
   and its second ``const THEBE_JS_URL = ...`` is a SyntaxError on every page.
3. A valid default colour mode. pydata-sphinx-theme's page template reads ``default_mode``,
   which sphinx-book-theme leaves empty (and refuses as a theme option), so a reader's first
   visit logs "Got invalid theme mode". "auto" follows the reader's system setting.
4. ``/favicon.ico``. The root ``index.html`` that forwards to the first page has no icon link,
   so a browser may ask for ``/favicon.ico`` (a 404) before it follows; the configured favicon is
   copied there too.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from sphinx.application import Sphinx
from sphinx.errors import ExtensionError

PREFIX = "mathjax/es5/"


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
    if not str(config.mathjax_path).startswith(PREFIX):
        raise ExtensionError(f"mathjax_path must start with {PREFIX!r} to load the local copy, got {config.mathjax_path!r}")
    source = mathjax_es5_dir() / str(config.mathjax_path)[len(PREFIX):]
    if not source.is_file():
        raise ExtensionError(f"mathjax_path {config.mathjax_path!r} names no file of the installed MathJax ({source})")


def fix_page_context(app: Sphinx, pagename: str, templatename: str, context: dict, doctree) -> None:
    if not context.get("default_mode"):
        context["default_mode"] = "auto"
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


def copy_assets(app: Sphinx, exception: Exception | None) -> None:
    if exception is not None or app.builder.format != "html":
        return
    shutil.copytree(mathjax_es5_dir(), Path(app.outdir) / "_static" / PREFIX, dirs_exist_ok=True)
    favicon = app.config.html_favicon
    if favicon and "://" not in favicon:
        shutil.copyfile(Path(app.confdir) / favicon, Path(app.outdir) / "favicon.ico")


def setup(app: Sphinx) -> dict:
    app.connect("config-inited", check_config)
    app.connect("html-page-context", fix_page_context, priority=900)
    app.connect("build-finished", copy_assets)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
