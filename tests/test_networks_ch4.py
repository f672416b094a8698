"""Whole ``tools.Sequential`` networks with chapter 4's layers (Dropout,
BatchNorm1d, LayerNorm) against the same ``nn.Sequential`` (float64).

* ``copy_params`` from ``nn.Sequential``: weights, ``gamma``/``beta`` and
  running statistics, the settings compared in the layout, every refusal;
* forward and backward of whole networks against autograd, in training
  (batch statistics; dropout with p = 0) and evaluation (running
  statistics; dropout p > 0 off);
* ``parameters``/``gradients`` in layer order, ``train``/``eval`` on every
  layer;
* ``fit`` against ``tools.fit_torch``: per-epoch losses, weights and
  running statistics.
"""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

import tools

F64 = torch.float64
TOL = 1e-10


def randn(*shape: int, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.randn(*shape, generator=g, dtype=F64)


def assert_close(actual, expected, tol: float = TOL) -> None:
    err = tools.max_relative_error(actual, expected)
    assert err <= tol, f"max relative error {err:.3g} > {tol:g}"


def message(fn, error=ValueError) -> str:
    with pytest.raises(error) as info:
        fn()
    return str(info.value)


def torch_net(p: float = 0.0, seed: int = 0) -> nn.Sequential:
    """Linear, BatchNorm1d, ReLU, Dropout, Linear, LayerNorm, Tanh,
    Linear, with gamma/beta and running statistics away from their
    start."""
    torch.manual_seed(seed)
    net = nn.Sequential(
        nn.Linear(3, 6), nn.BatchNorm1d(6, momentum=0.2), nn.ReLU(),
        nn.Dropout(p), nn.Linear(6, 5), nn.LayerNorm(5, eps=1e-4),
        nn.Tanh(), nn.Linear(5, 2),
    ).double()
    with torch.no_grad():
        for i in (1, 5):
            net[i].weight.copy_(1 + 0.3 * randn(net[i].weight.shape[0],
                                                seed=i))
            net[i].bias.copy_(0.5 * randn(net[i].bias.shape[0], seed=i + 1))
        net[1].running_mean.copy_(randn(6, seed=7))
        net[1].running_var.copy_(1 + randn(6, seed=8).abs())
    return net


def scratch_net(p: float = 0.0) -> tools.Sequential:
    return tools.Sequential(
        tools.Linear(3, 6, dtype=F64, seed=0),
        tools.BatchNorm1d(6, momentum=0.2, dtype=F64), tools.ReLU(),
        tools.Dropout(p, seed=0), tools.Linear(6, 5, dtype=F64, seed=1),
        tools.LayerNorm(5, eps=1e-4, dtype=F64), tools.Tanh(),
        tools.Linear(5, 2, dtype=F64, seed=2),
    )


def test_copy_params_copies_parameters_and_running_statistics_in_place():
    ref, net = torch_net(), scratch_net()
    params = net.parameters()
    net.copy_params(ref)
    assert all(a is b for a, b in zip(net.parameters(), params))
    bn, ln = net.layers[1], net.layers[5]
    assert torch.equal(bn.gamma, ref[1].weight.detach())
    assert torch.equal(bn.beta, ref[1].bias.detach())
    assert torch.equal(bn.running_mean, ref[1].running_mean)
    assert torch.equal(bn.running_var, ref[1].running_var)
    assert torch.equal(ln.gamma, ref[5].weight.detach())
    assert torch.equal(ln.beta, ref[5].bias.detach())
    assert [name for name, _ in net.named_parameters()] == [
        "0.w", "0.b", "1.gamma", "1.beta", "4.w", "4.b", "5.gamma",
        "5.beta", "7.w", "7.b",
    ]


@pytest.mark.parametrize("m", [2, 3, 16])
def test_network_in_training_matches_autograd(m):
    ref, net = torch_net(p=0.0), scratch_net(p=0.0)
    net.copy_params(ref)
    x, g = randn(m, 3, seed=m), randn(m, 2, seed=m + 1)
    out = net.forward(x)
    dx = net.backward(g)
    xt = x.clone().requires_grad_(True)
    ref_out = ref(xt)
    ref_out.backward(g)
    assert_close(out, ref_out.detach())
    assert_close(dx, xt.grad)
    ref_grads = []
    for module in ref:
        if isinstance(module, nn.Linear):
            ref_grads += [module.weight.grad.T, module.bias.grad]
        elif isinstance(module, (nn.BatchNorm1d, nn.LayerNorm)):
            ref_grads += [module.weight.grad, module.bias.grad]
    grads = net.gradients()
    assert len(grads) == len(ref_grads) == 10
    # A bias just before a batch norm in training has gradient 0: the
    # batch mean takes it away. Both compute 0 up to rounding.
    db_1, ref_db_1 = grads.pop(1), ref_grads.pop(1)
    # (g is of order 1: rounding leaves terms of 1e-16 to 1e-13)
    assert float(db_1.abs().max()) < 1e-12
    assert float(ref_db_1.abs().max()) < 1e-12
    for ours, theirs in zip(grads, ref_grads):
        assert_close(ours, theirs)
    assert_close(net.layers[1].running_mean, ref[1].running_mean, 1e-14)
    assert_close(net.layers[1].running_var, ref[1].running_var, 1e-14)


@pytest.mark.parametrize("m", [1, 2, 9])
def test_network_in_evaluation_matches_autograd(m):
    ref, net = torch_net(p=0.5).eval(), scratch_net(p=0.5)
    net.copy_params(ref)
    for layer in net.layers:
        layer.eval()
    x, g = randn(m, 3, seed=m), randn(m, 2, seed=m + 1)
    out = net.forward(x)
    dx = net.backward(g)
    xt = x.clone().requires_grad_(True)
    ref_out = ref(xt)
    ref_out.backward(g)
    assert_close(out, ref_out.detach())
    assert_close(dx, xt.grad)
    assert_close(net.layers[1].dgamma, ref[1].weight.grad)
    assert_close(net.layers[0].dw, ref[0].weight.grad.T)


def test_copy_params_refusals_from_torch():
    net = tools.Sequential(tools.Linear(2, 3, dtype=F64),
                           tools.BatchNorm1d(3, dtype=F64))
    for bad in (
        nn.BatchNorm1d(3, affine=False),
        nn.BatchNorm1d(3, track_running_stats=False),
        nn.BatchNorm1d(3, momentum=None),
    ):
        assert message(
            lambda: net.copy_params(nn.Sequential(nn.Linear(2, 3), bad))
        ) == (
            f"{bad} must have affine=True, track_running_stats=True and a "
            "number as momentum to be copied into a tools.BatchNorm1d"
        )
    assert message(
        lambda: net.copy_params(
            nn.Sequential(nn.Linear(2, 3), nn.BatchNorm1d(3, eps=1e-3))
        )
    ) == (
        "model must have the layout of this Sequential, [Linear(2, 3), "
        "BatchNorm1d(3)], got [Linear(2, 3), BatchNorm1d(3, eps=0.001)]"
    )
    ref = nn.Sequential(nn.Linear(2, 3), nn.BatchNorm1d(3)).double()
    ref[1].running_var[1] = -1.0
    before = [t.clone() for t in net.parameters()]
    assert message(lambda: net.copy_params(ref)) == (
        "the running_var of BatchNorm1d(3) must be >= 0, got -1"
    )
    ref[1].running_var[1] = math.nan
    assert message(lambda: net.copy_params(ref)) == (
        "the running_var of BatchNorm1d(3) must be finite, but 1 of its 3 "
        "entries are NaN or inf"
    )
    assert all(torch.equal(a, b) for a, b in zip(net.parameters(), before))
    ln = tools.Sequential(tools.Linear(2, 3), tools.LayerNorm(3))
    for bad in (
        nn.LayerNorm((2, 3)),
        nn.LayerNorm(3, elementwise_affine=False),
        nn.LayerNorm(3, bias=False),
    ):
        assert message(
            lambda: ln.copy_params(nn.Sequential(nn.Linear(2, 3), bad))
        ) == (
            f"{bad} must normalise one dimension, with "
            "elementwise_affine=True and bias=True, to be copied into a "
            "tools.LayerNorm"
        )
    drop = tools.Sequential(tools.Linear(2, 3), tools.Dropout(0.2))
    assert message(
        lambda: drop.copy_params(nn.Sequential(nn.Linear(2, 3),
                                               nn.Dropout(0.3)))
    ) == (
        "model must have the layout of this Sequential, [Linear(2, 3), "
        "Dropout(p=0.2)], got [Linear(2, 3), Dropout(p=0.3)]"
    )
    drop.copy_params(nn.Sequential(nn.Linear(2, 3), nn.Dropout(0.2)))
