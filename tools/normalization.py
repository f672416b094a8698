"""Batch and layer normalisation with hand-derived backward passes
(chapter 4).

Both standardise ``X`` (``m`` rows, ``n`` features) and then scale and
shift each feature by learned vectors ``γ`` (ones at the start) and
``β`` (zeros)::

    X̂ = (X - z̄) ⊘ σ,    σ = sqrt(v + ε),    Y = X̂ diag(γ) + 1 βᵀ

where ``z̄`` and ``v`` are a mean and a *biased* variance (divided by the
count, not the count minus one), and ``ε`` keeps the division safe.
They differ in what they average over:

* :class:`BatchNorm1d` takes ``z̄, v`` (length ``n``) per feature, down
  the batch's ``m`` rows, in training; in evaluation it uses the running
  averages kept during training instead, so its output for a sample no
  longer depends on the rest of the batch.
* :class:`LayerNorm` takes ``z̄, v`` (length ``m``) per row, across its
  ``n`` features, the same way in training and evaluation.

The backward pass of one standardisation ``x̂ = (x - z̄ 1)/σ`` of a
vector ``x`` of ``k`` entries follows from ``∂z̄/∂x = 1ᵀ/k`` and
``∂σ/∂x = (x - z̄ 1)ᵀ/(k σ)``: its Jacobian is symmetric,

    ∂x̂/∂x = (I - 1 1ᵀ/k - x̂ x̂ᵀ/k) / σ,

so for ``g = ∂L/∂x̂`` the gradient is
``∂L/∂x = (g - 1 (1ᵀg)/k - x̂ (x̂ᵀg)/k) / σ``. Each class applies it to
every column (batch norm, ``k = m``) or every row (layer norm,
``k = n``) at once; their docstrings give the matrix form.
"""

from __future__ import annotations

import numbers
from typing import Any

import torch

from . import _validation as v
from .layers import _Layer

__all__ = ["BatchNorm1d", "LayerNorm"]


def _check_momentum(momentum: object) -> float:
    if isinstance(momentum, bool) or not isinstance(momentum, numbers.Real):
        raise TypeError(
            "momentum must be a number in [0, 1] (the weight of the new "
            f"batch), got {momentum!r} ({type(momentum).__name__})"
        )
    momentum = float(momentum)
    if not 0.0 <= momentum <= 1.0:  # NaN fails both comparisons
        raise ValueError(
            "momentum must be a number in [0, 1] (the weight of the new "
            f"batch in the running statistics, as PyTorch's), got {momentum}"
        )
    return momentum


def _option(name: str, value: float, default: float) -> str:
    """``", name=value"`` for a ``repr``, or ``""`` at the default; to 12
    significant digits, so that Keras's ``1 - 0.99`` reads as ``0.01``."""
    text = f"{value:.12g}"
    return "" if text == f"{default:.12g}" else f", {name}={text}"


def _batchnorm_layout(n: int, eps: float, momentum: float) -> str:
    """``repr`` of ``BatchNorm1d(n, eps=eps, momentum=momentum)``."""
    options = _option("eps", eps, 1e-5) + _option("momentum", momentum, 0.1)
    return f"BatchNorm1d({n}{options})"


def _layernorm_layout(n: int, eps: float) -> str:
    """``repr`` of ``LayerNorm(n, eps=eps)``."""
    return f"LayerNorm({n}{_option('eps', eps, 1e-5)})"


class _Normalization(_Layer):
    """What batch and layer norm share: ``γ``, ``β``, their gradients,
    and the checks of ``x``."""

    _n: int  # the number of features, the width of x's last dimension

    def _init_parameters(
        self, n: int, eps: object, device: object, dtype: object
    ) -> None:
        self.eps = v.check_positive_float("eps", eps)
        dtype, device = v.check_dtype(dtype), v.check_device(device)
        self._n = n
        self.gamma = torch.ones(n, device=device, dtype=dtype)
        self.beta = torch.zeros(n, device=device, dtype=dtype)
        self.dgamma: torch.Tensor | None = None
        self.dbeta: torch.Tensor | None = None
        # forward keeps X̂ (_xhat) and 1/σ (_inv_std) for backward
        self._xhat: torch.Tensor | None = None

    @property
    def device(self) -> torch.device:
        """The device of ``gamma`` and ``beta`` (inputs must be on it)."""
        return self.gamma.device

    @property
    def dtype(self) -> torch.dtype:
        """The dtype of ``gamma`` and ``beta`` (inputs must have it)."""
        return self.gamma.dtype

    def parameters(self) -> list[torch.Tensor]:
        """``[gamma, beta]``: the tensors that training updates in place."""
        return [self.gamma, self.beta]

    def _widths(self) -> tuple[int | None, int | None]:
        return self._n, self._n

    def _forget(self) -> None:
        super()._forget()
        self._xhat = self._inv_std = self.dgamma = self.dbeta = None

    def named_parameters(self) -> list[tuple[str, torch.Tensor]]:
        """``[("gamma", gamma), ("beta", beta)]``."""
        return [("gamma", self.gamma), ("beta", self.beta)]

    def gradients(self) -> list[torch.Tensor]:
        """``[dgamma, dbeta]`` from the last ``backward``."""
        if self.dgamma is None:  # set together with dbeta
            raise RuntimeError(
                f"{self!r} has no gradients yet: call backward first"
            )
        return [self.dgamma, self.dbeta]

    def _check_input(self, x: Any, name: str) -> torch.Tensor:
        x = v.check_tensor(name, x)
        self._check_shape(x, name)
        v.check_like(name, x, self.device, self.dtype, repr(self))
        return super()._check_input(x, name)

    def _check_shape(self, x: torch.Tensor, name: str) -> None:
        raise NotImplementedError

    @staticmethod
    def _check_variance(variance: torch.Tensor) -> None:
        # x is finite, but (x - z̄)^2 can still overflow (x near 1e154 in
        # float64); the variance then is inf or NaN, and so is X̂.
        if not bool(torch.isfinite(variance).all()):
            raise ValueError(
                f"the variance of x overflowed {variance.dtype} (x is too "
                "large for its dtype); scale the inputs or use a wider dtype"
            )

    def _affine(
        self, xhat: torch.Tensor, out: torch.Tensor | None = None
    ) -> torch.Tensor:
        """``Y = X̂ diag(γ) + 1 βᵀ``, in one fused operation, written into
        ``out`` (a tensor of ``X̂``'s shape, ``X̂`` itself included) or,
        without it, into a new tensor."""
        return torch.addcmul(self.beta, xhat, self.gamma, out=out)

    def _parameter_gradients(self, g: torch.Tensor) -> torch.Tensor:
        """Set ``dbeta`` and ``dgamma``; return ``G ⊙ X̂``, a new tensor
        that ``_backward`` then overwrites with ``∂L/∂X``."""
        product = g * self._xhat
        self.dbeta = g.reshape(-1, self._n).sum(dim=0)  # Gᵀ1
        self.dgamma = product.reshape(-1, self._n).sum(dim=0)  # (G ⊙ X̂)ᵀ1
        return product


class BatchNorm1d(_Normalization):
    """Batch normalisation of a batch ``X`` of shape ``(m, num_features)``,
    like ``torch.nn.BatchNorm1d``.

    **Training** (after construction, or ``train()``): with the batch's
    mean and biased variance per feature (``n = num_features``)::

        z̄ = Xᵀ1 / m,   v = ((X - 1 z̄ᵀ) ⊙ (X - 1 z̄ᵀ))ᵀ1 / m,
        σ = sqrt(v + ε),   X̂ = (X - 1 z̄ᵀ) diag(σ)⁻¹,
        Y = X̂ diag(γ) + 1 βᵀ,

    and the running statistics move towards the batch's, ``momentum``
    being the weight of the new batch (PyTorch's convention; Keras's
    ``momentum`` weighs the old value, so its 0.9 is PyTorch's 0.1)::

        running_mean <- (1 - momentum) running_mean + momentum z̄
        running_var  <- (1 - momentum) running_var
                        + momentum v m / (m - 1)

    ``running_var`` keeps the *unbiased* variance ``v m / (m - 1)``, as
    PyTorch does (Keras keeps ``v``), although ``X̂`` uses ``v``. A batch
    of one row has ``v = 0`` and is refused in training, as in PyTorch.

    **Evaluation** (``eval()``): ``z̄`` and ``v`` are ``running_mean``
    and ``running_var``, and nothing is updated.

    **Backward**, for ``G = ∂L/∂Y``::

        ∂L/∂β = Gᵀ1,    ∂L/∂γ = (G ⊙ X̂)ᵀ1,
        ∂L/∂X = (G - 1 (∂L/∂β)ᵀ / m - X̂ diag(∂L/∂γ) / m) diag(γ ⊘ σ)

    in training: column ``j`` of ``X`` is standardised as a vector of
    ``m`` entries (module docstring), with ``g = γ_j G_{:j}``, so that
    ``1ᵀg = γ_j (∂L/∂β)_j`` and ``x̂ᵀg = γ_j (∂L/∂γ)_j``. In evaluation
    ``z̄`` and ``σ`` are constants and ``∂L/∂X = G diag(γ ⊘ σ)``.

    After ``backward``, ``dgamma`` and ``dbeta`` hold ``∂L/∂γ`` and
    ``∂L/∂β``; ``parameters()`` is ``[gamma, beta]``.

    >>> bn = BatchNorm1d(3, dtype=torch.float64)
    >>> x = torch.tensor([[1.0, 2, 3], [3, 2, 1]], dtype=torch.float64)
    >>> bn.forward(x)[:, 0]
    tensor([-1.0000,  1.0000], dtype=torch.float64)
    >>> bn.running_mean, bn.running_var
    (tensor([0.2000, 0.2000, 0.2000], dtype=torch.float64), \
tensor([1.1000, 0.9000, 1.1000], dtype=torch.float64))
    """

    def __init__(
        self,
        num_features: int,
        *,
        eps: float = 1e-5,
        momentum: float = 0.1,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        super().__init__()
        n = v.check_int("num_features", num_features, 1)
        momentum = _check_momentum(momentum)
        self._init_parameters(n, eps, device, dtype)
        self.num_features, self.momentum = n, momentum
        self.running_mean = torch.zeros_like(self.gamma)
        self.running_var = torch.ones_like(self.gamma)

    def __repr__(self) -> str:
        return _batchnorm_layout(self.num_features, self.eps, self.momentum)

    def _check_shape(self, x: torch.Tensor, name: str) -> None:
        v.check_matrix(
            name, x, self.num_features, f"columns (num_features of {self!r})"
        )

    def buffers(self) -> list[torch.Tensor]:
        """``[running_mean, running_var]``: the state that training
        changes besides the parameters (each training ``forward`` binds
        new tensors to the two names)."""
        return [self.running_mean, self.running_var]

    def _statistics(
        self, x: torch.Tensor, spare: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor, tuple | None]:
        """``(X̂, 1/σ, batch)`` in the current mode; ``batch`` is ``(z̄,
        unbiased variance)`` in training, else ``None``. ``X̂`` is a new
        tensor, computed in place from ``X - 1 z̄ᵀ``. In training the
        squares of ``X - 1 z̄ᵀ`` are written into ``spare`` (a tensor of
        ``x``'s shape, which then holds nothing needed), or into a new
        tensor without it."""
        if not self.training:
            inv_std = (self.running_var + self.eps).rsqrt()
            return (x - self.running_mean).mul_(inv_std), inv_std, None
        m = x.shape[0]
        if m < 2:
            raise ValueError(
                f"x must have at least 2 rows in training mode, got {m}: "
                f"{self!r} normalises each feature with the batch's "
                "variance, which one row does not have; call eval() to "
                "use the running statistics instead"
            )
        mean = x.mean(dim=0)
        centred = x - mean
        squares = torch.mul(centred, centred, out=spare).sum(dim=0)
        biased = squares / m
        self._check_variance(biased)
        inv_std = (biased + self.eps).rsqrt()
        xhat = centred.mul_(inv_std)  # X̂, in the memory of X - 1 z̄ᵀ
        return xhat, inv_std, (mean, squares / (m - 1))

    def _forward(self, x: torch.Tensor) -> torch.Tensor:
        out = torch.empty_like(x)  # first the squares, then Y
        xhat, inv_std, batch = self._statistics(x, out)
        if batch is not None:
            mean, unbiased = batch
            mo = self.momentum
            # PyTorch's formula, term for term; its CPU kernel sums z̄ in
            # another order, so the two agree to rounding (~1e-16)
            # New tensors, not written in place: a forward that fails
            # later can put the old ones back (as every attribute).
            self.running_mean = mo * mean + (1 - mo) * self.running_mean
            self.running_var = mo * unbiased + (1 - mo) * self.running_var
        self._xhat, self._inv_std = xhat, inv_std
        self._used_batch = batch is not None
        # what the checks of backward read (shape, device, dtype)
        self._input, self._out_shape = xhat, tuple(x.shape)
        return self._affine(xhat, out)

    def _apply(self, x: torch.Tensor) -> torch.Tensor:
        """The output in the current mode, with nothing kept and the
        running statistics left as they are (``Y`` is written over
        ``X̂``)."""
        xhat = self._statistics(x)[0]
        return self._affine(xhat, xhat)

    def _backward(self, g: torch.Tensor) -> torch.Tensor:
        dx = self._parameter_gradients(g)  # G ⊙ X̂, overwritten below
        scale = self.gamma * self._inv_std  # γ ⊘ σ
        if not self._used_batch:
            return torch.mul(g, scale, out=dx)
        m = g.shape[0]
        torch.sub(g, self.dbeta / m, out=dx)
        dx.addcmul_(self._xhat, self.dgamma / m, value=-1)
        return dx.mul_(scale)


class LayerNorm(_Normalization):
    """Layer normalisation over the last dimension, like
    ``torch.nn.LayerNorm(normalized_shape)``.

    Each row ``x_i`` of ``X`` (``m`` rows of ``n`` features; any leading
    dimensions count as rows) is standardised across its own features,
    the same way in training and in evaluation::

        z̄ = X1 / n,   v = ((X - z̄ 1ᵀ) ⊙ (X - z̄ 1ᵀ))1 / n,
        σ = sqrt(v + ε),   X̂ = diag(σ)⁻¹ (X - z̄ 1ᵀ),
        Y = X̂ diag(γ) + 1 βᵀ

    (here ``z̄``, ``v`` and ``σ`` have one entry per row). One row is
    enough, and nothing is kept between batches.

    **Backward**, for ``G = ∂L/∂Y`` and ``Ĝ = G diag(γ)``::

        ∂L/∂β = Gᵀ1,    ∂L/∂γ = (G ⊙ X̂)ᵀ1,
        ∂L/∂X = diag(σ)⁻¹ (Ĝ - Ĝ1 1ᵀ / n - diag((Ĝ ⊙ X̂)1) X̂ / n)

    (row ``i`` of ``X`` is standardised as a vector of ``n`` entries,
    module docstring, with ``g = γ ⊙ G_{i:}``).

    ``normalized_shape`` is the number of features ``n``, or a sequence
    holding it, as PyTorch accepts (only the last dimension is
    normalised here). After ``backward``, ``dgamma`` and ``dbeta`` hold
    ``∂L/∂γ`` and ``∂L/∂β``.

    >>> ln = LayerNorm(3, dtype=torch.float64)
    >>> ln.forward(torch.tensor([[1.0, 2, 3]], dtype=torch.float64))
    tensor([[-1.2247,  0.0000,  1.2247]], dtype=torch.float64)
    """

    def __init__(
        self,
        normalized_shape: int | tuple[int] | list[int],
        *,
        eps: float = 1e-5,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        super().__init__()
        shape = normalized_shape
        if isinstance(shape, (tuple, list, torch.Size)):
            if len(shape) != 1:
                raise ValueError(
                    "normalized_shape must be the number of features, or a "
                    "sequence of that one number (only the last dimension "
                    f"is normalised here), got {normalized_shape!r}"
                )
            shape = shape[0]
        n = v.check_int("normalized_shape", shape, 1)
        self._init_parameters(n, eps, device, dtype)
        self.normalized_shape = (n,)

    def __repr__(self) -> str:
        return _layernorm_layout(self._n, self.eps)

    def _check_shape(self, x: torch.Tensor, name: str) -> None:
        if x.dim() == 0 or x.shape[-1] != self._n or x.numel() == 0:
            raise ValueError(
                f"{name} must have {self._n} entries in its last dimension "
                f"(normalized_shape of {self!r}), with at least one row, "
                f"got shape {tuple(x.shape)}"
            )

    def _standardise(
        self, x: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """``(X̂, 1/σ)``, ``1/σ`` as a column (one entry per row). ``X̂``
        is a new tensor, computed in place from ``X - z̄ 1ᵀ``; each row's
        sum of squares is its squared Euclidean norm, which the norm's
        reduction computes without storing the squares."""
        centred = x - x.mean(dim=-1, keepdim=True)
        norms = torch.linalg.vector_norm(centred, dim=-1, keepdim=True)
        biased = norms.square() / self._n
        self._check_variance(biased)
        inv_std = (biased + self.eps).rsqrt()
        return centred.mul_(inv_std), inv_std

    def _forward(self, x: torch.Tensor) -> torch.Tensor:
        xhat, inv_std = self._standardise(x)
        self._xhat, self._inv_std = xhat, inv_std
        # what the checks of backward read (shape, device, dtype)
        self._input, self._out_shape = xhat, tuple(x.shape)
        return self._affine(xhat)

    def _apply(self, x: torch.Tensor) -> torch.Tensor:
        """The output, with nothing kept (``Y`` is written over ``X̂``)."""
        xhat = self._standardise(x)[0]
        return self._affine(xhat, xhat)

    def _backward(self, g: torch.Tensor) -> torch.Tensor:
        dx = self._parameter_gradients(g)  # G ⊙ X̂, overwritten below
        # The row sums (Ĝ ⊙ X̂)1 and Ĝ1 as row means (which absorbs the
        # 1/n), of Ĝ ⊙ X̂ = (G ⊙ X̂) diag(γ) and then Ĝ = G diag(γ), each
        # formed in dx's memory in turn; dx keeps Ĝ.
        gx_mean = dx.mul_(self.gamma).mean(dim=-1, keepdim=True)
        g_mean = torch.mul(g, self.gamma, out=dx).mean(dim=-1, keepdim=True)
        dx -= g_mean  # Ĝ - Ĝ1 1ᵀ / n
        dx.addcmul_(self._xhat, gx_mean, value=-1)
        return dx.mul_(self._inv_std)


# -- copying from PyTorch and Keras (Sequential.copy_params) ---------------
# Each gives (our layout string, [(attribute, framework's name, values)])
# for a framework layer it knows, or None.
Entry = tuple[str, list[tuple[str, str, Any]]]


def _torch_entry(module: torch.nn.Module) -> Entry | None:
    """``nn.BatchNorm1d`` (weight, bias, running statistics; ``eps`` and
    ``momentum`` mean the same as ours) or ``nn.LayerNorm``."""
    if isinstance(module, torch.nn.BatchNorm1d):
        if (
            module.weight is None
            or module.running_mean is None
            or module.momentum is None
        ):
            raise ValueError(
                f"{module} must have affine=True, track_running_stats=True "
                "and a number as momentum to be copied into a "
                "tools.BatchNorm1d"
            )
        layout = _batchnorm_layout(
            module.num_features, module.eps, module.momentum
        )
        return layout, [
            ("gamma", "weight", module.weight.detach()),
            ("beta", "bias", module.bias.detach()),
            ("running_mean", "running_mean", module.running_mean),
            ("running_var", "running_var", module.running_var),
        ]
    if isinstance(module, torch.nn.LayerNorm):
        shape = module.normalized_shape
        if len(shape) != 1 or module.weight is None or module.bias is None:
            raise ValueError(
                f"{module} must normalise one dimension, with "
                "elementwise_affine=True and bias=True, to be copied into "
                "a tools.LayerNorm"
            )
        return _layernorm_layout(shape[0], module.eps), [
            ("gamma", "weight", module.weight.detach()),
            ("beta", "bias", module.bias.detach()),
        ]
    return None


def _keras_last_axis(axis: Any) -> bool:
    axes = axis if isinstance(axis, (list, tuple)) else [axis]
    return list(axes) in ([-1], [1])


def _keras_entry(layer: Any) -> Entry | None:
    """Keras's ``BatchNormalization`` (``momentum`` weighs the old value:
    ours is ``1 - momentum``; ``epsilon`` is our ``eps``; its
    ``moving_variance`` is copied into ``running_var`` as it is) or
    ``LayerNormalization``, over the last axis, with ``center`` and
    ``scale``."""
    import keras  # only reached when a Keras model was passed in

    name = f"the Keras layer {layer.name!r}"
    if isinstance(layer, keras.layers.BatchNormalization):
        if not (
            layer.built
            and layer.center
            and layer.scale
            and not layer.renorm
            and _keras_last_axis(layer.axis)
        ):
            raise ValueError(
                f"{name} must be built, normalise the last axis, and have "
                "center=True, scale=True and renorm=False to be copied into "
                "a tools.BatchNorm1d"
            )
        gamma = layer.gamma.numpy()
        n = gamma.shape[0]
        layout = _batchnorm_layout(n, layer.epsilon, 1 - layer.momentum)
        return layout, [
            ("gamma", "gamma", gamma),
            ("beta", "beta", layer.beta.numpy()),
            ("running_mean", "moving_mean", layer.moving_mean.numpy()),
            ("running_var", "moving_variance", layer.moving_variance.numpy()),
        ]
    if isinstance(layer, keras.layers.LayerNormalization):
        if not (
            layer.built
            and layer.center
            and layer.scale
            and not layer.rms_scaling
            and _keras_last_axis(layer.axis)
        ):
            raise ValueError(
                f"{name} must be built, normalise the last axis, and have "
                "center=True, scale=True and rms_scaling=False to be copied "
                "into a tools.LayerNorm"
            )
        gamma = layer.gamma.numpy()
        return _layernorm_layout(gamma.shape[0], layer.epsilon), [
            ("gamma", "gamma", gamma),
            ("beta", "beta", layer.beta.numpy()),
        ]
    return None
