"""Checks that make nbval's verdict trustworthy, and that the table of
contents matches content/.

nbval compares a cell only if it was executed: a notebook saved without
outputs passes it trivially. So every notebook in the book must have been run
top to bottom in one fresh kernel (execution counts 1, 2, 3, ...), store no
error, hold outputs, write nothing to stderr, and show nothing that changes
between machines (devices, thread counts, timings, addresses, paths). The
first tests below check the checker itself on small made-up notebooks: each
rule with an output it refuses and a near miss it accepts.
"""

from __future__ import annotations

import ast
import functools
import io
import re
import tokenize
from pathlib import Path

import nbformat
import pytest
import yaml
from nbformat.v4 import (
    new_code_cell,
    new_markdown_cell,
    new_notebook,
    new_output,
)

ROOT = Path(__file__).resolve().parent.parent
CONTENT = ROOT / "content"
PAGE_SUFFIXES = {".md", ".ipynb"}

# A number as Python, NumPy or IPython print it, and the units of a duration.
_NUMBER = r"\d+(?:\.\d+)?(?:[eE][-+]?\d+)?"
_TIME_UNIT = r"(?:ns|[\u00b5\u03bcu]s|ms|s|secs?|seconds?|minutes?|hours?)"
_DEVICE = r"(?:cpu|gpu|cuda(?::\d+)?|mps|xpu)"

VOLATILE = {
    "a CUDA device name": re.compile(r"device='cuda|cuda:\d"),
    "a device": re.compile(
        r"device\(type="  # repr of a torch.device
        r"|device='(?:mps|xpu|xla|hpu)"  # a tensor on another accelerator
        rf"|\bdevice\b\s*(?:[:=]|is)?\s*{_DEVICE}\b"  # Using device: cpu
        rf"|\b(?:using|on)\s+(?:the\s+)?{_DEVICE}\b"  # running on cuda
        rf"|^\s*{_DEVICE}\s*$",  # print(device) on a line of its own
        re.IGNORECASE | re.MULTILINE,
    ),
    "a GPU name": re.compile(r"\b(?:NVIDIA|GeForce|Quadro|Radeon)\b"),
    "a thread or core count": re.compile(
        r"\b(?:\w+_)?(?:threads?|cores?|cpu_count)\s*(?:[:=]|is)?\s*\d"
        r"|\b\d+\s+(?:cpu\s+)?(?:threads?|cores?)\b",
        re.IGNORECASE,
    ),
    "a memory address": re.compile(r"\b0x[0-9a-fA-F]{6,}\b"),
    "an absolute path": re.compile(
        r"(/root/|/home/|/tmp/|/work/|/Users/|[A-Z]:\\\\)"
    ),
    "a timing": re.compile(
        rf"\b{_NUMBER}\s?{_TIME_UNIT}(?!\w)"  # took 0.0213 s, 12ms/step
        r"|\b\d+(?:\.\d+)?\s?(?:it|steps?|samples?|batch(?:es)?)/s\b"
        r"|\b(?:took|elapsed|duration)\b\s*[:=]?\s*\d"
        r"|\[\d+:\d\d<"  # a tqdm bar: [00:01<00:00, ...]
        r"|Wall time|CPU times|per loop|loops each",
        re.IGNORECASE,
    ),
}
# Text that changes from run to run even on one machine may stand in a cell
# whose output nbval does not compare (# NBVAL_IGNORE_OUTPUT and the like).
# The rest stays refused there too: it should not be printed at all.
MAY_SHOW_WHERE_IGNORED = {"a timing"}

# Native log lines and warnings that reached a cell's output, in any stream:
# TensorFlow's C++ logging, glog/absl prefixes, Python's warning format.
NATIVE_LOG = re.compile(
    r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d+: [IWEF] "  # TF C++ logging
    r"|^[IWEF]\d{4} \d\d:\d\d:\d+\.\d+\s+\d+ "  # W0000 00:00:17324.12  123
    r"|All log messages before absl::InitializeLog\(\) is called"
    r"|^\S+\.py:\d+: \w*Warning: ",  # warnings.showwarning's format
    re.MULTILINE,
)

# nbval's cell markers (comments in the source, or tags), as nbval reads them:
# tags first, then comments, the later one of a kind winning.
_MARKERS = {
    "NBVAL_IGNORE_OUTPUT": ("check", False),
    "PYTEST_VALIDATE_IGNORE_OUTPUT": ("check", False),
    "NBVAL_CHECK_OUTPUT": ("check", True),
    "NBVAL_SKIP": ("skip", True),
    "NBVAL_RAISES_EXCEPTION": ("raises", True),
}
_TAGS = {k.lower().replace("_", "-"): v for k, v in _MARKERS.items()}
_TAGS["raises-exception"] = ("raises", True)


def nbval_options(cell: dict) -> dict[str, bool]:
    """``check`` (compare the output), ``skip`` and ``raises`` for ``cell``."""
    options = {"check": True, "skip": False, "raises": False}
    for tag in cell.get("metadata", {}).get("tags", []):
        if tag in _TAGS:
            key, value = _TAGS[tag]
            options[key] = value
    for line in "".join(cell.get("source", "")).splitlines():
        line = line.strip()
        if line.startswith("#") and line.lstrip("#").strip() in _MARKERS:
            key, value = _MARKERS[line.lstrip("#").strip()]
            options[key] = value
    return options


def output_text(out: dict) -> str:
    if out.get("output_type") == "stream":
        return "".join(out.get("text", ""))
    data = out.get("data", {})
    return "".join(
        "".join(v) for k, v in data.items() if k.startswith("text/")
    )


def notebook_problems(nb: dict) -> list[str]:
    """Everything that would make nbval's verdict on ``nb`` meaningless or
    machine-dependent."""
    problems: list[str] = []
    expected, n_outputs = 1, 0
    for i, cell in enumerate(nb.get("cells", [])):
        if (
            cell.get("cell_type") != "code"
            or not "".join(cell.get("source", "")).strip()
        ):
            continue
        count = cell.get("execution_count")
        if count is None:
            problems.append(
                f"cell {i}: never executed, so nbval would not compare it"
            )
        elif count != expected:
            problems.append(
                f"cell {i}: execution_count {count}, expected {expected} "
                "(not one in-order run)"
            )
        expected = (count or expected) + 1
        options = nbval_options(cell)
        compared = options["check"] and not options["skip"]
        for out in cell.get("outputs", []):
            n_outputs += 1
            if out.get("output_type") == "error" and not options["raises"]:
                problems.append(
                    f"cell {i}: stores an error "
                    f"({out.get('ename')}: {out.get('evalue')})"
                )
            if (
                out.get("output_type") == "stream"
                and out.get("name") == "stderr"
            ):
                problems.append(
                    f"cell {i}: writes to stderr (a warning?); "
                    "silence it at its source"
                )
            text = output_text(out)
            if found := NATIVE_LOG.search(text):
                problems.append(
                    f"cell {i}: output holds a log or warning line "
                    f"(native stderr?): {found.group(0)!r}; "
                    "silence it at its source"
                )
            for what, pattern in VOLATILE.items():
                if not compared and what in MAY_SHOW_WHERE_IGNORED:
                    continue
                if found := pattern.search(text):
                    problems.append(
                        f"cell {i}: output shows {what}: {found.group(0)!r}"
                    )
    if n_outputs == 0:
        problems.append(
            "no cell stores any output: nbval would pass it without "
            "checking anything"
        )
    return problems


def book_notebooks() -> list[Path]:
    return sorted(
        p
        for p in CONTENT.rglob("*.ipynb")
        if ".ipynb_checkpoints" not in p.parts
    )


def toc_files(toc: dict) -> list[str]:
    """Every ``file:`` entry of a jb-book ``_toc.yml``, in order, without
    suffix."""
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


# -- the checker, on made-up notebooks ----------------------------------------
def _nb(*cells) -> dict:
    return new_notebook(cells=[new_markdown_cell("# t"), *cells])


def _ran(
    source: str, count: int, text: str = "ok\n", **kw
) -> nbformat.NotebookNode:
    cell = new_code_cell(source, execution_count=count, **kw)
    cell.outputs = [new_output("stream", name="stdout", text=text)]
    return cell


def test_checker_accepts_a_clean_run():
    assert (
        notebook_problems(_nb(_ran("print(1)", 1), _ran("print(2)", 2))) == []
    )


def test_checker_refuses_unexecuted_and_output_free_notebooks():
    problems = notebook_problems(_nb(new_code_cell("print(1)")))
    assert any("never executed" in p for p in problems)
    assert any("no cell stores any output" in p for p in problems)


def test_checker_refuses_out_of_order_runs():
    problems = notebook_problems(_nb(_ran("a", 1), _ran("b", 3)))
    assert problems == [
        "cell 2: execution_count 3, expected 2 (not one in-order run)"
    ]


def test_checker_refuses_stored_errors_unless_tagged():
    err = new_code_cell("1/0", execution_count=1)
    err.outputs = [
        new_output(
            "error",
            ename="ZeroDivisionError",
            evalue="division by zero",
            traceback=[],
        )
    ]
    assert any(
        "stores an error" in p
        for p in notebook_problems(_nb(err, _ran("x", 2)))
    )
    err.metadata["tags"] = ["raises-exception"]
    assert notebook_problems(_nb(err, _ran("x", 2))) == []


REFUSED = {
    "a CUDA device name": ["tensor([1.], device='cuda:0')", "on cuda:1"],
    "a device": [
        "cpu\n",
        "cuda",
        "  MPS  \n",
        "device(type='cpu')",
        "device(type='cuda', index=0)",
        "Using device: cpu",
        "device = cuda",
        "the device is GPU",
        "running on the GPU",
        "Using cuda",
        "tensor([1.], device='mps:0')",
        "x is on cpu but the model is on meta",
    ],
    "a GPU name": ["NVIDIA H100 80GB HBM3", "GeForce RTX 4090"],
    "a thread or core count": [
        "threads: 2",
        "num_threads=2",
        "torch threads = 16",
        "intra-op threads 2",
        "16 threads",
        "cores: 8",
        "8 CPU cores",
        "cpu_count is 16",
    ],
    "a memory address": ["<object at 0x7f3a2b1c9d00>"],
    "an absolute path": ["/home/me/data.csv", "/tmp/x.npz"],
    "a timing": [
        "took 0.0213 s",
        "took 0.0213s",
        "took 21.3 ms",
        "one step: 850 \u00b5s",  # micro sign, as %timeit prints it
        "one step: 850 \u03bcs",  # Greek mu
        "one step: 850 us",
        "120 ns per call",
        "elapsed: 2.5 seconds",
        "done in 3 minutes",
        "1 sec",
        "2.1e-03 s",
        "1.2 ms \u00b1 3 \u00b5s per loop (mean \u00b1 std. dev. of 7 runs)",
        "CPU times: user 1.1 s, sys: 0 ns, total: 1.1 s",
        "Wall time: 1.2 s",
        "12ms/step",
        "32/32 - 0s - loss: 0.5",
        "10/10 [00:01<00:00,  9.52it/s]",
        "1200 samples/s",
        "the update took 3",
    ],
}
ACCEPTED = [
    "validation accuracy of the untrained model: 0.2698",
    "epoch  1/20  train CE 1.2814  valid CE 1.2453  valid acc 0.3251",
    "8192 samples in 20 epochs, 10 minibatches of 8 samples",
    "features: (10100, 5) float64, weights of shape (m, n)",
    "time grows like m^0.59 for m >= 256",
    "peak memory 0.375 MiB; the full Jacobian needs 4.50 GiB",
    "loss 0.5000 min 0.4000 max 0.6000",
    "max relative error < 1e-12: True",
    "14 of 15 right; 3 classes; 2 hidden layers",
    "eye = torch.eye(n, dtype=x.dtype, device=x.device)",
    "SoftmaxClassifier(n_features=5, n_classes=3, dtype=torch.float64)",
    "the model and its inputs must share one device",
    "picks a CUDA device when there is one",
    "barracuda, cpus, gpus",
    "scores: 3 of 4; a thread-safe helper; the core idea",
    "W = tensor([[-0.3952, -0.3909]], dtype=torch.float64)",
    "I0 is the identity; E1 the first basis vector",
    "drawn on 2026-11-24 with seed 0",
    "UserWarning is silenced at its source",
    (
        "MemoryError: the full Jacobian of a batch of 8192 samples with 3 "
        "classes needs 4.50 GiB, more than max_bytes=1073741824 (1.00 GiB)"
    ),
]


@pytest.mark.parametrize(
    "what, text",
    [(what, text) for what, texts in REFUSED.items() for text in texts],
)
def test_checker_refuses_volatile_text(what, text):
    problems = notebook_problems(_nb(_ran("x", 1, text=text)))
    assert any(f"output shows {what}: " in p for p in problems), problems


@pytest.mark.parametrize("text", ACCEPTED)
def test_checker_accepts_near_misses(text):
    assert notebook_problems(_nb(_ran("x", 1, text=text))) == []


def test_checker_looks_at_rich_outputs_too():
    cell = new_code_cell("torch.get_num_threads()", execution_count=1)
    cell.outputs = [
        new_output(
            "execute_result",
            data={"text/plain": "threads: 2"},
            execution_count=1,
        )
    ]
    assert notebook_problems(_nb(cell)) == [
        "cell 1: output shows a thread or core count: 'threads: 2'"
    ]


def test_checker_refuses_stderr():
    cell = new_code_cell("warn()", execution_count=1)
    cell.outputs = [new_output("stream", name="stderr", text="careful\n")]
    problems = notebook_problems(_nb(cell))
    assert problems == [
        "cell 1: writes to stderr (a warning?); silence it at its source"
    ]


@pytest.mark.parametrize(
    "line",
    [
        (
            "2026-11-24 01:23:45.678901: I tensorflow/core/util/port.cc:153] "
            "oneDNN custom operations are on."
        ),
        "2026-11-24 01:23:45.678901: W external/xla/cuda_driver.cc:42] no",
        (
            "W0000 00:00:1732411425.123456   12345 cuda_dnn.cc:8310] "
            "Unable to register cuDNN factory"
        ),
        "I0123 12:34:56.789012  4242 gpu_device.cc:2022] Created device",
        (
            "WARNING: All log messages before absl::InitializeLog() is called "
            "are written to STDERR"
        ),
        (
            "keras/src/layers/core/dense.py:87: UserWarning: Do not pass an "
            "`input_shape`"
        ),
    ],
)
@pytest.mark.parametrize("stream", ["stdout", "stderr"])
def test_checker_refuses_native_log_lines_in_any_stream(line, stream):
    cell = new_code_cell("import tensorflow", execution_count=1)
    cell.outputs = [new_output("stream", name=stream, text="ok\n" + line)]
    problems = notebook_problems(_nb(cell))
    assert any("holds a log or warning line" in p for p in problems)
    assert any("writes to stderr" in p for p in problems) == (
        stream == "stderr"
    )


@pytest.mark.parametrize(
    "source, tags",
    [
        ("# NBVAL_IGNORE_OUTPUT\nbench()", []),
        ("#NBVAL_IGNORE_OUTPUT\nbench()", []),
        ("bench()\n  # NBVAL_IGNORE_OUTPUT", []),
        ("# NBVAL_SKIP\nbench()", []),
        ("bench()", ["nbval-ignore-output"]),
        ("bench()", ["nbval-skip"]),
    ],
)
def test_checker_lets_cells_nbval_ignores_show_timings_only(source, tags):
    def cell(text: str, name: str = "stdout") -> nbformat.NotebookNode:
        c = new_code_cell(source, execution_count=1, metadata={"tags": tags})
        c.outputs = [new_output("stream", name=name, text=text)]
        return c

    assert notebook_problems(_nb(cell("took 0.723 ms\n"))) == []
    still = [
        "Using device: cpu",
        "threads: 2",
        "/home/me/x",
        "W0000 00:00:1732411425.123456   12345 x.cc:1] hi",
    ]
    for text in still:
        assert notebook_problems(_nb(cell(text))) != [], text
    assert notebook_problems(_nb(cell("", name="stderr"))) != []


@pytest.mark.parametrize(
    "source, tags",
    [
        ("print('# NBVAL_IGNORE_OUTPUT')", []),  # not a comment
        ("# NBVAL_IGNORE_OUTPUT please", []),  # not the marker
        ("# NBVAL_IGNORE_OUTPUT\n# NBVAL_CHECK_OUTPUT", []),  # later wins
        ("# NBVAL_CHECK_OUTPUT", ["nbval-ignore-output"]),  # comment wins
        ("bench()", ["NBVAL_IGNORE_OUTPUT"]),  # tags are lower-case
    ],
)
def test_checker_compares_timings_where_nbval_compares(source, tags):
    c = new_code_cell(source, execution_count=1, metadata={"tags": tags})
    c.outputs = [new_output("stream", name="stdout", text="1 s")]
    assert notebook_problems(_nb(c)) == [
        "cell 1: output shows a timing: '1 s'"
    ]


@pytest.mark.parametrize(
    "source, tags, ok",
    [
        ("1/0", ["raises-exception"], True),
        ("1/0", ["nbval-raises-exception"], True),
        ("# NBVAL_RAISES_EXCEPTION\n1/0", [], True),
        ("# NBVAL_IGNORE_OUTPUT\n1/0", [], False),
    ],
)
def test_checker_accepts_errors_nbval_expects(source, tags, ok):
    err = new_code_cell(source, execution_count=1, metadata={"tags": tags})
    err.outputs = [
        new_output(
            "error", ename="ZeroDivisionError", evalue="no", traceback=[]
        )
    ]
    assert (notebook_problems(_nb(err)) == []) == ok


def test_toc_files_walks_nested_entries():
    toc = {
        "root": "a",
        "parts": [{"chapters": [{"file": "b", "sections": [{"file": "c"}]}]}],
    }
    assert toc_files(toc) == ["a", "b", "c"]


# -- the book's own notebooks and toc -----------------------------------------
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
    assert first.cell_type == "markdown" and first.source.startswith("# "), (
        "the first cell must be the title"
    )
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert "import tools" in code[0].source and code[0].outputs == [], (
        "the first code cell must make `tools` importable and print nothing "
        "where it is installed"
    )


def test_toc_and_content_agree():
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    listed = toc_files(toc)
    assert len(listed) == len(set(listed)), (
        f"_toc.yml lists a page twice: {listed}"
    )
    missing_files = [
        f
        for f in listed
        if not any((ROOT / (f + s)).exists() for s in PAGE_SUFFIXES)
    ]
    assert missing_files == [], (
        f"_toc.yml entries with no file: {missing_files}"
    )
    pages = {
        str(p.relative_to(ROOT).with_suffix(""))
        for p in CONTENT.rglob("*")
        if p.suffix in PAGE_SUFFIXES and ".ipynb_checkpoints" not in p.parts
    }
    unlisted = sorted(pages - set(listed))
    assert unlisted == [], (
        f"pages in content/ missing from _toc.yml: {unlisted}"
    )


# -- exercises have worked solutions ----------------------------------------
SOLUTION_TAG = "hide-cell"
_EXERCISE_ITEM = re.compile(r"^(\d+)\.\s", re.MULTILINE)


def exercise_numbers(nb: dict) -> list[int]:
    """The numbers of the list in the ``## Exercises`` markdown cell (none if
    it has none)."""
    for cell in nb.get("cells", []):
        source = "".join(cell.get("source", ""))
        if cell.get("cell_type") == "markdown" and "## Exercises" in source:
            listed = source.split("## Exercises", 1)[1].split("\n#", 1)[0]
            return [int(k) for k in _EXERCISE_ITEM.findall(listed)]
    return []


@pytest.mark.parametrize("path", book_notebooks(), ids=lambda p: p.name)
def test_every_exercise_has_a_worked_solution(path):
    nb = nbformat.read(path, as_version=4)
    assert exercise_numbers(nb), (
        "the notebook has no numbered ## Exercises list"
    )
    assert solution_problems(nb) == []


# -- the authors' conventions (CONTRIBUTING.md) ------------------------------
# Each rule is a function from a notebook to its problems, tried first on
# made-up notebooks (one it refuses, a near miss it accepts), then on every
# notebook of the book.

# A citation of an equation: "eq. (3)", "eqs. 3-4", "equation (4)",
# "eq. lr-grad-matrix", "Eq. (mlp-delta-mse)". What follows the word is a
# number, or a label (words joined by hyphens), with or without parentheses.
_CITATION = re.compile(
    r"\b(?P<word>eqs?|equations?)\b\.?\s*(?P<what>\(?\s*(?:\d+|[A-Za-z]\w*(?:-\w+)+)\s*\)?)",
    re.IGNORECASE,
)
_LABEL_DEFINITION = re.compile(r"\$\$\s*\(([A-Za-z][\w-]*)\)")


@functools.lru_cache(maxsize=1)
def equation_labels() -> frozenset[str]:
    """Every equation label of the book: ``$$ ... $$ (label)`` in a page or
    a notebook."""
    labels: set[str] = set()
    for path in sorted(CONTENT.rglob("*")):
        if path.suffix == ".md":
            labels.update(_LABEL_DEFINITION.findall(path.read_text()))
        elif (
            path.suffix == ".ipynb" and ".ipynb_checkpoints" not in path.parts
        ):
            for cell in nbformat.read(path, as_version=4).cells:
                if cell.cell_type == "markdown":
                    labels.update(_LABEL_DEFINITION.findall(cell.source))
    return frozenset(labels)


def code_comments(source: str) -> list[str]:
    """The comments of a code cell's source (IPython magics and shell lines
    left out)."""
    lines = [
        line
        for line in source.splitlines()
        if not line.lstrip().startswith(("%", "!"))
    ]
    try:
        return [
            token.string
            for token in tokenize.generate_tokens(
                io.StringIO("\n".join(lines) + "\n").readline
            )
            if token.type == tokenize.COMMENT
        ]
    except (tokenize.TokenError, IndentationError, SyntaxError):
        return [line[line.index("#") :] for line in lines if "#" in line]


def citation_problems(nb: dict, labels: frozenset[str]) -> list[str]:
    """Printed outputs cite no equation; code comments cite one only as
    ``eq. <label>``, with a label the book defines (numbers move when equations
    are added)."""
    problems: list[str] = []
    for i, cell in enumerate(nb.get("cells", [])):
        if cell.get("cell_type") != "code":
            continue
        for out in cell.get("outputs", []):
            if found := _CITATION.search(output_text(out)):
                problems.append(
                    f"cell {i}: its output cites an equation: "
                    f"{found.group(0)!r} (name what is compared; the "
                    "markdown above cites the equation)"
                )
        for comment in code_comments("".join(cell.get("source", ""))):
            for found in _CITATION.finditer(comment):
                what = found.group("what").strip()
                if (
                    found.group("word").lower() != "eq"
                    or what.startswith("(")
                    or what.isdigit()
                ):
                    problems.append(
                        f"cell {i}: a comment cites {found.group(0)!r}; "
                        "write `eq. <label>`"
                    )
                elif what not in labels:
                    problems.append(
                        f"cell {i}: a comment cites {found.group(0)!r}, "
                        "which is no equation label of the book"
                    )
    return problems


_SOLUTION_ADMONITION = re.compile(
    r"^:::+\{admonition\}\s*Solution to exercise (\d+)\s*$", re.MULTILINE
)


def admonition_body(source: str, start: int) -> str:
    """The text of the admonition whose opening line starts at ``start``,
    without its ``:option:`` lines."""
    fence = re.match(r":+", source[start:]).group(0)
    rest = source[start:].split("\n", 1)[1] if "\n" in source[start:] else ""
    body = re.split(rf"^{fence}\s*$", rest, maxsplit=1, flags=re.MULTILINE)[0]
    return "\n".join(
        line for line in body.splitlines() if not re.match(r"^:\w+:", line)
    ).strip()


def solution_problems(nb: dict) -> list[str]:
    """Every exercise k has one worked solution: a markdown cell with the
    admonition ``Solution to exercise k`` (a dropdown with an explanation),
    then the code cell whose first line is ``# Solution to exercise k``,
    tagged ``hide-cell``, whose toggle says ``Show/Hide the code of solution
    k`` (mystnb code_prompt_show / code_prompt_hide), and which stores an
    output (nbval checks it)."""
    problems: list[str] = []
    cells = nb.get("cells", [])
    code_at: dict[int, list[int]] = {}
    for i, cell in enumerate(cells):
        source = "".join(cell.get("source", ""))
        first = source.split("\n", 1)[0].strip()
        found = re.fullmatch(r"# Solution to exercise (\d+)", first)
        if cell.get("cell_type") == "code" and found:
            code_at.setdefault(int(found.group(1)), []).append(i)
    exercises = exercise_numbers(nb)
    for k in sorted(set(code_at) - set(exercises)):
        problems.append(f"a solution to exercise {k}, which the list lacks")
    for k in exercises:
        found = code_at.get(k, [])
        if not found:
            problems.append(
                f"exercise {k}: no code cell starting "
                f"'# Solution to exercise {k}'"
            )
            continue
        if len(found) > 1:
            problems.append(f"exercise {k}: {len(found)} solution code cells")
        i = found[0]
        cell = cells[i]
        metadata = cell.get("metadata", {})
        if SOLUTION_TAG not in metadata.get("tags", []):
            problems.append(
                f"exercise {k}: its solution is not tagged {SOLUTION_TAG!r}"
            )
        if not cell.get("outputs"):
            problems.append(
                f"exercise {k}: its solution stores no output to check"
            )
        mystnb = metadata.get("mystnb", {})
        for key, verb in (
            ("code_prompt_show", "Show"),
            ("code_prompt_hide", "Hide"),
        ):
            wanted = f"{verb} the code of solution {k}"
            if mystnb.get(key) != wanted:
                problems.append(
                    f"exercise {k}: metadata mystnb.{key} is "
                    f"{mystnb.get(key)!r}, expected {wanted!r}"
                )
        before = cells[i - 1] if i > 0 else {}
        source = "".join(before.get("source", ""))
        heads = {
            int(m.group(1)): m.start()
            for m in _SOLUTION_ADMONITION.finditer(source)
        }
        if before.get("cell_type") != "markdown" or k not in heads:
            problems.append(
                f"exercise {k}: the cell before its code is not the "
                f"admonition 'Solution to exercise {k}' (an explanation, "
                "never code alone)"
            )
            continue
        tail = source[heads[k] :]
        if not re.search(r"^:class:\s*dropdown\s*$", tail, re.MULTILINE):
            problems.append(f"exercise {k}: its admonition is not a dropdown")
        if not admonition_body(source, heads[k]):
            problems.append(f"exercise {k}: its admonition explains nothing")
    return problems


_FILE_LIKE = re.compile(
    r"\.(?:png|jpe?g|gif|svg|webp)\b|_images/|^\S*/\S*$|\b[0-9a-f]{12,}\b",
    re.IGNORECASE,
)


def figure_problems(nb: dict) -> list[str]:
    """Every cell that draws a figure gives it a caption and alt text in
    its metadata (``mystnb.figure.caption``, ``mystnb.image.alt``)."""
    problems: list[str] = []
    for i, cell in enumerate(nb.get("cells", [])):
        images = [
            mime
            for out in cell.get("outputs", [])
            for mime in out.get("data", {})
            if mime.startswith("image/")
        ]
        if cell.get("cell_type") != "code" or not images:
            continue
        mystnb = cell.get("metadata", {}).get("mystnb", {})
        caption = (mystnb.get("figure") or {}).get("caption", "")
        alt = (mystnb.get("image") or {}).get("alt", "")
        if not str(caption).strip():
            problems.append(
                f"cell {i}: draws a figure with no mystnb.figure.caption"
            )
        if not str(alt).strip():
            problems.append(
                f"cell {i}: draws a figure with no mystnb.image.alt"
            )
        elif _FILE_LIKE.search(alt) or len(alt.split()) < 3:
            problems.append(
                f"cell {i}: the alt text {alt!r} describes nothing "
                "(a file name, or under three words)"
            )
    return problems


_LABELS = frozenset({"lr-grad-matrix", "mlp-delta-mse"})


def _code(
    source: str, text: str = "ok\n", **metadata
) -> nbformat.NotebookNode:
    cell = _ran(source, 1, text=text)
    cell.metadata.update(metadata)
    return cell


@pytest.mark.parametrize(
    "text",
    [
        "dL/dW vs autograd, eq. (3): True",
        "eq. lr-grad-matrix: max relative error < 1e-12: True",
        "Eq. (mlp-delta-mse) holds",
        "equation (4) agrees",
        "equations 3 and 4",
        "eqs. (3)-(4): True",
    ],
)
def test_citation_checker_refuses_outputs_that_cite(text):
    problems = citation_problems(_nb(_code("x", text=text)), _LABELS)
    assert problems and "its output cites an equation" in problems[0]


@pytest.mark.parametrize(
    "text",
    [
        "dL/dW = X^T G vs autograd: max relative error < 1e-12: True",
        "equal: True; the equations agree",
        "frequency 3; sequence (4)",
        "solve the normal equation.",
    ],
)
def test_citation_checker_accepts_outputs_that_do_not(text):
    assert citation_problems(_nb(_code("x", text=text)), _LABELS) == []


@pytest.mark.parametrize(
    "comment, why",
    [
        ("# delta_L, eq. (mlp-delta-mse)", "write `eq. <label>`"),
        ("# eq. (3)", "write `eq. <label>`"),
        ("# gradient, equation 4", "write `eq. <label>`"),
        ("# eq. 4", "write `eq. <label>`"),
        ("# eq. lr-grad-matrx", "no equation label"),
    ],
)
def test_citation_checker_refuses_comments_with_numbers(comment, why):
    source = f"x = 1  {comment}\nprint('eq. (3)')"
    problems = citation_problems(_nb(_code(source)), _LABELS)
    assert len(problems) == 1 and why in problems[0], problems


def test_citation_checker_accepts_labels_and_looks_at_comments_only():
    source = (
        "# dL/dW, eq. lr-grad-matrix\n"
        "delta = y_hat - y  # eq. mlp-delta-mse\n"
        "%timeit f()\n"
        "print('eq. (3) is not a comment')\n"
    )
    assert citation_problems(_nb(_code(source)), _LABELS) == []


_PROMPTS = {
    "code_prompt_show": "Show the code of solution {k}",
    "code_prompt_hide": "Hide the code of solution {k}",
}


def _admonition(
    k: int, body: str = "Because the numbers below say so."
) -> nbformat.NotebookNode:
    return new_markdown_cell(
        f":::{{admonition}} Solution to exercise {k}\n"
        f":class: dropdown\n{body}\n:::"
    )


def _solution(
    k: int, tags=(SOLUTION_TAG,), text: str = "True\n", prompts=True
) -> nbformat.NotebookNode:
    cell = _ran(f"# Solution to exercise {k}\nprint(True)", k, text=text)
    cell.metadata["tags"] = list(tags)
    if prompts:
        cell.metadata["mystnb"] = {
            key: value.format(k=k) for key, value in _PROMPTS.items()
        }
    return cell


def _solved(k: int, **kw) -> list[nbformat.NotebookNode]:
    return [_admonition(k), _solution(k, **kw)]


_EXERCISES = new_markdown_cell(
    "## Exercises\n\n1. Do this.\n2. Then that,\n   on two lines."
)


def test_solution_checker_accepts_solved_exercises():
    assert exercise_numbers(_nb(_EXERCISES)) == [1, 2]
    assert solution_problems(_nb(_EXERCISES, *_solved(1), *_solved(2))) == []
    assert (
        solution_problems(_nb(new_markdown_cell("## What we learned\n\n1. a")))
        == []
    )


def test_solution_checker_refuses_missing_untagged_and_unrun_solutions():
    assert solution_problems(_nb(_EXERCISES, *_solved(1))) == [
        "exercise 2: no code cell starting '# Solution to exercise 2'"
    ]
    untagged = solution_problems(
        _nb(_EXERCISES, *_solved(1), *_solved(2, tags=()))
    )
    assert untagged == ["exercise 2: its solution is not tagged 'hide-cell'"]
    unrun = _solution(2)
    unrun.outputs = []
    assert solution_problems(
        _nb(_EXERCISES, *_solved(1), _admonition(2), unrun)
    ) == ["exercise 2: its solution stores no output to check"]
    # the marker must be the cell's first line
    late = _ran("x = 1\n# Solution to exercise 2", 2)
    late.metadata["tags"] = [SOLUTION_TAG]
    assert (
        "exercise 2: no code cell"
        in solution_problems(_nb(_EXERCISES, *_solved(1), late))[0]
    )
    assert solution_problems(
        _nb(_EXERCISES, *_solved(1), *_solved(2), *_solved(3))
    ) == ["a solution to exercise 3, which the list lacks"]


def test_solution_checker_wants_the_toggle_to_name_the_exercise():
    problems = solution_problems(
        _nb(_EXERCISES, *_solved(1), *_solved(2, prompts=False))
    )
    assert problems == [
        "exercise 2: metadata mystnb.code_prompt_show is None, "
        "expected 'Show the code of solution 2'",
        "exercise 2: metadata mystnb.code_prompt_hide is None, "
        "expected 'Hide the code of solution 2'",
    ]
    wrong = _solution(2)
    wrong.metadata["mystnb"]["code_prompt_show"] = (
        "Show the code of solution 1"
    )
    assert solution_problems(
        _nb(_EXERCISES, *_solved(1), _admonition(2), wrong)
    ) == [
        "exercise 2: metadata mystnb.code_prompt_show is "
        "'Show the code of solution 1', expected 'Show the code of solution 2'"
    ]


def test_solution_checker_wants_an_explanation_before_the_code():
    code_only = solution_problems(_nb(_EXERCISES, *_solved(1), _solution(2)))
    assert len(code_only) == 1 and "never code alone" in code_only[0]
    wrong_one = solution_problems(
        _nb(_EXERCISES, *_solved(1), _admonition(1), _solution(2))
    )
    assert len(wrong_one) == 1 and "never code alone" in wrong_one[0]
    empty = solution_problems(
        _nb(_EXERCISES, *_solved(1), _admonition(2, body=""), _solution(2))
    )
    assert empty == ["exercise 2: its admonition explains nothing"]
    options_only = _admonition(2, body=":open:")
    assert solution_problems(
        _nb(_EXERCISES, *_solved(1), options_only, _solution(2))
    ) == ["exercise 2: its admonition explains nothing"]
    not_dropdown = new_markdown_cell(
        ":::{admonition} Solution to exercise 2\nWhy.\n:::"
    )
    assert solution_problems(
        _nb(_EXERCISES, *_solved(1), not_dropdown, _solution(2))
    ) == ["exercise 2: its admonition is not a dropdown"]
    # two admonitions in one cell: the one right before the code counts
    both = new_markdown_cell(
        _admonition(1).source + "\n\n" + _admonition(2).source
    )
    assert (
        solution_problems(
            _nb(_EXERCISES, _admonition(1), _solution(1), both, _solution(2))
        )
        == []
    )


def _figure(**mystnb) -> nbformat.NotebookNode:
    cell = new_code_cell("plt.plot(x)", execution_count=1)
    cell.outputs = [
        new_output(
            "display_data",
            data={"image/png": "iVBOR", "text/plain": "<Figure size 640x480>"},
        )
    ]
    if mystnb:
        cell.metadata["mystnb"] = mystnb
    return cell


def test_figure_checker():
    good = {
        "figure": {"caption": "The loss falls.", "name": "fig-loss"},
        "image": {"alt": "Training loss against epoch, falling to 0.1."},
    }
    assert figure_problems(_nb(_figure(**good))) == []
    assert figure_problems(_nb(_ran("print(1)", 1))) == []
    assert figure_problems(_nb(_figure())) == [
        "cell 1: draws a figure with no mystnb.figure.caption",
        "cell 1: draws a figure with no mystnb.image.alt",
    ]
    fraction = "Accuracy rises in steps of one sample (1/15) to 0.9."
    assert (
        figure_problems(_nb(_figure(**{**good, "image": {"alt": fraction}})))
        == []
    )
    for alt in ("../../_images/e0552489ffcb0e52.png", "A plot", "fig/loss"):
        bad = {**good, "image": {"alt": alt}}
        assert "describes nothing" in figure_problems(_nb(_figure(**bad)))[0]


@pytest.mark.parametrize("path", book_notebooks(), ids=lambda p: p.name)
def test_outputs_and_comments_cite_equations_one_way(path):
    nb = nbformat.read(path, as_version=4)
    assert citation_problems(nb, equation_labels()) == []


@pytest.mark.parametrize("path", book_notebooks(), ids=lambda p: p.name)
def test_every_figure_has_a_caption_and_alt_text(path):
    nb = nbformat.read(path, as_version=4)
    assert figure_problems(nb) == []


def _parsed(source: str) -> ast.AST | None:
    lines = [
        "" if line.lstrip().startswith(("%", "!")) else line
        for line in source.splitlines()
    ]
    try:
        return ast.parse("\n".join(lines))
    except SyntaxError:
        return None


def _own(node: ast.AST) -> bool:
    """``self`` or ``super()``: a subclass (a layer written in the notebook)
    may use what its base class keeps for subclasses."""
    if isinstance(node, ast.Call):
        node = node.func
    return getattr(node, "id", "") in ("self", "super")


def private_name_problems(nb: dict) -> list[str]:
    """Code a learner copies uses public names only: no ``import _x`` and no
    ``obj._x``, except as what ``show_source(...)`` shows."""
    problems: list[str] = []
    for i, cell in enumerate(nb.get("cells", [])):
        if cell.get("cell_type") != "code":
            continue
        tree = _parsed("".join(cell.get("source", "")))
        if tree is None:
            continue
        shown: set[int] = set()
        for node in ast.walk(tree):
            if (
                isinstance(node, ast.Call)
                and getattr(node.func, "id", getattr(node.func, "attr", ""))
                == "show_source"
            ):
                shown.update(id(n) for arg in node.args for n in ast.walk(arg))
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom):
                problems += [
                    f"cell {i}: imports {a.name}"
                    for a in node.names
                    if a.name.startswith("_") and not a.name.startswith("__")
                ]
            elif (
                isinstance(node, ast.Attribute)
                and node.attr.startswith("_")
                and not node.attr.startswith("__")
                and id(node) not in shown
                and not _own(node.value)
            ):
                problems.append(
                    f"cell {i}: uses the private name .{node.attr}"
                )
    return problems


def figure_style_problems(nb: dict) -> list[str]:
    """A notebook that draws a figure calls ``tools.use_book_style()`` first,
    so that every chapter's figures look alike."""
    for i, cell in enumerate(nb.get("cells", [])):
        if cell.get("cell_type") != "code":
            continue
        if "use_book_style(" in "".join(cell.get("source", "")):
            return []
        if any(
            mime.startswith("image/")
            for out in cell.get("outputs", [])
            for mime in out.get("data", {})
        ):
            return [
                f"cell {i}: draws a figure before any tools.use_book_style()"
            ]
    return []


def test_private_name_checker():
    shown = _code(
        "display(show_source(tools.layers._Activation._backward))\n"
        "show_source(LinearRegression._affine)\n"
        "print(model.__class__, x.__len__())\n"
        "class Broken(Sigmoid):\n"
        "    def _backward(self, g):\n"
        "        return super()._backward(g) * self._input"
    )
    assert private_name_problems(_nb(shown)) == []
    for source, what in [
        (
            "from tools.layers import Linear, _Activation",
            "imports _Activation",
        ),
        ("tools.training._one_epoch(model)", "private name ._one_epoch"),
        ("loss = model._forward(x)", "private name ._forward"),
    ]:
        problems = private_name_problems(_nb(_code(source)))
        assert len(problems) == 1 and what in problems[0], problems


def test_figure_style_checker():
    styled = _code("tools.use_book_style()")
    assert figure_style_problems(_nb(styled, _figure())) == []
    assert figure_style_problems(_nb(_ran("print(1)", 1))) == []
    assert figure_style_problems(_nb(_figure(), styled)) == [
        "cell 1: draws a figure before any tools.use_book_style()"
    ]


@pytest.mark.parametrize("path", book_notebooks(), ids=lambda p: p.name)
def test_learner_code_uses_public_names(path):
    nb = nbformat.read(path, as_version=4)
    assert private_name_problems(nb) == []


@pytest.mark.parametrize("path", book_notebooks(), ids=lambda p: p.name)
def test_figures_are_drawn_in_the_book_style(path):
    nb = nbformat.read(path, as_version=4)
    assert figure_style_problems(nb) == []


# -- cross-links -----------------------------------------------------------
_MENTION = re.compile(
    r"\b[Nn]otebooks?\s+(?P<notebook>\d+\.\d+)\b"
    r"|\bMath\s+(?P<math>\d+)\b"
    r"|\b[Cc]hapters?\s+(?P<chapter>\d+)\b(?!\.\d)"
)
_LINK = re.compile(r"\[[^\]]*\]\([^)]*\)|\{(?:doc|ref|numref)\}`[^`]*`")
_INLINE_MATH = re.compile(r"\$\$.*?\$\$|\$[^$]*\$", re.DOTALL)


def own_names(path: Path) -> set[str]:
    """How the text may name the page ``path`` itself (no link needed)."""
    chapter = path.parent.name.split("-", 1)[0]
    names = {f"chapter {chapter}"}
    parts = path.stem.split("-")
    if path.suffix == ".ipynb" and parts[1] == "math":
        names.add(f"math {parts[0]}")
    elif path.suffix == ".ipynb" and parts[1].isdigit():
        names.add(f"notebook {parts[0]}.{parts[1]}")
    return names


def unlinked_mentions(
    text: str, own: set[str], kinds=("notebook", "math", "chapter")
) -> list[str]:
    """Mentions of another notebook or chapter ("notebook 1.1", "Math 2",
    "chapter 3") that are not the text of a link."""
    text = _INLINE_MATH.sub(lambda m: " " * len(m.group(0)), text)
    links = [m.span() for m in _LINK.finditer(text)]
    found = []
    for m in _MENTION.finditer(text):
        kind = next(k for k, v in m.groupdict().items() if v)
        name = f"{kind} {m.group(kind)}"
        if kind not in kinds or name in own:
            continue
        if any(a <= m.start() < b for a, b in links):
            continue
        found.append(m.group(0))
    return found


def crosslink_problems(path: Path) -> list[str]:
    """CONTRIBUTING.md: when a notebook or page mentions another notebook or
    chapter, link it. On the pages (chapter maps, the notation table) only
    the mentions of a notebook in the prose are checked."""
    own = own_names(path)
    kinds = ("notebook", "math", "chapter")
    if path.suffix == ".md":
        kinds = ("notebook", "math")
        prose = [  # not the table rows, nor a directive's options (:alt:)
            line
            for line in path.read_text().splitlines()
            if not line.lstrip().startswith(("|", ":"))
        ]
        texts = [("page", "\n".join(prose))]
    else:
        nb = nbformat.read(path, as_version=4)
        texts = [
            (f"cell {i}", cell.source)
            for i, cell in enumerate(nb.cells)
            if cell.cell_type == "markdown"
        ]
    return [
        f"{where}: {mention!r} is not a link"
        for where, text in texts
        for mention in unlinked_mentions(text, own, kinds)
    ]


def test_crosslink_checker():
    own = own_names(CONTENT / "3-mlp" / "3-1-mlp-from-scratch.ipynb")
    assert own == {"chapter 3", "notebook 3.1"}
    assert own_names(CONTENT / "2-c" / "2-math-softmax.ipynb") == {
        "chapter 2",
        "math 2",
    }
    text = (
        "As notebook 1.1 showed, and [Math 2](../2-c/2-math.ipynb) derives, "
        "{doc}`chapter 2 <../2-c/classification>` and this chapter 3 page; "
        "see chapter 1.4 of the book, $chapter 2$, and Math 1."
    )
    assert unlinked_mentions(text, own) == ["notebook 1.1", "Math 1"]
    assert unlinked_mentions("chapter 2 and Math 1", own, ("math",)) == [
        "Math 1"
    ]


def book_pages() -> list[Path]:
    return sorted(
        p
        for p in CONTENT.rglob("*")
        if p.suffix in PAGE_SUFFIXES and ".ipynb_checkpoints" not in p.parts
    )


@pytest.mark.parametrize(
    "path", book_pages(), ids=lambda p: p.relative_to(CONTENT).as_posix()
)
def test_mentions_of_other_notebooks_and_chapters_are_links(path):
    assert crosslink_problems(path) == []
