"""Helpers for the notebooks: show the code of ``tools``, keep native logs out.

``show_source`` is how a notebook shows the code the tests check instead of
a copy that could drift from ``tools/``.
"""

from __future__ import annotations

import ast
import contextlib
import inspect
import os
import re
import sys
import textwrap
from pathlib import Path
from typing import Any, Iterator

from ._repo import BRANCH, REPOSITORY_URL

__all__ = [
    "show_source",
    "source_markdown",
    "quiet_native_stderr",
    "use_book_style",
]

# The folder that holds the ``tools`` package: shown paths are relative to
# it ("tools/functional.py"), the same here, in Colab and on the site.
_PACKAGE_ROOT = Path(__file__).resolve().parent.parent


@contextlib.contextmanager
def quiet_native_stderr() -> Iterator[None]:
    """Send what compiled code writes to file descriptor 2 to ``/dev/null``
    while the block runs.

    TensorFlow >= 2.19 logs lines such as ``cudart_stub.cc:31] Could not find
    cuda drivers``, stamped with the time and a thread id, from C++ before its
    logging is set up, and ``TF_CPP_MIN_LOG_LEVEL`` does not reach them. A
    kernel captures file descriptor 2, so they would land in the stored outputs
    and never reproduce. Wrap only the import (and runtime start) of such a
    library in this block. Python warnings still show: inside a kernel
    ``sys.stderr`` does not write to file descriptor 2.
    """
    sys.stderr.flush()
    saved = os.dup(2)
    try:
        with open(os.devnull, "w") as devnull:
            os.dup2(devnull.fileno(), 2)
            yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


def show_source(obj: Any) -> Any:
    """Display a function, method or class of ``tools`` as a short lesson.

    The output is Markdown, which Jupyter, Colab and the built book render:
    a caption naming the object, its file and lines (linked to the
    repository), the docstring as prose, then the code without the
    docstring. ``source_markdown`` returns the same text as a string.
    """
    from IPython.display import Markdown  # only needed inside a notebook

    return Markdown(source_markdown(obj))


def source_markdown(obj: Any) -> str:
    """The Markdown that ``show_source`` displays for ``obj``."""
    obj = inspect.unwrap(obj)
    try:
        if not (inspect.isroutine(obj) or inspect.isclass(obj)):
            raise TypeError  # a module, say: it has source lines too
        lines, first = inspect.getsourcelines(obj)
        path = Path(inspect.getsourcefile(obj) or "").resolve()
    except (TypeError, OSError) as exc:
        raise TypeError(
            "obj must be a function, method or class defined in a .py "
            f"file, got {obj!r}"
        ) from exc
    source = textwrap.dedent("".join(lines))
    if not _parses(source):
        # a lambda in the middle of a statement (on a continuation line,
        # say): its lines alone are no Python; show the whole statement
        lines, first = _statement_lines(path, first, obj)
        source = textwrap.dedent("".join(lines))
    code, doc = _split_docstring(source)
    last = first + len(lines) - 1
    parts = [_caption(obj, path, first, last)]
    if doc:
        parts.append(_doc_markdown(doc))
    parts.append("```python\n" + code.rstrip() + "\n```")
    return "\n\n".join(p for p in parts if p)


def _parses(source: str) -> bool:
    try:
        ast.parse(source)
    except SyntaxError:
        return False
    return True


def _statement_lines(path: Path, line: int, obj: Any) -> tuple[list, int]:
    """The lines of the innermost statement of ``path`` that holds line
    ``line`` (with any statement sharing a line with it, as after a
    ``;``), and the number of its first line."""
    try:
        text = path.read_text(encoding="utf-8")
        tree = ast.parse(text)
    except (OSError, SyntaxError, ValueError) as exc:
        raise TypeError(
            f"obj must be a function, method or class whose source can be "
            f"read, but the file of {obj!r} cannot be parsed"
        ) from exc
    statements = [n for n in ast.walk(tree) if isinstance(n, ast.stmt)]
    holding = [n for n in statements if n.lineno <= line <= _end(n)]
    if not holding:
        raise TypeError(f"no statement of {path.name} holds line {line}")
    inner = min(holding, key=lambda n: (_end(n) - n.lineno, -n.lineno))
    parents = {
        child: node
        for node in statements
        for child in ast.iter_child_nodes(node)
    }
    outer, node = set(), inner
    while node in parents:
        node = parents[node]
        outer.add(node)
    start, end = inner.lineno, _end(inner)
    changed = True
    while changed:  # take in statements that share a line (after a ;)
        changed = False
        for n in statements:
            if n in outer or (n.lineno >= start and _end(n) <= end):
                continue
            if n.lineno <= end and _end(n) >= start:
                start, end = min(n.lineno, start), max(_end(n), end)
                changed = True
    return text.splitlines(keepends=True)[start - 1 : end], start


def _end(node: ast.stmt) -> int:
    return node.end_lineno or node.lineno


def _caption(obj: Any, path: Path, first: int, last: int) -> str:
    """``name`` · [tools/x.py, lines a–b](link), or just the name."""
    name = f"`{obj.__qualname__}`"
    try:
        relative = path.relative_to(_PACKAGE_ROOT).as_posix()
    except ValueError:  # not part of the package: no stable path to show
        return f"**{name}**"
    if not relative.startswith("tools/"):
        return f"**{name}**"
    url = f"{REPOSITORY_URL}/blob/{BRANCH}/{relative}#L{first}-L{last}"
    return f"**{name}** · [{relative}, lines {first}–{last}]({url})"


def _split_docstring(source: str) -> tuple[str, str]:
    """``source`` without the docstring of its def or class, and that
    docstring (cleaned), or ``(source, "")`` when there is none."""
    tree = ast.parse(source)
    node = tree.body[0] if tree.body else None
    if not isinstance(
        node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)
    ):
        return source, ""
    body = node.body
    if not (
        body
        and isinstance(body[0], ast.Expr)
        and isinstance(body[0].value, ast.Constant)
        and isinstance(body[0].value.value, str)
    ):
        return source, ""
    start, end = body[0].lineno, body[0].end_lineno or body[0].lineno
    lines = source.splitlines(keepends=True)
    rest = lines[: start - 1] + lines[end:]
    if lines[end : end + 1] and not lines[end].strip():
        rest = lines[: start - 1] + lines[end + 1 :]  # the blank line after
    return "".join(rest), inspect.cleandoc(body[0].value.value)


_ROLE = re.compile(r":(?:func|meth|class|mod|attr|data|obj|exc):`~?([^`]+)`")
_LITERAL = re.compile(r"``([^`]+?)``")


def _inline(text: str) -> str:
    """RST inline markup as Markdown: ``x`` and :func:`x` become `x`."""
    text = _ROLE.sub(lambda m: f"`{m.group(1)}`", text)
    return _LITERAL.sub(lambda m: f"`{m.group(1)}`", text)


def _doc_markdown(doc: str) -> str:
    """A docstring as Markdown prose: paragraphs joined into lines, RST
    literal blocks (``::``) and doctests as code blocks."""
    out: list[str] = []
    blocks = re.split(r"\n\s*\n", doc.strip())
    literal_next = False
    for block in blocks:
        lines = block.split("\n")
        indented = all(line.startswith((" ", "\t")) for line in lines)
        if literal_next and indented:
            out.append("```text\n" + textwrap.dedent(block) + "\n```")
            continue
        literal_next = False
        if lines[0].lstrip().startswith(">>>"):
            out.append("```pycon\n" + textwrap.dedent(block) + "\n```")
            continue
        text = " ".join(line.strip() for line in lines)
        if text.endswith("::"):
            literal_next = True
            text = text[:-1]
        out.append(_inline(text))
    return "\n\n".join(out)


def use_book_style() -> None:
    """Matplotlib settings for the book's figures; call once per notebook.

    Figures stay white and opaque, as the axes, ticks and colour maps are
    drawn for white; a wide white margin makes each PNG a deliberate white
    card on the site's dark theme instead of a plot cut at its axes. The
    fonts are large enough to read once the figure is shrunk to the
    page's column. In a notebook, figures are stored at twice their
    displayed resolution ("retina" PNGs that say their display size), so
    they stay sharp on high-density screens; the ``<Figure size ...>``
    line beside each one does not change.
    """
    import matplotlib.pyplot as plt

    try:  # double-resolution PNGs in IPython; nothing to do elsewhere
        from IPython import get_ipython
        from matplotlib_inline.backend_inline import set_matplotlib_formats
    except ImportError:
        pass
    else:
        if get_ipython() is not None:
            set_matplotlib_formats("retina")

    plt.rcParams.update(
        {
            "figure.facecolor": "white",
            "savefig.facecolor": "white",
            "savefig.pad_inches": 0.3,
            "font.size": 11,
            "axes.titlesize": 12,
            "axes.labelsize": 11,
            "xtick.labelsize": 10,
            "ytick.labelsize": 10,
            "legend.fontsize": 10,
        }
    )
