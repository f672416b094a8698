"""A softmax (multinomial logistic) classifier written from scratch in PyTorch.

The model, for a batch ``X`` of ``m`` samples with ``n`` features and ``n1``
classes::

    Z     = X W + b                    (m, n1)  weighted sums (logits)
    Y_hat = softmax(Z), row by row     (m, n1)  class probabilities
    L     = -1/m sum_i sum_j Y_ij log Y_hat_ij  mean cross-entropy

and its gradient, derived by the chain rule in chapter 2::

    dL/dY_hat = -(Y / Y_hat) / m             (G for short)
    dL/dZ     = Y_hat * (G - (G * Y_hat) 1)  (vector-Jacobian product)
              = (Y_hat - Y) / m              (once the rows of Y sum to 1)
    dL/dW     = X^T dL/dZ,   dL/db = 1^T dL/dZ

Each line above is a function of :mod:`tools.functional` or a method below,
under the name the notebook uses. No autograd is used here: the tests compare
every gradient with ``torch.autograd``.
"""

from __future__ import annotations

from typing import Any

import torch

from . import _validation as v
from .functional import (
    _logits_grad_,
    _log_softmax_,
    _softmax_,
    cross_entropy,
    logits_grad,
    softmax,
)
from .jacobian import DEFAULT_MAX_JACOBIAN_BYTES, ROUTES
from .linear_models import _LinearModel

__all__ = ["SoftmaxClassifier"]


class SoftmaxClassifier(_LinearModel):
    """A linear layer followed by a softmax, trained on cross-entropy.

    Parameters
    ----------
    n_features:
        ``n``, the number of input features (columns of ``x``).
    n_classes:
        ``n1``, the number of classes (columns of the one-hot targets).
    device, dtype:
        Where the parameters live and their floating-point type
        (``torch.float32`` or ``torch.float64``; default: CPU and
        ``torch.get_default_dtype()``). Inputs must match both.
    seed:
        Seeds the initial parameters. They are drawn on the CPU, so a seed
        gives the same start on every device. ``None`` draws from
        PyTorch's global generator.
    gradient:
        How :meth:`gradients` computes ``dL/dZ`` (see
        :mod:`tools.jacobian`): ``"closed-form"`` (default),
        ``"block-jacobian"`` or ``"full-jacobian"``. All give the same
        numbers.
    max_jacobian_bytes:
        The full-Jacobian route refuses, with ``MemoryError``, a batch
        whose Jacobians need more.

    Attributes
    ----------
    w: ``(n_features, n_classes)`` weights.  b: ``(n_classes,)`` bias.

    >>> model = SoftmaxClassifier(2, 3, dtype=torch.float64, seed=0)
    >>> model.w.shape, model.b.shape
    (torch.Size([2, 3]), torch.Size([3]))
    >>> model.predict(torch.zeros(4, 2, dtype=torch.float64)).sum(dim=1)
    tensor([1., 1., 1., 1.], dtype=torch.float64)
    """

    loss_name = "CE"
    _outputs_are = "columns, one per class"
    _outputs_arg = "n_classes"
    _affine_is = "logits"

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
        v.check_int("n_features", n_features, 1)
        if gradient not in ROUTES:
            raise ValueError(
                f"gradient must be one of {sorted(ROUTES)}, got {gradient!r}"
            )
        self.gradient = gradient
        self.max_jacobian_bytes = v.check_int(
            "max_jacobian_bytes", max_jacobian_bytes, 1
        )
        self.n_classes = v.check_int("n_classes", n_classes, 2)
        super().__init__(
            n_features, self.n_classes, device=device, dtype=dtype, seed=seed
        )

    def __repr__(self) -> str:
        route = ""
        if self.gradient != "closed-form":
            route = f", gradient={self.gradient!r}"
        return (
            f"SoftmaxClassifier(n_features={self.n_features}, "
            f"n_classes={self.n_classes}, dtype={self.dtype}{route})"
        )

    def _check_y(self, y: Any, name: str) -> torch.Tensor:
        if isinstance(y, torch.Tensor) and y.dim() == 1:
            raise ValueError(
                f"{name} must be one-hot rows of shape (m, {self.n_classes})"
                f", got shape {tuple(y.shape)}; from class indices make "
                f"them with torch.nn.functional.one_hot({name}, "
                f"{self.n_classes}).to({self.dtype})"
            )
        y = super()._check_y(y, name)
        v.check_probability_rows(name, y)
        return y

    # -- the model -----------------------------------------------------
    def logits(self, x: torch.Tensor) -> torch.Tensor:
        """The weighted sums ``Z = X W + b`` of shape ``(m, n_classes)``.

        Raises ``ValueError`` if they overflow the dtype (finite but huge
        inputs or parameters), rather than letting an inf turn into NaN
        probabilities.
        """
        # contiguous, as a learner expects of a fresh tensor (the affine
        # map is computed column-major, see _affine)
        return self._checked_affine(self._check_x(x), "logits").contiguous()

    def predict(self, x: torch.Tensor) -> torch.Tensor:
        """Class probabilities ``softmax(X W + b)``, one row per sample."""
        return softmax(self.logits(x))

    def cross_entropy_loss(
        self, y_true: torch.Tensor, y_pred: torch.Tensor
    ) -> float:
        """Mean cross-entropy of targets and predicted probabilities."""
        y_true, y_pred = self._check_targets(y_true, y_pred)
        return float(cross_entropy(y_true, y_pred))

    def evaluate(self, x: torch.Tensor, y_true: torch.Tensor) -> float:
        """Mean cross-entropy on ``(x, y_true)``, from the logits.

        Computed by log-softmax: equal to ``cross_entropy_loss(y_true,
        predict(x))`` wherever no probability underflows, and still exact
        where one does (logits of order 1e4).
        """
        x, y_true = self._check_data(x, y_true, "x", "y_true")
        return self._ce_of_logits(self._checked_affine(x, "logits"), y_true)

    @staticmethod
    def _ce_of_logits(z: torch.Tensor, y_true: torch.Tensor) -> float:
        """``-1/m sum_ij Y_ij log softmax(Z)_ij``, computed in place in the
        fresh logits ``z``, which are not needed afterwards."""
        return float(-_log_softmax_(z).mul_(y_true).sum() / z.shape[0])

    def gradients(
        self, x: torch.Tensor, y_true: torch.Tensor, y_pred: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """``(dL/dW, dL/db) = (X^T dL/dZ, 1^T dL/dZ)``.

        ``dL/dZ`` comes by the model's ``gradient`` route; the default one
        uses ``dL/dZ = (Y_hat - Y)/m``, :mod:`tools.jacobian` the others.
        """
        x, y_true = self._check_data(x, y_true, "x", "y_true")
        y_true, y_pred = self._check_targets(y_true, y_pred)
        return self._gradients(x, y_true, y_pred)

    def _gradients(
        self, x: torch.Tensor, y_true: torch.Tensor, y_pred: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        if self.gradient == "closed-form":
            dz = logits_grad(y_true, y_pred)
            return x.T @ dz, dz.sum(dim=0)
        route = ROUTES[self.gradient]
        if self.gradient == "full-jacobian":
            return route(x, y_true, y_pred, max_bytes=self.max_jacobian_bytes)
        return route(x, y_true, y_pred)

    def accuracy(self, y_true: torch.Tensor, y_pred: torch.Tensor) -> float:
        """Fraction of rows whose most probable class is the true class."""
        y_true, y_pred = self._check_targets(y_true, y_pred)
        return _accuracy(y_true, y_pred)

    # -- what the training loop calls (inputs already checked) ---------
    def _step(
        self,
        x: torch.Tensor,
        y: torch.Tensor,
        lr: float | None,
        optimizer: Any = None,
    ) -> torch.Tensor:
        y_pred = _softmax_(self._affine(x))  # in place in the fresh logits
        loss = cross_entropy(y, y_pred)
        if optimizer is not None:  # a tools optimiser over [w, b]
            optimizer.step(list(self._gradients(x, y, y_pred)))
            return loss
        if self.gradient != "closed-form":
            dw, db = self._gradients(x, y, y_pred)
            self.w.add_(dw, alpha=-lr)
            self.b.add_(db, alpha=-lr)
            return loss
        dz = _logits_grad_(y, y_pred)  # in place: Y_hat is not needed after
        # dL/dW = X^T dZ, computed as (dZ^T X)^T: the same sums, but MKL
        # runs this layout 2-3x faster for a tall X; the transpose is a view.
        self.w.add_(torch.mm(dz.T, x).T, alpha=-lr)
        self.b.add_(dz.sum(dim=0), alpha=-lr)
        return loss

    def _scores(
        self, x: torch.Tensor, y: torch.Tensor, *, accuracy: bool = True
    ) -> tuple[float, float | None]:
        z = self._affine(x)
        acc = _accuracy(y, z) if accuracy else None
        return self._ce_of_logits(z, y), acc


def _accuracy(y_true: torch.Tensor, scores: torch.Tensor) -> float:
    """Fraction of rows where ``scores`` is largest at the true class."""
    hits = y_true.argmax(dim=1) == scores.argmax(dim=1)
    return float(hits.double().mean())
