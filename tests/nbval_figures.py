"""Figures compared too: nbval's cell check, extended to PNG outputs.

nbval 0.11 leaves ``image/png`` out of its comparison, so a notebook whose
figure was replaced by another one still passes. This module adds the
missing check. For every notebook cell that nbval compares, the PNGs of the
fresh outputs are paired, in order, with the stored ones; each pair is
decoded and compared with matplotlib's ``calculate_rms`` (root mean square
of the per-pixel difference, 0-255 scale, as in matplotlib's own image
tests). The cell fails when the number of PNGs differs, when the sizes
differ, or when the RMS exceeds ``TOLERANCE``; the stored image, the fresh
one and a difference image are then written under ``_build/figure-diffs/``.

Everything else stays nbval's: its comparison runs first and unchanged, and
cells that nbval does not compare (``# NBVAL_IGNORE_OUTPUT``, ``--nbval-lax``,
unrun cells) are not compared here either. A figure that shows measured
times cannot reproduce: tag its cell ``nbval-ignore-figure`` (cell metadata
``"tags"``) to leave its figures out while nbval still compares its text.

This module is a pytest plugin: the repository's root ``conftest.py`` loads
it for every run; elsewhere, ``-p nbval_figures`` with tests/ on the Python
path. It extends each collected cell item, so it also works on pytest-xdist
workers, which collect their own items.
"""

from __future__ import annotations

import base64
import io
import re
import types
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np
from matplotlib.testing.compare import calculate_rms, save_diff_image
from PIL import Image

# RMS of the per-pixel difference (0-255 scale) above which a figure counts
# as changed, measured on the 14 stored figures of chapters 1-3: a re-run on
# the same machine gives 0.0 (except a plot of measured times, which must be
# tagged, see above); noise of +-3 levels 1.4-1.8; a 0.5-pixel blur, like a
# change of anti-aliasing, 6.6-9.8; everything moved by one pixel (what a
# change of font metrics does to the layout) 23.9-38.3; two figures of the
# same size swapped 27.5-54.0. 15 sits between, near their geometric mean.
TOLERANCE = 15.0

MIME = "image/png"
IGNORE_TAG = "nbval-ignore-figure"


@dataclass(frozen=True)
class FigureMismatch:
    """Why one stored figure and its fresh counterpart disagree."""

    reason: str
    rms: float | None = None


def decode_png(data: str | bytes) -> np.ndarray:
    """Decode a PNG (raw bytes or base64 text, as notebooks store it) into an
    array of 8-bit RGB or RGBA pixels, the way matplotlib's image tests load
    a file: an opaque image loses its alpha channel."""
    if isinstance(data, str):
        data = base64.b64decode(data)
    if not isinstance(data, bytes):
        raise TypeError(
            f"data: expected PNG bytes or base64 text, got {type(data)!r}"
        )
    img = Image.open(io.BytesIO(data))
    if img.mode != "RGB":
        if img.mode != "RGBA":
            img = img.convert("RGBA")
        if img.getextrema()[3][0] == 255:
            img = img.convert("RGB")
    return np.asarray(img)


def compare_pngs(
    stored: str | bytes, fresh: str | bytes, tol: float = TOLERANCE
) -> FigureMismatch | None:
    """Compare two PNGs; return None when they agree within ``tol`` (RMS on
    the 0-255 scale), else a ``FigureMismatch`` saying why."""
    if not tol >= 0:
        raise ValueError(f"tol: expected a number >= 0, got {tol!r}")
    a, b = decode_png(stored), decode_png(fresh)
    if a.shape != b.shape:
        return FigureMismatch(
            f"size differs: stored {_size(a)}, fresh {_size(b)}"
        )
    rms = float(calculate_rms(a.astype(np.int16), b.astype(np.int16)))
    if rms > tol:
        return FigureMismatch(f"RMS {rms:.2f} > tolerance {tol:g}", rms)
    return None


def _size(img: np.ndarray) -> str:
    height, width, channels = img.shape
    mode = {3: "RGB", 4: "RGBA"}.get(channels, f"{channels} channels")
    return f"{width}x{height} {mode}"


def _pngs(outputs: list[Any]) -> list[str]:
    return [
        out["data"][MIME] for out in outputs if MIME in out.get("data", {})
    ]


def check_cell_figures(
    fresh_outputs: list[Any],
    stored_outputs: list[Any],
    where: str,
    out_dir: Path,
    tol: float = TOLERANCE,
) -> list[str]:
    """Compare a cell's fresh PNG outputs with its stored ones, in order.

    Returns one message per disagreement (empty when all agree). For each
    disagreeing pair, ``<where>-fig<k>-stored.png``, ``-fresh.png`` and, when
    the sizes match, ``-diff.png`` (differences magnified 10 times) are
    written to ``out_dir``.
    """
    stored, fresh = _pngs(stored_outputs), _pngs(fresh_outputs)
    if len(stored) != len(fresh):
        return [
            f"{where}: {len(stored)} stored figure(s) (image/png), "
            f"{len(fresh)} fresh"
        ]
    messages = []
    for k, (ref, new) in enumerate(zip(stored, fresh), start=1):
        mismatch = compare_pngs(ref, new, tol)
        if mismatch is None:
            continue
        out_dir.mkdir(parents=True, exist_ok=True)
        stem = out_dir / f"{where}-fig{k}"
        paths = [Path(f"{stem}-stored.png"), Path(f"{stem}-fresh.png")]
        for path, data in zip(paths, (ref, new)):
            path.write_bytes(base64.b64decode(data))
        if mismatch.rms is not None:
            paths.append(Path(f"{stem}-diff.png"))
            save_diff_image(str(paths[0]), str(paths[1]), str(paths[2]))
        messages.append(
            f"{where}, figure {k} of {len(stored)} (output image/png): "
            f"{mismatch.reason}; see " + ", ".join(str(p) for p in paths)
        )
    return messages


def _cell_label(item: Any) -> str:
    """``<notebook stem>-cell<N>``, safe as a file name."""
    stem = re.sub(r"[^\w.-]", "_", Path(str(item.fspath)).stem)
    return f"{stem}-cell{item.cell_num}"


def _wrap(original: Callable, out_dir: Path, tol: float) -> Callable:
    def compare_outputs(self, test, ref, skip_compare=None) -> bool:
        ok = original(test, ref, skip_compare)
        messages = check_cell_figures(
            test, ref, _cell_label(self), out_dir, tol
        )
        if not messages:
            return ok
        if ok:  # nbval's own comparison left no traceback to add to
            self.comparison_traceback = []
        cc = self.colors
        self.comparison_traceback.extend(
            cc.FAIL + " figure mismatch " + cc.ENDC + m for m in messages
        )
        return False

    return compare_outputs


def install(items: list[Any], out_dir: Path, tol: float = TOLERANCE) -> int:
    """Extend the ``compare_outputs`` of every nbval cell among ``items``
    with the figure check; return how many cells were extended."""
    try:
        from nbval.plugin import IPyNbCell
    except ImportError:  # nbval not installed: nothing to extend
        return 0
    count = 0
    for item in items:
        if (
            isinstance(item, IPyNbCell)
            and not getattr(item, "_figures_compared", False)
            and IGNORE_TAG not in item.cell.get("metadata", {}).get("tags", [])
        ):
            wrapper = _wrap(item.compare_outputs, out_dir, tol)
            item.compare_outputs = types.MethodType(wrapper, item)
            item._figures_compared = True
            count += 1
    return count


def pytest_collection_modifyitems(config, items) -> None:
    install(items, config.rootpath / "_build" / "figure-diffs")
