"""Inverted dropout, a layer that behaves differently in training and in
evaluation (chapter 4).

In training, each entry of the input is kept with probability ``1 - p``
and zeroed with probability ``p`` (``p`` is the probability to *drop*, as
PyTorch's ``nn.Dropout(p)`` and Keras's ``Dropout(rate)``), and the kept
entries are scaled by ``1/(1 - p)``, so that the output's expectation
equals the input::

    Y = X ⊙ M / (1 - p),      M_ij = 1 with probability 1 - p, else 0
    E[Y_ij] = X_ij (1 - p) / (1 - p) = X_ij

In evaluation the layer is the identity: nothing is dropped and nothing
is scaled, which is why the training-time scaling is needed ("inverted"
dropout; CS231n's notes write ``p`` for the probability to *keep*).

The backward pass goes through the same mask::

    dL/dX = G ⊙ M / (1 - p)        (training),     G     (evaluation)
"""

from __future__ import annotations

import numbers
from typing import Any

import torch

from . import _validation as v
from .layers import _Layer

__all__ = ["Dropout"]


def _check_p(p: object) -> float:
    if isinstance(p, bool) or not isinstance(p, numbers.Real):
        raise TypeError(
            "p must be a number in [0, 1) (the probability to drop), "
            f"got {p!r} ({type(p).__name__})"
        )
    p = float(p)
    if not 0.0 <= p < 1.0:  # NaN fails both comparisons
        raise ValueError(
            "p must be a number in [0, 1) (the probability to drop an "
            f"entry; p = 1 would drop everything), got {p}"
        )
    return p


class Dropout(_Layer):
    """Inverted dropout, like ``torch.nn.Dropout(p)``.

    In training mode (after construction, or ``train()``) every
    ``forward`` draws a new boolean keep-mask ``mask`` of the input's
    shape, each entry ``True`` with probability ``1 - p``, and returns
    ``x * mask / (1 - p)``; ``backward`` sends ``G * mask / (1 - p)``
    back. In evaluation mode (``eval()``) both are the identity and
    ``mask`` is ``None``.

    The masks come from the layer's own generator, seeded with ``seed``;
    with ``seed=None`` its seed is drawn from PyTorch's global generator
    when the layer is made, so ``torch.manual_seed`` makes it
    reproducible too (``seed`` holds the seed used). They are drawn on
    the CPU and moved to the input's device: one seed gives the same
    masks on every device.

    >>> drop = Dropout(0.5, seed=0)
    >>> x = torch.ones(2, 4, dtype=torch.float64)
    >>> y = drop.forward(x)
    >>> torch.equal(y, x * drop.mask / 0.5)
    True
    >>> torch.equal(drop.eval().forward(x), x), drop.mask
    (True, None)
    """

    def __init__(self, p: float = 0.5, *, seed: int | None = None) -> None:
        super().__init__()
        self.p = _check_p(p)
        if seed is None:  # drawn from PyTorch's global generator
            seed = int(torch.randint(2**62, ()))
        self.seed = v.check_seed(seed)  # the seed of the masks
        self._generator = torch.Generator().manual_seed(self.seed)
        self.mask: torch.Tensor | None = None

    def __repr__(self) -> str:
        return f"Dropout(p={self.p})"

    def _draw_mask(self, x: torch.Tensor) -> torch.Tensor:
        """A boolean keep-mask of ``x``'s shape, on ``x``'s device."""
        u = torch.rand(x.shape, generator=self._generator, dtype=torch.float64)
        # u is uniform on [0, 1): u >= p with probability 1 - p
        return (u >= self.p).to(x.device)

    def _check_input(self, x: Any, name: str) -> torch.Tensor:
        x = super()._check_input(x, name)
        if x.dim() == 0:
            raise ValueError(
                f"{name} must have at least one dimension, got a 0-d tensor"
            )
        return x

    def _forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training:
            self.mask = None
            self._input, self._out_shape = x, tuple(x.shape)
            return x
        mask = self._draw_mask(x)
        self.mask, self._input, self._out_shape = mask, x, tuple(x.shape)
        return x.mul(mask).div_(1.0 - self.p)

    def _apply(self, x: torch.Tensor) -> torch.Tensor:
        """The output in the current mode, nothing kept (in training the
        generator still moves on by one mask)."""
        if not self.training:
            return x
        return x.mul(self._draw_mask(x)).div_(1.0 - self.p)

    def _forget(self) -> None:
        super()._forget()
        self.mask = None

    def _backward(self, g: torch.Tensor) -> torch.Tensor:
        if self.mask is None:  # the last forward ran in evaluation
            return g
        return g.mul(self.mask).div_(1.0 - self.p)


# -- copying from PyTorch and Keras (Sequential.copy_params) ---------------
def _torch_entry(module: torch.nn.Module) -> tuple[str, list] | None:
    """``nn.Dropout(p)``: our layout string (no values to copy)."""
    if isinstance(module, torch.nn.Dropout):
        return f"Dropout(p={float(module.p)})", []
    return None


def _keras_entry(layer: Any) -> tuple[str, list] | None:
    """Keras's ``Dropout(rate)``: ``rate`` is our ``p`` (both the
    probability to drop, both inverted); no ``noise_shape``."""
    import keras  # only reached when a Keras model was passed in

    if not isinstance(layer, keras.layers.Dropout):
        return None
    if layer.noise_shape is not None:
        raise ValueError(
            f"the Keras layer {layer.name!r} must have noise_shape=None "
            "(one mask entry per input entry) to be copied into a "
            "tools.Dropout"
        )
    return f"Dropout(p={float(layer.rate)})", []
