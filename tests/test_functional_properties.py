"""Properties of :mod:`tools.functional` over many inputs (Hypothesis).

The unit tests check chosen values; these check laws that must hold for any
input in a stated range, on batches of up to 6 x 6 float64 logits:

* ``softmax`` is finite, in [0, 1], and its rows sum to 1, for any finite
  logits at all (the row's maximum is subtracted, so ``exp`` sees values
  <= 0 and the sum is at least 1);
* ``log_softmax`` is finite and <= 0 for any logits with ``|z| <= 1e307``
  (then ``z - max(z)`` cannot overflow; beyond, ``-inf`` is the true answer
  rounded);
* each row is computed on its own: a row's result does not depend on the
  other rows of the batch (killing a shift by the batch's largest logit);
* shifting each row by a constant changes nothing: exactly when the logits
  and shifts are integers (``z + c`` is then exact), to 1e-10 for any
  ``|z|, |c| <= 1e4`` (``z + c`` is rounded by up to 1.8e-12 there);
* ``log_softmax == log(softmax)`` where softmax does not underflow
  (``|z| <= 300``: every probability is above ``exp(-600) / 6``);
* ``cross_entropy``, ``cross_entropy_grad``, ``softmax_vjp`` and
  ``logits_grad`` equal PyTorch's autograd for ``|z| <= 50`` (no probability
  near the clamp of ``cross_entropy``).

Runs are reproducible (``derandomize=True``) and quick: the file takes a few
seconds.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from torch.testing import assert_close

import tools

from tools.functional import (
    cross_entropy,
    cross_entropy_grad,
    log_softmax,
    logits_grad,
    softmax,
    softmax_vjp,
)

F64 = torch.float64
LOGIT_SHIFT_RANGE = 1e4  # |z| and |c| in the shift tests
QUICK = settings(
    max_examples=150,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)
SHAPES = st.tuples(st.integers(1, 6), st.integers(1, 6))


def floats(bound: float | None = None) -> st.SearchStrategy[float]:
    """Finite float64 values, within ``[-bound, bound]`` if given."""
    if bound is None:
        return st.floats(allow_nan=False, allow_infinity=False, width=64)
    return st.floats(-bound, bound, allow_nan=False, width=64)


@st.composite
def logits(draw, bound: float | None = None, shape=None) -> torch.Tensor:
    shape = draw(SHAPES) if shape is None else shape
    z = draw(hnp.arrays(np.float64, shape, elements=floats(bound)))
    return torch.from_numpy(z)


@st.composite
def integer_logits_and_shifts(draw):
    """Integer logits and per-row integer shifts, all ``<= 1e4`` in size:
    every ``z + c`` is exact in float64."""
    m, n = draw(SHAPES)
    ints = st.integers(-int(LOGIT_SHIFT_RANGE), int(LOGIT_SHIFT_RANGE))
    z = draw(hnp.arrays(np.int64, (m, n), elements=ints))
    c = draw(hnp.arrays(np.int64, (m, 1), elements=ints))
    return torch.from_numpy(z).to(F64), torch.from_numpy(c).to(F64)


@st.composite
def targets(draw, m: int, n: int) -> torch.Tensor:
    """One-hot rows, or probability rows (positive weights, normalised)."""
    if draw(st.booleans()):
        labels = draw(st.lists(st.integers(0, n - 1), min_size=m, max_size=m))
        return F.one_hot(torch.tensor(labels), n).to(F64)
    w = draw(hnp.arrays(np.float64, (m, n), elements=st.floats(0.01, 1.0)))
    w = torch.from_numpy(w)
    return w / w.sum(dim=1, keepdim=True)


@st.composite
def batches(draw):
    """Logits ``|z| <= 50``, targets, and an upstream gradient ``G``."""
    m, n = draw(SHAPES)
    z = draw(logits(50.0, (m, n)))
    g = draw(logits(10.0, (m, n)))
    return z, draw(targets(m, n)), g


def assert_rows_each_on_their_own(fn, z: torch.Tensor) -> None:
    whole = fn(z)
    for i in range(z.shape[0]):
        assert_close(whole[i], fn(z[i : i + 1])[0], rtol=1e-14, atol=1e-300)


# -- softmax and log_softmax -------------------------------------------------
@QUICK
@given(z=logits())
def test_softmax_of_any_finite_logits_is_a_probability_row(z):
    p = softmax(z)
    assert p.shape == z.shape and p.dtype == F64
    assert bool(torch.isfinite(p).all())
    assert bool(((p >= 0) & (p <= 1)).all())
    sums = p.sum(dim=1)
    assert_close(sums, torch.ones_like(sums), rtol=0, atol=1e-14)
    assert_rows_each_on_their_own(softmax, z)


@QUICK
@given(z=logits(1e307))
def test_log_softmax_is_finite_and_at_most_zero(z):
    lp = log_softmax(z)
    assert lp.shape == z.shape and lp.dtype == F64
    assert bool(torch.isfinite(lp).all())
    assert bool((lp <= 0).all())
    # The largest logit of each row has log-probability in [-log n, 0].
    top = lp.gather(1, z.argmax(dim=1, keepdim=True))
    assert bool((top >= -math.log(z.shape[1]) - 1e-12).all())
    assert_rows_each_on_their_own(log_softmax, z)


@QUICK
@given(zc=integer_logits_and_shifts())
def test_an_exact_shift_of_each_row_changes_nothing(zc):
    z, c = zc
    assert torch.equal(softmax(z + c), softmax(z))
    assert torch.equal(log_softmax(z + c), log_softmax(z))


@QUICK
@given(
    z=logits(LOGIT_SHIFT_RANGE, (4, 5)),
    c=logits(LOGIT_SHIFT_RANGE, (4, 1)),
)
def test_any_shift_of_each_row_changes_nothing_beyond_rounding(z, c):
    p = softmax(z + c)
    assert bool(torch.isfinite(p).all())
    assert_close(p, softmax(z), rtol=1e-10, atol=1e-300)
    assert_close(log_softmax(z + c), log_softmax(z), rtol=0, atol=1e-10)


@QUICK
@given(z=logits(300.0))
def test_log_softmax_is_the_log_of_softmax_where_it_does_not_underflow(z):
    assert_close(log_softmax(z), torch.log(softmax(z)), rtol=1e-12, atol=1e-12)


@QUICK
@given(z=logits(1e4))
def test_softmax_and_log_softmax_match_torch(z):
    assert_close(softmax(z), torch.softmax(z, dim=1), rtol=1e-12, atol=1e-300)
    assert_close(log_softmax(z), torch.log_softmax(z, dim=1))


def test_log_softmax_shifts_by_each_rows_maximum_not_the_batchs():
    """Shifting by the batch's largest logit (800) would send the second
    row to exp(-800) = 0 and its log-probabilities to inf."""
    z = torch.tensor([[800.0, 0.0], [0.0, 1.0]], dtype=F64)
    rows = torch.cat([log_softmax(z[:1]), log_softmax(z[1:])])
    assert bool(torch.isfinite(log_softmax(z)).all())
    assert torch.equal(log_softmax(z), rows)
    assert_close(log_softmax(z), torch.log_softmax(z, dim=1))
    assert torch.equal(
        log_softmax(z)[0], torch.tensor([0.0, -800.0], dtype=F64)
    )
    assert bool(torch.isfinite(softmax(z)).all())
    assert torch.equal(softmax(z), torch.cat([softmax(z[:1]), softmax(z[1:])]))


# -- the loss and its gradients against autograd ------------------------------
@QUICK
@given(batch=batches())
def test_cross_entropy_matches_torch(batch):
    z, y, _ = batch
    expected = F.cross_entropy(z, y)  # probability targets, mean over rows
    assert_close(
        cross_entropy(y, softmax(z)), expected, rtol=1e-10, atol=1e-12
    )


@QUICK
@given(batch=batches())
def test_cross_entropy_grad_matches_autograd(batch):
    z, y, _ = batch
    p = torch.softmax(z, dim=1).requires_grad_(True)
    (-(y * torch.log(p)).sum() / y.shape[0]).backward()
    assert_close(cross_entropy_grad(y, p.detach()), p.grad, rtol=1e-12, atol=0)


@QUICK
@given(batch=batches())
def test_softmax_vjp_matches_autograd(batch):
    z, _, g = batch
    z = z.clone().requires_grad_(True)
    p = torch.softmax(z, dim=1)
    (p * g).sum().backward()
    assert_close(softmax_vjp(p.detach(), g), z.grad, rtol=1e-10, atol=1e-12)


@QUICK
@given(batch=batches())
def test_logits_grad_matches_autograd(batch):
    z, y, _ = batch
    z = z.clone().requires_grad_(True)
    F.cross_entropy(z, y).backward()
    p = softmax(z.detach())
    assert_close(logits_grad(y, p), z.grad, rtol=1e-10, atol=1e-12)
    # ... and equals the chain it collapses.
    chain = softmax_vjp(p, cross_entropy_grad(y, p))
    assert_close(logits_grad(y, p), chain, rtol=1e-10, atol=1e-12)


# -- inputs that have no softmax -----------------------------------------
@pytest.mark.parametrize("fn", [tools.softmax, tools.log_softmax])
@pytest.mark.parametrize(
    "z, match",
    [
        ([1.0, 2.0], r"z must be a 2-D tensor of logits.*z\.unsqueeze\(0\)"),
        ([[math.inf, 0.0]], r"row 0 has largest entry inf"),
        (
            [[0.0, 1.0], [-math.inf, -math.inf]],
            r"row 1 has largest entry -inf",
        ),
        ([[0.0, math.nan]], r"row 0 has largest entry nan"),
    ],
    ids=["1-D", "+inf", "all -inf", "nan"],
)
def test_softmax_refuses_what_has_no_softmax(fn, z, match):
    with pytest.raises(ValueError, match=match):
        fn(torch.tensor(z, dtype=torch.float64))


def test_a_minus_inf_logit_is_a_zero_probability():
    z = torch.tensor([[0.0, -math.inf]], dtype=torch.float64)
    assert tools.softmax(z).tolist() == [[1.0, 0.0]]
    assert tools.log_softmax(z).tolist() == [[0.0, -math.inf]]


# -- the in-place twins the training loop uses -------------------------------
# They must give the public formulas' numbers bit for bit (the training logs
# and stored outputs were made with those), and write over their argument
# only.
@QUICK
@given(z=logits(1e4))
def test_in_place_softmax_and_log_softmax_are_bit_identical(z):
    for public, twin in (
        (softmax, tools.functional._softmax_),
        (log_softmax, tools.functional._log_softmax_),
    ):
        scratch = z.clone()
        out = twin(scratch)
        assert torch.equal(out, public(z))
        assert out.data_ptr() == scratch.data_ptr()  # written in place


@QUICK
@given(
    pair=SHAPES.flatmap(
        lambda shape: st.tuples(logits(1e3, shape), logits(1e3, shape))
    )
)
def test_in_place_mse_and_its_gradient_are_bit_identical(pair):
    y, y_pred = pair
    loss, grad = tools.functional._mse_and_grad_(y, y_pred.clone())
    assert torch.equal(loss, tools.functional.mse(y, y_pred))
    assert torch.equal(grad, tools.functional.mse_grad(y, y_pred))
    assert torch.equal(
        tools.functional._mse_(y, y_pred.clone()),
        tools.functional.mse(y, y_pred),
    )


# -- full messages and defaults ------------------------------------------
def test_softmax_full_messages_for_what_is_not_a_batch():
    with pytest.raises(ValueError) as info:
        tools.softmax(torch.zeros(3, dtype=F64))
    assert str(info.value) == (
        "z must be a 2-D tensor of logits, one row per sample, got (3,); "
        "for a single sample use z.unsqueeze(0)"
    )
    with pytest.raises(ValueError) as info:
        tools.log_softmax([[1.0, 2.0]])
    assert str(info.value) == (
        "z must be a 2-D tensor of logits, one row per sample, got "
        "<class 'list'>; for a single sample use z.unsqueeze(0)"
    )


def test_relu_derivative_is_a_step_at_zero_in_the_input_dtype():
    z = torch.tensor([-1.0, 0.0, 0.5, 2.0], dtype=F64)
    d = tools.functional.relu_derivative(z)
    assert d.dtype == F64 and d.tolist() == [0.0, 0.0, 1.0, 1.0]


def test_gelu_is_exact_by_default_and_refuses_other_forms():
    z = torch.linspace(-4, 4, 17, dtype=F64).requires_grad_()
    exact = F.gelu(z)
    (grad,) = torch.autograd.grad(exact.sum(), z)
    z = z.detach()
    assert_close(tools.functional.gelu(z), exact.detach(), rtol=0, atol=1e-15)
    assert_close(tools.functional.gelu_derivative(z), grad, rtol=0, atol=1e-14)
    for f in (tools.functional.gelu, tools.functional.gelu_derivative):
        with pytest.raises(ValueError) as info:
            f(z, "erf")
        assert str(info.value) == (
            "approximate must be 'none' (exact, with erf) or 'tanh', got 'erf'"
        )


@QUICK
@given(
    pair=SHAPES.flatmap(
        lambda shape: st.tuples(logits(1e3, shape), logits(1e3, shape))
    )
)
def test_in_place_logits_grad_is_bit_identical(pair):
    y, y_pred = pair
    out = tools.functional._logits_grad_(y, y_pred.clone())
    assert torch.equal(out, tools.functional.logits_grad(y, y_pred))


# -- what the formulas refuse, and the names they use --------------------
PAIRS = {
    tools.mse: ("y_true", "y_pred"),
    tools.mse_grad: ("y_true", "y_pred"),
    tools.cross_entropy: ("y_true", "y_pred"),
    tools.cross_entropy_grad: ("y_true", "y_pred"),
    tools.logits_grad: ("y_true", "y_pred"),
    tools.softmax_vjp: ("y_pred", "grad_y_pred"),
    tools.functional.cross_entropy_with_logits: ("y_true", "logits"),
}


@pytest.mark.parametrize("fn", PAIRS, ids=lambda f: f.__name__)
@pytest.mark.parametrize("dtype", [torch.int64, torch.bool, torch.complex128])
@pytest.mark.parametrize("which", [0, 1])
def test_the_pair_formulas_refuse_what_is_not_a_real_float(fn, dtype, which):
    """int and bool tensors reached raw PyTorch errors (or were rounded),
    complex ones gave complex losses."""
    args = [torch.tensor([[0.0, 1.0]], dtype=F64) for _ in range(2)]
    args[which] = args[which].to(dtype)
    with pytest.raises(TypeError) as info:
        fn(*args)
    name = PAIRS[fn][which]
    assert str(info.value).startswith(
        f"{name} must hold real floating-point numbers (torch.float32 or "
        f"torch.float64), got a tensor of {dtype}"
    )


@pytest.mark.parametrize("fn", PAIRS, ids=lambda f: f.__name__)
def test_the_pair_formulas_do_not_broadcast(fn):
    """mse(y of shape (4,), y_pred of shape (4, 1)) averaged a (4, 4)
    matrix of differences without a word."""
    a, b = PAIRS[fn]
    first, second = torch.ones(4, dtype=F64), torch.ones(4, 1, dtype=F64)
    with pytest.raises(ValueError) as info:
        fn(first, second)
    assert str(info.value) == (
        f"{a} and {b} must have the same shape, got (4,) and (4, 1) "
        "(no broadcasting)"
    )


def test_cross_entropy_with_logits_names_its_own_argument():
    """The message said "z must hold finite logits": z is the name inside
    log_softmax, not the caller's."""
    y = torch.tensor([[1.0, 0.0]], dtype=F64)
    z = torch.tensor([[math.inf, 0.0]], dtype=F64)
    with pytest.raises(ValueError) as info:
        tools.functional.cross_entropy_with_logits(y, z)
    assert str(info.value) == (
        "logits must hold finite logits, but row 0 has largest entry inf; "
        "its softmax is undefined"
    )
    with pytest.raises(ValueError, match=r"^logits must be a 2-D tensor"):
        tools.functional.cross_entropy_with_logits(y[0], z[0])


@pytest.mark.parametrize("fn", [tools.softmax, tools.log_softmax])
@pytest.mark.parametrize("dtype", [torch.int64, torch.complex128])
def test_softmax_refuses_logits_that_are_not_real_floats(fn, dtype):
    with pytest.raises(TypeError, match=r"^z must hold real floating-point"):
        fn(torch.tensor([[1, 2]]).to(dtype))


ACTIVATIONS = [
    tools.functional.relu,
    tools.functional.relu_derivative,
    tools.functional.sigmoid,
    tools.functional.sigmoid_derivative,
    tools.functional.tanh,
    tools.functional.tanh_derivative,
    tools.functional.gelu,
    tools.functional.gelu_derivative,
]


@pytest.mark.parametrize("fn", ACTIVATIONS, ids=lambda f: f.__name__)
@pytest.mark.parametrize("dtype", [torch.int64, torch.bool, torch.complex128])
def test_activations_refuse_what_is_not_a_real_float(fn, dtype):
    """relu_derivative of an int tensor was an int tensor; sigmoid of a
    complex one compared complex numbers."""
    with pytest.raises(TypeError, match=r"^z must hold real floating-point"):
        fn(torch.tensor([-1, 0, 2]).to(dtype))
    with pytest.raises(TypeError, match=r"^z must be a torch\.Tensor"):
        fn([1.0])
