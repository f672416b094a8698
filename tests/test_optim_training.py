"""``fit`` with a ``tools`` optimiser and schedule against ``fit_torch``
with the same ``torch.optim`` optimiser and ``lr_scheduler``: every scratch
model (``Sequential``, ``LinearRegression``, ``SoftmaxClassifier``), the
logged losses of every epoch < 1e-10 relative; a failing fit puts back the
parameters and the optimiser's and scheduler's state; bad combinations are
refused before anything changes.
"""

from __future__ import annotations

import copy

import pytest
import torch
from torch import nn

import tools

F64 = torch.float64
EPOCHS = 8


def data(n_out: int, classify: bool = False):
    g = torch.Generator().manual_seed(0)
    x = torch.randn(60, 3, generator=g, dtype=F64)
    if classify:
        y = torch.nn.functional.one_hot(
            (x[:, 0] + x[:, 1] > 0).long() + (x[:, 2] > 0.5).long(), 3
        ).to(F64)
    else:
        y = torch.sin(2 * x[:, :n_out]) + 0.1 * torch.randn(
            60, n_out, generator=g, dtype=F64
        )
    return x, y


def assert_same_history(ours, theirs):
    assert len(ours) == len(theirs) == EPOCHS
    for a, b in zip(ours, theirs):
        assert abs(a.train_loss - b.train_loss) <= 1e-10 * b.train_loss
        assert abs(a.batch_loss - b.batch_loss) <= 1e-10 * b.batch_loss


OPTIMISERS = [
    ("Adam", dict(lr=0.05), "cosine"),
    ("Adam", dict(lr=0.05, amsgrad=True, weight_decay=0.01), "step"),
    ("AdamW", dict(lr=0.05), "cosine"),
    ("SGD", dict(lr=0.05, momentum=0.9, nesterov=True), "step"),
    ("RMSprop", dict(lr=0.01, centered=True), "cosine"),
    ("Adagrad", dict(lr=0.1), None),
]


def schedules(kind, opt, topt):
    if kind == "cosine":
        return (tools.CosineAnnealingLR(opt, EPOCHS, 0.001),
                torch.optim.lr_scheduler.CosineAnnealingLR(topt, EPOCHS,
                                                           0.001))
    if kind == "step":
        return (tools.StepLR(opt, 3, 0.5),
                torch.optim.lr_scheduler.StepLR(topt, 3, 0.5))
    return None, None


@pytest.mark.parametrize("name, kw, kind", OPTIMISERS,
                         ids=[f"{n}-{k}" for n, _, k in OPTIMISERS])
def test_sequential_fit_with_optimizer_matches_fit_torch(name, kw, kind):
    x, y = data(2)
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(3, 8), nn.Tanh(),
                          nn.Linear(8, 2)).double()
    net = tools.Sequential(tools.Linear(3, 8, dtype=F64), tools.Tanh(),
                           tools.Linear(8, 2, dtype=F64))
    net.copy_params(model)
    opt = getattr(tools, name)(net.parameters(), **kw)
    topt = getattr(torch.optim, name)(model.parameters(), **kw)
    sched, tsched = schedules(kind, opt, topt)
    ours = net.fit(x, y, EPOCHS, None, 16, loss=tools.MSELoss(),
                   verbose=False, optimizer=opt, scheduler=sched)
    theirs = tools.fit_torch(model, x, y, EPOCHS, None, 16,
                             loss_fn=nn.MSELoss(), verbose=False,
                             optimizer=topt, scheduler=tsched)
    assert_same_history(ours, theirs)
    assert opt.lr == topt.param_groups[0]["lr"]
    if kind is not None:
        assert sched.last_epoch == tsched.last_epoch == EPOCHS


@pytest.mark.parametrize("classify", [False, True])
def test_linear_models_fit_with_optimizer_match_fit_torch(classify):
    x, y = data(2, classify)
    n_out = y.shape[1]
    layer = nn.Linear(3, n_out).double()
    model = (tools.SoftmaxClassifier(3, n_out, dtype=F64) if classify
             else tools.LinearRegression(3, n_out, dtype=F64))
    model.copy_params(layer)
    opt = tools.Adam(model.parameters(), lr=0.05)
    topt = torch.optim.Adam(layer.parameters(), lr=0.05)
    sched, tsched = schedules("cosine", opt, topt)
    ours = model.fit(x, y, EPOCHS, None, 16, x, y, verbose=False,
                     optimizer=opt, scheduler=sched)
    loss_fn = nn.CrossEntropyLoss() if classify else nn.MSELoss()
    theirs = tools.fit_torch(layer, x, y, EPOCHS, None, 16, x, y,
                             loss_fn=loss_fn, verbose=False,
                             optimizer=topt, scheduler=tsched)
    assert_same_history(ours, theirs)
    for a, b in zip(ours, theirs):
        assert abs(a.valid_loss - b.valid_loss) <= 1e-10 * b.valid_loss
        assert a.valid_acc == b.valid_acc


def test_without_optimizer_fit_is_plain_sgd_as_before():
    x, y = data(1)
    a = tools.LinearRegression(3, 1, dtype=F64, seed=0)
    b = tools.LinearRegression(3, 1, dtype=F64, seed=0)
    plain = a.fit(x, y, 4, 0.1, 16, verbose=False)
    with_sgd = b.fit(x, y, 4, None, 16, verbose=False,
                     optimizer=tools.SGD(b.parameters(), lr=0.1))
    assert [e.train_loss for e in plain] == [e.train_loss for e in with_sgd]


class Interrupting(tools.Adam):
    """Adam whose 11th step is interrupted (Ctrl-C)."""

    calls = 0

    def step(self, grads):
        self.calls += 1
        if self.calls == 11:
            raise KeyboardInterrupt
        super().step(grads)


def test_failing_fit_puts_back_parameters_optimizer_and_scheduler():
    x, y = data(1)
    model = tools.LinearRegression(3, 1, dtype=F64, seed=0)
    opt = Interrupting(model.parameters(), lr=0.05)
    opt.step([torch.ones(3, 1, dtype=F64), torch.ones(1, dtype=F64)])
    sched = tools.StepLR(opt, 1, 0.5)
    params = [p.clone() for p in model.parameters()]
    state, lr = copy.deepcopy(opt.state), opt.lr
    with pytest.raises(KeyboardInterrupt):
        model.fit(x, y, 5, None, 16, verbose=False, optimizer=opt,
                  scheduler=sched)
    assert opt.calls == 11  # two epochs and more ran
    for p, q in zip(model.parameters(), params):
        assert torch.equal(p, q)
    assert opt.lr == lr and sched.last_epoch == 0
    for s, s0 in zip(opt.state, state):
        assert s["step"] == s0["step"] == 1
        for key in ("exp_avg", "exp_avg_sq"):
            assert torch.equal(s[key], s0[key])


def test_diverging_fit_with_optimizer_is_explained_and_rolled_back():
    x, y = data(1)
    x = x * 1e100
    model = tools.LinearRegression(3, 1, dtype=F64, seed=0)
    before = [p.clone() for p in model.parameters()]
    opt = tools.SGD(model.parameters(), lr=10.0, momentum=0.9)
    with pytest.raises(ValueError, match="diverged|overflow|inf"):
        model.fit(x, y, 5, None, 16, verbose=False, optimizer=opt)
    for p, q in zip(model.parameters(), before):
        assert torch.equal(p, q)
    assert opt.state == [{}, {}]


def test_failing_fit_torch_puts_back_optimizer_and_scheduler():
    x, y = data(1)
    torch.manual_seed(0)
    model = nn.Linear(3, 1).double()
    topt = torch.optim.Adam(model.parameters(), lr=0.05)
    tsched = torch.optim.lr_scheduler.StepLR(topt, 1, 0.5)
    tools.fit_torch(model, x, y, 2, None, 16, loss_fn=nn.MSELoss(),
                    verbose=False, optimizer=topt, scheduler=tsched)
    params = [p.detach().clone() for p in model.parameters()]
    saved = copy.deepcopy(topt.state_dict())
    saved_sched = tsched.state_dict()

    class Boom(nn.MSELoss):
        calls = 0

        def forward(self, a, b):
            Boom.calls += 1
            if Boom.calls == 9:
                raise KeyboardInterrupt
            return super().forward(a, b)

    with pytest.raises(KeyboardInterrupt):
        tools.fit_torch(model, x, y, 5, None, 16, loss_fn=Boom(),
                        verbose=False, optimizer=topt, scheduler=tsched)
    for p, q in zip(model.parameters(), params):
        assert torch.equal(p.detach(), q)
    assert tsched.state_dict() == saved_sched
    now = topt.state_dict()
    assert now["param_groups"] == saved["param_groups"]
    for k, st in saved["state"].items():
        for key, value in st.items():
            assert torch.equal(now["state"][k][key], value)


def _linear():
    return tools.LinearRegression(3, 1, dtype=F64, seed=0)


@pytest.mark.parametrize(
    "make, error, message",
    [
        (lambda m: dict(lr=0.1, optimizer=tools.SGD(m.parameters(), 0.1)),
         ValueError, "lr must be None when an optimizer is given"),
        (lambda m: dict(lr=None), TypeError, "lr must be a positive"),
        (lambda m: dict(lr=None, optimizer=tools.SGD(
            _linear().parameters(), 0.1)),
         ValueError, "optimizer must hold this model's parameters"),
        (lambda m: dict(lr=None, optimizer=tools.SGD(
            m.parameters()[::-1], 0.1)),
         ValueError, "in the order"),
        (lambda m: dict(lr=None, optimizer=torch.optim.SGD(
            [nn.Parameter(torch.zeros(1))], 0.1)),
         TypeError, "use|fit_torch"),
        (lambda m: dict(lr=0.1, scheduler=tools.StepLR(
            tools.SGD(m.parameters(), 0.1), 2)),
         ValueError, "scheduler needs an optimizer"),
        (lambda m: dict(lr=None, optimizer=tools.SGD(m.parameters(), 0.1),
                        scheduler=tools.StepLR(
                            tools.SGD(m.parameters(), 0.1), 2)),
         ValueError, "scheduler must drive the optimizer"),
    ],
)
def test_bad_optimizer_arguments_to_fit(make, error, message):
    x, y = data(1)
    model = _linear()
    before = [p.clone() for p in model.parameters()]
    kwargs = make(model)
    lr = kwargs.pop("lr")
    with pytest.raises(error, match=message):
        model.fit(x, y, 2, lr, 16, verbose=False, **kwargs)
    for p, q in zip(model.parameters(), before):
        assert torch.equal(p, q)


@pytest.mark.parametrize(
    "make, error, message",
    [
        (lambda m: dict(lr=0.1, optimizer=torch.optim.SGD(
            m.parameters(), 0.1)),
         ValueError, "lr must be None"),
        (lambda m: dict(lr=None, optimizer=tools.SGD(
            [p.detach() for p in m.parameters()], 0.1)),
         TypeError, "must be a torch.optim optimizer"),
        (lambda m: dict(lr=None, weight_decay=0.1, optimizer=torch.optim.SGD(
            m.parameters(), 0.1)),
         ValueError, "weight_decay must be 0"),
        (lambda m: dict(lr=None, optimizer=torch.optim.SGD(
            [nn.Parameter(torch.zeros(1, dtype=F64))], 0.1)),
         ValueError, "must hold the model's parameters"),
        (lambda m: dict(lr=0.1, scheduler=torch.optim.lr_scheduler.StepLR(
            torch.optim.SGD(m.parameters(), 0.1), 2)),
         ValueError, "scheduler needs an optimizer"),
    ],
)
def test_bad_optimizer_arguments_to_fit_torch(make, error, message):
    x, y = data(1)
    model = nn.Linear(3, 1).double()
    before = [p.detach().clone() for p in model.parameters()]
    kwargs = make(model)
    lr = kwargs.pop("lr")
    with pytest.raises(error, match=message):
        tools.fit_torch(model, x, y, 2, lr, 16, loss_fn=nn.MSELoss(),
                        verbose=False, **kwargs)
    for p, q in zip(model.parameters(), before):
        assert torch.equal(p.detach(), q)
