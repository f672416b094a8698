"""The book builds with every warning treated as an error, and works without a network."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent


def toc_pages() -> list[str]:
    """The HTML page of every entry of ``_toc.yml``, in the book's order."""
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    files = [toc["root"]]

    def walk(node: object) -> None:
        if isinstance(node, dict):
            if "file" in node:
                files.append(node["file"])
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    walk(toc["parts"])
    return [f"{f}.html" for f in files]


PAGES = toc_pages()
REMOTE_ASSET = re.compile(r"<(?:script|link)\b[^>]*\b(?:src|href)=[\"'](?:https?:)?//[^\"']+", re.I)

pytestmark = pytest.mark.slow


def test_book_builds_without_warnings(built_book):
    assert (built_book / "index.html").exists()
    for page in PAGES:
        assert (built_book / page).exists(), f"{page} was not built"


def test_pages_carry_their_math_and_outputs(built_book):
    chapter = (built_book / "content/2-classification/classification.html").read_text()
    assert chapter.count('class="math') >= 10, "the chapter's formulas did not become math blocks"
    notebook = (built_book / "content/2-classification/2-1-multiclass-classification.html").read_text()
    assert "identical per-epoch logs: True" in notebook, "the notebook's stored outputs are not published"
    assert "colab.research.google.com" in notebook, "the Colab launch button is missing"


def test_no_page_loads_a_remote_script_or_stylesheet(built_book, book_pages):
    offenders = {page: REMOTE_ASSET.findall((built_book / page).read_text()) for page in book_pages}
    offenders = {page: found for page, found in offenders.items() if found}
    assert offenders == {}, f"pages that need the network: {offenders}"


def test_the_configured_mathjax_is_in_the_build(built_book):
    config = yaml.safe_load((ROOT / "_config.yml").read_text())
    mathjax_path = config["sphinx"]["config"]["mathjax_path"]
    assert not mathjax_path.startswith(("http:", "https:", "//")), "MathJax must be served by the site"
    assert (built_book / "_static" / mathjax_path).is_file(), f"_static/{mathjax_path} is missing from the build"
    assert (built_book / "_static/mathjax/es5/output/chtml/fonts/woff-v2/MathJax_Main-Regular.woff").is_file()
    chapter = (built_book / "content/2-classification/classification.html").read_text()
    assert f"_static/{mathjax_path}" in chapter, "the pages do not load the local MathJax"


def size(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())


def test_only_what_pages_load_is_published(built_book, book_pages):
    """The site was 32 MB, 24 of them an unused MathJax; tests/test_browser.py proves that
    nothing a page asks for is missing."""
    mathjax = built_book / "_static/mathjax"
    assert size(mathjax) < 1_500_000, f"{size(mathjax):,} bytes of MathJax published"
    assert not (mathjax / "es5/sre").exists() and not (mathjax / "es5/tex-mml-chtml.js").exists()
    assert not list(built_book.rglob("*.map")), "source maps are published"
    assert not (built_book / "_static/scripts/fontawesome.js").exists()
    for page in book_pages:
        assert "fontawesome.js" not in (built_book / page).read_text(), f"{page} loads the Font Awesome script"
    # What the site ships besides the book's own pages, figures and notebooks (which grow
    # with every chapter): themes, scripts, fonts, MathJax.
    machinery = size(built_book / "_static")
    assert machinery < 2_500_000, f"_static weighs {machinery:,} bytes"
    big = {f.relative_to(built_book).as_posix(): f.stat().st_size
           for f in built_book.rglob("*") if f.is_file() and f.stat().st_size > 1_000_000}
    assert big == {}, f"files over 1 MB in the site: {big}"


def test_download_buttons_download(built_book):
    notebook = (built_book / "content/2-classification/2-1-multiclass-classification.html").read_text()
    assert 'download="2-1-multiclass-classification.ipynb"' in notebook
    chapter = (built_book / "content/2-classification/classification.html").read_text()
    assert 'download="classification.md"' in chapter


def test_the_regex_catches_remote_assets():
    assert REMOTE_ASSET.search('<script defer src="https://cdn.example.org/mathjax.js"></script>')
    assert REMOTE_ASSET.search("<link rel='stylesheet' href='//fonts.example.org/x.css'>")
    assert not REMOTE_ASSET.search('<script src="../_static/mathjax/es5/tex-mml-chtml.js"></script>')
    assert not REMOTE_ASSET.search('<a href="https://colab.research.google.com/">Colab</a>')


def test_the_search_index_holds_words_not_tex(built_book):
    """Formulas are left out of the search index (_ext/book_site.py): ``frac`` matched 12 pages."""
    index = (built_book / "searchindex.js").read_text()
    terms = json.loads(index[index.index("(") + 1 : index.rindex(")")])["terms"]
    assert {"softmax", "jacobian", "backpropag"} & set(terms), "the index lost the prose"
    # TeX commands that only the page's formulas use (a figure's mathtext label in a code cell,
    # such as r"$\varphi(z)$", is code, and code stays searchable).
    tex = sorted({"frac", "mathbf", "operatornam", "qquad", "begin", "lvert"} & set(terms))
    assert tex == [], f"TeX commands indexed as words: {tex}"
    assert not (built_book / "genindex.html").exists(), "the empty general index is published"
