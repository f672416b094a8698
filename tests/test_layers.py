"""Unit tests of the layers, losses and network of chapter 3 (no autograd
inside tools; autograd is the reference here).

Covered, in float64:

* every layer's forward and backward (input gradient, ``dw``/``db``)
  against ``torch.autograd`` and ``torch.nn``, several sizes and batch
  size 1, each activation (with values around the kinks);
* the losses' forward and ``backward()`` against ``nn.MSELoss`` and
  ``nn.CrossEntropyLoss``, also for logits of +-1e4;
* whole networks: every parameter gradient and the input gradient;
* SGD trajectories: ``update`` step by step against ``torch.optim.SGD``,
  and ``fit`` against ``tools.fit_torch`` entry by entry (MSE and CE,
  partial last batch), restore on divergence;
* ``copy_params`` from ``nn.Sequential``; every rejected input, with the
  message checked.
"""

from __future__ import annotations

import gc
import math
import re
import weakref

import pytest
import torch
from torch import nn

import tools
from tools import functional as fn

F64 = torch.float64
TOL = 1e-12

ACTIVATIONS = [
    (tools.ReLU, nn.ReLU),
    (tools.Sigmoid, nn.Sigmoid),
    (tools.Tanh, nn.Tanh),
    (lambda: tools.GELU(), lambda: nn.GELU()),
    (lambda: tools.GELU("tanh"), lambda: nn.GELU(approximate="tanh")),
]
ACT_IDS = ["relu", "sigmoid", "tanh", "gelu", "gelu-tanh"]


def assert_close(actual, expected, tol: float = TOL) -> None:
    err = tools.max_relative_error(actual, expected)
    assert err <= tol, f"max relative error {err:.3g} > {tol:g}"


def randn(*shape: int, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.randn(*shape, generator=g, dtype=F64)


def torch_twin(net: tools.Sequential) -> nn.Sequential:
    """An ``nn.Sequential`` with the layout and the parameters of ``net``."""
    modules = []
    for layer in net.layers:
        if isinstance(layer, tools.Linear):
            lin = nn.Linear(layer.n_in, layer.n_out, dtype=F64)
            with torch.no_grad():
                lin.weight.copy_(layer.w.T)
                lin.bias.copy_(layer.b)
            modules.append(lin)
        elif isinstance(layer, tools.GELU):
            modules.append(nn.GELU(approximate=layer.approximate))
        else:
            kind = {
                tools.ReLU: nn.ReLU,
                tools.Sigmoid: nn.Sigmoid,
                tools.Tanh: nn.Tanh,
            }[type(layer)]
            modules.append(kind())
    return nn.Sequential(*modules)


def make_net(widths, act=tools.Tanh, seed=0) -> tools.Sequential:
    layers = []
    for i, (a, b) in enumerate(zip(widths[:-1], widths[1:])):
        layers.append(tools.Linear(a, b, dtype=F64, seed=seed + i))
        if i < len(widths) - 2:
            layers.append(act())
    return tools.Sequential(*layers)


# -- single layers ---------------------------------------------------------
@pytest.mark.parametrize("m,n_in,n_out", [(1, 1, 1), (1, 4, 3), (7, 3, 5)])
def test_linear_forward_and_backward_match_autograd(m, n_in, n_out):
    layer = tools.Linear(n_in, n_out, dtype=F64, seed=m + n_in)
    x, g = randn(m, n_in, seed=1), randn(m, n_out, seed=2)
    xr = x.clone().requires_grad_()
    wr, br = layer.w.clone().requires_grad_(), layer.b.clone().requires_grad_()
    out = xr @ wr + br
    out.backward(g)
    assert_close(layer.forward(x), out.detach())
    assert_close(layer.backward(g), xr.grad)
    assert_close(layer.dw, wr.grad)
    assert_close(layer.db, br.grad)


@pytest.mark.parametrize("make,ref", ACTIVATIONS, ids=ACT_IDS)
@pytest.mark.parametrize("shape", [(1, 1), (1, 6), (9, 4)])
def test_activation_forward_and_backward_match_autograd(make, ref, shape):
    layer = make()
    z = randn(*shape, seed=3) * 3
    z[0, 0] = 0.5  # away from ReLU's kink, where the derivative is a choice
    g = randn(*shape, seed=4)
    zr = z.clone().requires_grad_()
    out = ref()(zr)
    out.backward(g)
    assert_close(layer.forward(z), out.detach())
    assert_close(layer.backward(g), zr.grad)


@pytest.mark.parametrize("make,ref", ACTIVATIONS, ids=ACT_IDS)
def test_activation_is_stable_for_large_inputs(make, ref):
    z = torch.tensor([[-1e4, -50.0, 0.0, 50.0, 1e4]], dtype=F64)
    layer = make()
    out = layer.forward(z)
    grad = layer.backward(torch.ones_like(z))
    assert torch.isfinite(out).all() and torch.isfinite(grad).all()
    zr = z.clone().requires_grad_()
    ref()(zr).sum().backward()
    assert_close(out, ref()(z))
    assert_close(grad, zr.grad)


def test_relu_derivative_at_zero_is_zero_like_pytorch():
    z = torch.zeros(1, 3, dtype=F64, requires_grad=True)
    torch.relu(z).sum().backward()
    assert torch.equal(fn.relu_derivative(z.detach()), z.grad)


# -- losses -------------------------------------------------------------------
@pytest.mark.parametrize("m,c", [(1, 1), (6, 3)])
def test_mse_loss_matches_nn_mseloss(m, c):
    out, y = randn(m, c, seed=5), randn(m, c, seed=6)
    loss = tools.MSELoss()
    outr = out.clone().requires_grad_()
    ref = nn.MSELoss()(outr, y)
    ref.backward()
    assert_close(loss.forward(out, y), ref.detach())
    assert_close(loss.backward(), outr.grad)


@pytest.mark.parametrize("scale", [1.0, 1e4])
@pytest.mark.parametrize("soft", [False, True])
def test_cross_entropy_loss_matches_nn_crossentropy(scale, soft):
    z = randn(5, 3, seed=7) * scale
    if soft:
        y = torch.softmax(randn(5, 3, seed=8), dim=1)
    else:
        y = nn.functional.one_hot(torch.tensor([0, 2, 1, 1, 0]), 3).double()
    zr = z.clone().requires_grad_()
    ref = nn.CrossEntropyLoss()(zr, y)
    ref.backward()
    loss = tools.CrossEntropyLoss()
    value = loss.forward(z, y)
    assert math.isfinite(float(value))
    assert_close(value, ref.detach())
    assert_close(loss.backward(), zr.grad)


# -- whole networks -----------------------------------------------------------
@pytest.mark.parametrize(
    "act", [tools.ReLU, tools.Sigmoid, tools.Tanh, tools.GELU], ids=ACT_IDS[:4]
)
@pytest.mark.parametrize("m", [1, 8])
def test_network_gradients_match_autograd(act, m):
    net = make_net([3, 6, 5, 2], act, seed=m)
    ref = torch_twin(net)
    x, y = randn(m, 3, seed=9), randn(m, 2, seed=10)
    loss = tools.MSELoss()
    value = loss.forward(net.forward(x), y)
    dx = net.backward(loss.backward())
    xr = x.clone().requires_grad_()
    ref_value = nn.MSELoss()(ref(xr), y)
    ref_value.backward()
    assert_close(value, ref_value.detach())
    assert_close(dx, xr.grad)
    for (name, _), g, p in zip(
        net.named_parameters(), net.gradients(), ref.parameters()
    ):
        assert_close(g, p.grad.T if name.endswith("w") else p.grad)


def test_update_steps_match_torch_sgd():
    net = make_net([2, 8, 8, 1], tools.ReLU, seed=3)
    ref = torch_twin(net)
    opt = torch.optim.SGD(ref.parameters(), lr=0.05)
    x, y = randn(10, 2, seed=11), randn(10, 1, seed=12)
    loss = tools.MSELoss()
    for batch in tools.minibatches(10, 4):
        loss.forward(net.forward(x[batch]), y[batch])
        net.backward(loss.backward())
        net.update(0.05)
        opt.zero_grad()
        nn.MSELoss()(ref(x[batch]), y[batch]).backward()
        opt.step()
        for (name, p), q in zip(net.named_parameters(), ref.parameters()):
            assert_close(p, q.detach().T if name.endswith("w") else q)


def assert_same_history(ours, theirs):
    assert len(ours) == len(theirs)
    for a, b in zip(ours, theirs):
        assert (a.epoch, a.loss) == (b.epoch, b.loss)
        for key in ("train_loss", "valid_loss", "batch_loss"):
            assert_close(getattr(a, key), getattr(b, key))
        assert a.valid_acc == b.valid_acc


def test_fit_mse_matches_fit_torch_entry_by_entry(capsys):
    net = make_net([1, 16, 16, 1], tools.Tanh, seed=4)
    ref = torch_twin(net)
    x = torch.linspace(-2, 2, 50, dtype=F64)[:, None]
    y = torch.sin(2 * x)
    ours = net.fit(x, y, 5, 0.1, 16, x[::3], y[::3], loss=tools.MSELoss())
    printed_ours = capsys.readouterr().out
    theirs = tools.fit_torch(
        ref, x, y, 5, 0.1, 16, x[::3], y[::3], loss_fn=nn.MSELoss()
    )
    assert capsys.readouterr().out == printed_ours
    assert_same_history(ours, theirs)
    assert "train MSE" in printed_ours
    for (name, p), q in zip(net.named_parameters(), ref.parameters()):
        assert_close(p, q.detach().T if name.endswith("w") else q)


def test_fit_cross_entropy_matches_fit_torch_with_accuracy():
    net = make_net([4, 10, 3], tools.ReLU, seed=5)
    ref = torch_twin(net)
    x = randn(40, 4, seed=13)
    y = nn.functional.one_hot((x[:, 0] > 0).long() + (x[:, 1] > 1), 3)
    y = y.double()
    ours = net.fit(
        x, y, 4, 0.5, 15, x, y, loss=tools.CrossEntropyLoss(), verbose=False
    )
    theirs = tools.fit_torch(ref, x, y, 4, 0.5, 15, x, y, verbose=False)
    assert_same_history(ours, theirs)
    assert ours[-1].valid_acc is not None and ours[0].loss == "CE"


def test_fit_restores_parameters_when_training_diverges():
    net = make_net([2, 4, 1], tools.ReLU, seed=6)
    start = [p.clone() for p in net.parameters()]
    x, y = randn(8, 2, seed=14) * 100, randn(8, 1, seed=15)
    with pytest.raises(ValueError, match="training diverged"):
        net.fit(x, y, 50, 10.0, 4, loss=tools.MSELoss(), verbose=False)
    for p, p0 in zip(net.parameters(), start):
        assert torch.equal(p, p0)


def test_copy_params_from_nn_sequential_copies_in_place():
    net = make_net([3, 4, 2], tools.Sigmoid, seed=7)
    ref = nn.Sequential(nn.Linear(3, 4), nn.Sigmoid(), nn.Linear(4, 2))
    ref = ref.double()
    tensors = net.parameters()
    net.copy_params(ref)
    assert all(a is b for a, b in zip(tensors, net.parameters()))
    x = randn(5, 3, seed=16)
    assert_close(net.forward(x), ref(x).detach())


def test_float32_network_runs_in_float32():
    net = tools.Sequential(
        tools.Linear(2, 3, dtype=torch.float32, seed=0), tools.ReLU()
    )
    out = net.forward(torch.ones(4, 2))
    assert out.dtype == torch.float32


# -- bad input ---------------------------------------------------------------
def test_sequential_rejects_widths_that_do_not_chain():
    with pytest.raises(
        ValueError,
        match=r"layer 2 Linear\(5, 1\) takes 5 "
        r"inputs, but layer 0 Linear\(3, 4\) gives 4",
    ):
        tools.Sequential(tools.Linear(3, 4), tools.ReLU(), tools.Linear(5, 1))


def test_sequential_rejects_mixed_dtypes_and_non_layers():
    with pytest.raises(ValueError, match="share one device and dtype"):
        tools.Sequential(
            tools.Linear(3, 4, dtype=torch.float32),
            tools.Linear(4, 1, dtype=F64),
        )
    with pytest.raises(TypeError, match="layer 1 must be a tools layer"):
        tools.Sequential(tools.Linear(3, 4), nn.ReLU())
    with pytest.raises(ValueError, match="at least one layer"):
        tools.Sequential()


@pytest.mark.parametrize(
    "x,error,match",
    [
        (torch.ones(4, 2, dtype=F64), ValueError, r"must have 3 columns"),
        (torch.ones(3, dtype=F64), ValueError, r"2-D tensor"),
        (
            torch.ones(4, 3),
            ValueError,
            r"dtype torch.float32 but "
            r"Linear\(3, 4\) has dtype torch.float64",
        ),
        (
            torch.full((2, 3), math.nan, dtype=F64),
            ValueError,
            "must be finite",
        ),
        ([[1.0, 2.0, 3.0]], TypeError, "must be a torch.Tensor"),
        (
            torch.ones(2, 3, dtype=F64, requires_grad=True),
            ValueError,
            "requires grad",
        ),
    ],
    ids=["columns", "1-D", "dtype", "nan", "list", "grad"],
)
def test_forward_rejects_bad_input(x, error, match):
    net = make_net([3, 4, 1], tools.ReLU)
    with pytest.raises(error, match=match):
        net.forward(x)
    with pytest.raises(error, match=match):
        net.layers[0].forward(x)


def test_backward_before_forward_and_update_before_backward():
    with pytest.raises(
        RuntimeError,
        match=r"backward\(\) was called "
        r"before forward",
    ):
        tools.ReLU().backward(torch.ones(2, 2, dtype=F64))
    with pytest.raises(RuntimeError, match="before forward"):
        tools.Linear(2, 2, dtype=F64).backward(torch.ones(2, 2, dtype=F64))
    net = make_net([2, 3, 1], tools.ReLU)
    with pytest.raises(RuntimeError, match="before forward"):
        net.backward(torch.ones(2, 1, dtype=F64))
    with pytest.raises(RuntimeError, match="no gradients yet"):
        net.update(0.1)
    with pytest.raises(RuntimeError, match="before forward"):
        tools.MSELoss().backward()


def test_backward_rejects_bad_grad_output():
    net = make_net([2, 3, 1], tools.ReLU)
    net.forward(torch.ones(4, 2, dtype=F64))
    with pytest.raises(
        ValueError,
        match=r"shape of the last output "
        r"\(4, 1\), got shape \(4, 2\)",
    ):
        net.backward(torch.ones(4, 2, dtype=F64))
    with pytest.raises(ValueError, match="grad_output must be finite"):
        net.backward(torch.full((4, 1), math.inf, dtype=F64))
    with pytest.raises(ValueError, match="grad_output has dtype"):
        net.backward(torch.ones(4, 1))


def test_losses_reject_bad_targets():
    out = torch.zeros(3, 2, dtype=F64)
    with pytest.raises(
        ValueError,
        match=r"target must have the shape of "
        r"output \(3, 2\), got shape \(3,\)",
    ):
        tools.MSELoss().forward(out, torch.zeros(3, dtype=F64))
    with pytest.raises(ValueError, match="probability rows"):
        tools.CrossEntropyLoss().forward(out, torch.ones(3, 2, dtype=F64))
    with pytest.raises(ValueError, match="output must be finite"):
        tools.MSELoss().forward(out + math.nan, out)


def test_fit_rejects_bad_loss_and_targets():
    net = make_net([2, 3, 2], tools.ReLU)
    x, y = torch.ones(4, 2, dtype=F64), torch.ones(4, 2, dtype=F64) / 2
    with pytest.raises(TypeError, match="use tools.MSELoss"):
        net.fit(x, y, 1, 0.1, 2, loss=nn.MSELoss())
    with pytest.raises(ValueError, match="y_train must have 2 columns"):
        net.fit(x, y[:, :1], 1, 0.1, 2, loss=tools.MSELoss())
    with pytest.raises(ValueError, match="same number of samples"):
        net.fit(x, y[:3], 1, 0.1, 2, loss=tools.MSELoss())
    with pytest.raises(ValueError, match="y_valid must hold one-hot"):
        net.fit(x, y, 1, 0.1, 2, x, y * 2, loss=tools.CrossEntropyLoss())


def test_copy_params_rejects_another_layout():
    net = make_net([3, 4, 2], tools.ReLU)
    before = [p.clone() for p in net.parameters()]
    wrong = [
        nn.Sequential(nn.Linear(3, 4), nn.Tanh(), nn.Linear(4, 2)),
        nn.Sequential(nn.Linear(3, 5), nn.ReLU(), nn.Linear(5, 2)),
        nn.Sequential(nn.Linear(3, 4), nn.ReLU()),
    ]
    for ref in wrong:
        with pytest.raises(
            ValueError,
            match=r"layout of this Sequential, "
            r"\[Linear\(3, 4\), ReLU\(\), Linear\(4, 2\)\]",
        ):
            net.copy_params(ref.double())
    with pytest.raises(TypeError, match="nn.Linear, nn.ReLU"):
        net.copy_params(nn.Sequential(nn.Linear(3, 4), nn.Softplus()))
    with pytest.raises(TypeError, match="torch.nn.Sequential or a Keras"):
        net.copy_params(nn.Linear(3, 4))
    for p, p0 in zip(net.parameters(), before):
        assert torch.equal(p, p0)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no GPU")
def test_cuda_network_matches_cpu():
    cpu = make_net([3, 5, 2], tools.GELU, seed=8)
    gpu = tools.Sequential(
        tools.Linear(3, 5, dtype=F64, seed=8, device="cuda"),
        tools.GELU(),
        tools.Linear(5, 2, dtype=F64, seed=9, device="cuda"),
    )
    x = randn(6, 3, seed=17)
    assert_close(gpu.forward(x.cuda()).cpu(), cpu.forward(x))
    g = randn(6, 2, seed=18)
    assert_close(gpu.backward(g.cuda()).cpu(), cpu.backward(g))
    with pytest.raises(ValueError, match="is on device"):
        gpu.forward(x)


def test_a_layer_with_its_own_backward_trains_through_fit():
    """A learner's subclass overriding ``_backward(g)`` (as 3.3's broken
    layers do) is called through it, also as the first layer in ``fit``."""
    calls = []

    class Watched(tools.Linear):
        def _backward(self, g):
            calls.append(tuple(g.shape))
            return super()._backward(g)

    x = torch.randn(8, 3, dtype=torch.float64)
    y = torch.randn(8, 1, dtype=torch.float64)
    net = tools.Sequential(
        Watched(3, 4, dtype=torch.float64, seed=0),
        tools.Tanh(),
        tools.Linear(4, 1, dtype=torch.float64, seed=1),
    )
    net.fit(x, y, 1, 0.1, 4, loss=tools.MSELoss(), verbose=False)
    assert calls == [(4, 4), (4, 4)]


# -- full messages, defaults and what each call keeps ----------------------
def message(call, error=ValueError) -> str:
    with pytest.raises(error) as info:
        call()
    return str(info.value)


NAN = torch.tensor([[math.nan]], dtype=F64)


def test_reprs():
    net = tools.Sequential(
        tools.Linear(2, 3),
        tools.GELU(),
        tools.Linear(3, 1),
        tools.GELU("tanh"),
        tools.Sigmoid(),
    )
    assert repr(net) == (
        "Sequential(Linear(2, 3), GELU(), Linear(3, 1), "
        "GELU(approximate='tanh'), Sigmoid())"
    )
    assert repr(tools.MSELoss()) == "MSELoss()"
    assert repr(tools.CrossEntropyLoss()) == "CrossEntropyLoss()"


def test_activation_forward_full_messages():
    relu = tools.ReLU()
    assert message(lambda: relu.forward([1.0]), TypeError) == (
        "x must be a torch.Tensor, got list; convert it with "
        "torch.as_tensor(x, dtype=torch.float64)"
    )
    assert message(
        lambda: relu.forward(torch.ones(2, 2, dtype=int)), TypeError
    ) == ("x must hold floating-point numbers, got torch.int64")
    grad = torch.ones(1, 1, dtype=F64, requires_grad=True)
    assert message(lambda: relu.forward(grad)) == (
        "x requires grad (it carries autograd history); "
        "pass x.detach() instead"
    )
    assert message(lambda: relu.forward(NAN)) == (
        "x must be finite, but 1 of its 1 entries are NaN or inf"
    )


def test_activation_backward_full_messages():
    tanh = tools.Tanh()
    assert message(
        lambda: tanh.backward(torch.ones(2, 3, dtype=F64)), RuntimeError
    ) == (
        "Tanh().backward() was called before forward(x): there is no "
        "input to differentiate at yet"
    )
    tanh.forward(torch.zeros(2, 3, dtype=F64))
    assert message(lambda: tanh.backward([1.0]), TypeError) == (
        "grad_output must be a torch.Tensor, got list; convert it with "
        "torch.as_tensor(grad_output, dtype=torch.float64)"
    )
    assert message(lambda: tanh.backward(torch.ones(3, 2, dtype=F64))) == (
        "grad_output must have the shape of the last output (2, 3), "
        "got shape (3, 2)"
    )
    assert message(lambda: tanh.backward(torch.ones(2, 3))) == (
        "grad_output has dtype torch.float32 but the input has dtype "
        "torch.float64; convert it with grad_output.to(torch.float64)"
    )
    grad = torch.ones(2, 3, dtype=F64, requires_grad=True)
    assert message(lambda: tanh.backward(grad)) == (
        "grad_output requires grad (it carries autograd history); "
        "pass grad_output.detach() instead"
    )
    assert message(
        lambda: tanh.backward(torch.full((2, 3), math.nan, dtype=F64))
    ) == ("grad_output must be finite, but 6 of its 6 entries are NaN or inf")


def test_linear_full_messages_and_seeded_device_placement():
    assert message(lambda: tools.Linear(0, 2)) == (
        "n_in must be an integer >= 1, got 0"
    )
    assert message(lambda: tools.Linear(2, 0)) == (
        "n_out must be an integer >= 1, got 0"
    )
    layer = tools.Linear(3, 4, dtype=F64, seed=5)
    again = tools.Linear(3, 4, dtype=F64, seed=5)
    assert torch.equal(layer.w, again.w) and torch.equal(layer.b, again.b)
    meta = tools.Linear(3, 4, device="meta")
    assert meta.w.device.type == "meta" and meta.b.device.type == "meta"
    assert message(lambda: layer.forward(torch.ones(4, 2, dtype=F64))) == (
        "x must have 3 columns (n_in of Linear(3, 4)) (shape (m, 3)), "
        "got shape (4, 2)"
    )
    assert message(lambda: layer.forward(torch.ones(4, 3))) == (
        "x has dtype torch.float32 but Linear(3, 4) has dtype "
        "torch.float64; convert it with x.to(torch.float64)"
    )
    assert message(lambda: layer.forward(NAN.expand(2, 3))) == (
        "x must be finite, but 6 of its 6 entries are NaN or inf"
    )
    assert message(lambda: layer.forward([[1.0]]), TypeError).startswith(
        "x must be a torch.Tensor, got list"
    )


def test_sequential_construction_full_messages():
    assert message(lambda: tools.Sequential()) == (
        "Sequential needs at least one layer, got none"
    )
    assert message(
        lambda: tools.Sequential(tools.ReLU(), nn.ReLU()), TypeError
    ) == (
        "layer 1 must be a tools layer (Linear, ReLU, Sigmoid, Tanh, GELU, "
        "Dropout, BatchNorm1d or LayerNorm), got ReLU"
    )
    assert message(
        lambda: tools.Sequential(
            tools.Linear(2, 3), tools.ReLU(), tools.Linear(4, 1)
        )
    ) == (
        "layer 2 Linear(4, 1) takes 4 inputs, but layer 0 Linear(2, 3) "
        "gives 3: a shape that does not fit the next layer"
    )
    assert message(
        lambda: tools.Sequential(
            tools.Linear(2, 3), tools.Linear(3, 1, dtype=F64)
        )
    ) == (
        "layer 1 Linear(3, 1) is on cpu with torch.float64, but layer 0 "
        "Linear(2, 3) is on cpu with torch.float32: all layers with "
        "parameters must share one device and dtype"
    )


def test_sequential_forward_backward_update_full_messages():
    net = tools.Sequential(tools.Linear(2, 1, dtype=F64, seed=0))
    assert message(
        lambda: net.backward(torch.ones(3, 1, dtype=F64)), RuntimeError
    ) == (
        "Sequential.backward() was called before forward(x): there is "
        "nothing to backpropagate through yet"
    )
    assert message(lambda: net.forward(NAN.expand(1, 2))) == (
        "x must be finite, but 2 of its 2 entries are NaN or inf"
    )
    net.forward(torch.ones(3, 2, dtype=F64))
    assert message(lambda: net.backward([[1.0]]), TypeError).startswith(
        "grad_output must be a torch.Tensor, got list"
    )
    assert message(lambda: net.backward(torch.ones(3, 1))) == (
        "grad_output has dtype torch.float32 but the output has dtype "
        "torch.float64; convert it with grad_output.to(torch.float64)"
    )
    grad = torch.ones(3, 1, dtype=F64, requires_grad=True)
    assert message(lambda: net.backward(grad)) == (
        "grad_output requires grad (it carries autograd history); "
        "pass grad_output.detach() instead"
    )
    net.backward(torch.ones(3, 1, dtype=F64))
    assert message(lambda: net.update(0)) == (
        "lr must be a finite number > 0, got 0.0"
    )


def test_training_computes_no_gradient_for_the_input():
    """``fit`` skips ``dL/dx = G W^T`` of the first layer: no matrix
    product during training has the shape of a batch of inputs."""
    shapes = []
    products = {
        torch.mm,
        torch.matmul,
        torch.Tensor.__matmul__,
        torch.Tensor.mm,
        torch.Tensor.matmul,
    }

    class Record(torch.overrides.TorchFunctionMode):
        def __torch_function__(self, func, types, args=(), kwargs=None):
            out = func(*args, **(kwargs or {}))
            if func in products:
                shapes.append(tuple(out.shape))
            return out

    net = make_net([3, 5, 2], tools.Tanh)
    x, y = randn(4, 3, seed=1), randn(4, 2, seed=2)
    with Record():
        net.fit(x, y, 1, 0.1, 4, loss=tools.MSELoss(), verbose=False)
    assert shapes and (4, 3) not in shapes
    with Record():
        net.forward(x)
        net.backward(torch.ones(4, 2, dtype=F64))
    assert (4, 3) in shapes  # backward itself does return dL/dx


def test_fit_passes_verbose_on(capsys):
    net = make_net([2, 1])
    x, y = randn(4, 2), randn(4, 1)
    net.fit(x, y, 2, 0.1, 2, loss=tools.MSELoss(), verbose=False)
    assert capsys.readouterr().out == ""
    net.fit(x, y, 2, 0.1, 2, loss=tools.MSELoss())
    assert capsys.readouterr().out.count("train MSE") == 2


def test_copy_params_full_messages_and_an_overflowing_cast():
    net = tools.Sequential(tools.Linear(2, 1, seed=0))  # float32
    before = [p.clone() for p in net.parameters()]
    assert message(lambda: net.copy_params([1]), TypeError) == (
        "model must be a torch.nn.Sequential or a Keras Sequential, got list"
    )
    assert message(
        lambda: net.copy_params(nn.Sequential(nn.Linear(2, 3)))
    ) == (
        "model must have the layout of this Sequential, [Linear(2, 1)], "
        "got [Linear(2, 3)]"
    )
    assert message(
        lambda: net.copy_params(nn.Sequential(nn.Linear(2, 1, bias=False)))
    ) == ("Linear(in_features=2, out_features=1, bias=False) must have a bias")
    assert message(
        lambda: net.copy_params(nn.Sequential(nn.Linear(2, 1), nn.Softplus())),
        TypeError,
    ) == (
        "model may hold nn.Linear, nn.ReLU, nn.Sigmoid, nn.Tanh, nn.GELU, "
        "nn.Dropout, nn.BatchNorm1d and nn.LayerNorm modules only, got "
        "Softplus"
    )
    # finite in float64, inf once cast to the network's float32: refused
    big = nn.Sequential(nn.Linear(2, 1, dtype=F64))
    with torch.no_grad():
        big[0].weight.fill_(1e300)
    assert message(lambda: net.copy_params(big)) == (
        "the weight of Linear(2, 1) must be finite, but 2 of its 2 entries "
        "are NaN or inf"
    )
    with torch.no_grad():
        big[0].weight.fill_(1.0)
        big[0].bias.fill_(-1e300)
    assert message(lambda: net.copy_params(big)) == (
        "the bias of Linear(2, 1) must be finite, but 1 of its 1 entries "
        "are NaN or inf"
    )
    for p, p0 in zip(net.parameters(), before):
        assert torch.equal(p, p0)


def test_copy_params_takes_both_gelus_from_torch():
    for approximate in ("none", "tanh"):
        net = tools.Sequential(
            tools.Linear(2, 2, dtype=F64, seed=0), tools.GELU(approximate)
        )
        ref = nn.Sequential(
            nn.Linear(2, 2, dtype=F64), nn.GELU(approximate=approximate)
        )
        net.copy_params(ref)
        assert torch.equal(net.layers[0].w, ref[0].weight.detach().T)
    other = nn.Sequential(nn.Linear(2, 2), nn.GELU(approximate="tanh"))
    assert message(
        lambda: tools.Sequential(tools.Linear(2, 2), tools.GELU()).copy_params(
            other
        )
    ) == (
        "model must have the layout of this Sequential, [Linear(2, 2), "
        "GELU()], got [Linear(2, 2), GELU(approximate='tanh')]"
    )


def test_fit_full_messages_for_the_loss_and_the_data():
    net = make_net([2, 3, 2], tools.ReLU)
    x, y = randn(4, 2), torch.full((4, 2), 0.5, dtype=F64)

    def fit(*args, **kwargs):
        kwargs.setdefault("loss", tools.MSELoss())
        return lambda: net.fit(*args, 1, 0.1, 2, verbose=False, **kwargs)

    assert message(fit(x, y, loss=nn.MSELoss()), TypeError) == (
        "loss must be a tools.MSELoss() or tools.CrossEntropyLoss(), got "
        "MSELoss; use tools.MSELoss() or tools.CrossEntropyLoss()"
    )
    assert message(fit(x, y, loss="mse"), TypeError) == (
        "loss must be a tools.MSELoss() or tools.CrossEntropyLoss(), got str"
    )
    assert message(
        lambda: tools.Sequential(tools.ReLU()).fit(
            x, y, 1, 0.1, 2, loss=tools.MSELoss()
        )
    ) == ("a Sequential without a Linear layer has nothing to train")
    assert message(fit(NAN.expand(4, 2), y)) == (
        "x_train must be finite, but 8 of its 8 entries are NaN or inf"
    )
    assert message(fit(x, [[0.5]]), TypeError).startswith(
        "y_train must be a torch.Tensor, got list"
    )
    assert message(fit(x, y[:, :1])) == (
        "y_train must have 2 columns (the outputs) (shape (m, 2)), "
        "got shape (4, 1)"
    )
    assert message(fit(x, y.float())) == (
        "y_train has dtype torch.float32 but the network has dtype "
        "torch.float64; convert it with y_train.to(torch.float64)"
    )
    assert message(fit(x, y.clone().requires_grad_())) == (
        "y_train requires grad (it carries autograd history); "
        "pass y_train.detach() instead"
    )
    assert message(fit(x, y + math.inf)) == (
        "y_train must be finite, but 8 of its 8 entries are NaN or inf"
    )
    assert message(fit(x, y[:3])) == (
        "x_train and y_train must have the same number of samples, got 4 and 3"
    )


def test_fit_names_the_layer_that_overflows():
    net = tools.Sequential(tools.ReLU(), tools.Linear(1, 1, dtype=F64))
    with torch.no_grad():
        net.layers[1].w.fill_(1e200)
    x = torch.full((2, 1), 1e200, dtype=F64)
    y = torch.zeros(2, 1, dtype=F64)
    assert message(
        lambda: net.fit(x, y, 1, 0.1, 2, loss=tools.MSELoss(), verbose=False)
    ) == (
        "the output of layer 1 Linear(1, 1) overflowed torch.float64 on "
        "x_train; scale the inputs or use a wider dtype"
    )


def test_a_learners_own_layer_is_evaluated_through_its_forward():
    """A layer that defines only ``_forward``/``_backward`` is applied
    through ``_forward`` when ``fit`` evaluates the loss."""

    class Double(tools.layers._Layer):
        def _forward(self, x):
            self._input, self._out_shape = x, tuple(x.shape)
            return 2 * x

        def _backward(self, g):
            return 2 * g

    net = tools.Sequential(tools.Linear(2, 1, dtype=F64, seed=0), Double())
    ref = tools.Sequential(tools.Linear(2, 1, dtype=F64, seed=0))
    x, y = randn(4, 2), randn(4, 1, seed=3)
    log = net.fit(x, y, 1, 0.1, 4, loss=tools.MSELoss(), verbose=False)
    out = 2 * (x @ net.layers[0].w + net.layers[0].b)
    assert log[0].train_loss == pytest.approx(float(fn.mse(y, out)))
    assert (
        log[0].train_loss
        != ref.fit(x, y, 1, 0.1, 4, loss=tools.MSELoss(), verbose=False)[
            0
        ].train_loss
    )


def test_relu_generic_backward_on_its_kept_output_agrees():
    """ReLU keeps its output; phi'(output) = phi'(input), so the generic
    ``G * phi'`` of an activation gives ReLU's own gradient."""
    relu = tools.ReLU()
    z = torch.tensor([[-1.0, 0.0, 2.0]], dtype=F64)
    relu.forward(z)
    g = torch.tensor([[3.0, 4.0, 5.0]], dtype=F64)
    generic = tools.layers._Activation._backward(relu, g)
    assert generic.tolist() == relu.backward(g).tolist() == [[0.0, 0.0, 5.0]]


def test_losses_full_messages():
    out = torch.zeros(3, 2, dtype=F64)
    mse, ce = tools.MSELoss(), tools.CrossEntropyLoss()
    assert message(mse.backward, RuntimeError) == (
        "MSELoss.backward() was called before forward(output, target): "
        "there is no loss to differentiate yet"
    )
    assert message(lambda: mse.forward([1.0], out), TypeError).startswith(
        "output must be a torch.Tensor, got list"
    )
    assert message(lambda: mse.forward(out, [1.0]), TypeError).startswith(
        "target must be a torch.Tensor, got list"
    )
    assert message(lambda: mse.forward(out[0], out[0])) == (
        "output must be a 2-D tensor of shape (m, n), got shape (2,)"
    )
    assert message(lambda: mse.forward(out, out.float())) == (
        "target has dtype torch.float32 but output has dtype torch.float64; "
        "convert it with target.to(torch.float64)"
    )
    assert message(lambda: mse.forward(out, out + math.nan)) == (
        "target must be finite, but 6 of its 6 entries are NaN or inf"
    )
    grad = out.clone().requires_grad_()
    assert message(lambda: mse.forward(out, grad)) == (
        "target requires grad (it carries autograd history); "
        "pass target.detach() instead"
    )
    assert message(lambda: ce.forward(out, out - 1)) == (
        "target must hold one-hot or probability rows, but it has "
        "negative entries"
    )


def test_linear_has_no_gradients_before_backward():
    layer = tools.Linear(2, 3, seed=0)
    assert layer.dw is None and layer.db is None


def test_evaluation_computes_what_training_computes_for_subclasses():
    # A learner's ReLU variant that changes only _phi, and a Linear with a
    # _forward of its own: the loss logged after an epoch (evaluation,
    # nothing kept) must be the loss of the network's own forward.
    class Leaky(tools.ReLU):
        def _phi(self, z):
            return torch.where(z > 0, z, 0.1 * z)

    class Half(tools.Linear):
        def _forward(self, x):
            return 0.5 * super()._forward(x)

    z = torch.tensor([[-1.0, 2.0]], dtype=F64)
    leaky = Leaky()
    assert torch.equal(
        leaky.forward(z), torch.tensor([[-0.1, 2.0]], dtype=F64)
    )

    g = torch.Generator().manual_seed(0)
    x = torch.randn(32, 2, generator=g, dtype=F64)
    y = torch.randn(32, 1, generator=g, dtype=F64)
    net = tools.Sequential(
        Half(2, 3, dtype=F64, seed=0),
        Leaky(),
        tools.Linear(3, 1, dtype=F64, seed=1),
    )
    log = net.fit(x, y, 1, 1e-9, 32, loss=tools.MSELoss(), verbose=False)[-1]
    expected = float(tools.functional.mse(y, net.forward(x)))
    assert log.train_loss == expected


def test_a_loss_with_its_own_forward_is_logged_by_it():
    # The loss after each epoch is evaluated without keeping anything, by
    # _value, only for the stock losses; a learner's loss that overrides
    # _forward must be evaluated by that _forward.
    class Doubled(tools.MSELoss):
        def _forward(self, output, target):
            return 2 * super()._forward(output, target)

    g = torch.Generator().manual_seed(0)
    x = torch.randn(16, 2, generator=g, dtype=F64)
    y = torch.randn(16, 1, generator=g, dtype=F64)
    net = tools.Sequential(tools.Linear(2, 1, dtype=F64, seed=0))
    log = net.fit(x, y, 1, 1e-9, 16, loss=Doubled(), verbose=False)[-1]
    assert log.train_loss == 2 * float(tools.functional.mse(y, net.forward(x)))
    stock = tools.Sequential(tools.Linear(2, 1, dtype=F64, seed=0))
    plain = stock.fit(x, y, 1, 1e-9, 16, loss=tools.MSELoss(), verbose=False)
    assert plain[-1].train_loss == float(
        tools.functional.mse(y, stock.forward(x))
    )


# -- one layer object in two places, or in two networks -------------------
@pytest.mark.parametrize("make", [tools.ReLU, tools.Tanh])
def test_a_shared_activation_is_refused(make):
    shared = make()
    layers = [
        tools.Linear(2, 4, dtype=F64, seed=0),
        shared,
        tools.Linear(4, 4, dtype=F64, seed=1),
        shared,
        tools.Linear(4, 1, dtype=F64, seed=2),
    ]
    assert message(lambda: tools.Sequential(*layers)) == (
        f"layer 3 is layer 1 again (the same {shared!r} object): a layer "
        "keeps the input of its last forward pass for backward, so each "
        f"place needs a layer object of its own; create a new {shared!r} "
        "for layer 3"
    )


def test_a_shared_linear_is_refused():
    lin = tools.Linear(3, 3, dtype=F64, seed=0)
    assert message(lambda: tools.Sequential(lin, tools.ReLU(), lin)) == (
        "layer 2 is layer 0 again (the same Linear(3, 3) object): a layer "
        "keeps the input of its last forward pass for backward, so each "
        "place needs a layer object of its own; create a new Linear(3, 3) "
        "for layer 2"
    )


def test_a_layer_in_two_networks_shares_parameters_but_not_memory():
    net = make_net([3, 5, 2], tools.Tanh, seed=1)
    hidden = tools.Sequential(*net.layers[:2])  # to look at A_1: allowed
    x, z = randn(4, 3, seed=1), randn(6, 3, seed=2)
    g = randn(4, 2, seed=3)
    ref = torch_twin(net)
    xr = x.clone().requires_grad_()
    ref(xr).backward(g)
    net.forward(x)
    hidden.predict(z)  # keeps nothing: net's memory is intact
    assert_close(net.backward(g), xr.grad)
    net.forward(x)
    hidden.forward(z)  # overwrites what layers 0 and 1 kept for net
    assert message(lambda: net.backward(g), RuntimeError) == (
        "layer 0 Linear(3, 5) has run forward since this network's "
        "forward (it is part of another network too, or was called on its "
        "own), so it no longer holds this network's input: call forward(x) "
        "on this network again, then backward"
    )
    net.forward(x)
    assert_close(net.backward(g), xr.grad)
    assert hidden.layers[0].w is net.layers[0].w


# -- overflow in forward, backward and update ------------------------------
def big_linear(value=1e200):
    layer = tools.Linear(1, 1, dtype=F64, seed=0)
    layer.w.fill_(value)
    layer.b.fill_(0.5)
    return layer


def test_linear_forward_overflow_is_an_error_that_changes_nothing():
    layer = big_linear()
    x = torch.full((2, 1), 1e200, dtype=F64)
    assert message(lambda: layer.forward(x)) == (
        "the output of Linear(1, 1) overflowed torch.float64 to inf or NaN "
        "(largest |input| is 1e+200, largest |w| is 1e+200, largest |b| is "
        "0.5); scale the inputs or use a wider dtype"
    )
    assert layer._input is None and layer._out_shape is None
    layer.w.fill_(math.inf)
    assert message(lambda: layer.forward(torch.ones(1, 1, dtype=F64))) == (
        "the output of Linear(1, 1) is inf or NaN because its w holds inf "
        "or NaN entries"
    )


def test_sequential_forward_overflow_names_the_layer():
    net = tools.Sequential(
        tools.Linear(1, 1, dtype=F64, seed=0), tools.Tanh(), big_linear()
    )
    net.layers[0].w.fill_(1e200)
    net.layers[0].b.fill_(0.5)
    x = torch.full((2, 1), 1e200, dtype=F64)
    small = torch.ones(2, 1, dtype=F64) / 1e300
    before = net.forward(small)
    assert message(lambda: net.forward(x)) == (
        "the output of layer 0 Linear(1, 1) overflowed torch.float64 to inf "
        "or NaN (largest |input| is 1e+200, largest |w| is 1e+200, largest "
        "|b| is 0.5); scale the inputs or use a wider dtype"
    )
    assert message(lambda: net.predict(x)).startswith(
        "the output of layer 0 Linear(1, 1) overflowed"
    )
    # the failed calls left the memory of the forward before them
    assert net.layers[0]._input is small and net._out_shape == (2, 1)
    assert net.layers[1]._input is not None
    assert torch.isfinite(before).all()


def test_backward_overflow_is_an_error_that_changes_nothing():
    layer = big_linear()
    layer.forward(torch.ones(2, 1, dtype=F64))
    g = torch.full((2, 1), 1e200, dtype=F64)
    assert message(lambda: layer.backward(g)) == (
        "the gradient dL/d(input) of Linear(1, 1) overflowed torch.float64 "
        "to inf or NaN (largest |grad_output| is 1e+200); scale the loss "
        "(or the inputs) down or use a wider dtype"
    )
    assert layer.dw is None and layer.db is None
    net = tools.Sequential(tools.Linear(1, 1, dtype=F64, seed=0))
    net.forward(torch.full((2, 1), 1e200, dtype=F64))
    assert message(lambda: net.backward(g)) == (
        "the gradient dL/dw of layer 0 Linear(1, 1) overflowed "
        "torch.float64 to inf or NaN (largest |grad_output| is 1e+200); "
        "scale the loss (or the inputs) down or use a wider dtype"
    )
    assert net.layers[0].dw is None


def test_update_with_a_huge_rate_is_refused_and_changes_nothing():
    net = tools.Sequential(big_linear(0.5), tools.Tanh(), big_linear(0.5))
    net.forward(torch.ones(4, 1, dtype=F64))
    net.backward(torch.ones(4, 1, dtype=F64))
    before = [p.clone() for p in net.parameters()]
    assert message(lambda: net.update(1e308)) == (
        "update(lr=1e+308) would make 2.w inf or NaN (largest |2.w| is 0.5, "
        "largest |dL/d2.w| is 3.05): lr is too large for these gradients; "
        "the parameters are unchanged"
    )
    assert all(torch.equal(p, q) for p, q in zip(net.parameters(), before))
    net.update(0.1)  # an ordinary step still works
    assert torch.equal(net.parameters()[0], before[0] - 0.1 * net.layers[0].dw)


# -- what is kept: forward keeps, predict and fit do not -------------------
def test_predict_equals_forward_and_keeps_nothing():
    net = make_net([3, 4, 4, 2], tools.ReLU, seed=3)
    x = randn(5, 3, seed=4)
    out = net.predict(x)
    assert all(layer._input is None for layer in net.layers)
    assert torch.equal(out, net.forward(x))
    assert message(lambda: net.predict(x[:, :2])) == (
        "x must have 3 columns (n_in of Linear(3, 4)) (shape (m, 3)), "
        "got shape (5, 2)"
    )


def test_nothing_is_kept_after_fit():
    net = make_net([3, 8, 2], tools.ReLU, seed=4)
    loss = tools.MSELoss()
    x, y = randn(32, 3, seed=5), randn(32, 2, seed=6)
    x_alive = weakref.ref(x)
    net.fit(x, y, 2, 0.1, 8, x[:4], y[:4], loss=loss, verbose=False)
    del x
    gc.collect()
    assert x_alive() is None  # no view holds the training set
    for layer in net.layers:
        assert layer._input is None and layer._out_shape is None
    assert loss._output is None and loss._target is None
    assert message(net.gradients, RuntimeError) == (
        "Linear(3, 8) has no gradients yet: call backward first"
    )
    assert message(
        lambda: net.backward(torch.ones(8, 2, dtype=F64)), RuntimeError
    ).startswith("Sequential.backward() was called before forward(x)")


def test_a_fit_that_raises_leaves_network_and_loss_as_they_were():
    net = make_net([2, 4, 1], tools.ReLU, seed=6)
    loss = tools.MSELoss()
    x0 = randn(3, 2, seed=7)
    loss.forward(net.forward(x0), torch.zeros(3, 1, dtype=F64))
    kept = [layer._input for layer in net.layers]
    start = [p.clone() for p in net.parameters()]
    x, y = randn(8, 2, seed=14) * 100, randn(8, 1, seed=15)
    with pytest.raises(ValueError, match="training diverged"):
        net.fit(x, y, 50, 10.0, 4, loss=loss, verbose=False)
    assert all(a is b for a, b in zip(kept, (m._input for m in net.layers)))
    assert all(torch.equal(p, q) for p, q in zip(net.parameters(), start))
    net.backward(loss.backward())  # the memory of before fit
    assert net.layers[0].dw.shape == (2, 4)


def test_fit_rolls_back_on_keyboard_interrupt():
    class Interrupting(tools.Linear):
        calls = 0

        def _backward(self, g):
            Interrupting.calls += 1
            if Interrupting.calls == 3:
                raise KeyboardInterrupt
            return super()._backward(g)

    net = tools.Sequential(
        tools.Linear(2, 3, dtype=F64, seed=0),
        tools.Tanh(),
        Interrupting(3, 1, dtype=F64, seed=1),
    )
    start = [p.clone() for p in net.parameters()]
    x, y = randn(8, 2, seed=8), randn(8, 1, seed=9)
    with pytest.raises(KeyboardInterrupt):
        net.fit(x, y, 2, 0.1, 2, loss=tools.MSELoss(), verbose=False)
    assert all(torch.equal(p, q) for p, q in zip(net.parameters(), start))
    assert all(layer._input is None for layer in net.layers)


# -- a network that starts with an activation checks its input -------------
def test_a_network_starting_with_an_activation_checks_its_input():
    net = tools.Sequential(tools.ReLU(), tools.Linear(3, 2, dtype=F64))
    expected = (
        "x must have 3 columns (n_in of Linear(3, 2)) (shape (m, 3)), "
        "got shape (4, 2)"
    )
    bad = torch.ones(4, 2, dtype=F64)
    assert message(lambda: net.forward(bad)) == expected
    assert message(lambda: net.predict(bad)) == expected
    assert message(lambda: net.forward(torch.ones(4, 3))) == (
        "x has dtype torch.float32 but Linear(3, 2) has dtype "
        "torch.float64; convert it with x.to(torch.float64)"
    )
    y = torch.zeros(4, 2, dtype=F64)
    assert message(
        lambda: net.fit(bad, y, 1, 0.1, 2, loss=tools.MSELoss())
    ) == expected.replace("x must", "x_train must")
    ok = torch.ones(4, 3, dtype=F64)
    assert net.forward(ok).shape == (4, 2)


def test_outputs_and_steps_near_the_float_limit_are_not_overflow():
    # every entry finite, their sum inf: no error
    layer = tools.Linear(1, 2, dtype=F64, seed=0)
    layer.w.fill_(1.5e308)
    layer.b.fill_(0.0)
    out = layer.forward(torch.ones(3, 1, dtype=F64))
    assert torch.isfinite(out).all() and not torch.isfinite(out.sum())
    net = tools.Sequential(layer)
    assert torch.equal(net.predict(torch.ones(3, 1, dtype=F64)), out)
    net.forward(torch.ones(3, 1, dtype=F64))
    net.backward(torch.full((3, 2), 1e-300, dtype=F64))
    net.update(1.0)
    assert torch.isfinite(layer.w).all()
