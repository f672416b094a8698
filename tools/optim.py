"""Optimisers written from their update rules, without autograd.

``SGD``, ``Adagrad``, ``RMSprop``, ``Adam`` and ``AdamW`` follow
``torch.optim`` (same signatures, defaults, update rules and state names,
one parameter group); ``KerasSGD``, ``KerasAdagrad``, ``KerasRMSprop``,
``KerasAdam`` and ``KerasAdamW`` follow Keras 3, which puts the learning
rate and the epsilon in other places, decays the weights apart from the
gradient and (TensorFlow backend) rounds some hyperparameters to float32
even when it computes in float64 (see ``_keras_cast``).

An optimiser holds a list of parameter tensors and updates them in place:
``opt.step(grads)`` takes the gradients as a list in the same order (for
example ``opt.step(net.gradients())``). ``opt.state`` holds one dict per
parameter, empty until the first step; an entry the caller puts there is
used as it is, and a missing one starts as the framework's would, so a
state copied from ``torch.optim`` carries on identically. ``opt.lr`` is
read at every step, so a schedule may change it between steps.

Every check comes before any change: a refused step (a gradient of the
wrong shape, a NaN, a hyperparameter out of range) leaves the parameters
and the state as they were.
"""

from __future__ import annotations

import copy
import math
import numbers
from typing import Any, Sequence

import torch

from . import _validation as v

__all__ = [
    "NonFiniteGradient",
    "Optimizer",
    "SGD",
    "Adagrad",
    "RMSprop",
    "Adam",
    "AdamW",
    "KerasSGD",
    "KerasAdagrad",
    "KerasRMSprop",
    "KerasAdam",
    "KerasAdamW",
]


class NonFiniteGradient(ValueError):
    """A gradient given to ``step`` holds NaN or inf (nothing changed)."""


def _number(name: str, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(
            f"{name} must be a real number, got {value!r} "
            f"({type(value).__name__})"
        )
    return float(value)


def _in_range(
    name: str,
    value: object,
    low: float,
    high: float = math.inf,
    *,
    low_open: bool = False,
    high_open: bool = True,
) -> float:
    """``value`` as a float if it lies in the interval, else an error that
    names the interval (NaN lies in none)."""
    x = _number(name, value)
    above = x > low if low_open else x >= low
    below = x < high if high_open else x <= high
    if not (above and below):
        left = "(" if low_open else "["
        right = ")" if high_open else "]"
        raise ValueError(
            f"{name} must lie in {left}{low:g}, {high:g}{right}, got {x}"
        )
    return x


def _flag(name: str, value: object) -> bool:
    if not isinstance(value, bool):
        raise TypeError(
            f"{name} must be True or False, got {value!r} "
            f"({type(value).__name__})"
        )
    return value


def _check_params(params: object) -> list[torch.Tensor]:
    if isinstance(params, (torch.Tensor, str, dict)) or not hasattr(
        params, "__iter__"
    ):
        raise TypeError(
            "params must be a list of tensors (for example "
            f"model.parameters()), got {type(params).__name__}"
        )
    params = list(params)
    if not params:
        raise ValueError("params must hold at least one tensor, got []")
    for i, p in enumerate(params):
        v.check_tensor(f"params[{i}]", p)
        if not p.is_floating_point():
            raise TypeError(
                f"params[{i}] must be a floating-point tensor, got dtype "
                f"{p.dtype}"
            )
    for i, p in enumerate(params):
        for j in range(i):
            if params[j] is p:
                raise ValueError(
                    f"params[{i}] is the same tensor as params[{j}]; "
                    "give each parameter once"
                )
    return params


class Optimizer:
    """What every optimiser here shares: the parameters, one state dict per
    parameter, the learning rate ``lr``, the checks and ``state_dict``.

    A subclass names its hyperparameters in ``_hyper`` (checked by
    ``_check_hyper``), the tensor entries of its state in ``_tensors`` and
    writes the update of one parameter in ``_update``.
    """

    _hyper: tuple[str, ...] = ()
    _tensors: tuple[str, ...] = ()
    _counts_steps = True

    def __init__(self, params: Sequence[torch.Tensor], lr: float) -> None:
        self.params = _check_params(params)
        self.lr = lr
        self.state: list[dict[str, Any]] = [{} for _ in self.params]
        # the state tensors this optimiser wrote or checked: a preset entry
        # is checked for NaN/inf once, not again at every step
        self._seen: list[dict[str, torch.Tensor]] = [{} for _ in self.params]
        # work tensors for a step's temporaries, by (slot, parameter): see
        # _work (not state: PyTorch keeps no such thing)
        self._scratch: dict[tuple[int, int], torch.Tensor] = {}

    @property
    def lr(self) -> float:
        """The learning rate of the next step (a float >= 0)."""
        return self._lr

    @lr.setter
    def lr(self, value: float) -> None:
        self._lr = _in_range("lr", value, 0.0)

    def __repr__(self) -> str:
        args = ", ".join(
            f"{k}={getattr(self, k)!r}" for k in ("lr", *self._hyper)
        )
        return f"{type(self).__name__}({len(self.params)} tensors, {args})"

    def _check_hyper(self) -> None:
        """Raise if a hyperparameter is out of range (subclasses)."""

    def _check_grads(self, grads: object) -> list[torch.Tensor]:
        if isinstance(grads, torch.Tensor) or not isinstance(
            grads, (list, tuple)
        ):
            raise TypeError(
                "grads must be a list of tensors in the order of params "
                f"(for example model.gradients()), got {type(grads).__name__}"
            )
        grads = list(grads)
        if len(grads) != len(self.params):
            raise ValueError(
                f"grads must hold one gradient per parameter: "
                f"{len(self.params)}, got {len(grads)}"
            )
        for i, (p, g) in enumerate(zip(self.params, grads)):
            name = f"grads[{i}]"
            v.check_tensor(name, g)
            if g.shape != p.shape:
                raise ValueError(
                    f"{name} must have the shape of params[{i}], "
                    f"{tuple(p.shape)}, got {tuple(g.shape)}"
                )
            v.check_like(name, g, p.device, p.dtype, f"params[{i}]")
            try:
                v.check_finite(name, g)
            except ValueError as error:
                raise NonFiniteGradient(str(error)) from None
        return grads

    def _checked_state(self) -> list[int | None]:
        """Check every preset entry; return each parameter's step count."""
        allowed = set(self._tensors) | (
            {"step"} if self._counts_steps else set()
        )
        steps: list[int | None] = []
        for i, (p, s) in enumerate(zip(self.params, self.state)):
            if not isinstance(s, dict):
                raise TypeError(
                    f"state[{i}] must be a dict, got {type(s).__name__}"
                )
            unknown = sorted(set(s) - allowed)
            if unknown:
                raise ValueError(
                    f"state[{i}] has the key {unknown[0]!r}; "
                    f"{type(self).__name__} keeps {sorted(allowed)}"
                )
            for key in self._tensors:
                t = s.get(key)
                if t is None:
                    continue
                name = f"state[{i}][{key!r}]"
                v.check_tensor(name, t)
                if t.shape != p.shape:
                    raise ValueError(
                        f"{name} must have the shape of params[{i}], "
                        f"{tuple(p.shape)}, got {tuple(t.shape)}"
                    )
                v.check_like(name, t, p.device, p.dtype, f"params[{i}]")
                if self._seen[i].get(key) is not t:
                    v.check_finite(name, t)
            steps.append(_step_count(i, s.get("step")))
        return steps

    def step(self, grads: Sequence[torch.Tensor]) -> None:
        """Update every parameter in place from its gradient in ``grads``.

        Everything is checked first (gradients, hyperparameters, preset
        state), so a refused step changes nothing.
        """
        grads = self._check_grads(grads)
        self._check_hyper()
        steps = self._checked_state()
        with torch.no_grad():
            for p, g, s, t in zip(self.params, grads, self.state, steps):
                if self._counts_steps:
                    t = (0 if t is None else t) + 1
                    s["step"] = t
                self._update(p, g, s, t)
        self._remember_state()

    def _remember_state(self) -> None:
        self._seen = [
            {k: t for k, t in s.items() if isinstance(t, torch.Tensor)}
            for s in self.state
        ]

    def _update(
        self, p: torch.Tensor, g: torch.Tensor, s: dict, t: int
    ) -> None:
        raise NotImplementedError

    def _work(self, p: torch.Tensor, slot: int = 0) -> torch.Tensor:
        """A tensor shaped like ``p`` that outlives the step, for a
        temporary of the update (``torch.sqrt(v, out=...)``).

        ``torch.optim``'s for-loop step asks for fresh memory for each
        temporary; on the CPU a fresh tensor of a million float64s costs
        its page faults again at every step. Writing the same values into
        a kept tensor gives the same numbers, bit for bit, for one more
        parameter-sized tensor per slot.
        """
        key = (slot, id(p))
        w = self._scratch.get(key)
        if (
            w is None
            or w.shape != p.shape
            or w.dtype != p.dtype
            or (w.device != p.device)
        ):
            w = self._scratch[key] = torch.empty_like(
                p, memory_format=torch.contiguous_format
            )
        return w

    def _zeros(self, s: dict, key: str, p: torch.Tensor) -> torch.Tensor:
        """The state entry ``key``, created as zeros if it is missing."""
        if s.get(key) is None:
            s[key] = torch.zeros_like(p, memory_format=torch.preserve_format)
        return s[key]

    def state_dict(self) -> dict[str, Any]:
        """A deep copy of the hyperparameters and the state."""
        d: dict[str, Any] = {"lr": self.lr}
        d.update((k, getattr(self, k)) for k in self._hyper)
        d["state"] = copy.deepcopy(self.state)
        return d

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Put back what :meth:`state_dict` returned (copied, so the two
        stay independent). Checked whole before anything changes."""
        if not isinstance(state_dict, dict):
            raise TypeError(
                "state_dict must be a dict from state_dict(), got "
                f"{type(state_dict).__name__}"
            )
        keys = {"lr", "state", *self._hyper}
        if set(state_dict) != keys:
            raise ValueError(
                f"state_dict must have the keys {sorted(keys)}, got "
                f"{sorted(state_dict)}"
            )
        state = state_dict["state"]
        if not isinstance(state, list) or len(state) != len(self.params):
            raise ValueError(
                f"state_dict['state'] must be a list of {len(self.params)} "
                "dicts, one per parameter"
            )
        trial = copy.copy(self)  # checks run on a copy: self is untouched
        trial.state = copy.deepcopy(state)
        trial._seen = [{} for _ in self.params]
        trial.lr = state_dict["lr"]
        for k in self._hyper:
            setattr(trial, k, state_dict[k])
        trial._check_hyper()
        steps = trial._checked_state()
        for s, t in zip(trial.state, steps):
            if t is not None:
                s["step"] = t
        trial._remember_state()
        self.__dict__.update(trial.__dict__)


def _step_count(i: int, t: object) -> int | None:
    """A preset ``step``: an int >= 0, or a one-number tensor holding one
    (PyTorch keeps its count as a float tensor)."""
    if t is None:
        return None
    if isinstance(t, torch.Tensor) and t.numel() == 1:
        x = float(t)
        if math.isfinite(x) and x == int(x):
            t = int(x)
    if isinstance(t, bool) or not isinstance(t, numbers.Integral) or t < 0:
        raise ValueError(
            f"state[{i}]['step'] must be a whole number >= 0, got {t!r}"
        )
    return int(t)


def _weight_decay(value: object) -> float:
    return _in_range("weight_decay", value, 0.0)


def _eps(name: str, value: object) -> float:
    return _in_range(name, value, 0.0, low_open=True)


def _beta(name: str, value: object) -> float:
    return _in_range(name, value, 0.0, 1.0)


# ---------------------------------------------------------------- PyTorch


class SGD(Optimizer):
    """Stochastic gradient descent with momentum, as ``torch.optim.SGD``.

    With weight decay ``wd`` the gradient becomes ``g + wd p``; the momentum
    buffer (no learning rate in it) starts as that gradient and then
    follows ``b <- mu b + (1 - dampening) g``; the step is ``p <- p - lr b``,
    or ``p <- p - lr (g + mu b)`` with Nesterov.
    """

    _hyper = ("momentum", "dampening", "nesterov", "weight_decay")
    _tensors = ("momentum_buffer",)
    _counts_steps = False

    def __init__(
        self,
        params: Sequence[torch.Tensor],
        lr: float,
        momentum: float = 0.0,
        dampening: float = 0.0,
        nesterov: bool = False,
        weight_decay: float = 0.0,
    ) -> None:
        super().__init__(params, lr)
        self.momentum = momentum
        self.dampening = dampening
        self.nesterov = nesterov
        self.weight_decay = weight_decay
        self._check_hyper()

    def _check_hyper(self) -> None:
        mu = _beta("momentum", self.momentum)
        d = _in_range("dampening", self.dampening, 0.0, 1.0, high_open=False)
        _weight_decay(self.weight_decay)
        if _flag("nesterov", self.nesterov) and (mu == 0 or d != 0):
            raise ValueError(
                "nesterov=True needs momentum > 0 and dampening = 0, got "
                f"momentum={mu} and dampening={d}"
            )

    def _update(self, p, g, s, t):
        if self.weight_decay != 0:
            g = torch.add(g, p, alpha=self.weight_decay, out=self._work(p))
        mu = self.momentum
        if mu != 0:
            b = s.get("momentum_buffer")
            if b is None:
                b = s["momentum_buffer"] = g.clone()
            else:
                b.mul_(mu).add_(g, alpha=1 - self.dampening)
            if self.nesterov:
                g = torch.add(g, b, alpha=mu, out=self._work(p))
            else:
                g = b
        p.add_(g, alpha=-self.lr)


class Adagrad(Optimizer):
    """AdaGrad as ``torch.optim.Adagrad``: ``sum <- sum + g * g``
    (starting at ``initial_accumulator_value``), then
    ``p <- p - lr_t g / (sqrt(sum) + eps)`` with
    ``lr_t = lr / (1 + (t - 1) lr_decay)``."""

    _hyper = ("lr_decay", "weight_decay", "initial_accumulator_value", "eps")
    _tensors = ("sum",)

    def __init__(
        self,
        params: Sequence[torch.Tensor],
        lr: float = 0.01,
        lr_decay: float = 0.0,
        weight_decay: float = 0.0,
        initial_accumulator_value: float = 0.0,
        eps: float = 1e-10,
    ) -> None:
        super().__init__(params, lr)
        self.lr_decay = lr_decay
        self.weight_decay = weight_decay
        self.initial_accumulator_value = initial_accumulator_value
        self.eps = eps
        self._check_hyper()

    def _check_hyper(self) -> None:
        _in_range("lr_decay", self.lr_decay, 0.0)
        _weight_decay(self.weight_decay)
        _in_range(
            "initial_accumulator_value", self.initial_accumulator_value, 0.0
        )
        _eps("eps", self.eps)

    def _update(self, p, g, s, t):
        if self.weight_decay != 0:
            g = torch.add(g, p, alpha=self.weight_decay, out=self._work(p, 1))
        lr_t = self.lr / (1 + (t - 1) * self.lr_decay)
        if s.get("sum") is None:
            s["sum"] = torch.full_like(p, self.initial_accumulator_value)
        total = s["sum"].addcmul_(g, g)
        std = torch.sqrt(total, out=self._work(p)).add_(self.eps)
        p.addcdiv_(g, std, value=-lr_t)


class RMSprop(Optimizer):
    """RMSProp as ``torch.optim.RMSprop``: ``square_avg <- rho square_avg
    + (1 - rho) g * g`` (``alpha`` is rho), the step
    ``g / (sqrt(square_avg) + eps)`` (eps outside the root). ``centered``
    subtracts the square of the mean gradient ``grad_avg`` under the root;
    ``momentum`` accumulates the steps in ``momentum_buffer`` (starting at
    zero)."""

    _hyper = ("alpha", "eps", "weight_decay", "momentum", "centered")
    _tensors = ("square_avg", "momentum_buffer", "grad_avg")

    def __init__(
        self,
        params: Sequence[torch.Tensor],
        lr: float = 0.01,
        alpha: float = 0.99,
        eps: float = 1e-8,
        weight_decay: float = 0.0,
        momentum: float = 0.0,
        centered: bool = False,
    ) -> None:
        super().__init__(params, lr)
        self.alpha = alpha
        self.eps = eps
        self.weight_decay = weight_decay
        self.momentum = momentum
        self.centered = centered
        self._check_hyper()

    def _check_hyper(self) -> None:
        _beta("alpha", self.alpha)
        _eps("eps", self.eps)
        _weight_decay(self.weight_decay)
        _beta("momentum", self.momentum)
        _flag("centered", self.centered)

    def _update(self, p, g, s, t):
        if self.weight_decay != 0:
            g = torch.add(g, p, alpha=self.weight_decay, out=self._work(p, 1))
        rho = self.alpha
        sq = self._zeros(s, "square_avg", p)
        sq.mul_(rho).addcmul_(g, g, value=1 - rho)
        root = self._work(p)
        if self.centered:
            mean = self._zeros(s, "grad_avg", p).lerp_(g, 1 - rho)
            torch.addcmul(sq, mean, mean, value=-1, out=root).sqrt_()
        else:
            torch.sqrt(sq, out=root)
        root.add_(self.eps)
        if self.momentum > 0:
            buf = self._zeros(s, "momentum_buffer", p)
            buf.mul_(self.momentum).addcdiv_(g, root)
            p.add_(buf, alpha=-self.lr)
        else:
            p.addcdiv_(g, root, value=-self.lr)


def _check_betas(betas: object) -> tuple[float, float]:
    if not isinstance(betas, (tuple, list)) or len(betas) != 2:
        raise TypeError(f"betas must be a pair (beta1, beta2), got {betas!r}")
    return _beta("betas[0]", betas[0]), _beta("betas[1]", betas[1])


class Adam(Optimizer):
    """Adam as ``torch.optim.Adam``: the step count ``t`` goes up first;
    ``exp_avg`` (m) and ``exp_avg_sq`` (v) are moving averages of g and
    g * g; ``p <- p - lr m_hat / (sqrt(v_hat) + eps)`` with the
    bias-corrected ``m_hat = m / (1 - beta1^t)`` and
    ``v_hat = v / (1 - beta2^t)`` (eps added after the correction).
    ``amsgrad`` uses the running maximum ``max_exp_avg_sq`` of v instead;
    ``weight_decay`` adds ``wd p`` to the gradient (L2)."""

    _hyper = ("betas", "eps", "weight_decay", "amsgrad")
    _tensors = ("exp_avg", "exp_avg_sq", "max_exp_avg_sq")
    _decoupled = False

    def __init__(
        self,
        params: Sequence[torch.Tensor],
        lr: float = 0.001,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0.0,
        amsgrad: bool = False,
    ) -> None:
        super().__init__(params, lr)
        self.betas = betas
        self.eps = eps
        self.weight_decay = weight_decay
        self.amsgrad = amsgrad
        self._check_hyper()
        self.betas = tuple(float(b) for b in self.betas)

    def _check_hyper(self) -> None:
        _check_betas(self.betas)
        _eps("eps", self.eps)
        _weight_decay(self.weight_decay)
        _flag("amsgrad", self.amsgrad)

    def _update(self, p, g, s, t):
        beta1, beta2 = self.betas
        if self.weight_decay != 0:
            if self._decoupled:
                p.mul_(1 - self.lr * self.weight_decay)
            else:
                g = torch.add(
                    g, p, alpha=self.weight_decay, out=self._work(p, 1)
                )
        m = self._zeros(s, "exp_avg", p).lerp_(g, 1 - beta1)
        sq = self._zeros(s, "exp_avg_sq", p)
        sq.mul_(beta2).addcmul_(g, g, value=1 - beta2)
        if self.amsgrad:
            top = self._zeros(s, "max_exp_avg_sq", p)
            sq = torch.maximum(top, sq, out=top)
        correction1 = 1 - beta1**t
        root_correction2 = (1 - beta2**t) ** 0.5
        denom = torch.sqrt(sq, out=self._work(p))
        denom.div_(root_correction2).add_(self.eps)
        p.addcdiv_(m, denom, value=-self.lr / correction1)


class AdamW(Adam):
    """AdamW as ``torch.optim.AdamW``: Adam whose weight decay is
    decoupled, ``p <- (1 - lr wd) p`` before the step (default wd = 0.01)."""

    _decoupled = True

    def __init__(
        self,
        params: Sequence[torch.Tensor],
        lr: float = 0.001,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0.01,
        amsgrad: bool = False,
    ) -> None:
        super().__init__(params, lr, betas, eps, weight_decay, amsgrad)


# ------------------------------------------------------------------ Keras


def _keras_cast(x: float) -> float:
    """``x`` as Keras 3 (TensorFlow backend) sees it after ``ops.cast(x,
    "float64")``: a Python float becomes a float32 tensor first, so the
    value is rounded to float32 even when Keras computes in float64
    (``0.9`` becomes ``0.8999999761581421``). Keras casts this way the SGD
    momentum, Adam's betas in the bias correction, the weight decay and
    AdaGrad's initial accumulator value."""
    return float(torch.tensor(x, dtype=torch.float32))


class _KerasForm(Optimizer):
    """Keras's shared part: ``learning_rate`` is another name for ``lr``,
    and a ``weight_decay`` (``None``: none) is decoupled on every optimiser,
    ``p <- p - (p wd) lr`` before the update."""

    @property
    def learning_rate(self) -> float:
        """Keras's name for :attr:`lr`."""
        return self.lr

    @learning_rate.setter
    def learning_rate(self, value: float) -> None:
        self.lr = value

    def _check_hyper(self) -> None:
        if self.weight_decay is not None:
            _weight_decay(self.weight_decay)

    def _decay(self, p: torch.Tensor) -> None:
        if self.weight_decay:
            p.sub_(p * _keras_cast(self.weight_decay) * self.lr)


class KerasSGD(_KerasForm):
    """``keras.optimizers.SGD``: the velocity holds the learning rate,
    ``v <- mu v - lr g``, ``p <- p + v`` (Nesterov: ``p <- p + mu v - lr g``
    with the new v). State key ``momentum`` (Keras's variable name)."""

    _hyper = ("momentum", "nesterov", "weight_decay")
    _tensors = ("momentum",)
    _counts_steps = False

    def __init__(
        self,
        params: Sequence[torch.Tensor],
        learning_rate: float = 0.01,
        momentum: float = 0.0,
        nesterov: bool = False,
        weight_decay: float | None = None,
    ) -> None:
        super().__init__(params, learning_rate)
        self.momentum = momentum
        self.nesterov = nesterov
        self.weight_decay = weight_decay
        self._check_hyper()

    def _check_hyper(self) -> None:
        super()._check_hyper()
        _beta("momentum", self.momentum)
        _flag("nesterov", self.nesterov)

    def _update(self, p, g, s, t):
        self._decay(p)
        lr, mu = self.lr, _keras_cast(self.momentum)
        if mu != 0:
            vel = self._zeros(s, "momentum", p)
            vel.copy_(vel * mu - g * lr)
            p.add_(vel * mu - g * lr if self.nesterov else vel)
        else:
            p.sub_(g * lr)


class KerasAdagrad(_KerasForm):
    """``keras.optimizers.Adagrad``: the accumulator starts at 0.1 and eps
    sits inside the root, ``p <- p - lr g / sqrt(acc + eps)``. State key
    ``accumulator``."""

    _hyper = ("initial_accumulator_value", "epsilon", "weight_decay")
    _tensors = ("accumulator",)

    def __init__(
        self,
        params: Sequence[torch.Tensor],
        learning_rate: float = 0.001,
        initial_accumulator_value: float = 0.1,
        epsilon: float = 1e-7,
        weight_decay: float | None = None,
    ) -> None:
        super().__init__(params, learning_rate)
        self.initial_accumulator_value = initial_accumulator_value
        self.epsilon = epsilon
        self.weight_decay = weight_decay
        self._check_hyper()

    def _check_hyper(self) -> None:
        super()._check_hyper()
        _in_range(
            "initial_accumulator_value", self.initial_accumulator_value, 0.0
        )
        _eps("epsilon", self.epsilon)

    def _update(self, p, g, s, t):
        self._decay(p)
        if s.get("accumulator") is None:
            s["accumulator"] = torch.full_like(
                p, _keras_cast(self.initial_accumulator_value)
            )
        acc = s["accumulator"].add_(g * g)
        p.sub_((self.lr * g) / (acc + self.epsilon).sqrt())


class KerasRMSprop(_KerasForm):
    """``keras.optimizers.RMSprop``: ``velocity <- rho velocity + (1 - rho)
    g * g`` (default rho = 0.9), eps inside the root, ``p <- p - lr g /
    sqrt(velocity + eps)``; ``centered`` subtracts the square of
    ``average_gradient`` under the root, ``momentum`` sums the steps in
    ``momentum``."""

    _hyper = ("rho", "momentum", "epsilon", "centered", "weight_decay")
    _tensors = ("velocity", "momentum", "average_gradient")

    def __init__(
        self,
        params: Sequence[torch.Tensor],
        learning_rate: float = 0.001,
        rho: float = 0.9,
        momentum: float = 0.0,
        epsilon: float = 1e-7,
        centered: bool = False,
        weight_decay: float | None = None,
    ) -> None:
        super().__init__(params, learning_rate)
        self.rho = rho
        self.momentum = momentum
        self.epsilon = epsilon
        self.centered = centered
        self.weight_decay = weight_decay
        self._check_hyper()

    def _check_hyper(self) -> None:
        super()._check_hyper()
        _beta("rho", self.rho)
        _beta("momentum", self.momentum)
        _eps("epsilon", self.epsilon)
        _flag("centered", self.centered)

    def _update(self, p, g, s, t):
        self._decay(p)
        rho = self.rho
        vel = self._zeros(s, "velocity", p)
        vel.copy_(rho * vel + (1 - rho) * (g * g))
        if self.centered:
            mean = self._zeros(s, "average_gradient", p)
            mean.copy_(rho * mean + (1 - rho) * g)
            inside = vel - mean * mean + self.epsilon
        else:
            inside = vel + self.epsilon
        increment = (self.lr * g) / inside.sqrt()
        if self.momentum > 0:
            buf = self._zeros(s, "momentum", p)
            buf.copy_(self.momentum * buf + increment)
            p.sub_(buf)
        else:
            p.sub_(increment)


class KerasAdam(_KerasForm):
    """``keras.optimizers.Adam``: no bias correction of m and v themselves;
    the step size carries it, ``lr_t = lr sqrt(1 - beta2^t) / (1 -
    beta1^t)``, and ``p <- p - lr_t m / (sqrt(v) + eps)`` ("epsilon hat":
    eps is added to the uncorrected sqrt(v)). State keys ``momentum`` (m),
    ``velocity`` (v) and, with ``amsgrad``, ``velocity_hat``."""

    _hyper = ("beta_1", "beta_2", "epsilon", "amsgrad", "weight_decay")
    _tensors = ("momentum", "velocity", "velocity_hat")

    def __init__(
        self,
        params: Sequence[torch.Tensor],
        learning_rate: float = 0.001,
        beta_1: float = 0.9,
        beta_2: float = 0.999,
        epsilon: float = 1e-7,
        amsgrad: bool = False,
        weight_decay: float | None = None,
    ) -> None:
        super().__init__(params, learning_rate)
        self.beta_1 = beta_1
        self.beta_2 = beta_2
        self.epsilon = epsilon
        self.amsgrad = amsgrad
        self.weight_decay = weight_decay
        self._check_hyper()

    def _check_hyper(self) -> None:
        super()._check_hyper()
        _beta("beta_1", self.beta_1)
        _beta("beta_2", self.beta_2)
        _eps("epsilon", self.epsilon)
        _flag("amsgrad", self.amsgrad)

    def _update(self, p, g, s, t):
        self._decay(p)
        b1, b2 = self.beta_1, self.beta_2
        b1_t = _keras_cast(b1) ** t
        b2_t = _keras_cast(b2) ** t
        lr_t = self.lr * math.sqrt(1 - b2_t) / (1 - b1_t)
        m = self._zeros(s, "momentum", p)
        m.add_((g - m) * (1 - b1))
        sq = self._zeros(s, "velocity", p)
        sq.add_((g * g - sq) * (1 - b2))
        if self.amsgrad:
            top = self._zeros(s, "velocity_hat", p)
            sq = torch.maximum(top, sq, out=top)
        p.sub_((m * lr_t) / (sq.sqrt() + self.epsilon))


class KerasAdamW(KerasAdam):
    """``keras.optimizers.AdamW``: Keras's Adam with the (always decoupled)
    weight decay on by default, ``weight_decay=0.004``."""

    def __init__(
        self,
        params: Sequence[torch.Tensor],
        learning_rate: float = 0.001,
        weight_decay: float = 0.004,
        beta_1: float = 0.9,
        beta_2: float = 0.999,
        epsilon: float = 1e-7,
        amsgrad: bool = False,
    ) -> None:
        super().__init__(
            params,
            learning_rate,
            beta_1,
            beta_2,
            epsilon,
            amsgrad,
            weight_decay,
        )
