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
from .functional import cross_entropy, log_softmax, logits_grad, softmax
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
    ) -> None:
        self.n_features = v.check_int("n_features", n_features, 1)
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
        return f"SoftmaxClassifier(n_features={self.n_features}, n_classes={self.n_classes}, dtype={self.dtype})"

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
        """The weighted sums ``Z = X W + b`` of shape ``(m, n_classes)``."""
        x = self._check_x(x)
        return x @ self.w + self.b

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
        return float(-(y_true * log_softmax(x @ self.w + self.b)).sum() / x.shape[0])

    def gradients(
        self, x: torch.Tensor, y_true: torch.Tensor, y_pred: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """``(dL/dW, dL/db) = (X^T dL/dZ, 1^T dL/dZ)`` with ``dL/dZ = (Y_hat - Y)/m``."""
        x, y_true = self._check_pair(x, y_true, "x", "y_true")
        y_true, y_pred = self._check_targets_and_predictions(y_true, y_pred)
        dz = logits_grad(y_true, y_pred)
        return x.T @ dz, dz.sum(dim=0)

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
        validation CE and accuracy; with ``verbose`` it prints one line per epoch.
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
            for batch in minibatches(x_train.shape[0], batch_size):
                x, y = x_train[batch], y_train[batch]
                self.update(x, y, self.predict(x), lr)
            log = EpochLog(epoch=epoch, train_ce=self.evaluate(x_train, y_train))
            if x_valid is not None:
                log.valid_ce = self.evaluate(x_valid, y_valid)
                log.valid_acc = self.accuracy(y_valid, self.predict(x_valid))
            history.append(log)
            if verbose:
                print_epoch(log, epochs)
        return history

    def copy_params(self, layer: torch.nn.Linear) -> None:
        """Copy the weights and bias of a ``torch.nn.Linear(n_features, n_classes)`` into this model.

        ``nn.Linear`` stores its weight as ``(out, in)`` and computes ``x W^T + b``; this model
        stores ``W`` as ``(in, out)``, so the weight is transposed on the way in.
        """
        if not isinstance(layer, torch.nn.Linear):
            raise TypeError(
                f"layer must be a torch.nn.Linear({self.n_features}, {self.n_classes}), got {type(layer).__name__}"
            )
        if (layer.in_features, layer.out_features) != (self.n_features, self.n_classes) or layer.bias is None:
            raise ValueError(
                f"layer must be a torch.nn.Linear({self.n_features}, {self.n_classes}) with a bias, got "
                f"nn.Linear({layer.in_features}, {layer.out_features}, bias={layer.bias is not None})"
            )
        with torch.no_grad():
            self.w = layer.weight.detach().T.to(device=self.device, dtype=self.dtype).clone()
            self.b = layer.bias.detach().to(device=self.device, dtype=self.dtype).clone()
