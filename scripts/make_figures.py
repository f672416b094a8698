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
import numpy as np  # noqa: E402
from matplotlib.patches import FancyBboxPatch, Polygon  # noqa: E402

FIGURES = Path(__file__).resolve().parent.parent / "content" / "figures"


def _save(fig, name: str, dpi: int) -> None:
    """Write ``fig`` to content/figures/``name``, trimmed to its drawing, with
    no software stamp in the PNG (the bytes depend only on the drawing), and
    close it."""
    fig.savefig(
        FIGURES / name,
        dpi=dpi,
        bbox_inches="tight",
        pad_inches=0.05,
        metadata={"Software": None},
    )
    plt.close(fig)


THEMES = {
    "light": {
        "text": "#1f2328",
        "box": "#eef3fb",
        "edge": "#3a6fb0",
        "arrow": "#57606a",
        "math": "#fbf1e6",
        "plane": "#dde8f6",
        "target": "#b3261e",
        "prediction": "#1a7f37",
        "residual": "#8250df",
        "backward": "#c0560f",
    },
    "dark": {
        "text": "#e6edf3",
        "box": "#1c2b3f",
        "edge": "#79aef2",
        "arrow": "#a0a8b0",
        "math": "#3a2c1c",
        "plane": "#22364f",
        "target": "#ff8a80",
        "prediction": "#6fdd8b",
        "residual": "#d2a8ff",
        "backward": "#f0a060",
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
    _save(fig, f"chapter-2-map-{theme}.png", dpi=150)


def _arrow(ax, start, end, color, lw=2.0, style="-|>", ls="-"):
    ax.annotate(
        "",
        xy=end,
        xytext=start,
        arrowprops={
            "arrowstyle": style,
            "color": color,
            "lw": lw,
            "linestyle": ls,
            "shrinkA": 0,
            "shrinkB": 0,
        },
    )


def least_squares_projection(theme: str) -> None:
    """Chapter 1: the least-squares prediction is the orthogonal projection
    of the targets onto the column space of the augmented inputs.

    An oblique sketch of R^3: the plane's two in-plane directions are drawn
    as (1, 0) and (0.45, 0.4), and its normal as the screen's vertical, so
    the residual, drawn straight up, meets the plane at a right angle.
    """
    colors = THEMES[theme]
    along, depth = np.array([1.0, 0.0]), np.array([0.45, 0.4])
    origin = np.array([0.0, 0.0])

    def point(a: float, b: float) -> np.ndarray:
        return origin + a * 5.0 * along + b * 5.0 * depth

    fig, ax = plt.subplots(figsize=(7, 4.2))
    fig.patch.set_alpha(0)
    ax.set_axis_off()
    ax.set_aspect("equal")
    corners = [
        point(-0.25, -0.35),
        point(1.1, -0.35),
        point(1.1, 1.05),
        point(-0.25, 1.05),
    ]
    ax.add_patch(
        Polygon(
            corners,
            closed=True,
            facecolor=colors["plane"],
            edgecolor=colors["edge"],
            lw=1.2,
        )
    )
    ax.text(
        *point(1.1, -0.38),
        "the plane: column space of $\\tilde X$, every prediction "
        "$\\tilde X\\theta$",
        ha="right",
        va="top",
        fontsize=11,
        color=colors["text"],
    )
    # Two columns of X~, thin, in the plane.
    for end in (point(0.3, 0.0), point(0.0, 0.45)):
        _arrow(ax, origin, end, colors["arrow"], lw=1.3)
    ax.text(
        *(point(0.0, 0.45) + np.array([-0.25, 0.05])),
        "columns of $\\tilde X$",
        fontsize=11,
        color=colors["arrow"],
        ha="right",
        va="center",
    )
    y_hat = point(0.72, 0.62)
    y = y_hat + np.array([0.0, 2.6])
    _arrow(ax, origin, y, colors["target"], lw=2.4)
    _arrow(ax, origin, y_hat, colors["prediction"], lw=2.4)
    _arrow(ax, y, y_hat, colors["residual"], lw=1.8, style="-", ls="--")
    # The right angle between the residual and the plane.
    s = 0.28
    square = [
        y_hat + s * np.array([0.0, 1.0]),
        y_hat + s * np.array([0.0, 1.0]) + s * along,
        y_hat + s * along,
    ]
    ax.plot(*np.array(square).T, color=colors["residual"], lw=1.2)
    ax.plot(*origin, "o", color=colors["text"], ms=4)
    ax.text(-0.15, -0.25, "0", fontsize=11, color=colors["text"], ha="right")
    ax.text(
        y[0] - 0.15,
        y[1] + 0.1,
        "$y$ (targets)",
        fontsize=12,
        color=colors["target"],
        ha="right",
        va="bottom",
    )
    ax.text(
        y_hat[0] + 0.2,
        y_hat[1] - 0.35,
        "$\\hat y = \\tilde X\\theta^\\star$ (the projection)",
        fontsize=12,
        color=colors["prediction"],
        ha="left",
        va="top",
    )
    ax.text(
        y_hat[0] + 0.2,
        (y[1] + y_hat[1]) / 2,
        "residual $y - \\hat y$,\nperpendicular to the plane",
        fontsize=11,
        color=colors["residual"],
        ha="left",
        va="center",
    )
    ax.set(xlim=(-2.3, 9.6), ylim=(-1.6, 4.6))
    _save(fig, f"least-squares-projection-{theme}.png", dpi=200)


# x positions (axes units) of the values and the operations between them
FORWARD_Y, BACKWARD_Y = 0.74, 0.30
VALUES = [  # (x, forward label, backward label)
    (0.06, r"$A_{l-1}$", r"$\delta_l W_l^\top$"),
    (0.44, r"$Z_l$", r"$\delta_l$"),
    (0.80, r"$A_l$", r"$\partial L / \partial A_l$"),
]
OPS = [  # (x, name, what forward keeps)
    (0.25, r"Linear $l$", r"keeps $A_{l-1}$"),
    (0.62, r"$\varphi_l$", r"keeps $Z_l$"),
]
BOX_W, BOX_H = 0.13, 0.62


def backprop_graph(theme: str) -> None:
    """Chapter 3: backpropagation's computation graph for one layer of an
    MLP. Forward runs left to right along the top row, backward right to
    left along the bottom row; each operation box says what its
    ``forward`` keeps for the ``backward``."""
    colors = THEMES[theme]
    fig, ax = plt.subplots(figsize=(8.6, 3.5))
    fig.patch.set_alpha(0)
    ax.set_axis_off()
    ax.set(xlim=(-0.02, 1.02), ylim=(-0.08, 1.0))
    text = {"ha": "center", "va": "center", "color": colors["text"]}

    for x, name, keep in OPS:
        ax.add_patch(
            FancyBboxPatch(
                (x - BOX_W / 2, 0.52 - BOX_H / 2),
                BOX_W,
                BOX_H,
                boxstyle="round,pad=0.01,rounding_size=0.02",
                facecolor=colors["box"],
                edgecolor=colors["edge"],
                lw=1.5,
            )
        )
        ax.text(x, 0.56, name, fontsize=12, **text)
        ax.text(
            x,
            0.46,
            keep,
            fontsize=9,
            ha="center",
            va="center",
            color=colors["arrow"],
        )

    for x, up, down in VALUES:
        ax.text(x, FORWARD_Y, up, fontsize=13, **text)
        ax.text(x, BACKWARD_Y, down, fontsize=12, **text)
    ax.text(0.97, FORWARD_Y, r"$\cdots \to L$", fontsize=13, **text)
    ax.text(0.97, BACKWARD_Y, r"$\cdots$", fontsize=13, **text)

    def arrow(x0, x1, y, color, dashed=False):
        ax.annotate(
            "",
            xy=(x1, y),
            xytext=(x0, y),
            arrowprops={
                "arrowstyle": "-|>",
                "color": color,
                "lw": 1.6,
                "ls": "--" if dashed else "-",
            },
        )

    # forward, left to right, between values and boxes
    f = colors["edge"]
    for x0, x1 in [
        (0.10, 0.185),
        (0.315, 0.40),
        (0.48, 0.555),
        (0.685, 0.76),
        (0.84, 0.92),
    ]:
        arrow(x0, x1, FORWARD_Y, f)
    # backward, right to left
    b = colors["backward"]
    for x0, x1 in [
        (0.92, 0.875),
        (0.725, 0.685),
        (0.555, 0.48),
        (0.41, 0.315),
        (0.185, 0.135),
    ]:
        arrow(x0, x1, BACKWARD_Y, b, dashed=True)

    ax.text(
        0.44,
        0.93,
        r"$Z_l = A_{l-1} W_l + \mathbf{1} b_l^\top$",
        fontsize=10,
        color=f,
        ha="center",
    )
    ax.text(
        0.80,
        0.93,
        r"$A_l = \varphi_l(Z_l)$",
        fontsize=10,
        color=f,
        ha="center",
    )
    ax.text(
        0.62,
        0.13,
        r"$\delta_l = \partial L/\partial A_l \odot \varphi_l'(Z_l)$",
        fontsize=10,
        color=b,
        ha="center",
    )
    ax.text(
        0.25,
        0.06,
        r"$\partial L/\partial W_l = A_{l-1}^\top \delta_l$,  "
        r"$\partial L/\partial b_l = \delta_l^\top \mathbf{1}$",
        fontsize=10,
        color=b,
        ha="center",
    )
    ax.text(
        0.0,
        0.98,
        "forward (solid): left to right",
        fontsize=9,
        color=f,
        va="top",
    )
    ax.text(
        0.0,
        -0.06,
        "backward (dashed): right to left",
        fontsize=9,
        color=b,
        va="bottom",
    )
    _save(fig, f"backprop-graph-{theme}.png", dpi=150)


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
        least_squares_projection(theme)
        print(f"wrote content/figures/least-squares-projection-{theme}.png")
        backprop_graph(theme)
        print(f"wrote content/figures/backprop-graph-{theme}.png")
