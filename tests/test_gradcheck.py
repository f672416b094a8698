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


# -- relative_error at the ends of float64, complex, and never 0 for different
import mpmath  # noqa: E402  (the exact reference below)
import numpy as np  # noqa: E402
from hypothesis import HealthCheck, example, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402
from hypothesis.extra import numpy as hnp  # noqa: E402

QUICK = settings(
    max_examples=200,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)
FINITE = st.floats(allow_nan=False, allow_infinity=False)


def exact_relative_error(a: torch.Tensor, n: torch.Tensor) -> mpmath.mpf:
    """``||a - n|| / (||a|| + ||n||)`` in 60-digit arithmetic (each float64
    entry is exact as an mpf)."""
    with mpmath.workdps(60):
        a = [mpmath.mpf(float(x)) for x in a.reshape(-1)]
        n = [mpmath.mpf(float(x)) for x in n.reshape(-1)]
        diff = mpmath.sqrt(sum((x - y) ** 2 for x, y in zip(a, n)))
        scale = mpmath.sqrt(sum(x**2 for x in a))
        scale += mpmath.sqrt(sum(y**2 for y in n))
        return diff / scale if scale else mpmath.mpf(0)


@pytest.mark.parametrize(
    "s", [1e-150, 1e-170, 1e-300, 2e-322, 1e150, 1e160, 1e200, 1e300]
)
def test_relative_error_does_not_depend_on_the_scale_of_its_inputs(s):
    """Norms of entries below about 1e-154 underflow, above about 1e154
    overflow, when they are not scaled first: the error was 0.0 or NaN."""
    a = torch.tensor([1.0, 2.0, 3.0], dtype=F64) * s
    n = torch.tensor([1.0, 2.0, 4.0], dtype=F64) * s
    expected = float(exact_relative_error(a, n))
    assert tools.relative_error(a, n) == pytest.approx(expected, rel=1e-12)


@QUICK
@given(
    pair=hnp.array_shapes(min_dims=1, max_dims=2, max_side=4).flatmap(
        lambda shape: st.tuples(
            hnp.arrays(np.float64, shape, elements=FINITE),
            hnp.arrays(np.float64, shape, elements=FINITE),
        )
    )
)
@example(pair=(np.array([1e300, 1e-300]), np.array([1e300, 0.0])))
@example(pair=(np.array([5e-324]), np.array([-5e-324])))
@example(pair=(np.array([1.7e308, -1.7e308]), np.array([-1.7e308, 0.0])))
def test_relative_error_of_any_two_finite_arrays(pair):
    """Finite, in [0, 1], within 1e-12 of the exact value (or of 0 where
    that is below 1e-300), and 0.0 exactly when the arrays are equal."""
    a, n = (torch.from_numpy(x) for x in pair)
    result = tools.relative_error(a, n)
    exact = exact_relative_error(a, n)
    assert math.isfinite(result) and 0 <= result <= 1
    assert (result == 0) == bool(torch.equal(a, n))
    assert result == pytest.approx(float(exact), rel=1e-12, abs=1e-300)


def test_relative_error_of_complex_vectors():
    """|(1+i) - (1-i)| / (|1+i| + |1-i|) = 2 / (2 sqrt 2); the imaginary
    part was dropped before, giving 0.0."""
    a, n = torch.tensor([1 + 1j]), torch.tensor([1 - 1j])
    assert tools.relative_error(a, n) == pytest.approx(2**-0.5, rel=1e-15)
    assert tools.relative_error(a, a) == 0.0
    real = torch.tensor([1.0, 2.0], dtype=F64)
    assert tools.relative_error(real.to(torch.complex128), real) == 0.0


def test_relative_error_refuses_bool_and_mixed_devices():
    with pytest.raises(TypeError, match=r"^analytic must hold numbers"):
        tools.relative_error(torch.tensor([True]), torch.ones(1))
    with pytest.raises(ValueError, match=r"^analytic is on device meta but"):
        tools.relative_error(torch.ones(1, device="meta"), torch.ones(1))


# -- numerical_gradient: state put back, strided tensors, bad f, bad eps ----
class Interrupt:
    """``f`` for numerical_gradient: raises ``error`` on call ``k``."""

    def __init__(self, x, k, error=KeyboardInterrupt):
        self.x, self.k, self.calls, self.error = x, k, 0, error

    def __call__(self):
        self.calls += 1
        if self.calls == self.k:
            raise self.error
        return self.x.sin().sum()


@pytest.mark.parametrize("k", [1, 2, 5])
@pytest.mark.parametrize("error", [KeyboardInterrupt, RuntimeError])
def test_numerical_gradient_puts_the_entry_back_when_f_raises(k, error):
    """Ctrl-C (or any error) in the middle of a difference: every entry of
    x is bit for bit what it was."""
    x = randn(2, 3, seed=8)
    before = x.clone()
    with pytest.raises(error):
        tools.numerical_gradient(Interrupt(x, k, error), x)
    assert torch.equal(x, before)


class Flaky(tools.Tanh):
    """A layer whose forward raises on its ``k``-th call."""

    def __init__(self, k):
        super().__init__()
        self.k, self.calls = k, 0

    def _forward(self, z):
        self.calls += 1
        if self.calls == self.k:
            raise KeyboardInterrupt
        return super()._forward(z)


def test_gradient_check_puts_the_parameters_back_when_the_layer_raises():
    first = tools.Linear(3, 2, dtype=F64, seed=0)
    net = tools.Sequential(first, Flaky(k=40))  # inside the w differences
    before = [p.clone() for p in net.parameters()]
    with pytest.raises(KeyboardInterrupt):
        tools.gradient_check(net, randn(4, 3, seed=9))
    assert all(torch.equal(p, p0) for p, p0 in zip(net.parameters(), before))


def test_numerical_gradient_of_a_transposed_view():
    """A non-contiguous tensor (a transposed view) is nudged entry by
    entry like any other, and its base is put back."""
    base = randn(3, 2, seed=10)
    x = base.T
    before = base.clone()
    g = tools.numerical_gradient(lambda: x.sin().sum(), x)
    assert g.shape == x.shape
    assert tools.max_relative_error(g, x.cos()) < 1e-9
    assert torch.equal(base, before)


def test_numerical_gradient_of_a_model_parameter_copied_from_nn_linear():
    torch.manual_seed(0)
    layer = torch.nn.Linear(3, 2).double()
    model = tools.LinearRegression(3, 2, dtype=F64)
    model.copy_params(layer)
    assert model.w.is_contiguous()
    x = randn(5, 3, seed=11)
    y = randn(5, 2, seed=12)
    dw, _ = model.gradients(x, y, model.predict(x))
    numeric = tools.numerical_gradient(
        lambda: model.mse_loss(y, model.predict(x)), model.w
    )
    assert tools.relative_error(dw, numeric) < 1e-8


def test_numerical_gradient_refuses_an_expanded_view():
    x = torch.zeros(1, 3, dtype=F64).expand(2, 3)
    with pytest.raises(ValueError, match=r"^x is an expanded view"):
        tools.numerical_gradient(lambda: x.sum(), x)


@pytest.mark.parametrize(
    "value, error, match",
    [
        (lambda x: x * 2, TypeError, r"f must return a scalar .* shape \(3,\)"),
        (lambda x: None, TypeError, r"f must return a scalar .* NoneType"),
        (lambda x: "1.0", TypeError, r"f must return a scalar .* str"),
        (lambda x: x.sum() * 1j, TypeError, r"f must return a real number"),
        (lambda x: x.sum() * math.nan, ValueError, r"f\(\) returned nan with entry \[0\] nudged by \+eps"),
        (lambda x: (x.sum() > 0) * math.inf, ValueError, r"returned inf"),
    ],
    ids=["vector", "None", "str", "complex", "nan", "inf"],
)
def test_numerical_gradient_refuses_what_is_not_a_finite_scalar(
    value, error, match
):
    x = torch.tensor([0.5, 1.0, 2.0], dtype=F64)
    before = x.clone()
    with pytest.raises(error, match=match):
        tools.numerical_gradient(lambda: value(x), x)
    assert torch.equal(x, before)


def test_numerical_gradient_refuses_nan_in_x_and_an_f_that_is_not_callable():
    x = torch.tensor([1.0, math.nan], dtype=F64)
    with pytest.raises(ValueError, match=r"^x must be finite, but 1 of"):
        tools.numerical_gradient(lambda: x.sum(), x)
    with pytest.raises(TypeError, match=r"^f must be a function of no arg"):
        tools.numerical_gradient(3.0, torch.ones(1, dtype=F64))


def test_gradient_check_says_what_it_accepts():
    with pytest.raises(TypeError) as info:
        tools.gradient_check(torch.nn.Linear(2, 2), torch.ones(3, 2))
    assert str(info.value) == (
        "layer must be a tools layer or Sequential (with forward, backward, "
        "named_parameters and gradients), got Linear, which has no "
        "backward, gradients; a torch.nn.Module is differentiated by "
        "autograd, check it with torch.autograd.gradcheck"
    )
    with pytest.raises(TypeError, match=r"got function, which has no"):
        tools.gradient_check(lambda x: x, torch.ones(3, 2))


@pytest.mark.parametrize(
    "eps, match",
    [
        (1e-300, r"^eps=1e-300 is too small for x in torch\.float64"),
        (1e-17, r"^eps=1e-17 is too small for x"),
        (1e10, r"^eps=10000000000\.0 is too large for x: above 2\.5 "),
    ],
)
def test_an_unusable_eps_is_refused_with_a_hint(eps, match):
    """eps=1e-300 vanished against x and gave errors of 1.0; eps=1e10
    measured a secant far wider than x: both now say what to use."""
    x = torch.tensor([[0.5, -2.5]], dtype=F64)
    with pytest.raises(ValueError, match=match) as info:
        tools.gradient_check(tools.Tanh(), x, eps=eps)
    assert "an eps near" in str(info.value)
    with pytest.raises(ValueError, match=match):
        tools.numerical_gradient(lambda: x.tanh().sum(), x, eps)


def test_an_unusable_eps_names_the_parameter_it_is_unusable_for():
    layer = tools.Linear(1, 1, dtype=F64, seed=0)
    with torch.no_grad():
        layer.w.fill_(1e20)  # x is small: eps fits it, not w
    with pytest.raises(ValueError, match=r"^eps=1e-06 is too small for w "):
        tools.gradient_check(layer, torch.ones(1, 1, dtype=F64))


@pytest.mark.parametrize(
    "x, eps, ok",
    [
        ([[0.5]], 1.0, True),  # eps == max(1, |x|): still accepted
        ([[0.5]], 1.0 + 2**-52, False),
        ([[4.0]], 4.0, True),  # the scale is |x| once it exceeds 1
        ([[4.0]], 4.5, False),
        ([[0.5]], 2.0**-52, True),  # eps == u * max(1, |x|)
        ([[0.5]], 2.0**-53, False),
        ([[4.0]], 2.0**-50, True),
        ([[4.0]], 2.0**-51, False),
    ],
)
def test_the_edges_of_a_usable_eps(x, eps, ok):
    x = torch.tensor(x, dtype=F64)
    if ok:
        tools.numerical_gradient(lambda: x.sum(), x, eps)
    else:
        with pytest.raises(ValueError, match=r"^eps=.* is too (small|large)"):
            tools.numerical_gradient(lambda: x.sum(), x, eps)


def test_a_stride_zero_dimension_of_size_one_is_not_shared():
    """Only a stride-0 dimension of size > 1 makes entries share memory."""
    x = torch.tensor(2.0, dtype=F64).expand(1, 1)
    assert x.stride() == (0, 0)
    g = tools.numerical_gradient(lambda: (x**2).sum(), x)
    assert g.tolist() == [[pytest.approx(4.0)]]


def test_relative_error_refuses_integers_a_float64_would_round():
    """2**60 and 2**60 + 1 are one float64: the error read 0.0."""
    a, n = torch.tensor([2**60]), torch.tensor([2**60 + 1])
    with pytest.raises(ValueError, match=r"^analytic must fit in a float64"):
        tools.relative_error(a, n)
    assert tools.relative_error(torch.tensor([3]), torch.tensor([1])) == 0.5
