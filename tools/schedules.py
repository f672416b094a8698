"""Learning-rate schedules that set an optimiser's ``lr`` once per epoch.

``StepLR`` and ``CosineAnnealingLR`` compute the rate the way
``torch.optim.lr_scheduler`` does, recursively from the rate the optimiser
holds now, so that their numbers are PyTorch's to the last bit (the closed
forms in the docstrings agree to rounding). Construction leaves the rate as
it is; each :meth:`step` (call it after the epoch's optimiser steps)
moves to the next epoch.
"""

from __future__ import annotations

import math
from typing import Any

from . import _validation as v
from .optim import _in_range

__all__ = ["LRScheduler", "StepLR", "CosineAnnealingLR"]


class LRScheduler:
    """What the schedules share: the optimiser, the rate it started with
    (``base_lr``), the epoch count ``last_epoch`` and ``state_dict``."""

    _hyper: tuple[str, ...] = ()

    def __init__(self, optimizer: Any) -> None:
        if not hasattr(optimizer, "lr"):
            raise TypeError(
                "optimizer must be one of the tools optimisers (an object "
                f"with an lr attribute), got {type(optimizer).__name__}"
            )
        self.optimizer = optimizer
        self.base_lr = float(optimizer.lr)
        self.last_epoch = 0

    def get_last_lr(self) -> float:
        """The rate the last :meth:`step` (or the construction) set."""
        return float(self.optimizer.lr)

    def _next_lr(self, lr: float, epoch: int) -> float:
        raise NotImplementedError

    def step(self) -> None:
        """Move to the next epoch and set the optimiser's ``lr``."""
        lr = self._next_lr(float(self.optimizer.lr), self.last_epoch + 1)
        self.optimizer.lr = lr  # checked by the optimiser before it changes
        self.last_epoch += 1

    def state_dict(self) -> dict[str, Any]:
        """The schedule's numbers (not the optimiser's)."""
        d = {"base_lr": self.base_lr, "last_epoch": self.last_epoch}
        d.update((k, getattr(self, k)) for k in self._hyper)
        return d

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Put back what :meth:`state_dict` returned (checked first)."""
        keys = {"base_lr", "last_epoch", *self._hyper}
        if not isinstance(state_dict, dict):
            raise TypeError(
                "state_dict must be a dict from state_dict(), got "
                f"{type(state_dict).__name__}"
            )
        if set(state_dict) != keys:
            raise ValueError(
                f"state_dict must be a dict with the keys {sorted(keys)}, "
                f"got {sorted(state_dict)}"
            )
        base_lr = _in_range("state_dict['base_lr']", state_dict["base_lr"], 0)
        epoch = v.check_int(
            "state_dict['last_epoch']", state_dict["last_epoch"], 0
        )
        trial = dict(self.__dict__)
        for k in self._hyper:
            setattr(self, k, state_dict[k])
        try:
            self._check_hyper()
        except Exception:
            self.__dict__.update(trial)
            raise
        self.base_lr, self.last_epoch = base_lr, epoch

    def _check_hyper(self) -> None:
        """Raise if a setting is out of range (subclasses)."""


class StepLR(LRScheduler):
    """Multiply the rate by ``gamma`` every ``step_size`` epochs: after
    epoch ``e`` it is ``base_lr * gamma ** (e // step_size)``, computed
    as PyTorch does, by one multiplication at each multiple of
    ``step_size``."""

    _hyper = ("step_size", "gamma")

    def __init__(
        self, optimizer: Any, step_size: int, gamma: float = 0.1
    ) -> None:
        super().__init__(optimizer)
        self.step_size = step_size
        self.gamma = gamma
        self._check_hyper()

    def _check_hyper(self) -> None:
        v.check_int("step_size", self.step_size, 1)
        _in_range("gamma", self.gamma, 0.0, low_open=True)

    def _next_lr(self, lr: float, epoch: int) -> float:
        if epoch % self.step_size == 0:
            return lr * self.gamma
        return lr


class CosineAnnealingLR(LRScheduler):
    """Half a cosine from ``base_lr`` down to ``eta_min`` over ``T_max``
    epochs: ``eta_min + (base_lr - eta_min) (1 + cos(pi e / T_max)) / 2``
    after epoch ``e``. As in PyTorch the rate is updated from the current
    one by the ratio of consecutive cosines (and keeps going as a cosine
    after ``T_max``, climbing back towards ``base_lr``)."""

    _hyper = ("T_max", "eta_min")

    def __init__(
        self, optimizer: Any, T_max: int, eta_min: float = 0.0
    ) -> None:
        super().__init__(optimizer)
        self.T_max = T_max
        self.eta_min = eta_min
        self._check_hyper()

    def _check_hyper(self) -> None:
        v.check_int("T_max", self.T_max, 1)
        _in_range("eta_min", self.eta_min, 0.0)

    def _next_lr(self, lr: float, epoch: int) -> float:
        t_max, low = self.T_max, self.eta_min
        if (epoch - 1 - t_max) % (2 * t_max) == 0:
            # the bottom of the cosine: the ratio below would divide by 0
            rise = (self.base_lr - low) * (1 - math.cos(math.pi / t_max))
            return lr + rise / 2
        ratio = (1 + math.cos(math.pi * epoch / t_max)) / (
            1 + math.cos(math.pi * (epoch - 1) / t_max)
        )
        return ratio * (lr - low) + low
