"""Unit tests of :class:`tools.SoftmaxClassifier` and the functions it is built from.

Covered:

* the hand-derived gradient (and each link of its chain rule: ``cross_entropy_grad``,
  ``softmax_vjp``, ``logits_grad``) against ``torch.autograd`` in float64, for several shapes,
  seeds, one-hot and soft targets, batch sizes down to ``m = 1``;
* training: step-by-step equality of ``update`` with ``nn.Linear`` + ``CrossEntropyLoss`` +
  ``SGD`` (partial last batch and batch size 1), ``fit`` against ``tools.fit_torch`` entry by
  entry and line by line, ``epochs=0``, and what ``verbose`` prints;
* seeded initialisation (reproducible, seed-dependent, device/dtype independent draws);
* numerical stability for logits of order 1e4 (``predict``, ``evaluate``, ``cross_entropy_loss``,
  ``softmax``, ``log_softmax``);
* ``evaluate`` against ``cross_entropy_loss``, and ``accuracy`` on a hand-made case;
* every rejected input: exception type and a message naming the argument;
* ``copy_params``, and (when a GPU is present) CUDA against CPU.
"""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

import tools

F64 = torch.float64
TOL = 1e-12


# -- helpers ----------------------------------------------------------------------------------
def assert_close(actual, expected, tol: float = TOL) -> None:
    err = tools.max_relative_error(actual, expected)
    assert err <= tol, f"max relative error {err:.3g} > {tol:g}"


def make_data(
    n: int, k: int, m: int, seed: int, soft: bool = False
) -> tuple[torch.Tensor, torch.Tensor]:
    """``x`` of shape (m, n) and targets of shape (m, k): one-hot (default) or soft probability rows."""
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(m, n, generator=g, dtype=F64)
    if soft:
        return x, torch.softmax(
            torch.randn(m, k, generator=g, dtype=F64), dim=1
        )
    return x, F.one_hot(torch.randint(k, (m,), generator=g), k).double()


def make_learnable(
    n: int, k: int, m: int, seed: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """Data whose labels come from a random linear rule, so that training visibly changes accuracy."""
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(m, n, generator=g, dtype=F64)
    labels = (x @ torch.randn(n, k, generator=g, dtype=F64)).argmax(dim=1)
    return x, F.one_hot(labels, k).double()


def seeded_linear(n: int, k: int, seed: int) -> torch.nn.Linear:
    """A float64 ``nn.Linear(n, k)`` initialised from ``seed`` without disturbing the global RNG."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return torch.nn.Linear(n, k, dtype=F64)


def autograd_wb(model: tools.SoftmaxClassifier, x, y, loss_kind: str):
    """``(dL/dW, dL/db)`` by autograd on leaf copies of the model's parameters."""
    w = model.w.detach().clone().requires_grad_(True)
    b = model.b.detach().clone().requires_grad_(True)
    z = x @ w + b
    loss = (
        tools.cross_entropy(y, tools.softmax(z))
        if loss_kind == "tools"
        else F.cross_entropy(z, y)
    )
    loss.backward()
    return w.grad, b.grad


@pytest.fixture
def model() -> tools.SoftmaxClassifier:
    return tools.SoftmaxClassifier(3, 4, dtype=F64, seed=0)


@pytest.fixture
def data() -> tuple[torch.Tensor, torch.Tensor]:
    return make_data(3, 4, 6, seed=1)


# -- gradients against autograd ----------------------------------------------------------------
SHAPES = [(1, 2, 1), (3, 2, 5), (4, 3, 1), (5, 3, 7), (7, 5, 16), (20, 10, 64)]


@pytest.mark.parametrize("n, k, m", SHAPES)
@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("loss_kind", ["tools", "torch"])
@pytest.mark.parametrize("soft", [False, True], ids=["onehot", "soft"])
def test_gradients_match_autograd(n, k, m, seed, loss_kind, soft):
    model = tools.SoftmaxClassifier(n, k, dtype=F64, seed=seed)
    x, y = make_data(n, k, m, seed=100 + seed, soft=soft)
    dw, db = model.gradients(x, y, model.predict(x))
    ref_w, ref_b = autograd_wb(model, x, y, loss_kind)
    assert dw.shape == (n, k) and db.shape == (k,)
    assert_close(dw, ref_w)
    assert_close(db, ref_b)


@pytest.mark.parametrize("n, k, m", SHAPES)
@pytest.mark.parametrize("seed", [0, 3])
def test_chain_rule_links_match_autograd(n, k, m, seed):
    model = tools.SoftmaxClassifier(n, k, dtype=F64, seed=seed)
    x, y = make_data(n, k, m, seed=200 + seed)
    z = (x @ model.w + model.b).requires_grad_(True)
    F.cross_entropy(z, y).backward()
    y_pred = tools.softmax(z.detach())
    chain = tools.softmax_vjp(y_pred, tools.cross_entropy_grad(y, y_pred))
    collapsed = tools.logits_grad(y, y_pred)
    assert_close(chain, collapsed)
    assert_close(chain, z.grad)
    assert_close(collapsed, z.grad)

    # The first link alone: dL/dY_hat of tools.cross_entropy.
    y_hat = y_pred.clone().requires_grad_(True)
    tools.cross_entropy(y, y_hat).backward()
    assert_close(tools.cross_entropy_grad(y, y_pred), y_hat.grad)


# -- training trajectories -----------------------------------------------------------------------
@pytest.mark.parametrize(
    "batch_size, epochs, sizes",
    [
        (33, 3, [33, 33, 33, 1]),  # leaves a partial last batch
        (1, 1, [1] * 100),
    ],
)
def test_update_follows_torch_sgd_step_by_step(batch_size, epochs, sizes):
    n, k, m, lr = 5, 3, 100, 0.5
    x, y = make_learnable(n, k, m, seed=7)
    layer = seeded_linear(n, k, seed=8)
    model = tools.SoftmaxClassifier(n, k, dtype=F64, seed=9)
    model.copy_params(layer)
    optimizer = torch.optim.SGD(layer.parameters(), lr=lr)
    batches = list(tools.minibatches(m, batch_size))
    assert [s.stop - s.start for s in batches] == sizes
    start_w = model.w.clone()
    for _ in range(epochs):
        for s in batches:
            xb, yb = x[s], y[s]
            model.update(xb, yb, model.predict(xb), lr)
            optimizer.zero_grad()
            F.cross_entropy(layer(xb), yb).backward()
            optimizer.step()
            assert_close(model.w, layer.weight.detach().T)
            assert_close(model.b, layer.bias.detach())
    assert tools.max_relative_error(model.w, start_w) > 1e-3, (
        "the parameters did not move"
    )


def test_fit_history_matches_fit_torch():
    n, k, epochs, lr = 4, 3, 16, 0.01
    x, y = make_learnable(n, k, 120, seed=11)
    x_train, y_train, x_valid, y_valid = x[:90], y[:90], x[90:], y[90:]
    layer = seeded_linear(n, k, seed=12)
    model = tools.SoftmaxClassifier(n, k, dtype=F64, seed=0)
    model.copy_params(layer)
    args = (x_train, y_train, epochs, lr, len(x_train) // 3, x_valid, y_valid)
    ours = model.fit(*args, verbose=False)
    ref = tools.fit_torch(layer, *args, verbose=False)

    assert [h.epoch for h in ours] == list(range(1, epochs + 1))
    assert len(ref) == epochs
    for a, b in zip(ours, ref):
        assert a.epoch == b.epoch
        assert_close(a.train_ce, b.train_ce)
        assert_close(a.valid_ce, b.valid_ce)
        assert a.valid_acc == b.valid_acc
        assert a.batch_ce is not None and b.batch_ce is not None
        assert_close(a.batch_ce, b.batch_ce)
        assert tools.format_epoch(a, epochs) == tools.format_epoch(b, epochs)
    assert ours[-1].train_ce < ours[0].train_ce, (
        "training did not lower the loss"
    )
    assert_close(model.w, layer.weight.detach().T)
    assert_close(model.b, layer.bias.detach())


def test_fit_with_zero_epochs_returns_empty_history_and_leaves_params(
    model, data, capsys
):
    w, b = model.w.clone(), model.b.clone()
    assert model.fit(*data, epochs=0, lr=0.1, batch_size=2) == []
    assert torch.equal(model.w, w) and torch.equal(model.b, b)
    assert capsys.readouterr().out == ""


@pytest.mark.parametrize("with_valid", [False, True])
def test_fit_verbose_prints_one_formatted_line_per_epoch(
    model, data, capsys, with_valid
):
    valid = data if with_valid else ()
    quiet = tools.SoftmaxClassifier(3, 4, dtype=F64, seed=0)
    history = quiet.fit(*data, 5, 0.1, 4, *valid, verbose=False)
    assert capsys.readouterr().out == ""
    assert model.fit(*data, 5, 0.1, 4, *valid, verbose=True) == history
    lines = capsys.readouterr().out.splitlines()
    assert lines == [tools.format_epoch(h, 5) for h in history]
    assert lines[0].startswith("epoch 1/5  train CE ")
    assert ("valid acc" in lines[0]) == with_valid


# -- initialisation ----------------------------------------------------------------------------
def test_same_seed_same_params_different_seed_different():
    a, b, c = (
        tools.SoftmaxClassifier(6, 4, dtype=F64, seed=s) for s in (5, 5, 6)
    )
    assert torch.equal(a.w, b.w) and torch.equal(a.b, b.b)
    assert not torch.equal(a.w, c.w) and not torch.equal(a.b, c.b)
    bound = 1 / math.sqrt(6)
    assert a.w.abs().max() <= bound and a.b.abs().max() <= bound
    assert (
        a.w.shape == (6, 4)
        and a.b.shape == (4,)
        and a.dtype == F64
        and a.device.type == "cpu"
    )


def test_seeded_draws_are_float64_cast_to_dtype():
    wide = tools.SoftmaxClassifier(5, 3, dtype=F64, seed=3)
    narrow = tools.SoftmaxClassifier(5, 3, dtype=torch.float32, seed=3)
    assert narrow.dtype == torch.float32
    assert torch.equal(narrow.w, wide.w.float()) and torch.equal(
        narrow.b, wide.b.float()
    )


def test_seed_does_not_touch_global_rng_and_none_uses_it():
    state = torch.get_rng_state()
    tools.SoftmaxClassifier(4, 3, seed=1)
    assert torch.equal(torch.get_rng_state(), state)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(42)
        a = tools.SoftmaxClassifier(4, 3, dtype=F64)
        torch.manual_seed(42)
        b = tools.SoftmaxClassifier(4, 3, dtype=F64)
    assert torch.equal(a.w, b.w) and torch.equal(a.b, b.b)


# -- numerical stability -------------------------------------------------------------------------
@pytest.fixture
def huge_logits_case():
    """A model with W = I, b = 0 and inputs of size 1e4, so that the logits are x itself."""
    model = tools.SoftmaxClassifier(3, 3, dtype=F64, seed=0)
    model.w, model.b = torch.eye(3, dtype=F64), torch.zeros(3, dtype=F64)
    x = 1e4 * torch.tensor(
        [[1.0, 0.0, -1.0], [-1.0, 1.0, 0.0], [0.0, -1.0, 1.0]], dtype=F64
    )
    return model, x


def test_predict_is_finite_for_huge_logits(huge_logits_case):
    model, x = huge_logits_case
    p = model.predict(x)
    assert bool(torch.isfinite(p).all())
    assert torch.equal(p.sum(dim=1), torch.ones(3, dtype=F64))
    assert torch.equal(p.argmax(dim=1), torch.tensor([0, 1, 2]))


def test_evaluate_is_exact_and_loss_finite_for_huge_logits(huge_logits_case):
    model, x = huge_logits_case
    right = torch.eye(3, dtype=F64)  # targets at each row's largest logit
    wrong = torch.eye(3, dtype=F64)[
        [2, 0, 1]
    ]  # targets at each row's smallest logit
    assert model.evaluate(x, right) == 0.0
    assert (
        model.evaluate(x, wrong) == 2e4
    )  # logsumexp - z_min = 1e4 - (-1e4), exactly
    loss = model.cross_entropy_loss(wrong, model.predict(x))
    assert math.isfinite(loss)
    assert loss == pytest.approx(
        -math.log(torch.finfo(F64).tiny)
    )  # the documented cap
    assert model.cross_entropy_loss(right, model.predict(x)) == 0.0


def test_softmax_and_log_softmax_of_extreme_row():
    z = torch.tensor([[1000.0, 0.0, -1000.0]], dtype=F64)
    s = tools.softmax(z)
    assert bool(torch.isfinite(s).all())
    assert torch.equal(s, torch.tensor([[1.0, 0.0, 0.0]], dtype=F64))
    assert torch.equal(
        tools.log_softmax(z),
        torch.tensor([[0.0, -1000.0, -2000.0]], dtype=F64),
    )


@pytest.mark.parametrize("shift", [0.0, 700.0, -1e4])
def test_softmax_and_log_softmax_match_torch(shift):
    z = (
        make_data(1, 5, 8, seed=4)[0].reshape(8, 1)
        * torch.arange(5, dtype=F64)
        + shift
    )
    assert_close(tools.softmax(z), torch.softmax(z, dim=1))
    assert_close(tools.log_softmax(z), torch.log_softmax(z, dim=1))


def test_cross_entropy_and_its_grad_are_finite_where_a_probability_underflowed():
    y_true = torch.tensor([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]], dtype=F64)
    y_pred = tools.softmax(
        torch.tensor([[0.0, 800.0, 0.0], [0.0, 800.0, -800.0]], dtype=F64)
    )
    assert y_pred[0, 0] == 0.0 and y_pred[1, 2] == 0.0
    tiny = torch.finfo(F64).tiny
    assert float(tools.cross_entropy(y_true, y_pred)) == pytest.approx(
        -math.log(tiny) / 2
    )
    grad = tools.cross_entropy_grad(y_true, y_pred)
    assert bool(torch.isfinite(grad).all())
    assert torch.equal(
        grad[1], torch.tensor([0.0, -0.5, 0.0], dtype=F64)
    )  # 0 where Y is 0, even if Y_hat is
    assert grad[0, 0] == -1 / tiny / 2


# -- evaluate and accuracy -----------------------------------------------------------------------
@pytest.mark.parametrize("seed", [0, 1])
def test_evaluate_equals_cross_entropy_of_predictions(seed):
    model = tools.SoftmaxClassifier(5, 4, dtype=F64, seed=seed)
    x, y = make_data(5, 4, 9, seed=seed + 30)
    expected = model.cross_entropy_loss(y, model.predict(x))
    assert_close(model.evaluate(x, y), expected)
    assert_close(expected, float(F.cross_entropy(x @ model.w + model.b, y)))


def test_accuracy_hand_made_case():
    model = tools.SoftmaxClassifier(2, 3, dtype=F64, seed=0)
    y_true = F.one_hot(torch.tensor([0, 1, 2, 1]), 3).double()
    y_pred = torch.tensor(
        [[0.7, 0.2, 0.1], [0.1, 0.8, 0.1], [0.2, 0.5, 0.3], [0.3, 0.4, 0.3]],
        dtype=F64,
    )
    assert model.accuracy(y_true, y_pred) == 0.75
    assert model.accuracy(y_true, y_true) == 1.0


# -- rejected inputs -----------------------------------------------------------------------------
def fit(m, x, y, **kw):
    args = dict(epochs=1, lr=0.1, batch_size=2, verbose=False) | kw
    return m.fit(x, y, **args)


BAD_CALLS = {
    "x numpy": (
        lambda m, x, y: m.predict(x.numpy()),
        TypeError,
        r"x must be a torch\.Tensor, got ndarray",
    ),
    "x list": (
        lambda m, x, y: m.evaluate(x.tolist(), y),
        TypeError,
        r"x must be a torch\.Tensor",
    ),
    "x 1-D": (
        lambda m, x, y: m.predict(x[0]),
        ValueError,
        r"x must be a 2-D tensor",
    ),
    "x no rows": (
        lambda m, x, y: m.predict(x[:0]),
        ValueError,
        r"x must have at least one row",
    ),
    "x features": (
        lambda m, x, y: m.predict(x[:, :2]),
        ValueError,
        r"x must have 3 features",
    ),
    "x nan": (
        lambda m, x, y: m.predict(
            x.index_fill(0, torch.tensor([1]), math.nan)
        ),
        ValueError,
        r"x must be finite, but 3 of its 18",
    ),
    "x inf": (
        lambda m, x, y: m.gradients(
            x.index_fill(1, torch.tensor([0]), -math.inf), y, y
        ),
        ValueError,
        r"x must be finite",
    ),
    "x dtype": (
        lambda m, x, y: m.predict(x.float()),
        ValueError,
        r"x has dtype torch\.float32 but the model has dtype torch\.float64",
    ),
    "x_train dtype": (
        lambda m, x, y: fit(m, x.float(), y),
        ValueError,
        r"x_train has dtype torch\.float32",
    ),
    "y_true columns": (
        lambda m, x, y: m.evaluate(x, y[:, :3]),
        ValueError,
        r"y_true must have 4 columns",
    ),
    "y_true 1-D": (
        lambda m, x, y: m.evaluate(x, y[:, 0]),
        ValueError,
        r"y_true must be one-hot rows of shape",
    ),
    "class indices": (
        lambda m, x, y: fit(m, x, y.argmax(dim=1)),
        ValueError,
        r"y_train must be one-hot rows of shape \(m, 4\), got shape \(6,\); from class indices "
        r"make them with torch\.nn\.functional\.one_hot\(y_train, 4\)\.to\(torch\.float64\)",
    ),
    "y_true sum": (
        lambda m, x, y: m.evaluate(x, 0.5 * y),
        ValueError,
        r"y_true must hold .* sum to 1, but row 0",
    ),
    "y_true negative": (
        lambda m, x, y: m.evaluate(x, 2 * y - y.roll(1, dims=1)),
        ValueError,
        r"y_true must hold .*negative entries",
    ),
    "y_true nan": (
        lambda m, x, y: m.evaluate(
            x, y.index_fill(0, torch.tensor([0]), math.nan)
        ),
        ValueError,
        r"y_true must be finite",
    ),
    "y_train sum": (
        lambda m, x, y: fit(m, x, 2 * y),
        ValueError,
        r"y_train must hold",
    ),
    "y_pred sum": (
        lambda m, x, y: m.gradients(x, y, 0.9 * m.predict(x)),
        ValueError,
        r"y_pred must hold",
    ),
    "rows fit": (
        lambda m, x, y: fit(m, x[:5], y),
        ValueError,
        r"x_train and y_train must have the same number of samples, got 5 and 6",
    ),
    "rows evaluate": (
        lambda m, x, y: m.evaluate(x, y[:4]),
        ValueError,
        r"x and y_true .* got 6 and 4",
    ),
    "rows gradients x": (
        lambda m, x, y: m.gradients(x[:5], y, m.predict(x)),
        ValueError,
        r"x and y_true",
    ),
    "rows gradients y_pred": (
        lambda m, x, y: m.gradients(x, y, m.predict(x[:5])),
        ValueError,
        r"y_true and y_pred .* got 6 and 5",
    ),
    "rows valid": (
        lambda m, x, y: fit(m, x, y, x_valid=x[:3], y_valid=y[:2]),
        ValueError,
        r"x_valid and y_valid",
    ),
    "x_valid alone": (
        lambda m, x, y: fit(m, x, y, x_valid=x),
        ValueError,
        r"x_valid and y_valid must be given together",
    ),
    "y_valid alone": (
        lambda m, x, y: fit(m, x, y, y_valid=y),
        ValueError,
        r"x_valid and y_valid must be given together",
    ),
    "x_valid features": (
        lambda m, x, y: fit(m, x, y, x_valid=x[:, :2], y_valid=y),
        ValueError,
        r"x_valid must have 3 features",
    ),
    "epochs negative": (
        lambda m, x, y: fit(m, x, y, epochs=-1),
        ValueError,
        r"epochs must be an integer >= 0, got -1",
    ),
    "epochs float": (
        lambda m, x, y: fit(m, x, y, epochs=2.5),
        TypeError,
        r"epochs must be an integer .*2\.5",
    ),
    "epochs bool": (
        lambda m, x, y: fit(m, x, y, epochs=True),
        TypeError,
        r"epochs must be an integer",
    ),
    "lr zero": (
        lambda m, x, y: fit(m, x, y, lr=0),
        ValueError,
        r"lr must be a finite number > 0",
    ),
    "lr negative": (
        lambda m, x, y: fit(m, x, y, lr=-0.1),
        ValueError,
        r"lr must be a finite number > 0",
    ),
    "lr nan": (
        lambda m, x, y: fit(m, x, y, lr=math.nan),
        ValueError,
        r"lr must be a finite number > 0, got nan",
    ),
    "lr inf": (
        lambda m, x, y: fit(m, x, y, lr=math.inf),
        ValueError,
        r"lr must be a finite number > 0, got inf",
    ),
    "lr string": (
        lambda m, x, y: fit(m, x, y, lr="0.1"),
        TypeError,
        r"lr must be a positive number",
    ),
    "update lr": (
        lambda m, x, y: m.update(x, y, m.predict(x), 0.0),
        ValueError,
        r"lr must be",
    ),
    "batch_size zero": (
        lambda m, x, y: fit(m, x, y, batch_size=0),
        ValueError,
        r"batch_size must be an integer >= 1",
    ),
    "batch_size float": (
        lambda m, x, y: fit(m, x, y, batch_size=2.0),
        TypeError,
        r"batch_size must be an integer",
    ),
}


@pytest.mark.parametrize(
    "call, exc, match", BAD_CALLS.values(), ids=BAD_CALLS.keys()
)
def test_bad_input_raises_naming_the_argument(model, data, call, exc, match):
    w, b = model.w.clone(), model.b.clone()
    with pytest.raises(exc, match=match):
        call(model, *data)
    assert torch.equal(model.w, w) and torch.equal(model.b, b), (
        "a rejected call changed the parameters"
    )


def meta_like(t: torch.Tensor) -> torch.Tensor:
    """A tensor on the 'meta' device, a stand-in for 'some other device' on a CPU-only machine."""
    try:
        return torch.empty(t.shape, device="meta", dtype=t.dtype)
    except Exception as e:  # pragma: no cover - depends on the torch build
        pytest.skip(f"this torch cannot make meta tensors: {e}")


def test_device_mismatch_raises_naming_the_argument(model, data):
    x, y = data
    with pytest.raises(
        ValueError,
        match=r"x is on device meta but the model is on cpu; move it with x\.to\('cpu'\)",
    ):
        model.predict(meta_like(x))
    with pytest.raises(
        ValueError, match=r"y_true is on device meta but the model is on cpu"
    ):
        model.evaluate(x, meta_like(y))
    with pytest.raises(ValueError, match=r"x_valid is on device meta"):
        model.fit(x, y, 1, 0.1, 2, meta_like(x), y, verbose=False)


@pytest.mark.parametrize(
    "kwargs, exc, match",
    [
        (
            dict(n_features=3, n_classes=2, dtype=torch.int64),
            TypeError,
            r"dtype must be a floating-point",
        ),
        (
            dict(n_features=3, n_classes=2, dtype=torch.bool),
            TypeError,
            r"dtype must be a floating-point",
        ),
        (
            dict(n_features=3, n_classes=2, dtype="float64"),
            TypeError,
            r"dtype must be a floating-point",
        ),
        (
            dict(n_features=3, n_classes=1),
            ValueError,
            r"n_classes must be an integer >= 2, got 1",
        ),
        (
            dict(n_features=0, n_classes=2),
            ValueError,
            r"n_features must be an integer >= 1, got 0",
        ),
        (
            dict(n_features=3.0, n_classes=2),
            TypeError,
            r"n_features must be an integer",
        ),
        (
            dict(n_features=3, n_classes=2, seed=-1),
            ValueError,
            r"seed must be an integer >= 0",
        ),
    ],
    ids=[
        "int dtype",
        "bool dtype",
        "str dtype",
        "one class",
        "no features",
        "float features",
        "negative seed",
    ],
)
def test_bad_constructor_arguments(kwargs, exc, match):
    with pytest.raises(exc, match=match):
        tools.SoftmaxClassifier(**kwargs)


@pytest.mark.parametrize(
    "layer, exc, match",
    [
        (
            torch.nn.Conv1d(3, 4, 1),
            TypeError,
            r"layer must be a torch\.nn\.Linear\(3, 4\).* got Conv1d$",
        ),
        (
            torch.zeros(4, 3),
            TypeError,
            r"layer must be a torch\.nn\.Linear\(3, 4\).* got Tensor$",
        ),
        (
            torch.nn.Linear(4, 3),
            ValueError,
            r"layer must be .*got nn\.Linear\(4, 3, bias=True\)",
        ),
        (
            torch.nn.Linear(3, 5),
            ValueError,
            r"got nn\.Linear\(3, 5, bias=True\)",
        ),
        (
            torch.nn.Linear(3, 4, bias=False),
            ValueError,
            r"with a bias, got nn\.Linear\(3, 4, bias=False\)",
        ),
    ],
    ids=["conv", "tensor", "transposed", "classes", "no bias"],
)
def test_copy_params_rejects_wrong_layers(model, layer, exc, match):
    with pytest.raises(exc, match=match):
        model.copy_params(layer)


# -- copy_params -------------------------------------------------------------------------------
@pytest.mark.parametrize("layer_dtype", [F64, torch.float32])
def test_copy_params_makes_predictions_equal_torch(data, layer_dtype):
    x, _ = data
    model = tools.SoftmaxClassifier(3, 4, dtype=F64, seed=0)
    layer = seeded_linear(3, 4, seed=1).to(layer_dtype)
    with torch.no_grad():
        expected = torch.softmax(
            F.linear(x, layer.weight.double(), layer.bias.double()), dim=1
        )
    assert tools.max_relative_error(model.predict(x), expected) > 1e-3
    model.copy_params(layer)
    assert model.dtype == F64 and model.w.shape == (3, 4)
    assert_close(model.predict(x), expected)
    # The copy is independent of the layer.
    with torch.no_grad():
        layer.weight.add_(1.0)
    assert_close(model.predict(x), expected)


# -- CUDA ---------------------------------------------------------------------------------------
@pytest.mark.skipif(
    not torch.cuda.is_available(), reason="no CUDA device on this machine"
)
def test_cuda_matches_cpu():
    x, y = make_data(6, 4, 10, seed=5)
    cpu = tools.SoftmaxClassifier(6, 4, dtype=F64, seed=2)
    gpu = tools.SoftmaxClassifier(6, 4, dtype=F64, seed=2, device="cuda")
    assert gpu.device.type == "cuda"
    assert torch.equal(gpu.w.cpu(), cpu.w) and torch.equal(gpu.b.cpu(), cpu.b)
    xg, yg = x.cuda(), y.cuda()
    assert_close(gpu.predict(xg).cpu(), cpu.predict(x))
    for g, c in zip(
        gpu.gradients(xg, yg, gpu.predict(xg)),
        cpu.gradients(x, y, cpu.predict(x)),
    ):
        assert g.device.type == "cuda"
        assert_close(g.cpu(), c)
    with pytest.raises(
        ValueError, match=r"x is on device cpu but the model is on cuda"
    ):
        gpu.predict(x)


def test_logits_and_predict_return_contiguous_tensors():
    model = tools.SoftmaxClassifier(4, 3, dtype=F64, seed=0)
    x = torch.ones(5, 4, dtype=F64)
    assert model.logits(x).is_contiguous()
    assert model.predict(x).is_contiguous()


def test_evaluate_gives_the_logged_validation_loss_bit_for_bit():
    g = torch.Generator().manual_seed(1)
    x = torch.randn(64, 3, generator=g, dtype=F64)
    y = torch.eye(4, dtype=F64)[torch.randint(0, 4, (64,), generator=g)]
    model = tools.SoftmaxClassifier(3, 4, dtype=F64, seed=0)
    log = model.fit(x, y, 2, 0.5, 16, x, y, verbose=False)[-1]
    assert model.evaluate(x, y) == log.valid_loss == log.train_loss


# -- logits at the end of float64 --------------------------------------------
@pytest.fixture
def edge_logits_case():
    """W = [1e308, -1e308], b = 0, x = 1: logits 2e308 apart, beyond the
    largest float64 (their difference overflows, each logit does not)."""
    model = tools.SoftmaxClassifier(1, 2, dtype=F64, seed=0)
    model.w = torch.tensor([[1e308, -1e308]], dtype=F64)
    model.b = torch.zeros(2, dtype=F64)
    return model, torch.ones(1, 1, dtype=F64)


def test_evaluate_of_a_target_on_the_largest_logit_is_zero(edge_logits_case):
    """log softmax of the smaller logit is -inf, but its target is 0: the
    term is 0 and the loss exactly 0 (it was 0 * -inf = NaN)."""
    model, x = edge_logits_case
    assert model.evaluate(x, torch.tensor([[1.0, 0.0]], dtype=F64)) == 0.0


def test_evaluate_that_overflows_raises(edge_logits_case):
    """The target on the smaller logit: the loss is 2e308, too large."""
    model, x = edge_logits_case
    with pytest.raises(ValueError) as info:
        model.evaluate(x, torch.tensor([[0.0, 1.0]], dtype=F64))
    assert str(info.value) == (
        "the cross-entropy of the logits against y_true overflowed "
        "torch.float64: the logits of a row span 2 x 1e+308 (largest minus "
        "smallest); scale the inputs"
    )
