"""``tools.StepLR`` and ``tools.CosineAnnealingLR`` against
``torch.optim.lr_scheduler``: the rate after every epoch equal to
PyTorch's to the last bit (past ``T_max`` too, where the cosine climbs
back), the closed forms to rounding, a schedule driving an optimiser
(rates and parameters equal to PyTorch's), ``state_dict`` and bad input.
"""

from __future__ import annotations

import math

import pytest
import torch

import tools

F64 = torch.float64
# PyTorch warns when its schedule steps with no optimiser step before it
pytestmark = pytest.mark.filterwarnings("ignore:Detected call of")


def torch_pair(lr: float):
    p = torch.nn.Parameter(torch.zeros(2, dtype=F64))
    return torch.optim.SGD([p], lr=lr)


def rates(scheduler, optimizer_lr, epochs: int) -> list[float]:
    out = [optimizer_lr()]
    for _ in range(epochs):
        scheduler.step()
        out.append(optimizer_lr())
    return out


STEP_CASES = [(0.1, 3, 0.1), (0.5, 1, 0.9), (1.0, 7, 0.5), (0.03, 2, 1.5)]
COSINE_CASES = [(0.1, 10, 0.0), (0.5, 7, 0.01), (1.0, 1, 0.0),
                (0.2, 13, 0.05)]


@pytest.mark.parametrize("lr, step_size, gamma", STEP_CASES)
def test_step_lr_matches_torch_bit_for_bit(lr, step_size, gamma):
    opt = tools.SGD([torch.zeros(2, dtype=F64)], lr=lr)
    mine = rates(tools.StepLR(opt, step_size, gamma), lambda: opt.lr, 40)
    topt = torch_pair(lr)
    sched = torch.optim.lr_scheduler.StepLR(topt, step_size, gamma)
    theirs = rates(sched, lambda: topt.param_groups[0]["lr"], 40)
    assert mine == theirs
    closed = [lr * gamma ** (e // step_size) for e in range(41)]
    assert max(abs(a - b) / b for a, b in zip(mine, closed)) < 1e-14


@pytest.mark.parametrize("lr, t_max, eta_min", COSINE_CASES)
def test_cosine_matches_torch_bit_for_bit(lr, t_max, eta_min):
    opt = tools.Adam([torch.zeros(2, dtype=F64)], lr=lr)
    sched = tools.CosineAnnealingLR(opt, t_max, eta_min)
    mine = rates(sched, lambda: opt.lr, 3 * t_max + 5)
    topt = torch_pair(lr)
    tsched = torch.optim.lr_scheduler.CosineAnnealingLR(topt, t_max, eta_min)
    theirs = rates(tsched, lambda: topt.param_groups[0]["lr"], 3 * t_max + 5)
    assert mine == theirs
    assert sched.get_last_lr() == tsched.get_last_lr()[0]
    closed = [
        eta_min + (lr - eta_min) * (1 + math.cos(math.pi * e / t_max)) / 2
        for e in range(3 * t_max + 6)
    ]
    assert max(abs(a - b) for a, b in zip(mine, closed)) < 1e-12
    assert mine[t_max] == pytest.approx(eta_min, abs=1e-15)


def test_schedule_drives_optimiser_as_torch():
    """Adam + cosine for 12 epochs of 5 steps: parameters bit-equal."""
    g = torch.Generator().manual_seed(0)
    start = torch.randn(3, 4, generator=g, dtype=F64)
    mine = [start.clone()]
    opt = tools.Adam(mine, lr=0.05)
    sched = tools.CosineAnnealingLR(opt, 12, 0.001)
    theirs = [torch.nn.Parameter(start.clone())]
    topt = torch.optim.Adam(theirs, lr=0.05)
    tsched = torch.optim.lr_scheduler.CosineAnnealingLR(topt, 12, 0.001)
    for _ in range(12):
        for _ in range(5):
            grad = mine[0] + torch.randn(3, 4, generator=g, dtype=F64)
            opt.step([grad])
            theirs[0].grad = grad.clone()
            topt.step()
        sched.step()
        tsched.step()
        assert opt.lr == topt.param_groups[0]["lr"]
        assert torch.equal(mine[0], theirs[0].detach())


def test_a_rate_changed_by_hand_is_carried_on_as_in_torch():
    """Both compute from the optimiser's current rate (recursive form)."""
    opt = tools.SGD([torch.zeros(1, dtype=F64)], lr=0.1)
    sched = tools.CosineAnnealingLR(opt, 10)
    topt = torch_pair(0.1)
    tsched = torch.optim.lr_scheduler.CosineAnnealingLR(topt, 10)
    for epoch in range(8):
        if epoch == 3:
            opt.lr = 0.3
            topt.param_groups[0]["lr"] = 0.3
        sched.step()
        tsched.step()
        assert opt.lr == topt.param_groups[0]["lr"]


def test_state_dict_round_trip():
    opt = tools.SGD([torch.zeros(1, dtype=F64)], lr=0.1)
    sched = tools.CosineAnnealingLR(opt, 10, 0.01)
    for _ in range(3):
        sched.step()
    saved, lr = sched.state_dict(), opt.lr
    assert saved == {"base_lr": 0.1, "last_epoch": 3, "T_max": 10,
                     "eta_min": 0.01}
    later = [sched.step() or opt.lr for _ in range(4)]
    sched.load_state_dict(saved)
    opt.lr = lr
    assert [sched.step() or opt.lr for _ in range(4)] == later
    step = tools.StepLR(opt, 2)
    assert step.state_dict() == {"base_lr": opt.lr, "last_epoch": 0,
                                 "step_size": 2, "gamma": 0.1}


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda o: tools.StepLR(o, 0), "step_size"),
        (lambda o: tools.StepLR(o, 2.0), "step_size"),
        (lambda o: tools.StepLR(o, 2, 0.0), "gamma"),
        (lambda o: tools.StepLR(o, 2, float("nan")), "gamma"),
        (lambda o: tools.CosineAnnealingLR(o, 0), "T_max"),
        (lambda o: tools.CosineAnnealingLR(o, 5, -0.1), "eta_min"),
        (lambda o: tools.CosineAnnealingLR(o, 5, float("nan")), "eta_min"),
        (lambda o: tools.StepLR(object(), 2), "optimizer"),
    ],
)
def test_bad_settings_are_refused(make, message):
    opt = tools.SGD([torch.zeros(1, dtype=F64)], lr=0.1)
    with pytest.raises((ValueError, TypeError), match=message):
        make(opt)
    assert opt.lr == 0.1


def test_bad_state_dict_changes_nothing():
    opt = tools.SGD([torch.zeros(1, dtype=F64)], lr=0.1)
    sched = tools.StepLR(opt, 3)
    sched.step()
    before = sched.state_dict()
    for bad in (
        {"base_lr": 0.1},
        dict(before, step_size=0),
        dict(before, gamma=-1.0),
        dict(before, last_epoch=-2),
        dict(before, base_lr=float("nan")),
        "state",
    ):
        with pytest.raises((ValueError, TypeError)):
            sched.load_state_dict(bad)
        assert sched.state_dict() == before


# ------------------------------------------- full messages (mutation tests)

GRID = "['base_lr', 'gamma', 'last_epoch', 'step_size']"


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda o: tools.StepLR(object(), 2),
         "optimizer must be one of the tools optimisers (an object with "
         "an lr attribute), got object"),
        (lambda o: tools.StepLR(o, 0),
         "step_size must be an integer >= 1, got 0"),
        (lambda o: tools.StepLR(o, 2, 0.0),
         "gamma must lie in (0, inf), got 0.0"),
        (lambda o: tools.CosineAnnealingLR(o, 0),
         "T_max must be an integer >= 1, got 0"),
        (lambda o: tools.CosineAnnealingLR(o, 5, -0.1),
         "eta_min must lie in [0, inf), got -0.1"),
    ],
)
def test_bad_settings_have_full_messages(make, message):
    opt = tools.SGD([torch.zeros(1, dtype=F64)], lr=0.1)
    with pytest.raises((ValueError, TypeError)) as error:
        make(opt)
    assert str(error.value) == message


@pytest.mark.parametrize(
    "change, message",
    [
        (lambda d: {"base_lr": 0.1},
         f"state_dict must be a dict with the keys {GRID}, "
         "got ['base_lr']"),
        (lambda d: dict(d, base_lr=float("nan")),
         "state_dict['base_lr'] must lie in [0, inf), got nan"),
        (lambda d: dict(d, last_epoch=-2),
         "state_dict['last_epoch'] must be an integer >= 0, got -2"),
        (lambda d: dict(d, step_size=0),
         "step_size must be an integer >= 1, got 0"),
        (lambda d: dict(d, gamma=-1.0),
         "gamma must lie in (0, inf), got -1.0"),
    ],
)
def test_bad_state_dict_has_full_messages(change, message):
    opt = tools.SGD([torch.zeros(1, dtype=F64)], lr=0.1)
    sched = tools.StepLR(opt, 3)
    sched.step()
    before = sched.state_dict()
    with pytest.raises(ValueError) as error:
        sched.load_state_dict(change(before))
    assert str(error.value) == message
    assert sched.state_dict() == before


def test_a_state_dict_that_is_no_dict_is_a_type_error():
    """As the optimisers' load_state_dict: the wrong kind of object is a
    TypeError, a dict with the wrong keys a ValueError."""
    opt = tools.SGD([torch.zeros(1, dtype=F64)], lr=0.1)
    sched = tools.CosineAnnealingLR(opt, 5)
    before = sched.state_dict()
    with pytest.raises(TypeError) as error:
        sched.load_state_dict([("base_lr", 0.1)])
    assert str(error.value) == (
        "state_dict must be a dict from state_dict(), got list"
    )
    assert sched.state_dict() == before
