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
    assert net.buffers() == [bn.running_mean, bn.running_var]
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


# -- training: fit against fit_torch ----------------------------------------
def data(m: int, seed: int, classes: int = 2):
    x = randn(m, 3, seed=seed) * 2 + 1
    labels = (x[:, 0] + x[:, 1] ** 2 > 2).long() % classes
    return x, nn.functional.one_hot(labels, classes).double()


@pytest.mark.parametrize("loss", ["CE", "MSE"])
def test_fit_matches_fit_torch_with_batch_norm_layer_norm_and_dropout(loss):
    """Per-epoch losses (batch losses in training mode, logged losses in
    evaluation mode), weights and running statistics agree < 1e-10;
    both leave the network in training mode."""
    ref, net = torch_net(p=0.0), scratch_net(p=0.0)
    net.copy_params(ref)
    ref.eval()  # fit_torch must switch it to training mode itself
    net.eval()
    x, y = data(50, seed=1)  # batches of 8 leave 2 rows last
    xv, yv = data(21, seed=2)
    ours_loss = tools.CrossEntropyLoss() if loss == "CE" else tools.MSELoss()
    ref_loss = nn.CrossEntropyLoss() if loss == "CE" else nn.MSELoss()
    log = net.fit(x, y, 4, 0.2, 8, xv, yv, loss=ours_loss, verbose=False)
    ref_log = tools.fit_torch(ref, x, y, 4, 0.2, 8, xv, yv,
                              loss_fn=ref_loss, verbose=False)
    assert len(log) == len(ref_log) == 4
    for ours, theirs in zip(log, ref_log):
        for field in ("train_loss", "batch_loss", "valid_loss"):
            a, b = getattr(ours, field), getattr(theirs, field)
            assert abs(a - b) <= 1e-10 * abs(b), (ours.epoch, field)
        assert ours.valid_acc == theirs.valid_acc
    state = ref.state_dict()
    for name, p in net.named_parameters():
        i, attr = name.split(".")
        key = {"w": "weight", "b": "bias", "gamma": "weight",
               "beta": "bias"}[attr]
        theirs = state[f"{i}.{key}"]
        assert_close(p, theirs.T if attr == "w" else theirs)
    bn = net.layers[1]
    assert_close(bn.running_mean, state["1.running_mean"])
    assert_close(bn.running_var, state["1.running_var"])
    assert net.training and all(layer.training for layer in net.layers)
    assert all(module.training for module in ref.modules())


def test_fit_logs_losses_in_evaluation_mode():
    """With dropout p = 0.5 the logged training loss is the loss of the
    network without dropout and with the running statistics."""
    net = scratch_net(p=0.5)
    x, y = data(40, seed=3)
    log = net.fit(x, y, 2, 0.1, 10, loss=tools.CrossEntropyLoss(),
                  verbose=False)
    assert net.training
    def ce_of(logits: torch.Tensor) -> float:
        return float(nn.functional.cross_entropy(logits, y))

    ce = ce_of(net.eval().predict(x))
    assert abs(log[-1].train_loss - ce) <= 1e-14 * ce
    # the same network in training mode gives other numbers
    assert abs(ce_of(net.train().predict(x)) - ce) > 1e-3


def test_fit_torch_logs_losses_in_evaluation_mode():
    ref = torch_net(p=0.5)
    x, y = data(40, seed=3)
    log = tools.fit_torch(ref, x, y, 2, 0.1, 10, verbose=False)
    assert all(module.training for module in ref.modules())
    with torch.no_grad():
        ce = float(nn.functional.cross_entropy(ref.eval()(x), y))
    assert abs(log[-1].train_loss - ce) <= 1e-14 * ce


def test_fit_refuses_a_one_row_minibatch_for_batch_norm():
    net = scratch_net()
    x, y = data(17, seed=4)
    before = [t.clone() for t in net.parameters() + net.buffers()]
    for batch_size in (8, 1, 16):
        assert message(
            lambda: net.fit(x, y, 1, 0.1, batch_size,
                            loss=tools.CrossEntropyLoss(), verbose=False)
        ) == (
            f"batch_size={batch_size} leaves a minibatch of 1 row of the 17 "
            "rows of x_train, which layer 1 BatchNorm1d(6, momentum=0.2) "
            "refuses in training (a batch variance needs at least 2 rows); "
            "pick a batch_size that leaves every minibatch at least 2 rows"
        )
    now = net.parameters() + net.buffers()
    assert all(torch.equal(a, b) for a, b in zip(before, now))
    assert message(
        lambda: net.fit(x[:1], y[:1], 1, 0.1, 4,
                        loss=tools.CrossEntropyLoss(), verbose=False)
    ).startswith("batch_size=4 leaves a minibatch of 1 row of the 1 rows")
    # other bad values get training_loop's messages, not a raw error
    for bad_x, batch_size, error, start in (
        (x, 0, ValueError, "batch_size must be an integer >= 1, got 0"),
        (x, "8", TypeError, "batch_size must be an integer >= 1, got '8'"),
        (x.tolist(), 8, TypeError, "x_train must be a torch.Tensor"),
        (x[:, 0], 8, ValueError, "x_train must be a 2-D tensor"),
    ):
        assert message(
            lambda: net.fit(bad_x, y, 1, 0.1, batch_size,
                            loss=tools.CrossEntropyLoss(), verbose=False),
            error,
        ).startswith(start)
    # without a batch norm, one-row minibatches are fine
    plain = tools.Sequential(tools.Linear(3, 4, dtype=F64, seed=0),
                             tools.LayerNorm(4, dtype=F64),
                             tools.Dropout(0.2, seed=1),
                             tools.Linear(4, 2, dtype=F64, seed=2))
    plain.fit(x, y, 1, 0.1, 8, loss=tools.CrossEntropyLoss(), verbose=False)


def test_a_failed_fit_leaves_statistics_modes_and_dropout_as_they_were():
    class Interrupting(tools.Linear):
        calls = 0

        def _backward(self, g):
            Interrupting.calls += 1
            if Interrupting.calls == 4:
                raise KeyboardInterrupt
            return super()._backward(g)

    net = tools.Sequential(
        tools.Linear(3, 6, dtype=F64, seed=0),
        tools.BatchNorm1d(6, dtype=F64), tools.ReLU(),
        tools.Dropout(0.3, seed=5), Interrupting(6, 2, dtype=F64, seed=1),
    )
    net.layers[2].eval()  # a mixed mode must come back as it was
    modes = [layer.training for layer in net.layers]
    before = [t.clone() for t in net.parameters() + net.buffers()]
    twin = tools.Dropout(0.3, seed=5)
    x, y = data(20, seed=6)
    with pytest.raises(KeyboardInterrupt):
        net.fit(x, y, 3, 0.1, 4, loss=tools.MSELoss(), verbose=False)
    now = net.parameters() + net.buffers()
    assert all(torch.equal(a, b) for a, b in zip(before, now))
    assert [layer.training for layer in net.layers] == modes
    probe = torch.ones(5, 6, dtype=F64)
    assert torch.equal(net.layers[3].forward(probe), twin.forward(probe))


def test_nothing_of_the_data_is_kept_after_fit():
    net = scratch_net(p=0.3)
    x, y = data(24, seed=7)
    net.fit(x, y, 1, 0.1, 6, loss=tools.CrossEntropyLoss(), verbose=False)
    bn, drop, ln = net.layers[1], net.layers[3], net.layers[5]
    assert bn._xhat is None and bn._inv_std is None and bn.dgamma is None
    assert ln._xhat is None and ln.dbeta is None
    assert drop.mask is None and drop._input is None


# -- modes, predict, widths --------------------------------------------------
def test_sequential_train_and_eval_set_every_layer():
    net = scratch_net()
    assert net.training and all(m.training for m in net.layers)
    assert net.eval() is net
    assert not net.training and not any(m.training for m in net.layers)
    assert net.train() is net and all(m.training for m in net.layers)
    assert message(lambda: net.train("no"), TypeError) == (
        "mode must be True or False, got 'no' (str)"
    )
    assert net.training and all(m.training for m in net.layers)
    assert net.train(False) is net and not net.layers[3].training


def test_predict_in_both_modes_changes_nothing():
    ref, net = torch_net(p=0.0), scratch_net(p=0.0)
    net.copy_params(ref)
    x = randn(7, 3, seed=3)
    stats = [t.clone() for t in net.buffers()]
    with torch.no_grad():
        assert_close(net.eval().predict(x), ref.eval()(x))
        # training: batch statistics (ref updates its running ones too)
        assert_close(net.train().predict(x), ref.train()(x))
    assert all(torch.equal(a, b) for a, b in zip(stats, net.buffers()))


def test_widths_dtypes_and_input_checks_with_the_new_layers():
    assert message(
        lambda: tools.Sequential(tools.Linear(3, 4), tools.BatchNorm1d(5))
    ) == (
        "layer 1 BatchNorm1d(5) takes 5 inputs, but layer 0 Linear(3, 4) "
        "gives 4: a shape that does not fit the next layer"
    )
    assert message(
        lambda: tools.Sequential(tools.Linear(3, 4), tools.Dropout(),
                                 tools.LayerNorm(3))
    ) == (
        "layer 2 LayerNorm(3) takes 3 inputs, but layer 0 Linear(3, 4) "
        "gives 4: a shape that does not fit the next layer"
    )
    assert message(
        lambda: tools.Sequential(tools.Linear(3, 4, dtype=F64),
                                 tools.BatchNorm1d(4, dtype=torch.float32))
    ) == (
        "layer 1 BatchNorm1d(4) is on cpu with torch.float32, but layer 0 "
        "Linear(3, 4) is on cpu with torch.float64: all layers with "
        "parameters must share one device and dtype"
    )
    meta = tools.Sequential(tools.Linear(3, 4, device="meta"),
                            tools.LayerNorm(4, device="meta"))
    assert meta.parameters()[2].device.type == "meta"
    starts_with_dropout = tools.Sequential(
        tools.Dropout(0.1), tools.BatchNorm1d(3, dtype=F64),
        tools.Linear(3, 2, dtype=F64),
    )
    assert message(lambda: starts_with_dropout.forward(randn(4, 2))) == (
        "x must have 3 columns (num_features of BatchNorm1d(3)) (shape "
        "(m, 3)), got shape (4, 2)"
    )
    assert message(lambda: starts_with_dropout.forward(randn(1, 3))) == (
        "x must have at least 2 rows in training mode, got 1: "
        "BatchNorm1d(3) normalises each feature with the batch's variance, "
        "which one row does not have; call eval() to use the running "
        "statistics instead"
    )
    assert starts_with_dropout.eval().forward(randn(1, 3)).shape == (1, 2)


@pytest.mark.parametrize("attribute", ["weight", "bias", "running_mean",
                                       "running_var"])
def test_copy_params_names_a_non_finite_value_of_a_torch_norm(attribute):
    net = tools.Sequential(tools.Linear(2, 3, dtype=F64),
                           tools.BatchNorm1d(3, dtype=F64),
                           tools.LayerNorm(3, dtype=F64))
    for i, name in ((1, "BatchNorm1d(3)"), (2, "LayerNorm(3)")):
        if i == 2 and attribute.startswith("running"):
            continue
        ref = nn.Sequential(nn.Linear(2, 3), nn.BatchNorm1d(3),
                            nn.LayerNorm(3)).double()
        with torch.no_grad():
            getattr(ref[i], attribute)[0] = math.inf
        assert message(lambda: net.copy_params(ref)) == (
            f"the {attribute} of {name} must be finite, but 1 of its 3 "
            "entries are NaN or inf"
        )


def test_copy_params_takes_any_running_variance_from_zero_up():
    net = tools.Sequential(tools.Linear(2, 3, dtype=F64),
                           tools.BatchNorm1d(3, dtype=F64))
    ref = nn.Sequential(nn.Linear(2, 3), nn.BatchNorm1d(3)).double()
    ref[1].running_var.copy_(torch.tensor([0.0, 0.5, 2.0]))
    net.copy_params(ref)
    assert net.layers[1].running_var.tolist() == [0.0, 0.5, 2.0]
