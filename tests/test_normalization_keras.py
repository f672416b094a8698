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


def test_a_network_copied_from_keras_trains_as_keras_fit():
    """Dense, BatchNormalization, Dropout(0), LayerNormalization: after
    copy_params, Keras's per-epoch loss (the mean batch loss, in training
    mode) and the trained weights and moving means equal ours < 1e-10.
    The moving variances differ by the convention: Keras keeps the biased
    batch variance, we (as PyTorch) the unbiased one."""
    model = keras.Sequential([
        keras.Input((3,)),
        keras.layers.Dense(6),
        keras.layers.BatchNormalization(momentum=0.8, epsilon=1e-5),
        keras.layers.Activation("relu"),
        keras.layers.Dropout(0.0),
        keras.layers.Dense(5),
        keras.layers.LayerNormalization(epsilon=1e-4),
        keras.layers.Activation("tanh"),
        keras.layers.Dense(2),
    ])
    net = tools.Sequential(
        tools.Linear(3, 6, dtype=F64),
        tools.BatchNorm1d(6, momentum=0.2, dtype=F64), tools.ReLU(),
        tools.Dropout(0.0), tools.Linear(6, 5, dtype=F64),
        tools.LayerNorm(5, eps=1e-4, dtype=F64), tools.Tanh(),
        tools.Linear(5, 2, dtype=F64),
    )
    bn_keras = model.layers[1]
    bn_keras.moving_mean.assign(randn(6, seed=5))
    bn_keras.moving_variance.assign(1 + np.abs(randn(6, seed=6)))
    net.copy_params(model)
    x, y = randn(50, 3, seed=1), randn(50, 2, seed=2)
    xt = torch.from_numpy(x)
    assert close(net.eval().predict(xt), as_torch(model(x, training=False)))
    model.compile(optimizer=keras.optimizers.SGD(learning_rate=0.2),
                  loss="mse")
    history = model.fit(x, y, epochs=3, batch_size=8, shuffle=False,
                        verbose=0).history["loss"]
    log = net.fit(xt, torch.from_numpy(y), 3, 0.2, 8,
                  loss=tools.MSELoss(), verbose=False)
    for keras_loss, entry in zip(history, log):
        assert abs(keras_loss - entry.batch_loss) <= 1e-10 * keras_loss
    dense = [m for m in model.layers if isinstance(m, keras.layers.Dense)]
    for layer, linear in zip(dense, net._linears):
        assert close(linear.w, as_torch(layer.kernel), 1e-10)
        if linear is net.layers[0]:  # before a batch norm: gradient 0,
            # so both biases stay at 0 up to rounding
            assert float(linear.b.abs().max()) < 1e-14
            assert float(as_torch(layer.bias).abs().max()) < 1e-14
        else:
            assert close(linear.b, as_torch(layer.bias), 1e-10)
    bn, ln = net.layers[1], net.layers[5]
    ln_keras = model.layers[5]
    for ours, theirs in ((bn.gamma, bn_keras.gamma), (bn.beta, bn_keras.beta),
                         (ln.gamma, ln_keras.gamma), (ln.beta, ln_keras.beta)):
        assert close(ours, as_torch(theirs), 1e-10)
    assert close(bn.running_mean, as_torch(bn_keras.moving_mean), 1e-10)
    moving_var = as_torch(bn_keras.moving_variance)
    assert tools.max_relative_error(bn.running_var, moving_var) > 1e-3
    # with Keras's moving variance, evaluation agrees again
    bn.running_var.copy_(moving_var)
    assert close(net.eval().predict(xt), as_torch(model(x, training=False)))
