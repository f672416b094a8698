"""The training loop and fit_torch, seen from outside: what the loop asks
of a model (a small recording fake), what it logs and prints, and the
full messages of what it refuses."""

from __future__ import annotations

import math
import re

import pytest
import torch
from torch import nn

import tools
from tools.training import training_loop

F64 = torch.float64


class Fake:
    """A Trainable whose losses are given, recording every call.

    Its parameter ``p`` counts the steps; at ``p == 0`` (where training
    started) the loss is ``start_loss``, after a step ``train_loss`` (and
    ``valid_loss`` on the validation data, asked with accuracy)."""

    loss_name = "MSE"

    def __init__(
        self,
        batch_losses=(1.0,),
        train_loss=0.5,
        start_loss=0.5,
        valid_loss=0.5,
        step=1.0,
    ):
        self.p = torch.zeros(2, dtype=F64)
        self.batch_losses = list(batch_losses)
        self.train_loss, self.start_loss = train_loss, start_loss
        self.valid_loss, self.step = valid_loss, step
        self.calls = []

    def parameters(self):
        return [self.p]

    def _check_data(self, x, y, x_name, y_name):
        return x, y

    def _step(self, x, y, lr):
        self.calls.append(("step", x.shape[0]))
        self.p.add_(self.step)
        return torch.tensor(self.batch_losses.pop(0), dtype=F64)

    def _scores(self, x, y, *, accuracy=True):
        self.calls.append(("scores", x.shape[0], accuracy))
        if not self.p.any():
            return self.start_loss, None
        if accuracy:
            return self.valid_loss, 0.25
        return self.train_loss, None

    def _explain_divergence(self, x):
        self.calls.append(("explain",))


def data(m=4):
    return torch.zeros(m, 2, dtype=F64), torch.zeros(m, 1, dtype=F64)


def message(call, error=ValueError) -> str:
    with pytest.raises(error) as info:
        call()
    return str(info.value)


def test_the_loop_never_asks_for_the_training_accuracy(capsys):
    model = Fake(batch_losses=(1.0, 4.0))
    x, y = data(3)
    log = training_loop(model, x, y, 1, 0.1, 2, x[:1], y[:1])
    assert model.calls == [
        ("step", 2),
        ("step", 1),
        ("scores", 3, False),
        ("scores", 1, True),
    ]
    assert log[0].batch_loss == pytest.approx((2 * 1.0 + 1 * 4.0) / 3)
    assert (log[0].valid_loss, log[0].valid_acc) == (0.5, 0.25)
    # verbose is the default
    assert capsys.readouterr().out == (
        "epoch 1/1  train MSE 0.5000  valid MSE 0.5000  valid acc 0.2500\n"
    )


@pytest.mark.parametrize(
    "batch_loss, train_loss",
    [(math.inf, 0.5), (1.0, math.nan), (math.nan, math.inf)],
)
def test_a_loss_that_is_not_finite_stops_training(batch_loss, train_loss):
    model = Fake(batch_losses=(batch_loss,), train_loss=train_loss)
    x, y = data(2)
    assert message(lambda: training_loop(model, x, y, 1, 0.5, 2)) == (
        "training diverged in epoch 1: the loss became inf or NaN, so "
        "lr=0.5 is too large for this data (or scale the inputs); the "
        "parameters are back to where fit started"
    )
    assert torch.equal(model.p, torch.zeros(2, dtype=F64))
    # back at the start, the model explains an overflow of its own, then
    # the loss there is taken: finite, so the rate is to blame
    assert model.calls[-2:] == [("explain",), ("scores", 2, False)]


def test_validation_data_come_in_pairs():
    x, y = data()
    for args in ((x, None), (None, y)):
        assert message(
            lambda: training_loop(Fake(), x, y, 1, 0.1, 2, *args)
        ) == ("x_valid and y_valid must be given together, or both left out")


# -- fit_torch ------------------------------------------------------------
def lin(n=2, c=1):
    torch.manual_seed(0)
    return nn.Linear(n, c, dtype=F64)


def test_fit_torch_logs_another_loss_under_its_class_name():
    x, y = torch.ones(4, 2, dtype=F64), torch.zeros(4, 1, dtype=F64)
    log = tools.fit_torch(
        lin(), x, y, 1, 0.1, 2, loss_fn=nn.L1Loss(), verbose=False
    )
    assert log[0].loss == "L1Loss"


def test_fit_torch_full_messages_for_the_model():
    x, y = torch.ones(4, 2, dtype=F64), torch.zeros(4, 1, dtype=F64)
    mse = {"loss_fn": nn.MSELoss(), "verbose": False}
    assert message(
        lambda: tools.fit_torch(lambda t: t, x, y, 1, 0.1, 2, **mse), TypeError
    ) == (
        "model must be a torch.nn.Module (for example nn.Linear or "
        "nn.Sequential), got function"
    )
    flat = nn.Sequential(nn.Linear(2, 1, dtype=F64), nn.Flatten(0))
    assert message(lambda: tools.fit_torch(flat, x, y, 1, 0.1, 2, **mse)) == (
        "model outputs shape (m, 1) but y_train has 1 columns; the two "
        "must match"
    )
    assert message(
        lambda: tools.fit_torch(lin(2, 3), x, y, 1, 0.1, 2, **mse)
    ) == (
        "model outputs shape (m, 3) but y_train has 1 columns; the two "
        "must match"
    )


def test_fit_torch_probes_the_model_with_one_sample():
    seen = []

    class Watched(nn.Linear):
        def forward(self, t):
            seen.append(t.shape[0])
            return super().forward(t)

    x, y = torch.ones(4, 2, dtype=F64), torch.zeros(4, 1, dtype=F64)
    model = Watched(2, 1, dtype=F64)
    tools.fit_torch(model, x, y, 0, 0.1, 2, loss_fn=nn.MSELoss())
    assert seen == [1]


def test_fit_torch_full_messages_for_the_data():
    x, y = torch.ones(4, 2, dtype=F64), torch.zeros(4, 1, dtype=F64)

    def fit(x_train, y_train, *valid):
        return lambda: tools.fit_torch(
            lin(),
            x_train,
            y_train,
            1,
            0.1,
            2,
            *valid,
            loss_fn=nn.MSELoss(),
            verbose=False,
        )

    assert message(fit([[1.0]], y), TypeError).startswith(
        "x_train must be a torch.Tensor, got list"
    )
    assert message(fit(x[0], y)) == (
        "x_train must be a 2-D tensor of shape (m, n), got shape (2,)"
    )
    assert message(fit(x, y, x, y + math.nan)) == (
        "y_valid must be finite, but 4 of its 4 entries are NaN or inf"
    )
    assert message(fit(x, y, x + math.inf, y)) == (
        "x_valid must be finite, but 8 of its 8 entries are NaN or inf"
    )
    assert message(fit(x, y, x[:3], y)) == (
        "x_valid and y_valid must have the same number of samples, got 3 and 4"
    )
    assert message(fit(x, y, x, y[0])) == (
        "y_valid must be a 2-D tensor of shape (m, n), got shape (1,)"
    )


# -- divergence: what is blamed, and what is put back ---------------------
def test_a_loss_already_inf_at_the_start_blames_the_data_not_lr():
    model = Fake(batch_losses=(math.inf,), train_loss=math.inf)
    model.start_loss = math.inf
    x, y = data(2)
    assert message(lambda: training_loop(model, x, y, 1, 1e-300, 2)) == (
        "the loss on x_train and y_train is inf already at the parameters "
        "training started from: the data's scale makes it overflow, "
        "whatever lr; scale the data (or use a wider dtype); the "
        "parameters are back to where fit started"
    )
    assert torch.equal(model.p, torch.zeros(2, dtype=F64))


def test_huge_targets_blame_the_data_for_a_real_model():
    # The case: y of 1e200 make the MSE overflow at any parameters
    model = tools.LinearRegression(1, 1, dtype=F64, seed=0)
    start = [p.clone() for p in model.parameters()]
    x = torch.ones(4, 1, dtype=F64)
    y = torch.full((4, 1), 1e200, dtype=F64)
    text = message(lambda: model.fit(x, y, 3, 1e-300, 2, verbose=False))
    assert text.startswith(
        "the loss on x_train and y_train is inf already at the parameters"
    )
    assert "lr=" not in text
    assert all(torch.equal(p, q) for p, q in zip(model.parameters(), start))


def test_a_validation_loss_that_is_not_finite_stops_training():
    model = Fake(batch_losses=(1.0,), valid_loss=math.nan)
    x, y = data(2)
    assert message(
        lambda: training_loop(model, x, y, 1, 0.5, 2, x, y, verbose=False)
    ) == (
        "training diverged in epoch 1: the validation loss became inf or "
        "NaN while the training loss stayed finite, so the model trained "
        "with lr=0.5 overflows on x_valid; use a smaller lr (or scale the "
        "inputs); the parameters are back to where fit started"
    )
    assert torch.equal(model.p, torch.zeros(2, dtype=F64))


def test_validation_data_that_overflow_at_the_start_are_blamed():
    model = tools.LinearRegression(1, 1, dtype=F64, seed=0)
    start = [p.clone() for p in model.parameters()]
    x, y = torch.ones(4, 1, dtype=F64), torch.zeros(4, 1, dtype=F64)
    big = torch.full((2, 1), 1e200, dtype=F64)
    text = message(
        lambda: model.fit(x, y, 2, 0.1, 2, big, y[:2], verbose=False)
    )
    assert text.startswith(
        "the loss on x_valid and y_valid is inf already at the parameters"
    )
    assert all(torch.equal(p, q) for p, q in zip(model.parameters(), start))


def test_a_parameter_that_turns_inf_stops_training_while_the_loss_is_finite():
    model = Fake(batch_losses=(1.0,), step=math.inf)
    x, y = data(2)
    assert message(lambda: training_loop(model, x, y, 1, 0.5, 2)) == (
        "training diverged in epoch 1: the parameters became inf or NaN, "
        "so lr=0.5 is too large for this data (or scale the inputs); the "
        "parameters are back to where fit started"
    )
    assert torch.equal(model.p, torch.zeros(2, dtype=F64))
    # entries near the float64 limit whose sum overflows are finite
    model = Fake(batch_losses=(1.0,), step=1e308)
    log = training_loop(model, x, y, 1, 0.1, 2, verbose=False)
    assert log[0].train_loss == 0.5 and torch.isfinite(model.p).all()


@pytest.mark.parametrize("error", [KeyboardInterrupt, SystemExit])
def test_any_exception_puts_the_parameters_back(error):
    model = Fake(batch_losses=(1.0, 1.0, 1.0))
    steps = model._step

    def step(x, y, lr):
        if len(model.calls) == 2:
            raise error("stop")
        return steps(x, y, lr)

    model._step = step
    x, y = data(6)
    with pytest.raises(error, match="stop"):
        training_loop(model, x, y, 1, 0.1, 2, verbose=False)
    assert torch.equal(model.p, torch.zeros(2, dtype=F64))
    assert ("explain",) not in model.calls
    # a ValueError of the model's own: the model is asked whether the
    # data alone overflow it; with nothing sharper, it is raised as it was
    model = Fake(batch_losses=(1.0, 1.0))
    steps = model._step

    def complain(x, y, lr):
        if len(model.calls) == 1:
            raise ValueError("the model's own complaint")
        return steps(x, y, lr)

    model._step = complain
    assert message(lambda: training_loop(model, x[:4], y[:4], 1, 0.1, 2)) == (
        "the model's own complaint"
    )
    assert torch.equal(model.p, torch.zeros(2, dtype=F64))
    assert model.calls[-1] == ("explain",)


def test_training_loop_says_what_it_accepts():
    x, y = data()
    net = tools.Sequential(tools.Linear(2, 1, dtype=F64))
    assert message(lambda: training_loop(net, x, y, 1, 0.1, 2), TypeError) == (
        "model must be a scratch model of chapters 1-2 "
        "(tools.LinearRegression, tools.SoftmaxClassifier) or another "
        "Trainable (with loss_name, parameters(), _check_data, _step, "
        "_scores and _explain_divergence), got Sequential; train a "
        "Sequential with net.fit(x_train, y_train, epochs, lr, batch_size, "
        "loss=tools.MSELoss())"
    )
    assert message(
        lambda: training_loop(lin(), x, y, 1, 0.1, 2), TypeError
    ).endswith(
        "got Linear; train a torch.nn.Module with tools.fit_torch(model, ...)"
    )
    assert message(
        lambda: training_loop(print, x, y, 1, 0.1, 2), TypeError
    ).endswith("_explain_divergence), got builtin_function_or_method")


# -- fit_torch: divergence, rollback, the probe and what it accepts ------
def test_fit_torch_divergence_raises_and_puts_the_parameters_back():
    model = lin()
    start = {k: t.clone() for k, t in model.state_dict().items()}
    x = torch.linspace(-1, 1, 8, dtype=F64).reshape(4, 2)
    y = torch.ones(4, 1, dtype=F64)
    text = message(
        lambda: tools.fit_torch(
            model, x, y, 50, 1e30, 2, loss_fn=nn.MSELoss(), verbose=False
        )
    )
    assert re.fullmatch(
        "training diverged in epoch [0-9]+: the (loss|parameters) became "
        r"inf or NaN, so lr=1e\+30 is too large for this data \(or scale "
        r"the inputs\); the parameters are back to where fit started",
        text,
    )
    for k, t in model.state_dict().items():
        assert torch.equal(t, start[k])


def test_fit_torch_blames_the_data_when_the_start_loss_overflows():
    model = lin()
    start = [p.detach().clone() for p in model.parameters()]
    x = torch.ones(4, 2, dtype=F64)
    y = torch.full((4, 1), 1e200, dtype=F64)
    assert message(
        lambda: tools.fit_torch(
            model, x, y, 2, 1e-300, 2, loss_fn=nn.MSELoss(), verbose=False
        )
    ).startswith("the loss on x_train and y_train is inf already")
    assert all(torch.equal(p, q) for p, q in zip(model.parameters(), start))


@pytest.mark.parametrize("error", [KeyboardInterrupt, ValueError])
def test_fit_torch_puts_everything_back_on_an_interrupt(error):
    class Interrupted(nn.Linear):
        calls = 0

        def forward(self, t):
            Interrupted.calls += 1
            if Interrupted.calls == 4:  # the probe, then two steps
                raise error("stop")
            return super().forward(t)

    torch.manual_seed(0)
    model = Interrupted(2, 1, dtype=F64)
    start = [p.detach().clone() for p in model.parameters()]
    x, y = torch.randn(8, 2, dtype=F64), torch.randn(8, 1, dtype=F64)
    with pytest.raises(error, match="stop"):
        tools.fit_torch(model, x, y, 1, 0.1, 2, loss_fn=nn.MSELoss())
    assert all(torch.equal(p, q) for p, q in zip(model.parameters(), start))


def test_fit_torch_probe_names_the_widths():
    x, y = torch.ones(4, 2, dtype=F64), torch.zeros(4, 1, dtype=F64)
    mse = {"loss_fn": nn.MSELoss(), "verbose": False}
    net = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 1)).double()
    assert message(lambda: tools.fit_torch(net, x, y, 1, 0.1, 2, **mse)) == (
        "model cannot take x_train of shape (4, 2): the data has 2 columns, "
        "but the model's first layer Linear(in_features=3, out_features=4, "
        "bias=True) (the model's submodule '0') takes 3"
    )
    # a first layer that is not a Linear
    norm = nn.Sequential(nn.BatchNorm1d(3), nn.Linear(3, 1)).double()
    assert message(lambda: tools.fit_torch(norm, x, y, 1, 0.1, 2, **mse)) == (
        "model cannot take x_train of shape (4, 2): the data has 2 columns, "
        f"but the model's first layer {norm[0]} (the model's submodule "
        "'0') takes 3"
    )
    assert message(
        lambda: tools.fit_torch(
            nn.Linear(3, 1, dtype=F64), x, y, 1, 0.1, 2, **mse
        )
    ) == (
        "model cannot take x_train of shape (4, 2): the data has 2 columns, "
        "but the model's first layer Linear(in_features=3, out_features=1, "
        "bias=True) takes 3"
    )
    inner = nn.Sequential(nn.Linear(2, 3), nn.Tanh(), nn.Linear(4, 1))
    assert message(
        lambda: tools.fit_torch(inner.double(), x, y, 1, 0.1, 2, **mse)
    ) == (
        "model cannot take x_train of shape (4, 2): its layer "
        "Linear(in_features=4, out_features=1, bias=True) (the model's "
        "submodule '2') takes 4 inputs but gets 3 from the layers before it"
    )


def test_fit_torch_probe_has_no_side_effects():
    torch.manual_seed(0)
    net = nn.Sequential(
        nn.Linear(2, 4), nn.BatchNorm1d(4), nn.Dropout(0.5), nn.Linear(4, 1)
    ).double()
    net[2].eval()  # a mixed mode must come back as it was
    modes = [m.training for m in net.modules()]
    state = {k: t.clone() for k, t in net.state_dict().items()}
    x, y = torch.randn(6, 2, dtype=F64), torch.zeros(6, 1, dtype=F64)
    rng = torch.get_rng_state()
    # a BatchNorm1d in training mode refuses one row: the probe runs in
    # evaluation mode, and changes neither the running statistics nor the
    # random state (a Dropout in training mode would draw)
    assert tools.fit_torch(net, x, y, 0, 0.1, 2, loss_fn=nn.MSELoss()) == []
    assert [m.training for m in net.modules()] == modes
    for k, t in net.state_dict().items():
        assert torch.equal(t, state[k]), k
    assert torch.equal(torch.get_rng_state(), rng)
    probed = []
    net[0].register_forward_pre_hook(
        lambda m, args: probed.append((m.training, torch.is_grad_enabled()))
    )
    tools.fit_torch(net, x, y, 0, 0.1, 2, loss_fn=nn.MSELoss())
    assert probed == [(False, False)]


def test_fit_torch_says_what_it_accepts():
    x, y = torch.ones(4, 2, dtype=F64), torch.zeros(4, 1, dtype=F64)

    def fit(model=None, **kwargs):
        model = lin() if model is None else model
        return lambda: tools.fit_torch(model, x, y, 1, 0.1, 2, **kwargs)

    assert message(fit(loss_fn=nn.MSELoss), TypeError) == (
        "loss_fn must be a PyTorch loss object such as nn.MSELoss() or "
        "nn.CrossEntropyLoss(), got the class MSELoss; create one: "
        "loss_fn=nn.MSELoss()"
    )
    assert message(fit(loss_fn=tools.MSELoss()), TypeError) == (
        "loss_fn must be a PyTorch loss object such as nn.MSELoss() or "
        "nn.CrossEntropyLoss(), got MSELoss (a tools loss, for "
        "tools.Sequential.fit); fit_torch takes PyTorch's: nn.MSELoss() or "
        "nn.CrossEntropyLoss()"
    )
    net = tools.Sequential(tools.Linear(2, 1, dtype=F64))
    assert message(fit(net, loss_fn=nn.MSELoss()), TypeError) == (
        "model must be a torch.nn.Module (for example nn.Linear or "
        "nn.Sequential), got Sequential; train a tools Sequential with "
        "net.fit(x_train, y_train, epochs, lr, batch_size, "
        "loss=tools.MSELoss())"
    )
    scratch = tools.LinearRegression(2, 1, dtype=F64)
    assert message(fit(scratch, loss_fn=nn.MSELoss()), TypeError).endswith(
        "got LinearRegression; train a tools model with its own fit method"
    )


def test_training_loop_points_a_model_with_its_own_fit_to_it():
    class Estimator:
        def fit(self, x, y):
            return self

    x, y = data()
    assert message(
        lambda: training_loop(Estimator(), x, y, 1, 0.1, 2), TypeError
    ).endswith(
        "got Estimator; it has a fit method of its own: call model.fit(...)"
    )


def test_fit_torch_probe_other_refusals_and_layer_norm():
    x, y = torch.ones(4, 2, dtype=F64), torch.zeros(4, 1, dtype=F64)
    mse = {"loss_fn": nn.MSELoss(), "verbose": False}

    class Boom(nn.Module):
        def forward(self, t):
            raise RuntimeError("boom")

    net = nn.Sequential(nn.Linear(2, 2, dtype=F64), Boom())
    assert message(lambda: tools.fit_torch(net, x, y, 1, 0.1, 2, **mse)) == (
        "model cannot take x_train of shape (4, 2): its layer Boom() (the "
        "model's submodule '1') refused an input of shape (1, 2): boom"
    )
    norm = nn.Sequential(nn.LayerNorm(3), nn.Linear(3, 1)).double()
    assert message(lambda: tools.fit_torch(norm, x, y, 1, 0.1, 2, **mse)) == (
        "model cannot take x_train of shape (4, 2): the data has 2 columns, "
        f"but the model's first layer {norm[0]} (the model's submodule "
        "'0') takes 3"
    )
    assert all(
        not m._forward_pre_hooks and not m._forward_hooks
        for m in net.modules()
    )
    assert message(
        lambda: tools.fit_torch(lin(), x, y, 1, 0.1, 2, loss_fn="mse"),
        TypeError,
    ) == (
        "loss_fn must be a PyTorch loss object such as nn.MSELoss() or "
        "nn.CrossEntropyLoss(), got str"
    )
