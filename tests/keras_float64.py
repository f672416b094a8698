"""Keras for the test modules that compare with it: TensorFlow's backend,
imported quietly, and an autouse fixture that makes Keras compute in
float64 with seeded weights (restoring the previous float type after).

A test module uses it with ``from keras_float64 import float64_keras,
keras``; without Keras installed the module is skipped.
"""

from __future__ import annotations

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")

import pytest  # noqa: E402

import tools  # noqa: E402

with tools.quiet_native_stderr():  # TensorFlow's C++ start-up lines
    keras = pytest.importorskip("keras")


@pytest.fixture(autouse=True)
def float64_keras():
    previous = keras.config.floatx()
    keras.config.set_floatx("float64")
    keras.utils.set_random_seed(0)
    yield
    keras.config.set_floatx(previous)
