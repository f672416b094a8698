"""How the first weights of an affine layer are drawn (chapter 4).

A layer ``Z = X W + 1 b^T`` with ``n_in`` inputs and ``n_out`` outputs
keeps the variance of its signal when ``n_in Var(W_jk)`` (forward) and
``n_out Var(W_jk)`` (backward) are near 1 for a linear or tanh network,
and near 2 for a ReLU network, which zeroes half of each pre-activation.
Each scheme here picks ``Var(W_jk)`` from that argument; a uniform law on
``[-a, a]`` has variance ``a^2 / 3``, so a bound ``a`` and a standard
deviation ``s`` with the same variance satisfy ``a = sqrt(3) s``:

===================  ==========================  =====================
scheme               weights ``W_jk``             bias ``b``
===================  ==========================  =====================
``uniform``          ``U(-a, a)``,                ``U(-a, a)``
                     ``a = 1/sqrt(n_in)``
``xavier_uniform``   ``U(-a, a)``,                zeros
                     ``a = sqrt(6/(n_in+n_out))``
``xavier_normal``    ``N(0, s^2)``,               zeros
                     ``s = sqrt(2/(n_in+n_out))``
``kaiming_uniform``  ``U(-a, a)``,                zeros
                     ``a = sqrt(6/n_in)``
``kaiming_normal``   ``N(0, s^2)``,               zeros
                     ``s = sqrt(2/n_in)``
===================  ==========================  =====================

``uniform`` is ``torch.nn.Linear``'s default (and the course's since
chapter 1). The Xavier/Glorot schemes are ``torch.nn.init.xavier_*_``
with gain 1 (Keras's ``glorot_uniform``, its ``Dense`` default, equals
``xavier_uniform``). The Kaiming/He schemes are
``torch.nn.init.kaiming_*_`` with their defaults (fan-in, gain
``sqrt(2)``, the gain for ReLU); Keras's ``he_uniform`` equals
``kaiming_uniform``, while its ``he_normal`` and ``glorot_normal`` draw
from a normal truncated at two standard deviations (rescaled to keep the
variance), not from the plain normal used here and by PyTorch.

Every scheme draws on the CPU in float64, from a generator seeded with
``seed`` (or PyTorch's global one when ``seed`` is ``None``), and then
moves the result to ``device`` and casts it to ``dtype``: one seed gives
the same start on every device. ``w`` has shape ``(n_in, n_out)``, the
transpose of ``nn.Linear``'s ``weight``.

>>> from tools import init
>>> w, b = init.kaiming_normal(256, 64, dtype=torch.float64, seed=0)
>>> w.shape, bool((b == 0).all())
(torch.Size([256, 64]), True)
>>> init.weight_std("kaiming_normal", 256, 64) == (2 / 256) ** 0.5
True
"""

from __future__ import annotations

import math
from typing import Callable

import torch

from . import _validation as v
from .linear_models import uniform_init

__all__ = [
    "SCHEMES",
    "uniform",
    "xavier_uniform",
    "xavier_normal",
    "kaiming_uniform",
    "kaiming_normal",
    "weight_std",
    "initialize",
]

Device = torch.device | str | None
Generator = torch.Generator | None
Pair = tuple[torch.Tensor, torch.Tensor]


def _generator(seed: int | None) -> torch.Generator | None:
    if seed is None:
        return None  # PyTorch's global generator
    return torch.Generator().manual_seed(v.check_seed(seed))


def _uniform(shape: tuple[int, ...], generator: Generator) -> torch.Tensor:
    """``U(-1, 1)`` in float64: ``U(0, 1)`` stretched, as chapter 1's
    ``linear_models.uniform_init`` draws it."""
    return torch.rand(shape, generator=generator, dtype=torch.float64) * 2 - 1


def _normal(shape: tuple[int, ...], generator: Generator) -> torch.Tensor:
    """``N(0, 1)`` in float64."""
    return torch.randn(shape, generator=generator, dtype=torch.float64)


def _draw(
    sample: Callable[[tuple[int, ...], Generator], torch.Tensor],
    scale: float,
    n_in: int,
    n_out: int,
    device: Device,
    dtype: torch.dtype | None,
    seed: int | None,
) -> Pair:
    """``w = scale * sample((n_in, n_out))`` and a zero bias."""
    dtype = v.check_dtype(dtype)
    device = v.check_device(device)
    w = sample((n_in, n_out), _generator(seed)) * scale
    w = w.to(device=device, dtype=dtype)
    return w, torch.zeros(n_out, device=device, dtype=dtype)


def _check_sizes(n_in: object, n_out: object) -> tuple[int, int]:
    return v.check_int("n_in", n_in, 1), v.check_int("n_out", n_out, 1)


def uniform(
    n_in: int,
    n_out: int,
    *,
    device: Device = None,
    dtype: torch.dtype | None = None,
    seed: int | None = None,
) -> Pair:
    """``w`` and ``b`` both from ``U(-a, a)`` with ``a = 1/sqrt(n_in)``.

    ``Var(W_jk) = a^2/3 = 1/(3 n_in)``: ``torch.nn.Linear``'s default,
    which shrinks the signal's variance by about 3 at every layer of a
    linear network. ``w`` is drawn first, then ``b``, from one generator.
    """
    n_in, n_out = _check_sizes(n_in, n_out)
    return uniform_init(n_in, n_out, device=device, dtype=dtype, seed=seed)


def xavier_uniform(
    n_in: int,
    n_out: int,
    *,
    device: Device = None,
    dtype: torch.dtype | None = None,
    seed: int | None = None,
) -> Pair:
    """``w`` from ``U(-a, a)``, ``a = sqrt(6 / (n_in + n_out))``; ``b = 0``.

    ``Var(W_jk) = 2 / (n_in + n_out)``, the compromise between
    ``1/n_in`` (forward) and ``1/n_out`` (backward) of Glorot and Bengio
    (2010); ``torch.nn.init.xavier_uniform_`` with gain 1.
    """
    n_in, n_out = _check_sizes(n_in, n_out)
    a = math.sqrt(6.0 / (n_in + n_out))
    return _draw(_uniform, a, n_in, n_out, device, dtype, seed)


def xavier_normal(
    n_in: int,
    n_out: int,
    *,
    device: Device = None,
    dtype: torch.dtype | None = None,
    seed: int | None = None,
) -> Pair:
    """``w`` from ``N(0, s^2)``, ``s = sqrt(2 / (n_in + n_out))``; ``b = 0``.

    The variance of ``xavier_uniform`` from a normal law;
    ``torch.nn.init.xavier_normal_`` with gain 1.
    """
    n_in, n_out = _check_sizes(n_in, n_out)
    s = math.sqrt(2.0 / (n_in + n_out))
    return _draw(_normal, s, n_in, n_out, device, dtype, seed)


def kaiming_uniform(
    n_in: int,
    n_out: int,
    *,
    device: Device = None,
    dtype: torch.dtype | None = None,
    seed: int | None = None,
) -> Pair:
    """``w`` from ``U(-a, a)``, ``a = sqrt(2) sqrt(3 / n_in)
    = sqrt(6 / n_in)``; ``b = 0``.

    ``Var(W_jk) = 2 / n_in``: He et al. (2015) for ReLU, which passes
    half of a symmetric pre-activation's second moment, so the gain
    ``sqrt(2)`` makes up for it. ``torch.nn.init.kaiming_uniform_`` with
    ``mode="fan_in"`` and the ReLU gain.
    """
    n_in, n_out = _check_sizes(n_in, n_out)
    a = math.sqrt(6.0 / n_in)
    return _draw(_uniform, a, n_in, n_out, device, dtype, seed)


def kaiming_normal(
    n_in: int,
    n_out: int,
    *,
    device: Device = None,
    dtype: torch.dtype | None = None,
    seed: int | None = None,
) -> Pair:
    """``w`` from ``N(0, s^2)``, ``s = sqrt(2) / sqrt(n_in)
    = sqrt(2 / n_in)``; ``b = 0``.

    The variance of ``kaiming_uniform`` from a normal law;
    ``torch.nn.init.kaiming_normal_`` with ``mode="fan_in"`` and the ReLU
    gain ``sqrt(2)``.
    """
    n_in, n_out = _check_sizes(n_in, n_out)
    s = math.sqrt(2.0 / n_in)
    return _draw(_normal, s, n_in, n_out, device, dtype, seed)


SCHEMES: dict[str, Callable[..., Pair]] = {
    "uniform": uniform,
    "xavier_uniform": xavier_uniform,
    "xavier_normal": xavier_normal,
    "kaiming_uniform": kaiming_uniform,
    "kaiming_normal": kaiming_normal,
}
"""The schemes by name: the values ``tools.Linear(..., init=)`` takes."""


def check_scheme(init: object) -> str:
    """``init`` if it names a scheme of :data:`SCHEMES`, else raise."""
    if not isinstance(init, str) or init not in SCHEMES:
        names = ", ".join(repr(name) for name in SCHEMES)
        raise ValueError(f"init must be one of {names}, got {init!r}")
    return init


def weight_std(init: str, n_in: int, n_out: int) -> float:
    """The standard deviation of one weight ``W_jk`` under ``init``: the
    formula the draws are checked against.

    ``1/sqrt(3 n_in)``, ``sqrt(2/(n_in + n_out))`` for both Xavier
    schemes, ``sqrt(2/n_in)`` for both Kaiming schemes.

    >>> weight_std("uniform", 3, 1) == 1 / 3
    True
    """
    init = check_scheme(init)
    n_in, n_out = _check_sizes(n_in, n_out)
    if init == "uniform":
        return 1.0 / math.sqrt(3.0 * n_in)
    if init.startswith("xavier"):
        return math.sqrt(2.0 / (n_in + n_out))
    return math.sqrt(2.0 / n_in)


def initialize(
    init: str,
    n_in: int,
    n_out: int,
    *,
    device: Device = None,
    dtype: torch.dtype | None = None,
    seed: int | None = None,
) -> Pair:
    """``(w, b)`` drawn by the scheme named ``init`` (see :data:`SCHEMES`).

    >>> w, b = initialize("xavier_uniform", 4, 2, seed=1)
    >>> bool(w.abs().max() <= 1.0), b.tolist()
    (True, [0.0, 0.0])
    """
    scheme = SCHEMES[check_scheme(init)]
    return scheme(n_in, n_out, device=device, dtype=dtype, seed=seed)
