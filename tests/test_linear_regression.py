"""Unit tests of :class:`tools.LinearRegression`, :func:`tools.least_squares`
and the training loop they share with the softmax classifier.

Covered:

* gradients (with and without weight decay) against ``torch.autograd``
  over several shapes and seeds, down to ``m = 1``;
* ``update`` against ``torch.optim.SGD`` with parameter groups
  (``weight_decay`` on the weight only), step by step, with batch size 1
  and a partial last batch; ``fit`` against ``tools.fit_torch`` entry by
  entry, line by line;
* ``least_squares`` against ``numpy.linalg.lstsq``, its gradient zero,
  gradient descent converging to it, ridge against the closed form;
* what a failed call leaves behind (nothing changed), and every bad input.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

import tools

F64 = torch.float64
TOL = 1e-12


def assert_close(actual, expected, tol: float = TOL) -> None:
    err = tools.max_relative_error(actual, expected)
    assert err <= tol, f"max relative error {err:.3g} > {tol:g}"


def make_data(n: int, c: int, m: int, seed: int, noise: float = 0.1):
    """``x`` (m, n) and targets (m, c) from a random affine rule plus noise."""
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(m, n, generator=g, dtype=F64)
    w = torch.randn(n, c, generator=g, dtype=F64)
    b = torch.randn(c, generator=g, dtype=F64)
    y = x @ w + b + noise * torch.randn(m, c, generator=g, dtype=F64)
    return x, y


def seeded_linear(n: int, c: int, seed: int) -> torch.nn.Linear:
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return torch.nn.Linear(n, c, dtype=F64)


def torch_sgd(layer: torch.nn.Linear, lr: float, weight_decay: float):
    return torch.optim.SGD(
        [
            {"params": [layer.weight], "weight_decay": weight_decay},
            {"params": [layer.bias], "weight_decay": 0.0},
        ],
        lr=lr,
    )


# -- gradients against autograd -----------------------------------------
SHAPES = [(1, 1, 1), (1, 1, 7), (3, 1, 5), (4, 2, 1), (5, 3, 16), (8, 4, 33)]


@pytest.mark.parametrize("n, c, m", SHAPES)
@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("weight_decay", [0.0, 0.3])
def test_gradients_match_autograd(n, c, m, seed, weight_decay):
    x, y = make_data(n, c, m, seed)
    model = tools.LinearRegression(
        n, c, dtype=F64, seed=seed, weight_decay=weight_decay
    )
    w = model.w.clone().requires_grad_(True)
    b = model.b.clone().requires_grad_(True)
    loss = torch.nn.functional.mse_loss(x @ w + b, y)
    (loss + weight_decay / 2 * w.square().sum()).backward()
    dw, db = model.gradients(x, y, model.predict(x))
    assert_close(dw, w.grad)
    assert_close(db, b.grad)
    loss = loss.item()
    assert_close(model.mse_loss(y, model.predict(x)), loss)
    assert_close(model.evaluate(x, y), loss)
    assert_close(
        model.penalty(), weight_decay / 2 * float(w.detach().square().sum())
    )


def test_mse_and_its_gradient_match_autograd():
    x, y = make_data(3, 2, 9, seed=4)
    y_pred = (x[:, :2] * 3).requires_grad_(True)
    loss = tools.mse(y, y_pred)
    loss.backward()
    assert_close(loss, torch.nn.MSELoss()(y_pred, y))
    assert_close(tools.mse_grad(y, y_pred.detach()), y_pred.grad)


# -- training trajectories ----------------------------------------------
@pytest.mark.parametrize(
    "batch_size, sizes",
    [(13, [13, 13, 13, 1]), (1, [1] * 40)],
    ids=["partial last batch", "batch size 1"],
)
@pytest.mark.parametrize("weight_decay", [0.0, 0.5])
def test_update_follows_torch_sgd_step_by_step(
    batch_size, sizes, weight_decay
):
    n, c, m, lr = 3, 2, 40, 0.05
    x, y = make_data(n, c, m, seed=7)
    layer = seeded_linear(n, c, seed=8)
    model = tools.LinearRegression(n, c, dtype=F64, weight_decay=weight_decay)
    model.copy_params(layer)
    optimizer = torch_sgd(layer, lr, weight_decay)
    batches = list(tools.minibatches(m, batch_size))
    assert [s.stop - s.start for s in batches] == sizes
    start = model.w.clone()
    for _ in range(2):
        for s in batches:
            xb, yb = x[s], y[s]
            model.update(xb, yb, model.predict(xb), lr)
            optimizer.zero_grad()
            torch.nn.functional.mse_loss(layer(xb), yb).backward()
            optimizer.step()
            assert_close(model.w, layer.weight.detach().T)
            assert_close(model.b, layer.bias.detach())
    assert tools.max_relative_error(model.w, start) > 1e-3


@pytest.mark.parametrize("weight_decay", [0.0, 0.2])
@pytest.mark.parametrize("c", [1, 3])
def test_fit_history_matches_fit_torch(weight_decay, c, capsys):
    n, epochs, lr = 4, 12, 0.02
    x, y = make_data(n, c, 130, seed=11)
    x_train, y_train, x_valid, y_valid = x[:100], y[:100], x[100:], y[100:]
    layer = seeded_linear(n, c, seed=12)
    model = tools.LinearRegression(n, c, dtype=F64, weight_decay=weight_decay)
    model.copy_params(layer)
    args = (x_train, y_train, epochs, lr, 33, x_valid, y_valid)
    ours = model.fit(*args)
    printed = capsys.readouterr().out.splitlines()
    ref = tools.fit_torch(
        layer,
        *args,
        loss_fn=torch.nn.MSELoss(),
        weight_decay=weight_decay,
        verbose=False,
    )
    assert printed == [tools.format_epoch(h, epochs) for h in ours]
    assert printed[0].startswith("epoch  1/12  train MSE ")
    assert "valid MSE" in printed[0] and "acc" not in printed[0]
    for a, b in zip(ours, ref, strict=True):
        assert (a.epoch, a.loss, b.loss) == (b.epoch, "MSE", "MSE")
        assert_close(a.train_loss, b.train_loss)
        assert_close(a.batch_loss, b.batch_loss)
        assert_close(a.valid_loss, b.valid_loss)
        assert a.valid_acc is None and b.valid_acc is None
    assert ours[-1].train_loss < ours[0].train_loss / 2
    assert_close(model.w, layer.weight.detach().T)
    assert_close(model.b, layer.bias.detach())


def test_batch_loss_is_the_mean_of_the_losses_before_each_step():
    x, y = make_data(2, 1, 10, seed=3)
    model = tools.LinearRegression(2, dtype=F64, seed=0)
    twin = tools.LinearRegression(2, dtype=F64, seed=0)
    losses = []
    for s in tools.minibatches(10, 4):
        losses.append(twin.evaluate(x[s], y[s]) * (s.stop - s.start))
        twin.update(x[s], y[s], twin.predict(x[s]), 0.1)
    (log,) = model.fit(x, y, 1, 0.1, 4, verbose=False)
    assert_close(log.batch_loss, sum(losses) / 10)
    assert_close(log.train_loss, twin.evaluate(x, y))
    assert torch.equal(model.w, twin.w) and torch.equal(model.b, twin.b)


# -- least squares ------------------------------------------------------
@pytest.mark.parametrize("n, c, m", [(1, 1, 2), (3, 1, 20), (5, 3, 50)])
def test_least_squares_matches_numpy_lstsq(n, c, m):
    x, y = make_data(n, c, m, seed=n)
    w, b = tools.least_squares(x, y)
    design = np.hstack([x.numpy(), np.ones((m, 1))])
    sol = np.linalg.lstsq(design, y.numpy(), rcond=None)[0]
    assert_close(w, torch.from_numpy(sol[:-1]), 1e-10)
    assert_close(b, torch.from_numpy(sol[-1]), 1e-10)


@pytest.mark.parametrize("weight_decay", [0.0, 0.1, 3.0])
def test_least_squares_gradient_is_zero_and_ridge_has_closed_form(
    weight_decay,
):
    n, c, m = 4, 2, 30
    x, y = make_data(n, c, m, seed=5)
    w, b = tools.least_squares(x, y, weight_decay=weight_decay)
    model = tools.LinearRegression(n, c, dtype=F64, weight_decay=weight_decay)
    model.w, model.b = w.clone(), b.clone()
    dw, db = model.gradients(x, y, model.predict(x))
    assert float(dw.abs().max()) < 1e-12 and float(db.abs().max()) < 1e-12
    xc, yc = x - x.mean(0), y - y.mean(0)
    alpha = weight_decay * m * c / 2
    ridge = torch.linalg.solve(
        xc.T @ xc + alpha * torch.eye(n, dtype=F64), xc.T @ yc
    )
    assert_close(w, ridge, 1e-10)


def test_gradient_descent_converges_to_least_squares():
    x, y = make_data(3, 2, 64, seed=6)
    w, b = tools.least_squares(x, y, weight_decay=0.05)
    model = tools.LinearRegression(3, 2, dtype=F64, seed=1, weight_decay=0.05)
    model.fit(x, y, 400, 0.1, 64, verbose=False)
    assert_close(model.w, w, 1e-9)
    assert_close(model.b, b, 1e-9)


def test_least_squares_handles_rank_deficient_x():
    x = torch.tensor([[1.0, 2.0], [2.0, 4.0], [3.0, 6.0]], dtype=F64)
    y = 2 * x[:, :1] + 1
    w, b = tools.least_squares(x, y)
    assert_close(x @ w + b, y, 1e-10)
    assert_close(w, torch.tensor([[0.4], [0.8]], dtype=F64), 1e-10)


@pytest.mark.parametrize(
    "call, exc, match",
    [
        (
            lambda x, y: tools.least_squares(x.numpy(), y),
            TypeError,
            r"x must be a torch\.Tensor",
        ),
        (
            lambda x, y: tools.least_squares(x, y[:, 0]),
            ValueError,
            r"y must be a 2-D tensor",
        ),
        (
            lambda x, y: tools.least_squares(x, y[:3]),
            ValueError,
            r"x and y must have the same number of samples",
        ),
        (
            lambda x, y: tools.least_squares(x, y.float()),
            ValueError,
            r"y has dtype torch\.float32 but x has dtype torch\.float64",
        ),
        (
            lambda x, y: tools.least_squares(x * math.nan, y),
            ValueError,
            r"x must be finite",
        ),
        (
            lambda x, y: tools.least_squares(x, y, weight_decay=-1),
            ValueError,
            r"weight_decay must be a finite number >= 0, got -1",
        ),
    ],
    ids=["numpy", "1-D y", "rows", "dtype", "nan", "negative decay"],
)
def test_least_squares_bad_input(call, exc, match):
    x, y = make_data(2, 1, 5, seed=0)
    with pytest.raises(exc, match=match):
        call(x, y)


# -- failures leave the model as it was ---------------------------------
@pytest.fixture
def model() -> tools.LinearRegression:
    return tools.LinearRegression(3, 2, dtype=F64, seed=0)


@pytest.fixture
def data():
    return make_data(3, 2, 6, seed=1)


def test_diverging_fit_raises_and_restores_the_parameters(model, data):
    w, b = model.w.clone(), model.b.clone()
    with pytest.raises(ValueError, match=r"diverged in epoch \d+.*lr=1e\+30"):
        model.fit(*data, 50, 1e30, 2, verbose=False)
    assert torch.equal(model.w, w) and torch.equal(model.b, b)
    model.fit(*data, 50, 1e-2, 2, verbose=False)  # still usable


def test_fit_restores_parameters_when_validation_fails_late(model, data):
    x, y = data
    w = model.w.clone()

    class Boom(RuntimeError):
        pass

    def scores(*args, **kwargs):
        raise Boom("late failure")

    model._scores = scores
    with pytest.raises(Boom):
        model.fit(x, y, 2, 0.1, 2, verbose=False)
    assert torch.equal(model.w, w)


@pytest.mark.parametrize("arg", ["x", "y"])
def test_inputs_with_autograd_history_are_refused(model, data, arg):
    x, y = data
    if arg == "x":
        x = x.clone().requires_grad_(True)
    else:
        y = y.clone().requires_grad_(True)
    name = "x_train" if arg == "x" else "y_train"
    with pytest.raises(ValueError, match=rf"{name} requires grad.*detach"):
        model.fit(x, y, 1, 0.1, 2, verbose=False)
    assert not model.w.requires_grad


def fit(m, x, y, **kw):
    args = dict(epochs=1, lr=0.1, batch_size=2, verbose=False) | kw
    return m.fit(x, y, **args)


BAD_CALLS = {
    "y 1-D": (
        lambda m, x, y: m.evaluate(x, y[:, 0]),
        ValueError,
        r"y_true must be a 2-D tensor of shape \(m, 2\), got shape "
        r"\(6,\).*reshape it with y_true\.reshape\(-1, 2\)",
    ),
    "y_train 1-D": (
        lambda m, x, y: fit(m, x, y[:, 0]),
        ValueError,
        r"y_train must be a 2-D .*broadcast",
    ),
    "y outputs": (
        lambda m, x, y: m.evaluate(x, y[:, :1]),
        ValueError,
        r"y_true must have 2 outputs \(shape \(m, 2\)\), got",
    ),
    "x features": (
        lambda m, x, y: m.predict(x[:, :2]),
        ValueError,
        r"x must have 3 features",
    ),
    "x numpy": (
        lambda m, x, y: m.predict(x.numpy()),
        TypeError,
        r"x must be a torch\.Tensor, got ndarray",
    ),
    "x nan": (
        lambda m, x, y: m.predict(x * math.nan),
        ValueError,
        r"x must be finite, but 18 of its 18",
    ),
    "y inf": (
        lambda m, x, y: m.gradients(x, y * math.inf, y),
        ValueError,
        r"y_true must be finite",
    ),
    "x dtype": (
        lambda m, x, y: fit(m, x.float(), y),
        ValueError,
        r"x_train has dtype torch\.float32 but the model has",
    ),
    "rows": (
        lambda m, x, y: fit(m, x[:5], y),
        ValueError,
        r"x_train and y_train must have the same number of samples, "
        r"got 5 and 6",
    ),
    "y_pred rows": (
        lambda m, x, y: m.mse_loss(y, y[:4]),
        ValueError,
        r"y_true and y_pred .* got 6 and 4",
    ),
    "valid alone": (
        lambda m, x, y: fit(m, x, y, x_valid=x),
        ValueError,
        r"x_valid and y_valid must be given together",
    ),
    "lr zero": (
        lambda m, x, y: fit(m, x, y, lr=0),
        ValueError,
        r"lr must be a finite number > 0",
    ),
    "update lr": (
        lambda m, x, y: m.update(x, y, y, -1.0),
        ValueError,
        r"lr must be a finite number > 0, got -1",
    ),
    "batch_size": (
        lambda m, x, y: fit(m, x, y, batch_size=0),
        ValueError,
        r"batch_size must be an integer >= 1, got 0",
    ),
    "epochs": (
        lambda m, x, y: fit(m, x, y, epochs=1.5),
        TypeError,
        r"epochs must be an integer",
    ),
    "copy conv": (
        lambda m, x, y: m.copy_params(torch.nn.Conv1d(3, 2, 1)),
        TypeError,
        r"layer must be a torch\.nn\.Linear\(3, 2\)",
    ),
    "copy shape": (
        lambda m, x, y: m.copy_params(torch.nn.Linear(2, 3)),
        ValueError,
        r"got nn\.Linear\(2, 3, bias=True\)",
    ),
    "copy nan": (
        lambda m, x, y: m.copy_params(nan_linear()),
        ValueError,
        r"the layer's weight must be finite",
    ),
}


def nan_linear() -> torch.nn.Linear:
    layer = torch.nn.Linear(3, 2, dtype=F64)
    with torch.no_grad():
        layer.weight[0, 0] = math.nan
    return layer


@pytest.mark.parametrize(
    "call, exc, match", BAD_CALLS.values(), ids=BAD_CALLS.keys()
)
def test_bad_input_raises_naming_the_argument(model, data, call, exc, match):
    w, b = model.w.clone(), model.b.clone()
    with pytest.raises(exc, match=match):
        call(model, *data)
    assert torch.equal(model.w, w) and torch.equal(model.b, b)


def test_overflowing_predictions_raise_instead_of_inf():
    model = tools.LinearRegression(3, dtype=F64, seed=0)
    model.w = torch.ones(3, 1, dtype=F64)
    x = torch.full((2, 3), 1e308, dtype=F64)
    with pytest.raises(
        ValueError,
        match=r"the predictions x @ w \+ b "
        r"overflowed torch\.float64 \(largest \|x\| is 1e\+308",
    ):
        model.predict(x)
    with pytest.raises(ValueError, match=r"overflowed"):
        model.fit(x, torch.zeros(2, 1, dtype=F64), 1, 0.1, 1, verbose=False)
    assert torch.equal(model.w, torch.ones(3, 1, dtype=F64))


@pytest.mark.parametrize(
    "kwargs, exc, match",
    [
        (dict(weight_decay=-0.1), ValueError, r"weight_decay must be .*>= 0"),
        (dict(weight_decay=math.nan), ValueError, r"weight_decay must be"),
        (
            dict(weight_decay="0.1"),
            TypeError,
            r"weight_decay must be a number",
        ),
        (dict(n_outputs=0), ValueError, r"n_outputs must be an integer >= 1"),
        (
            dict(dtype=torch.float16),
            TypeError,
            r"dtype must be .*torch\.float32 or torch\.float64.*half precision",
        ),
        (dict(dtype=torch.int64), TypeError, r"dtype must be a floating"),
        (
            dict(seed=2**70),
            ValueError,
            r"seed must be an integer below 2\*\*64",
        ),
        (dict(device="nonsense"), ValueError, r"device must name a device"),
    ],
    ids=[
        "negative decay",
        "nan decay",
        "str decay",
        "no outputs",
        "float16",
        "int dtype",
        "huge seed",
        "bad device",
    ],
)
def test_bad_constructor_arguments(kwargs, exc, match):
    with pytest.raises(exc, match=match):
        tools.LinearRegression(3, **kwargs)


@pytest.mark.skipif(torch.cuda.is_available(), reason="a GPU is present")
def test_cuda_without_a_gpu_says_so():
    with pytest.raises(ValueError, match=r"no CUDA GPU here; use device="):
        tools.LinearRegression(3, device="cuda")


# -- fit_torch's own checks ---------------------------------------------
@pytest.mark.parametrize(
    "make, kwargs, exc, match",
    [
        (
            lambda: torch.nn.Linear(3, 2),
            {},
            ValueError,
            r"x_train \(for parameter weight\) has dtype torch\.float64 but "
            r"the model has dtype torch\.float32",
        ),
        (
            lambda: torch.nn.Linear(4, 2, dtype=F64),
            {},
            ValueError,
            r"model cannot take x_train of shape \(6, 3\)",
        ),
        (
            lambda: torch.nn.Linear(3, 5, dtype=F64),
            {},
            ValueError,
            r"model outputs shape \(m, 5\) but y_train has 2 columns",
        ),
        (
            lambda: "linear",
            {},
            TypeError,
            r"model must be a torch\.nn\.Module",
        ),
        (
            lambda: torch.nn.Linear(3, 2, dtype=F64),
            {"weight_decay": -1},
            ValueError,
            r"weight_decay must be a finite number >= 0",
        ),
    ],
    ids=[
        "float32 layer",
        "wrong inputs",
        "wrong outputs",
        "not a module",
        "negative decay",
    ],
)
def test_fit_torch_rejects_mismatched_models(data, make, kwargs, exc, match):
    x, y = data
    with pytest.raises(exc, match=match):
        tools.fit_torch(
            make(),
            x,
            y,
            1,
            0.1,
            2,
            loss_fn=torch.nn.MSELoss(),
            verbose=False,
            **kwargs,
        )


def test_fit_torch_refuses_class_targets_that_are_not_probabilities():
    x = torch.randn(4, 3, dtype=F64)
    y = torch.tensor(
        [[1.0, 2.0], [3.0, 0.0], [0.0, 3.0], [1.5, 1.5]], dtype=F64
    )
    layer = torch.nn.Linear(3, 2, dtype=F64)
    with pytest.raises(
        ValueError, match=r"y_train must hold one-hot .* row 0 sums to 3"
    ):
        tools.fit_torch(layer, x, y, 1, 0.1, 2, verbose=False)


# -- initialisation and the probability-row tolerance --------------------
@pytest.mark.parametrize(
    "make, n",
    [
        (lambda n, s: tools.LinearRegression(n, 50, dtype=F64, seed=s), 100),
        (lambda n, s: tools.SoftmaxClassifier(n, 50, dtype=F64, seed=s), 100),
        (lambda n, s: tools.Linear(n, 50, dtype=F64, seed=s), 100),
    ],
    ids=["LinearRegression", "SoftmaxClassifier", "Linear"],
)
def test_initial_values_fill_the_range_of_nn_linear(make, n):
    """U(-1/sqrt(n), 1/sqrt(n)), as nn.Linear: with 5,000 draws the extremes
    come within 1 % of the bound, and the mean square is bound^2 / 3."""
    model = make(n, 0)
    bound = 1 / math.sqrt(n)
    w = model.w
    assert float(w.abs().max()) <= bound
    assert float(w.abs().max()) > 0.99 * bound
    assert abs(float(w.square().mean()) / (bound**2 / 3) - 1) < 0.05
    assert float(model.b.abs().max()) <= bound


@pytest.mark.parametrize(
    "dtype, off, accepted",
    [
        (torch.float64, 1e-8, False),
        (torch.float64, 1e-10, True),
        (torch.float32, 1e-5, False),
        (torch.float32, 1e-7, True),
    ],
)
def test_probability_rows_tolerance_sits_where_documented(
    dtype, off, accepted
):
    """Rows must sum to 1 within 1e-9 (float64) or 1e-6 (float32)."""
    model = tools.SoftmaxClassifier(2, 2, dtype=dtype, seed=0)
    x = torch.zeros(1, 2, dtype=dtype)
    y = torch.tensor([[1.0 + off, 0.0]], dtype=torch.float64).to(dtype)
    if accepted:
        model.evaluate(x, y)
    else:
        with pytest.raises(ValueError, match=r"sum to 1, but row 0 sums to"):
            model.evaluate(x, y)


# -- full messages, defaults, the seeded start -------------------------------
def message(call, error=ValueError) -> str:
    with pytest.raises(error) as info:
        call()
    return str(info.value)


@pytest.mark.parametrize(
    "make",
    [
        lambda **kw: tools.LinearRegression(3, 2, **kw),
        lambda **kw: tools.SoftmaxClassifier(3, 2, **kw),
        lambda **kw: tools.Linear(3, 2, **kw),
    ],
    ids=["LinearRegression", "SoftmaxClassifier", "Linear"],
)
def test_seeded_start_is_a_float64_draw_placed_on_the_device(make):
    """The documented recipe: U(-1/sqrt(n), 1/sqrt(n)) drawn in float64
    from a generator seeded with ``seed`` (w first, then b), then cast
    to ``dtype`` and moved to ``device`` (the meta device stands for a
    GPU here)."""
    g = torch.Generator().manual_seed(7)
    bound = 1 / math.sqrt(3)
    w = (torch.rand((3, 2), generator=g, dtype=F64) * 2 - 1) * bound
    b = (torch.rand(2, generator=g, dtype=F64) * 2 - 1) * bound
    model = make(dtype=F64, seed=7)
    assert torch.equal(model.w, w) and torch.equal(model.b, b)
    narrow = make(dtype=torch.float32, seed=7)
    assert torch.equal(narrow.w, w.float())
    assert torch.equal(narrow.b, b.float())
    meta = make(device="meta", seed=7)
    assert meta.w.device.type == "meta" and meta.b.device.type == "meta"


def test_initial_bias_fills_the_range_too():
    model = tools.LinearRegression(4, 400, dtype=F64, seed=0)
    bound = 0.5
    assert float(model.b.min()) < -0.95 * bound
    assert float(model.b.max()) > 0.95 * bound


def test_linear_regression_defaults_and_repr():
    model = tools.LinearRegression(2, dtype=F64)
    assert model.weight_decay == 0.0 and model.penalty() == 0.0
    assert repr(model) == (
        "LinearRegression(n_features=2, n_outputs=1, dtype=torch.float64)"
    )
    model = tools.LinearRegression(2, 3, weight_decay=0.5)
    assert repr(model) == (
        "LinearRegression(n_features=2, n_outputs=3, dtype=torch.float32, "
        "weight_decay=0.5)"
    )
    assert message(lambda: tools.LinearRegression(0)) == (
        "n_features must be an integer >= 1, got 0"
    )


def test_linear_regression_full_messages_name_each_argument():
    model = tools.LinearRegression(2, dtype=F64, seed=0)
    x, y = torch.ones(3, 2, dtype=F64), torch.ones(3, 1, dtype=F64)
    nan_x = x + math.nan
    for call in (model.evaluate, lambda a, b: model.gradients(a, b, y)):
        assert message(lambda: call(nan_x, y)) == (
            "x must be finite, but 6 of its 6 entries are NaN or inf"
        )
    assert message(lambda: model.mse_loss([1.0], y), TypeError).startswith(
        "y_true must be a torch.Tensor, got list"
    )
    assert message(lambda: model.mse_loss(torch.ones(3, 2, dtype=F64), y)) == (
        "y_true must have 1 outputs (shape (m, 1)), got shape (3, 2)"
    )
    assert message(lambda: model.copy_params([1]), TypeError) == (
        "layer must be a torch.nn.Linear(2, 1), a Keras Dense layer or a "
        "Keras model ending in one, got list"
    )


def test_overflow_messages_name_predictions_or_logits():
    x = torch.full((2, 1), 1e200, dtype=F64)
    tail = (
        " x @ w + b overflowed torch.float64 (largest |x| is 1e+200, "
        "largest |w| is 1e+200); scale the inputs or use a wider dtype"
    )
    reg = tools.LinearRegression(1, dtype=F64, seed=0)
    reg.w.fill_(1e200)
    assert message(lambda: reg.predict(x)) == "the predictions" + tail
    y = torch.zeros(2, 1, dtype=F64)
    assert message(lambda: reg.evaluate(x, y)) == "the predictions" + tail
    assert message(lambda: reg.fit(x, y, 1, 0.1, 2, verbose=False)) == (
        "the predictions" + tail
    )
    clf = tools.SoftmaxClassifier(1, 2, dtype=F64, seed=0)
    clf.w.fill_(1e200)
    assert message(lambda: clf.logits(x)) == "the logits" + tail
    onehot = torch.tensor([[1.0, 0.0], [0.0, 1.0]], dtype=F64)
    assert message(lambda: clf.fit(x, onehot, 1, 0.1, 2, verbose=False)) == (
        "the logits" + tail
    )


def test_copy_params_refuses_what_overflows_the_models_dtype():
    model = tools.LinearRegression(2, seed=0)  # float32
    layer = torch.nn.Linear(2, 1, dtype=F64)
    with torch.no_grad():
        layer.bias.fill_(1e300)
    assert message(lambda: model.copy_params(layer)) == (
        "the layer's bias must be finite, but 1 of its 1 entries are NaN "
        "or inf"
    )


def test_least_squares_returns_the_dtype_of_x():
    x = torch.tensor([[0.0], [1.0], [2.0]])
    w, b = tools.least_squares(x, 3 * x + 1, weight_decay=0.1)
    assert w.dtype == b.dtype == torch.float32


def test_softmax_classifier_repr():
    model = tools.SoftmaxClassifier(2, 3, dtype=F64)
    assert repr(model) == (
        "SoftmaxClassifier(n_features=2, n_classes=3, dtype=torch.float64)"
    )
    model = tools.SoftmaxClassifier(2, 3, gradient="block-jacobian")
    assert repr(model) == (
        "SoftmaxClassifier(n_features=2, n_classes=3, dtype=torch.float32, "
        "gradient='block-jacobian')"
    )


def test_least_squares_centres_y_before_solving():
    # Off-centre inputs and a large intercept: solving for W with y's mean
    # added instead of taken away would be off by far more than rounding.
    g = torch.Generator().manual_seed(0)
    x = 1000 + torch.rand(200, 2, generator=g, dtype=F64)
    w_true = torch.tensor([[3.0], [-2.0]], dtype=F64)
    y = x @ w_true + 1e6
    w, b = tools.least_squares(x, y)
    torch.testing.assert_close(w, w_true, rtol=1e-9, atol=0)
    torch.testing.assert_close(
        b, torch.tensor([1e6], dtype=F64), rtol=1e-9, atol=0
    )


@pytest.mark.parametrize("n_outputs", [1, 3])
def test_predict_returns_a_contiguous_tensor(n_outputs):
    model = tools.LinearRegression(4, n_outputs, dtype=F64, seed=0)
    out = model.predict(torch.ones(5, 4, dtype=F64))
    assert out.is_contiguous()
    assert out.view(-1).shape == (5 * n_outputs,)


def test_evaluate_gives_the_logged_validation_loss_bit_for_bit():
    g = torch.Generator().manual_seed(1)
    x = torch.randn(64, 3, generator=g, dtype=F64)
    y = torch.randn(64, 2, generator=g, dtype=F64)
    model = tools.LinearRegression(3, 2, dtype=F64, seed=0)
    log = model.fit(x, y, 2, 0.05, 16, x, y, verbose=False)[-1]
    assert model.evaluate(x, y) == log.valid_loss == log.train_loss


# -- least_squares: dtypes, empty columns, the ends of float64 ---------------
@pytest.mark.parametrize(
    "dtype, shown",
    [
        (torch.int64, "torch.int64; convert it with x.to(torch.float64)"),
        (torch.int32, "torch.int32; convert it with x.to(torch.float64)"),
        (torch.bool, "torch.bool; convert it with x.to(torch.float64)"),
        (
            torch.complex128,
            "torch.complex128 (complex numbers are not supported here)",
        ),
    ],
)
def test_least_squares_refuses_data_it_would_round(dtype, shown):
    """Integer data whose fit is w = 1.4, b = 0.9 came back as w = 1,
    b = 0; complex data lost its imaginary part."""
    x = torch.tensor([[0], [1], [2], [3]]).to(dtype)
    y = torch.tensor([[1], [2], [4], [5]]).to(dtype)
    with pytest.raises(TypeError) as info:
        tools.least_squares(x, y)
    assert str(info.value) == (
        "x must hold real floating-point numbers (torch.float32 or "
        f"torch.float64), got a tensor of {shown}"
    )
    with pytest.raises(TypeError, match=r"^y must hold real floating-point"):
        tools.least_squares(torch.ones(4, 1, dtype=F64), y)


@pytest.mark.parametrize("which", ["x", "y"])
def test_least_squares_refuses_a_matrix_without_columns(which):
    """A (m, 0) y reached LAPACK: an MKL message, then PyTorch's
    INTERNAL ASSERT."""
    x, y = make_data(2, 1, 5, seed=0)
    data = {"x": x, "y": y}
    data[which] = torch.zeros(5, 0, dtype=F64)
    with pytest.raises(ValueError) as info:
        tools.least_squares(data["x"], data["y"])
    assert str(info.value) == (
        f"{which} must have at least one column, got shape (5, 0)"
    )


def test_least_squares_refuses_a_weight_decay_that_overflows():
    x, y = make_data(2, 1, 5, seed=0)
    with pytest.raises(ValueError) as info:
        tools.least_squares(x, y, weight_decay=1e308)
    assert str(info.value) == (
        "weight_decay=1e+308 is too large: the penalty weight_decay * m * "
        "c / 2 (m=5 rows, c=1 outputs) overflows a float64"
    )
    tiny_x = torch.tensor([[0.0], [1e-300], [3e-300]], dtype=F64)
    with pytest.raises(ValueError, match=r"too large for data this small"):
        tools.least_squares(tiny_x, y[:3], weight_decay=1e10)


@pytest.mark.parametrize(
    "x, y, dtype",
    [
        ([[0.0], [1e-300]], [[0.0], [1e300]], F64),
        ([[0.0], [1e-30]], [[0.0], [1e30]], torch.float32),
    ],
)
def test_least_squares_solution_that_overflows_raises(x, y, dtype):
    """w = 1e600 (or 1e60 in float32) came back as inf."""
    x, y = torch.tensor(x, dtype=dtype), torch.tensor(y, dtype=dtype)
    with pytest.raises(ValueError) as info:
        tools.least_squares(x, y)
    assert str(info.value).startswith(
        f"the least-squares w overflowed {dtype}: largest |x| is"
    )


@pytest.mark.parametrize(
    "p, q, decay",
    [
        (0, 0, 0.1),
        (40, -30, 0.1),
        (1000, 1000, 0.0),
        (-1000, -1000, 0.0),
        (1020, 20, 0.0),
        (1023, 1023, 0.0),
        (-1000, 3, 0.0),
    ],
)
def test_least_squares_is_exact_under_scaling_by_powers_of_two(p, q, decay):
    """x 2**p and y 2**q give w 2**(q - p) and b 2**q (with weight_decay
    4**p times as large), also where the sums of the unscaled data would
    overflow or underflow (they gave NaN or a MKL error)."""
    x, y = make_data(3, 2, 12, seed=3)
    # entries in [0, 1]: 2**1023 x stays finite, its column sums do not
    x = (x / x.abs().max() + 1) / 2
    y = (y / y.abs().max() + 1) / 2
    w, b = tools.least_squares(x, y, weight_decay=decay)
    xs, ys = x * 2.0**p, y * 2.0**q
    ws, bs = tools.least_squares(xs, ys, weight_decay=math.ldexp(decay, 2 * p))
    assert_close(ws, w * 2.0 ** (q - p), 1e-13)
    assert_close(bs, b * 2.0**q, 1e-13)


def test_least_squares_fits_data_at_the_end_of_float64():
    """The column sums of x overflow (3.4e308): the means were inf and the
    fit NaN. y = 2 x - 1e307 is fitted exactly, to rounding."""
    big = 1.7e308
    x = torch.tensor([[big], [big], [-1e308], [0.0]], dtype=F64)
    y = x / 2 - 1e307
    w, b = tools.least_squares(x, y)
    assert float(w) == pytest.approx(0.5, rel=1e-14)
    assert float(b) == pytest.approx(-1e307, rel=1e-14, abs=1e-14 * big)


# -- every result that can overflow is checked before it is returned ---------
@pytest.mark.parametrize(
    "make", [lambda: tools.LinearRegression(2, 2, dtype=F64, seed=0),
             lambda: tools.SoftmaxClassifier(2, 2, dtype=F64, seed=0)],
    ids=["LinearRegression", "SoftmaxClassifier"],
)
def test_update_with_a_huge_rate_raises_and_changes_nothing(make):
    """lr=1e308 wrote inf into w; now the step is checked first."""
    model = make()
    x = torch.tensor([[300.0, -200.0], [100.0, 400.0]], dtype=F64)
    y = torch.tensor([[0.5, 0.5], [0.5, 0.5]], dtype=F64)
    before = [p.clone() for p in model.parameters()]
    ids = [id(p) for p in model.parameters()]
    with pytest.raises(ValueError) as info:
        model.update(x, y, model.predict(x), lr=1e308)
    assert str(info.value).startswith(
        "the updated w = w - lr * dL/dW (lr=1e+308) overflowed torch.float64"
        ": largest |dL/dW| is "
    )
    assert str(info.value).endswith(
        "use a smaller lr (the parameters are unchanged)"
    )
    assert all(torch.equal(p, p0) for p, p0 in zip(model.parameters(), before))
    model.update(x, y, model.predict(x), lr=1e-3)  # in place, as before
    assert [id(p) for p in model.parameters()] == ids
    assert not torch.equal(model.w, before[0])


def test_evaluate_and_mse_loss_of_huge_targets_raise():
    """(1e308 - (-1e308))**2 is inf: both returned inf."""
    model = tools.LinearRegression(1, 1, dtype=F64, seed=0)
    x = torch.ones(2, 1, dtype=F64)
    y = torch.tensor([[1e308], [-1e308]], dtype=F64)
    with pytest.raises(ValueError) as info:
        model.evaluate(x, y)
    assert str(info.value).startswith(
        "the MSE of the predictions against y_true overflowed torch.float64:"
        " largest |y_true| is 1e+308, largest |prediction| is "
    )
    with pytest.raises(ValueError) as info:
        model.mse_loss(y, -y)
    assert str(info.value) == (
        "the MSE of y_pred against y_true overflowed torch.float64: largest "
        "|y_true| is 1e+308, largest |prediction| is 1e+308; scale the "
        "targets"
    )
    assert model.mse_loss(y, y) == 0.0


def test_gradients_that_overflow_raise():
    """X^T G with X and G near 1e300 is inf; it was returned."""
    model = tools.LinearRegression(1, 1, dtype=F64, seed=0)
    x = torch.full((2, 1), 1e300, dtype=F64)
    y = torch.full((2, 1), -1e300, dtype=F64)
    with pytest.raises(ValueError) as info:
        model.gradients(x, y, -y)
    assert str(info.value) == (
        "the gradient dL/dW overflowed torch.float64: largest |x| is "
        "1e+300, |y_true| 1e+300, |y_pred| 1e+300; scale the large ones down"
    )


def test_an_overflowing_gradient_names_the_targets_when_x_is_small():
    """Zero inputs and huge targets: the gradients overflow, and the
    message shows that y_true and y_pred, not x, are what is large."""
    model = tools.LinearRegression(1, 1, dtype=F64, seed=0)
    x = torch.zeros(2, 1, dtype=F64)
    big = torch.full((2, 1), 1.5e308, dtype=F64)
    with pytest.raises(ValueError) as info:
        model.gradients(x, -big, big)
    assert str(info.value) == (
        "the gradient dL/dW overflowed torch.float64: largest |x| is 0, "
        "|y_true| 1.5e+308, |y_pred| 1.5e+308; scale the large ones down"
    )


def test_copy_params_from_nn_linear_gives_contiguous_parameters():
    """nn.Linear's weight.T is a transposed view; a clone of it kept its
    strides, and numerical_gradient could not walk it."""
    model = tools.LinearRegression(3, 2, dtype=F64, seed=0)
    model.copy_params(seeded_linear(3, 2, seed=1))
    assert model.w.is_contiguous() and model.b.is_contiguous()


def test_penalty_that_overflows_raises():
    model = tools.LinearRegression(2, 1, dtype=F64, seed=0, weight_decay=1.0)
    model.w = torch.full((2, 1), 1e200, dtype=F64)
    with pytest.raises(ValueError) as info:
        model.penalty()
    assert str(info.value) == (
        "the penalty weight_decay/2 ||W||^2 overflowed torch.float64: "
        "largest |w| is 1e+200, weight_decay is 1"
    )
