"""Gradient checking: hand-written gradients against centred differences.

For a scalar function ``f`` of a tensor ``x``, the centred difference::

    df/dx_i ~ (f(x + eps e_i) - f(x - eps e_i)) / (2 eps)

has a truncation error of order ``eps^2`` and a round-off error of order
``u / eps`` (``u`` the dtype's unit round-off), so ``eps ~ u^(1/3)``
(about ``1e-5`` to ``1e-6`` in float64) balances the two. The
:func:`relative_error` of an analytic gradient against it is then about
``1e-10`` or smaller when the gradient is right, and of order ``1e-2``
to 1 when it is wrong.
"""

from __future__ import annotations

from typing import Any, Callable

import torch

from . import _validation as v

__all__ = ["numerical_gradient", "relative_error", "gradient_check"]


def numerical_gradient(
    f: Callable[[], Any], x: torch.Tensor, eps: float = 1e-6
) -> torch.Tensor:
    """Centred finite differences of the scalar ``f()`` with respect to
    every entry of ``x``, a tensor of the shape of ``x``.

    ``f`` takes no argument: it reads ``x`` (and whatever else it
    needs), which is changed in place one entry at a time and put back
    exactly afterwards. So ``x`` may be an input or a parameter of a
    model.

    >>> x = torch.tensor([1.0, 2.0], dtype=torch.float64)
    >>> g = numerical_gradient(lambda: (x**3).sum(), x)
    >>> [round(float(t), 6) for t in g]
    [3.0, 12.0]
    """
    x = v.check_tensor("x", x)
    if not x.is_floating_point():
        raise TypeError(f"x must be floating point, got {x.dtype}")
    eps = v.check_positive_float("eps", eps)
    grad = torch.empty_like(x)
    flat, out = x.view(-1), grad.view(-1)
    with torch.no_grad():
        for i in range(flat.numel()):
            saved = flat[i].item()
            flat[i] = saved + eps
            up = float(f())
            flat[i] = saved - eps
            down = float(f())
            flat[i] = saved
            out[i] = (up - down) / (2 * eps)
    return grad


def relative_error(analytic: torch.Tensor, numeric: torch.Tensor) -> float:
    """``||a - n|| / (||a|| + ||n||)`` (Euclidean norms), in float64.

    0 means equal, 1 means unrelated (or one of them zero); 0 when both
    are all zeros. Unlike an entry-by-entry ratio it cannot blow up
    where one gradient entry happens to be near zero.

    >>> relative_error(torch.tensor([1.0, 2.0]), torch.tensor([1.0, 2.0]))
    0.0
    """
    for name, t in (("analytic", analytic), ("numeric", numeric)):
        v.check_tensor(name, t)
        v.check_finite(name, t)
    if analytic.shape != numeric.shape:
        raise ValueError(
            "analytic and numeric must have the same shape, got "
            f"{tuple(analytic.shape)} and {tuple(numeric.shape)}"
        )
    a, n = analytic.detach().double(), numeric.detach().double()
    scale = float(a.norm() + n.norm())
    return 0.0 if scale == 0 else float((a - n).norm()) / scale


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

    Works in the dtype of ``x`` and of the layer: use float64.
    """
    x = v.check_tensor("x", x).clone()
    out = layer.forward(x)
    generator = torch.Generator().manual_seed(v.check_seed(seed))
    r = torch.randn(out.shape, generator=generator, dtype=torch.float64)
    r = r.to(device=out.device, dtype=out.dtype)

    dx = layer.backward(r)
    analytic = {"x": dx.clone()}
    named = layer.named_parameters()
    for (name, _), g in zip(named, layer.gradients()):
        analytic[name] = g.clone()

    def f() -> float:
        return float((r * layer.forward(x)).sum())

    errors = {
        "x": relative_error(analytic["x"], numerical_gradient(f, x, eps))
    }
    for name, p in named:
        numeric = numerical_gradient(f, p, eps)
        errors[name] = relative_error(analytic[name], numeric)
    return errors
