"""Shared fixtures: one build of the book per test session, also under pytest-xdist.

``make test`` runs on two workers with ``--dist loadscope``: every test module, and every
notebook under nbval, goes whole to one worker, its cells in order. Modules that share an
expensive session fixture are listed in ``SHARED_FIXTURE_GROUPS`` below; under
``--dist loadscope`` each such group becomes one unit of its own (xdist 3.8 cannot combine
``loadscope`` with ``loadgroup``), and the groups are handed out first, since the book build
is the longest single piece of work. The build itself also sits behind a file lock shared by
the workers, so that even under another scheduler the book is built once per run.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
BUILD_LOG = "book-builds.log"  # one line per build, in the run's shared temporary folder


def _run_folder(tmp_path_factory) -> Path:
    """The temporary folder of this run, shared by all xdist workers (each has a subfolder)."""
    base = tmp_path_factory.getbasetemp()
    return base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base


@pytest.fixture(scope="session")
def book_build_log(tmp_path_factory) -> Path:
    """The file where each build of the book in this run leaves one line."""
    return _run_folder(tmp_path_factory) / BUILD_LOG


@pytest.fixture(scope="session")
def built_book(tmp_path_factory, book_build_log) -> Path:
    """Build the book once per run, warnings as errors, into a temporary folder; return its ``_build/html``.

    The first worker to ask builds; any other waits on the lock and reuses the result, or the
    failure message. With ``BOOK_HTML`` set to a built site (``_build/html``), that one is used
    instead: for an author who re-runs the browser test while changing it, not for ``make test``.
    """
    from filelock import FileLock

    if os.environ.get("BOOK_HTML"):
        built = Path(os.environ["BOOK_HTML"]).resolve()
        assert (built / "index.html").is_file(), f"BOOK_HTML={built} holds no built book"
        with book_build_log.open("a") as log:
            log.write(f"reused {built}\n")
        return built
    shared = _run_folder(tmp_path_factory)
    out, verdict = shared / "book", shared / "book-verdict.txt"
    with FileLock(str(shared / "book.lock")):
        if not verdict.exists():
            jb = shutil.which("jupyter-book", path=str(Path(sys.executable).parent)) or "jupyter-book"
            result = subprocess.run(
                [jb, "build", str(ROOT), "--path-output", str(out), "-W", "-n", "--keep-going"],
                capture_output=True, text=True, timeout=900,
            )
            worker = os.environ.get("PYTEST_XDIST_WORKER", "main")
            with book_build_log.open("a") as log:
                log.write(f"built by {worker}, exit status {result.returncode}\n")
            verdict.write_text(
                "" if result.returncode == 0 else f"{result.stdout[-6000:]}\n{result.stderr[-6000:]}"
            )
    failure = verdict.read_text()
    assert not failure, f"the book did not build cleanly:\n{failure}"
    return out / "_build" / "html"


@pytest.fixture(scope="session")
def book_pages(built_book) -> list[str]:
    """The built book's pages, as paths relative to ``_build/html`` (``_static`` and the like left out)."""
    return sorted(
        p.relative_to(built_book).as_posix()
        for p in built_book.rglob("*.html")
        if not p.relative_to(built_book).parts[0].startswith("_")
    )


# -- loadscope, with groups of modules that share a session fixture ------------------------------
# Modules listed together here go to one worker as one unit, handed out first (the book build
# is the longest single piece of work). Marks cannot do this: xdist 3.8's loadgroup relies on
# ``item._nodeid``, which pytest 9.2 no longer reads, and loadgroup would scatter nbval's cells.
SHARED_FIXTURE_GROUPS = {"book": ("tests/test_book.py", "tests/test_browser.py")}


@pytest.hookimpl(optionalhook=True)  # the hook exists only where pytest-xdist is installed
def pytest_xdist_make_scheduler(config, log):
    """``--dist loadscope`` (one unit per module or notebook), with the groups above as units."""
    if config.getvalue("dist") != "loadscope":
        return None
    from xdist.scheduler import LoadScopeScheduling

    group_of = {module: group for group, modules in SHARED_FIXTURE_GROUPS.items() for module in modules}

    class LoadScopeAndGroupScheduling(LoadScopeScheduling):
        _groups_first = False

        def _split_scope(self, nodeid: str) -> str:
            scope = super()._split_scope(nodeid)
            return "group:" + group_of[scope] if scope in group_of else scope

        def _assign_work_unit(self, node) -> None:
            if not self._groups_first:  # the first hand-out: the groups go first
                self._groups_first = True
                for scope in [s for s in self.workqueue if s.startswith("group:")]:
                    self.workqueue.move_to_end(scope, last=False)
            super()._assign_work_unit(node)

    return LoadScopeAndGroupScheduling(config, log)
