"""Unit tests of :mod:`tools.gradcheck`: finite differences, the relative
error, and the checker on correct layers, whole networks and a layer with
a deliberately broken ``backward``."""

from __future__ import annotations

import math

import pytest
import torch

import tools

F64 = torch.float64


def randn(*shape: int, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.randn(*shape, generator=g, dtype=F64)


def test_numerical_gradient_of_a_known_function_and_x_restored():
    x = randn(3, 2, seed=1)
    before = x.clone()
    g = tools.numerical_gradient(lambda: (x.sin()).sum(), x, eps=1e-6)
    assert tools.max_relative_error(g, x.cos()) < 1e-9
    assert torch.equal(x, before)


def test_relative_error_values():
    a = torch.tensor([3.0, 4.0], dtype=F64)
    assert tools.relative_error(a, a) == 0.0
    assert tools.relative_error(a, -a) == 1.0
    assert tools.relative_error(a, torch.zeros(2, dtype=F64)) == 1.0
    zero = torch.zeros(2, dtype=F64)
    assert tools.relative_error(zero, zero) == 0.0
    assert math.isclose(tools.relative_error(a, 1.1 * a), 0.1 / 2.1)


@pytest.mark.parametrize(
    "layer",
    [
        tools.Linear(4, 3, dtype=F64, seed=0),
        tools.ReLU(),
        tools.Sigmoid(),
        tools.Tanh(),
        tools.GELU(),
        tools.GELU("tanh"),
    ],
    ids=repr,
)
def test_gradient_check_passes_correct_layers(layer):
    x = randn(5, 4, seed=2) + 0.1  # ReLU: no entry within eps of 0
    errors = tools.gradient_check(layer, x)
    assert set(errors) == {"x"} | {n for n, _ in layer.named_parameters()}
    assert max(errors.values()) < 1e-7, errors


def test_gradient_check_of_a_network_names_every_parameter():
    net = tools.Sequential(
        tools.Linear(3, 4, dtype=F64, seed=0), tools.Tanh(),
        tools.Linear(4, 2, dtype=F64, seed=1),
    )
    errors = tools.gradient_check(net, randn(6, 3, seed=3))
    assert list(errors) == ["x", "0.w", "0.b", "2.w", "2.b"]
    assert max(errors.values()) < 1e-7, errors


class BrokenSigmoid(tools.Sigmoid):
    """Forgets the ``(1 - sigma)`` factor of the derivative."""

    def _backward(self, g):
        return g * tools.functional.sigmoid(self._input)


class BrokenLinear(tools.Linear):
    """Averages the bias gradient over the batch instead of summing it."""

    def _backward(self, g):
        dx = super()._backward(g)
        self.db = g.mean(dim=0)
        return dx


def test_gradient_check_catches_broken_layers():
    errors = tools.gradient_check(BrokenSigmoid(), randn(5, 3, seed=4))
    assert errors["x"] > 1e-2
    broken = BrokenLinear(3, 2, dtype=F64, seed=0)
    errors = tools.gradient_check(broken, randn(5, 3, seed=5))
    assert errors["b"] > 1e-2
    assert errors["w"] < 1e-7 and errors["x"] < 1e-7


def test_gradient_check_leaves_parameters_unchanged():
    layer = tools.Linear(3, 2, dtype=F64, seed=0)
    before = [p.clone() for p in layer.parameters()]
    tools.gradient_check(layer, randn(4, 3, seed=6))
    for p, p0 in zip(layer.parameters(), before):
        assert torch.equal(p, p0)


def test_bad_input():
    x = torch.ones(2, dtype=F64)
    with pytest.raises(ValueError, match="eps must be a finite number > 0"):
        tools.numerical_gradient(lambda: x.sum(), x, eps=0.0)
    with pytest.raises(TypeError, match="x must be floating point"):
        tools.numerical_gradient(lambda: 0.0, torch.ones(2, dtype=int))
    with pytest.raises(ValueError, match="same shape"):
        tools.relative_error(x, torch.ones(3, dtype=F64))
    with pytest.raises(ValueError, match="numeric must be finite"):
        tools.relative_error(x, x * math.nan)
