"""Training-loop pieces shared by the scratch models and their framework references.

The scratch classifier and the PyTorch reference below walk the data in the same minibatches
and log the same numbers, so their printed histories can be compared line by line.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterator

import torch

from . import _validation as v

__all__ = ["EpochLog", "minibatches", "format_epoch", "print_epoch", "fit_torch"]


@dataclass
class EpochLog:
    """What one epoch of training leaves behind.

    ``train_ce`` is the CE on the whole training set after the epoch; ``batch_ce`` the mean of the
    minibatch losses during it (before each update, as Keras's history reports ``loss``);
    ``valid_ce``/``valid_acc`` are filled in when validation data is given.
    """

    epoch: int
    train_ce: float
    valid_ce: float | None = None
    valid_acc: float | None = None
    batch_ce: float | None = None


def minibatches(n_samples: int, batch_size: int) -> Iterator[slice]:
    """Consecutive slices of ``batch_size`` rows; the last one holds what is left.

    >>> [(s.start, s.stop) for s in minibatches(10, 4)]
    [(0, 4), (4, 8), (8, 10)]
    """
    for start in range(0, n_samples, batch_size):
        yield slice(start, min(start + batch_size, n_samples))


def format_epoch(log: EpochLog, epochs: int) -> str:
    """One line of a training log, losses rounded to 4 decimals so that it reads the same on any device.

    >>> format_epoch(EpochLog(3, 0.51234, 0.6, 0.75), 16)
    'epoch  3/16  train CE 0.5123  valid CE 0.6000  valid acc 0.7500'
    """
    width = len(str(epochs))
    line = f"epoch {log.epoch:>{width}}/{epochs}  train CE {log.train_ce:.4f}"
    if log.valid_ce is not None:
        line += f"  valid CE {log.valid_ce:.4f}  valid acc {log.valid_acc:.4f}"
    return line


def print_epoch(log: EpochLog, epochs: int) -> None:
    """Print :func:`format_epoch` of ``log``."""
    print(format_epoch(log, epochs))


def fit_torch(
    layer: torch.nn.Linear,
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
    """The reference: train ``layer`` with ``nn.CrossEntropyLoss`` and ``torch.optim.SGD``, PyTorch's way.

    Autograd computes every gradient here. Batches, order and logged figures are those of
    :meth:`tools.SoftmaxClassifier.fit`, so the two histories can be compared entry by entry.
    ``y_train``/``y_valid`` are one-hot (or probability) rows, which ``CrossEntropyLoss`` accepts.
    """
    if (x_valid is None) != (y_valid is None):
        raise ValueError("x_valid and y_valid must be given together, or both left out")
    pairs = [("x_train", x_train, "y_train", y_train)]
    if x_valid is not None:
        pairs.append(("x_valid", x_valid, "y_valid", y_valid))
    for x_name, x, y_name, y in pairs:
        for name, t in ((x_name, x), (y_name, y)):
            v.check_matrix(name, v.check_tensor(name, t))
            v.check_finite(name, t)
        v.check_same_rows(x_name, x, y_name, y)
    epochs = v.check_int("epochs", epochs, 0)
    lr = v.check_positive_float("lr", lr)
    batch_size = v.check_int("batch_size", batch_size, 1)

    loss_fn = torch.nn.CrossEntropyLoss()
    optimizer = torch.optim.SGD(layer.parameters(), lr=lr)
    history: list[EpochLog] = []
    for epoch in range(1, epochs + 1):
        batch_ce_sum = 0.0
        for batch in minibatches(x_train.shape[0], batch_size):
            optimizer.zero_grad()
            loss = loss_fn(layer(x_train[batch]), y_train[batch])
            loss.backward()
            optimizer.step()
            batch_ce_sum += loss.item() * (batch.stop - batch.start)
        with torch.no_grad():
            log = EpochLog(epoch=epoch, train_ce=float(loss_fn(layer(x_train), y_train)))
            log.batch_ce = batch_ce_sum / x_train.shape[0]
            if x_valid is not None and y_valid is not None:
                logits = layer(x_valid)
                log.valid_ce = float(loss_fn(logits, y_valid))
                log.valid_acc = float((logits.argmax(dim=1) == y_valid.argmax(dim=1)).double().mean())
        history.append(log)
        if verbose:
            print_epoch(log, epochs)
    return history
