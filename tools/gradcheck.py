"""Gradient checking: hand-written gradients against centred differences.

For a scalar function ``f`` of a tensor ``x``, the centred difference::

    df/dx_i ~ (f(x + eps e_i) - f(x - eps e_i)) / (2 eps)

has a truncation error of order ``eps^2`` and a round-off error of order
``u / eps`` (``u`` the dtype's unit round-off), so ``eps ~ u^(1/3)``
(about ``1e-5`` to ``1e-6`` in float64) balances the two. How to
read the :func:`relative_error` of an analytic gradient against it in
float64 (the table of the chapter 3 page, eq. mlp-relative-error):

* below ``1e-8``: correct (``1e-9`` to ``1e-11`` in the book);
* ``1e-8`` to ``1e-5``: suspicious; check the check first (a kink such
  as ReLU's within ``eps`` of ``x``, a poor ``eps``, float32);
* above ``1e-5``: wrong. A gradient 1 % too large already scores
  ``0.01 / 2.01 ~ 5e-3``; a flipped sign or a zero gradient scores 1,
  and two unrelated vectors about 0.7.
"""

from __future__ import annotations

import math
import numbers
from typing import Any, Callable

import torch

from . import _validation as v
from .metrics import (
    _check_exact_in_float64,
    _nonzero_if_different,
    _scale_by_power_of_two,
)

__all__ = ["numerical_gradient", "relative_error", "gradient_check"]


def numerical_gradient(
    f: Callable[[], Any], x: torch.Tensor, eps: float = 1e-6
) -> torch.Tensor:
    """Centred finite differences of the scalar ``f()`` with respect to
    every entry of ``x``, a tensor of the shape of ``x``.

    ``f`` takes no argument: it reads ``x`` (and whatever else it
    needs), which is changed in place one entry at a time and put back
    exactly afterwards, also when ``f`` raises (or is interrupted). So
    ``x`` may be an input or a parameter of a model, contiguous or not
    (a transposed view, say).

    ``eps`` must be a usable step for ``x``'s dtype: ``ValueError`` when
    it is lost in rounding against ``x`` (below the dtype's resolution
    ``u max(1, |x|)``) or is no longer small (above ``max(1, |x|)``).

    >>> x = torch.tensor([1.0, 2.0], dtype=torch.float64)
    >>> g = numerical_gradient(lambda: (x**3).sum(), x)
    >>> [round(float(t), 6) for t in g]
    [3.0, 12.0]
    """
    x, eps = _check_nudge(f, x, eps, "x")
    grad = torch.empty(x.shape, dtype=x.dtype, device=x.device)
    with torch.no_grad():
        for i in range(x.numel()):
            index = _unravel(i, x.shape)  # works for any strides
            saved = x[index].item()
            try:
                x[index] = saved + eps
                up = _scalar(f(), index, "+")
                x[index] = saved - eps
                down = _scalar(f(), index, "-")
            finally:  # also on an error or Ctrl-C in f
                x[index] = saved  # exact: saved is the entry's own value
            grad[index] = (up - down) / (2 * eps)
    return grad


def _check_nudge(
    f: Any, x: Any, eps: Any, name: str
) -> tuple[torch.Tensor, float]:
    """``(x, eps)`` if ``x`` can be nudged by ``eps`` for the callable
    ``f``, else an error naming ``x`` as ``name``."""
    if not callable(f):
        raise TypeError(
            "f must be a function of no argument that returns a number, "
            f"got {type(f).__name__}"
        )
    x = v.check_tensor(name, x)
    v.check_real_float(name, x)
    v.check_finite(name, x)
    if any(s == 0 and n > 1 for s, n in zip(x.stride(), x.shape)):
        raise ValueError(
            f"{name} is an expanded view whose entries share memory, so "
            "one entry cannot be nudged alone; pass a copy "
            f"({name}.clone())"
        )
    return x, _check_step(v.check_positive_float("eps", eps), x, name)


def _unravel(i: int, shape: torch.Size) -> tuple[int, ...]:
    """The index of entry ``i`` of a tensor of ``shape``, row-major."""
    index = []
    for n in reversed(shape):
        i, r = divmod(i, n)
        index.append(r)
    return tuple(reversed(index))


def _check_step(eps: float, x: torch.Tensor, name: str) -> float:
    """``eps``, if it is a usable finite-difference step for ``x``.

    The step is relative to ``scale = max(1, max |x|)``: below ``u scale``
    (``u`` the dtype's machine epsilon) ``x + eps`` rounds back to ``x``,
    or the change of ``f`` drowns in its rounding, and every difference
    is 0 or noise; above ``scale`` the difference measures a secant over
    an interval wider than ``x`` itself, not the derivative.
    """
    u = torch.finfo(x.dtype).eps
    scale = max(1.0, float(x.abs().max())) if x.numel() else 1.0
    good = (
        f"an eps near {u ** (1 / 3) * scale:.0e} (the cube root of {u:.2g}, "
        f"times max(1, largest |{name}|)) balances truncation and round-off"
    )
    if eps < u * scale:
        raise ValueError(
            f"eps={eps!r} is too small for {name} in {x.dtype}: below "
            f"{u * scale:.3g} (the dtype's resolution {u:.3g} times max(1, "
            f"largest |{name}|)) the step is lost in rounding, and the "
            f"differences are 0 or noise; {good}"
        )
    if eps > scale:
        raise ValueError(
            f"eps={eps!r} is too large for {name}: above {scale:.3g} "
            f"(max(1, largest |{name}|)) the centred difference measures "
            f"a secant over [{name} - eps, {name} + eps], not the "
            f"derivative; {good}"
        )
    return eps


def _scalar(value: Any, index: tuple[int, ...], sign: str) -> float:
    """``f()``'s value as a finite float, or a clear error."""
    if isinstance(value, torch.Tensor) and value.numel() == 1:
        if value.is_complex() or value.dtype == torch.bool:
            raise TypeError(
                f"f must return a real number, got a tensor of {value.dtype}"
            )
        value = value.item()
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        what = type(value).__name__
        if isinstance(value, torch.Tensor):
            what = f"a tensor of shape {tuple(value.shape)}"
        raise TypeError(
            "f must return a scalar (a real number or a one-element "
            f"tensor), got {what}; for a vector-valued function take a "
            "scalar of it, such as (r * f()).sum() with a fixed r"
        )
    value = float(value)
    if not math.isfinite(value):
        raise ValueError(
            f"f() returned {value} with entry {list(index)} nudged by "
            f"{sign}eps; a finite difference needs f finite near x"
        )
    return value


def relative_error(analytic: torch.Tensor, numeric: torch.Tensor) -> float:
    """``||a - n|| / (||a|| + ||n||)`` (Euclidean norms), in float64.

    0 means equal; 1 means opposite (``a = -n``, a flipped sign) or one
    of them zero; two unrelated vectors give about 0.7 (``sqrt(2)/2`` for
    orthogonal ones of equal length); 0 when both are all zeros. Unlike
    an entry-by-entry ratio it cannot blow up where one gradient entry
    happens to be near zero.

    Both are scaled by one power of two first (exact), so that the norms
    can neither overflow (entries near 1e308) nor underflow (entries
    near 1e-308): the result is finite for finite inputs, and 0.0 only
    when they are equal (an error too small for a float64 is rounded up
    to 5e-324). Real or complex tensors of one shape and device.

    >>> relative_error(torch.tensor([1.0, 2.0]), torch.tensor([1.0, 2.0]))
    0.0
    """
    for name, t in (("analytic", analytic), ("numeric", numeric)):
        v.check_tensor(name, t)
        if t.dtype == torch.bool:
            raise TypeError(
                f"{name} must hold numbers (floating point, integer or "
                f"complex), got a tensor of {t.dtype}"
            )
    if analytic.shape != numeric.shape:
        raise ValueError(
            "analytic and numeric must have the same shape, got "
            f"{tuple(analytic.shape)} and {tuple(numeric.shape)}"
        )
    if analytic.device != numeric.device:
        raise ValueError(
            f"analytic is on device {analytic.device} but numeric is on "
            f"{numeric.device}; move one with .to()"
        )
    for name, t in (("analytic", analytic), ("numeric", numeric)):
        v.check_finite(name, torch.view_as_real(t) if t.is_complex() else t)
        _check_exact_in_float64(name, t)
    complex_ = analytic.is_complex() or numeric.is_complex()
    dtype = torch.complex128 if complex_ else torch.float64
    a = analytic.detach().to(dtype)
    n = numeric.detach().to(dtype)
    different = not bool(torch.equal(a, n))
    if not different:
        return 0.0
    top = max(float(a.abs().max()), float(n.abs().max()))
    k = -math.frexp(top)[1]  # 2**k top lies in [0.5, 1)
    a, n = _scale_by_power_of_two(a, k), _scale_by_power_of_two(n, k)
    d = a - n  # entries below 2 in magnitude: no overflow
    d_top = float(d.abs().max())
    if d_top == 0:  # the differences underflowed in the scaling
        return _nonzero_if_different(0.0, different)
    j = -math.frexp(d_top)[1]  # the difference's own scale
    ratio = float(
        torch.linalg.vector_norm(_scale_by_power_of_two(d, j))
        / (torch.linalg.vector_norm(a) + torch.linalg.vector_norm(n))
    )
    return _nonzero_if_different(math.ldexp(ratio, -j), True)


def gradient_check(
    layer: Any,
    x: torch.Tensor,
    *,
    eps: float = 1e-6,
    seed: int = 0,
) -> dict[str, float]:
    """Check a layer's (or a ``Sequential``'s) ``backward`` numerically.

    Takes the scalar ``L = sum(R * layer.forward(x))`` with a fixed random
    ``R`` (seeded, of the output's shape), so that ``dL/d(output) = R``
    reaches every output entry. ``layer.backward(R)`` gives the analytic
    ``dL/dx`` and fills the parameter gradients; :func:`numerical_gradient`
    the numeric ones. Returns the :func:`relative_error` of each, keyed
    ``"x"`` and the names of ``layer.named_parameters()`` (``"w"``, ``"b"``
    for a ``Linear``; ``"0.w"``, ``"0.b"``, ... for a ``Sequential``).

    Works in the dtype of ``x`` and of the layer: use float64. ``layer``
    is a ``tools`` layer or ``Sequential`` (anything with ``forward``,
    ``backward``, ``named_parameters`` and ``gradients``); for a
    ``torch.nn.Module`` use ``torch.autograd.gradcheck``. The parameters
    are put back exactly, also when the layer raises.

    Layers with a state of their own are checked in the mode they are in,
    and left as they were: every forward pass of the check starts each
    ``Dropout`` from the same generator state (so all of them drop the
    same entries, and the check is of one fixed mask), and batch norm's
    running statistics, moved by each training-mode forward, are put
    back at the end.
    """
    _check_layer(layer)
    x = v.check_tensor("x", x)
    v.check_real_float("x", x)
    v.check_finite("x", x)
    x = x.detach().clone()
    parts = [layer, *getattr(layer, "layers", [])]
    saved = [(part, dict(vars(part))) for part in parts]
    generators = [
        (g, g.get_state())
        for part in parts
        if isinstance(g := getattr(part, "_generator", None), torch.Generator)
    ]
    try:
        return _gradient_check(layer, x, eps, seed, generators)
    finally:
        for part, attributes in saved:
            vars(part).clear()
            vars(part).update(attributes)
        for g, state in generators:
            g.set_state(state)


def _gradient_check(
    layer: Any,
    x: torch.Tensor,
    eps: float,
    seed: int,
    generators: list[tuple[torch.Generator, torch.Tensor]],
) -> dict[str, float]:
    def forward() -> torch.Tensor:
        for g, state in generators:  # the same dropout mask every time
            g.set_state(state)
        return layer.forward(x)

    out = forward()
    generator = torch.Generator().manual_seed(v.check_seed(seed))
    r = torch.randn(out.shape, generator=generator, dtype=torch.float64)
    r = r.to(device=out.device, dtype=out.dtype)

    dx = layer.backward(r)
    analytic = {"x": dx.clone()}
    named = layer.named_parameters()
    for (name, _), g in zip(named, layer.gradients()):
        analytic[name] = g.clone()

    def f() -> torch.Tensor:
        return (r * forward()).sum()

    for name, p in [("x", x), *named]:
        _check_nudge(f, p, eps, name)  # an error names the parameter
    errors = {
        "x": relative_error(analytic["x"], numerical_gradient(f, x, eps))
    }
    for name, p in named:
        numeric = numerical_gradient(f, p, eps)
        errors[name] = relative_error(analytic[name], numeric)
    return errors


_LAYER_METHODS = ("forward", "backward", "named_parameters", "gradients")


def _check_layer(layer: Any) -> None:
    """Refuse what has no hand-written ``backward`` to check."""
    missing = [
        m for m in _LAYER_METHODS if not callable(getattr(layer, m, None))
    ]
    if missing:
        hint = ""
        if isinstance(layer, torch.nn.Module):
            hint = (
                "; a torch.nn.Module is differentiated by autograd, check "
                "it with torch.autograd.gradcheck"
            )
        raise TypeError(
            "layer must be a tools layer or Sequential (with forward, "
            "backward, named_parameters and gradients), got "
            f"{type(layer).__name__}, which has no "
            f"{', '.join(missing)}{hint}"
        )
