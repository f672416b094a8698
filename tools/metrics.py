"""Error measures the notebooks use to show that two computations agree.

Every function here takes two real tensors of one shape, device and dtype,
or two plain numbers, and computes in float64. Finite inputs give a finite
result, or a ``ValueError`` that says which input made the answer too large
for a float64 (or undefined); messages name the function's own arguments.
"""

from __future__ import annotations

import numbers

import torch

from . import _validation as v

__all__ = ["torch_mape", "max_relative_error", "agreement"]

Number = float | int


def _as_pair(
    first: object, second: object, names: tuple[str, str]
) -> tuple[torch.Tensor, torch.Tensor]:
    """``first`` and ``second`` as finite float64 tensors of one shape.

    Both must be tensors (same shape, device, dtype) or both plain real
    numbers. ``names`` are the caller's argument names, used in every message.
    Real tensors are compared in float64 whatever their dtype, so a difference
    between two finite float16 or float32 numbers cannot overflow to inf.
    """
    a, b = names

    def is_number(x: object) -> bool:
        return isinstance(x, numbers.Real) and not isinstance(x, bool)

    def kind(x: object) -> str:
        if isinstance(x, torch.Tensor):
            return f"tensor of {x.dtype}"
        return type(x).__name__

    if is_number(first) and is_number(second):
        for x in (first, second):
            if isinstance(x, numbers.Integral) and abs(x) > _EXACT_INT:
                raise ValueError(
                    f"{a} and {b} must fit in a float64 exactly, got the "
                    f"integer {x}: above 2**53 a float64 rounds integers, "
                    "so different ones could compare equal"
                )
        try:
            pair = torch.tensor(
                [float(first), float(second)], dtype=torch.float64
            )
        except OverflowError as exc:
            raise ValueError(
                f"{a} and {b} must fit in a float64, got {exc}"
            ) from exc
        x, y = pair[0], pair[1]
    elif isinstance(first, torch.Tensor) and isinstance(second, torch.Tensor):
        for name, t in ((a, first), (b, second)):
            if t.dtype == torch.bool or t.is_complex():
                raise TypeError(
                    f"{name} must hold real numbers (integer or floating "
                    f"point), got {kind(t)}"
                )
        if first.shape != second.shape:
            raise ValueError(
                f"{a} and {b} must have the same shape, got "
                f"{tuple(first.shape)} and {tuple(second.shape)} "
                "(no broadcasting)"
            )
        if first.numel() == 0:
            raise ValueError(f"{a} and {b} must not be empty")
        v.check_like(a, first, second.device, second.dtype, b)
        for name, t in ((a, first), (b, second)):
            _check_exact_in_float64(name, t)
        x, y = first.detach().double(), second.detach().double()
    else:
        raise TypeError(
            f"{a} and {b} must be two torch.Tensors or two real numbers, "
            f"got {kind(first)} and {kind(second)}"
        )
    v.check_finite(a, x)
    v.check_finite(b, y)
    return x, y


_EXACT_INT = 2**53  # every integer up to this is exact in a float64


def _check_exact_in_float64(name: str, t: torch.Tensor) -> None:
    """Refuse an integer tensor with entries a float64 cannot hold exactly
    (int64 beyond 2**53): two different ones could become equal."""
    if t.is_floating_point() or t.is_complex() or t.element_size() < 8:
        return
    if not t.numel():
        return
    # from the extremes in Python ints: abs() of -2**63 wraps in int64
    top = max(abs(int(t.detach().max())), abs(int(t.detach().min())))
    if top > _EXACT_INT:
        raise ValueError(
            f"{name} must fit in a float64 exactly, but it holds integers "
            f"above 2**53 (largest |{name}| is {top}), which a float64 "
            "rounds, so different ones could compare equal"
        )


#: The smallest positive float64 (2**-1074). A relative error between
#: different inputs that is too small for a float64 is rounded up to it,
#: so that 0.0 always means "equal".
SMALLEST_ERROR = 5e-324


def _nonzero_if_different(error: float, different: bool) -> float:
    """``error``, or :data:`SMALLEST_ERROR` where it underflowed to 0 for
    inputs that differ."""
    return SMALLEST_ERROR if error == 0 and different else error


def _scale_by_power_of_two(t: torch.Tensor, k: int) -> torch.Tensor:
    """``t * 2**k``, exactly unless an entry underflows (``|k|`` up to
    about 2100: two steps, as ``2**k`` alone may not fit in a float64)."""
    half = k // 2
    return t * 2.0**half * 2.0 ** (k - half)


def _abs_diff_over(
    x: torch.Tensor, y: torch.Tensor, scale: torch.Tensor
) -> torch.Tensor:
    """``|x - y| / scale`` entry by entry, for finite float64 ``x``, ``y``.

    ``x - y`` overflows to inf only when both are huge (above about 1e292),
    and then halving both first is exact: the quotient is computed as
    ``|x/2 - y/2| / scale * 2`` there, finite whenever the true one is.
    Where the true quotient itself exceeds the largest float64 (a tiny or
    subnormal ``scale``), the result is inf: callers turn that into an error.
    """
    diff = (x - y).abs()
    overflowed = torch.isinf(diff)
    if bool(overflowed.any()):
        half = (x / 2 - y / 2).abs()
        return torch.where(overflowed, half / scale * 2, diff / scale)
    return diff / scale


def torch_mape(
    pred_value: torch.Tensor | Number, true_value: torch.Tensor | Number
) -> float:
    """Mean absolute percentage error ``100/N sum |pred - true| / |true|``.

    Takes two real tensors of one shape, device and dtype, or two numbers,
    computes in float64 and returns a float. Where ``true`` is zero the
    percentage is undefined: an entry where both values are zero counts as
    0 % (they agree exactly); an entry where only ``true`` is zero raises
    ``ValueError``, since any finite answer there would be made up. NaN or inf
    in either input raises ``ValueError``, and so does a percentage too large
    for a float64 (above about 1.8e308 %, as for a ``true_value`` of 1e-320
    against a ``pred_value`` of 1): finite inputs never give inf.

    >>> torch_mape(torch.tensor([110.0, 90.0]), torch.tensor([100.0, 100.0]))
    10.0
    >>> torch_mape(0.0, 0.0)
    0.0
    """
    pred, true = _as_pair(pred_value, true_value, ("pred_value", "true_value"))
    zero = true == 0
    undefined = zero & (pred != 0)
    if bool(undefined.any()):
        raise ValueError(
            f"true_value is 0 where pred_value is not, at "
            f"{int(undefined.sum())} entries: the percentage error is "
            "undefined there; compare those entries with an absolute error"
        )
    safe_true = torch.where(zero, torch.ones_like(true), true.abs())
    ratio = torch.where(
        zero, torch.zeros_like(true), _abs_diff_over(pred, true, safe_true)
    )
    mean = ratio.mean()
    if torch.isinf(mean) and not bool(torch.isinf(ratio).any()):
        # The sum overflowed, not an entry: average the entries scaled down.
        top = ratio.max()
        mean = (ratio / top).mean() * top
    percent = float(100 * mean)
    if percent == float("inf"):
        raise ValueError(
            "the percentage error of pred_value against true_value is too "
            "large for a float64 (above 1.8e308 %): true_value has entries "
            "far closer to 0 than pred_value's; compare those entries with "
            "an absolute error"
        )
    return percent


def max_relative_error(
    actual: torch.Tensor | Number, expected: torch.Tensor | Number
) -> float:
    """Norm-wise relative error ``max|actual - expected| / max|expected|``.

    0 only when they are equal (an error too small for a float64 is
    rounded up to 5e-324). ``ValueError`` when only ``expected`` is all
    zeros, or when the error is too large for a float64 (``expected`` at
    most 1e-320 in magnitude against an ``actual`` of 1, say). Finite
    inputs never give inf.

    >>> max_relative_error(torch.tensor([1.0, 2.0]), torch.tensor([1.0, 4.0]))
    0.5
    """
    a, e = _as_pair(actual, expected, ("actual", "expected"))
    scale = e.abs().max()
    if scale == 0:
        if bool((a == 0).all()):
            return 0.0
        raise ValueError(
            "expected is all zeros, so a relative error is undefined; "
            "use an absolute error"
        )
    error = float(_abs_diff_over(a, e, scale).max())
    error = _nonzero_if_different(error, not bool(torch.equal(a, e)))
    if error == float("inf"):
        raise ValueError(
            "the relative error of actual against expected is too large for "
            f"a float64: the largest |expected| is {float(scale):.3g}, far "
            "smaller than |actual - expected|; use an absolute error"
        )
    return error


def agreement(
    actual: torch.Tensor | Number,
    expected: torch.Tensor | Number,
    tol: float = 1e-12,
) -> str:
    """A verdict that prints the same on every machine.

    ``'max relative error < 1e-12: True'`` when ``max_relative_error(actual,
    expected) < tol``. The exact error (1e-16 here, 3e-16 on a GPU) changes
    between machines; the verdict does not. ``tol`` must be a finite number
    > 0, and is printed exactly as compared (shortest round-trip form):

    >>> agreement(torch.tensor([1.0]), torch.tensor([1.0 + 1e-15]))
    'max relative error < 1e-12: True'
    >>> agreement(1.0, 1.0 + 1.7e-12, tol=1.5e-12)
    'max relative error < 1.5e-12: False'
    """
    tol = v.check_positive_float("tol", tol)
    error = max_relative_error(actual, expected)
    return f"max relative error < {tol!r}: {error < tol}"
