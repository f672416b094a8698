"""Error measures the notebooks use to show that two computations agree."""

from __future__ import annotations

import numbers

import torch

from . import _validation as v

__all__ = ["torch_mape", "max_relative_error", "agreement"]

Number = float | int


def _as_pair(
    pred_value: object, true_value: object
) -> tuple[torch.Tensor, torch.Tensor]:
    """Both tensors (same shape, device, dtype) or both plain numbers, as finite float64 tensors.

    Real tensors are compared in float64 whatever their dtype, so a difference between two finite
    float16 or float32 numbers cannot overflow to inf.
    """

    def is_number(x: object) -> bool:
        return isinstance(x, numbers.Real) and not isinstance(x, bool)

    def kind(x: object) -> str:
        return (
            f"tensor of {x.dtype}"
            if isinstance(x, torch.Tensor)
            else type(x).__name__
        )

    if is_number(pred_value) and is_number(true_value):
        try:
            pair = torch.tensor(
                [float(pred_value), float(true_value)], dtype=torch.float64
            )
        except OverflowError as exc:
            raise ValueError(
                f"pred_value and true_value must fit in a float64, got {exc}"
            ) from exc
        pred, true = pair[0], pair[1]
    elif isinstance(pred_value, torch.Tensor) and isinstance(
        true_value, torch.Tensor
    ):
        for name, t in (
            ("pred_value", pred_value),
            ("true_value", true_value),
        ):
            if t.dtype == torch.bool or t.is_complex():
                raise TypeError(
                    f"{name} must hold real numbers (integer or floating point), got {kind(t)}"
                )
        if pred_value.shape != true_value.shape:
            raise ValueError(
                f"pred_value and true_value must have the same shape, got {tuple(pred_value.shape)} "
                f"and {tuple(true_value.shape)} (no broadcasting)"
            )
        if pred_value.numel() == 0:
            raise ValueError("pred_value and true_value must not be empty")
        v.check_like(
            "pred_value",
            pred_value,
            true_value.device,
            true_value.dtype,
            "true_value",
        )
        pred, true = pred_value.detach().double(), true_value.detach().double()
    else:
        raise TypeError(
            "pred_value and true_value must be two torch.Tensors or two real numbers, "
            f"got {kind(pred_value)} and {kind(true_value)}"
        )
    v.check_finite("pred_value", pred)
    v.check_finite("true_value", true)
    return pred, true


def torch_mape(
    pred_value: torch.Tensor | Number, true_value: torch.Tensor | Number
) -> float:
    """Mean absolute percentage error ``100/N sum |pred - true| / |true|``, as a float.

    Takes two real tensors of one shape, device and dtype, or two numbers, and computes in
    float64. Where ``true`` is zero
    the percentage is undefined: an entry where both values are zero counts as 0 % (they agree
    exactly); an entry where only ``true`` is zero raises ``ValueError``, since any finite
    answer there would be made up. NaN or inf in either input raises ``ValueError``.

    >>> torch_mape(torch.tensor([110.0, 90.0]), torch.tensor([100.0, 100.0]))
    10.0
    >>> torch_mape(0.0, 0.0)
    0.0
    """
    pred, true = _as_pair(pred_value, true_value)
    zero = true == 0
    if bool((zero & (pred != 0)).any()):
        raise ValueError(
            f"true_value is 0 where pred_value is not, at {int((zero & (pred != 0)).sum())} entries: "
            "the percentage error is undefined there; compare those entries with an absolute error"
        )
    ratio = torch.where(
        zero,
        torch.zeros_like(true),
        (pred - true).abs() / true.abs().where(~zero, torch.ones_like(true)),
    )
    return float(100 * ratio.mean())


def max_relative_error(
    actual: torch.Tensor | Number, expected: torch.Tensor | Number
) -> float:
    """Norm-wise relative error ``max|actual - expected| / max|expected|`` (0 when both are all zeros).

    >>> max_relative_error(torch.tensor([1.0, 2.0]), torch.tensor([1.0, 4.0]))
    0.5
    """
    a, e = _as_pair(actual, expected)
    scale = float(e.abs().max())
    diff = float((a - e).abs().max())
    if scale == 0:
        if diff == 0:
            return 0.0
        raise ValueError(
            "expected is all zeros, so a relative error is undefined; use an absolute error"
        )
    return diff / scale


def agreement(
    actual: torch.Tensor | Number,
    expected: torch.Tensor | Number,
    tol: float = 1e-12,
) -> str:
    """A verdict that prints the same on every machine: ``'max relative error < 1e-12: True'``.

    The exact error (1e-16 here, 3e-16 on a GPU) changes between machines; the verdict does not.

    >>> agreement(torch.tensor([1.0]), torch.tensor([1.0 + 1e-15]))
    'max relative error < 1e-12: True'
    """
    return f"max relative error < {tol:.0e}: {max_relative_error(actual, expected) < tol}"
