"""The notebooks' Colab links and setup cell: in sync with _config.yml, and working where `tools` is missing.

The Colab path is tested offline: a local wheel of this project stands in for the repository
(the setup cell reads IDL_TOOLS_SOURCE), pip may not use any index, and the fresh virtual
environment borrows torch and numpy from the project's environment, but not `tools`.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))
import sync_notebooks  # noqa: E402

NOTEBOOK = ROOT / "content/2-classification/2-1-multiclass-classification.ipynb"
OWN = ("tools", "inside_deep_learning", "__editable__")  # what the fresh environment must not borrow


def setup_cell(path: Path = NOTEBOOK) -> str:
    nb = nbformat.read(path, as_version=4)
    return next(c.source for c in nb.cells if c.cell_type == "code")


def test_notebooks_agree_with_config():
    result = subprocess.run([sys.executable, str(ROOT / "scripts/sync_notebooks.py"), "--check"],
                            capture_output=True, text=True)
    assert result.returncode == 0, f"run `make sync`:\n{result.stdout}{result.stderr}"


def test_links_and_setup_come_from_the_config():
    url, slug, branch = sync_notebooks.repository()
    nb = nbformat.read(NOTEBOOK, as_version=4)
    path = NOTEBOOK.relative_to(ROOT).as_posix()
    assert f"https://colab.research.google.com/github/{slug}/blob/{branch}/{path}" in nb.cells[0].source
    assert f"https://nbviewer.org/github/{slug}/blob/{branch}/{path}" in nb.cells[0].source
    assert f'REPO = "{url}"' in setup_cell() and f"git+{{REPO}}@{branch}" in setup_cell()


def test_setup_cell_is_collapsed_on_the_site():
    nb = nbformat.read(NOTEBOOK, as_version=4)
    setup = next(c for c in nb.cells if c.cell_type == "code")
    assert "hide-input" in setup.metadata.get("tags", [])


def test_tools_knows_the_repository_of_the_config():
    """tools/_repo.py (read by show_source's links) agrees with _config.yml."""
    from tools import _repo

    url, _, branch = sync_notebooks.repository()
    assert (_repo.REPOSITORY_URL, _repo.BRANCH) == (url, branch)


def test_check_mode_notices_a_stale_notebook(tmp_path, monkeypatch):
    content = tmp_path / "content"
    content.mkdir()
    (tmp_path / "_config.yml").write_text((ROOT / "_config.yml").read_text())
    stale = nbformat.read(NOTEBOOK, as_version=4)
    stale.cells[0].source = "# A title\n\n[Open in Colab](https://example.org/old)"
    nbformat.write(stale, content / "x.ipynb")
    monkeypatch.setattr(sync_notebooks, "ROOT", tmp_path)
    assert sync_notebooks.main(["--check"]) == 1
    assert sync_notebooks.main([]) == 0  # rewrites it
    assert sync_notebooks.main(["--check"]) == 0
    assert "colab.research.google.com/github/" in nbformat.read(content / "x.ipynb", as_version=4).cells[0].source


def test_setup_cell_prints_nothing_where_tools_is_installed():
    result = subprocess.run([sys.executable, "-c", setup_cell()], capture_output=True, text=True, cwd=ROOT / "content")
    assert result.returncode == 0, result.stderr
    assert (result.stdout, result.stderr) == ("", "")


@pytest.mark.slow
def test_setup_cell_installs_tools_in_a_fresh_environment(tmp_path):
    # Build from a copy of what the package needs, so that setuptools writes nothing into the checkout.
    project = tmp_path / "project"
    project.mkdir()
    for name in ("pyproject.toml", "README.md", "LICENSE"):
        shutil.copy(ROOT / name, project / name)
    shutil.copytree(ROOT / "tools", project / "tools", ignore=shutil.ignore_patterns("__pycache__"))
    wheels = tmp_path / "wheels"
    # The wheel is built while the environment is made (the two take about as long).
    building = subprocess.Popen([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation",
                                 "--disable-pip-version-check", "--wheel-dir", str(wheels), str(project)],
                                cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

    # A fresh environment without pip's own copy (ensurepip took most of the test's time): pip,
    # like the heavy dependencies (torch, numpy, ...), is borrowed through a .pth file, and
    # installs into the fresh environment, whose prefix it is run from. tools is left out.
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = venv / "bin" / "python"
    borrowed = tmp_path / "borrowed"
    borrowed.mkdir()
    for entry in Path(sysconfig.get_paths()["purelib"]).iterdir():
        if not entry.name.startswith(OWN):
            (borrowed / entry.name).symlink_to(entry)
    site = subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                          capture_output=True, text=True, check=True).stdout.strip()
    assert Path(site).is_relative_to(venv)
    (Path(site) / "borrowed.pth").write_text(str(borrowed) + "\n")

    out, err = building.communicate(timeout=600)
    assert building.returncode == 0, f"pip wheel failed:\n{out}{err}"
    (wheel,) = wheels.glob("inside_deep_learning-*.whl")
    env = {**os.environ, "IDL_TOOLS_SOURCE": str(wheel), "PIP_NO_INDEX": "1", "PIP_DISABLE_PIP_VERSION_CHECK": "1"}
    env.pop("PYTHONPATH", None)
    run = dict(capture_output=True, text=True, cwd=tmp_path, env=env, timeout=600)
    before = subprocess.run([str(python), "-c", "import tools"], **run)
    assert before.returncode != 0 and "No module named 'tools'" in before.stderr, "tools was already importable"

    check = "\nimport tools\nprint(tools.__file__)\nprint(tools.SoftmaxClassifier(2, 3, seed=0).w.shape)"
    after = subprocess.run([str(python), "-c", setup_cell() + check], **run)
    assert after.returncode == 0, after.stderr
    installed_at, shape = after.stdout.strip().splitlines()[-2:]
    assert Path(installed_at).is_relative_to(venv), f"tools came from {installed_at}, not the fresh environment"
    assert shape == "torch.Size([2, 3])"
