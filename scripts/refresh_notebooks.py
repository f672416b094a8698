#!/usr/bin/env python3
"""Re-execute notebooks in a fresh kernel and store their outputs in place
(`make refresh`).

Usage: python scripts/refresh_notebooks.py [NOTEBOOK ...]
       (default: every notebook in content/)

Each notebook runs top to bottom in its own new kernel of the current Python
environment, the way nbval and a learner run it. Cell timing metadata is not
recorded and consecutive stream outputs are merged, so a refresh that changes
no result changes no byte of the file.
"""

from __future__ import annotations

import sys
from pathlib import Path

import nbformat
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parent.parent


def coalesce_streams(cell: nbformat.NotebookNode) -> None:
    """Merge consecutive stdout (or stderr) outputs, which the kernel splits at
    arbitrary flushes."""
    merged: list[nbformat.NotebookNode] = []
    for out in cell.get("outputs", []):
        prev = merged[-1] if merged else None
        if (
            out.output_type == "stream"
            and prev is not None
            and prev.output_type == "stream"
            and prev.name == out.name
        ):
            prev.text += out.text
        else:
            merged.append(out)
    cell.outputs = merged


def refresh(path: Path) -> None:
    nb = nbformat.read(path, as_version=4)
    client = NotebookClient(
        nb,
        kernel_name="python3",
        timeout=600,
        record_timing=False,
        resources={"metadata": {"path": str(path.parent)}},
    )
    client.execute()
    for cell in nb.cells:
        if cell.cell_type == "code":
            coalesce_streams(cell)
            cell.metadata.pop("execution", None)
    nbformat.write(nb, path)


def main(argv: list[str]) -> int:
    paths = [Path(a).resolve() for a in argv] or sorted(
        (ROOT / "content").rglob("*.ipynb")
    )
    paths = [p for p in paths if ".ipynb_checkpoints" not in p.parts]
    for path in paths:
        print(f"executing {path.relative_to(ROOT)}", flush=True)
        refresh(path)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
