"""Three routes to the same gradient of the softmax classifier, from the most
literal to the cheapest.

All three start from ``G = dL/dY_hat``
(:func:`tools.functional.cross_entropy_grad`) or from its collapsed form, and
end with ``(dL/dW, dL/db)``:

``full-jacobian``
    Build every partial derivative as the index derivation writes it, then
    contract with ``torch.einsum``: ``dY_hat/dZ`` is an ``(m, c, m, c)``
    tensor and ``dZ/dW`` an ``(m, c, n, c)`` one. Memory grows as ``m**2``.
``block-jacobian``
    Sample ``i``'s probabilities depend only on sample ``i``'s logits, so
    ``dY_hat/dZ`` is zero off its ``m`` diagonal blocks ``diag(s_i) - s_i
    s_i^T``; keep just those, ``(m, c, c)``.
``closed-form``
    ``dL/dZ = (Y_hat - Y)/m``, then ``X^T dL/dZ`` and the column sums.
"""

from __future__ import annotations

from typing import Callable

import torch

from . import _validation as v
from .functional import cross_entropy_grad, logits_grad

__all__ = [
    "DEFAULT_MAX_JACOBIAN_BYTES",
    "ROUTES",
    "softmax_jacobian",
    "softmax_jacobian_blocks",
    "logits_jacobian_wrt_weights",
    "full_jacobian_bytes",
    "format_bytes",
    "gradients_full_jacobian",
    "gradients_block_jacobian",
    "gradients_closed_form",
]

#: The full-Jacobian route refuses a batch whose Jacobians would take more than
#: this (1 GiB).
DEFAULT_MAX_JACOBIAN_BYTES = 2**30

Gradients = tuple[torch.Tensor, torch.Tensor]


def _check_matrices(**named: torch.Tensor) -> None:
    """Each argument a 2-D tensor of real floating-point numbers (an int
    Jacobian would be computed silently in integers)."""
    for name, t in named.items():
        v.check_matrix(name, v.check_tensor(name, t))
        v.check_real_float(name, t)


def softmax_jacobian(y_pred: torch.Tensor) -> torch.Tensor:
    """``J[i, j, k, l] = dY_hat_ij / dZ_kl = delta_ik * Y_hat_ij * (delta_jl -
    Y_hat_il)``, shape ``(m, c, m, c)``.

    >>> s = torch.tensor([[0.5, 0.5]], dtype=torch.float64)
    >>> softmax_jacobian(s).reshape(2, 2)
    tensor([[ 0.2500, -0.2500],
            [-0.2500,  0.2500]], dtype=torch.float64)
    """
    _check_matrices(y_pred=y_pred)
    m, c = y_pred.shape
    eye_m = torch.eye(m, dtype=y_pred.dtype, device=y_pred.device)
    eye_c = torch.eye(c, dtype=y_pred.dtype, device=y_pred.device)
    diagonal = torch.einsum("ik,ij,jl->ijkl", eye_m, y_pred, eye_c)
    outer = torch.einsum("ik,ij,il->ijkl", eye_m, y_pred, y_pred)
    return diagonal - outer


def softmax_jacobian_blocks(y_pred: torch.Tensor) -> torch.Tensor:
    """The ``m`` diagonal blocks ``diag(s_i) - s_i s_i^T`` of
    :func:`softmax_jacobian`, shape ``(m, c, c)``."""
    _check_matrices(y_pred=y_pred)
    return torch.diag_embed(y_pred) - y_pred[:, :, None] * y_pred[:, None, :]


def logits_jacobian_wrt_weights(
    x: torch.Tensor, n_classes: int
) -> torch.Tensor:
    """``dZ_ij / dW_pq = X_ip * delta_jq``, shape ``(m, c, n, c)``.

    Flattened row by row (as ``reshape`` and ``torch.flatten`` do), it is
    the ``(m c) x (n c)`` matrix ``X kron I_c``: block ``(i, p)`` is
    ``X_ip`` times the identity. (``I kron X`` belongs to the column-stacking
    ``vec`` of many textbooks.)"""
    _check_matrices(x=x)
    eye = torch.eye(n_classes, dtype=x.dtype, device=x.device)
    return torch.einsum("ip,jq->ijpq", x, eye)


def format_bytes(n: int) -> str:
    """``n`` bytes in the largest binary unit that keeps it at least 1.

    >>> [format_bytes(n) for n in (1000, 9360, 1207296, 3 * 2**29)]
    ['1000 B', '9.14 KiB', '1.15 MiB', '1.50 GiB']
    """
    if n < 1024:
        return f"{n} B"
    for unit in ("KiB", "MiB", "GiB"):
        n /= 1024
        if n < 1024 or unit == "GiB":
            break
    return f"{n:.2f} {unit}"


def full_jacobian_bytes(
    m: int, n_features: int, n_classes: int, itemsize: int = 8
) -> int:
    """Bytes of the two Jacobians the full route builds, ``(m c)^2 + m c n c``
    numbers.

    >>> full_jacobian_bytes(1024, 5, 3)  # float64
    75866112
    """
    return (
        m * n_classes
    ) ** 2 * itemsize + m * n_classes * n_features * n_classes * itemsize


def gradients_full_jacobian(
    x: torch.Tensor,
    y_true: torch.Tensor,
    y_pred: torch.Tensor,
    *,
    max_bytes: int = DEFAULT_MAX_JACOBIAN_BYTES,
) -> Gradients:
    """``dL/dW`` and ``dL/db`` by contracting full Jacobians, the way the index
    derivation reads.

    Raises ``MemoryError`` (before allocating anything) when the Jacobians
    would need more than ``max_bytes``; the einsum calls need a few times that
    at their peak.
    """
    _check_matrices(x=x, y_true=y_true, y_pred=y_pred)
    m, n = x.shape
    c = y_pred.shape[1]
    need = full_jacobian_bytes(m, n, c, y_pred.element_size())
    if need > max_bytes:
        raise MemoryError(
            f"the full Jacobian of a batch of {m} samples with {c} classes "
            f"needs {format_bytes(need)}, more than max_bytes={max_bytes} "
            f"({format_bytes(max_bytes)}); use a smaller batch, a larger "
            "max_bytes, or the block-jacobian / closed-form route"
        )
    grad_y_pred = cross_entropy_grad(y_true, y_pred)  # (m, c)
    dz = torch.einsum(
        "ij,ijkl->kl", grad_y_pred, softmax_jacobian(y_pred)
    )  # (m, c)
    dw = torch.einsum(
        "kl,klpq->pq", dz, logits_jacobian_wrt_weights(x, c)
    )  # (n, c)
    db = torch.einsum(
        "kl,lq->q", dz, torch.eye(c, dtype=dz.dtype, device=dz.device)
    )  # dZ_kl/db_q = delta_lq
    return dw, db


def gradients_block_jacobian(
    x: torch.Tensor, y_true: torch.Tensor, y_pred: torch.Tensor
) -> Gradients:
    """``dL/dW`` and ``dL/db`` through the ``m`` blocks of the softmax Jacobian
    only."""
    _check_matrices(x=x, y_true=y_true, y_pred=y_pred)
    grad_y_pred = cross_entropy_grad(y_true, y_pred)
    dz = torch.einsum(
        "ij,ijl->il", grad_y_pred, softmax_jacobian_blocks(y_pred)
    )
    return x.T @ dz, dz.sum(dim=0)


def gradients_closed_form(
    x: torch.Tensor, y_true: torch.Tensor, y_pred: torch.Tensor
) -> Gradients:
    """``dL/dW = X^T (Y_hat - Y)/m`` and ``dL/db = 1^T (Y_hat - Y)/m``."""
    _check_matrices(x=x, y_true=y_true, y_pred=y_pred)
    dz = logits_grad(y_true, y_pred)
    return x.T @ dz, dz.sum(dim=0)


#: The routes by name, as :class:`tools.SoftmaxClassifier`'s ``gradient=``
#: argument takes them.
ROUTES: dict[str, Callable[..., Gradients]] = {
    "closed-form": gradients_closed_form,
    "block-jacobian": gradients_block_jacobian,
    "full-jacobian": gradients_full_jacobian,
}
