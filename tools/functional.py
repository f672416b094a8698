"""The softmax classifier's forward and backward pass, one formula each.

For a batch ``X`` of ``m`` samples, logits ``Z = X W + b``, probabilities
``Y_hat = softmax(Z)`` and one-hot targets ``Y``, the chain rule of chapter 2
reads (with ``G = dL/dY_hat``)::

    dL/dY_hat = -(Y / Y_hat) / m             cross_entropy_grad
    dL/dZ     = Y_hat * (G - (G * Y_hat) 1)  softmax_vjp
              = (Y_hat - Y) / m              logits_grad

No autograd is used here: the tests compare every function with
``torch.autograd``.
"""

from __future__ import annotations

import torch

__all__ = [
    "softmax",
    "log_softmax",
    "cross_entropy",
    "cross_entropy_grad",
    "softmax_vjp",
    "logits_grad",
    "mse",
    "mse_grad",
]


def softmax(z: torch.Tensor) -> torch.Tensor:
    """Row-wise softmax, shifted by each row's maximum so that ``exp`` cannot
    overflow.

    ``softmax(z - c) == softmax(z)`` for any per-row constant ``c``; with ``c =
    max(z)`` the largest exponent is ``exp(0) = 1``, so logits as large as
    ``1e4`` stay finite.

    >>> z = [[1.0, 2.0, 3.0], [1e4, 0.0, -1e4]]
    >>> softmax(torch.tensor(z, dtype=torch.float64))
    tensor([[0.0900, 0.2447, 0.6652],
            [1.0000, 0.0000, 0.0000]], dtype=torch.float64)
    """
    shifted = z - z.max(dim=1, keepdim=True).values
    e = torch.exp(shifted)
    return e / e.sum(dim=1, keepdim=True)


def log_softmax(z: torch.Tensor) -> torch.Tensor:
    """Row-wise ``log(softmax(z))`` computed as ``z - logsumexp(z)``, finite
    even where softmax underflows.

    >>> log_softmax(torch.tensor([[1e4, 0.0]], dtype=torch.float64))
    tensor([[     0., -10000.]], dtype=torch.float64)
    """
    shifted = z - z.max(dim=1, keepdim=True).values
    return shifted - torch.log(torch.exp(shifted).sum(dim=1, keepdim=True))


def _clamped(y_pred: torch.Tensor) -> torch.Tensor:
    # A probability that underflowed to 0 would make log() return -inf; the
    # smallest positive normal number of the dtype caps the loss at -log(tiny)
    # (about 708 in float64).
    return y_pred.clamp_min(torch.finfo(y_pred.dtype).tiny)


def cross_entropy(y_true: torch.Tensor, y_pred: torch.Tensor) -> torch.Tensor:
    """Mean cross-entropy ``-1/m sum_ij Y_ij log Y_hat_ij`` of probability
    rows, as a 0-d tensor.

    Terms with ``Y_ij = 0`` contribute exactly 0 (``xlogy``), and predicted
    probabilities are clamped below at the dtype's smallest normal number, so
    the result is always finite.

    >>> y = torch.tensor([[0.0, 1.0], [1.0, 0.0]], dtype=torch.float64)
    >>> p = torch.tensor([[0.5, 0.5], [0.9, 0.1]], dtype=torch.float64)
    >>> round(float(cross_entropy(y, p)), 4)
    0.3993
    """
    return -torch.xlogy(y_true, _clamped(y_pred)).sum() / y_true.shape[0]


def cross_entropy_grad(
    y_true: torch.Tensor, y_pred: torch.Tensor
) -> torch.Tensor:
    """``dL/dY_hat = -(Y / Y_hat) / m``, the first link of the chain (0
    wherever ``Y_ij = 0``)."""
    m = y_true.shape[0]
    ratio = torch.where(
        y_true == 0, torch.zeros_like(y_pred), y_true / _clamped(y_pred)
    )
    return -ratio / m


def softmax_vjp(
    y_pred: torch.Tensor, grad_y_pred: torch.Tensor
) -> torch.Tensor:
    """Vector-Jacobian product of the softmax: ``dL/dZ = Y_hat * (G - (G *
    Y_hat) 1)`` with ``G = dL/dY_hat``.

    Row ``i`` equals ``G_i (diag(s_i) - s_i s_i^T)`` with ``s_i = Y_hat_i``:
    the Jacobian of the softmax of one sample, applied without ever building
    it.
    """
    return y_pred * (
        grad_y_pred - (grad_y_pred * y_pred).sum(dim=1, keepdim=True)
    )


def logits_grad(y_true: torch.Tensor, y_pred: torch.Tensor) -> torch.Tensor:
    """``dL/dZ = (Y_hat - Y) / m``: the chain above collapsed, valid when each
    row of ``Y`` sums to 1."""
    return (y_pred - y_true) / y_true.shape[0]


def mse(y_true: torch.Tensor, y_pred: torch.Tensor) -> torch.Tensor:
    """Mean squared error over all ``m * c`` entries, as a 0-d tensor.

    ``L = 1/(m c) sum_ij (Y_hat_ij - Y_ij)^2``, the mean that
    ``torch.nn.MSELoss()`` and Keras's ``MeanSquaredError`` take.

    >>> y = torch.tensor([[1.0], [2.0]], dtype=torch.float64)
    >>> float(mse(y, torch.tensor([[2.0], [4.0]], dtype=torch.float64)))
    2.5
    """
    return (y_pred - y_true).square().mean()


def mse_grad(y_true: torch.Tensor, y_pred: torch.Tensor) -> torch.Tensor:
    """``dL/dY_hat = 2 (Y_hat - Y) / (m c)``, the gradient of :func:`mse`."""
    return (y_pred - y_true) * (2.0 / y_true.numel())
