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
    with pytest.raises(TypeError, match="x must hold real floating-point"):
        tools.numerical_gradient(lambda: 0.0, torch.ones(2, dtype=int))
    with pytest.raises(ValueError, match="same shape"):
        tools.relative_error(x, torch.ones(3, dtype=F64))
    with pytest.raises(ValueError, match="numeric must be finite"):
        tools.relative_error(x, x * math.nan)


@pytest.mark.parametrize(
    "call, name",
    [
        (lambda: tools.numerical_gradient(lambda: 0.0, [1.0]), "x"),
        (lambda: tools.gradient_check(tools.ReLU(), [[1.0]]), "x"),
        (lambda: tools.relative_error([1.0], torch.ones(1)), "analytic"),
        (lambda: tools.relative_error(torch.ones(1), [1.0]), "numeric"),
    ],
)
def test_a_list_for_a_tensor_is_refused_by_name(call, name):
    with pytest.raises(TypeError) as info:
        call()
    assert str(info.value) == (
        f"{name} must be a torch.Tensor, got list; convert it with "
        f"torch.as_tensor({name}, dtype=torch.float64)"
    )


def test_relative_error_shape_message_in_full():
    with pytest.raises(ValueError) as info:
        tools.relative_error(torch.ones(2, 1), torch.ones(3))
    assert str(info.value) == (
        "analytic and numeric must have the same shape, got (2, 1) and (3,)"
    )


def test_numerical_gradient_default_step_is_small():
    """The default eps (1e-6) leaves a truncation error far below 1e-8; a
    step of 1 would give (8 - 0) / 2 = 4 for d(x^3)/dx = 3 at x = 1."""
    x = torch.ones(1, dtype=F64)
    g = tools.numerical_gradient(lambda: (x**3).sum(), x)
    assert abs(float(g) - 3.0) < 1e-8


def test_gradient_check_uses_its_eps_for_x_and_every_parameter():
    """eps = 0.1 leaves a truncation error of order 1e-3 in every numeric
    gradient of a curved network; the default eps leaves none visible."""
    net = tools.Sequential(
        tools.Linear(3, 4, dtype=F64, seed=0), tools.Tanh()
    )
    x = randn(5, 3, seed=7)
    coarse = tools.gradient_check(net, x, eps=0.1)
    fine = tools.gradient_check(net, x)
    assert list(coarse) == ["x", "0.w", "0.b"]
    assert min(coarse.values()) > 1e-5, coarse
    assert max(fine.values()) < 1e-7, fine


def test_gradient_check_is_reproducible_and_seeded():
    """Same seed, same numbers (the global generator plays no part); the
    default seed is 0; another seed draws another R."""
    layer, x = BrokenSigmoid(), randn(5, 3, seed=4)
    first = tools.gradient_check(layer, x)
    torch.manual_seed(123)
    torch.randn(10)
    assert tools.gradient_check(layer, x) == first
    assert tools.gradient_check(layer, x, seed=0) == first
    assert tools.gradient_check(layer, x, seed=1) != first


class Recorded(Exception):
    pass


class Probe:
    """A layer that records the ``R`` handed to ``backward``, then stops the
    check (its output lives on ``device``, its values do not matter)."""

    def __init__(self, device: str = "cpu") -> None:
        self.device, self.seen = torch.device(device), []

    def forward(self, x):
        return torch.zeros(2, 3, dtype=x.dtype, device=self.device)

    def backward(self, r):
        self.seen.append(r)
        raise Recorded

    def named_parameters(self):
        return []

    def gradients(self):
        return []


@pytest.mark.parametrize("dtype", [torch.float32, F64])
def test_gradient_check_r_is_the_float64_draw_in_the_output_dtype(dtype):
    """R is the seed's float64 normal draw, rounded to the output's dtype: the
    same numbers whatever the layer's precision."""
    probe = Probe()
    with pytest.raises(Recorded):
        tools.gradient_check(probe, torch.ones(2, 4, dtype=dtype), seed=5)
    (r,) = probe.seen
    g = torch.Generator().manual_seed(5)
    expected = torch.randn(2, 3, generator=g, dtype=F64).to(dtype)
    assert r.dtype == dtype
    assert torch.equal(r, expected)


def test_gradient_check_hands_r_over_on_the_output_device():
    """The meta device stands for a GPU: R must follow the output there."""
    probe = Probe("meta")
    with pytest.raises(Recorded):
        tools.gradient_check(probe, torch.ones(2, 4, dtype=F64))
    assert probe.seen[0].device == torch.device("meta")
