"""The figure check that extends nbval (tests/nbval_figures.py), on made-up
figures: identical and slightly perturbed PNGs pass, another figure and
another size fail, and a failing cell writes what the author needs to see."""

from __future__ import annotations

import base64
import io

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
from nbval_figures import (  # noqa: E402
    TOLERANCE,
    check_cell_figures,
    compare_pngs,
    decode_png,
)


def png(curve: str = "sin", size: tuple[float, float] = (4, 3), **rc) -> bytes:
    """A small labelled line plot, as the notebooks draw them."""
    x = np.linspace(0, 2 * np.pi, 200)
    y = {"sin": np.sin(x), "exp": np.exp(-x) * 2 - 1}[curve]
    with plt.rc_context(rc):
        fig, ax = plt.subplots(figsize=size, dpi=72)
        ax.plot(x, y, label=curve)
        ax.set(xlabel="x", ylabel="y", title=f"a {curve} curve")
        ax.legend()
        buf = io.BytesIO()
        fig.savefig(buf, format="png")
        plt.close(fig)
    return buf.getvalue()


def output(data: bytes) -> dict:
    return {
        "output_type": "display_data",
        "data": {
            "image/png": base64.b64encode(data).decode(),
            "text/plain": "<Figure>",
        },
    }


def test_identical_figures_pass():
    assert compare_pngs(png(), png()) is None


def test_base64_text_and_bytes_decode_alike():
    data = png()
    text = base64.b64encode(data).decode()
    assert np.array_equal(decode_png(data), decode_png(text))


def test_slightly_perturbed_figure_passes():
    # What differs between machines: anti-aliasing and font rasterising.
    perturbed = png(**{"text.antialiased": False})
    img = decode_png(perturbed).astype(np.int16)
    noisy = img + np.random.default_rng(0).integers(-3, 4, img.shape)
    buf = io.BytesIO()
    from PIL import Image

    Image.fromarray(noisy.clip(0, 255).astype(np.uint8)).save(buf, "png")
    for candidate in (perturbed, buf.getvalue()):
        assert compare_pngs(png(), candidate) is None


def test_another_figure_fails_with_its_rms():
    mismatch = compare_pngs(png("sin"), png("exp"))
    assert mismatch is not None
    assert mismatch.rms > TOLERANCE
    assert f"tolerance {TOLERANCE:g}" in mismatch.reason


def test_another_size_fails():
    mismatch = compare_pngs(png(), png(size=(4, 3.5)))
    assert mismatch is not None and mismatch.rms is None
    assert "size differs: stored 288x216 RGB, fresh 288x252 RGB" in (
        mismatch.reason
    )


def test_negative_tolerance_is_refused():
    with pytest.raises(ValueError, match="tol: expected a number >= 0"):
        compare_pngs(png(), png(), tol=-1)


def test_cell_check_names_the_output_and_writes_images(tmp_path):
    text = {"output_type": "stream", "name": "stdout", "text": "hi\n"}
    stored = [text, output(png("sin")), output(png("sin"))]
    fresh = [text, output(png("sin")), output(png("exp"))]
    assert check_cell_figures(stored, stored, "nb-cell3", tmp_path) == []
    (message,) = check_cell_figures(fresh, stored, "nb-cell3", tmp_path)
    assert message.startswith("nb-cell3, figure 2 of 2 (output image/png)")
    assert f"> tolerance {TOLERANCE:g}" in message
    written = sorted(p.name for p in tmp_path.iterdir())
    assert written == [
        "nb-cell3-fig2-diff.png",
        "nb-cell3-fig2-fresh.png",
        "nb-cell3-fig2-stored.png",
    ]


def test_cell_check_counts_figures(tmp_path):
    (message,) = check_cell_figures([], [output(png())], "nb-cell4", tmp_path)
    assert message == "nb-cell4: 1 stored figure(s) (image/png), 0 fresh"
