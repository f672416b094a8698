"""Unit tests of :meth:`tools.SoftmaxClassifier.copy_params` with Keras objects (skipped without Keras).

Covered, in float64 (``keras.config.set_floatx``, restored after each test):

* copying from a ``Sequential`` ending in ``Dense(k, activation="softmax")`` and from the ``Dense``
  itself makes ``predict`` equal Keras's output (relative error <= 1e-12); the kernel is copied
  as is (``w == kernel``, no transpose) and the copies do not share memory with Keras;
* rejected objects: a model ending in ``Softmax``/``Activation``/``Dropout`` (``TypeError`` naming
  the layer), wrong units or inputs (``ValueError`` naming the expected shape), no bias, unbuilt
  ``Dense``, empty model (``ValueError``), non-Keras objects (``TypeError``); nothing is changed;
* training: ``model.fit`` with SGD vs ``SoftmaxClassifier.fit`` from copied parameters, with a
  partial last batch: per-epoch ``loss`` equals ``EpochLog.batch_ce`` and the final kernel/bias
  equal ``w``/``b`` (<= 1e-12).
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

import tools

from keras_float64 import float64_keras, keras  # noqa: F401 (autouse fixture)

F64 = torch.float64
TOL = 1e-12
N, K = 4, 3


def assert_close(actual, expected, tol: float = TOL) -> None:
    actual, expected = (a if isinstance(a, torch.Tensor) else torch.from_numpy(np.asarray(a)) for a in (actual, expected))
    err = tools.max_relative_error(actual, expected)
    assert err <= tol, f"max relative error {err:.3g} > {tol:g}"


def make_data(m: int, seed: int, n: int = N, k: int = K) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return rng.standard_normal((m, n)), np.eye(k)[rng.integers(0, k, m)]


def softmax_model(n: int = N, k: int = K, **dense_kw) -> keras.Sequential:
    return keras.Sequential([keras.Input((n,)), keras.layers.Dense(k, activation="softmax", **dense_kw)])


def randomize_bias(dense) -> None:
    """Keras starts biases at zero; a nonzero one makes a swapped or dropped bias visible."""
    dense.bias.assign(np.linspace(-0.5, 0.7, dense.units))


# -- copying -----------------------------------------------------------------------------------------
@pytest.mark.parametrize("source", ["model", "dense"])
def test_copy_params_makes_predictions_equal(source):
    model = softmax_model()
    dense = model.layers[-1]
    randomize_bias(dense)
    clf = tools.SoftmaxClassifier(N, K, dtype=F64, seed=0)
    clf.copy_params(model if source == "model" else dense)
    x, _ = make_data(10, seed=1)
    assert dense.kernel.dtype == "float64"
    assert_close(clf.predict(torch.from_numpy(x)), model.predict(x, verbose=0))
    assert torch.equal(clf.w, torch.from_numpy(dense.kernel.numpy()))      # (in, out): no transpose
    assert torch.equal(clf.b, torch.from_numpy(dense.bias.numpy()))
    assert clf.w.shape == (N, K) and clf.dtype == F64


def test_copy_params_casts_to_model_dtype_and_owns_its_copy():
    model = softmax_model()
    clf = tools.SoftmaxClassifier(N, K, dtype=torch.float32, seed=0)
    clf.copy_params(model)
    kernel = model.layers[-1].kernel
    assert clf.w.dtype == torch.float32
    assert torch.equal(clf.w, torch.from_numpy(kernel.numpy()).float())
    before = clf.w.clone()
    kernel.assign(np.zeros((N, K)))
    assert torch.equal(clf.w, before), "the copy shares memory with the Keras kernel"


def test_copy_params_from_functional_model():
    inputs = keras.Input((N,))
    model = keras.Model(inputs, keras.layers.Dense(K, activation="softmax")(inputs))
    randomize_bias(model.layers[-1])
    clf = tools.SoftmaxClassifier(N, K, dtype=F64, seed=0)
    clf.copy_params(model)
    x, _ = make_data(5, seed=2)
    assert_close(clf.predict(torch.from_numpy(x)), model.predict(x, verbose=0))


# -- rejected objects -------------------------------------------------------------------------------
def _built(layer, n: int = N):
    layer.build((None, n))
    return layer


BAD_SOURCES = {
    "ends in Softmax": (lambda: keras.Sequential([keras.Input((N,)), keras.layers.Dense(K), keras.layers.Softmax()]),
                        TypeError, r"Dense layer or a model ending in one, got a Keras model whose last layer is a Softmax"),
    "ends in Activation": (lambda: keras.Sequential([keras.Input((N,)), keras.layers.Dense(K),
                                                     keras.layers.Activation("softmax")]),
                           TypeError, r"last layer is a Activation"),
    "ends in Dropout": (lambda: keras.Sequential([keras.Input((N,)), keras.layers.Dense(K), keras.layers.Dropout(0.1)]),
                        TypeError, r"last layer is a Dropout"),
    "bare Softmax layer": (lambda: keras.layers.Softmax(), TypeError, r"got Softmax$"),
    "wrong units": (lambda: softmax_model(N, K + 1), ValueError, rf"must have shape \({N}, {K}\).*got \({N}, {K + 1}\)"),
    "wrong inputs": (lambda: softmax_model(N + 2, K), ValueError, rf"must have shape \({N}, {K}\).*got \({N + 2}, {K}\)"),
    "transposed Dense": (lambda: _built(keras.layers.Dense(N), K), ValueError, rf"must have shape \({N}, {K}\)"),
    "no bias": (lambda: softmax_model(use_bias=False), ValueError, r"must be built \(have weights\) and use a bias"),
    "unbuilt Dense": (lambda: keras.layers.Dense(K), ValueError, r"must be built"),
    "empty model": (lambda: keras.Sequential(), ValueError, r"has no layers to copy from"),
    "input-only model": (lambda: keras.Sequential([keras.Input((N,))]), ValueError, r"has no layers"),
    "string": (lambda: "dense", TypeError, r"a Keras Dense layer or a Keras model ending in one, got str$"),
    "numpy kernel": (lambda: np.zeros((N, K)), TypeError, r"got ndarray$"),
    "keras optimizer": (lambda: keras.optimizers.SGD(), TypeError, r"got SGD$"),
}


@pytest.mark.parametrize("make, exc, match", BAD_SOURCES.values(), ids=BAD_SOURCES.keys())
def test_copy_params_rejects(make, exc, match):
    clf = tools.SoftmaxClassifier(N, K, dtype=F64, seed=0)
    w, b = clf.w.clone(), clf.b.clone()
    with pytest.raises(exc, match=match):
        clf.copy_params(make())
    assert torch.equal(clf.w, w) and torch.equal(clf.b, b), "a rejected copy changed the parameters"


# -- training side by side --------------------------------------------------------------------------
def test_training_matches_keras_fit():
    m, epochs, lr = 100, 3, 0.5        # lr exact in float32 too; batches of 33, 33, 33, 1
    x, y = make_data(m, seed=3)
    model = softmax_model()
    randomize_bias(model.layers[-1])
    model.compile(optimizer=keras.optimizers.SGD(learning_rate=lr), loss="categorical_crossentropy")
    clf = tools.SoftmaxClassifier(N, K, dtype=F64, seed=0)
    clf.copy_params(model)
    start = clf.w.clone()

    history = model.fit(x, y, epochs=epochs, batch_size=m // 3, shuffle=False, verbose=0).history
    log = clf.fit(torch.from_numpy(x), torch.from_numpy(y), epochs, lr, m // 3, verbose=False)

    assert len(history["loss"]) == len(log) == epochs
    for keras_loss, entry in zip(history["loss"], log):
        assert_close(entry.batch_ce, float(keras_loss))
    assert log[-1].batch_ce < log[0].batch_ce, "training did not lower the loss"
    assert tools.max_relative_error(clf.w, start) > 1e-3, "the parameters did not move"
    dense = model.layers[-1]
    assert_close(clf.w, torch.from_numpy(dense.kernel.numpy()))
    assert_close(clf.b, torch.from_numpy(dense.bias.numpy()))
