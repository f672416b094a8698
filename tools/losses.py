"""Loss functions as forward/backward pairs, for the networks of chapter 3.

A loss takes the network's ``output`` (``m`` rows) and the ``target`` of
the same shape. ``forward`` returns the loss as a 0-d tensor and keeps
what ``backward`` needs; ``backward()`` returns ``dL/d(output)``, the
gradient that starts backpropagation::

    MSELoss            L = 1/(m c) sum_ij (O_ij - Y_ij)^2
                       dL/dO = 2 (O - Y) / (m c)
    CrossEntropyLoss   L = -1/m sum_ij Y_ij log softmax(O)_ij   (O: logits)
                       dL/dO = (softmax(O) - Y) / m

The formulas are those of :mod:`tools.functional`; these classes add the
checks and the memory between the two passes.
"""

from __future__ import annotations

from typing import Any

import torch

from . import _validation as v
from .functional import (
    cross_entropy_with_logits,
    logits_grad,
    mse,
    mse_grad,
    softmax,
)

__all__ = ["MSELoss", "CrossEntropyLoss"]


class _Loss:
    """What both losses share: the checks, and the memory of forward."""

    name = ""  # how the training log names the loss

    def __init__(self) -> None:
        self._output: torch.Tensor | None = None
        self._target: torch.Tensor | None = None

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"

    def _check(
        self, output: Any, target: Any
    ) -> tuple[torch.Tensor, torch.Tensor]:
        output = v.check_tensor("output", output)
        target = v.check_tensor("target", target)
        v.check_matrix("output", output)
        v.check_real_float("output", output)
        v.check_has_columns("output", output)
        v.check_real_float("target", target)
        if target.shape != output.shape:
            raise ValueError(
                f"target must have the shape of output "
                f"{tuple(output.shape)}, got shape {tuple(target.shape)}"
            )
        v.check_like("target", target, output.device, output.dtype, "output")
        for name, t in (("output", output), ("target", target)):
            v.check_no_grad(name, t)
            v.check_finite(name, t)
        return output, target

    def forward(self, output: Any, target: Any) -> torch.Tensor:
        """The loss of ``output`` against ``target``, a 0-d tensor.

        ``ValueError`` if it overflows the dtype (finite but huge inputs);
        the loss then keeps what it kept before.
        """
        output, target = self._check(output, target)
        kept = self._output, self._target
        loss = self._forward(output, target)
        if not bool(torch.isfinite(loss).all()):
            self._output, self._target = kept
            v.check_not_overflowed(
                f"the {self.name} loss of output against target",
                loss,
                self._overflow_hint(output, target),
            )
        return loss

    __call__ = forward

    def backward(self) -> torch.Tensor:
        """``dL/d(output)`` at the last ``forward``, shape of ``output``."""
        if self._output is None or self._target is None:
            raise RuntimeError(
                f"{type(self).__name__}.backward() was called before "
                "forward(output, target): there is no loss to "
                "differentiate yet"
            )
        grad = self._backward()
        v.check_not_overflowed(
            f"dL/d(output) of the {self.name} loss",
            grad,
            self._overflow_hint(self._output, self._target),
        )
        return grad

    def _overflow_hint(self, output: torch.Tensor, target: Any) -> str:
        """What made the loss or its gradient too large, for messages."""
        return (
            f"largest |output| is {v.largest(output)}, largest |target| "
            f"is {v.largest(target)}; scale them down"
        )

    # -- unchecked, for the training loop ------------------------------
    def _forward(
        self, output: torch.Tensor, target: torch.Tensor
    ) -> torch.Tensor:
        """The loss, keeping what ``_backward`` needs."""
        self._output, self._target = output, target
        return self._value(output, target)

    def _value(
        self, output: torch.Tensor, target: torch.Tensor
    ) -> torch.Tensor:
        """The loss alone, with nothing kept (for evaluation)."""
        raise NotImplementedError

    def _backward(self) -> torch.Tensor:
        raise NotImplementedError


class MSELoss(_Loss):
    """Mean squared error over all ``m c`` entries, as ``nn.MSELoss()``.

    >>> loss = MSELoss()
    >>> y = torch.tensor([[1.0], [2.0]], dtype=torch.float64)
    >>> float(loss.forward(torch.tensor([[2.0], [4.0]]).double(), y))
    2.5
    >>> loss.backward()
    tensor([[1.],
            [2.]], dtype=torch.float64)
    """

    name = "MSE"

    def _value(
        self, output: torch.Tensor, target: torch.Tensor
    ) -> torch.Tensor:
        return mse(target, output)

    def _backward(self) -> torch.Tensor:
        return mse_grad(self._target, self._output)


class CrossEntropyLoss(_Loss):
    """Softmax and mean cross-entropy in one, from logits, as
    ``nn.CrossEntropyLoss()`` with probability targets.

    ``output`` holds logits (any real numbers, also of order ``1e4``);
    ``target`` one-hot or probability rows. Fusing the softmax into the
    loss gives the short, stable gradient ``(softmax(O) - Y)/m`` of
    chapter 2, and a loss computed by log-softmax that stays exact where
    a probability underflows.

    >>> loss = CrossEntropyLoss()
    >>> z = torch.tensor([[0.0, 0.0]], dtype=torch.float64)
    >>> round(float(loss.forward(z, torch.tensor([[1.0, 0.0]]).double())), 4)
    0.6931
    >>> loss.backward()
    tensor([[-0.5000,  0.5000]], dtype=torch.float64)
    """

    name = "CE"

    def _check(
        self, output: Any, target: Any
    ) -> tuple[torch.Tensor, torch.Tensor]:
        output, target = super()._check(output, target)
        v.check_probability_rows("target", target)
        return output, target

    def _value(
        self, output: torch.Tensor, target: torch.Tensor
    ) -> torch.Tensor:
        return cross_entropy_with_logits(target, output)

    def _overflow_hint(self, output: torch.Tensor, target: Any) -> str:
        half = output.amax(dim=1) / 2 - output.amin(dim=1) / 2
        return (
            "the logits (output) of a row span 2 x "
            f"{float(half.max()):.3g} (largest minus smallest), and "
            "log-softmax subtracts them; scale them down"
        )

    def _backward(self) -> torch.Tensor:
        return logits_grad(self._target, softmax(self._output))
