"""Unit tests of :mod:`tools.metrics`: ``torch_mape``, ``max_relative_error`` and ``agreement``.

Covered: known values for tensors, plain floats and ints, integer tensors; the zero cases
(both zero -> 0, only the true value zero -> ``ValueError``); NaN/inf inputs rejected, never a
NaN/inf result for finite inputs (also in float16/float32, where the difference overflows);
argument errors (tensor mixed with a number, shape, emptiness, dtype, device, bools, complex);
the result type; and the verdict strings of ``agreement``.
"""

from __future__ import annotations

import math

import pytest
import torch

from tools import agreement, max_relative_error, torch_mape


def t(*values, dtype=torch.float64) -> torch.Tensor:
    return torch.tensor(values, dtype=dtype)


# -- torch_mape -------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "pred, true, expected",
    [
        (t(110.0, 90.0), t(100.0, 100.0), 10.0),
        (
            t(1.0, -3.0, 0.0, 8.0),
            t(2.0, -4.0, 0.0, 4.0),
            (50 + 25 + 0 + 100) / 4,
        ),
        (t(-1.5), t(-1.0), 50.0),
        (
            torch.tensor(3.0, dtype=torch.float64),
            torch.tensor(4.0, dtype=torch.float64),
            25.0,
        ),  # 0-d
        (t(3.0, 5.0).reshape(2, 1), t(4.0, 5.0).reshape(2, 1), 12.5),
        (1.5, 1.0, 50.0),
        (3, 4, 25.0),
        (3, 4.0, 25.0),
        (-2, -1, 100.0),
        (torch.tensor([3, 5]), torch.tensor([4, 5]), 12.5),  # int64
        (
            torch.tensor([7, -1], dtype=torch.int32),
            torch.tensor([5, -1], dtype=torch.int32),
            20.0,
        ),
        (
            torch.tensor([2**40 + 1]),
            torch.tensor([2**40]),
            100 * 2.0**-40,
        ),  # exact in float64
    ],
    ids=[
        "basic",
        "mixed",
        "negative",
        "0-d",
        "2-D",
        "floats",
        "ints",
        "int-float",
        "neg ints",
        "int64",
        "int32",
        "big ints",
    ],
)
def test_mape_known_values(pred, true, expected):
    result = torch_mape(pred, true)
    assert type(result) is float
    assert result == pytest.approx(expected, rel=1e-14)


@pytest.mark.parametrize(
    "pred, true",
    [
        (0.0, 0.0),
        (0, 0),
        (t(0.0, 0.0), t(0.0, 0.0)),
        (t(0.0, 2.0), t(0.0, 2.0)),
        (torch.zeros(3, dtype=torch.int64), torch.zeros(3, dtype=torch.int64)),
    ],
)
def test_mape_both_zero_counts_as_exact(pred, true):
    assert torch_mape(pred, true) == 0.0


def test_mape_both_zero_entry_still_counts_in_the_mean():
    assert torch_mape(t(0.0, 110.0), t(0.0, 100.0)) == pytest.approx(
        5.0, rel=1e-14
    )


@pytest.mark.parametrize(
    "pred, true",
    [
        (1e-300, 0.0),
        (1, 0),
        (t(1.0, 0.5), t(1.0, 0.0)),
        (t(-0.0, 1.0), t(0.0, 0.0)),
    ],
)
def test_mape_true_zero_with_nonzero_pred_raises(pred, true):
    with pytest.raises(
        ValueError, match=r"true_value is 0 where pred_value is not"
    ):
        torch_mape(pred, true)


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
@pytest.mark.parametrize("where", ["pred_value", "true_value"])
def test_mape_rejects_nan_and_inf_tensors(bad, where):
    good, poisoned = t(1.0, 2.0), t(1.0, bad)
    args = (poisoned, good) if where == "pred_value" else (good, poisoned)
    with pytest.raises(
        ValueError, match=rf"{where} must be finite, but 1 of its 2 entries"
    ):
        torch_mape(*args)


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
@pytest.mark.parametrize("where", ["pred_value", "true_value"])
def test_mape_rejects_nan_and_inf_numbers(bad, where):
    """The docstring promises ``ValueError`` for NaN/inf inputs; plain numbers must not slip through."""
    args = (bad, 1.0) if where == "pred_value" else (1.0, bad)
    with pytest.raises(ValueError, match=where):
        torch_mape(*args)


@pytest.mark.parametrize(
    "dtype, big", [(torch.float16, 60000.0), (torch.float32, 3e38)]
)
def test_mape_is_finite_when_the_difference_overflows_the_input_dtype(
    dtype, big
):
    """Finite inputs give a finite answer: |big - (-big)| / |-big| is 200 %, whatever the input dtype."""
    pred, true = t(big, dtype=dtype), t(-big, dtype=dtype)
    assert torch_mape(pred, true) == pytest.approx(200.0)
    assert max_relative_error(pred, true) == pytest.approx(2.0)


@pytest.mark.parametrize(
    "pred, true",
    [
        (t(1.0), 1.0),
        (1.0, t(1.0)),
        (t(1.0).numpy(), t(1.0).numpy()),
        ([1.0], [1.0]),
        ("1", "1"),
        (None, 1.0),
    ],
    ids=[
        "tensor-number",
        "number-tensor",
        "numpy",
        "lists",
        "strings",
        "none",
    ],
)
def test_mape_rejects_anything_but_two_tensors_or_two_numbers(pred, true):
    with pytest.raises(
        TypeError,
        match=r"pred_value and true_value must be two torch\.Tensors or two real numbers",
    ):
        torch_mape(pred, true)


@pytest.mark.parametrize("pred, true", [(True, True), (True, 1.0), (1, False)])
def test_mape_rejects_python_bools(pred, true):
    with pytest.raises(
        TypeError, match=r"two real numbers, got \w+ and \w+$"
    ) as info:
        torch_mape(pred, true)
    assert "bool" in str(info.value)


def test_mape_rejects_bool_tensors():
    """Bools are not numbers here (plain ``True`` is refused), so bool tensors must be refused too."""
    with pytest.raises((TypeError, ValueError), match="bool"):
        torch_mape(torch.tensor([True, False]), torch.tensor([True, True]))


@pytest.mark.filterwarnings("ignore:Casting complex values to real")
def test_mape_rejects_complex_tensors():
    """A complex tensor must not have its imaginary part dropped silently (1+1j vs 1 is not 0 % apart)."""
    with pytest.raises((TypeError, ValueError)):
        torch_mape(torch.tensor([1 + 1j]), torch.tensor([1 + 0j]))


@pytest.mark.parametrize(
    "pred, true, match",
    [
        (t(1.0, 2.0), t(1.0, 2.0, 3.0), r"same shape, got \(2,\) and \(3,\)"),
        (
            t(1.0, 2.0),
            t(1.0, 2.0).reshape(2, 1),
            r"same shape, got \(2,\) and \(2, 1\) \(no broadcasting\)",
        ),
        (t(1.0), torch.tensor(1.0, dtype=torch.float64), r"same shape"),
        (t(), t(), r"must not be empty"),
        (
            t(1.0, dtype=torch.float32),
            t(1.0),
            r"pred_value has dtype torch\.float32 but true_value has dtype torch\.float64",
        ),
        (torch.tensor([1]), t(1.0), r"pred_value has dtype torch\.int64"),
        (
            torch.tensor([1], dtype=torch.int32),
            torch.tensor([1]),
            r"pred_value has dtype torch\.int32",
        ),
    ],
    ids=[
        "length",
        "broadcast",
        "0-d vs 1-D",
        "empty",
        "float32-float64",
        "int-float",
        "int32-int64",
    ],
)
def test_mape_rejects_mismatched_tensors(pred, true, match):
    with pytest.raises(ValueError, match=match):
        torch_mape(pred, true)


def test_mape_rejects_device_mismatch():
    try:
        elsewhere = torch.ones(2, device="meta", dtype=torch.float64)
    except Exception as e:  # pragma: no cover - depends on the torch build
        pytest.skip(f"this torch cannot make meta tensors: {e}")
    with pytest.raises(
        ValueError,
        match=r"pred_value is on device meta but true_value is on cpu",
    ):
        torch_mape(elsewhere, t(1.0, 2.0))


def test_mape_ignores_autograd_and_returns_float():
    pred = t(2.0, 4.0).requires_grad_(True)
    result = torch_mape(pred, t(1.0, 4.0))
    assert type(result) is float and result == 50.0


# -- max_relative_error -------------------------------------------------------------------------
@pytest.mark.parametrize(
    "actual, expected, value",
    [
        (t(1.0, 2.0), t(1.0, 4.0), 0.5),
        (
            t(1.0, -4.5),
            t(0.0, -4.0),
            0.25,
        ),  # max|diff| / max|expected|, not entry by entry
        (t(3.0, 4.0), t(3.0, 4.0), 0.0),
        (3.0, 2.0, 0.5),
        (-3, -2, 0.5),
        (torch.tensor([5, 7]), torch.tensor([4, 8]), 1 / 8),
    ],
)
def test_max_relative_error_known_values(actual, expected, value):
    result = max_relative_error(actual, expected)
    assert type(result) is float
    assert result == pytest.approx(value, rel=1e-15)


@pytest.mark.parametrize(
    "zeros",
    [
        0.0,
        torch.zeros(3, dtype=torch.float64),
        torch.zeros(2, 2, dtype=torch.int64),
    ],
)
def test_max_relative_error_of_all_zeros_is_zero(zeros):
    assert max_relative_error(zeros, zeros) == 0.0


@pytest.mark.parametrize(
    "actual, expected", [(1e-300, 0.0), (t(0.0, 1e-3), t(0.0, 0.0))]
)
def test_max_relative_error_with_zero_expected_raises(actual, expected):
    with pytest.raises(ValueError, match=r"expected is all zeros"):
        max_relative_error(actual, expected)


def test_max_relative_error_checks_its_inputs():
    with pytest.raises(ValueError, match=r"finite"):
        max_relative_error(t(1.0, math.nan), t(1.0, 1.0))
    with pytest.raises(ValueError, match=r"same shape"):
        max_relative_error(t(1.0), t(1.0, 1.0))
    with pytest.raises(TypeError):
        max_relative_error(t(1.0), 1.0)


# -- agreement ---------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "actual, expected, verdict",
    [
        (t(1.0, 2.0), t(1.0, 2.0), "max relative error < 1e-12: True"),
        (t(1.0), t(1.0 + 1e-15), "max relative error < 1e-12: True"),
        (t(1.0, 2.0), t(1.0, 2.0 + 1e-9), "max relative error < 1e-12: False"),
        (t(1.0, 2.0), t(1.0, 3.0), "max relative error < 1e-12: False"),
        (1.0, 1.0, "max relative error < 1e-12: True"),
    ],
)
def test_agreement_verdicts(actual, expected, verdict):
    assert agreement(actual, expected) == verdict


def test_agreement_custom_tolerance_and_boundary():
    assert (
        agreement(t(1.0), t(1.01), tol=0.1)
        == "max relative error < 1e-01: True"
    )
    assert (
        agreement(t(1.5), t(1.0), tol=0.5)
        == "max relative error < 5e-01: False"
    )  # strict '<'
