"""Edges of the checks added for issue 16 that the other suites leave open
(found by mutation testing, MUTATION.md): what the messages report when
several rows, layers or parameters are involved, and where each check
draws its line."""

from __future__ import annotations

import pytest
import torch

import tools

F64 = torch.float64


def test_cross_entropy_overflow_reports_the_widest_row_not_the_extremes():
    """The hint says how far apart the logits of one row are. Row 0
    spans 2e308 (the loss overflows there); row 1 spans 0.7e308. The
    largest logit of all (row 0) minus the smallest of all (row 1) would
    be 3.2e308, a span no row has."""
    loss = tools.CrossEntropyLoss()
    z = torch.tensor([[1.5e308, -0.5e308], [-1e308, -1.7e308]], dtype=F64)
    y = torch.tensor([[0.0, 1.0], [1.0, 0.0]], dtype=F64)
    with pytest.raises(ValueError) as info:
        loss.forward(z, y)
    assert "the logits (output) of a row span 2 x 1e+308 (" in str(info.value)


class Double:
    """A learner's own layer, ``2 x``, that checks nothing itself:
    gradient_check accepts anything with these four methods."""

    def forward(self, x):
        return 2 * x

    def backward(self, grad_output):
        return 2 * grad_output

    def named_parameters(self):
        return []

    def gradients(self):
        return []


@pytest.mark.parametrize("layer", [Double(), tools.Tanh()], ids=type)
def test_gradient_check_refuses_an_integer_x_by_name(layer):
    """An int x would be nudged by eps and rounded back: gradient_check
    says so itself, whatever the layer checks."""
    with pytest.raises(TypeError) as info:
        tools.gradient_check(layer, torch.ones(2, 3, dtype=torch.int64))
    assert str(info.value) == (
        "x must hold real floating-point numbers (torch.float32 or "
        "torch.float64), got a tensor of torch.int64; convert it with "
        "x.to(torch.float64)"
    )


def test_gradient_check_refuses_a_nan_x_by_name_for_a_layer_that_does_not():
    x = torch.tensor([[1.0, float("nan")]], dtype=F64)
    with pytest.raises(ValueError) as info:
        tools.gradient_check(Double(), x)
    assert str(info.value) == (
        "x must be finite, but 1 of its 2 entries are NaN or inf"
    )


def test_gradient_check_of_a_learners_layer_is_exact():
    """The two methods agree on 2 x: errors near 0, for x only."""
    x = torch.linspace(-1, 1, 6, dtype=F64).reshape(2, 3)
    errors = tools.gradient_check(Double(), x)
    assert list(errors) == ["x"] and errors["x"] < 1e-9


def test_an_unusable_eps_message_in_full_for_an_x_beyond_one():
    """max |x| = 4 scales both edges and the suggestion: the resolution
    2**-52 becomes 8.88e-16, the suggested eps cbrt(2**-52) * 4 = 2e-05
    (rounded to one digit), the largest step 4."""
    x = torch.tensor([[4.0, -1.0]], dtype=F64)
    good = (
        "an eps near 2e-05 (the cube root of 2.2e-16, times max(1, "
        "largest |x|)) balances truncation and round-off"
    )
    with pytest.raises(ValueError) as info:
        tools.numerical_gradient(lambda: x.sum(), x, 1e-16)
    assert str(info.value) == (
        "eps=1e-16 is too small for x in torch.float64: below 8.88e-16 (the "
        "dtype's resolution 2.22e-16 times max(1, largest |x|)) the step is "
        f"lost in rounding, and the differences are 0 or noise; {good}"
    )
    with pytest.raises(ValueError) as info:
        tools.numerical_gradient(lambda: x.sum(), x, 5.0)
    assert str(info.value) == (
        "eps=5.0 is too large for x: above 4 (max(1, largest |x|)) the "
        "centred difference measures a secant over [x - eps, x + eps], not "
        f"the derivative; {good}"
    )


def test_the_suggested_eps_follows_the_dtype():
    """In float32 the cube root of 2**-23 is about 5e-03."""
    x = torch.tensor([0.5], dtype=torch.float32)
    with pytest.raises(ValueError, match=r"an eps near 5e-03 \(the cube"):
        tools.numerical_gradient(lambda: x.sum(), x, 1e-9)


def test_an_empty_x_has_an_empty_gradient_and_scale_one():
    """No entry to nudge: the gradient is empty; the usable steps are
    those of an x of zeros, up to 1."""
    x = torch.empty(0, 3, dtype=F64)
    g = tools.numerical_gradient(lambda: x.sum(), x)
    assert g.shape == (0, 3) and g.dtype == F64
    tools.numerical_gradient(lambda: x.sum(), x, 1.0)
    with pytest.raises(ValueError, match=r"^eps=1\.5 is too large for x: "):
        tools.numerical_gradient(lambda: x.sum(), x, 1.5)


def test_a_vector_valued_f_is_refused_with_the_fix():
    x = torch.ones(3, dtype=F64)
    with pytest.raises(TypeError) as info:
        tools.numerical_gradient(lambda: x * 2, x)
    assert str(info.value) == (
        "f must return a scalar (a real number or a one-element tensor), "
        "got a tensor of shape (3,); for a vector-valued function take a "
        "scalar of it, such as (r * f()).sum() with a fixed r"
    )


def test_gradient_check_of_a_plain_function_says_what_is_missing():
    """No hint about torch.nn.Module for what is not one."""
    with pytest.raises(TypeError) as info:
        tools.gradient_check(lambda x: x, torch.ones(3, 2))
    assert str(info.value) == (
        "layer must be a tools layer or Sequential (with forward, backward, "
        "named_parameters and gradients), got function, which has no "
        "forward, backward, named_parameters, gradients"
    )


def test_f_not_finite_on_the_way_down_names_the_entry_and_the_sign():
    """sqrt is finite at 5e-7 + eps but NaN at 5e-7 - eps (eps = 1e-6)."""
    x = torch.tensor([4.0, 5e-7], dtype=F64)
    with pytest.raises(ValueError) as info:
        tools.numerical_gradient(lambda: x.sqrt().sum(), x)
    assert str(info.value) == (
        "f() returned nan with entry [1] nudged by -eps; a finite "
        "difference needs f finite near x"
    )
    assert x.tolist() == [4.0, 5e-7]  # put back


def test_an_f_that_is_not_callable_is_named_by_its_type():
    with pytest.raises(TypeError) as info:
        tools.numerical_gradient(3.0, torch.ones(1, dtype=F64))
    assert str(info.value) == (
        "f must be a function of no argument that returns a number, got float"
    )


def test_an_expanded_x_is_refused_with_the_fix():
    x = torch.ones(1, dtype=F64).expand(3)
    with pytest.raises(ValueError) as info:
        tools.numerical_gradient(lambda: x.sum(), x)
    assert str(info.value) == (
        "x is an expanded view whose entries share memory, so one entry "
        "cannot be nudged alone; pass a copy (x.clone())"
    )


def test_fit_torch_says_which_integer_label_row_is_not_one_hot():
    """Integer labels whose row 1 holds two ones: the row check says so
    (an integer dtype has no rounding to allow for)."""
    x = torch.ones(2, 2)
    y = torch.tensor([[1, 0], [1, 1]])
    model = torch.nn.Linear(2, 2)
    with pytest.raises(ValueError) as info:
        tools.fit_torch(model, x, y, epochs=1, lr=0.1, batch_size=2)
    assert str(info.value) == (
        "y_train must hold one-hot or probability rows that sum to 1, but "
        "row 1 sums to 2.0 (off by 1, allowed 1e-06)"
    )


def test_relative_error_refuses_a_complex_nan():
    """The finiteness check looks at the real and imaginary parts."""
    a = torch.tensor([1 + 1j, complex(0.0, float("nan"))])
    with pytest.raises(ValueError) as info:
        tools.relative_error(a, torch.ones(2, dtype=torch.complex64))
    assert str(info.value) == (
        "analytic must be finite, but 1 of its 4 entries are NaN or inf"
    )


@pytest.mark.parametrize("swap", [False, True])
def test_relative_error_of_complex_against_real_keeps_the_imaginary_part(
    swap,
):
    """1 + 1j against 1: ||i|| / (sqrt 2 + 1), not 0 (the imaginary part
    dropped); either argument may be the complex one."""
    a = torch.tensor([1 + 1j], dtype=torch.complex128)
    n = torch.tensor([1.0], dtype=F64)
    if swap:
        a, n = n, a
    assert tools.relative_error(a, n) == pytest.approx(1 / (2**0.5 + 1))


def test_relative_error_of_real_vectors_is_the_formula_to_the_last_bit():
    """The power-of-two scaling is exact: for float64 vectors of ordinary
    size the result is ||a - n|| / (||a|| + ||n||) computed in float64,
    bit for bit (a detour through complex128 norms would not be)."""
    g = torch.Generator().manual_seed(16)
    for size in range(1, 41):
        a = torch.randn(size, dtype=F64, generator=g)
        n = a + 1e-6 * torch.randn(size, dtype=F64, generator=g)
        norm = torch.linalg.vector_norm
        expected = float(norm(a - n) / (norm(a) + norm(n)))
        assert tools.relative_error(a, n) == expected


def test_softmax_evaluate_overflow_reports_the_widest_row():
    """As for the loss: row 0 spans 2e308 (its loss overflows), row 1
    0.7e308; no row spans the 3.2e308 between the extremes of all."""
    model = tools.SoftmaxClassifier(2, 2, dtype=F64, seed=0)
    model.w = torch.tensor(
        [[1.5e308, -0.5e308], [-1e308, -1.7e308]], dtype=F64
    )
    model.b = torch.zeros(2, dtype=F64)
    x = torch.eye(2, dtype=F64)
    y = torch.tensor([[0.0, 1.0], [1.0, 0.0]], dtype=F64)
    with pytest.raises(ValueError) as info:
        model.evaluate(x, y)
    assert "the logits of a row span 2 x 1e+308 (" in str(info.value)


@pytest.mark.parametrize("in_ipython", [False, True])
def test_use_book_style_asks_for_retina_figures_in_a_notebook_only(
    monkeypatch, in_ipython
):
    """In IPython (a notebook) figures are stored at twice the resolution;
    in a plain Python process there is no display to configure."""
    import IPython
    import matplotlib
    from matplotlib_inline import backend_inline

    calls = []
    shell = object() if in_ipython else None
    monkeypatch.setattr(IPython, "get_ipython", lambda: shell)
    monkeypatch.setattr(
        backend_inline, "set_matplotlib_formats", lambda *f: calls.append(f)
    )
    with matplotlib.rc_context():
        tools.use_book_style()
    assert calls == ([("retina",)] if in_ipython else [])


@pytest.mark.parametrize(
    "route", ["closed-form", "block-jacobian", "full-jacobian"]
)
@pytest.mark.parametrize("name", ["x", "y_true", "y_pred"])
def test_every_route_names_the_argument_that_is_no_float_matrix(route, name):
    """A row of a matrix (1-D), or integers, in any of the three places:
    each route refuses it in its own words, naming the argument (not a
    shape mismatch further in, nor PyTorch's matrix-product message)."""
    from tools.jacobian import ROUTES

    args = {
        "x": torch.ones(4, 3, dtype=F64),
        "y_true": torch.eye(4, 2, dtype=F64),
        "y_pred": torch.full((4, 2), 0.5, dtype=F64),
    }
    one_d = dict(args, **{name: args[name][0]})
    with pytest.raises(ValueError) as info:
        ROUTES[route](**one_d)
    assert str(info.value) == (
        f"{name} must be a 2-D tensor of shape (m, n), got shape "
        f"{(args[name].shape[1],)}"
    )
    ints = dict(args, **{name: args[name].to(torch.int64)})
    with pytest.raises(TypeError) as info:
        ROUTES[route](**ints)
    assert str(info.value).startswith(
        f"{name} must hold real floating-point numbers (torch.float32 or "
        "torch.float64), got a tensor of torch.int64"
    )


def test_relative_error_of_different_inputs_is_never_zero():
    """One entry off by the smallest float64 among entries of 0.75: the
    true error, about 2**-1074 / 6, is too small for a float64; it is
    rounded up to 5e-324 so that 0.0 still means "equal"."""
    a = torch.tensor([0.75, 0.75, 0.75, 0.75, 0.0], dtype=F64)
    n = a.clone()
    n[4] = 5e-324
    assert tools.relative_error(a, n) == 5e-324
    assert tools.relative_error(n, a) == 5e-324
    assert tools.relative_error(a, a.clone()) == 0.0


def test_plain_integers_up_to_two_to_the_53_are_exact_and_beyond_refused():
    assert tools.max_relative_error(2**53, 2**53) == 0.0
    assert tools.max_relative_error(-(2**53), 2**53) == 2.0
    with pytest.raises(ValueError) as info:
        tools.max_relative_error(2**53 + 1, 2**53)
    assert str(info.value) == (
        "actual and expected must fit in a float64 exactly, got the integer "
        "9007199254740993: above 2**53 a float64 rounds integers, so "
        "different ones could compare equal"
    )


def test_integer_tensors_beyond_two_to_the_53_are_refused_in_full():
    with pytest.raises(ValueError) as info:
        tools.relative_error(torch.tensor([2**60]), torch.tensor([1]))
    assert str(info.value) == (
        "analytic must fit in a float64 exactly, but it holds integers above "
        "2**53 (largest |analytic| is 1152921504606846976), which a float64 "
        "rounds, so different ones could compare equal"
    )


def test_a_fraction_too_large_for_a_float64_is_refused_by_name():
    from fractions import Fraction

    with pytest.raises(ValueError) as info:
        tools.max_relative_error(Fraction(10**400, 3), 1.0)
    assert str(info.value).startswith(
        "actual and expected must fit in a float64, got "
    )


def test_least_squares_weight_decay_too_large_for_small_data_in_full():
    """x of order 1e-300: the penalty, measured against x^T x (about
    1e-600), overflows even for a moderate weight_decay."""
    x = torch.tensor([[0.0], [1e-300], [3e-300]], dtype=F64)
    y = torch.tensor([[1.0], [2.0], [3.0]], dtype=F64)
    with pytest.raises(ValueError) as info:
        tools.least_squares(x, y, weight_decay=1e10)
    assert str(info.value) == (
        "weight_decay=10000000000.0 is too large for data this small "
        "(largest |x| is 3e-300): the penalty overflows a float64 against "
        "x^T x; scale x up or use a smaller weight_decay"
    )


def test_least_squares_w_that_overflows_float64_in_full():
    """w = 1e600; float64 is already the widest dtype, so no advice to
    use it."""
    x = torch.tensor([[0.0], [1e-300]], dtype=F64)
    y = torch.tensor([[0.0], [1e300]], dtype=F64)
    with pytest.raises(ValueError) as info:
        tools.least_squares(x, y)
    assert str(info.value) == (
        "the least-squares w overflowed torch.float64: largest |x| is 1e-300 "
        "and largest |y| is 1e+300, and the best fit needs w beyond "
        "1.8e+308; scale x and y"
    )


def test_least_squares_b_that_overflows_float32_names_b_and_float64():
    """x = 1, 2 and y = 3e38, 0: w = -3e38 fits a float32, b = 6e38 does
    not (float64 would hold it)."""
    x = torch.tensor([[1.0], [2.0]], dtype=torch.float32)
    y = torch.tensor([[3e38], [0.0]], dtype=torch.float32)
    with pytest.raises(ValueError) as info:
        tools.least_squares(x, y)
    assert str(info.value) == (
        "the least-squares b overflowed torch.float32: largest |x| is 2 and "
        "largest |y| is 3e+38, and the best fit needs b beyond 3.4e+38; "
        "scale x and y, or use float64"
    )
    w, b = tools.least_squares(x.double(), y.double())
    assert float(w) == pytest.approx(-3e38) and float(b) == pytest.approx(6e38)


def test_update_that_overflows_only_the_bias_names_the_bias():
    """x = 0: dL/dW = 0 leaves w alone, dL/db = 2 (0 - (-10)) = 20 and
    lr=1e308 send b beyond float64."""
    model = tools.LinearRegression(1, 1, dtype=F64, seed=0)
    model.w, model.b = torch.zeros(1, 1, dtype=F64), torch.zeros(1, dtype=F64)
    x = torch.zeros(1, 1, dtype=F64)
    y = torch.full((1, 1), -10.0, dtype=F64)
    with pytest.raises(ValueError) as info:
        model.update(x, y, model.predict(x), lr=1e308)
    assert str(info.value) == (
        "the updated b = b - lr * dL/db (lr=1e+308) overflowed torch.float64"
        ": largest |dL/db| is 20; use a smaller lr (the parameters are "
        "unchanged)"
    )
    assert model.b.tolist() == [0.0]


@pytest.mark.parametrize("name", ["x", "y_true", "y_pred"])
def test_every_route_names_an_argument_that_is_no_tensor(name):
    from tools.jacobian import ROUTES

    args = {
        "x": torch.ones(4, 3, dtype=F64),
        "y_true": torch.eye(4, 2, dtype=F64),
        "y_pred": torch.full((4, 2), 0.5, dtype=F64),
    }
    args[name] = args[name].tolist()
    for route in ROUTES.values():
        with pytest.raises(TypeError) as info:
            route(**args)
        assert str(info.value) == (
            f"{name} must be a torch.Tensor, got list; convert it with "
            f"torch.as_tensor({name}, dtype=torch.float64)"
        )


def test_fit_torch_says_the_validation_data_overflow_from_the_start():
    """The validation inputs are 1e300: their MSE is inf before any step,
    so the error blames their scale, not lr (the training data are
    fine)."""
    model = torch.nn.Linear(1, 1).double()
    with torch.no_grad():
        model.weight.fill_(1.0)
        model.bias.fill_(0.0)
    x = torch.ones(4, 1, dtype=F64)
    x_valid = torch.full((2, 1), 1e300, dtype=F64)
    with pytest.raises(ValueError) as info:
        tools.fit_torch(
            model,
            x,
            x,
            epochs=1,
            lr=0.01,
            batch_size=2,
            x_valid=x_valid,
            y_valid=torch.zeros(2, 1, dtype=F64),
            loss_fn=torch.nn.MSELoss(),
        )
    assert str(info.value) == (
        "the loss on x_valid and y_valid is inf already at the parameters "
        "training started from: the data's scale makes it overflow, "
        "whatever lr; scale the data (or use a wider dtype); the parameters "
        "are back to where fit started"
    )
    assert model.weight.item() == 1.0


@pytest.mark.parametrize(
    "layers, message",
    [
        (
            [torch.nn.Linear(1, 2)],
            "the data has 3 columns, but the model's first layer "
            "Linear(in_features=1, out_features=2, bias=True) (the model's "
            "submodule '0') takes 1",
        ),
        (
            [torch.nn.Linear(3, 4), torch.nn.Linear(1, 2)],
            "its layer Linear(in_features=1, out_features=2, bias=True) (the "
            "model's submodule '1') takes 1 inputs but gets 4 from the "
            "layers before it",
        ),
    ],
)
def test_fit_torch_names_widths_of_one_against_a_single_row(layers, message):
    """The probe runs one row: a layer that takes 1 input is still told
    apart from the row count."""
    model = torch.nn.Sequential(*layers)
    x, y = torch.ones(4, 3), torch.ones(4, 2)
    with pytest.raises(ValueError) as info:
        tools.fit_torch(
            model,
            x,
            y,
            epochs=1,
            lr=0.1,
            batch_size=2,
            loss_fn=torch.nn.MSELoss(),
        )
    assert str(info.value) == (
        f"model cannot take x_train of shape (4, 3): {message}"
    )


def test_gradients_name_a_bias_gradient_that_overflows():
    """Two residuals of 1.5e308 each: dL/db = their sum, 3e308, overflows
    while dL/dW = x^T G = 0 (x = 0) does not."""
    model = tools.LinearRegression(1, 1, dtype=F64, seed=0)
    x = torch.zeros(2, 1, dtype=F64)
    y_pred = torch.full((2, 1), 1.5e308, dtype=F64)
    with pytest.raises(ValueError) as info:
        model.gradients(x, torch.zeros(2, 1, dtype=F64), y_pred)
    assert str(info.value).startswith(
        "the gradient dL/db overflowed torch.float64: "
    )


def test_a_network_of_activations_only_runs_and_checks_its_input():
    """No layer fixes the width: the first layer checks x."""
    net = tools.Sequential(tools.ReLU(), tools.Tanh())
    x = torch.tensor([[-1.0, 2.0]], dtype=F64)
    assert torch.equal(net.forward(x), torch.tanh(x.clamp_min(0)))
    assert torch.equal(net.predict(x), torch.tanh(x.clamp_min(0)))
    with pytest.raises(TypeError, match=r"^x must be a torch\.Tensor, got"):
        net.forward([[1.0]])


def test_layers_of_two_dtypes_are_refused_across_an_activation():
    """An activation between them has no parameters and does not end
    the check."""
    first = tools.Linear(2, 3, dtype=F64, seed=0)
    last = tools.Linear(3, 1, dtype=torch.float32, seed=1)
    with pytest.raises(ValueError) as info:
        tools.Sequential(first, tools.ReLU(), last)
    assert str(info.value) == (
        f"layer 2 {last!r} is on cpu with torch.float32, but layer 0 "
        f"{first!r} is on cpu with torch.float64: all layers with "
        "parameters must share one device and dtype"
    )


@pytest.mark.parametrize(
    "fn",
    [
        tools.functional.mse,
        tools.functional.mse_grad,
        tools.functional.cross_entropy,
        tools.functional.logits_grad,
    ],
    ids=lambda f: f.__name__,
)
def test_the_pair_formulas_name_a_list_argument(fn):
    y = torch.full((2, 2), 0.5, dtype=F64)
    with pytest.raises(TypeError) as info:
        fn([[0.5, 0.5]], y)
    assert str(info.value) == (
        "y_true must be a torch.Tensor, got list; convert it with "
        "torch.as_tensor(y_true, dtype=torch.float64)"
    )
