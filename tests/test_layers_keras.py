"""``tools.Sequential`` against Keras (float64; skipped without Keras):
``copy_params`` from a Keras ``Sequential`` (Dense with activations, and
separate Activation layers) and an SGD trajectory against ``model.fit``.

GELU is left out of the trajectory: TensorFlow's float64 ``gelu`` differs
from the exact formula (and from PyTorch's) by about 1e-10 relative.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

import tools

from keras_float64 import float64_keras, keras  # noqa: F401 (autouse fixture)

F64 = torch.float64


def scratch() -> tools.Sequential:
    return tools.Sequential(
        tools.Linear(3, 5, dtype=F64), tools.Tanh(),
        tools.Linear(5, 4, dtype=F64), tools.Sigmoid(),
        tools.Linear(4, 2, dtype=F64),
    )


def keras_model() -> keras.Sequential:
    return keras.Sequential([
        keras.Input((3,)),
        keras.layers.Dense(5, activation="tanh"),
        keras.layers.Dense(4),
        keras.layers.Activation("sigmoid"),
        keras.layers.Dense(2),
    ])


def test_training_matches_keras_fit():
    model = keras_model()
    for layer in model.layers:
        if isinstance(layer, keras.layers.Dense):
            layer.bias.assign(np.linspace(-0.3, 0.4, layer.units))
    net = scratch()
    net.copy_params(model)
    rng = np.random.default_rng(0)
    x, y = rng.standard_normal((20, 3)), rng.standard_normal((20, 2))
    out = keras.ops.convert_to_numpy(model(x))
    err = tools.max_relative_error(net.forward(torch.from_numpy(x)),
                                   torch.from_numpy(out))
    assert err < 1e-12
    model.compile(optimizer=keras.optimizers.SGD(learning_rate=0.1),
                  loss="mse")
    history = model.fit(x, y, epochs=3, batch_size=8, shuffle=False,
                        verbose=0).history
    log = net.fit(torch.from_numpy(x), torch.from_numpy(y), 3, 0.1, 8,
                  loss=tools.MSELoss(), verbose=False)
    for keras_loss, entry in zip(history["loss"], log):
        assert abs(keras_loss - entry.batch_loss) <= 1e-12 * keras_loss
    dense = [m for m in model.layers if isinstance(m, keras.layers.Dense)]
    for layer, linear in zip(dense, net._linears):
        kernel = torch.from_numpy(layer.kernel.numpy())
        assert tools.max_relative_error(linear.w, kernel) < 1e-12


def test_copy_params_rejects_another_keras_layout():
    net = scratch()
    other = keras.Sequential([
        keras.Input((3,)),
        keras.layers.Dense(5, activation="relu"),
        keras.layers.Dense(4, activation="gelu"),
        keras.layers.Dense(2),
    ])
    with pytest.raises(ValueError, match=r"got \[Linear\(3, 5\), ReLU\(\)"):
        net.copy_params(other)
    odd = keras.Sequential([keras.Input((3,)),
                            keras.layers.Dense(5, activation="softplus")])
    with pytest.raises(TypeError, match="has activation 'softplus'"):
        net.copy_params(odd)
    noise = keras.Sequential([keras.Input((3,)),
                              keras.layers.GaussianNoise(0.1)])
    with pytest.raises(TypeError, match="Dense, Activation, Dropout, "
                       "BatchNormalization and LayerNormalization layers "
                       r"only, got GaussianNoise"):
        net.copy_params(noise)
