#!/usr/bin/env python3
"""Draw the book's static figures into content/figures/ (`make figures`).

Each figure comes as a pair, `<name>-light.png` and `<name>-dark.png`, which
the pages show with the `only-light` / `only-dark` classes so that it reads
well in both themes.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.patches import FancyBboxPatch  # noqa: E402

FIGURES = Path(__file__).resolve().parent.parent / "content" / "figures"
THEMES = {
    "light": {
        "text": "#1f2328",
        "box": "#eef3fb",
        "edge": "#3a6fb0",
        "arrow": "#57606a",
        "math": "#fbf1e6",
    },
    "dark": {
        "text": "#e6edf3",
        "box": "#1c2b3f",
        "edge": "#79aef2",
        "arrow": "#a0a8b0",
        "math": "#3a2c1c",
    },
}

# Chapter 2: which page or notebook builds on which, in the order of the
# sidebar (2.1, 2.2, Math 2, 2.3). Positions are box centres in axes units.
NODES = {
    "page": (0.50, 0.86, "2. Classification\n(the derivation)", False),
    "2.1": (
        0.76,
        0.50,
        "2.1 Multiclass classification\nscratch vs PyTorch",
        False,
    ),
    "math": (0.24, 0.50, "Math 2 · The softmax\nand its derivative", True),
    "2.2": (
        0.76,
        0.14,
        "2.2 Multiclass classification\nvs TensorFlow/Keras",
        False,
    ),
    "2.3": (0.24, 0.14, "2.3 Gradients through\nthe Jacobian", False),
}
EDGES = [
    ("page", "math"),
    ("page", "2.1"),
    ("2.1", "2.2"),
    ("2.1", "2.3"),
    ("math", "2.3"),
]
WIDTH, HEIGHT = 0.40, 0.20


def chapter_2_map(theme: str) -> None:
    colors = THEMES[theme]
    fig, ax = plt.subplots(figsize=(8, 4.6))
    fig.patch.set_alpha(0)
    ax.set_axis_off()
    # Limits with room around every box, so that no box is clipped.
    ax.set(xlim=(-0.02, 1.02), ylim=(-0.02, 1.04))
    for x, y, label, is_math in NODES.values():
        ax.add_patch(
            FancyBboxPatch(
                (x - WIDTH / 2, y - HEIGHT / 2),
                WIDTH,
                HEIGHT,
                boxstyle="round,pad=0.01,rounding_size=0.02",
                facecolor=colors["math" if is_math else "box"],
                edgecolor=colors["edge"],
                lw=1.5,
            )
        )
        ax.text(
            x,
            y,
            label,
            ha="center",
            va="center",
            fontsize=11,
            color=colors["text"],
        )
    for start, end in EDGES:
        (x0, y0, *_), (x1, y1, *_) = NODES[start], NODES[end]
        ax.annotate(
            "",
            xy=(x1, y1 + HEIGHT / 2 + 0.01),
            xytext=(x0, y0 - HEIGHT / 2 - 0.01),
            arrowprops={
                "arrowstyle": "-|>",
                "color": colors["arrow"],
                "lw": 1.4,
            },
        )
    ax.text(
        0.0,
        1.03,
        "arrows point from a page to the pages that build on it",
        transform=ax.transAxes,
        va="top",
        fontsize=9,
        color=colors["arrow"],
    )
    fig.savefig(
        FIGURES / f"chapter-2-map-{theme}.png",
        dpi=150,
        bbox_inches="tight",
        pad_inches=0.05,
        metadata={"Software": None},
    )
    plt.close(fig)


def favicon() -> None:
    """A 64 x 64 icon: the partial-derivative sign, the course in one
    symbol."""
    fig = plt.figure(figsize=(1, 1), dpi=64)
    fig.patch.set_alpha(0)
    fig.text(
        0.5,
        0.45,
        "∂",
        ha="center",
        va="center",
        fontsize=52,
        color=THEMES["light"]["edge"],
        weight="bold",
    )
    fig.savefig(FIGURES / "favicon.png", dpi=64, metadata={"Software": None})
    plt.close(fig)


if __name__ == "__main__":
    FIGURES.mkdir(parents=True, exist_ok=True)
    favicon()
    print("wrote content/figures/favicon.png")
    for theme in THEMES:
        chapter_2_map(theme)
        print(f"wrote content/figures/chapter-2-map-{theme}.png")
