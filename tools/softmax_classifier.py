"""A softmax (multinomial logistic) classifier written from scratch in PyTorch.

The model, for a batch ``X`` of ``m`` samples with ``n`` features and ``n1`` classes::

    Z     = X W + b                    (m, n1)  weighted sums (logits)
    Y_hat = softmax(Z), row by row     (m, n1)  class probabilities
    L     = -1/m sum_i sum_j Y_ij log Y_hat_ij  mean cross-entropy

and its gradient, derived by the chain rule in chapter 2::

    dL/dY_hat = -(Y / Y_hat) / m
    dL/dZ     = Y_hat * (dL/dY_hat - (dL/dY_hat * Y_hat) 1)   (the softmax's vector-Jacobian product)
              = (Y_hat - Y) / m                                 (once the one-hot rows sum to 1)
    dL/dW     = X^T dL/dZ,   dL/db = 1^T dL/dZ

Each line above is a function of :mod:`tools.functional` or a method below, under the name the
notebook uses. No autograd is used here: the tests compare every gradient with ``torch.autograd``.
"""

from __future__ import annotations

from typing import Any

import torch

from . import _validation as v
from .functional import cross_entropy, log_softmax, softmax
from .jacobian import DEFAULT_MAX_JACOBIAN_BYTES, ROUTES
from .training import EpochLog, minibatches, print_epoch

__all__ = ["SoftmaxClassifier"]


class SoftmaxClassifier:
    """A linear layer followed by a softmax, trained by minibatch gradient descent on cross-entropy.

    Parameters
    ----------
    n_features:
        ``n``, the number of input features (columns of ``x``).
    n_classes:
        ``n1``, the number of classes (columns of the one-hot targets).
    device, dtype:
        Where the parameters live and their floating-point type (default: CPU and
        ``torch.get_default_dtype()``). Inputs must match both.
    seed:
        Seeds the initial parameters. They are drawn on the CPU, so a seed gives the same start
        on every device. ``None`` draws from PyTorch's global generator.
    gradient:
        How :meth:`gradients` computes ``dL/dZ`` (see :mod:`tools.jacobian`): ``"closed-form"``
        (default), ``"block-jacobian"`` or ``"full-jacobian"``. All give the same numbers.
    max_jacobian_bytes:
        The full-Jacobian route refuses, with ``MemoryError``, a batch whose Jacobians need more.

    Attributes
    ----------
    w: ``(n_features, n_classes)`` weights.  b: ``(n_classes,)`` bias.

    >>> model = SoftmaxClassifier(2, 3, dtype=torch.float64, seed=0)
    >>> model.w.shape, model.b.shape
    (torch.Size([2, 3]), torch.Size([3]))
    >>> model.predict(torch.zeros(4, 2, dtype=torch.float64)).sum(dim=1)
    tensor([1., 1., 1., 1.], dtype=torch.float64)
    """

    def __init__(
        self,
        n_features: int,
        n_classes: int,
        *,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
        seed: int | None = None,
        gradient: str = "closed-form",
        max_jacobian_bytes: int = DEFAULT_MAX_JACOBIAN_BYTES,
    ) -> None:
        self.n_features = v.check_int("n_features", n_features, 1)
        if gradient not in ROUTES:
            raise ValueError(f"gradient must be one of {sorted(ROUTES)}, got {gradient!r}")
        self.gradient = gradient
        self.max_jacobian_bytes = v.check_int("max_jacobian_bytes", max_jacobian_bytes, 1)
        self.n_classes = v.check_int("n_classes", n_classes, 2)
        dtype = torch.get_default_dtype() if dtype is None else dtype
        if not isinstance(dtype, torch.dtype) or not dtype.is_floating_point:
            raise TypeError(f"dtype must be a floating-point torch.dtype such as torch.float64, got {dtype!r}")
        generator = None if seed is None else torch.Generator().manual_seed(v.check_int("seed", seed, 0))
        # The same uniform range as torch.nn.Linear: U(-1/sqrt(n), 1/sqrt(n)).
        bound = 1.0 / self.n_features**0.5
        w = (torch.rand(self.n_features, self.n_classes, generator=generator, dtype=torch.float64) * 2 - 1) * bound
        b = (torch.rand(self.n_classes, generator=generator, dtype=torch.float64) * 2 - 1) * bound
        self.w = w.to(device=device, dtype=dtype)
        self.b = b.to(device=device, dtype=dtype)

    @property
    def device(self) -> torch.device:
        """The device of the parameters (inputs must be on it)."""
        return self.w.device

    @property
    def dtype(self) -> torch.dtype:
        """The dtype of the parameters (inputs must have it)."""
        return self.w.dtype

    def __repr__(self) -> str:
        route = "" if self.gradient == "closed-form" else f", gradient={self.gradient!r}"
        return f"SoftmaxClassifier(n_features={self.n_features}, n_classes={self.n_classes}, dtype={self.dtype}{route})"

    # -- checks at the boundary -------------------------------------------------------------
    def _check_x(self, x: Any, name: str = "x") -> torch.Tensor:
        x = v.check_tensor(name, x)
        v.check_matrix(name, x, self.n_features, "features")
        v.check_like(name, x, self.device, self.dtype, "the model")
        v.check_finite(name, x)
        return x

    def _check_y(self, y: Any, name: str) -> torch.Tensor:
        y = v.check_tensor(name, y)
        v.check_matrix(name, y, self.n_classes, "columns, one per class")
        v.check_like(name, y, self.device, self.dtype, "the model")
        v.check_finite(name, y)
        v.check_probability_rows(name, y)
        return y

    def _check_pair(self, x: Any, y: Any, x_name: str, y_name: str) -> tuple[torch.Tensor, torch.Tensor]:
        x, y = self._check_x(x, x_name), self._check_y(y, y_name)
        v.check_same_rows(x_name, x, y_name, y)
        return x, y

    def _check_targets_and_predictions(self, y_true: Any, y_pred: Any) -> tuple[torch.Tensor, torch.Tensor]:
        y_true, y_pred = self._check_y(y_true, "y_true"), self._check_y(y_pred, "y_pred")
        v.check_same_rows("y_true", y_true, "y_pred", y_pred)
        return y_true, y_pred

    # -- the model ----------------------------------------------------------------------------
    def logits(self, x: torch.Tensor) -> torch.Tensor:
        """The weighted sums ``Z = X W + b`` of shape ``(m, n_classes)``.

        Raises ``ValueError`` if they overflow the dtype (finite but huge inputs or parameters),
        rather than letting an inf turn into NaN probabilities.
        """
        x = self._check_x(x)
        z = x @ self.w + self.b
        if not bool(torch.isfinite(z).all()):
            raise ValueError(
                f"the logits x @ w + b overflowed {self.dtype} (largest |x| is {float(x.abs().max()):.3g}, "
                f"largest |w| is {float(self.w.abs().max()):.3g}); scale the inputs or use a wider dtype"
            )
        return z

    def predict(self, x: torch.Tensor) -> torch.Tensor:
        """Class probabilities ``softmax(X W + b)``, one row per sample."""
        return softmax(self.logits(x))

    def cross_entropy_loss(self, y_true: torch.Tensor, y_pred: torch.Tensor) -> float:
        """Mean cross-entropy between targets and predicted probabilities (see :func:`cross_entropy`)."""
        y_true, y_pred = self._check_targets_and_predictions(y_true, y_pred)
        return float(cross_entropy(y_true, y_pred))

    def evaluate(self, x: torch.Tensor, y_true: torch.Tensor) -> float:
        """Mean cross-entropy of the model on ``(x, y_true)``, computed from the logits by log-softmax.

        Equal to ``cross_entropy_loss(y_true, predict(x))`` wherever no probability underflows,
        and still exact where one does (logits of order 1e4).
        """
        x, y_true = self._check_pair(x, y_true, "x", "y_true")
        return float(-(y_true * log_softmax(self.logits(x))).sum() / x.shape[0])

    def gradients(
        self, x: torch.Tensor, y_true: torch.Tensor, y_pred: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """``(dL/dW, dL/db) = (X^T dL/dZ, 1^T dL/dZ)``, with ``dL/dZ`` by the model's ``gradient`` route.

        The default route uses ``dL/dZ = (Y_hat - Y)/m``; :mod:`tools.jacobian` has the others.
        """
        x, y_true = self._check_pair(x, y_true, "x", "y_true")
        y_true, y_pred = self._check_targets_and_predictions(y_true, y_pred)
        if self.gradient == "full-jacobian":
            return ROUTES[self.gradient](x, y_true, y_pred, max_bytes=self.max_jacobian_bytes)
        return ROUTES[self.gradient](x, y_true, y_pred)

    def update(self, x: torch.Tensor, y_true: torch.Tensor, y_pred: torch.Tensor, lr: float) -> None:
        """One gradient-descent step in place: ``W -= lr dL/dW``, ``b -= lr dL/db``."""
        lr = v.check_positive_float("lr", lr)
        dw, db = self.gradients(x, y_true, y_pred)
        self.w -= lr * dw
        self.b -= lr * db

    def accuracy(self, y_true: torch.Tensor, y_pred: torch.Tensor) -> float:
        """Fraction of rows whose most probable class is the true class."""
        y_true, y_pred = self._check_targets_and_predictions(y_true, y_pred)
        return float((y_true.argmax(dim=1) == y_pred.argmax(dim=1)).double().mean())

    def fit(
        self,
        x_train: torch.Tensor,
        y_train: torch.Tensor,
        epochs: int,
        lr: float,
        batch_size: int,
        x_valid: torch.Tensor | None = None,
        y_valid: torch.Tensor | None = None,
        *,
        verbose: bool = True,
    ) -> list[EpochLog]:
        """Minibatch gradient descent, in order (no shuffling), for ``epochs`` passes over the data.

        After each epoch it records the training CE and, when validation data is given, the
        validation CE and accuracy; with ``verbose`` it prints one line per epoch. It also records
        ``batch_ce``, the mean of the minibatch losses seen during the epoch (each taken before
        its update, weighted by batch size), which is the "loss" Keras reports per epoch.
        Returns that history, one :class:`~tools.training.EpochLog` per epoch.
        """
        x_train, y_train = self._check_pair(x_train, y_train, "x_train", "y_train")
        if (x_valid is None) != (y_valid is None):
            raise ValueError("x_valid and y_valid must be given together, or both left out")
        if x_valid is not None:
            x_valid, y_valid = self._check_pair(x_valid, y_valid, "x_valid", "y_valid")
        epochs = v.check_int("epochs", epochs, 0)
        lr = v.check_positive_float("lr", lr)
        batch_size = v.check_int("batch_size", batch_size, 1)

        history: list[EpochLog] = []
        for epoch in range(1, epochs + 1):
            batch_ce_sum = 0.0
            for batch in minibatches(x_train.shape[0], batch_size):
                x, y = x_train[batch], y_train[batch]
                y_pred = self.predict(x)
                batch_ce_sum += self.cross_entropy_loss(y, y_pred) * x.shape[0]
                self.update(x, y, y_pred, lr)
            log = EpochLog(epoch=epoch, train_ce=self.evaluate(x_train, y_train))
            log.batch_ce = batch_ce_sum / x_train.shape[0]
            if x_valid is not None:
                log.valid_ce = self.evaluate(x_valid, y_valid)
                log.valid_acc = self.accuracy(y_valid, self.predict(x_valid))
            history.append(log)
            if verbose:
                print_epoch(log, epochs)
        return history

    def copy_params(self, layer: Any) -> None:
        """Copy weights and bias from a framework's layer into this model.

        Accepts a ``torch.nn.Linear(n_features, n_classes)``, a Keras ``Dense(n_classes)`` layer
        on ``n_features`` inputs, or a Keras model whose last layer is such a ``Dense``.
        ``nn.Linear`` stores its weight as ``(out, in)`` and computes ``x W^T + b``, so its weight
        is transposed; Keras's kernel is already ``(in, out)`` like our ``W``.
        """
        expected = (self.n_features, self.n_classes)
        if isinstance(layer, torch.nn.Linear):
            if (layer.in_features, layer.out_features) != expected or layer.bias is None:
                raise ValueError(
                    f"layer must be a torch.nn.Linear({self.n_features}, {self.n_classes}) with a bias, got "
                    f"nn.Linear({layer.in_features}, {layer.out_features}, bias={layer.bias is not None})"
                )
            w, b = layer.weight.detach().T, layer.bias.detach()
        elif type(layer).__module__.split(".")[0] in ("keras", "tf_keras", "tensorflow"):
            w, b = _keras_dense_params(layer, expected)
        else:
            raise TypeError(
                f"layer must be a torch.nn.Linear({self.n_features}, {self.n_classes}), a Keras Dense layer "
                f"or a Keras model ending in one, got {type(layer).__name__}"
            )
        self.w = torch.as_tensor(w).to(device=self.device, dtype=self.dtype).clone()
        self.b = torch.as_tensor(b).to(device=self.device, dtype=self.dtype).clone()


def _keras_dense_params(layer: Any, expected: tuple[int, int]) -> tuple[Any, Any]:
    """Kernel ``(in, out)`` and bias of a Keras ``Dense`` layer, or of the last layer of a Keras model."""
    import keras  # only reached when a Keras object was passed in

    name = type(layer).__name__
    if isinstance(layer, keras.Model):
        if not layer.layers:
            raise ValueError(f"the Keras model {layer.name!r} has no layers to copy from")
        layer = layer.layers[-1]
        name = f"a Keras model whose last layer is a {type(layer).__name__}"
    if not isinstance(layer, keras.layers.Dense):
        raise TypeError(f"layer must be a Keras Dense layer or a model ending in one, got {name}")
    if not layer.built or not layer.use_bias:
        raise ValueError(f"the Dense layer {layer.name!r} must be built (have weights) and use a bias")
    kernel, bias = layer.kernel.numpy(), layer.bias.numpy()
    if kernel.shape != expected:
        raise ValueError(
            f"the Dense layer's kernel must have shape {expected} (n_features, n_classes), got {kernel.shape}"
        )
    return kernel, bias
