"""``tools.Dropout`` (chapter 4): inverted dropout, ``p`` the probability
to drop.

* the mask: boolean, of the input's shape, new at every training forward,
  reproducible from the seed; the output ``x * mask / (1 - p)``;
* statistics: the kept fraction and the preserved mean, within a few
  standard errors, and the same as ``nn.Dropout``'s;
* the backward pass against autograd through the same mask;
* evaluation is the identity (forward and backward, no mask);
* every bad ``p``, seed and input, with the message checked.
"""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

import tools
from tools.dropout import Dropout

F64 = torch.float64


def randn(*shape: int, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.randn(*shape, generator=g, dtype=F64)


def message(fn, error=ValueError) -> str:
    with pytest.raises(error) as info:
        fn()
    return str(info.value)


@pytest.mark.parametrize("p", [0.0, 0.1, 0.5, 0.9])
@pytest.mark.parametrize("shape", [(2, 3), (7,), (4, 5, 6)], ids=str)
def test_training_output_is_x_times_mask_over_keep(p, shape):
    x = randn(*shape, seed=1)
    drop = Dropout(p, seed=3)
    y = drop.forward(x)
    assert drop.mask.dtype == torch.bool and drop.mask.shape == x.shape
    assert torch.equal(y, x * drop.mask / (1 - p))
    if p == 0.0:
        assert bool(drop.mask.all()) and torch.equal(y, x)


@pytest.mark.parametrize("p", [0.1, 0.5, 0.8])
@pytest.mark.parametrize("shape", [(2, 3), (9, 4), (3, 2, 5)], ids=str)
def test_backward_matches_autograd_through_the_same_mask(p, shape):
    x, g = randn(*shape, seed=2), randn(*shape, seed=3)
    drop = Dropout(p, seed=4)
    y = drop.forward(x)
    dx = drop.backward(g)
    xt = x.clone().requires_grad_(True)
    ref = xt * drop.mask / (1 - p)
    ref.backward(g)
    assert tools.max_relative_error(y, ref.detach()) < 1e-15
    assert tools.max_relative_error(dx, xt.grad) < 1e-15
    assert torch.equal(dx == 0, ~drop.mask)
    assert drop.gradients() == [] and drop.parameters() == []


@pytest.mark.parametrize("p", [0.2, 0.5, 0.75])
def test_kept_fraction_and_mean_match_the_formulas_and_nn_dropout(p):
    """Over 200,000 entries the kept fraction has standard error
    sqrt(p (1 - p) / N) < 0.0012 and the mean of the output of ones
    sqrt(p / ((1 - p) N)) < 0.004: five standard errors are allowed."""
    n = 200_000
    ones = torch.ones(n, dtype=F64)
    drop = Dropout(p, seed=0)
    y = drop.forward(ones)
    frac_se = math.sqrt(p * (1 - p) / n)
    mean_se = math.sqrt(p / ((1 - p) * n))
    kept = float(drop.mask.double().mean())
    assert abs(kept - (1 - p)) < 5 * frac_se
    assert abs(float(y.mean()) - 1.0) < 5 * mean_se
    torch.manual_seed(0)
    ref = nn.Dropout(p)(ones)
    ref_kept = float((ref != 0).double().mean())
    assert abs(ref_kept - (1 - p)) < 5 * frac_se
    assert abs(kept - ref_kept) < 5 * math.sqrt(2) * frac_se
    # the kept entries are scaled alike: one value, 1 / (1 - p)
    assert torch.unique(y[y != 0]).tolist() == [1 / (1 - p)]
    assert torch.unique(ref[ref != 0]).tolist() == pytest.approx(
        [1 / (1 - p)], rel=1e-15
    )


def test_each_forward_draws_a_new_mask_from_its_seeded_generator():
    x = torch.ones(50, 40, dtype=F64)
    a, b = Dropout(0.5, seed=11), Dropout(0.5, seed=11)
    masks_a = [a.forward(x) for _ in range(3)]
    masks_b = [b.forward(x) for _ in range(3)]
    assert all(torch.equal(s, t) for s, t in zip(masks_a, masks_b))
    assert not torch.equal(masks_a[0], masks_a[1])
    assert not torch.equal(Dropout(0.5, seed=12).forward(x), masks_a[0])
    # the layer's own generator: PyTorch's global one does not move
    state = torch.random.get_rng_state()
    a.forward(x)
    assert torch.equal(torch.random.get_rng_state(), state)
    # seed=None: a seed drawn from the global generator at construction
    torch.manual_seed(5)
    c = Dropout(0.3)
    torch.manual_seed(5)
    d = Dropout(0.3)
    assert torch.equal(c.forward(x), d.forward(x))


def test_evaluation_is_the_identity_and_keeps_no_mask():
    x, g = randn(6, 4, seed=1), randn(6, 4, seed=2)
    drop = Dropout(0.6, seed=0)
    drop.forward(x)
    assert drop.eval() is drop and not drop.training
    assert torch.equal(drop.forward(x), x) and drop.mask is None
    assert torch.equal(drop.backward(g), g)
    assert torch.equal(drop._apply(x), x)
    drop.train()
    assert not torch.equal(drop.forward(x), x) and drop.mask is not None
    # _apply draws a mask, keeps nothing
    kept = drop.mask
    out = drop._apply(x)
    assert drop.mask is kept and not torch.equal(out, x)
    assert bool(((out == 0) | (out == x / 0.4)).all())


def test_float32_and_the_mask_follows_the_input_device():
    drop = Dropout(0.5, seed=1)
    x = torch.ones(3, 4)
    assert drop.forward(x).dtype == torch.float32
    assert drop.backward(torch.ones(3, 4)).dtype == torch.float32
    meta = torch.empty(3, 4, device="meta")
    mask = drop._draw_mask(meta)
    assert mask.device.type == "meta" and mask.dtype == torch.bool


def test_bad_p_seed_and_inputs_full_messages():
    for bad in (-0.1, 1.0, 1.5, math.nan, math.inf):
        assert message(lambda: Dropout(bad)) == (
            "p must be a number in [0, 1) (the probability to drop an "
            f"entry; p = 1 would drop everything), got {float(bad)}"
        )
    for bad in ("0.5", None, True):
        assert message(lambda: Dropout(bad), TypeError) == (
            "p must be a number in [0, 1) (the probability to drop), got "
            f"{bad!r} ({type(bad).__name__})"
        )
    assert message(lambda: Dropout(0.5, seed=-1)) == (
        "seed must be an integer >= 0, got -1"
    )
    drop = Dropout(0.5, seed=0)
    assert message(
        lambda: drop.backward(torch.ones(2, 2, dtype=F64)), RuntimeError
    ) == (
        "Dropout(p=0.5).backward() was called before forward(x): there is "
        "no input to differentiate at yet"
    )
    assert message(lambda: drop.forward(torch.tensor(1.0))) == (
        "x must have at least one dimension, got a 0-d tensor"
    )
    assert message(lambda: drop.forward(torch.ones(2, dtype=torch.int64)),
                   TypeError) == (
        "x must hold floating-point numbers, got torch.int64"
    )
    assert message(lambda: drop.forward(torch.tensor([1.0, math.nan]))) == (
        "x must be finite, but 1 of its 2 entries are NaN or inf"
    )
    assert message(lambda: drop.forward([1.0]), TypeError).startswith(
        "x must be a torch.Tensor, got list"
    )
    assert drop.mask is None and drop._input is None
    drop.forward(torch.ones(2, 3, dtype=F64))
    assert message(lambda: drop.backward(torch.ones(3, 2, dtype=F64))) == (
        "grad_output must have the shape of the last output (2, 3), got "
        "shape (3, 2)"
    )
    assert repr(drop) == "Dropout(p=0.5)" and drop.p == 0.5
    assert repr(Dropout(0)) == "Dropout(p=0.0)"


def test_masks_written_out_and_the_seed_drawn_when_none_is_given():
    """The masks are ``U(0, 1) >= p`` in float64 from a generator seeded
    with ``seed``; without a seed, the seed is ``randint(2**62)`` from
    PyTorch's global generator, kept in ``seed``."""
    drop = Dropout(0.3, seed=42)
    assert drop.seed == 42
    gen = torch.Generator().manual_seed(42)
    for shape in [(5, 4), (3, 2, 2)]:
        drop.forward(torch.ones(shape, dtype=F64))
        u = torch.rand(shape, generator=gen, dtype=F64)
        assert torch.equal(drop.mask, u >= 0.3)
    torch.manual_seed(7)
    drawn = Dropout(0.3).seed
    torch.manual_seed(7)
    assert drawn == int(torch.randint(2**62, ())) and drawn > 2**40
