"""Unit tests of :mod:`tools.metrics`: ``torch_mape``, ``max_relative_error``
and ``agreement``.

Covered: known values for tensors, plain floats and ints, integer tensors; the
zero cases (both zero -> 0, only the true value zero -> ``ValueError``);
NaN/inf inputs rejected, never a NaN/inf result for finite inputs (float16 and
float32 whose difference overflows, float64 at +-1e308, subnormals), also as
Hypothesis properties over any finite float64 values; argument errors (tensor
mixed with a number, shape, emptiness, dtype, device, bools, complex), each
message naming the calling function's own arguments; the result type; the
verdict strings of ``agreement`` and the checks of its ``tol``.
"""

from __future__ import annotations

import math
import re
from fractions import Fraction

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from tools import agreement, max_relative_error, torch_mape


def t(*values, dtype=torch.float64) -> torch.Tensor:
    return torch.tensor(values, dtype=dtype)


# -- torch_mape ---------------------------------------------------------------
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
    """The docstring promises ``ValueError`` for NaN/inf inputs; plain
    numbers must not slip through."""
    args = (bad, 1.0) if where == "pred_value" else (1.0, bad)
    with pytest.raises(ValueError, match=where):
        torch_mape(*args)


@pytest.mark.parametrize(
    "dtype, big", [(torch.float16, 60000.0), (torch.float32, 3e38)]
)
def test_mape_is_finite_when_the_difference_overflows_the_input_dtype(
    dtype, big
):
    """Finite inputs give a finite answer: |big - (-big)| / |-big| is 200 %,
    whatever the input dtype."""
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
        match=r"pred_value and true_value must be two torch\.Tensors or two "
        r"real numbers",
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
    """Bools are not numbers here (plain ``True`` is refused), so bool
    tensors must be refused too."""
    with pytest.raises(
        TypeError, match=r"^pred_value must hold real numbers .*torch\.bool$"
    ):
        torch_mape(torch.tensor([True, False]), torch.tensor([True, True]))


@pytest.mark.parametrize("where", ["pred_value", "true_value"])
def test_mape_rejects_complex_tensors(where):
    """A complex tensor must not have its imaginary part dropped silently
    (1+1j vs 1 is not 0 % apart), whichever argument it is."""
    real, cplx = torch.tensor([1.0]), torch.tensor([1 + 1j])
    args = (cplx, real) if where == "pred_value" else (real, cplx)
    with pytest.raises(
        TypeError,
        match=rf"^{where} must hold real numbers \(integer or floating "
        r"point\), got tensor of torch\.complex64$",
    ):
        torch_mape(*args)


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
            r"pred_value has dtype torch\.float32 but true_value has dtype "
            r"torch\.float64",
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


# -- max_relative_error -------------------------------------------------------
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
    with pytest.raises(
        ValueError, match=r"^actual must be finite, but 1 of its 2 entries"
    ):
        max_relative_error(t(1.0, math.nan), t(1.0, 1.0))
    with pytest.raises(
        ValueError, match=r"^expected must be finite, but 1 of its 1 entries"
    ):
        max_relative_error(t(1.0), t(math.inf))
    with pytest.raises(
        ValueError,
        match=r"^actual and expected must have the same shape, "
        r"got \(1,\) and \(2,\)",
    ):
        max_relative_error(t(1.0), t(1.0, 1.0))
    with pytest.raises(
        TypeError,
        match=r"^actual and expected must be two torch\.Tensors or two real "
        r"numbers, got tensor of torch\.float64 and float$",
    ):
        max_relative_error(t(1.0), 1.0)


# -- agreement ----------------------------------------------------------------
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
        agreement(t(1.0), t(1.01), tol=0.1) == "max relative error < 0.1: True"
    )
    assert (
        agreement(t(1.5), t(1.0), tol=0.5) == "max relative error < 0.5: False"
    )  # strict '<'


@pytest.mark.parametrize(
    "tol, shown",
    [
        (1e-12, "1e-12"),
        (1.5e-12, "1.5e-12"),
        (0.001, "0.001"),
        (1e-5, "1e-05"),
        (0.25, "0.25"),
        (2, "2.0"),
        (1 / 3, "0.3333333333333333"),
    ],
)
def test_agreement_prints_the_tolerance_it_compared_with(tol, shown):
    line = agreement(1.0, 1.0, tol=tol)
    assert line == f"max relative error < {shown}: True"
    assert float(shown) == tol


def test_agreement_does_not_round_the_tolerance_into_a_wrong_claim():
    """An error of 1.7e-12 fails tol=1.5e-12; the line must not read as if
    it had been compared with 2e-12 (as ``{tol:.0e}`` printed it)."""
    line = agreement(1.0, 1.0 + 1.7e-12, tol=1.5e-12)
    assert line == "max relative error < 1.5e-12: False"
    line = agreement(1.0, 1.0 + 1.2e-12, tol=1.5e-12)
    assert line == "max relative error < 1.5e-12: True"


@pytest.mark.parametrize(
    "tol", [0, 0.0, -0.0, -1, -1e-12, math.nan, math.inf, -math.inf]
)
def test_agreement_rejects_a_tolerance_that_is_not_positive_and_finite(tol):
    with pytest.raises(ValueError, match=r"^tol must be a finite number > 0"):
        agreement(1.0, 1.0, tol=tol)


@pytest.mark.parametrize(
    "tol",
    ["1e-12", None, True, False, 1e-12j, torch.tensor(1e-12), [1e-12]],
    ids=["str", "None", "True", "False", "complex", "tensor", "list"],
)
def test_agreement_rejects_a_tolerance_that_is_not_a_real_number(tol):
    with pytest.raises(TypeError, match=r"^tol must be a positive number"):
        agreement(1.0, 1.0, tol=tol)


# -- messages name the calling function's own arguments -----------------------
NAMES = {
    torch_mape: ("pred_value", "true_value"),
    max_relative_error: ("actual", "expected"),
    agreement: ("actual", "expected"),
}
BAD_PAIRS = {
    "nan first": (
        lambda: (t(math.nan), t(1.0)),
        ValueError,
        "^{a} must be finite",
    ),
    "inf second": (
        lambda: (t(1.0), t(-math.inf)),
        ValueError,
        "^{b} must be finite",
    ),
    "inf number": (lambda: (1.0, math.inf), ValueError, "^{b} must be finite"),
    "shape": (
        lambda: (t(1.0), t(1.0, 2.0)),
        ValueError,
        "^{a} and {b} must have the same shape",
    ),
    "empty": (
        lambda: (t(), t()),
        ValueError,
        "^{a} and {b} must not be empty",
    ),
    "dtype": (
        lambda: (t(1.0, dtype=torch.float32), t(1.0)),
        ValueError,
        r"^{a} has dtype torch\.float32 but {b} has dtype torch\.float64",
    ),
    "mixed": (
        lambda: (t(1.0), 1.0),
        TypeError,
        r"^{a} and {b} must be two torch\.Tensors or two real numbers",
    ),
    "complex": (
        lambda: (t(1.0), torch.tensor([1j])),
        TypeError,
        "^{b} must hold real numbers",
    ),
    "bool": (lambda: (True, 1.0), TypeError, "^{a} and {b} must be two"),
    "huge int": (
        lambda: (10**400, 1),
        ValueError,
        "^{a} and {b} must fit in a float64",
    ),
}


@pytest.mark.parametrize("case", BAD_PAIRS)
@pytest.mark.parametrize("fn", NAMES, ids=lambda f: f.__name__)
def test_messages_name_the_functions_own_arguments(fn, case):
    make, error, pattern = BAD_PAIRS[case]
    a, b = NAMES[fn]
    others = {n for names in NAMES.values() for n in names} - {a, b}
    with pytest.raises(error, match=pattern.format(a=a, b=b)) as info:
        fn(*make())
    assert not any(name in str(info.value) for name in others)


# -- extremes: finite inputs give a finite result or a ValueError ------------
BIG = 1.7976931348623157e308  # the largest float64
TINY = 5e-324  # the smallest subnormal float64, 2**-1074


@pytest.mark.parametrize(
    "pred, true, percent",
    [
        (1e308, -1e308, 200.0),
        (-1e308, 1e308, 200.0),
        (BIG, -BIG, 200.0),
        (t(1e308, 1.0), t(-1e308, 2.0), 125.0),  # one entry overflows
        (2 * TINY, 4 * TINY, 50.0),  # subnormals: exact
        (t(3 * TINY, 0.0), t(4 * TINY, 0.0), 12.5),
        (1e-320, -1e-320, 200.0),
        (BIG, 1e300, 100 * (BIG / 1e300 - 1)),
    ],
)
def test_mape_stays_finite_at_the_ends_of_float64(pred, true, percent):
    result = torch_mape(pred, true)
    assert math.isfinite(result)
    assert result == pytest.approx(percent, rel=1e-15)


def test_mape_averages_entries_whose_sum_overflows():
    """200 percentages of 1e308 % each: their sum overflows, their mean
    does not."""
    pred = torch.full((200,), 1e306, dtype=torch.float64)
    result = torch_mape(pred, torch.ones(200, dtype=torch.float64))
    assert result == pytest.approx(1e308, rel=1e-15)


@pytest.mark.parametrize(
    "pred, true",
    [(1.0, 1e-320), (1.0, TINY), (BIG, 1e-10), (t(1.0, 1e300), t(1.0, 1e-9))],
)
def test_mape_too_large_for_float64_raises(pred, true):
    with pytest.raises(
        ValueError,
        match=r"^the percentage error of pred_value against true_value is "
        r"too large for a float64",
    ):
        torch_mape(pred, true)


@pytest.mark.parametrize(
    "actual, expected, value",
    [
        (t(1e308), t(-1e308), 2.0),
        (t(-BIG, 1.0), t(BIG, 1.0), 2.0),
        (t(1e308, 0.0), t(-1e308, 1e308), 2.0),  # max|diff| / max|expected|
        (3 * TINY, 4 * TINY, 0.25),
        (t(1e-320), t(2e-320), 0.5),
        (1.0, 1e-300, 1e300),
    ],
)
def test_max_relative_error_stays_finite_at_the_ends_of_float64(
    actual, expected, value
):
    result = max_relative_error(actual, expected)
    assert math.isfinite(result)
    assert result == pytest.approx(value, rel=1e-3)


@pytest.mark.parametrize(
    "actual, expected", [(1.0, 1e-320), (BIG, TINY), (t(1e10), t(1e-300))]
)
def test_max_relative_error_too_large_for_float64_raises(actual, expected):
    pattern = (
        r"^the relative error of actual against expected is too large for "
        r"a float64: the largest \|expected\| is"
    )
    with pytest.raises(ValueError, match=pattern):
        max_relative_error(actual, expected)
    with pytest.raises(ValueError, match=pattern):
        agreement(actual, expected)


# -- the whole messages (a learner reads them in full) -----------------------
def message_of(call) -> str:
    with pytest.raises(ValueError) as info:
        call()
    return str(info.value)


def test_mape_undefined_message_in_full():
    pred, true = t(1.0, 2.0, 0.0, 3.0), t(0.0, 0.0, 0.0, 3.0)
    assert message_of(lambda: torch_mape(pred, true)) == (
        "true_value is 0 where pred_value is not, at 2 entries: the "
        "percentage error is undefined there; compare those entries with an "
        "absolute error"
    )


def test_mape_too_large_message_in_full():
    assert message_of(lambda: torch_mape(1.0, 1e-320)) == (
        "the percentage error of pred_value against true_value is too large "
        "for a float64 (above 1.8e308 %): true_value has entries far closer "
        "to 0 than pred_value's; compare those entries with an absolute error"
    )


def test_max_relative_error_messages_in_full():
    assert message_of(
        lambda: max_relative_error(t(0.0, 1.0), t(0.0, 0.0))
    ) == (
        "expected is all zeros, so a relative error is undefined; use an "
        "absolute error"
    )
    assert message_of(lambda: max_relative_error(1.0, 1e-320)) == (
        "the relative error of actual against expected is too large for a "
        "float64: the largest |expected| is 1e-320, far smaller than "
        "|actual - expected|; use an absolute error"
    )


# -- properties over any finite float64 input (Hypothesis) -------------------
FINITE = st.floats(allow_nan=False, allow_infinity=False, width=64)
QUICK = settings(
    max_examples=200,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)


@st.composite
def same_shape_arrays(draw):
    shape = draw(hnp.array_shapes(min_dims=1, max_dims=2, max_side=4))
    pair = [draw(hnp.arrays(np.float64, shape, elements=FINITE)) for _ in "ab"]
    return [torch.from_numpy(x) for x in pair]


def exact(x: torch.Tensor) -> list[Fraction]:
    return [Fraction(float(v)) for v in x.reshape(-1)]


def check_against_exact(compute, exact_value, documented):
    """``compute()`` is ``exact_value`` to a few ulps when that fits in a
    float64 (tiny results may underflow), and raises a ``documented``
    ValueError when it does not. Near the largest float64, either is right.
    """
    fits = exact_value is not None and exact_value < Fraction(BIG) * (
        1 - Fraction(1, 10**12)
    )
    too_big = exact_value is None or exact_value > Fraction(BIG) * (
        1 + Fraction(1, 10**12)
    )
    try:
        result = compute()
    except ValueError as error:
        assert re.match(documented, str(error)), str(error)
        assert not fits, (
            f"raised although the answer {float(exact_value)} fits"
        )
    else:
        assert math.isfinite(result) and result >= 0
        assert not too_big, f"returned {result} for an answer beyond float64"
        assert result == pytest.approx(
            float(exact_value), rel=1e-14, abs=1e-300
        )


MAPE_ERRORS = (
    r"^the percentage error of pred_value against true_value is too large"
)


def exact_mape(pred: list[Fraction], true: list[Fraction]) -> Fraction | None:
    """The exact percentage, None where it is undefined (true 0, pred not)."""
    total = Fraction(0)
    for p, q in zip(pred, true):
        if q == 0:
            if p != 0:
                return None
            continue
        total += abs(p - q) / abs(q)
    return 100 * total / len(pred)


@QUICK
@given(pred=FINITE, true=FINITE)
@example(pred=1e308, true=-1e308)
@example(pred=1.0, true=1e-320)
@example(pred=BIG, true=-BIG)
@example(pred=-TINY, true=TINY)
def test_mape_of_any_two_finite_numbers(pred, true):
    value = exact_mape([Fraction(pred)], [Fraction(true)])
    if value is None:
        with pytest.raises(ValueError, match=r"^true_value is 0 where"):
            torch_mape(pred, true)
        return
    check_against_exact(lambda: torch_mape(pred, true), value, MAPE_ERRORS)


@QUICK
@given(pair=same_shape_arrays())
def test_mape_of_any_two_finite_arrays(pair):
    pred, true = pair
    value = exact_mape(exact(pred), exact(true))
    if value is None:
        with pytest.raises(ValueError, match=r"^true_value is 0 where"):
            torch_mape(pred, true)
        return
    check_against_exact(lambda: torch_mape(pred, true), value, MAPE_ERRORS)


def exact_max_relative_error(actual: list[Fraction], expected: list[Fraction]):
    scale = max(abs(e) for e in expected)
    diff = max(abs(a - e) for a, e in zip(actual, expected))
    return diff / scale if scale else (Fraction(0) if diff == 0 else None)


MRE_ERRORS = r"^the relative error of actual against expected is too large"


@QUICK
@given(actual=FINITE, expected=FINITE)
@example(actual=1e308, expected=-1e308)
@example(actual=1.0, expected=1e-320)
@example(actual=TINY, expected=-TINY)
def test_max_relative_error_of_any_two_finite_numbers(actual, expected):
    value = exact_max_relative_error([Fraction(actual)], [Fraction(expected)])
    check_max_relative_error(actual, expected, value)


@QUICK
@given(pair=same_shape_arrays())
def test_max_relative_error_of_any_two_finite_arrays(pair):
    actual, expected = pair
    value = exact_max_relative_error(exact(actual), exact(expected))
    check_max_relative_error(actual, expected, value)


def check_max_relative_error(actual, expected, value) -> None:
    """``max_relative_error`` against the exact ``value`` (None: all-zero
    ``expected``, which must be refused)."""
    if value is None:
        with pytest.raises(ValueError, match=r"^expected is all zeros"):
            max_relative_error(actual, expected)
        return
    check_against_exact(
        lambda: max_relative_error(actual, expected), value, MRE_ERRORS
    )


@QUICK
@given(
    actual=FINITE,
    expected=FINITE.filter(lambda x: x != 0),
    tol=st.floats(min_value=0, max_value=1e300, exclude_min=True),
)
def test_agreement_line_round_trips_its_tolerance(actual, expected, tol):
    try:
        error = max_relative_error(actual, expected)
    except ValueError:
        return  # too large for a float64: agreement raises the same
    line = agreement(actual, expected, tol=tol)
    shown, verdict = line.removeprefix("max relative error < ").split(": ")
    assert float(shown) == tol
    assert verdict == str(error < tol)


# -- 0.0 means equal: never for different inputs -----------------------------
@pytest.mark.parametrize(
    "actual, expected",
    [
        (t(1e300, 1e-300), t(1e300, 0.0)),  # 1e-600: below any float64
        (1e300, 1e300 * (1 + 2**-52)),
        (t(BIG, TINY), t(BIG, 0.0)),
    ],
)
def test_max_relative_error_of_different_inputs_is_never_zero(
    actual, expected
):
    """An error too small for a float64 is rounded up to 5e-324, so that
    agreement never reads 0.0 ("equal") for different inputs."""
    error = max_relative_error(actual, expected)
    assert 0 < error < 1e-15
    assert max_relative_error(expected, expected) == 0.0


@pytest.mark.parametrize(
    "actual, expected, where",
    [
        (2**60, 2**60 + 1, "the integer"),
        (torch.tensor([2**60]), torch.tensor([2**60 + 1]), "largest |actual|"),
        (torch.tensor([1]), torch.tensor([-(2**62)]), "largest |expected|"),
        (torch.tensor([-(2**63)]), torch.tensor([0]), "is 9223372036854775808"),
    ],
)
def test_integers_a_float64_would_round_are_refused(actual, expected, where):
    """2**60 and 2**60 + 1 are one float64: the error read 0.0."""
    with pytest.raises(ValueError, match=r"must fit in a float64 exactly") as e:
        max_relative_error(actual, expected)
    assert where in str(e.value)
    assert max_relative_error(torch.tensor([1]), torch.tensor([2**53])) == (
        pytest.approx(1.0)
    )
