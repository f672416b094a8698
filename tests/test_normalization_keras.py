"""``tools.BatchNorm1d``, ``tools.LayerNorm`` and ``tools.Dropout`` against
Keras 3 (float64, TensorFlow backend; skipped without Keras).

Keras's conventions are set explicitly and checked where they differ:
``BatchNormalization(momentum=0.9)`` is PyTorch's (and ours)
``momentum=0.1`` (Keras weighs the old value, PyTorch the new batch);
Keras's default ``epsilon`` is 1e-3 against 1e-5; and Keras's
``moving_variance`` keeps the *biased* batch variance, where
``running_var`` keeps the unbiased one, so the two differ by the batch's
``m / (m - 1)`` (the moving means agree). Gradients come from
``tf.GradientTape``.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

import tools
from tools.dropout import Dropout
from tools.normalization import BatchNorm1d, LayerNorm

from keras_float64 import float64_keras, keras  # noqa: F401 (autouse fixture)

tf = pytest.importorskip("tensorflow")

F64 = torch.float64


def randn(*shape: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal(shape)


def as_torch(t) -> torch.Tensor:
    """A TensorFlow tensor or a Keras variable as a torch tensor."""
    return torch.from_numpy(np.array(t.numpy()))


def close(actual, expected, tol: float = 1e-12) -> bool:
    return tools.max_relative_error(actual, expected) < tol


def keras_output_and_grads(layer, x: np.ndarray, g: np.ndarray, training):
    """``layer(x)`` and the gradients of ``sum(layer(x) * g)`` with respect
    to ``x``, gamma and beta."""
    xt = tf.constant(x)
    with tf.GradientTape() as tape:
        tape.watch(xt)
        y = layer(xt, training=training)
        loss = tf.reduce_sum(y * tf.constant(g))
    dx, dgamma, dbeta = tape.gradient(
        loss, [xt, layer.gamma.value, layer.beta.value]
    )
    return [as_torch(t) for t in (y, dx, dgamma, dbeta)]


def set_affine(keras_layer, ours, seed: int) -> None:
    n = ours.gamma.shape[0]
    gamma, beta = 1 + 0.5 * randn(n, seed=seed), randn(n, seed=seed + 1)
    keras_layer.gamma.assign(gamma)
    keras_layer.beta.assign(beta)
    ours.gamma.copy_(torch.from_numpy(gamma))
    ours.beta.copy_(torch.from_numpy(beta))


@pytest.mark.parametrize("m", [2, 5, 32])
def test_batch_normalization_with_pytorchs_momentum_and_epsilon(m):
    n = 4
    layer = keras.layers.BatchNormalization(momentum=0.9, epsilon=1e-5)
    layer.build((None, n))
    bn = BatchNorm1d(n, eps=1e-5, momentum=0.1, dtype=F64)
    set_affine(layer, bn, seed=m)
    for step in range(4):
        x = 3 * randn(m, n, seed=10 * m + step) + step
        g = randn(m, n, seed=step)
        y, dx, dgamma, dbeta = keras_output_and_grads(layer, x, g, True)
        xt = torch.from_numpy(x)
        assert close(bn.forward(xt), y)
        assert close(bn.backward(torch.from_numpy(g)), dx, 1e-10)
        assert close(bn.dgamma, dgamma) and close(bn.dbeta, dbeta)
        batch_var = xt.var(dim=0, unbiased=False)
        moving_var = as_torch(layer.moving_variance)
        if step == 0:  # from 1: Keras adds 0.1 v, we 0.1 v m / (m - 1)
            assert close(moving_var, 0.9 + 0.1 * batch_var, 1e-14)
            assert close(bn.running_var, 0.9 + 0.1 * batch_var * m / (m - 1),
                         1e-14)
        assert close(bn.running_mean, as_torch(layer.moving_mean), 1e-14)
        assert not close(bn.running_var, moving_var, 1e-3)
    # evaluation: the moving statistics, once they are the same
    bn.running_var.copy_(as_torch(layer.moving_variance))
    bn.eval()
    x, g = randn(3, n, seed=99), randn(3, n, seed=98)
    y, dx, dgamma, dbeta = keras_output_and_grads(layer, x, g, False)
    assert close(bn.forward(torch.from_numpy(x)), y)
    assert close(bn.backward(torch.from_numpy(g)), dx)
    assert close(bn.dgamma, dgamma) and close(bn.dbeta, dbeta)


def test_keras_default_epsilon_and_momentum_differ_from_pytorchs():
    """Keras's defaults (momentum 0.99, epsilon 1e-3) against PyTorch's
    (0.1 and 1e-5): the outputs differ measurably, and match once ours
    take Keras's values (momentum 1 - 0.99)."""
    layer = keras.layers.BatchNormalization()
    assert (layer.momentum, layer.epsilon) == (0.99, 1e-3)
    layer.build((None, 3))
    x = 0.1 * randn(8, 3, seed=1)  # a small variance shows epsilon
    y = as_torch(layer(x, training=True))
    ours = BatchNorm1d(3, dtype=F64).forward(torch.from_numpy(x))
    assert tools.max_relative_error(ours, y) > 0.01
    same = BatchNorm1d(3, eps=1e-3, momentum=1 - 0.99, dtype=F64)
    assert close(same.forward(torch.from_numpy(x)), y)
    assert close(same.running_mean, as_torch(layer.moving_mean), 1e-13)


@pytest.mark.parametrize("shape", [(1, 3), (2, 5), (16, 4), (2, 3, 4)],
                         ids=str)
@pytest.mark.parametrize("training", [True, False])
def test_layer_normalization(shape, training):
    n = shape[-1]
    layer = keras.layers.LayerNormalization(epsilon=1e-5)
    layer.build((None,) + shape[1:])
    ln = LayerNorm(n, eps=1e-5, dtype=F64).train(training)
    set_affine(layer, ln, seed=n)
    x, g = 2 * randn(*shape, seed=1) - 1, randn(*shape, seed=2)
    y, dx, dgamma, dbeta = keras_output_and_grads(layer, x, g, training)
    assert close(ln.forward(torch.from_numpy(x)), y)
    assert close(ln.backward(torch.from_numpy(g)), dx, 1e-10)
    assert close(ln.dgamma, dgamma) and close(ln.dbeta, dbeta)
    # Keras's default epsilon is 1e-3, PyTorch's and ours 1e-5
    assert keras.layers.LayerNormalization().epsilon == 1e-3


def test_dropout_rate_is_p_and_both_are_inverted():
    rate, n = 0.4, 100_000
    x = np.ones((n,))
    layer = keras.layers.Dropout(rate, seed=3)
    y = as_torch(layer(x, training=True))
    kept = float((y != 0).double().mean())
    se = math.sqrt(rate * (1 - rate) / n)
    assert abs(kept - (1 - rate)) < 5 * se
    assert torch.unique(y[y != 0]).tolist() == pytest.approx([1 / 0.6],
                                                             rel=1e-15)
    ours = Dropout(rate, seed=3)
    out = ours.forward(torch.from_numpy(x))
    assert abs(float(ours.mask.double().mean()) - kept) < 5 * math.sqrt(2) * se
    assert torch.unique(out[out != 0]).tolist() == pytest.approx(
        [1 / 0.6], rel=1e-15
    )
    # evaluation: both the identity
    assert torch.equal(as_torch(layer(x, training=False)), torch.ones(n,
                                                                      dtype=F64))
    assert torch.equal(ours.eval().forward(torch.from_numpy(x)),
                       torch.ones(n, dtype=F64))
