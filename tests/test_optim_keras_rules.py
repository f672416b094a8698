"""The Keras forms of ``tools.optim`` against Keras 3's update rules,
written out here entry by entry in Python floats, with no Keras at all.

``test_optim_keras.py`` compares the forms with ``keras.optimizers``
itself, but needs Keras and is left out of mutation testing (a forked
Keras run hangs); these tests pin the same rules without it: the
defaults, the float32 rounding of momentum, the betas in the bias
correction, the weight decay and AdaGrad's first accumulator (even when
torch's default dtype is float64), the state keys, and the messages of
refused settings.
"""

from __future__ import annotations

import math
import struct

import pytest
import torch

import tools
from test_optim import gradients, rel, start_params

STEPS = 8


def f32(x: float) -> float:
    """``x`` rounded to float32, as Keras's ``ops.cast`` of a Python float
    does before it widens it to float64."""
    return struct.unpack("f", struct.pack("f", x))[0]


def reference(name: str, kw: dict, steps: int = STEPS):
    """The parameters after ``steps`` steps of the Keras rule, and the
    state entries that exist (by Keras's names)."""
    flat = [[float(x) for x in p.flatten()] for p in start_params()]
    state = [[{} for _ in p] for p in flat]
    lr = kw.get("learning_rate")
    wd = kw.get("weight_decay")
    for t in range(1, steps + 1):
        current = [torch.tensor(p, dtype=torch.float64).reshape(q.shape)
                   for p, q in zip(flat, start_params())]
        grads = gradients(current, t - 1)
        for p, g, st in zip(flat, grads, state):
            for j, gj in enumerate(g.flatten().tolist()):
                x, s = p[j], st[j]
                if wd:
                    x = x - x * f32(wd) * lr
                p[j] = RULES[name](x, gj, s, t, kw)
    return flat, state


def sgd(x, g, s, t, kw):
    lr, mu = kw["learning_rate"], f32(kw["momentum"])
    if mu == 0:
        return x - g * lr
    s["momentum"] = s.get("momentum", 0.0) * mu - g * lr
    if kw["nesterov"]:
        return x + (s["momentum"] * mu - g * lr)
    return x + s["momentum"]


def adagrad(x, g, s, t, kw):
    acc = s.get("accumulator", f32(kw["initial_accumulator_value"]))
    s["accumulator"] = acc = acc + g * g
    return x - kw["learning_rate"] * g / math.sqrt(acc + kw["epsilon"])


def rmsprop(x, g, s, t, kw):
    rho, eps = kw["rho"], kw["epsilon"]
    s["velocity"] = vel = rho * s.get("velocity", 0.0) + (1 - rho) * g * g
    if kw["centered"]:
        mean = rho * s.get("average_gradient", 0.0) + (1 - rho) * g
        s["average_gradient"] = mean
        increment = kw["learning_rate"] * g / math.sqrt(vel - mean**2 + eps)
    else:
        increment = kw["learning_rate"] * g / math.sqrt(vel + eps)
    if kw["momentum"] > 0:
        s["momentum"] = kw["momentum"] * s.get("momentum", 0.0) + increment
        return x - s["momentum"]
    return x - increment


def adam(x, g, s, t, kw):
    b1, b2 = kw["beta_1"], kw["beta_2"]
    alpha = (kw["learning_rate"] * math.sqrt(1 - f32(b2) ** t)
             / (1 - f32(b1) ** t))
    m, v = s.get("momentum", 0.0), s.get("velocity", 0.0)
    m = s["momentum"] = m + (g - m) * (1 - b1)
    v = s["velocity"] = v + (g * g - v) * (1 - b2)
    if kw["amsgrad"]:
        v = s["velocity_hat"] = max(s.get("velocity_hat", 0.0), v)
    return x - m * alpha / (math.sqrt(v) + kw["epsilon"])


RULES = {"SGD": sgd, "Adagrad": adagrad, "RMSprop": rmsprop, "Adam": adam,
         "AdamW": adam}
# Keras 3's defaults, written out
DEFAULTS = {
    "SGD": dict(learning_rate=0.01, momentum=0.0, nesterov=False,
                weight_decay=None),
    "Adagrad": dict(learning_rate=0.001, initial_accumulator_value=0.1,
                    epsilon=1e-7, weight_decay=None),
    "RMSprop": dict(learning_rate=0.001, rho=0.9, momentum=0.0,
                    epsilon=1e-7, centered=False, weight_decay=None),
    "Adam": dict(learning_rate=0.001, beta_1=0.9, beta_2=0.999,
                 epsilon=1e-7, amsgrad=False, weight_decay=None),
    "AdamW": dict(learning_rate=0.001, beta_1=0.9, beta_2=0.999,
                  epsilon=1e-7, amsgrad=False, weight_decay=0.004),
}
# 0.9, 0.1, 0.05 ... are not float32 numbers: a form that does not round
# them as Keras does is off by ~1e-9, far above the 1e-12 compared
CASES = [
    ("SGD", dict()),
    ("SGD", dict(learning_rate=0.05, momentum=0.9)),
    ("SGD", dict(learning_rate=0.05, momentum=0.9, nesterov=True,
                 weight_decay=0.1)),
    ("Adagrad", dict()),
    ("Adagrad", dict(learning_rate=0.1, initial_accumulator_value=0.5,
                     epsilon=1e-3, weight_decay=0.05)),
    ("Adagrad", dict(learning_rate=0.1, initial_accumulator_value=0.0)),
    ("RMSprop", dict()),
    ("RMSprop", dict(learning_rate=0.01, rho=0.8, epsilon=1e-3,
                     centered=True)),
    ("RMSprop", dict(learning_rate=0.01, momentum=0.9, weight_decay=0.1)),
    ("Adam", dict()),
    ("Adam", dict(learning_rate=0.05, beta_1=0.8, beta_2=0.9,
                  epsilon=1e-3, amsgrad=True, weight_decay=0.1)),
    ("AdamW", dict()),
    ("AdamW", dict(learning_rate=0.05, weight_decay=0.3, amsgrad=True)),
]
IDS = [f"{name}-{kw}" for name, kw in CASES]


def run(name: str, kw: dict, steps: int = STEPS):
    params = start_params()
    opt = getattr(tools, "Keras" + name)(params, **kw)
    for k in range(steps):
        opt.step(gradients(params, k))
    return params, opt


@pytest.mark.parametrize("name, kw", CASES, ids=IDS)
def test_keras_form_follows_the_keras_rule(name, kw):
    params, opt = run(name, kw)
    want, want_state = reference(name, {**DEFAULTS[name], **kw})
    for i, (p, w) in enumerate(zip(params, want)):
        w = torch.tensor(w, dtype=torch.float64).reshape(p.shape)
        assert rel(p, w) < 1e-12, f"params[{i}]"
        keys = set(want_state[i][0]) | ({"step"} if name != "SGD" else set())
        assert set(opt.state[i]) == keys, i
        for key in want_state[i][0]:
            ref = torch.tensor([s[key] for s in want_state[i]],
                               dtype=torch.float64).reshape(p.shape)
            assert rel(opt.state[i][key], ref) < 1e-12, (i, key)
    if name != "SGD":
        assert opt.state[0]["step"] == STEPS


def test_keras_rounding_holds_when_torch_defaults_to_float64():
    old = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    try:
        params, _ = run("SGD", dict(learning_rate=0.05, momentum=0.9))
    finally:
        torch.set_default_dtype(old)
    want, _ = reference("SGD", dict(DEFAULTS["SGD"], learning_rate=0.05,
                                    momentum=0.9))
    for p, w in zip(params, want):
        w = torch.tensor(w, dtype=torch.float64).reshape(p.shape)
        assert rel(p, w) < 1e-12


FULL_MESSAGES = [
    ("SGD", dict(momentum=1.0), "momentum must lie in [0, 1), got 1.0"),
    ("SGD", dict(nesterov="yes"),
     "nesterov must be True or False, got 'yes' (str)"),
    ("SGD", dict(weight_decay=-1.0),
     "weight_decay must lie in [0, inf), got -1.0"),
    ("Adagrad", dict(initial_accumulator_value=-0.1),
     "initial_accumulator_value must lie in [0, inf), got -0.1"),
    ("Adagrad", dict(epsilon=0.0), "epsilon must lie in (0, inf), got 0.0"),
    ("RMSprop", dict(rho=1.0), "rho must lie in [0, 1), got 1.0"),
    ("RMSprop", dict(momentum=1.0), "momentum must lie in [0, 1), got 1.0"),
    ("RMSprop", dict(epsilon=0.0), "epsilon must lie in (0, inf), got 0.0"),
    ("RMSprop", dict(centered=1), "centered must be True or False, got 1 "
     "(int)"),
    ("Adam", dict(beta_1=1.0), "beta_1 must lie in [0, 1), got 1.0"),
    ("Adam", dict(beta_2=1.0), "beta_2 must lie in [0, 1), got 1.0"),
    ("Adam", dict(epsilon=0.0), "epsilon must lie in (0, inf), got 0.0"),
    ("Adam", dict(amsgrad="no"),
     "amsgrad must be True or False, got 'no' (str)"),
    ("AdamW", dict(weight_decay=-0.004),
     "weight_decay must lie in [0, inf), got -0.004"),
]


@pytest.mark.parametrize("name, kw, message", FULL_MESSAGES,
                         ids=[f"{n}-{k}" for n, k, _ in FULL_MESSAGES])
def test_bad_keras_settings_have_full_messages(name, kw, message):
    with pytest.raises((ValueError, TypeError)) as error:
        getattr(tools, "Keras" + name)(start_params(), **kw)
    assert str(error.value) == message


def test_a_keras_setting_spoilt_later_is_refused_at_step():
    params = start_params()
    opt = tools.KerasSGD(params, momentum=0.5)
    opt.step(gradients(params, 0))
    before = [p.clone() for p in params]
    opt.nesterov = None
    with pytest.raises(TypeError) as error:
        opt.step(gradients(params, 1))
    assert str(error.value) == (
        "nesterov must be True or False, got None (NoneType)")
    assert all(torch.equal(p, q) for p, q in zip(params, before))
