#!/usr/bin/env python3
"""Write every notebook's Colab/NBViewer links and setup cell, and
tools/_repo.py, from _config.yml.

Usage: python scripts/sync_notebooks.py [--check]

`_config.yml`'s `repository: url / branch` is the one place that names the
public repository. From it this script writes:
  - in each notebook under content/, the links line at the end of the first
    (title) cell;
  - in each notebook, the first code cell, which makes `tools` importable: it
    does nothing where `tools` is installed, and in a fresh runtime (Colab)
    installs the project from the repository. It is tagged `hide-input`, so
    the site shows it behind a toggle (it still runs);
  - tools/_repo.py, the copy of the repository's address that `tools` reads
    for the source links of `show_source` (`tools` has no _config.yml where
    it is installed from the repository).
With --check it changes nothing and exits 1 listing the files that disagree
(the tests run this). No edit changes what a cell prints, so stored outputs
stay valid.
"""

from __future__ import annotations

import sys
from pathlib import Path

import nbformat
import yaml

ROOT = Path(__file__).resolve().parent.parent
LINKS_START = "[Open in Colab]("
SETUP_TAG = "hide-input"

SETUP_TEMPLATE = """\
# Setup: make the course's `tools` importable, here and in Colab.
try:
    import tools
except ModuleNotFoundError:  # a fresh runtime, such as Colab's
    import importlib, os, subprocess, sys

    # Install it from GitHub (IDL_TOOLS_SOURCE: a local build, for tests).
    REPO = "{url}"
    source = os.environ.get("IDL_TOOLS_SOURCE", f"git+{{REPO}}@{branch}")
    pip = [sys.executable, "-m", "pip", "install", "-q"]
    subprocess.run([*pip, source], check=True)
    importlib.invalidate_caches()
    import tools"""

REPO_MODULE = "tools/_repo.py"


def repository() -> tuple[str, str, str]:
    """``(url, "owner/name", branch)`` from _config.yml."""
    config = yaml.safe_load((ROOT / "_config.yml").read_text())
    repo = config.get("repository") or {}
    url, branch = (
        str(repo.get("url", "")).rstrip("/"),
        str(repo.get("branch", "")),
    )
    prefix = "https://github.com/"
    if not url.startswith(prefix) or url.count("/") != 4 or not branch:
        raise SystemExit(
            f"_config.yml: repository.url must be {prefix}OWNER/NAME and "
            f"branch set, got {url!r}, {branch!r}"
        )
    return url, url[len(prefix) :], branch


def links_line(notebook: Path) -> str:
    url, slug, branch = repository()
    path = notebook.relative_to(ROOT).as_posix()
    colab = (
        f"https://colab.research.google.com/github/{slug}/blob/{branch}/{path}"
    )
    nbviewer = f"https://nbviewer.org/github/{slug}/blob/{branch}/{path}"
    return f"{LINKS_START}{colab}) · [Open in NBViewer]({nbviewer})"


def setup_source() -> str:
    url, _, branch = repository()
    return SETUP_TEMPLATE.format(url=url, branch=branch)


def synced(notebook: Path) -> nbformat.NotebookNode:
    """The notebook with its links line and setup cell as _config.yml says."""
    nb = nbformat.read(notebook, as_version=4)
    title = nb.cells[0]
    if title.cell_type != "markdown" or not title.source.startswith("# "):
        raise SystemExit(
            f"{notebook}: the first cell must be a markdown title ('# ...')"
        )
    lines = [
        line
        for line in title.source.rstrip().split("\n")
        if not line.startswith(LINKS_START)
    ]
    while lines and not lines[-1].strip():
        lines.pop()
    title.source = "\n".join(lines) + "\n\n" + links_line(notebook)
    setup = next((c for c in nb.cells if c.cell_type == "code"), None)
    if setup is None or "import tools" not in setup.source:
        raise SystemExit(
            f"{notebook}: the first code cell must be the setup cell that "
            "imports tools"
        )
    setup.source = setup_source()
    tags = setup.metadata.setdefault("tags", [])
    if SETUP_TAG not in tags:
        tags.append(SETUP_TAG)
    return nb


def synced_repo_module(text: str) -> str:
    """``tools/_repo.py``'s text with the URL and branch of _config.yml."""
    url, _, branch = repository()
    lines = []
    for line in text.split("\n"):
        if line.startswith("REPOSITORY_URL = "):
            line = f"REPOSITORY_URL = {url!r}".replace("'", '"')
        elif line.startswith("BRANCH = "):
            line = f"BRANCH = {branch!r}".replace("'", '"')
        lines.append(line)
    return "\n".join(lines)


def notebooks() -> list[Path]:
    return sorted(
        p
        for p in (ROOT / "content").rglob("*.ipynb")
        if ".ipynb_checkpoints" not in p.parts
    )


def main(argv: list[str]) -> int:
    check = "--check" in argv
    stale = []
    for path in notebooks():
        new = nbformat.writes(synced(path)) + "\n"
        if new != path.read_text():
            stale.append(path.relative_to(ROOT))
            if not check:
                path.write_text(new)
    module = ROOT / REPO_MODULE
    text = module.read_text() if module.exists() else ""
    if synced_repo_module(text) != text:
        stale.append(Path(REPO_MODULE))
        if not check:
            module.write_text(synced_repo_module(text))
    verb = "out of date (run `make sync`)" if check else "rewritten"
    for path in stale:
        print(f"{path}: {verb}")
    return 1 if (check and stale) else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
