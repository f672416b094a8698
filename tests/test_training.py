"""The training loop and fit_torch, seen from outside: what the loop asks
of a model (a small recording fake), what it logs and prints, and the
full messages of what it refuses."""

from __future__ import annotations

import math

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
