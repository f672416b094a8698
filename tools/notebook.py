"""Helpers for the notebooks: show the code of :mod:`tools`, and keep native start-up logs out."""

from __future__ import annotations

import contextlib
import inspect
import os
import sys
import textwrap
from typing import Any, Iterator

__all__ = ["show_source", "quiet_native_stderr"]


@contextlib.contextmanager
def quiet_native_stderr() -> Iterator[None]:
    """Send what compiled code writes to file descriptor 2 to ``/dev/null`` while the block runs.

    TensorFlow >= 2.19 logs lines such as ``cudart_stub.cc:31] Could not find cuda drivers``,
    stamped with the time and a thread id, from C++ before its logging is set up, and
    ``TF_CPP_MIN_LOG_LEVEL`` does not reach them. A kernel captures file descriptor 2, so they
    would land in the stored outputs and never reproduce. Wrap only the import (and runtime
    start) of such a library in this block. Python warnings still show: inside a kernel
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
    """Display the source of a function, method or class of ``tools`` as a Python code block.

    The notebooks derive a formula in markdown and then show the very code the tests check,
    instead of keeping a second copy that could drift from ``tools/``. The output is Markdown,
    which Jupyter, Colab and the built book all render with syntax highlighting.
    """
    from IPython.display import Markdown  # only needed inside a notebook

    try:
        source = inspect.getsource(obj)
    except (TypeError, OSError) as exc:
        raise TypeError(
            f"obj must be a function, method or class defined in a .py file, got {obj!r}"
        ) from exc
    return Markdown("```python\n" + textwrap.dedent(source).rstrip() + "\n```")
