"""Checks that make nbval's verdict trustworthy, and that the table of contents matches content/.

nbval compares a cell only if it was executed: a notebook saved without outputs passes it
trivially. So every notebook in the book must have been run top to bottom in one fresh kernel
(execution counts 1, 2, 3, ...), store no error, hold outputs, and show nothing that changes
between machines. The first tests below check the checker itself on small made-up notebooks.
"""

from __future__ import annotations

import re
from pathlib import Path

import nbformat
import pytest
import yaml
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output

ROOT = Path(__file__).resolve().parent.parent
CONTENT = ROOT / "content"
PAGE_SUFFIXES = {".md", ".ipynb"}

VOLATILE = {
    "a CUDA device name": re.compile(r"device='cuda|cuda:\d"),
    "a memory address": re.compile(r"\b0x[0-9a-fA-F]{6,}\b"),
    "an absolute path": re.compile(r"(/root/|/home/|/tmp/|/work/|/Users/|[A-Z]:\\\\)"),
    "a timing": re.compile(r"\b\d+(\.\d+)?\s?(ms|µs|us|s)/(step|it|epoch)\b|Wall time|CPU times"),
}
ALLOWED_ERROR_TAGS = {"raises-exception", "nbval-raises-exception"}


def output_text(out: dict) -> str:
    if out.get("output_type") == "stream":
        return "".join(out.get("text", ""))
    data = out.get("data", {})
    return "".join("".join(v) for k, v in data.items() if k.startswith("text/"))


def notebook_problems(nb: dict) -> list[str]:
    """Everything that would make nbval's verdict on ``nb`` meaningless or machine-dependent."""
    problems: list[str] = []
    expected, n_outputs = 1, 0
    for i, cell in enumerate(nb.get("cells", [])):
        if cell.get("cell_type") != "code" or not "".join(cell.get("source", "")).strip():
            continue
        count = cell.get("execution_count")
        if count is None:
            problems.append(f"cell {i}: never executed, so nbval would not compare it")
        elif count != expected:
            problems.append(f"cell {i}: execution_count {count}, expected {expected} (not one in-order run)")
        expected = (count or expected) + 1
        tags = set(cell.get("metadata", {}).get("tags", []))
        for out in cell.get("outputs", []):
            n_outputs += 1
            if out.get("output_type") == "error" and not tags & ALLOWED_ERROR_TAGS:
                problems.append(f"cell {i}: stores an error ({out.get('ename')}: {out.get('evalue')})")
            if out.get("output_type") == "stream" and out.get("name") == "stderr":
                problems.append(f"cell {i}: writes to stderr (a warning?); silence it at its source")
            text = output_text(out)
            for what, pattern in VOLATILE.items():
                if pattern.search(text):
                    problems.append(f"cell {i}: output shows {what}: {pattern.search(text).group(0)!r}")
    if n_outputs == 0:
        problems.append("no cell stores any output: nbval would pass it without checking anything")
    return problems


def book_notebooks() -> list[Path]:
    return sorted(p for p in CONTENT.rglob("*.ipynb") if ".ipynb_checkpoints" not in p.parts)


def toc_files(toc: dict) -> list[str]:
    """Every ``file:`` entry of a jb-book ``_toc.yml``, in order, without suffix."""
    found: list[str] = []

    def walk(node: object) -> None:
        if isinstance(node, dict):
            if "file" in node:
                found.append(str(node["file"]))
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    found.append(str(toc["root"]))
    walk({k: v for k, v in toc.items() if k != "root"})
    return found


# -- the checker, on made-up notebooks ----------------------------------------------------------
def _nb(*cells) -> dict:
    return new_notebook(cells=[new_markdown_cell("# t"), *cells])


def _ran(source: str, count: int, text: str = "ok\n", **kw) -> nbformat.NotebookNode:
    cell = new_code_cell(source, execution_count=count, **kw)
    cell.outputs = [new_output("stream", name="stdout", text=text)]
    return cell


def test_checker_accepts_a_clean_run():
    assert notebook_problems(_nb(_ran("print(1)", 1), _ran("print(2)", 2))) == []


def test_checker_refuses_unexecuted_and_output_free_notebooks():
    problems = notebook_problems(_nb(new_code_cell("print(1)")))
    assert any("never executed" in p for p in problems)
    assert any("no cell stores any output" in p for p in problems)


def test_checker_refuses_out_of_order_runs():
    problems = notebook_problems(_nb(_ran("a", 1), _ran("b", 3)))
    assert problems == ["cell 2: execution_count 3, expected 2 (not one in-order run)"]


def test_checker_refuses_stored_errors_unless_tagged():
    err = new_code_cell("1/0", execution_count=1)
    err.outputs = [new_output("error", ename="ZeroDivisionError", evalue="division by zero", traceback=[])]
    assert any("stores an error" in p for p in notebook_problems(_nb(err, _ran("x", 2))))
    err.metadata["tags"] = ["raises-exception"]
    assert notebook_problems(_nb(err, _ran("x", 2))) == []


@pytest.mark.parametrize(
    "text", ["tensor([1.], device='cuda:0')", "<object at 0x7f3a2b1c9d00>", "/home/me/data.csv", "12ms/step"]
)
def test_checker_refuses_volatile_text(text):
    assert any("output shows" in p for p in notebook_problems(_nb(_ran("x", 1, text=text))))


def test_toc_files_walks_nested_entries():
    toc = {"root": "a", "parts": [{"chapters": [{"file": "b", "sections": [{"file": "c"}]}]}]}
    assert toc_files(toc) == ["a", "b", "c"]


# -- the book's own notebooks and toc ------------------------------------------------------------
def test_the_book_has_notebooks():
    assert book_notebooks(), "content/ holds no notebook"


@pytest.mark.parametrize("path", book_notebooks(), ids=lambda p: p.name)
def test_notebook_was_run_cleanly_in_order(path):
    nb = nbformat.read(path, as_version=4)
    assert notebook_problems(nb) == [], "re-run it with `make refresh`"


@pytest.mark.parametrize("path", book_notebooks(), ids=lambda p: p.name)
def test_notebook_opens_with_title_and_setup(path):
    nb = nbformat.read(path, as_version=4)
    first = nb.cells[0]
    assert first.cell_type == "markdown" and first.source.startswith("# "), "the first cell must be the title"
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert "import tools" in code[0].source and code[0].outputs == [], (
        "the first code cell must make `tools` importable and print nothing where it is installed"
    )


def test_toc_and_content_agree():
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    listed = toc_files(toc)
    assert len(listed) == len(set(listed)), f"_toc.yml lists a page twice: {listed}"
    missing_files = [f for f in listed if not any((ROOT / (f + s)).exists() for s in PAGE_SUFFIXES)]
    assert missing_files == [], f"_toc.yml entries with no file: {missing_files}"
    pages = {
        str(p.relative_to(ROOT).with_suffix(""))
        for p in CONTENT.rglob("*")
        if p.suffix in PAGE_SUFFIXES and ".ipynb_checkpoints" not in p.parts
    }
    unlisted = sorted(pages - set(listed))
    assert unlisted == [], f"pages in content/ missing from _toc.yml: {unlisted}"


# -- exercises have worked solutions -------------------------------------------------------------
SOLUTION_TAG = "hide-cell"
_EXERCISE_ITEM = re.compile(r"^(\d+)\.\s", re.MULTILINE)


def exercise_numbers(nb: dict) -> list[int]:
    """The numbers of the list in the ``## Exercises`` markdown cell (none if it has none)."""
    for cell in nb.get("cells", []):
        source = "".join(cell.get("source", ""))
        if cell.get("cell_type") == "markdown" and "## Exercises" in source:
            listed = source.split("## Exercises", 1)[1].split("\n#", 1)[0]
            return [int(k) for k in _EXERCISE_ITEM.findall(listed)]
    return []


def solution_problems(nb: dict) -> list[str]:
    """Every exercise k needs a code cell whose first line is ``# Solution to exercise k``,
    tagged ``hide-cell`` (collapsed on the site), that stores an output (nbval checks it)."""
    problems: list[str] = []
    solutions: dict[int, dict] = {}
    for cell in nb.get("cells", []):
        source = "".join(cell.get("source", ""))
        first = source.split("\n", 1)[0].strip()
        found = re.fullmatch(r"# Solution to exercise (\d+)", first)
        if cell.get("cell_type") == "code" and found:
            solutions[int(found.group(1))] = cell
    for k in exercise_numbers(nb):
        cell = solutions.get(k)
        if cell is None:
            problems.append(f"exercise {k}: no code cell starting '# Solution to exercise {k}'")
            continue
        if SOLUTION_TAG not in cell.get("metadata", {}).get("tags", []):
            problems.append(f"exercise {k}: its solution is not tagged {SOLUTION_TAG!r}")
        if not cell.get("outputs"):
            problems.append(f"exercise {k}: its solution stores no output to check")
    return problems


def _solution(k: int, tags=(SOLUTION_TAG,), text: str = "True\n") -> nbformat.NotebookNode:
    cell = _ran(f"# Solution to exercise {k}\nprint(True)", k, text=text)
    cell.metadata["tags"] = list(tags)
    return cell


_EXERCISES = new_markdown_cell("## Exercises\n\n1. Do this.\n2. Then that,\n   on two lines.")


def test_solution_checker_accepts_solved_exercises():
    assert exercise_numbers(_nb(_EXERCISES)) == [1, 2]
    assert solution_problems(_nb(_EXERCISES, _solution(1), _solution(2))) == []
    assert solution_problems(_nb(new_markdown_cell("## What we learned\n\n1. a"))) == []


def test_solution_checker_refuses_missing_untagged_and_unrun_solutions():
    assert solution_problems(_nb(_EXERCISES, _solution(1))) == [
        "exercise 2: no code cell starting '# Solution to exercise 2'"
    ]
    untagged = solution_problems(_nb(_EXERCISES, _solution(1), _solution(2, tags=())))
    assert untagged == ["exercise 2: its solution is not tagged 'hide-cell'"]
    unrun = _solution(2)
    unrun.outputs = []
    assert solution_problems(_nb(_EXERCISES, _solution(1), unrun)) == [
        "exercise 2: its solution stores no output to check"
    ]
    # the marker must be the cell's first line
    late = _ran("x = 1\n# Solution to exercise 2", 2)
    late.metadata["tags"] = [SOLUTION_TAG]
    assert "exercise 2: no code cell" in solution_problems(_nb(_EXERCISES, _solution(1), late))[0]


@pytest.mark.parametrize("path", book_notebooks(), ids=lambda p: p.name)
def test_every_exercise_has_a_worked_solution(path):
    nb = nbformat.read(path, as_version=4)
    assert exercise_numbers(nb), "the notebook has no numbered ## Exercises list"
    assert solution_problems(nb) == []
