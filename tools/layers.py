"""Layers with a forward and a backward pass, and a network built of them.

A multilayer perceptron alternates affine layers and element-wise
activations. For a batch ``A_0 = X`` of ``m`` rows, layer ``l`` computes::

    Z_l = A_{l-1} W_l + 1 b_l^T        Linear
    A_l = phi(Z_l)                     ReLU, Sigmoid, Tanh, GELU

Backpropagation walks the layers in reverse. Each ``backward`` takes the
gradient of the loss with respect to the layer's output and returns the
one with respect to its input (a vector-Jacobian product)::

    Linear:      dL/dW = A^T G,  dL/db = 1^T G,  dL/dA = G W^T
    activation:  dL/dZ = G * phi'(Z)            (entry by entry)

The names mirror PyTorch's ``nn.Linear``, ``nn.ReLU`` ... and
``nn.Sequential``. No autograd is used: the tests compare every gradient
with ``torch.autograd`` and every training step with ``torch.optim.SGD``.
"""

from __future__ import annotations

import functools
from contextlib import contextmanager
from typing import Any, Iterable, Iterator

import torch

from . import _validation as v
from . import functional as fn
from . import init as _init
from .linear_models import _is_keras, _WeightsAndBias
from .losses import CrossEntropyLoss, MSELoss, _Loss
from .training import EpochLog, training_loop

__all__ = ["Linear", "ReLU", "Sigmoid", "Tanh", "GELU", "Sequential"]


class _Layer:
    """What every layer shares: checked ``forward``/``backward`` around
    unchecked ``_forward``/``_backward``, and the memory between them."""

    def __init__(self) -> None:
        self._input: torch.Tensor | None = None
        self._out_shape: tuple[int, ...] | None = None
        self.training = True  # see train() and eval()
        # which network's forward the memory is from (None: the layer's
        # own forward, or none): see Sequential.backward
        self._kept_for: object | None = None

    def parameters(self) -> list[torch.Tensor]:
        """The tensors that training updates in place (none here)."""
        return []

    def named_parameters(self) -> list[tuple[str, torch.Tensor]]:
        """``(name, tensor)`` for each parameter."""
        return []

    def gradients(self) -> list[torch.Tensor]:
        """The gradients of the last ``backward``, in ``parameters()``'s
        order."""
        return []

    def train(self, mode: bool = True) -> _Layer:
        """Set training mode (``mode=False``: evaluation); return ``self``.

        Only ``Dropout`` and ``BatchNorm1d`` compute differently in the
        two modes, as in PyTorch; every layer keeps the flag
        ``training``."""
        if not isinstance(mode, bool):
            raise TypeError(
                f"mode must be True or False, got {mode!r} "
                f"({type(mode).__name__})"
            )
        self.training = mode
        return self

    def eval(self) -> _Layer:
        """Set evaluation mode, ``train(False)``; return ``self``."""
        return self.train(False)

    def _widths(self) -> tuple[int | None, int | None]:
        """``(n_in, n_out)``, the widths the layer takes and gives; ``None``
        for both where any width passes through unchanged (activations).
        ``Sequential`` chains and checks the widths through this."""
        return None, None

    def _forget(self) -> None:
        """Drop what the last forward and backward kept."""
        self._input, self._out_shape, self._kept_for = None, None, None

    def _check_input(self, x: Any, name: str) -> torch.Tensor:
        x = v.check_tensor(name, x)
        if not x.is_floating_point():
            raise TypeError(
                f"{name} must hold floating-point numbers, got {x.dtype}"
            )
        v.check_no_grad(name, x)
        v.check_finite(name, x)
        return x

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """The layer's output. Keeps what ``backward`` needs (the input;
        ReLU its output) until the next ``forward``; an output that
        overflows to inf or NaN is an error, and leaves the layer as it
        was."""
        x = self._check_input(x, "x")
        with _unchanged_on_error([self]):
            out = self._forward(x)
            _check_output(out, repr(self), x, self)
            self._kept_for = None
        return out

    __call__ = forward

    def backward(self, grad_output: torch.Tensor) -> torch.Tensor:
        """``dL/d(input)`` from ``grad_output = dL/d(output)``. A gradient
        that overflows to inf or NaN is an error, and leaves the layer as
        it was."""
        if self._input is None or self._out_shape is None:
            raise RuntimeError(
                f"{self!r}.backward() was called before forward(x): "
                "there is no input to differentiate at yet"
            )
        g = v.check_tensor("grad_output", grad_output)
        if tuple(g.shape) != self._out_shape:
            raise ValueError(
                f"grad_output must have the shape of the last output "
                f"{self._out_shape}, got shape {tuple(g.shape)}"
            )
        x = self._input
        v.check_like("grad_output", g, x.device, x.dtype, "the input")
        v.check_no_grad("grad_output", g)
        v.check_finite("grad_output", g)
        with _unchanged_on_error([self]):
            dx = self._backward(g)
            _check_gradients(dx, repr(self), g, self)
        return dx

    def _forward(self, x: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def _backward(self, g: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    # Linear and the activations also have ``_apply(x)``: the output alone,
    # with nothing kept for a backward pass (evaluation, as
    # ``torch.no_grad()`` keeps no graph). Their ``_forward`` keeps what
    # the backward pass needs and returns ``_apply(x)``.


# -- results checked before they are returned --------------------------
def _finite(t: torch.Tensor) -> bool:
    """Whether every entry of ``t`` is finite: one sum settles it unless
    the sum itself is inf or NaN (see ``_validation.check_finite``)."""
    return bool(torch.isfinite(t.sum())) or bool(torch.isfinite(t).all())


def _largest(name: str, t: torch.Tensor) -> str:
    return f"largest |{name}| is {float(t.abs().max()):.3g}"


def _check_output(
    out: torch.Tensor, where: str, x: torch.Tensor, layer: _Layer
) -> None:
    """``ValueError`` naming ``where`` if ``out`` holds inf or NaN."""
    if _finite(out):
        return
    named = layer.named_parameters()
    for name, p in named:
        if not _finite(p):
            raise ValueError(
                f"the output of {where} is inf or NaN because its {name} "
                "holds inf or NaN entries"
            )
    sizes = [_largest("input", x)] + [_largest(n, p) for n, p in named]
    raise ValueError(
        f"the output of {where} overflowed {out.dtype} to inf or NaN "
        f"({', '.join(sizes)}); scale the inputs or use a wider dtype"
    )


def _check_gradients(
    dx: torch.Tensor, where: str, g: torch.Tensor, layer: _Layer
) -> None:
    """``ValueError`` naming the gradient of ``where`` that holds inf or
    NaN after a backward pass that was given a finite ``g``."""
    names = [name for name, _ in layer.named_parameters()]
    grads = [("(input)", dx), *zip(names, layer.gradients())]
    for name, grad in grads:
        if not _finite(grad):
            raise ValueError(
                f"the gradient dL/d{name} of {where} overflowed "
                f"{grad.dtype} to inf or NaN ({_largest('grad_output', g)}"
                "); scale the loss (or the inputs) down or use a wider dtype"
            )


@contextmanager
def _unchanged_on_error(objects: Iterable[Any]) -> Iterator[None]:
    """Put the attributes of ``objects`` back if the block raises
    (anything, Ctrl-C included): a failed call changes nothing.

    A shallow copy of each ``vars(obj)`` is enough for what a forward or
    backward pass changes: it rebinds attributes (``_input``, ``dw``,
    batch norm's running statistics), and never writes into a parameter.
    A random generator of its own (``Dropout``'s) moves on in place, so
    its state is saved and put back too."""
    saved = [(obj, dict(vars(obj))) for obj in objects]
    generators = [
        (g, g.get_state())
        for obj in objects
        if isinstance(g := getattr(obj, "_generator", None), torch.Generator)
    ]
    try:
        yield
    except BaseException:
        for obj, state in saved:
            vars(obj).clear()
            vars(obj).update(state)
        for g, state in generators:
            g.set_state(state)
        raise


class Linear(_WeightsAndBias, _Layer):
    """An affine layer ``Z = X W + 1 b^T``, like ``torch.nn.Linear``.

    ``w`` has shape ``(n_in, n_out)`` (the transpose of ``nn.Linear``'s
    ``weight``, so that a batch multiplies from the left) and ``b`` shape
    ``(n_out,)``, both drawn from ``U(-1/sqrt(n_in), 1/sqrt(n_in))`` on
    the CPU in float64, then moved to ``device`` and cast to ``dtype``.
    ``init`` picks another scheme of :mod:`tools.init`:
    ``"xavier_uniform"``, ``"xavier_normal"``, ``"kaiming_uniform"`` or
    ``"kaiming_normal"`` draw ``w`` by their formula and start ``b`` at
    zero (as Keras's ``Dense`` does).
    After ``backward``, ``dw`` and ``db`` hold ``dL/dW`` and ``dL/db``.

    >>> layer = Linear(3, 2, dtype=torch.float64, seed=0)
    >>> layer.forward(torch.ones(4, 3, dtype=torch.float64)).shape
    torch.Size([4, 2])
    >>> layer.backward(torch.ones(4, 2, dtype=torch.float64)).shape
    torch.Size([4, 3])
    >>> layer.dw.shape, layer.db.shape
    (torch.Size([3, 2]), torch.Size([2]))
    """

    def __init__(
        self,
        n_in: int,
        n_out: int,
        *,
        init: str = "uniform",
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
        seed: int | None = None,
    ) -> None:
        super().__init__()
        self.n_in = v.check_int("n_in", n_in, 1)
        self.n_out = v.check_int("n_out", n_out, 1)
        self.init = _init.check_scheme(init)
        self.w, self.b = _init.initialize(
            init, self.n_in, self.n_out, device=device, dtype=dtype, seed=seed
        )
        self.dw: torch.Tensor | None = None
        self.db: torch.Tensor | None = None

    def __repr__(self) -> str:
        return f"Linear({self.n_in}, {self.n_out})"

    def named_parameters(self) -> list[tuple[str, torch.Tensor]]:
        """``[("w", w), ("b", b)]``."""
        return [("w", self.w), ("b", self.b)]

    def gradients(self) -> list[torch.Tensor]:
        """``[dw, db]`` from the last ``backward``."""
        if self.dw is None or self.db is None:
            raise RuntimeError(
                f"{self!r} has no gradients yet: call backward first"
            )
        return [self.dw, self.db]

    def _widths(self) -> tuple[int | None, int | None]:
        return self.n_in, self.n_out

    def _forget(self) -> None:
        super()._forget()
        self.dw = self.db = None

    def _check_input(self, x: Any, name: str) -> torch.Tensor:
        x = v.check_tensor(name, x)
        v.check_matrix(name, x, self.n_in, f"columns (n_in of {self!r})")
        v.check_like(name, x, self.device, self.dtype, repr(self))
        return super()._check_input(x, name)

    def _forward(self, x: torch.Tensor) -> torch.Tensor:
        self._input, self._out_shape = x, (x.shape[0], self.n_out)
        return self._apply(x)

    def _apply(self, x: torch.Tensor) -> torch.Tensor:
        """``Z = X W + 1 b^T``, in one fused operation."""
        return torch.addmm(self.b, x, self.w)

    def _backward(self, g: torch.Tensor) -> torch.Tensor:
        self._parameter_gradients(g)
        return g @ self.w.T  # G W^T

    def _parameter_gradients(self, g: torch.Tensor) -> None:
        # A^T G, computed as (G^T A)^T: the same sums, in the layout
        # that BLAS reduces fastest for a tall A (the transpose is a view)
        self.dw = torch.mm(g.T, self._input).T
        self.db = g.sum(dim=0)  # 1^T G


class _Activation(_Layer):
    """An element-wise activation ``A = phi(Z)``.

    Its Jacobian is diagonal (output ``ij`` depends on input ``ij``
    only), so the backward pass is ``G * phi'(Z)``, entry by entry.
    """

    def _phi(self, z: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def _phi_derivative(self, z: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"

    def _forward(self, z: torch.Tensor) -> torch.Tensor:
        self._input, self._out_shape = z, tuple(z.shape)
        return self._apply(z)

    def _apply(self, z: torch.Tensor) -> torch.Tensor:
        return self._phi(z)

    def _backward(self, g: torch.Tensor) -> torch.Tensor:
        return g * self._phi_derivative(self._input)


class ReLU(_Activation):
    """``max(z, 0)``; derivative 1 for ``z > 0``, else 0."""

    def _phi(self, z: torch.Tensor) -> torch.Tensor:
        return fn.relu(z)

    def _phi_derivative(self, z: torch.Tensor) -> torch.Tensor:
        return fn.relu_derivative(z)

    def _forward(self, z: torch.Tensor) -> torch.Tensor:
        # relu'(Z) is 1 exactly where Z > 0, that is where relu(Z) > 0:
        # the output tells the backward pass all it needs. So the layer
        # keeps the output where other activations keep their input, and
        # Z is freed now, as autograd frees it.
        out = self._apply(z)
        self._input, self._out_shape = out, tuple(z.shape)
        return out

    def _backward(self, g: torch.Tensor) -> torch.Tensor:
        # G * relu'(Z), with relu'(Z) = sign(relu(Z)): 1 where Z > 0, else
        # 0. Read off the kept output, it costs two float passes, about a
        # quarter of building and applying a boolean mask.
        return self._input.sign().mul_(g)


class Sigmoid(_Activation):
    """``1 / (1 + exp(-z))``; derivative ``sigma (1 - sigma)``."""

    def _phi(self, z: torch.Tensor) -> torch.Tensor:
        return fn.sigmoid(z)

    def _phi_derivative(self, z: torch.Tensor) -> torch.Tensor:
        return fn.sigmoid_derivative(z)


class Tanh(_Activation):
    """``tanh(z)``; derivative ``1 - tanh(z)^2``."""

    def _phi(self, z: torch.Tensor) -> torch.Tensor:
        return fn.tanh(z)

    def _phi_derivative(self, z: torch.Tensor) -> torch.Tensor:
        return fn.tanh_derivative(z)


class GELU(_Activation):
    """``z Phi(z)``, like ``torch.nn.GELU(approximate=...)``.

    ``approximate="none"`` is the exact form (with ``erf``),
    ``"tanh"`` the tanh approximation. Keras's ``"gelu"`` activation is
    the exact form, ``keras.ops.gelu`` the approximation.
    """

    def __init__(self, approximate: str = "none") -> None:
        super().__init__()
        fn._check_approximate(approximate)
        self.approximate = approximate

    def __repr__(self) -> str:
        if self.approximate == "none":
            return "GELU()"
        return f"GELU(approximate={self.approximate!r})"

    def _phi(self, z: torch.Tensor) -> torch.Tensor:
        return fn.gelu(z, self.approximate)

    def _phi_derivative(self, z: torch.Tensor) -> torch.Tensor:
        return fn.gelu_derivative(z, self.approximate)


@functools.cache
def _stock_forwards() -> tuple:
    """The ``_forward`` methods of the course's layers, whose ``_apply``
    computes the same output with nothing kept."""
    from .dropout import Dropout  # they import this module
    from .normalization import BatchNorm1d, LayerNorm

    return (
        Linear._forward,
        _Activation._forward,
        ReLU._forward,
        Dropout._forward,
        BatchNorm1d._forward,
        LayerNorm._forward,
    )


def _evaluate(layer: _Layer, x: torch.Tensor) -> torch.Tensor:
    """A layer's output for evaluation, with nothing kept where it can.

    The stock ``_forward`` methods return ``_apply(x)`` (in the layer's
    current mode; ``BatchNorm1d._apply`` leaves the running statistics
    as they are); a layer with a ``_forward`` of its own (a learner's
    subclass) is evaluated through it, so evaluation always computes
    what training computes.
    """
    if type(layer)._forward in _stock_forwards():
        return layer._apply(x)
    return layer._forward(x)


class Sequential:
    """Layers applied one after another, like ``torch.nn.Sequential``.

    ``forward`` runs the layers in order, ``backward`` in reverse (each
    layer's input gradient is the next one's ``grad_output``), and
    ``update(lr)`` takes one gradient-descent step on every parameter.
    ``predict`` gives the output with nothing kept for a backward pass.
    ``fit`` trains through the course's one loop,
    :func:`tools.training_loop`, with a loss from :mod:`tools.losses`.

    The widths must chain: each ``Linear``'s ``n_in`` (a
    ``BatchNorm1d``'s ``num_features``, a ``LayerNorm``'s
    ``normalized_shape``) equals the width the layers before it give
    (activations and ``Dropout`` keep the width), and all layers with
    parameters share one device and dtype. ``train()`` and ``eval()``
    set the mode of every layer (it matters to ``Dropout`` and
    ``BatchNorm1d``); ``fit`` trains in training mode and logs its
    losses in evaluation mode.

    Each place in the network needs a layer object of its own: a layer
    keeps the input of its last forward pass for its backward pass, so
    one object in two places (``Sequential(l1, relu, l2, relu, l3)``)
    is refused. One layer object may be part of two networks (a network
    made of the first layers of another, to look at its hidden
    activations, say); they then share its parameters, as PyTorch
    modules do, and ``backward`` refuses to run on a layer whose memory
    another network's ``forward`` has overwritten since.

    >>> net = Sequential(Linear(2, 4, seed=0), ReLU(), Linear(4, 1, seed=1))
    >>> net
    Sequential(Linear(2, 4), ReLU(), Linear(4, 1))
    >>> [name for name, _ in net.named_parameters()]
    ['0.w', '0.b', '2.w', '2.b']
    """

    # what training_loop's error suggests when given a Sequential
    _train_with = (
        "net.fit(x_train, y_train, epochs, lr, batch_size, "
        "loss=tools.MSELoss())"
    )

    def __init__(self, *layers: _Layer) -> None:
        if not layers:
            raise ValueError("Sequential needs at least one layer, got none")
        seen: dict[int, int] = {}
        for i, layer in enumerate(layers):
            if not isinstance(layer, _Layer):
                raise TypeError(
                    f"layer {i} must be a tools layer (Linear, ReLU, "
                    "Sigmoid, Tanh, GELU, Dropout, BatchNorm1d or "
                    f"LayerNorm), got {type(layer).__name__}"
                )
            if id(layer) in seen:
                raise ValueError(
                    f"layer {i} is layer {seen[id(layer)]} again (the same "
                    f"{layer!r} object): a layer keeps the input of its "
                    "last forward pass for backward, so each place needs "
                    f"a layer object of its own; create a new {layer!r} "
                    f"for layer {i}"
                )
            seen[id(layer)] = i
        self.layers = list(layers)
        self._n_out = self._chain_widths()
        self._check_one_device_and_dtype()
        self._linears = [m for m in self.layers if isinstance(m, Linear)]
        # the first layer that fixes the input's width checks x (width,
        # device, dtype, values) for the whole network
        self._entry = next(
            (m for m in self.layers if m._widths()[0] is not None),
            self.layers[0],
        )
        self._out_shape: tuple[int, ...] | None = None
        self._token: object | None = None  # tags the last forward's memory
        self.training = True  # see train() and eval()

    def _chain_widths(self) -> int | None:
        """The output width; ``ValueError`` where a width does not fit."""
        width: int | None = None
        source: tuple[int, _Layer] | None = None
        for i, layer in enumerate(self.layers):
            n_in, n_out = layer._widths()
            if n_in is not None and source is not None and n_in != width:
                j, prev = source
                raise ValueError(
                    f"layer {i} {layer!r} takes {n_in} inputs, "
                    f"but layer {j} {prev!r} gives {width}: "
                    "a shape that does not fit the next layer"
                )
            if n_out is not None:
                width, source = n_out, (i, layer)
        return width

    def _check_one_device_and_dtype(self) -> None:
        first: tuple[int, _Layer, torch.Tensor] | None = None
        for i, layer in enumerate(self.layers):
            params = layer.parameters()
            if not params:
                continue
            p = params[0]
            if first is None:
                first = (i, layer, p)
                continue
            j, prev, q = first
            if (p.device, p.dtype) != (q.device, q.dtype):
                raise ValueError(
                    f"layer {i} {layer!r} is on {p.device} with "
                    f"{p.dtype}, but layer {j} {prev!r} is on "
                    f"{q.device} with {q.dtype}: all layers with "
                    "parameters must share one device and dtype"
                )

    def __repr__(self) -> str:
        return f"Sequential({', '.join(map(repr, self.layers))})"

    # -- parameters ----------------------------------------------------
    def parameters(self) -> list[torch.Tensor]:
        """Every layer's parameters in order: ``[w_1, b_1, w_2, ...]``.

        These are the tensors ``update`` changes in place, so a training
        loop that saved them can put them back."""
        return [p for layer in self.layers for p in layer.parameters()]

    def named_parameters(self) -> list[tuple[str, torch.Tensor]]:
        """``("<index>.w", w)`` ..., named as ``nn.Sequential`` would
        (``"0.weight"`` there is ``"0.w"`` here)."""
        return [
            (f"{i}.{name}", p)
            for i, layer in enumerate(self.layers)
            for name, p in layer.named_parameters()
        ]

    def gradients(self) -> list[torch.Tensor]:
        """``[dw_1, db_1, ...]`` of the last ``backward``."""
        return [g for layer in self.layers for g in layer.gradients()]

    def buffers(self) -> list[torch.Tensor]:
        """The state that training changes besides the parameters: each
        ``BatchNorm1d``'s ``running_mean`` and ``running_var``, in order
        (as ``nn.Module.buffers()``, without ``num_batches_tracked``)."""
        return [
            t
            for layer in self.layers
            if callable(getattr(layer, "buffers", None))
            for t in layer.buffers()
        ]

    # -- modes ---------------------------------------------------------
    def train(self, mode: bool = True) -> Sequential:
        """Set every layer to training mode (``mode=False``: evaluation),
        as ``nn.Module.train``; return ``self``.

        ``Dropout`` drops and ``BatchNorm1d`` uses (and updates) the
        batch's statistics in training; in evaluation dropout is the
        identity and batch norm uses its running statistics. The other
        layers compute the same in both modes."""
        for layer in self.layers:
            layer.train(mode)  # checks mode first, so all or none change
        self.training = mode
        return self

    def eval(self) -> Sequential:
        """Set every layer to evaluation mode, ``train(False)``."""
        return self.train(False)

    # -- forward and backward ------------------------------------------
    def _check_input(self, x: Any, name: str) -> torch.Tensor:
        return self._entry._check_input(x, name)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """The network's output ``A_L``, for a backward pass to follow.

        Every layer keeps what its backward pass needs (its input; ReLU
        its output) until the next ``forward``, ``fit`` or a ``forward``
        of another network it is part of: for outputs alone use
        ``predict``, which keeps nothing. An output that overflows to inf
        or NaN is an error naming the layer, and leaves the network as it
        was."""
        x = self._check_input(x, "x")
        token = object()
        with _unchanged_on_error([self, *self.layers]):
            for i, layer in enumerate(self.layers):
                out = layer._forward(x)
                _check_output(out, f"layer {i} {layer!r}", x, layer)
                layer._kept_for = token
                x = out
            self._out_shape, self._token = tuple(x.shape), token
        return x

    __call__ = forward

    def predict(self, x: torch.Tensor) -> torch.Tensor:
        """The network's output for ``x``, with nothing kept for a
        backward pass (what ``nn.Sequential`` computes under
        ``torch.no_grad()``): each layer's output is freed once the next
        layer has read it, and the memory of an earlier ``forward`` stays
        as it was. ``x`` is checked as by ``forward``; an output that
        overflows to inf or NaN is an error naming the layer.

        It computes in the network's current mode, as ``nn.Sequential``
        does: after ``fit`` that is training mode, where ``Dropout``
        drops and ``BatchNorm1d`` uses the batch's statistics (without
        updating its running ones here); call ``eval()`` first to
        predict with dropout off and the running statistics."""
        x = self._check_input(x, "x")
        saved = [(layer, dict(vars(layer))) for layer in self.layers]
        try:
            for i, layer in enumerate(self.layers):
                out = _evaluate(layer, x)
                _check_output(out, f"layer {i} {layer!r}", x, layer)
                x = out
        finally:  # a learner's layer evaluated by its own _forward
            for layer, state in saved:
                vars(layer).clear()
                vars(layer).update(state)
        return x

    def backward(self, grad_output: torch.Tensor) -> torch.Tensor:
        """Backpropagate ``dL/d(output)``; return ``dL/dx``.

        Fills each ``Linear``'s ``dw`` and ``db`` on the way. A gradient
        that overflows to inf or NaN is an error naming the layer, and
        leaves the network as it was."""
        if self._out_shape is None:
            raise RuntimeError(
                "Sequential.backward() was called before forward(x): "
                "there is nothing to backpropagate through yet"
            )
        g = v.check_tensor("grad_output", grad_output)
        if tuple(g.shape) != self._out_shape:
            raise ValueError(
                "grad_output must have the shape of the last output "
                f"{self._out_shape}, got shape {tuple(g.shape)}"
            )
        x = self.layers[-1]._input
        v.check_like("grad_output", g, x.device, x.dtype, "the output")
        v.check_no_grad("grad_output", g)
        v.check_finite("grad_output", g)
        for i, layer in enumerate(self.layers):
            if getattr(layer, "_kept_for", None) is not self._token:
                raise RuntimeError(
                    f"layer {i} {layer!r} has run forward since this "
                    "network's forward (it is part of another network too"
                    ", or was called on its own), so it no longer holds "
                    "this network's input: call forward(x) on this "
                    "network again, then backward"
                )
        with _unchanged_on_error(self.layers):
            for i in reversed(range(len(self.layers))):
                layer, g_out = self.layers[i], g
                g = layer._backward(g_out)
                _check_gradients(g, f"layer {i} {layer!r}", g_out, layer)
        return g

    def update(self, lr: float) -> None:
        """One gradient-descent step, in place: ``p -= lr * dL/dp`` for
        every parameter, with the gradients of the last ``backward``.

        A step that would make a parameter inf or NaN (an ``lr`` too
        large for the gradients) is an error, and changes nothing."""
        lr = v.check_positive_float("lr", lr)
        grads = self.gradients()  # raises before backward
        named = self.named_parameters()
        new = [p.add(g, alpha=-lr) for (_, p), g in zip(named, grads)]
        for (name, p), g, p_new in zip(named, grads, new):
            if not _finite(p_new):
                raise ValueError(
                    f"update(lr={lr:g}) would make {name} inf or NaN "
                    f"({_largest(name, p)}, {_largest('dL/d' + name, g)})"
                    ": lr is too large for these gradients; the "
                    "parameters are unchanged"
                )
        for (_, p), p_new in zip(named, new):
            p.copy_(p_new)

    def _forget(self) -> None:
        """Drop what the last forward and backward kept, in every layer."""
        for layer in self.layers:
            layer._forget()
        self._out_shape = self._token = None

    def _forward(self, x: torch.Tensor) -> torch.Tensor:
        for layer in self.layers:
            x = layer._forward(x)
        self._out_shape = tuple(x.shape)
        return x

    def _apply(self, x: torch.Tensor) -> torch.Tensor:
        """The output, with nothing kept (for evaluation)."""
        for layer in self.layers:
            x = _evaluate(layer, x)
        return x

    def _backward(
        self, g: torch.Tensor, input_grad: bool = True
    ) -> torch.Tensor | None:
        """Backpropagate; with ``input_grad=False`` (training) a first
        ``Linear`` skips ``dL/dx = G W^T``, which only a caller of
        ``backward`` needs, as autograd skips it for an input that does
        not require grad. A layer that overrides ``_backward`` (a learner's
        own, say) is always called through it."""
        first, *rest = self.layers
        for layer in reversed(rest):
            g = layer._backward(g)
        own_backward = type(first)._backward is Linear._backward
        if not input_grad and own_backward:
            first._parameter_gradients(g)
            return None
        return first._backward(g)

    def _update(self, lr: float, grads: list[torch.Tensor]) -> None:
        for p, grad in zip(self.parameters(), grads):
            p.add_(grad, alpha=-lr)

    # -- training ------------------------------------------------------
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
        loss: MSELoss | CrossEntropyLoss,
        verbose: bool = True,
        optimizer: Any = None,
        scheduler: Any = None,
    ) -> list[EpochLog]:
        """Train by minibatch gradient descent on ``loss``.

        With ``optimizer`` (a ``tools`` optimiser over ``parameters()``,
        such as ``tools.Adam(net.parameters())``) pass ``lr=None``; a
        ``scheduler`` over it steps once per epoch.

        ``loss`` is a ``tools.MSELoss()`` or a ``tools.CrossEntropyLoss()``
        (then the last layer's outputs are logits, the targets one-hot
        or probability rows, and the log shows the validation accuracy).
        The network and loss are handed to :func:`tools.training_loop` as
        one trainable object, so batches, order, checks, logs and the
        restore-on-failure are those of every other model of the course,
        and of ``tools.fit_torch(nn.Sequential(...), ...,
        loss_fn=nn.MSELoss() or nn.CrossEntropyLoss())``.

        The steps run in training mode (dropout drops, batch norm uses
        and updates the batch's statistics) and the logged losses are
        computed in evaluation mode (no dropout, the running statistics),
        as ``fit_torch`` does with ``model.train()`` and ``model.eval()``;
        the network is left in training mode (unless ``epochs`` is 0:
        then nothing changes). A ``BatchNorm1d`` refuses
        a minibatch of one row in training, so ``batch_size`` must leave
        every minibatch at least two rows.

        When it returns, the network and the loss keep nothing of the
        data (no batch, no activation, no gradient: ``backward`` needs a
        new ``forward`` first), only the trained parameters (and running
        statistics). A call that raises (Ctrl-C included) leaves the
        network (modes, running statistics and dropout's generators
        included) and the loss as they were.
        """
        trainable = _Trainable(self, loss)
        self._check_minibatch_rows(x_train, batch_size)
        with _unchanged_on_error([self, *self.layers, loss]):
            if isinstance(epochs, int) and epochs > 0:  # else no change
                self.train()
            history = training_loop(
                trainable,
                x_train,
                y_train,
                epochs,
                lr,
                batch_size,
                x_valid,
                y_valid,
                verbose=verbose,
                optimizer=optimizer,
                scheduler=scheduler,
            )
        self._forget()
        loss._output = loss._target = None  # the last batch's
        return history

    def _check_minibatch_rows(self, x: Any, batch_size: Any) -> None:
        """``ValueError`` naming ``batch_size`` if a minibatch of ``x``
        would have one row and a batch norm is to train on it (other bad
        values are left to ``training_loop``'s checks)."""
        from .normalization import BatchNorm1d  # it imports this module

        norms = [
            (i, m)
            for i, m in enumerate(self.layers)
            if isinstance(m, BatchNorm1d)
        ]
        if not norms or not isinstance(x, torch.Tensor) or x.dim() != 2:
            return
        if isinstance(batch_size, bool) or not isinstance(batch_size, int):
            return
        m = x.shape[0]
        if batch_size < 1 or m == 0:
            return
        if batch_size == 1 or m % batch_size == 1:
            i, layer = norms[0]
            raise ValueError(
                f"batch_size={batch_size} leaves a minibatch of 1 row of "
                f"the {m} rows of x_train, which layer {i} {layer!r} "
                "refuses in training (a batch variance needs at least 2 "
                "rows); pick a batch_size that leaves every minibatch at "
                "least 2 rows"
            )

    # -- copying from PyTorch and Keras --------------------------------
    def layout(self) -> list[str]:
        """The layers as ``repr`` strings, what ``copy_params`` compares."""
        return [repr(layer) for layer in self.layers]

    def copy_params(self, model: Any) -> None:
        """Copy the parameters (and batch norm's running statistics) from a
        framework's network of the same layout.

        Accepted: a ``torch.nn.Sequential`` of ``nn.Linear`` (with bias),
        ``nn.ReLU``, ``nn.Sigmoid``, ``nn.Tanh``, ``nn.GELU``,
        ``nn.Dropout``, ``nn.BatchNorm1d`` and ``nn.LayerNorm`` modules in
        the order of ``self.layers``; or a Keras ``Sequential`` of
        ``Dense`` layers (with bias; ``activation`` ``None``/``"linear"``,
        ``"relu"``, ``"sigmoid"``, ``"tanh"`` or ``"gelu"``),
        ``Activation`` layers of those names, ``Dropout``,
        ``BatchNormalization`` and ``LayerNormalization``. A ``Dense`` with
        an activation counts as ``Linear`` followed by that activation, and
        Keras's ``"gelu"`` (exact, with ``erf``) as ``GELU()``.
        ``nn.Linear``'s weight ``(out, in)``
        is transposed; Keras kernels are ``(in, out)`` like ``w``.

        The settings must match too, as the layouts show them: ``p`` of a
        dropout (Keras's ``rate``), ``eps`` (Keras's ``epsilon``, 1e-3 by
        default where PyTorch's is 1e-5) and batch norm's ``momentum``
        (PyTorch's is ours; Keras's weighs the old value, so its
        ``BatchNormalization(momentum=0.99)`` is our ``momentum=0.01``).
        A mismatch is refused, not converted. Keras's ``moving_variance``
        is copied into ``running_var`` as it is, but Keras keeps the
        biased batch variance there and we (as PyTorch) the unbiased one,
        so the two drift apart in further training.

        The values are copied in place (``parameters()`` keeps its
        tensors) and only after the whole layout has been checked.
        """
        if isinstance(model, torch.nn.Sequential):
            layout, values = _torch_layout(model)
        elif _is_keras(model):
            layout, values = _keras_layout(model)
        else:
            raise TypeError(
                "model must be a torch.nn.Sequential or a Keras "
                f"Sequential, got {type(model).__name__}"
            )
        if layout != self.layout():
            raise ValueError(
                "model must have the layout of this Sequential, "
                f"[{', '.join(self.layout())}], got [{', '.join(layout)}]"
            )
        with_values = [m for m in self.layers if m.parameters()]
        new = []
        for layer, entries in zip(with_values, values):
            for attribute, label, value in entries:
                t = torch.as_tensor(value)
                t = t.to(device=layer.device, dtype=layer.dtype)
                v.check_finite(f"the {label} of {layer!r}", t)
                if attribute == "running_var" and float(t.amin()) < 0:
                    raise ValueError(
                        f"the {label} of {layer!r} must be >= 0, got "
                        f"{float(t.amin()):.6g}"
                    )
                new.append((layer, attribute, t))
        with torch.no_grad():
            for layer, attribute, t in new:
                getattr(layer, attribute).copy_(t)


_TORCH_ACTIVATIONS = {
    torch.nn.ReLU: ReLU,
    torch.nn.Sigmoid: Sigmoid,
    torch.nn.Tanh: Tanh,
}


def _torch_layout(model: torch.nn.Sequential) -> tuple[list[str], list]:
    """Our layout strings of an ``nn.Sequential``, and for each layer with
    parameters its ``[(attribute, framework's name, values), ...]``."""
    from . import dropout, normalization  # they import this module

    layout, values = [], []
    for module in model:
        if isinstance(module, torch.nn.Linear):
            if module.bias is None:
                raise ValueError(f"{module} must have a bias")
            n_in, n_out = module.in_features, module.out_features
            layout.append(f"Linear({n_in}, {n_out})")
            values.append(
                [
                    ("w", "weight", module.weight.detach().T),
                    ("b", "bias", module.bias.detach()),
                ]
            )
        elif isinstance(module, torch.nn.GELU):
            layout.append(repr(GELU(module.approximate)))
        elif type(module) in _TORCH_ACTIVATIONS:
            layout.append(repr(_TORCH_ACTIVATIONS[type(module)]()))
        else:
            entry = normalization._torch_entry(module)
            entry = entry or dropout._torch_entry(module)
            if entry is None:
                raise TypeError(
                    "model may hold nn.Linear, nn.ReLU, nn.Sigmoid, nn.Tanh, "
                    "nn.GELU, nn.Dropout, nn.BatchNorm1d and nn.LayerNorm "
                    f"modules only, got {type(module).__name__}"
                )
            layout.append(entry[0])
            if entry[1]:
                values.append(entry[1])
    return layout, values


_KERAS_ACTIVATIONS = {
    "relu": "ReLU()",
    "sigmoid": "Sigmoid()",
    "tanh": "Tanh()",
    "gelu": "GELU()",  # keras.activations.gelu is exact by default
}


def _keras_activation(layer: Any) -> str | None:
    name = getattr(layer.activation, "__name__", repr(layer.activation))
    if name == "linear":
        return None
    if name not in _KERAS_ACTIVATIONS:
        raise TypeError(
            f"the Keras layer {layer.name!r} has activation {name!r}; "
            "accepted: None/'linear', 'relu', 'sigmoid', 'tanh', 'gelu'"
        )
    return _KERAS_ACTIVATIONS[name]


def _keras_layout(model: Any) -> tuple[list[str], list]:
    """Our layout strings of a Keras ``Sequential``, and for each layer
    with parameters its ``[(attribute, framework's name, values), ...]``."""
    import keras  # only reached when a Keras object was passed in

    from . import dropout, normalization  # they import this module

    if not isinstance(model, keras.Sequential):
        raise TypeError(
            f"model must be a Keras Sequential, got {type(model).__name__}"
        )
    layout, values = [], []
    for layer in model.layers:
        if isinstance(layer, keras.layers.Dense):
            if not layer.built or not layer.use_bias:
                raise ValueError(
                    f"the Dense layer {layer.name!r} must be built (have "
                    "weights) and use a bias"
                )
            kernel = layer.kernel.numpy()
            layout.append(f"Linear({kernel.shape[0]}, {kernel.shape[1]})")
            values.append(
                [("w", "weight", kernel), ("b", "bias", layer.bias.numpy())]
            )
            activation = _keras_activation(layer)
        elif isinstance(layer, keras.layers.Activation):
            activation = _keras_activation(layer)
        else:
            entry = normalization._keras_entry(layer)
            entry = entry or dropout._keras_entry(layer)
            if entry is None:
                raise TypeError(
                    "model may hold Dense, Activation, Dropout, "
                    "BatchNormalization and LayerNormalization layers "
                    f"only, got {type(layer).__name__} ({layer.name!r})"
                )
            layout.append(entry[0])
            if entry[1]:
                values.append(entry[1])
            activation = None
        if activation is not None:
            layout.append(activation)
    return layout, values


class _Trainable:
    """A ``Sequential`` and its loss, seen as one model by
    :func:`tools.training_loop` (the ``Trainable`` protocol)."""

    def __init__(self, net: Sequential, loss: Any) -> None:
        if not isinstance(loss, _Loss):
            hint = ""
            if isinstance(loss, torch.nn.Module):
                hint = "; use tools.MSELoss() or tools.CrossEntropyLoss()"
            raise TypeError(
                "loss must be a tools.MSELoss() or tools.CrossEntropyLoss()"
                f", got {type(loss).__name__}{hint}"
            )
        if not net.parameters():
            raise ValueError(
                "a Sequential without a Linear layer has nothing to train"
            )
        self.net, self.loss = net, loss
        self.loss_name = loss.name

    def parameters(self) -> list[torch.Tensor]:
        """The parameters and the running statistics: what training
        changes, and what the loop puts back if it fails."""
        return self.net.parameters() + self.net.buffers()

    def _check_data(
        self, x: Any, y: Any, x_name: str, y_name: str
    ) -> tuple[torch.Tensor, torch.Tensor]:
        x = self.net._check_input(x, x_name)
        p = self.net.parameters()[0]  # all share one device and dtype
        y = v.check_tensor(y_name, y)
        v.check_matrix(y_name, y, self.net._n_out, "columns (the outputs)")
        v.check_like(y_name, y, p.device, p.dtype, "the network")
        v.check_no_grad(y_name, y)
        v.check_finite(y_name, y)
        if isinstance(self.loss, CrossEntropyLoss):
            v.check_probability_rows(y_name, y)
        v.check_same_rows(x_name, x, y_name, y)
        return x, y

    def _step(
        self,
        x: torch.Tensor,
        y: torch.Tensor,
        lr: float | None,
        optimizer: Any = None,
    ) -> torch.Tensor:
        loss = self.loss._forward(self.net._forward(x), y)
        self.net._backward(self.loss._backward(), input_grad=False)
        if optimizer is not None:  # a tools optimiser over parameters()
            optimizer.step(self.net.gradients())
        else:
            self.net._update(lr, self.net.gradients())
        return loss

    def _scores(
        self, x: torch.Tensor, y: torch.Tensor, *, accuracy: bool = True
    ) -> tuple[float, float | None]:
        # Nothing is kept for a backward pass: the activations of the
        # whole set are freed as soon as the next layer has read them.
        # In evaluation mode: no dropout, batch norm's running statistics.
        with _evaluation_mode(self.net):
            out = self.net._apply(x)
        if type(self.loss)._forward is _Loss._forward:
            loss = float(self.loss._value(out, y))
        else:  # a loss with a _forward of its own is evaluated by it
            loss = float(self.loss._forward(out, y))
        if accuracy and isinstance(self.loss, CrossEntropyLoss):
            hits = out.argmax(dim=1) == y.argmax(dim=1)
            return loss, float(hits.double().mean())
        return loss, None

    def _explain_divergence(self, x: torch.Tensor) -> None:
        with _evaluation_mode(self.net):
            for i, layer in enumerate(self.net.layers):
                x = _evaluate(layer, x)
                if not bool(torch.isfinite(x).all()):
                    raise ValueError(
                        f"the output of layer {i} {layer!r} overflowed "
                        f"{x.dtype} on x_train; scale the inputs or use a "
                        "wider dtype"
                    )


@contextmanager
def _evaluation_mode(net: Sequential) -> Iterator[None]:
    """Every layer of ``net`` in evaluation mode for the block, then each
    back in the mode it had."""
    modes = [getattr(layer, "training", True) for layer in net.layers]
    for layer in net.layers:
        layer.training = False
    try:
        yield
    finally:
        for layer, mode in zip(net.layers, modes):
            layer.training = mode
