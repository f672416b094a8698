"""The scratch optimisers of ``tools.optim`` against ``torch.optim``.

Every optimiser and option combination runs 60 steps of varied gradients
(a smooth part that depends on the parameters plus noise of changing
scale, some entries exactly zero) on three tensors of different shapes,
float64, beside the same ``torch.optim`` optimiser fed the same
gradients; the parameters and every state tensor agree to < 1e-12
relative, and the state keys and step counts are PyTorch's. A state
copied out of ``torch.optim`` midway carries on identically, the learning
rate is read at every step, ``state_dict`` rolls back, and every bad input
is refused before anything changes.
"""

from __future__ import annotations

import copy
import math

import pytest
import torch

import tools

F64 = torch.float64
STEPS = 60
SHAPES = [(4, 3), (3,), (2, 2, 2)]


def start_params() -> list[torch.Tensor]:
    g = torch.Generator().manual_seed(1)
    return [torch.randn(s, generator=g, dtype=F64) for s in SHAPES]


def gradients(params: list[torch.Tensor], k: int) -> list[torch.Tensor]:
    """Step k's gradients: 0.5 p + noise whose scale swings over three
    orders of magnitude, with a few exact zeros."""
    g = torch.Generator().manual_seed(100 + k)
    scale = 10.0 ** (2 * math.sin(0.7 * k))
    out = []
    for p in params:
        noise = torch.randn(p.shape, generator=g, dtype=F64) * scale
        grad = 0.5 * p + noise
        grad[torch.rand(p.shape, generator=g, dtype=F64) < 0.1] = 0.0
        out.append(grad)
    return out


def rel(a: torch.Tensor, b: torch.Tensor) -> float:
    return tools.max_relative_error(a, b)


CASES = [
    ("SGD", dict(lr=0.01)),
    ("SGD", dict(lr=0.01, weight_decay=0.1)),
    ("SGD", dict(lr=0.01, momentum=0.9)),
    ("SGD", dict(lr=0.01, momentum=0.9, dampening=0.3)),
    ("SGD", dict(lr=0.01, momentum=0.9, nesterov=True)),
    ("SGD", dict(lr=0.01, momentum=0.8, nesterov=True, weight_decay=0.05)),
    ("SGD", dict(lr=0.01, momentum=0.5, dampening=1.0, weight_decay=0.1)),
    ("Adagrad", dict()),
    ("Adagrad", dict(lr=0.1, lr_decay=0.05)),
    ("Adagrad", dict(lr=0.1, weight_decay=0.1)),
    ("Adagrad", dict(lr=0.1, initial_accumulator_value=0.5, eps=1e-6)),
    ("RMSprop", dict()),
    ("RMSprop", dict(lr=0.005, alpha=0.9, eps=1e-6)),
    ("RMSprop", dict(lr=0.005, centered=True)),
    ("RMSprop", dict(lr=0.005, momentum=0.9)),
    ("RMSprop", dict(lr=0.005, momentum=0.9, centered=True,
                     weight_decay=0.1)),
    ("Adam", dict()),
    ("Adam", dict(lr=0.01, betas=(0.8, 0.99), eps=1e-6)),
    ("Adam", dict(lr=0.01, amsgrad=True)),
    ("Adam", dict(lr=0.01, weight_decay=0.1)),
    ("Adam", dict(lr=0.01, weight_decay=0.1, amsgrad=True)),
    ("AdamW", dict()),
    ("AdamW", dict(lr=0.01, weight_decay=0.1)),
    ("AdamW", dict(lr=0.01, weight_decay=0.1, amsgrad=True,
                   betas=(0.5, 0.9))),
]
IDS = [f"{name}-{kw}" for name, kw in CASES]
STATE_KEYS = {
    "SGD": {"momentum_buffer"},
    "Adagrad": {"step", "sum"},
    "RMSprop": {"step", "square_avg", "momentum_buffer", "grad_avg"},
    "Adam": {"step", "exp_avg", "exp_avg_sq", "max_exp_avg_sq"},
    "AdamW": {"step", "exp_avg", "exp_avg_sq", "max_exp_avg_sq"},
}


def pair(name: str, kw: dict):
    mine = start_params()
    theirs = [torch.nn.Parameter(p.clone()) for p in mine]
    return (
        mine,
        getattr(tools, name)(mine, **kw),
        theirs,
        getattr(torch.optim, name)(theirs, **kw),
    )


def torch_step(opt: torch.optim.Optimizer, params, grads) -> None:
    for p, g in zip(params, grads):
        p.grad = g.clone()
    opt.step()


def assert_same(mine, opt, theirs, topt, where: str) -> None:
    for i, (p, q) in enumerate(zip(mine, theirs)):
        assert rel(p, q.detach()) < 1e-12, f"{where}: params[{i}]"
        s, ts = opt.state[i], topt.state[q]
        tensors = {k for k, x in ts.items() if torch.is_tensor(x)}
        tensors.discard("step")
        assert set(s) == set(ts), (where, set(s), set(ts))
        for key in tensors:
            assert rel(s[key], ts[key]) < 1e-12, f"{where}: {key}[{i}]"
        if "step" in ts:
            assert type(s["step"]) is int
            assert s["step"] == int(ts["step"])


@pytest.mark.parametrize("name, kw", CASES, ids=IDS)
def test_matches_torch_optim(name, kw):
    mine, opt, theirs, topt = pair(name, kw)
    assert opt.state == [{} for _ in mine]
    for k in range(STEPS):
        grads = gradients(mine, k)
        opt.step(grads)
        torch_step(topt, theirs, grads)
        assert_same(mine, opt, theirs, topt, f"step {k + 1}")
    keys = set().union(*map(set, opt.state))
    assert keys <= STATE_KEYS[name]
    # the parameters moved well away from where they started
    moved = max(rel(p, q) for p, q in zip(mine, start_params()))
    assert moved > 1e-3


@pytest.mark.parametrize("name, kw", CASES, ids=IDS)
def test_state_copied_from_torch_midway_continues(name, kw):
    mine, opt, theirs, topt = pair(name, kw)
    for k in range(25):
        torch_step(topt, theirs, gradients(theirs, k))
    fresh = [p.detach().clone() for p in theirs]
    opt = getattr(tools, name)(fresh, **kw)
    for i, q in enumerate(theirs):
        # PyTorch keeps the count as a float tensor; ours is an int
        opt.state[i] = {
            k: (int(x) if k == "step" else x.clone())
            for k, x in topt.state[q].items()
        }
    for k in range(25, STEPS):
        grads = gradients(fresh, k)
        opt.step(grads)
        torch_step(topt, theirs, grads)
        assert_same(fresh, opt, theirs, topt, f"step {k + 1}")


def test_a_missing_entry_starts_as_torchs_and_a_preset_one_is_used():
    p = [torch.ones(3, dtype=F64)]
    opt = tools.Adam(p, lr=0.1)
    opt.state[0]["exp_avg"] = buf = torch.full((3,), 2.0, dtype=F64)
    opt.step([torch.ones(3, dtype=F64)])
    assert opt.state[0]["exp_avg"] is buf  # the caller's tensor, in place
    assert torch.allclose(buf, torch.full((3,), 0.9 * 2 + 0.1, dtype=F64))
    assert opt.state[0]["step"] == 1
    assert torch.allclose(
        opt.state[0]["exp_avg_sq"], torch.full((3,), 0.001, dtype=F64)
    )
    # a preset step: the bias correction uses it
    q = [torch.zeros(1, dtype=F64)]
    opt = tools.Adam(q, lr=1.0)
    opt.state[0]["step"] = torch.tensor(9.0)  # as torch.optim keeps it
    opt.step([torch.ones(1, dtype=F64)])
    m_hat = 0.1 / (1 - 0.9**10)
    v_hat = 0.001 / (1 - 0.999**10)
    assert opt.state[0]["step"] == 10
    assert abs(float(q[0]) + m_hat / (math.sqrt(v_hat) + 1e-8)) < 1e-15


def test_sgd_first_momentum_buffer_is_the_gradient():
    p = [torch.zeros(2, dtype=F64)]
    opt = tools.SGD(p, lr=0.5, momentum=0.9, dampening=0.5)
    g = torch.tensor([1.0, -2.0], dtype=F64)
    opt.step([g])
    assert torch.equal(opt.state[0]["momentum_buffer"], g)
    assert opt.state[0]["momentum_buffer"] is not g
    assert torch.equal(p[0], -0.5 * g)
    assert "step" not in opt.state[0]
    assert tools.SGD(p, lr=0.1).state == [{}]


@pytest.mark.parametrize("name", ["SGD", "RMSprop", "Adam"])
def test_lr_is_read_at_every_step(name):
    """Change the rate every step on both sides: still equal."""
    kw = dict(lr=0.01, momentum=0.9) if name != "Adam" else dict(lr=0.01)
    mine, opt, theirs, topt = pair(name, kw)
    for k in range(STEPS):
        lr = 0.02 * (1 + math.cos(k / 5))
        opt.lr = lr
        topt.param_groups[0]["lr"] = lr
        grads = gradients(mine, k)
        opt.step(grads)
        torch_step(topt, theirs, grads)
    assert_same(mine, opt, theirs, topt, "changing lr")


def test_optimiser_updates_nn_parameters_in_place():
    layer = torch.nn.Linear(3, 2, dtype=F64)
    weight = layer.weight
    opt = tools.SGD(list(layer.parameters()), lr=0.1)
    before = weight.detach().clone()
    opt.step([torch.ones(2, 3, dtype=F64), torch.ones(2, dtype=F64)])
    assert layer.weight is weight
    assert torch.equal(weight.detach(), before - 0.1)


@pytest.mark.parametrize("name, kw", CASES[::3], ids=IDS[::3])
def test_state_dict_rolls_back(name, kw):
    mine, opt, _, _ = pair(name, kw)
    for k in range(5):
        opt.step(gradients(mine, k))
    saved_params = [p.clone() for p in mine]
    saved = opt.state_dict()
    for k in range(5, 10):
        opt.step(gradients(mine, k))
    opt.lr = 0.5
    for p, p0 in zip(mine, saved_params):
        p.copy_(p0)
    opt.load_state_dict(saved)
    assert opt.lr == kw.get("lr", opt.lr)
    # the loaded state is a copy: stepping does not change ``saved``
    snapshot = copy.deepcopy(saved)
    for k in range(5, 10):
        opt.step(gradients(mine, k))
    for a, b in zip(saved["state"], snapshot["state"]):
        for key in a:
            assert torch.equal(torch.as_tensor(a[key]),
                               torch.as_tensor(b[key]))
    # and the replay lands where the first run did
    again, opt2, _, _ = pair(name, kw)
    for k in range(10):
        opt2.step(gradients(again, k))
    for p, q in zip(mine, again):
        assert torch.equal(p, q)


# ------------------------------------------------------------ bad input


def snapshot(params, opt):
    return [p.clone() for p in params], copy.deepcopy(opt.state), opt.lr


def assert_unchanged(params, opt, snap) -> None:
    ps, state, lr = snap
    for p, q in zip(params, ps):
        assert torch.equal(p, q)
    assert opt.lr == lr
    assert len(opt.state) == len(state)
    for s, s0 in zip(opt.state, state):
        assert set(s) == set(s0)
        for key in s:
            assert torch.equal(torch.as_tensor(s[key]).nan_to_num(),
                               torch.as_tensor(s0[key]).nan_to_num())


BAD_HYPER = [
    ("SGD", dict(lr=-0.1), "lr"),
    ("SGD", dict(lr=float("nan")), "lr"),
    ("SGD", dict(lr=float("inf")), "lr"),
    ("SGD", dict(lr="0.1"), "lr"),
    ("SGD", dict(lr=True), "lr"),
    ("SGD", dict(lr=0.1, momentum=-0.5), "momentum"),
    ("SGD", dict(lr=0.1, momentum=1.0), "momentum"),
    ("SGD", dict(lr=0.1, momentum=float("nan")), "momentum"),
    ("SGD", dict(lr=0.1, momentum=0.9, dampening=1.5), "dampening"),
    ("SGD", dict(lr=0.1, momentum=0.9, dampening=-0.1), "dampening"),
    ("SGD", dict(lr=0.1, weight_decay=-1e-3), "weight_decay"),
    ("SGD", dict(lr=0.1, weight_decay=float("nan")), "weight_decay"),
    ("SGD", dict(lr=0.1, nesterov=True), "nesterov"),
    ("SGD", dict(lr=0.1, momentum=0.9, dampening=0.1, nesterov=True),
     "nesterov"),
    ("SGD", dict(lr=0.1, momentum=0.9, nesterov=1), "nesterov"),
    ("Adagrad", dict(lr_decay=-1.0), "lr_decay"),
    ("Adagrad", dict(initial_accumulator_value=-1.0),
     "initial_accumulator_value"),
    ("Adagrad", dict(eps=0.0), "eps"),
    ("Adagrad", dict(eps=float("nan")), "eps"),
    ("Adagrad", dict(weight_decay=-1.0), "weight_decay"),
    ("RMSprop", dict(alpha=1.5), "alpha"),
    ("RMSprop", dict(alpha=1.0), "alpha"),
    ("RMSprop", dict(alpha=-0.1), "alpha"),
    ("RMSprop", dict(alpha=float("nan")), "alpha"),
    ("RMSprop", dict(eps=-1e-8), "eps"),
    ("RMSprop", dict(momentum=1.2), "momentum"),
    ("RMSprop", dict(centered="yes"), "centered"),
    ("Adam", dict(betas=(1.0, 0.999)), "betas[0]"),
    ("Adam", dict(betas=(0.9, -0.1)), "betas[1]"),
    ("Adam", dict(betas=(0.9, float("nan"))), "betas[1]"),
    ("Adam", dict(betas=0.9), "betas"),
    ("Adam", dict(betas=(0.9, 0.99, 0.9)), "betas"),
    ("Adam", dict(eps=0.0), "eps"),
    ("Adam", dict(lr=float("nan")), "lr"),
    ("Adam", dict(weight_decay=-0.01), "weight_decay"),
    ("Adam", dict(amsgrad=None), "amsgrad"),
    ("AdamW", dict(weight_decay=float("inf")), "weight_decay"),
    ("KerasSGD", dict(momentum=1.0), "momentum"),
    ("KerasSGD", dict(learning_rate=-1.0), "lr"),
    ("KerasRMSprop", dict(rho=1.0), "rho"),
    ("KerasRMSprop", dict(epsilon=0.0), "epsilon"),
    ("KerasAdagrad", dict(initial_accumulator_value=-0.1),
     "initial_accumulator_value"),
    ("KerasAdam", dict(beta_1=1.0), "beta_1"),
    ("KerasAdam", dict(beta_2=float("nan")), "beta_2"),
    ("KerasAdamW", dict(weight_decay=-0.004), "weight_decay"),
]


@pytest.mark.parametrize("name, kw, arg", BAD_HYPER,
                         ids=[f"{n}-{k}" for n, k, _ in BAD_HYPER])
def test_bad_hyperparameters_are_refused(name, kw, arg):
    with pytest.raises((ValueError, TypeError), match=arg.replace("[", r"\[")):
        getattr(tools, name)(start_params(), **kw)


SPOILT = [
    ("SGD", "momentum", 1.0),
    ("SGD", "momentum", float("nan")),
    ("SGD", "dampening", 2.0),
    ("SGD", "weight_decay", -1.0),
    ("SGD", "nesterov", "yes"),
    ("Adagrad", "eps", 0.0),
    ("Adagrad", "lr_decay", float("nan")),
    ("RMSprop", "alpha", 1.5),
    ("RMSprop", "centered", 1),
    ("Adam", "betas", (0.9, 1.0)),
    ("AdamW", "weight_decay", float("nan")),
    ("KerasRMSprop", "rho", -0.5),
    ("KerasAdam", "epsilon", float("inf") * 0),
]


@pytest.mark.parametrize("name, attr, bad", SPOILT,
                         ids=[f"{n}-{a}" for n, a, _ in SPOILT])
def test_hyperparameter_spoilt_later_is_refused_at_step(name, attr, bad):
    """Set a bad value on a working optimiser: the next step refuses and
    changes nothing."""
    params = start_params()
    kw = dict(lr=0.1, momentum=0.5) if name == "SGD" else {}
    opt = getattr(tools, name)(params, **kw)
    opt.step(gradients(params, 0))
    snap = snapshot(params, opt)
    setattr(opt, attr, bad)
    with pytest.raises((ValueError, TypeError), match=attr):
        opt.step(gradients(params, 1))
    assert_unchanged(params, opt, snap)


def bad_grads(params):
    good = gradients(params, 3)
    nan = [g.clone() for g in good]
    nan[2][0, 1, 1] = float("nan")
    inf = [g.clone() for g in good]
    inf[0][1, 1] = -float("inf")
    return [
        ("tensor", good[0], "list of tensors"),
        ("short", good[:2], "one gradient per parameter: 3, got 2"),
        ("long", good + [good[0]], "one gradient per parameter: 3, got 4"),
        ("not a tensor", [good[0], [1.0, 2.0, 3.0], good[2]],
         "grads\\[1\\] must be a torch.Tensor"),
        ("shape", [good[0].T, good[1], good[2]], "grads\\[0\\] must have "
         "the shape of params\\[0\\], \\(4, 3\\), got \\(3, 4\\)"),
        ("dtype", [good[0], good[1].float(), good[2]],
         "grads\\[1\\] has dtype torch.float32"),
        ("int", [good[0], good[1].long(), good[2]],
         "grads\\[1\\] has dtype torch.int64"),
        ("device", [good[0], good[1].to("meta"), good[2]],
         "grads\\[1\\] is on device meta"),
        ("nan", nan, "grads\\[2\\] must be finite, but 1 of its 8"),
        ("inf", inf, "grads\\[0\\] must be finite, but 1 of its 12"),
    ]


@pytest.mark.parametrize("name, kw", CASES[::2], ids=IDS[::2])
@pytest.mark.parametrize("case", range(10))
def test_bad_gradients_change_nothing(name, kw, case):
    mine, opt, _, _ = pair(name, kw)
    for k in range(3):
        opt.step(gradients(mine, k))
    label, grads, message = bad_grads(mine)[case]
    snap = snapshot(mine, opt)
    with pytest.raises((ValueError, TypeError), match=message):
        opt.step(grads)
    assert_unchanged(mine, opt, snap)


def test_a_nan_in_the_last_gradient_leaves_the_first_parameter_alone():
    """The check of every gradient comes before the first update."""
    params = start_params()
    opt = tools.Adam(params, lr=0.1)
    grads = gradients(params, 0)
    grads[-1][0, 0, 0] = float("nan")
    before = params[0].clone()
    with pytest.raises(ValueError, match="grads\\[2\\]"):
        opt.step(grads)
    assert torch.equal(params[0], before)
    assert opt.state == [{}, {}, {}]


BAD_STATE = [
    ({"exp_avg": torch.zeros(4, 3)}, "state\\[0\\]\\['exp_avg'\\] has "
     "dtype torch.float32"),
    ({"exp_avg": torch.zeros(3, 4, dtype=F64)}, "must have the shape"),
    ({"exp_avg": torch.full((4, 3), float("nan"), dtype=F64)},
     "must be finite"),
    ({"step": -1}, "'step'\\] must be a whole number >= 0"),
    ({"step": 1.5}, "'step'\\] must be a whole number >= 0"),
    ({"step": torch.tensor(2.5)}, "whole number"),
    ({"momentum_buffer": torch.zeros(4, 3, dtype=F64)},
     "state\\[0\\] has the key 'momentum_buffer'"),
    ({"exp_avg": [0.0] * 3}, "must be a torch.Tensor"),
]


@pytest.mark.parametrize("preset, message", BAD_STATE)
def test_bad_preset_state_is_refused_before_anything_changes(
    preset, message
):
    params = start_params()
    opt = tools.Adam(params, lr=0.1)
    opt.state[0] = preset
    snap = snapshot(params, opt)
    with pytest.raises((ValueError, TypeError), match=message):
        opt.step(gradients(params, 0))
    assert_unchanged(params, opt, snap)
    assert opt.state[1:] == [{}, {}]


def test_state_must_be_dicts():
    params = start_params()
    opt = tools.SGD(params, lr=0.1)
    opt.state[1] = None
    with pytest.raises(TypeError, match="state\\[1\\] must be a dict"):
        opt.step(gradients(params, 0))


@pytest.mark.parametrize(
    "params, error, message",
    [
        (torch.zeros(3), TypeError, "params must be a list of tensors"),
        ([], ValueError, "at least one tensor"),
        ([torch.zeros(3), 1.0], TypeError, "params\\[1\\] must be a torch"),
        ([torch.zeros(3, dtype=torch.long)], TypeError, "floating-point"),
    ],
)
def test_bad_params(params, error, message):
    with pytest.raises(error, match=message):
        tools.Adam(params)


def test_the_same_tensor_twice_is_refused():
    p = torch.zeros(3, dtype=F64)
    with pytest.raises(ValueError, match="params\\[1\\] is the same tensor"):
        tools.SGD([p, p], lr=0.1)


def test_lr_assignment_is_checked():
    opt = tools.SGD(start_params(), lr=0.1)
    for bad in (float("nan"), -1.0, float("inf"), None):
        with pytest.raises((ValueError, TypeError), match="lr"):
            opt.lr = bad
    assert opt.lr == 0.1
    opt.lr = 0.0  # a schedule may go all the way down
    assert opt.lr == 0.0


def test_bad_state_dict_changes_nothing():
    params = start_params()
    opt = tools.RMSprop(params, lr=0.1, momentum=0.5)
    opt.step(gradients(params, 0))
    good = opt.state_dict()
    snap = snapshot(params, opt)
    spoilt = [
        dict(good, lr=float("nan")),
        dict(good, alpha=2.0),
        {k: x for k, x in good.items() if k != "eps"},
        dict(good, state=good["state"][:2]),
        dict(good, state=[{"square_avg": torch.zeros(2)}, {}, {}]),
        [good],
    ]
    for bad in spoilt:
        with pytest.raises((ValueError, TypeError)):
            opt.load_state_dict(bad)
        assert_unchanged(params, opt, snap)
        assert opt.alpha == 0.99


def test_repr_names_the_settings():
    opt = tools.Adam(start_params(), lr=0.01)
    assert repr(opt) == (
        "Adam(3 tensors, lr=0.01, betas=(0.9, 0.999), eps=1e-08, "
        "weight_decay=0.0, amsgrad=False)"
    )


def test_keras_forms_take_learning_rate_as_lr():
    opt = tools.KerasAdam(start_params(), learning_rate=0.01)
    assert opt.lr == 0.01
    opt.learning_rate = 0.02
    assert opt.lr == 0.02
    with pytest.raises(ValueError, match="lr"):
        opt.learning_rate = -1.0
    assert tools.KerasAdamW(start_params()).weight_decay == 0.004


def test_a_bad_entry_preset_midway_is_refused():
    """A state entry replaced after some steps is checked like a first
    one (the optimiser skips the NaN check only for its own tensors)."""
    params = start_params()
    opt = tools.Adam(params, lr=0.1)
    for k in range(3):
        opt.step(gradients(params, k))
    opt.state[1]["exp_avg_sq"] = torch.full((3,), float("nan"), dtype=F64)
    snap = snapshot(params, opt)
    with pytest.raises(ValueError, match="state\\[1\\]\\['exp_avg_sq'\\]"):
        opt.step(gradients(params, 3))
    assert_unchanged(params, opt, snap)
    good = torch.full((3,), 0.5, dtype=F64)
    opt.state[1]["exp_avg_sq"] = good
    opt.step(gradients(params, 3))
    assert opt.state[1]["exp_avg_sq"] is good and opt.state[1]["step"] == 4


def test_params_may_come_from_an_nn_module_generator():
    layer = torch.nn.Linear(3, 2, dtype=F64)
    opt = tools.Adam(layer.parameters(), lr=0.1)  # a generator
    assert [p is q for p, q in zip(opt.params, layer.parameters())] == [
        True, True]


# ------------------------------------------- full messages (mutation tests)

FULL_MESSAGES = [
    ("SGD", dict(lr="0.1"), "lr must be a real number, got '0.1' (str)"),
    ("SGD", dict(lr=0.1, momentum=1.0),
     "momentum must lie in [0, 1), got 1.0"),
    ("SGD", dict(lr=0.1, momentum=0.5, dampening=1.5),
     "dampening must lie in [0, 1], got 1.5"),
    ("SGD", dict(lr=0.1, weight_decay=-1.0),
     "weight_decay must lie in [0, inf), got -1.0"),
    ("SGD", dict(lr=0.1, nesterov=1),
     "nesterov must be True or False, got 1 (int)"),
    ("SGD", dict(lr=0.1, momentum=0.9, dampening=0.5, nesterov=True),
     "nesterov=True needs momentum > 0 and dampening = 0, got "
     "momentum=0.9 and dampening=0.5"),
    ("Adagrad", dict(lr_decay=-1.0), "lr_decay must lie in [0, inf), "
     "got -1.0"),
    ("Adagrad", dict(initial_accumulator_value=-1.0),
     "initial_accumulator_value must lie in [0, inf), got -1.0"),
    ("Adagrad", dict(eps=0.0), "eps must lie in (0, inf), got 0.0"),
    ("RMSprop", dict(alpha=1.0), "alpha must lie in [0, 1), got 1.0"),
    ("RMSprop", dict(eps=0.0), "eps must lie in (0, inf), got 0.0"),
    ("RMSprop", dict(momentum=1.0), "momentum must lie in [0, 1), got 1.0"),
    ("RMSprop", dict(centered="yes"),
     "centered must be True or False, got 'yes' (str)"),
    ("Adam", dict(betas=(1.0, 0.999)), "betas[0] must lie in [0, 1), "
     "got 1.0"),
    ("Adam", dict(betas=(0.9, 1.0)), "betas[1] must lie in [0, 1), got 1.0"),
    ("Adam", dict(betas=0.9), "betas must be a pair (beta1, beta2), got 0.9"),
    ("Adam", dict(eps=0.0), "eps must lie in (0, inf), got 0.0"),
    ("Adam", dict(amsgrad=None),
     "amsgrad must be True or False, got None (NoneType)"),
]


@pytest.mark.parametrize("name, kw, message", FULL_MESSAGES,
                         ids=[f"{n}-{k}" for n, k, _ in FULL_MESSAGES])
def test_bad_hyperparameters_have_full_messages(name, kw, message):
    with pytest.raises((ValueError, TypeError)) as error:
        getattr(tools, name)(start_params(), **kw)
    assert str(error.value) == message


LIST_OF_PARAMS = ("params must be a list of tensors (for example "
                  "model.parameters()), got ")
LIST_OF_GRADS = ("grads must be a list of tensors in the order of params "
                 "(for example model.gradients()), got ")


def test_bad_params_have_full_messages():
    p = torch.zeros(2, dtype=F64)
    for bad, message in [
        (p, LIST_OF_PARAMS + "Tensor"),
        ({"w": p}, LIST_OF_PARAMS + "dict"),
        ([], "params must hold at least one tensor, got []"),
        ([p, torch.ones(1, dtype=F64), p],
         "params[2] is the same tensor as params[0]; give each parameter "
         "once"),
    ]:
        with pytest.raises((ValueError, TypeError)) as error:
            tools.SGD(bad, lr=0.1)
        assert str(error.value) == message


def test_bad_grads_have_full_messages_and_change_nothing():
    params = start_params()
    opt = tools.Adam(params, lr=0.1)
    opt.step(gradients(params, 0))
    snap = snapshot(params, opt)
    good = gradients(params, 1)
    for bad, message in [
        (good[0], LIST_OF_GRADS + "Tensor"),
        ((g for g in good), LIST_OF_GRADS + "generator"),
        ({0: good[0]}, LIST_OF_GRADS + "dict"),
        ([good[0], good[1].float(), good[2]],
         "grads[1] has dtype torch.float32 but params[1] has dtype "
         "torch.float64; convert it with grads[1].to(torch.float64)"),
    ]:
        with pytest.raises((ValueError, TypeError)) as error:
            opt.step(bad)
        assert str(error.value) == message
        assert_unchanged(params, opt, snap)


def step_error(opt, params) -> str:
    """The message of a refused step, which changed nothing."""
    before = [p.clone() for p in params]
    keys = [set(s) if isinstance(s, dict) else s for s in opt.state]
    with pytest.raises((ValueError, TypeError)) as error:
        opt.step([torch.ones_like(p) for p in params])
    assert all(torch.equal(p, q) for p, q in zip(params, before))
    assert [set(s) if isinstance(s, dict) else s for s in opt.state] == keys
    return str(error.value)


def test_bad_state_has_full_messages():
    params = [torch.zeros(2, dtype=F64), torch.zeros(3, dtype=F64)]
    cases = [
        ([{}, None], "state[1] must be a dict, got NoneType"),
        ([{}, [("step", 1)]], "state[1] must be a dict, got list"),
        ([{}, {"foo": 1}], "state[1] has the key 'foo'; Adam keeps "
         "['exp_avg', 'exp_avg_sq', 'max_exp_avg_sq', 'step']"),
        ([{}, {"step": 0.5}],
         "state[1]['step'] must be a whole number >= 0, got 0.5"),
        ([{}, {"exp_avg": [0.0] * 3}],
         "state[1]['exp_avg'] must be a torch.Tensor, got list; convert it "
         "with torch.as_tensor(state[1]['exp_avg'], dtype=torch.float64)"),
        ([{}, {"exp_avg": torch.zeros(3)}],
         "state[1]['exp_avg'] has dtype torch.float32 but params[1] has "
         "dtype torch.float64; convert it with "
         "state[1]['exp_avg'].to(torch.float64)"),
        # a missing entry before a bad one: the bad one is still checked
        ([{}, {"exp_avg_sq": torch.zeros(2, dtype=F64)}],
         "state[1]['exp_avg_sq'] must have the shape of params[1], (3,), "
         "got (2,)"),
        ([{}, {"exp_avg_sq": torch.full((3,), math.nan, dtype=F64)}],
         "state[1]['exp_avg_sq'] must be finite"),
    ]
    for state, message in cases:
        opt = tools.Adam(params, lr=0.1)
        opt.state = state
        assert step_error(opt, params).startswith(message)
    # SGD counts no steps, so keeps no "step"
    opt = tools.SGD(params, lr=0.1, momentum=0.5)
    opt.state[0]["step"] = 3
    assert step_error(opt, params) == (
        "state[0] has the key 'step'; SGD keeps ['momentum_buffer']")


def test_a_preset_step_of_zero_is_a_fresh_start():
    a, b = start_params(), start_params()
    preset, fresh = tools.Adam(a, lr=0.1), tools.Adam(b, lr=0.1)
    preset.state[1]["step"] = 0
    preset.state[2]["step"] = torch.tensor(0.0)
    grads = gradients(a, 0)
    preset.step(grads)
    fresh.step(grads)
    assert [s["step"] for s in preset.state] == [1, 1, 1]
    for p, q in zip(a, b):
        assert torch.equal(p, q)


def test_bad_state_dict_has_full_messages():
    params = start_params()
    opt = tools.RMSprop(params, lr=0.1)
    opt.step(gradients(params, 0))
    good = opt.state_dict()
    snap = snapshot(params, opt)
    keys = ("['alpha', 'centered', 'eps', 'lr', 'momentum', 'state', "
            "'weight_decay']")
    for bad, message in [
        ([good], "state_dict must be a dict from state_dict(), got list"),
        ({"lr": 0.1}, f"state_dict must have the keys {keys}, got ['lr']"),
        (dict(good, state=good["state"][:1]),
         "state_dict['state'] must be a list of 3 dicts, one per parameter"),
        (dict(good, state=tuple(good["state"])),
         "state_dict['state'] must be a list of 3 dicts, one per parameter"),
    ]:
        with pytest.raises((ValueError, TypeError)) as error:
            opt.load_state_dict(bad)
        assert str(error.value) == message
        assert_unchanged(params, opt, snap)


@pytest.mark.parametrize("name, kw", [
    ("SGD", dict(lr=0.01, momentum=0.5, weight_decay=1.0)),
    ("Adagrad", dict(lr=0.1, weight_decay=1.0)),
    ("RMSprop", dict(lr=0.01, weight_decay=1.0)),
    ("Adam", dict(lr=0.01, weight_decay=1.0)),
    ("AdamW", dict(lr=0.01, weight_decay=1.0)),
])
def test_a_weight_decay_of_one_is_applied(name, kw):
    mine, opt, theirs, topt = pair(name, kw)
    for k in range(4):
        grads = gradients(mine, k)
        opt.step(grads)
        torch_step(topt, theirs, grads)
    assert_same(mine, opt, theirs, topt, "weight_decay=1")


def test_a_second_moment_that_overflows_carries_on_as_torchs():
    """A gradient of 1e200 makes Adam's g * g inf, in PyTorch too: the
    optimiser's own inf is not refused at the next step (a preset one
    would be), and both keep the parameters finite and equal."""
    mine, opt, theirs, topt = pair("Adam", dict(lr=0.1))
    for k in range(3):
        grads = gradients(mine, k)
        if k == 1:
            grads[0][0, 0] = 1e200
        opt.step(grads)
        torch_step(topt, theirs, grads)
        for p, q in zip(mine, theirs):
            assert torch.equal(p, q.detach())
    assert math.isinf(float(opt.state[0]["exp_avg_sq"][0, 0]))
    assert all(bool(torch.isfinite(p).all()) for p in mine)


# ------------------------------------------------- work tensors (_work)


@pytest.mark.parametrize(
    "name, kw",
    [
        ("SGD", {"lr": 0.1, "weight_decay": 0.1}),
        ("SGD", {"lr": 0.1, "momentum": 0.9, "nesterov": True}),
        ("Adagrad", {}),
        ("RMSprop", {"centered": True}),
        ("Adam", {"weight_decay": 0.1}),
        ("AdamW", {}),
    ],
)
def test_work_tensors_are_kept_between_steps(name, kw):
    """A temporary goes into the same memory at every step (what saves the
    page faults of fresh memory), one tensor per slot and parameter."""
    p = torch.zeros(4, 3, dtype=F64)
    opt = getattr(tools, name)([p], **kw)
    g = torch.linspace(-1, 1, 12, dtype=F64).reshape(4, 3)
    opt.step([g])
    first = {k: t.data_ptr() for k, t in opt._scratch.items()}
    assert first, "the update used no work tensor"
    opt.step([g])
    assert {k: t.data_ptr() for k, t in opt._scratch.items()} == first
    assert all(t.shape == p.shape for t in opt._scratch.values())


def test_a_work_tensor_follows_a_parameter_that_changes_shape_or_dtype():
    p = torch.zeros(2, 2, dtype=F64)
    opt = tools.Adam([p])
    w = opt._work(p)
    assert opt._work(p) is w  # kept
    assert w.shape == (2, 2) and w.dtype == F64
    p.data = torch.zeros(3, dtype=torch.float32)
    w2 = opt._work(p)
    assert w2 is not w and w2.shape == (3,) and w2.dtype == torch.float32
    assert opt._work(p, 1) is not w2  # another slot, another tensor


def test_each_parameter_has_its_own_work_tensor():
    ps = [torch.zeros(3, dtype=F64), torch.zeros(3, dtype=F64)]
    opt = tools.Adam(ps)
    opt.step([torch.ones(3, dtype=F64), torch.ones(3, dtype=F64)])
    assert len(opt._scratch) == 2


@pytest.mark.parametrize(
    "change",
    [lambda t: t.float(), lambda t: t.reshape(3, 2), lambda t: t.reshape(6)],
)
def test_a_work_tensor_follows_a_change_of_dtype_or_shape_alone(change):
    p = torch.zeros(2, 3, dtype=F64)
    opt = tools.Adam([p])
    w = opt._work(p)
    p.data = change(p.data.clone())
    w2 = opt._work(p)
    assert w2 is not w
    assert (w2.shape, w2.dtype) == (p.shape, p.dtype)
