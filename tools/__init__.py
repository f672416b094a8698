"""Reusable code of the Inside Deep Learning course.

The notebooks import from here, and ``tests/`` checks every piece against
PyTorch's autograd.

>>> import tools
>>> sorted(n for n in tools.__all__ if not n.startswith("_"))[:3]
['Adagrad', 'Adam', 'AdamW']
"""

from .metrics import agreement, max_relative_error, torch_mape
from .notebook import quiet_native_stderr, show_source, use_book_style
from .functional import (
    cross_entropy,
    cross_entropy_grad,
    log_softmax,
    logits_grad,
    mse,
    mse_grad,
    softmax,
    softmax_vjp,
)
from .linear_models import LinearRegression, least_squares
from .layers import GELU, Linear, ReLU, Sequential, Sigmoid, Tanh
from .dropout import Dropout
from .normalization import BatchNorm1d, LayerNorm
from . import init
from .losses import CrossEntropyLoss, MSELoss
from .gradcheck import gradient_check, numerical_gradient, relative_error
from .softmax_classifier import SoftmaxClassifier
from .optim import (
    SGD,
    Adagrad,
    Adam,
    AdamW,
    KerasAdagrad,
    KerasAdam,
    KerasAdamW,
    KerasRMSprop,
    KerasSGD,
    RMSprop,
)
from .schedules import CosineAnnealingLR, StepLR
from .training import (
    EpochLog,
    fit_torch,
    format_epoch,
    minibatches,
    training_loop,
)

__all__ = [
    "Adagrad",
    "Adam",
    "AdamW",
    "CosineAnnealingLR",
    "KerasAdagrad",
    "KerasAdam",
    "KerasAdamW",
    "KerasRMSprop",
    "KerasSGD",
    "RMSprop",
    "SGD",
    "StepLR",
    "BatchNorm1d",
    "CrossEntropyLoss",
    "Dropout",
    "EpochLog",
    "GELU",
    "LayerNorm",
    "Linear",
    "LinearRegression",
    "MSELoss",
    "ReLU",
    "Sequential",
    "Sigmoid",
    "Tanh",
    "SoftmaxClassifier",
    "agreement",
    "cross_entropy",
    "cross_entropy_grad",
    "fit_torch",
    "gradient_check",
    "init",
    "format_epoch",
    "log_softmax",
    "logits_grad",
    "max_relative_error",
    "least_squares",
    "minibatches",
    "mse",
    "mse_grad",
    "numerical_gradient",
    "quiet_native_stderr",
    "relative_error",
    "show_source",
    "softmax",
    "softmax_vjp",
    "torch_mape",
    "training_loop",
    "use_book_style",
]
