#!/usr/bin/env python3
"""Draw backpropagation's computation graph for one layer of an MLP into
content/figures/backprop-graph-{light,dark}.png (chapter 3's page).

Forward runs left to right along the top row, backward right to left along
the bottom row; each operation box says what its ``forward`` keeps for the
``backward``. The two PNGs differ only in colours, for the site's light and
dark themes.
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
        "forward": "#3a6fb0",
        "backward": "#c0560f",
        "keep": "#57606a",
    },
    "dark": {
        "text": "#e6edf3",
        "box": "#1c2b3f",
        "edge": "#79aef2",
        "forward": "#79aef2",
        "backward": "#f0a060",
        "keep": "#a0a8b0",
    },
}

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


def draw(theme: str) -> None:
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
            color=colors["keep"],
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
    f = colors["forward"]
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
    fig.savefig(
        FIGURES / f"backprop-graph-{theme}.png",
        dpi=150,
        bbox_inches="tight",
        pad_inches=0.05,
        metadata={"Software": None},
    )
    plt.close(fig)


if __name__ == "__main__":
    FIGURES.mkdir(parents=True, exist_ok=True)
    for theme in THEMES:
        draw(theme)
        print(f"wrote content/figures/backprop-graph-{theme}.png")
