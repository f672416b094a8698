"""Input checks shared by the modules of :mod:`tools`.

Every check raises at the boundary with a message that names the argument, what
was expected and what came, so that a learner's mistake never turns into a
silent NaN.
"""

from __future__ import annotations

import math
import numbers

import torch


def check_tensor(name: str, value: object) -> torch.Tensor:
    """Return ``value`` if it is a tensor, else raise ``TypeError``."""
    if not isinstance(value, torch.Tensor):
        raise TypeError(
            f"{name} must be a torch.Tensor, got {type(value).__name__}; "
            f"convert it with torch.as_tensor({name}, dtype=torch.float64)"
        )
    return value


def check_finite(name: str, t: torch.Tensor) -> None:
    """Raise ``ValueError`` if ``t`` contains NaN or an infinity.

    One sum settles it almost always: in IEEE arithmetic a NaN or an
    infinity among the terms makes the sum NaN or infinite, so a finite
    sum proves every entry finite, in one pass with no temporary (the
    entry-by-entry ``isfinite(t).all()`` writes a mask as large as ``t``
    and took 25x longer on a 524,288 x 16 batch). Only a sum that is not
    finite (a bad entry, or finite entries whose sum overflows) goes on
    to the entry-by-entry test.
    """
    if not t.is_floating_point() or bool(torch.isfinite(t.sum())):
        return
    if not bool(torch.isfinite(t).all()):
        bad = int((~torch.isfinite(t)).sum())
        raise ValueError(
            f"{name} must be finite, but {bad} of its {t.numel()} entries "
            "are NaN or inf"
        )


def check_matrix(
    name: str,
    t: torch.Tensor,
    n_cols: int | None = None,
    cols_are: str = "columns",
) -> None:
    """Raise ``ValueError`` unless ``t`` is 2-D with at least one row (and
    ``n_cols`` columns)."""
    if t.dim() != 2:
        want = f"(m, {n_cols})" if n_cols is not None else "(m, n)"
        raise ValueError(
            f"{name} must be a 2-D tensor of shape {want}, "
            f"got shape {tuple(t.shape)}"
        )
    if t.shape[0] == 0:
        raise ValueError(
            f"{name} must have at least one row, got shape {tuple(t.shape)}"
        )
    if n_cols is not None and t.shape[1] != n_cols:
        raise ValueError(
            f"{name} must have {n_cols} {cols_are} (shape (m, {n_cols})), "
            f"got shape {tuple(t.shape)}"
        )


def check_like(
    name: str,
    t: torch.Tensor,
    device: torch.device,
    dtype: torch.dtype,
    owner: str,
) -> None:
    """Raise ``ValueError`` unless ``t`` lives on ``device`` with ``dtype``."""
    if t.device != device:
        raise ValueError(
            f"{name} is on device {t.device} but {owner} is on {device}; "
            f"move it with {name}.to({str(device)!r})"
        )
    if t.dtype != dtype:
        raise ValueError(
            f"{name} has dtype {t.dtype} but {owner} has dtype {dtype}; "
            f"convert it with {name}.to({dtype})"
        )


def check_probability_rows(
    name: str, t: torch.Tensor, atol: float | None = None
) -> None:
    """Raise ``ValueError`` unless every row of ``t`` is non-negative and sums
    to 1.

    The default tolerance follows the dtype and the width: a row of ``c``
    entries summed in a dtype with machine epsilon ``u`` is off by up to
    about ``c u``, so ``atol = max(c u, 1e-6)`` below float64 and
    ``max(c u, 1e-9)`` in float64.
    """
    if atol is None:
        floor = 1e-9 if t.dtype == torch.float64 else 1e-6
        eps = torch.finfo(t.dtype).eps if t.is_floating_point() else 0.0
        atol = max(floor, t.shape[-1] * eps)
    # amin reads t once and writes one number; (t < 0).any() writes a mask
    if t.numel() and float(t.amin()) < 0:
        raise ValueError(
            f"{name} must hold one-hot or probability rows, "
            "but it has negative entries"
        )
    sums = t.sum(dim=1)
    off = ~((sums - 1).abs() <= atol)  # NaN sums are off too
    if bool(off.any()):
        row = int(off.nonzero()[0, 0])
        total = float(sums[row])
        raise ValueError(_rows_message(name, total, row, atol, t.dtype))


def _rows_message(
    name: str, total: float, row: int, atol: float, dtype: torch.dtype
) -> str:
    """Why row ``row`` (summing to ``total``) is not a probability row.

    The sum is printed in full (``repr``): rounded to a few digits, a row
    off by 7.5e-8 would read "sums to 1".
    """
    message = (
        f"{name} must hold one-hot or probability rows that sum to 1, "
        f"but row {row} sums to {total!r}"
    )
    if math.isfinite(total) and total != 0:
        message += f" (off by {abs(total - 1):.3g}, allowed {atol:.3g})"
        if dtype == torch.float64 and 1e-8 <= abs(total - 1) < 1e-5:
            message += (
                "; rows computed in float32 and converted are off by about "
                "1e-7: compute them in float64, or "
                f"renormalise with {name} / {name}.sum(dim=1, keepdim=True)"
            )
    return message


def check_same_rows(
    name_a: str, a: torch.Tensor, name_b: str, b: torch.Tensor
) -> None:
    """Raise ``ValueError`` unless ``a`` and ``b`` have the same number of
    samples (rows)."""
    if a.shape[0] != b.shape[0]:
        raise ValueError(
            f"{name_a} and {name_b} must have the same number of samples, "
            f"got {a.shape[0]} and {b.shape[0]}"
        )


def check_int(name: str, value: object, minimum: int) -> int:
    """Return ``value`` as an int if it is an integer ``>= minimum``, else
    raise."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(
            f"{name} must be an integer >= {minimum}, "
            f"got {value!r} ({type(value).__name__})"
        )
    if value < minimum:
        raise ValueError(
            f"{name} must be an integer >= {minimum}, got {value}"
        )
    return int(value)


def check_positive_float(name: str, value: object) -> float:
    """Return ``value`` as a float if it is a finite number ``> 0``, else
    raise."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(
            f"{name} must be a positive number, "
            f"got {value!r} ({type(value).__name__})"
        )
    value = float(value)
    if not (value > 0 and value != float("inf")):
        raise ValueError(f"{name} must be a finite number > 0, got {value}")
    return value


def check_nonnegative_float(name: str, value: object) -> float:
    """Return ``value`` as a float if it is a finite number ``>= 0``."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(
            f"{name} must be a number >= 0, got {value!r} "
            f"({type(value).__name__})"
        )
    value = float(value)
    if not (0 <= value < float("inf")):
        raise ValueError(f"{name} must be a finite number >= 0, got {value}")
    return value


def check_no_grad(name: str, t: torch.Tensor) -> None:
    """Refuse a tensor that carries autograd history.

    The scratch models compute every gradient by hand; a tensor that
    requires grad would make their parameters part of an autograd graph.
    """
    if t.requires_grad:
        raise ValueError(
            f"{name} requires grad (it carries autograd history); "
            f"pass {name}.detach() instead"
        )


def check_seed(seed: object) -> int:
    """A seed for ``torch.Generator.manual_seed``: an int in [0, 2**64)."""
    seed = check_int("seed", seed, 0)
    if seed >= 2**64:
        raise ValueError(f"seed must be an integer below 2**64, got {seed}")
    return seed


def check_dtype(dtype: object) -> torch.dtype:
    """``torch.float32`` or ``torch.float64`` (``None``: the default)."""
    dtype = torch.get_default_dtype() if dtype is None else dtype
    if dtype not in (torch.float32, torch.float64):
        raise TypeError(
            "dtype must be a floating-point torch.dtype, torch.float32 or "
            f"torch.float64, got {dtype!r}"
            + (
                " (half precision is too coarse for the checks of "
                "probability rows and gradients in this course)"
                if dtype in (torch.float16, torch.bfloat16)
                else ""
            )
        )
    return dtype


def check_device(device: object) -> torch.device:
    """A device that exists on this machine (``None``: the CPU)."""
    if device is None:
        return torch.device("cpu")
    try:
        device = torch.device(device)
    except (RuntimeError, TypeError) as exc:
        raise ValueError(
            f"device must name a device such as 'cpu' or 'cuda', got "
            f"{device!r}"
        ) from exc
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(
            f"device is {str(device)!r} but PyTorch sees no CUDA GPU "
            "here; use device='cpu', or pick the device with "
            "'cuda' if torch.cuda.is_available() else 'cpu'"
        )
    return device


# -- dtypes, empty columns and results that overflow ------------------


def check_real_float(name: str, t: torch.Tensor) -> None:
    """Raise ``TypeError`` unless ``t`` holds real floating-point numbers.

    Integer and bool tensors would be silently rounded (or refused deep
    inside PyTorch), complex ones would lose their imaginary part.
    """
    if not t.is_floating_point():
        fix = f"; convert it with {name}.to(torch.float64)"
        if t.is_complex():
            fix = " (complex numbers are not supported here)"
        raise TypeError(
            f"{name} must hold real floating-point numbers (torch.float32 "
            f"or torch.float64), got a tensor of {t.dtype}{fix}"
        )


def check_has_columns(name: str, t: torch.Tensor) -> None:
    """Raise ``ValueError`` if the matrix ``t`` has no columns."""
    if t.shape[1] == 0:
        raise ValueError(
            f"{name} must have at least one column, got shape {tuple(t.shape)}"
        )


def check_not_overflowed(what: str, t: torch.Tensor, hint: str) -> None:
    """Raise ``ValueError`` if ``t``, a result computed from finite inputs,
    holds an inf or a NaN: the computation overflowed ``t``'s dtype.

    ``what`` names the result ("the MSE of output against target"),
    ``hint`` says which input made it too large and what to do.
    """
    if t.is_floating_point() and not bool(torch.isfinite(t).all()):
        raise ValueError(f"{what} overflowed {t.dtype}: {hint}")


def largest(t: torch.Tensor) -> str:
    """``max |t|`` of a non-empty tensor, for messages (``'1e+300'``)."""
    return f"{float(t.detach().abs().max()):.3g}"
