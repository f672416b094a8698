"""The Keras helpers of ``copy_params``, on small fakes shaped like Keras.

``LinearRegression.copy_params`` / ``SoftmaxClassifier.copy_params``
(through ``keras_dense_params``) and ``Sequential.copy_params`` (through
``_keras_layout`` and ``_keras_activation``) read only a few attributes
of a Keras object: its class, ``layers``, ``name``, ``built``,
``use_bias``, ``kernel.numpy()``, ``bias.numpy()`` and ``activation``.
Here a stand-in ``keras`` module provides classes with exactly those
attributes, so every branch and message is checked without TensorFlow
(which hangs in the processes mutmut forks; MUTATION.md). That the real
Keras objects look like this is checked by ``tests/test_keras_params.py``
and ``tests/test_layers_keras.py`` against Keras itself.
"""

from __future__ import annotations

import sys
import types

import numpy as np
import pytest
import torch

import tools
from tools.linear_models import keras_dense_params

F64 = torch.float64


class _Variable:
    def __init__(self, value):
        self._value = np.asarray(value, dtype=np.float32)

    def numpy(self):
        return self._value.copy()


def _named(name):
    def activation(x):
        return x

    activation.__name__ = name
    return activation


class Layer:
    __module__ = "keras.src.layers.layer"

    def __init__(self, name):
        self.name = name


class Dense(Layer):
    __module__ = "keras.src.layers.core.dense"

    def __init__(
        self,
        kernel,
        bias=None,
        *,
        activation="linear",
        name="dense",
        built=True,
        use_bias=True,
    ):
        super().__init__(name)
        self.built, self.use_bias = built, use_bias
        self.activation = (
            _named(activation) if isinstance(activation, str) else activation
        )
        if built:
            kernel = np.asarray(kernel, dtype=np.float32)
            self.kernel = _Variable(kernel)
            self.bias = _Variable(
                np.zeros(kernel.shape[1]) if bias is None else bias
            )


class Activation(Layer):
    __module__ = "keras.src.layers.activations.activation"

    def __init__(self, activation, name="activation"):
        super().__init__(name)
        self.activation = _named(activation)


class Flatten(Layer):
    __module__ = "keras.src.layers.reshaping.flatten"


class Dropout(Layer):
    __module__ = "keras.src.layers.regularization.dropout"

    def __init__(self, rate, name="dropout", noise_shape=None):
        super().__init__(name)
        self.rate, self.noise_shape = rate, noise_shape


class _Normalization(Layer):
    def __init__(self, n, name, epsilon, axis=-1, built=True, center=True,
                 scale=True):
        super().__init__(name)
        self.epsilon, self.axis, self.built = epsilon, axis, built
        self.center, self.scale = center, scale
        self.gamma = _Variable(np.arange(1.0, n + 1))
        self.beta = _Variable(-np.arange(1.0, n + 1))


class BatchNormalization(_Normalization):
    __module__ = "keras.src.layers.normalization.batch_normalization"

    def __init__(self, n, name="bn", epsilon=1e-3, momentum=0.99,
                 renorm=False, **options):
        super().__init__(n, name, epsilon, **options)
        self.momentum, self.renorm = momentum, renorm
        self.moving_mean = _Variable(np.full(n, 0.5))
        self.moving_variance = _Variable(np.full(n, 2.0))


class LayerNormalization(_Normalization):
    __module__ = "keras.src.layers.normalization.layer_normalization"

    def __init__(self, n, name="ln", epsilon=1e-3, rms_scaling=False,
                 **options):
        super().__init__(n, name, epsilon, **options)
        self.rms_scaling = rms_scaling


class Model:
    __module__ = "keras.src.models.model"

    def __init__(self, layers, name="model"):
        self.layers, self.name = list(layers), name


class Sequential(Model):
    __module__ = "keras.src.models.sequential"


@pytest.fixture(autouse=True)
def fake_keras(monkeypatch):
    keras = types.ModuleType("keras")
    keras.Model, keras.Sequential = Model, Sequential
    keras.layers = types.SimpleNamespace(
        Dense=Dense,
        Activation=Activation,
        Dropout=Dropout,
        BatchNormalization=BatchNormalization,
        LayerNormalization=LayerNormalization,
    )
    monkeypatch.setitem(sys.modules, "keras", keras)


def message(call, error=ValueError) -> str:
    with pytest.raises(error) as info:
        call()
    return str(info.value)


KERNEL = [[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]]  # (3 features, 2 outputs)
BIAS = [0.5, -0.5]


# -- one Dense layer: LinearRegression and SoftmaxClassifier ---------------
@pytest.mark.parametrize(
    "module", ["keras.src.layers", "tf_keras.src.layers", "tensorflow.keras"]
)
def test_copy_params_reads_a_dense_layer_of_any_keras(module):
    kind = type("Dense", (Dense,), {"__module__": module})
    model = tools.LinearRegression(3, 2, dtype=F64, seed=0)
    model.copy_params(kind(KERNEL, BIAS))
    assert model.w.tolist() == KERNEL and model.b.tolist() == BIAS
    assert model.w.dtype == F64


def test_copy_params_reads_the_last_layer_of_a_model():
    first = Dense(np.ones((3, 3)), name="first")
    middle = Dense(np.full((3, 3), 7.0), name="middle")
    model = tools.SoftmaxClassifier(3, 2, dtype=F64, seed=0)
    model.copy_params(Model([first, middle, Dense(KERNEL, BIAS)]))
    assert model.w.tolist() == KERNEL and model.b.tolist() == BIAS


def test_keras_dense_params_full_messages():
    reg = tools.LinearRegression(3, 2, seed=0)
    clf = tools.SoftmaxClassifier(3, 2, seed=0)
    assert message(lambda: reg.copy_params(Model([], name="empty"))) == (
        "the Keras model 'empty' has no layers to copy from"
    )
    ends_badly = Model([Dense(KERNEL), Activation("relu")])
    assert message(lambda: reg.copy_params(ends_badly), TypeError) == (
        "layer must be a Keras Dense layer or a model ending in one, got a "
        "Keras model whose last layer is a Activation"
    )
    assert message(lambda: reg.copy_params(Activation("relu")), TypeError) == (
        "layer must be a Keras Dense layer or a model ending in one, got "
        "Activation"
    )
    for layer in (
        Dense(None, built=False, name="d"),
        Dense(KERNEL, use_bias=False, name="d"),
    ):
        assert message(lambda: reg.copy_params(layer)) == (
            "the Dense layer 'd' must be built (have weights) and use a bias"
        )
    wrong = Dense(np.ones((2, 2)))
    assert message(lambda: reg.copy_params(wrong)) == (
        "the Dense layer's kernel must have shape (3, 2) (n_features, "
        "n_outputs), got (2, 2)"
    )
    assert message(lambda: clf.copy_params(wrong)) == (
        "the Dense layer's kernel must have shape (3, 2) (n_features, "
        "n_classes), got (2, 2)"
    )
    assert message(lambda: keras_dense_params(wrong, (3, 2))) == (
        "the Dense layer's kernel must have shape (3, 2) (n_features, "
        "n_out), got (2, 2)"
    )


# -- a Keras Sequential: tools.Sequential ----------------------------------
def net(*layers):
    return tools.Sequential(*layers)


def test_sequential_copy_params_reads_dense_and_activation_layers():
    target = net(
        tools.Linear(3, 2, dtype=F64, seed=0),
        tools.ReLU(),
        tools.Tanh(),
        tools.Linear(2, 1, dtype=F64, seed=1),
        tools.Sigmoid(),
        tools.GELU(),
    )
    w = target.layers[0].w
    target.copy_params(
        Sequential(
            [
                Dense(KERNEL, BIAS, activation="relu"),
                Activation("tanh"),
                Dense([[2.0], [3.0]], [1.0], activation="sigmoid"),
                Activation("gelu"),
            ]
        )
    )
    assert target.layers[0].w is w  # copied in place
    assert w.tolist() == KERNEL and target.layers[0].b.tolist() == BIAS
    assert target.layers[3].w.tolist() == [[2.0], [3.0]]
    assert target.layers[3].b.tolist() == [1.0]


def test_sequential_copy_params_keras_full_messages():
    target = net(tools.Linear(3, 2, seed=0), tools.ReLU())
    assert (
        message(lambda: target.copy_params(Model([Dense(KERNEL)])), TypeError)
        == "model must be a Keras Sequential, got Model"
    )
    assert message(
        lambda: target.copy_params(
            Sequential([Dense(KERNEL, activation="tanh")])
        )
    ) == (
        "model must have the layout of this Sequential, [Linear(3, 2), "
        "ReLU()], got [Linear(3, 2), Tanh()]"
    )
    assert message(
        lambda: target.copy_params(
            Sequential([Dense(KERNEL), Activation("linear")])
        )
    ) == (
        "model must have the layout of this Sequential, [Linear(3, 2), "
        "ReLU()], got [Linear(3, 2)]"
    )
    assert message(
        lambda: target.copy_params(
            Sequential([Dense(KERNEL, activation="softplus", name="d")])
        ),
        TypeError,
    ) == (
        "the Keras layer 'd' has activation 'softplus'; accepted: "
        "None/'linear', 'relu', 'sigmoid', 'tanh', 'gelu'"
    )

    class Softplus:  # a callable object without __name__
        def __repr__(self):
            return "<Softplus>"

        def __call__(self, x):
            return x

    assert message(
        lambda: target.copy_params(
            Sequential([Dense(KERNEL, activation=Softplus(), name="d")])
        ),
        TypeError,
    ) == (
        "the Keras layer 'd' has activation '<Softplus>'; accepted: "
        "None/'linear', 'relu', 'sigmoid', 'tanh', 'gelu'"
    )
    for layer in (
        Dense(None, built=False, name="d"),
        Dense(KERNEL, use_bias=False, name="d"),
    ):
        assert message(lambda: target.copy_params(Sequential([layer]))) == (
            "the Dense layer 'd' must be built (have weights) and use a bias"
        )
    assert message(
        lambda: target.copy_params(
            Sequential([Dense(KERNEL), Flatten("flat")])
        ),
        TypeError,
    ) == (
        "model may hold Dense, Activation, Dropout, BatchNormalization and "
        "LayerNormalization layers only, got Flatten ('flat')"
    )


# -- chapter 4's layers: Dropout, BatchNormalization, LayerNormalization ---
def test_sequential_copy_params_reads_dropout_and_normalization_layers():
    target = net(
        tools.Linear(3, 2, dtype=F64, seed=0),
        tools.BatchNorm1d(2, eps=1e-3, momentum=0.01, dtype=F64),
        tools.Dropout(0.25),
        tools.LayerNorm(2, eps=1e-3, dtype=F64),
    )
    bn, ln = target.layers[1], target.layers[3]
    gamma = bn.gamma
    target.copy_params(
        Sequential(
            [
                Dense(KERNEL, BIAS),
                BatchNormalization(2),  # momentum 0.99 is our 0.01
                Dropout(0.25),
                LayerNormalization(2, axis=[1]),
            ]
        )
    )
    assert bn.gamma is gamma  # copied in place
    assert bn.gamma.tolist() == [1.0, 2.0] and bn.beta.tolist() == [-1, -2]
    assert bn.running_mean.tolist() == [0.5, 0.5]
    assert bn.running_var.tolist() == [2.0, 2.0]
    assert ln.gamma.tolist() == [1.0, 2.0] and ln.beta.tolist() == [-1, -2]
    assert target.layers[0].w.tolist() == KERNEL


def test_sequential_copy_params_keras_normalization_full_messages():
    target = net(tools.Linear(3, 2, seed=0), tools.BatchNorm1d(2))
    assert message(
        lambda: target.copy_params(
            Sequential([Dense(KERNEL), BatchNormalization(2)])
        )
    ) == (
        "model must have the layout of this Sequential, [Linear(3, 2), "
        "BatchNorm1d(2)], got [Linear(3, 2), BatchNorm1d(2, eps=0.001, "
        "momentum=0.01)]"
    )
    same = BatchNormalization(2, epsilon=1e-5, momentum=0.9)
    target.copy_params(Sequential([Dense(KERNEL), same]))  # PyTorch's
    assert target.layers[1].running_var.tolist() == [2.0, 2.0]
    for bad in (
        BatchNormalization(2, built=False),
        BatchNormalization(2, center=False),
        BatchNormalization(2, scale=False),
        BatchNormalization(2, renorm=True),
        BatchNormalization(2, axis=0),
    ):
        assert message(
            lambda: target.copy_params(Sequential([Dense(KERNEL), bad]))
        ) == (
            "the Keras layer 'bn' must be built, normalise the last axis, "
            "and have center=True, scale=True and renorm=False to be "
            "copied into a tools.BatchNorm1d"
        )
    negative = BatchNormalization(2, epsilon=1e-5, momentum=0.9)
    negative.moving_variance = _Variable([1.0, -0.5])
    assert message(
        lambda: target.copy_params(Sequential([Dense(KERNEL), negative]))
    ) == "the moving_variance of BatchNorm1d(2) must be >= 0, got -0.5"
    layer_norm = net(tools.Linear(3, 2, seed=0), tools.LayerNorm(2))
    for bad in (
        LayerNormalization(2, epsilon=1e-5, built=False),
        LayerNormalization(2, epsilon=1e-5, center=False),
        LayerNormalization(2, epsilon=1e-5, scale=False),
        LayerNormalization(2, epsilon=1e-5, rms_scaling=True),
        LayerNormalization(2, epsilon=1e-5, axis=[0, 1]),
    ):
        assert message(
            lambda: layer_norm.copy_params(Sequential([Dense(KERNEL), bad]))
        ) == (
            "the Keras layer 'ln' must be built, normalise the last axis, "
            "and have center=True, scale=True and rms_scaling=False to be "
            "copied into a tools.LayerNorm"
        )
    assert message(
        lambda: layer_norm.copy_params(
            Sequential([Dense(KERNEL), LayerNormalization(2)])
        )
    ) == (
        "model must have the layout of this Sequential, [Linear(3, 2), "
        "LayerNorm(2)], got [Linear(3, 2), LayerNorm(2, eps=0.001)]"
    )
    dropped = net(tools.Linear(3, 2, seed=0), tools.Dropout(0.5))
    assert message(
        lambda: dropped.copy_params(
            Sequential([Dense(KERNEL), Dropout(0.5, noise_shape=(1, 2))])
        )
    ) == (
        "the Keras layer 'dropout' must have noise_shape=None (one mask "
        "entry per input entry) to be copied into a tools.Dropout"
    )
    assert message(
        lambda: dropped.copy_params(Sequential([Dense(KERNEL), Dropout(0.4)]))
    ) == (
        "model must have the layout of this Sequential, [Linear(3, 2), "
        "Dropout(p=0.5)], got [Linear(3, 2), Dropout(p=0.4)]"
    )


@pytest.mark.parametrize("attribute", ["gamma", "beta", "moving_mean",
                                       "moving_variance"])
def test_copy_params_names_a_non_finite_value_of_a_keras_norm(attribute):
    target = net(tools.Linear(3, 2, seed=0),
                 tools.BatchNorm1d(2, eps=1e-3, momentum=0.01),
                 tools.LayerNorm(2, eps=1e-3))
    for i, name in ((1, "BatchNorm1d(2, eps=0.001, momentum=0.01)"),
                    (2, "LayerNorm(2, eps=0.001)")):
        if i == 2 and attribute.startswith("moving"):
            continue
        layers = [Dense(KERNEL), BatchNormalization(2), LayerNormalization(2)]
        setattr(layers[i], attribute, _Variable([np.nan, 1.0]))
        assert message(lambda: target.copy_params(Sequential(layers))) == (
            f"the {attribute} of {name} must be finite, but 1 of its 2 "
            "entries are NaN or inf"
        )


def test_copy_params_names_a_non_finite_kernel_or_bias_of_a_dense_layer():
    target = net(tools.Linear(3, 2, seed=0))
    bad_kernel = [[1.0, 2.0], [np.inf, 4.0], [5.0, 6.0]]
    assert message(
        lambda: target.copy_params(Sequential([Dense(bad_kernel)]))
    ) == (
        "the weight of Linear(3, 2) must be finite, but 1 of its 6 entries "
        "are NaN or inf"
    )
    assert message(
        lambda: target.copy_params(Sequential([Dense(KERNEL, [0.0, np.nan])]))
    ) == (
        "the bias of Linear(3, 2) must be finite, but 1 of its 2 entries "
        "are NaN or inf"
    )
