"""The one training loop of the course, and PyTorch's reference loop.

Every scratch model (linear regression, the softmax classifier, the MLP)
trains through :func:`training_loop`; :func:`fit_torch` trains a
``torch.nn.Module`` the usual PyTorch way. Both walk the data in the same
minibatches and log the same numbers, so their histories can be compared
line by line.
"""

from __future__ import annotations

import copy
import math
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Callable, Iterator, Protocol

import torch

from . import _validation as v
from .optim import NonFiniteGradient

__all__ = [
    "EpochLog",
    "Trainable",
    "minibatches",
    "format_epoch",
    "print_epoch",
    "training_loop",
    "fit_torch",
]


@dataclass
class EpochLog:
    """What one epoch of training leaves behind.

    ``train_loss`` is the loss on the whole training set after the epoch;
    ``batch_loss`` the mean of the minibatch losses during it, each taken
    before its update and weighted by its batch size (what Keras's history
    reports as ``loss`` when there is no penalty term);
    ``valid_loss``/``valid_acc`` are filled in when validation data is given
    (accuracy for classifiers only). ``loss`` names the loss: ``"CE"`` or
    ``"MSE"``. ``train_ce``, ``valid_ce`` and ``batch_ce`` read the same
    numbers under chapter 2's names.
    """

    epoch: int
    train_loss: float
    valid_loss: float | None = None
    valid_acc: float | None = None
    batch_loss: float | None = None
    loss: str = "CE"

    @property
    def train_ce(self) -> float:
        """``train_loss``, under chapter 2's name."""
        return self.train_loss

    @property
    def valid_ce(self) -> float | None:
        """``valid_loss``, under chapter 2's name."""
        return self.valid_loss

    @property
    def batch_ce(self) -> float | None:
        """``batch_loss``, under chapter 2's name."""
        return self.batch_loss


def minibatches(n_samples: int, batch_size: int) -> Iterator[slice]:
    """Consecutive slices of ``batch_size`` rows; the last holds what is left.

    >>> [(s.start, s.stop) for s in minibatches(10, 4)]
    [(0, 4), (4, 8), (8, 10)]
    """
    for start in range(0, n_samples, batch_size):
        yield slice(start, min(start + batch_size, n_samples))


def format_epoch(log: EpochLog, epochs: int) -> str:
    """One line of a training log, losses rounded to 4 decimals.

    >>> format_epoch(EpochLog(3, 0.51234, 0.6, 0.75), 16)
    'epoch  3/16  train CE 0.5123  valid CE 0.6000  valid acc 0.7500'
    >>> format_epoch(EpochLog(1, 2.5, 3.0, loss="MSE"), 10)
    'epoch  1/10  train MSE 2.5000  valid MSE 3.0000'
    """
    width = len(str(epochs))
    name = log.loss
    line = f"epoch {log.epoch:>{width}}/{epochs}"
    line += f"  train {name} {log.train_loss:.4f}"
    if log.valid_loss is not None:
        line += f"  valid {name} {log.valid_loss:.4f}"
    if log.valid_acc is not None:
        line += f"  valid acc {log.valid_acc:.4f}"
    return line


def print_epoch(log: EpochLog, epochs: int) -> None:
    """Print :func:`format_epoch` of ``log``."""
    print(format_epoch(log, epochs))


class Trainable(Protocol):
    """What :func:`training_loop` asks of a scratch model.

    The methods with a leading underscore skip input checks: the loop
    checks the data once, where it comes in, and then calls them on
    slices of data already known to be good.
    """

    loss_name: str

    def parameters(self) -> list[torch.Tensor]:
        """The tensors that training changes, updated in place."""
        ...

    def _check_data(
        self, x: object, y: object, x_name: str, y_name: str
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Inputs and targets, checked, or an error naming the argument."""
        ...

    def _step(
        self, x: torch.Tensor, y: torch.Tensor, lr: float, **optimizer: Any
    ) -> torch.Tensor:
        """One gradient-descent step; returns the batch loss before it.

        With ``optimizer=opt`` (given only when ``fit`` has an optimizer)
        the step is ``opt.step(gradients)``, the gradients in the order of
        ``parameters()``, and ``lr`` is ``None``."""
        ...

    def _scores(
        self, x: torch.Tensor, y: torch.Tensor, *, accuracy: bool = True
    ) -> tuple[float, float | None]:
        """The loss on ``(x, y)``, and the accuracy (``None`` if none, or
        if ``accuracy`` is false: the training set's is never logged)."""
        ...

    def _explain_divergence(self, x: torch.Tensor) -> None:
        """Raise a model-specific error if ``x`` overflows the model."""
        ...


def _check_schedule(
    epochs: object, lr: object, batch_size: object, optimizer: object = None
) -> tuple[int, float | None, int]:
    if optimizer is not None:
        if lr is not None:
            raise ValueError(
                "lr must be None when an optimizer is given (the "
                f"optimizer's rate, optimizer.lr, is used), got lr={lr!r}"
            )
    else:
        lr = v.check_positive_float("lr", lr)
    return (
        v.check_int("epochs", epochs, 0),
        lr,
        v.check_int("batch_size", batch_size, 1),
    )


def _check_optimizer(
    params: list[torch.Tensor], optimizer: object, scheduler: object
) -> None:
    """A tools optimiser over exactly ``params`` (same tensors, same
    order), and a schedule that drives that optimiser."""
    if optimizer is None:
        if scheduler is not None:
            raise ValueError(
                "scheduler needs an optimizer to drive: pass "
                "optimizer=tools.SGD(model.parameters(), lr=...) with it"
            )
        return
    if isinstance(optimizer, torch.optim.Optimizer) or not all(
        hasattr(optimizer, k) for k in ("params", "step", "state_dict")
    ):
        raise TypeError(
            "optimizer must be a tools optimiser (tools.SGD, tools.Adam, "
            f"...), got {type(optimizer).__name__}"
            + (
                "; train a torch.nn.Module with tools.fit_torch"
                if isinstance(optimizer, torch.optim.Optimizer)
                else ""
            )
        )
    mine = list(optimizer.params)
    if len(mine) != len(params) or any(
        a is not b for a, b in zip(mine, params)
    ):
        raise ValueError(
            "optimizer must hold this model's parameters, in the order "
            "of model.parameters(); create it with, for example, "
            "tools.Adam(model.parameters())"
        )
    if scheduler is not None and getattr(scheduler, "optimizer", None) is not (
        optimizer
    ):
        raise ValueError(
            "scheduler must drive the optimizer passed with it (create it "
            "as tools.StepLR(optimizer, ...))"
        )


def _check_valid_pair(x_valid: object, y_valid: object) -> None:
    if (x_valid is None) != (y_valid is None):
        raise ValueError(
            "x_valid and y_valid must be given together, or both left out"
        )


_TRAINABLE = (
    "loss_name",
    "parameters",
    "_check_data",
    "_step",
    "_scores",
    "_explain_divergence",
)


def _check_trainable(model: object) -> None:
    """``TypeError`` saying what :func:`training_loop` accepts, and what to
    call instead, unless ``model`` has what :class:`Trainable` lists."""
    if all(hasattr(model, name) for name in _TRAINABLE):
        return
    kind = type(model).__name__
    if isinstance(model, torch.nn.Module):
        hint = "; train a torch.nn.Module with tools.fit_torch(model, ...)"
    elif hasattr(model, "_train_with"):
        hint = f"; train a {kind} with {model._train_with}"
    elif callable(getattr(model, "fit", None)):
        hint = "; it has a fit method of its own: call model.fit(...)"
    else:
        hint = ""
    raise TypeError(
        "model must be a scratch model of chapters 1-2 "
        "(tools.LinearRegression, tools.SoftmaxClassifier) or another "
        "Trainable (with loss_name, parameters(), _check_data, _step, "
        f"_scores and _explain_divergence), got {kind}{hint}"
    )


def training_loop(
    model: Trainable,
    x_train: torch.Tensor,
    y_train: torch.Tensor,
    epochs: int,
    lr: float,
    batch_size: int,
    x_valid: torch.Tensor | None = None,
    y_valid: torch.Tensor | None = None,
    *,
    verbose: bool = True,
    optimizer: Any = None,
    scheduler: Any = None,
) -> list[EpochLog]:
    """Minibatch gradient descent, in order (no shuffling), for ``epochs``.

    ``model`` is a :class:`Trainable`: ``tools.LinearRegression`` or
    ``tools.SoftmaxClassifier`` (whose ``fit`` calls this), or a
    ``tools.Sequential`` with its loss, as ``net.fit(..., loss=...)``
    hands it over. The inputs are checked once, here; then each minibatch
    takes one ``model._step``. After each epoch the loop records the
    training loss, the mean minibatch loss and, with validation data, the
    validation loss (and accuracy); with ``verbose`` it prints one line
    per epoch.

    With ``optimizer`` (a ``tools`` optimiser over the model's
    parameters, such as ``tools.Adam(model.parameters())``) ``lr`` must be
    ``None``: each step is ``optimizer.step(gradients)`` at the
    optimizer's rate; a ``scheduler`` over that optimizer steps once after
    each epoch. Without them the step is plain SGD at ``lr``.

    If anything raises (Ctrl-C included), or a logged loss, a gradient or
    a parameter becomes inf or NaN, the parameters (and the optimizer's and
    scheduler's state) are put back as they were when the call began, and
    the error says what happened: the rate is blamed only where the loss
    was finite at the start, and the data's scale where it was not.
    """
    _check_trainable(model)
    x_train, y_train = model._check_data(
        x_train, y_train, "x_train", "y_train"
    )
    _check_valid_pair(x_valid, y_valid)
    if x_valid is not None:
        x_valid, y_valid = model._check_data(
            x_valid, y_valid, "x_valid", "y_valid"
        )
    epochs, lr, batch_size = _check_schedule(epochs, lr, batch_size, optimizer)
    _check_optimizer(model.parameters(), optimizer, scheduler)

    history: list[EpochLog] = []
    valid = None if x_valid is None else (x_valid, y_valid)
    rate = lr if optimizer is None else optimizer.lr  # for the messages
    extra = tuple(o for o in (optimizer, scheduler) if o is not None)
    with _rollback(model, rate, (x_train, y_train), valid, extra):
        for epoch in range(1, epochs + 1):
            log = _one_epoch(
                model, x_train, y_train, lr, batch_size, epoch, optimizer
            )
            if x_valid is not None:
                log.valid_loss, log.valid_acc = model._scores(x_valid, y_valid)
            _check_epoch(log, model.parameters())
            history.append(log)
            if scheduler is not None:
                scheduler.step()
            if verbose:
                print_epoch(log, epochs)
    return history


def _all_finite(tensors: list[torch.Tensor]) -> bool:
    """Whether every entry is finite: one sum per tensor settles it unless
    that sum is inf or NaN (see ``_validation.check_finite``)."""
    return all(
        bool(torch.isfinite(t.sum())) or bool(torch.isfinite(t).all())
        for t in tensors
    )


def _one_epoch(
    model: Trainable,
    x: torch.Tensor,
    y: torch.Tensor,
    lr: float | None,
    batch_size: int,
    epoch: int,
    optimizer: Any = None,
) -> EpochLog:
    m = x.shape[0]
    batches = list(minibatches(m, batch_size))
    # The losses stay tensors until the epoch ends: reading each one as a
    # float would make the host wait for the device at every step.
    if optimizer is None:
        losses = [model._step(x[batch], y[batch], lr) for batch in batches]
    else:
        try:
            losses = [
                model._step(x[batch], y[batch], None, optimizer=optimizer)
                for batch in batches
            ]
        except NonFiniteGradient as error:
            raise _Diverged(epoch, "gradients") from error
    total = 0.0
    for loss, batch in zip(torch.stack(losses).tolist(), batches):
        total += loss * (batch.stop - batch.start)
    train_loss, _ = model._scores(x, y, accuracy=False)
    log = EpochLog(epoch, train_loss, batch_loss=total / m)
    log.loss = model.loss_name
    return log


# -- divergence: detected once per epoch, explained after the rollback ---
class _Diverged(ValueError):
    """A logged loss (``what``: ``"loss"``, ``"validation loss"``) or the
    parameters stopped being finite during training."""

    def __init__(self, epoch: int, what: str) -> None:
        super().__init__(f"training diverged in epoch {epoch}: {what}")
        self.epoch, self.what = epoch, what


def _check_epoch(log: EpochLog, parameters: list[torch.Tensor]) -> None:
    """``_Diverged`` if a logged loss or a parameter is inf or NaN.

    Once per epoch: the losses are numbers by now, and the parameters
    take one pass (a parameter can turn inf while the loss stays finite,
    an inf bias before a tanh, say)."""
    losses = (log.batch_loss, log.train_loss)
    if not all(math.isfinite(loss) for loss in losses if loss is not None):
        raise _Diverged(log.epoch, "loss")
    if log.valid_loss is not None and not math.isfinite(log.valid_loss):
        raise _Diverged(log.epoch, "validation loss")
    if not _all_finite([p.detach() for p in parameters]):
        raise _Diverged(log.epoch, "parameters")


_BACK = "the parameters are back to where fit started"
_Pair = tuple[torch.Tensor, torch.Tensor]


@contextmanager
def _rolled_back(
    restore: Callable[[], None],
    explain: Callable[[ValueError], ValueError | None],
) -> Iterator[None]:
    """Run the block; if it raises anything (Ctrl-C included), call
    ``restore()``, then raise the error again, or the sharper one that
    ``explain`` gives for a ``ValueError`` (as the only error shown)."""
    try:
        yield
    except BaseException as error:
        restore()
        sharper = explain(error) if isinstance(error, ValueError) else None
        if sharper is None:
            raise
        raise sharper from None


@contextmanager
def _rollback(
    model: Trainable,
    lr: float,
    train: _Pair,
    valid: _Pair | None,
    extra: tuple[Any, ...] = (),
) -> Iterator[None]:
    """:func:`_rolled_back` for a :class:`Trainable`; ``extra`` objects
    with ``state_dict``/``load_state_dict`` (an optimizer, a scheduler)
    are put back too."""
    start = [p.clone() for p in model.parameters()]
    states = [copy.deepcopy(o.state_dict()) for o in extra]

    def restore() -> None:
        with torch.no_grad():
            for p, p0 in zip(model.parameters(), start):
                p.copy_(p0)
        for o, state in zip(extra, states):
            o.load_state_dict(state)

    def explain(error: ValueError) -> ValueError | None:
        try:  # the model's own message where the data alone overflow it
            model._explain_divergence(train[0])
        except ValueError as sharper:
            return sharper
        if not isinstance(error, _Diverged):
            return None

        def start_loss(x: torch.Tensor, y: torch.Tensor) -> float:
            return model._scores(x, y, accuracy=False)[0]

        return _why_diverged(error, lr, start_loss, train, valid)

    with _rolled_back(restore, explain):
        yield


def _why_diverged(
    failure: _Diverged,
    lr: float,
    start_loss: Callable[[torch.Tensor, torch.Tensor], float],
    train: _Pair,
    valid: _Pair | None,
) -> ValueError:
    """The error that says why training diverged, the parameters being
    back at the start: ``lr`` only where the loss was finite there."""
    pairs = [("x_train and y_train", train)]
    if failure.what == "validation loss":
        pairs.append(("x_valid and y_valid", valid))
    for names, (x, y) in pairs:
        loss = start_loss(x, y)
        if not math.isfinite(loss):
            return ValueError(
                f"the loss on {names} is {loss} already at the parameters "
                "training started from: the data's scale makes it "
                "overflow, whatever lr; scale the data (or use a wider "
                f"dtype); {_BACK}"
            )
    epoch, what = failure.epoch, failure.what
    if what == "validation loss":
        return ValueError(
            f"training diverged in epoch {epoch}: the validation loss "
            "became inf or NaN while the training loss stayed finite, so "
            f"the model trained with lr={lr:g} overflows on x_valid; use "
            f"a smaller lr (or scale the inputs); {_BACK}"
        )
    return ValueError(
        f"training diverged in epoch {epoch}: the {what} became inf or "
        f"NaN, so lr={lr:g} is too large for this data (or scale the "
        f"inputs); {_BACK}"
    )


@contextmanager
def _torch_rollback(
    model: torch.nn.Module,
    loss_fn: torch.nn.Module,
    lr: float,
    train: _Pair,
    valid: _Pair | None,
    extra: tuple[Any, ...] = (),
) -> Iterator[None]:
    """:func:`_rolled_back` for a ``torch.nn.Module``: its parameters,
    buffers (running statistics) and every submodule's mode are put
    back, and the state of the ``extra`` objects (an optimizer, a
    scheduler)."""
    start = {k: t.detach().clone() for k, t in model.state_dict().items()}
    modes = [(m, m.training) for m in model.modules()]
    # torch.optim's state_dict() shares the state tensors: copy them
    states = [copy.deepcopy(o.state_dict()) for o in extra]

    def restore() -> None:
        model.load_state_dict(start)
        for module, mode in modes:
            module.training = mode
        for o, state in zip(extra, states):
            o.load_state_dict(copy.deepcopy(state))

    def explain(error: ValueError) -> ValueError | None:
        if not isinstance(error, _Diverged):
            return None

        def start_loss(x: torch.Tensor, y: torch.Tensor) -> float:
            with torch.no_grad(), _evaluation_mode(model):
                return float(loss_fn(model(x), y))

        return _why_diverged(error, lr, start_loss, train, valid)

    with _rolled_back(restore, explain):
        yield


@contextmanager
def _evaluation_mode(model: torch.nn.Module) -> Iterator[None]:
    """``model.eval()`` for the block, then every submodule back in the
    mode it had (the logged losses: no dropout, batch norm's running
    statistics, and nothing updated)."""
    modes = [(m, m.training) for m in model.modules()]
    model.eval()
    try:
        yield
    finally:
        for module, mode in modes:
            module.training = mode


def _loss_name(loss_fn: torch.nn.Module) -> str:
    if isinstance(loss_fn, torch.nn.CrossEntropyLoss):
        return "CE"
    if isinstance(loss_fn, torch.nn.MSELoss):
        return "MSE"
    return type(loss_fn).__name__


def _check_module(model: object, x: torch.Tensor, y: torch.Tensor) -> None:
    """The model must be a module whose parameters match ``x``, and fit y."""
    if not isinstance(model, torch.nn.Module):
        hint = ""
        if hasattr(model, "_train_with"):  # a tools.Sequential
            hint = f"; train a tools {type(model).__name__} with "
            hint += model._train_with
        elif hasattr(model, "_step"):  # a scratch model of chapters 1-2
            hint = "; train a tools model with its own fit method"
        raise TypeError(
            "model must be a torch.nn.Module (for example nn.Linear or "
            f"nn.Sequential), got {type(model).__name__}{hint}"
        )
    for name, p in model.named_parameters():
        v.check_like(
            f"x_train (for parameter {name})",
            x,
            p.device,
            p.dtype,
            "the model",
        )
    out = _probe(model, x)
    if out.dim() != 2 or out.shape[1] != y.shape[1]:
        raise ValueError(
            f"model outputs shape (m, {out.shape[-1]}) but y_train has "
            f"{y.shape[1]} columns; the two must match"
        )


def _takes(module: torch.nn.Module) -> int | None:
    """The width of input a module requires, where it says (``None``
    for modules that take any width, or that do not say)."""
    for attr in ("in_features", "num_features"):  # Linear, BatchNorm
        width = getattr(module, attr, None)
        if isinstance(width, int):
            return width
    shape = getattr(module, "normalized_shape", None)  # nn.LayerNorm
    if isinstance(shape, tuple) and shape:
        return int(shape[-1])
    return None


def _probe(model: torch.nn.Module, x: torch.Tensor) -> torch.Tensor:
    """The model's output for the first row of ``x``, with no side
    effects: in evaluation mode (a ``BatchNorm1d`` in training mode
    refuses one row, and would update its running statistics; a
    ``Dropout`` would draw random numbers) and under ``torch.no_grad()``;
    every submodule's mode is put back afterwards.

    Where PyTorch refuses the row, the error names the submodule that
    refused it and, where it says, the width it takes and the width it
    got."""
    modes = [(m, m.training) for m in model.modules()]
    names = {id(m): name for name, m in model.named_modules()}
    running: list[tuple[torch.nn.Module, tuple[int, ...] | None]] = []
    entered: list[torch.nn.Module] = []

    def enter(module: torch.nn.Module, args: tuple) -> None:
        shape = None
        if args and isinstance(args[0], torch.Tensor):
            shape = tuple(args[0].shape)
        running.append((module, shape))
        entered.append(module)

    def leave(module: torch.nn.Module, args: tuple, out: object) -> None:
        running.pop()

    hooks = [m.register_forward_pre_hook(enter) for m in model.modules()]
    hooks += [m.register_forward_hook(leave) for m in model.modules()]
    model.eval()
    try:
        with torch.no_grad():
            out = model(x[:1])
    except RuntimeError as exc:
        shape = tuple(x.shape)
        message = f"model cannot take x_train of shape {shape}: "
        module, got = running[-1]  # the innermost module still running
        where = repr(module)
        if names.get(id(module)):
            where += f" (the model's submodule {names[id(module)]!r})"
        width = _takes(module)
        leaves = [m for m in entered if not list(m.children())]
        first = bool(leaves) and leaves[0] is module
        if width is not None and got and got[-1] != width and first:
            message += (
                f"the data has {shape[1]} columns, but the model's first "
                f"layer {where} takes {width}"
            )
        elif width is not None and got and got[-1] != width:
            message += (
                f"its layer {where} takes {width} inputs but gets "
                f"{got[-1]} from the layers before it"
            )
        else:
            message += f"its layer {where} refused an input of shape "
            message += f"{got}: {exc}"
        raise ValueError(message) from exc
    finally:
        for hook in hooks:
            hook.remove()
        for module, mode in modes:
            module.training = mode
    return out


def _param_groups(model: torch.nn.Module, weight_decay: float) -> list[dict]:
    """Weight decay on the weight matrices only: biases are not penalised."""
    named = list(model.named_parameters())
    decayed = [p for n, p in named if p.dim() > 1]
    free = [p for n, p in named if p.dim() <= 1]
    groups = [{"params": decayed, "weight_decay": weight_decay}]
    if free:
        groups.append({"params": free, "weight_decay": 0.0})
    return groups


def fit_torch(
    model: torch.nn.Module,
    x_train: torch.Tensor,
    y_train: torch.Tensor,
    epochs: int,
    lr: float | None,
    batch_size: int,
    x_valid: torch.Tensor | None = None,
    y_valid: torch.Tensor | None = None,
    *,
    loss_fn: torch.nn.Module | None = None,
    weight_decay: float = 0.0,
    verbose: bool = True,
    optimizer: torch.optim.Optimizer | None = None,
    scheduler: Any = None,
) -> list[EpochLog]:
    """The reference: train ``model`` PyTorch's way, with autograd and SGD.

    ``loss_fn`` is ``nn.CrossEntropyLoss()`` (the default; one-hot or
    probability rows as targets, accuracy logged too) or ``nn.MSELoss()``.
    ``weight_decay`` goes to ``torch.optim.SGD`` for the weight matrices
    only, so the bias is not penalised. Batches, order and logged figures
    are those of :func:`training_loop`, so the histories compare entry
    by entry.

    The steps run in training mode (``model.train()``: dropout drops,
    batch norm uses and updates the batch's statistics) and the logged
    losses are computed in evaluation mode (``model.eval()``), as
    ``Sequential.fit`` does; the model is left in training mode (with
    ``epochs=0`` nothing changes).

    With ``optimizer`` (a ``torch.optim`` optimizer over the model's
    parameters) ``lr`` must be ``None`` and ``weight_decay`` 0 (they are
    the optimizer's); a ``scheduler`` (``torch.optim.lr_scheduler``) over
    it steps once after each epoch, and both are put back on failure.

    Before training, the model is run once on the first row of
    ``x_train`` to check the widths, with no side effects (evaluation
    mode, ``torch.no_grad()``, every submodule's mode put back). As in
    :func:`training_loop`, a logged loss or a parameter that becomes inf
    or NaN is an error saying why, and any error (Ctrl-C included) puts
    the parameters, buffers and modes back as they were.
    """
    loss_fn = torch.nn.CrossEntropyLoss() if loss_fn is None else loss_fn
    _check_loss_fn(loss_fn)
    classify = isinstance(loss_fn, torch.nn.CrossEntropyLoss)
    _check_valid_pair(x_valid, y_valid)
    pairs = [("x_train", x_train, "y_train", y_train)]
    if x_valid is not None:
        pairs.append(("x_valid", x_valid, "y_valid", y_valid))
    for x_name, x, y_name, y in pairs:
        for name, t in ((x_name, x), (y_name, y)):
            v.check_matrix(name, v.check_tensor(name, t))
            v.check_finite(name, t)
        v.check_same_rows(x_name, x, y_name, y)
        if classify:
            v.check_probability_rows(y_name, y)
    _check_module(model, x_train, y_train)
    epochs, lr, batch_size = _check_schedule(epochs, lr, batch_size, optimizer)
    weight_decay = v.check_nonnegative_float("weight_decay", weight_decay)
    _check_torch_optimizer(model, optimizer, scheduler, weight_decay)

    extra: tuple[Any, ...] = ()
    if optimizer is None:
        groups = _param_groups(model, weight_decay)
        optimizer = torch.optim.SGD(groups, lr=lr)
    else:
        lr = optimizer.param_groups[0]["lr"]  # for the messages
        extra = tuple(o for o in (optimizer, scheduler) if o is not None)
    name = _loss_name(loss_fn)
    history: list[EpochLog] = []
    m = x_train.shape[0]
    valid = None if x_valid is None else (x_valid, y_valid)
    train = (x_train, y_train)
    with _torch_rollback(model, loss_fn, lr, train, valid, extra):
        if epochs:  # zero epochs change nothing, modes included
            model.train()
        for epoch in range(1, epochs + 1):
            total = 0.0
            for batch in minibatches(m, batch_size):
                optimizer.zero_grad()
                loss = loss_fn(model(x_train[batch]), y_train[batch])
                loss.backward()
                optimizer.step()
                total += loss.item() * (batch.stop - batch.start)
            with torch.no_grad(), _evaluation_mode(model):
                train_loss = float(loss_fn(model(x_train), y_train))
                log = EpochLog(
                    epoch, train_loss, batch_loss=total / m, loss=name
                )
                if x_valid is not None and y_valid is not None:
                    out = model(x_valid)
                    log.valid_loss = float(loss_fn(out, y_valid))
                    if classify:
                        hits = out.argmax(dim=1) == y_valid.argmax(dim=1)
                        log.valid_acc = float(hits.double().mean())
            _check_epoch(log, list(model.parameters()))
            history.append(log)
            if scheduler is not None:
                scheduler.step()
            if verbose:
                print_epoch(log, epochs)
    return history


def _check_torch_optimizer(
    model: torch.nn.Module,
    optimizer: object,
    scheduler: object,
    weight_decay: float,
) -> None:
    """A ``torch.optim`` optimizer over exactly the model's parameters,
    and a schedule that drives it."""
    if optimizer is None:
        if scheduler is not None:
            raise ValueError(
                "scheduler needs an optimizer to drive: pass "
                "optimizer=torch.optim.SGD(model.parameters(), lr=...) too"
            )
        return
    if not isinstance(optimizer, torch.optim.Optimizer):
        raise TypeError(
            "optimizer must be a torch.optim optimizer (for example "
            "torch.optim.Adam(model.parameters())), got "
            f"{type(optimizer).__name__}"
        )
    if weight_decay != 0:
        raise ValueError(
            "weight_decay must be 0 when an optimizer is given: give it "
            "to the optimizer instead"
        )
    held = [p for group in optimizer.param_groups for p in group["params"]]
    if {id(p) for p in held} != {id(p) for p in model.parameters()}:
        raise ValueError(
            "optimizer must hold the model's parameters (create it with "
            "model.parameters())"
        )
    if scheduler is not None and getattr(scheduler, "optimizer", None) is not (
        optimizer
    ):
        raise ValueError("scheduler must drive the optimizer passed with it")


def _check_loss_fn(loss_fn: object) -> None:
    """``TypeError`` unless ``loss_fn`` is a PyTorch loss object."""
    if isinstance(loss_fn, torch.nn.Module):
        return
    kind = type(loss_fn).__name__
    if isinstance(loss_fn, type) and issubclass(loss_fn, torch.nn.Module):
        kind = f"the class {loss_fn.__name__}; create one: "
        kind += f"loss_fn=nn.{loss_fn.__name__}()"
    elif hasattr(loss_fn, "_backward"):  # tools.MSELoss() and the like
        kind += (
            " (a tools loss, for tools.Sequential.fit); fit_torch takes "
            "PyTorch's: nn.MSELoss() or nn.CrossEntropyLoss()"
        )
    raise TypeError(
        "loss_fn must be a PyTorch loss object such as nn.MSELoss() or "
        f"nn.CrossEntropyLoss(), got {kind}"
    )
