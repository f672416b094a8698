"""The Keras forms of ``tools.optim`` against ``keras.optimizers``
(float64; skipped without Keras): 60 steps of the same varied gradients
as ``test_optim``, with the learning rate changed between steps in some
cases, parameters and state equal to < 1e-12 relative; and the measured
difference between the PyTorch and Keras forms where no setting makes them
agree.

Keras rounds some float64 hyperparameters through float32 (momentum,
Adam's betas in the bias correction, weight decay, AdaGrad's initial
accumulator); the Keras forms do the same, and the cases use values such
as 0.9 that float32 cannot hold, so that a form without it would fail.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

import tools

from keras_float64 import float64_keras, keras  # noqa: F401 (autouse fixture)

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")
from test_optim import STEPS, gradients, rel, start_params

CASES = [
    ("SGD", dict(learning_rate=0.01)),
    ("SGD", dict(learning_rate=0.01, momentum=0.9)),
    ("SGD", dict(learning_rate=0.01, momentum=0.9, nesterov=True)),
    ("SGD", dict(learning_rate=0.01, momentum=0.8, weight_decay=0.1)),
    ("Adagrad", dict()),
    ("Adagrad", dict(learning_rate=0.1, initial_accumulator_value=0.5,
                     epsilon=1e-6, weight_decay=0.05)),
    ("RMSprop", dict()),
    ("RMSprop", dict(learning_rate=0.005, rho=0.95, epsilon=1e-6)),
    ("RMSprop", dict(learning_rate=0.005, centered=True)),
    ("RMSprop", dict(learning_rate=0.005, momentum=0.9, centered=True,
                     weight_decay=0.1)),
    ("Adam", dict()),
    ("Adam", dict(learning_rate=0.01, beta_1=0.8, beta_2=0.99,
                  epsilon=1e-6)),
    ("Adam", dict(learning_rate=0.01, amsgrad=True)),
    ("AdamW", dict()),
    ("AdamW", dict(learning_rate=0.01, weight_decay=0.1, amsgrad=True)),
]
IDS = [f"{name}-{kw}" for name, kw in CASES]


def keras_run(name, kw, lrs=None):
    """The Keras optimiser's parameters after each step."""
    variables = [keras.Variable(p.numpy(), dtype="float64")
                 for p in start_params()]
    opt = getattr(keras.optimizers, name)(**kw)
    out = []
    for k in range(STEPS):
        if lrs is not None:
            opt.learning_rate = lrs[k]
        current = [torch.from_numpy(np.array(x)) for x in variables]
        grads = gradients(current, k)
        opt.apply_gradients(
            [(g.numpy(), x) for g, x in zip(grads, variables)]
        )
        out.append([torch.from_numpy(np.array(x)) for x in variables])
    return out


@pytest.mark.parametrize("name, kw", CASES, ids=IDS)
def test_keras_form_matches_keras(name, kw):
    lrs = None
    if name in ("SGD", "Adam") and kw:
        base = kw.get("learning_rate", 0.001)
        lrs = [base * (1 + math.cos(k / 5)) for k in range(STEPS)]
    theirs = keras_run(name, kw, lrs)
    params = start_params()
    opt = getattr(tools, "Keras" + name)(params, **kw)
    for k in range(STEPS):
        if lrs is not None:
            opt.learning_rate = lrs[k]
        opt.step(gradients(params, k))
        for i, (p, q) in enumerate(zip(params, theirs[k])):
            assert rel(p, q) < 1e-12, f"step {k + 1}, params[{i}]"
    moved = max(rel(p, q) for p, q in zip(params, start_params()))
    assert moved > 1e-4


def test_keras_adam_state_is_keras_names_and_values():
    variables = [keras.Variable(p.numpy(), dtype="float64")
                 for p in start_params()]
    kopt = keras.optimizers.Adam(learning_rate=0.01, amsgrad=True)
    params = start_params()
    opt = tools.KerasAdam(params, learning_rate=0.01, amsgrad=True)
    for k in range(10):
        grads = gradients(params, k)
        kopt.apply_gradients(
            [(g.numpy(), x) for g, x in zip(grads, variables)]
        )
        opt.step(grads)
    for i in range(len(params)):
        assert set(opt.state[i]) == {"step", "momentum", "velocity",
                                     "velocity_hat"}
        assert opt.state[i]["step"] == int(kopt.iterations) == 10
        for key, theirs in (("momentum", kopt._momentums),
                            ("velocity", kopt._velocities),
                            ("velocity_hat", kopt._velocity_hats)):
            ref = torch.from_numpy(np.array(theirs[i]))
            assert rel(opt.state[i][key], ref) < 1e-12


def test_no_epsilon_makes_keras_adam_equal_torch_adam():
    """The Keras form with eps' = eps * sqrt(1 - beta2^t) would agree
    with PyTorch at step t only: with any one constant the two differ."""
    diffs = []
    for eps in (1e-8, 1e-7, 1e-6):
        a, b = start_params(), start_params()
        torch_form = tools.Adam(a, lr=0.01, eps=eps)
        keras_form = tools.KerasAdam(b, learning_rate=0.01, epsilon=eps)
        for k in range(STEPS):
            grads = [0.01 * g for g in gradients(a, k)]
            torch_form.step(grads)
            keras_form.step(grads)
        diffs.append(max(rel(p, q) for p, q in zip(a, b)))
    assert min(diffs) > 1e-9


def test_keras_momentum_equals_torchs_at_constant_lr_only():
    a, b = start_params(), start_params()
    # 0.75 is exact in float32, so Keras's rounding of it changes nothing
    torch_form = tools.SGD(a, lr=0.01, momentum=0.75)
    keras_form = tools.KerasSGD(b, learning_rate=0.01, momentum=0.75)
    for k in range(STEPS):
        grads = gradients(a, k)
        torch_form.step(grads)
        keras_form.step(grads)
    assert max(rel(p, q) for p, q in zip(a, b)) < 1e-12
    for k in range(STEPS, STEPS + 10):
        torch_form.lr = keras_form.lr = 0.001  # the rate drops
        grads = gradients(a, k)
        torch_form.step(grads)
        keras_form.step(grads)
    assert max(rel(p, q) for p, q in zip(a, b)) > 1e-3
