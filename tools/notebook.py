"""Helpers for the notebooks: show the code of :mod:`tools` where the text derives it."""

from __future__ import annotations

import inspect
import textwrap
from typing import Any

__all__ = ["show_source"]


def show_source(obj: Any) -> Any:
    """Display the source of a function, method or class of ``tools`` as a Python code block.

    The notebooks derive a formula in markdown and then show the very code the tests check,
    instead of keeping a second copy that could drift from ``tools/``. The output is Markdown,
    which Jupyter, Colab and the built book all render with syntax highlighting.
    """
    from IPython.display import Markdown  # only needed inside a notebook

    try:
        source = inspect.getsource(obj)
    except (TypeError, OSError) as exc:
        raise TypeError(f"obj must be a function, method or class defined in a .py file, got {obj!r}") from exc
    return Markdown("```python\n" + textwrap.dedent(source).rstrip() + "\n```")
