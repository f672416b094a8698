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

import math

import torch

from . import _validation as v

__all__ = [
    "softmax",
    "log_softmax",
    "cross_entropy",
    "cross_entropy_grad",
    "softmax_vjp",
    "logits_grad",
    "mse",
    "mse_grad",
    "cross_entropy_with_logits",
    "relu",
    "relu_derivative",
    "sigmoid",
    "sigmoid_derivative",
    "tanh",
    "tanh_derivative",
    "gelu",
    "gelu_derivative",
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
    shifted = z - _row_max(z)
    e = torch.exp(shifted)
    return e / e.sum(dim=1, keepdim=True)


def log_softmax(z: torch.Tensor) -> torch.Tensor:
    """Row-wise ``log(softmax(z))`` computed as ``z - logsumexp(z)``, finite
    even where softmax underflows.

    >>> log_softmax(torch.tensor([[1e4, 0.0]], dtype=torch.float64))
    tensor([[     0., -10000.]], dtype=torch.float64)
    """
    return _log_softmax(z, "z")


def _log_softmax(z: torch.Tensor, name: str) -> torch.Tensor:
    """:func:`log_softmax`, naming ``z`` ``name`` in messages."""
    shifted = z - _row_max(z, name)
    return shifted - torch.log(torch.exp(shifted).sum(dim=1, keepdim=True))


# The same two formulas written over their argument, for the training
# loop's temporaries (fresh logits that nothing else holds, no autograd):
# the numbers of softmax and log_softmax, exactly, without two of their
# temporaries as large as z.
def _softmax_(z: torch.Tensor) -> torch.Tensor:
    """:func:`softmax` of ``z``, computed in place in ``z``."""
    e = z.sub_(_row_max(z)).exp_()
    return e.div_(e.sum(dim=1, keepdim=True))


def _log_softmax_(z: torch.Tensor) -> torch.Tensor:
    """:func:`log_softmax` of ``z``, computed in place in ``z``."""
    shifted = z.sub_(_row_max(z))
    lse = torch.log(torch.exp(shifted).sum(dim=1, keepdim=True))
    return shifted.sub_(lse)


def _row_max(z: torch.Tensor, name: str = "z") -> torch.Tensor:
    """Each row's largest logit, ``(m, 1)``; refuses what has no softmax.

    A row whose maximum is +inf, -inf or NaN would give NaN probabilities
    (``inf - inf``), so it raises instead; checking the ``m`` maxima costs
    far less than a pass over ``z``. ``name`` is the caller's name for
    ``z``, used in messages.
    """
    if not isinstance(z, torch.Tensor) or z.dim() != 2:
        shape = tuple(z.shape) if isinstance(z, torch.Tensor) else type(z)
        raise ValueError(
            f"{name} must be a 2-D tensor of logits, one row per sample, "
            f"got {shape}; for a single sample use {name}.unsqueeze(0)"
        )
    v.check_real_float(name, z)
    top = z.amax(dim=1, keepdim=True)
    if not bool(torch.isfinite(top).all()):
        row = int((~torch.isfinite(top)).nonzero()[0, 0])
        raise ValueError(
            f"{name} must hold finite logits, but row {row} has largest "
            f"entry {float(top[row, 0])}; its softmax is undefined"
        )
    return top


def _check_pair(
    name_a: str, a: torch.Tensor, name_b: str, b: torch.Tensor
) -> None:
    """Two real floating-point tensors of one shape (no broadcasting: a
    ``(m,)`` target against ``(m, 1)`` predictions would silently become
    an ``(m, m)`` matrix of differences)."""
    for name, t in ((name_a, a), (name_b, b)):
        v.check_tensor(name, t)
        v.check_real_float(name, t)
    if a.shape != b.shape:
        raise ValueError(
            f"{name_a} and {name_b} must have the same shape, got "
            f"{tuple(a.shape)} and {tuple(b.shape)} (no broadcasting)"
        )


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
    _check_pair("y_true", y_true, "y_pred", y_pred)
    return -torch.xlogy(y_true, _clamped(y_pred)).sum() / y_true.shape[0]


def cross_entropy_grad(
    y_true: torch.Tensor, y_pred: torch.Tensor
) -> torch.Tensor:
    """``dL/dY_hat = -(Y / Y_hat) / m``, the first link of the chain (0
    wherever ``Y_ij = 0``)."""
    _check_pair("y_true", y_true, "y_pred", y_pred)
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
    _check_pair("y_pred", y_pred, "grad_y_pred", grad_y_pred)
    return y_pred * (
        grad_y_pred - (grad_y_pred * y_pred).sum(dim=1, keepdim=True)
    )


def logits_grad(y_true: torch.Tensor, y_pred: torch.Tensor) -> torch.Tensor:
    """``dL/dZ = (Y_hat - Y) / m``: the chain above collapsed, valid when each
    row of ``Y`` sums to 1."""
    _check_pair("y_true", y_true, "y_pred", y_pred)
    return (y_pred - y_true) / y_true.shape[0]


def mse(y_true: torch.Tensor, y_pred: torch.Tensor) -> torch.Tensor:
    """Mean squared error over all ``m * c`` entries, as a 0-d tensor.

    ``L = 1/(m c) sum_ij (Y_hat_ij - Y_ij)^2``, the mean that
    ``torch.nn.MSELoss()`` and Keras's ``MeanSquaredError`` take.

    >>> y = torch.tensor([[1.0], [2.0]], dtype=torch.float64)
    >>> float(mse(y, torch.tensor([[2.0], [4.0]], dtype=torch.float64)))
    2.5
    """
    _check_pair("y_true", y_true, "y_pred", y_pred)
    return (y_pred - y_true).square().mean()


def mse_grad(y_true: torch.Tensor, y_pred: torch.Tensor) -> torch.Tensor:
    """``dL/dY_hat = 2 (Y_hat - Y) / (m c)``, the gradient of :func:`mse`."""
    _check_pair("y_true", y_true, "y_pred", y_pred)
    return (y_pred - y_true) * (2.0 / y_true.numel())


def _logits_grad_(y_true: torch.Tensor, y_pred: torch.Tensor) -> torch.Tensor:
    """:func:`logits_grad`, computed in place in ``y_pred`` (a temporary)."""
    return y_pred.sub_(y_true).div_(y_true.shape[0])


def _mse_and_grad_(
    y_true: torch.Tensor, y_pred: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """``(mse, mse_grad)`` of the pair, with their numbers, from one
    residual ``Y_hat - Y`` computed in place in ``y_pred`` (a temporary:
    the training loop's fresh predictions), which becomes the gradient."""
    r = y_pred.sub_(y_true)
    loss = r.square().mean()
    return loss, r.mul_(2.0 / y_true.numel())


def _mse_(y_true: torch.Tensor, y_pred: torch.Tensor) -> torch.Tensor:
    """:func:`mse`, computed in place in ``y_pred`` (a temporary)."""
    return y_pred.sub_(y_true).square_().mean()


def cross_entropy_with_logits(
    y_true: torch.Tensor, logits: torch.Tensor
) -> torch.Tensor:
    """Mean cross-entropy ``-1/m sum_ij Y_ij log softmax(Z)_ij`` from logits.

    Taken through :func:`log_softmax`, so it is exact (not clamped) and
    finite even for logits of order ``1e4``, where a probability
    underflows to 0; this is what ``torch.nn.CrossEntropyLoss`` computes
    for probability targets. Its gradient is :func:`logits_grad`.

    >>> z = torch.tensor([[1e4, -1e4]], dtype=torch.float64)
    >>> y = torch.tensor([[0.0, 1.0]], dtype=torch.float64)
    >>> float(cross_entropy_with_logits(y, z))
    20000.0
    """
    # Where Y_ij = 0 the term is 0 even if log softmax is -inf (a logit
    # more than the largest float below its row's maximum): 0 * -inf
    # would be NaN.
    _check_pair("y_true", y_true, "logits", logits)
    log_p = _log_softmax(logits, "logits").masked_fill_(y_true == 0, 0)
    return -(y_true * log_p).sum() / y_true.shape[0]


# -- activations and their derivatives -------------------------------
def _check_real(z: torch.Tensor) -> None:
    """``z`` must be a tensor of real floating-point numbers (an integer
    ``z`` would give integer derivatives, a complex one no ordering)."""
    v.check_real_float("z", v.check_tensor("z", z))


# Each activation phi acts entry by entry, so its Jacobian is diagonal
# and the backward pass multiplies by phi'(Z) entry by entry; the
# ``*_derivative`` functions return that phi'(Z), of the shape of Z.


def relu(z: torch.Tensor) -> torch.Tensor:
    """``max(z, 0)``, entry by entry.

    >>> relu(torch.tensor([-2.0, 0.0, 3.0]))
    tensor([0., 0., 3.])
    """
    _check_real(z)
    return z.clamp_min(0)


def relu_derivative(z: torch.Tensor) -> torch.Tensor:
    """``1`` where ``z > 0``, else ``0`` (at ``z = 0`` we take 0, as
    PyTorch and Keras do)."""
    _check_real(z)
    return (z > 0).to(z.dtype)


def sigmoid(z: torch.Tensor) -> torch.Tensor:
    """``1 / (1 + exp(-z))``, computed without overflow.

    With ``e = exp(-|z|) <= 1`` it is ``1 / (1 + e)`` for ``z >= 0`` and
    ``e / (1 + e)`` for ``z < 0``, so ``exp`` never sees a large positive
    argument.

    >>> sigmoid(torch.tensor([-1e4, 0.0, 1e4], dtype=torch.float64))
    tensor([0.0000, 0.5000, 1.0000], dtype=torch.float64)
    """
    _check_real(z)
    e = torch.exp(-z.abs())
    return torch.where(z >= 0, 1 / (1 + e), e / (1 + e))


def sigmoid_derivative(z: torch.Tensor) -> torch.Tensor:
    """``sigma(z) (1 - sigma(z))``, at most 1/4 (at ``z = 0``)."""
    _check_real(z)
    s = sigmoid(z)
    return s * (1 - s)


def tanh(z: torch.Tensor) -> torch.Tensor:
    """The hyperbolic tangent ``(e^z - e^-z) / (e^z + e^-z)`` (PyTorch's
    ``torch.tanh``, which is exact to the last bit and never overflows)."""
    _check_real(z)
    return torch.tanh(z)


def tanh_derivative(z: torch.Tensor) -> torch.Tensor:
    """``1 - tanh(z)^2``, at most 1 (at ``z = 0``)."""
    _check_real(z)
    return 1 - torch.tanh(z).square()


_GELU_C = math.sqrt(2 / math.pi)  # the tanh approximation's constants
_GELU_A = 0.044715


def _check_approximate(approximate: str) -> None:
    if approximate not in ("none", "tanh"):
        raise ValueError(
            "approximate must be 'none' (exact, with erf) or 'tanh', "
            f"got {approximate!r}"
        )


def gelu(z: torch.Tensor, approximate: str = "none") -> torch.Tensor:
    """The Gaussian error linear unit ``z Phi(z)``, ``Phi`` the normal CDF.

    ``approximate="none"``: ``Phi(z) = (1 + erf(z / sqrt 2)) / 2``, as
    ``torch.nn.GELU()`` and Keras's ``activation="gelu"``.
    ``approximate="tanh"``: ``z (1 + tanh(u)) / 2`` with
    ``u = sqrt(2/pi) (z + 0.044715 z^3)``, as
    ``nn.GELU(approximate="tanh")`` and ``keras.ops.gelu``'s default.

    >>> gelu(torch.tensor([-1.0, 0.0, 1.0], dtype=torch.float64))
    tensor([-0.1587,  0.0000,  0.8413], dtype=torch.float64)
    """
    _check_approximate(approximate)
    _check_real(z)
    if approximate == "tanh":
        u = _GELU_C * (z + _GELU_A * z**3)
        return 0.5 * z * (1 + torch.tanh(u))
    return 0.5 * z * (1 + torch.erf(z / math.sqrt(2)))


def gelu_derivative(
    z: torch.Tensor, approximate: str = "none"
) -> torch.Tensor:
    """``d gelu / dz``, entry by entry.

    Exact: ``Phi(z) + z Phi'(z)`` with ``Phi'(z) = exp(-z^2/2) / sqrt(2 pi)``
    the normal density. Tanh approximation, with ``t = tanh(u)`` and ``u``
    as in :func:`gelu`: ``(1 + t)/2 + z/2 (1 - t^2) du/dz``, where
    ``du/dz = sqrt(2/pi) (1 + 3 * 0.044715 z^2)``.
    """
    _check_approximate(approximate)
    _check_real(z)
    if approximate == "tanh":
        t = torch.tanh(_GELU_C * (z + _GELU_A * z**3))
        du = _GELU_C * (1 + 3 * _GELU_A * z.square())
        return 0.5 * (1 + t) + 0.5 * z * (1 - t.square()) * du
    cdf = 0.5 * (1 + torch.erf(z / math.sqrt(2)))
    pdf = torch.exp(-0.5 * z.square()) / math.sqrt(2 * math.pi)
    return cdf + z * pdf
