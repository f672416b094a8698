"""Unit tests of :mod:`tools.losses` at their edges: the dtypes and shapes
they refuse, and results that overflow the dtype.

Covered: integer, bool and complex ``output`` or ``target`` refused with a
``TypeError`` that names the argument and the dtype; an ``output`` without
columns refused; a loss (or its gradient) too large for the dtype raises a
``ValueError`` naming the loss and the inputs, and leaves the loss's memory of
the last ``forward`` as it was; a zero target against a logit so far below its
row's maximum that its log-probability is -inf adds 0 to the cross-entropy,
as the exact value does (it gave NaN).
"""

from __future__ import annotations

import math

import pytest
import torch

import tools

F64 = torch.float64
LOSSES = [tools.MSELoss, tools.CrossEntropyLoss]


@pytest.mark.parametrize("loss", LOSSES, ids=lambda c: c.__name__)
@pytest.mark.parametrize(
    "dtype, fix",
    [
        (torch.int64, "; convert it with {name}.to(torch.float64)"),
        (torch.bool, "; convert it with {name}.to(torch.float64)"),
        (torch.complex128, " (complex numbers are not supported here)"),
    ],
    ids=["int64", "bool", "complex128"],
)
@pytest.mark.parametrize("name", ["output", "target"])
def test_losses_refuse_tensors_that_are_not_real_floats(loss, dtype, fix, name):
    """int tensors reached PyTorch's "could not infer output dtype", bool
    ones its "Subtraction ... with two bool tensors", and the MSE of complex
    tensors came back complex."""
    args = {
        "output": torch.tensor([[0.0, 1.0]], dtype=F64),
        "target": torch.tensor([[0.0, 1.0]], dtype=F64),
    }
    args[name] = args[name].to(dtype)
    with pytest.raises(TypeError) as info:
        loss().forward(args["output"], args["target"])
    assert str(info.value) == (
        f"{name} must hold real floating-point numbers (torch.float32 or "
        f"torch.float64), got a tensor of {dtype}" + fix.format(name=name)
    )


@pytest.mark.parametrize("loss", LOSSES, ids=lambda c: c.__name__)
def test_losses_refuse_an_output_without_columns(loss):
    """The MSE of two (3, 0) tensors was the mean of nothing: NaN."""
    empty = torch.zeros(3, 0, dtype=F64)
    with pytest.raises(ValueError) as info:
        loss().forward(empty, empty)
    assert str(info.value) == (
        "output must have at least one column, got shape (3, 0)"
    )


def test_mse_that_overflows_raises_and_keeps_the_last_forward():
    loss = tools.MSELoss()
    y = torch.tensor([[1.0], [2.0]], dtype=F64)
    loss.forward(y + 1, y)
    grad = loss.backward()
    huge = torch.tensor([[1e308], [-1e308]], dtype=F64)
    with pytest.raises(ValueError) as info:
        loss.forward(huge, -huge)
    assert str(info.value) == (
        "the MSE loss of output against target overflowed torch.float64: "
        "largest |output| is 1e+308, largest |target| is 1e+308; scale them "
        "down"
    )
    assert torch.equal(loss.backward(), grad)  # the last good forward's


def test_mse_in_float32_overflows_where_float64_does_not():
    loss = tools.MSELoss()
    out = torch.tensor([[1e20]], dtype=torch.float32)
    with pytest.raises(ValueError, match=r"overflowed torch\.float32"):
        loss.forward(out, torch.zeros_like(out))
    assert float(loss.forward(out.double(), torch.zeros(1, 1, dtype=F64))) == (
        pytest.approx(1e40)
    )


def test_cross_entropy_that_overflows_raises():
    """Logits 3.4e308 apart, the target on the smaller: the exact loss is
    3.4e308, beyond float64; it came back as inf."""
    loss = tools.CrossEntropyLoss()
    z = torch.tensor([[1.7e308, -1.7e308]], dtype=F64)
    with pytest.raises(ValueError) as info:
        loss.forward(z, torch.tensor([[0.0, 1.0]], dtype=F64))
    assert str(info.value) == (
        "the CE loss of output against target overflowed torch.float64: the "
        "logits (output) of a row span 2 x 1.7e+308 (largest minus "
        "smallest), and log-softmax subtracts them; scale them down"
    )


@pytest.mark.parametrize("spread", [1.7e308, 1e308])
def test_a_zero_target_adds_nothing_even_against_a_minus_inf_log_probability(
    spread,
):
    """0 * log softmax = 0 * -inf was NaN; the exact loss of row 0 is 0
    (the target sits on the largest logit), of row 1 log 2, so the mean is
    log(2) / 2, and the gradient is 0."""
    loss = tools.CrossEntropyLoss()
    z = torch.tensor([[spread, -spread], [0.0, 0.0]], dtype=F64)
    y = torch.tensor([[1.0, 0.0], [0.5, 0.5]], dtype=F64)
    assert float(loss.forward(z, y)) == pytest.approx(math.log(2) / 2)
    assert loss.backward().tolist() == [[0.0, 0.0], [0.0, 0.0]]
    value = tools.functional.cross_entropy_with_logits(y, z)
    assert float(value) == pytest.approx(math.log(2) / 2)


class NoMean(tools.MSELoss):
    """A learner's MSE whose gradient forgets to divide, and doubles."""

    def _backward(self):
        return (self._output - self._target) * 1e308


def test_a_gradient_that_overflows_raises():
    loss = NoMean()
    loss.forward(torch.tensor([[3.0]], dtype=F64), torch.zeros(1, 1, dtype=F64))
    with pytest.raises(ValueError) as info:
        loss.backward()
    assert str(info.value) == (
        "dL/d(output) of the MSE loss overflowed torch.float64: largest "
        "|output| is 3, largest |target| is 0; scale them down"
    )
