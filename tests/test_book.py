"""The book builds with every warning treated as an error (`jupyter-book build -W -n --keep-going`)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session")
def built_book(tmp_path_factory) -> Path:
    """Build the book once into a temporary folder and return its ``_build/html``."""
    out = tmp_path_factory.mktemp("book")
    jb = shutil.which("jupyter-book", path=str(Path(sys.executable).parent)) or "jupyter-book"
    result = subprocess.run(
        [jb, "build", str(ROOT), "--path-output", str(out), "-W", "-n", "--keep-going"],
        capture_output=True, text=True, timeout=900,
    )
    assert result.returncode == 0, f"the book did not build cleanly:\n{result.stdout[-6000:]}\n{result.stderr[-6000:]}"
    return out / "_build" / "html"


@pytest.mark.slow
def test_book_builds_without_warnings(built_book):
    assert (built_book / "index.html").exists()
    for page in ("content/2-classification/classification.html",
                 "content/2-classification/2-1-multiclass-classification.html"):
        assert (built_book / page).exists(), f"{page} was not built"


@pytest.mark.slow
def test_pages_carry_their_math_and_outputs(built_book):
    chapter = (built_book / "content/2-classification/classification.html").read_text()
    assert chapter.count('class="math') >= 10, "the chapter's formulas did not become math blocks"
    notebook = (built_book / "content/2-classification/2-1-multiclass-classification.html").read_text()
    assert "identical per-epoch logs: True" in notebook, "the notebook's stored outputs are not published"
    assert "colab.research.google.com" in notebook, "the Colab launch button is missing"
