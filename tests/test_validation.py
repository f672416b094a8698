"""The shared input checks of tools._validation, at their edges."""

from __future__ import annotations

import math

import pytest
import torch

from tools import _validation as v

F64 = torch.float64
BIG = 1e308  # finite, but two of them overflow a float64 sum


@pytest.mark.parametrize(
    "values",
    [
        [[BIG, BIG], [BIG, BIG]],  # the sum overflows; every entry is finite
        [[-BIG, -BIG]],
        [[0.0, 5e-324]],
        [[]],
    ],
)
def test_check_finite_accepts_finite_entries_whose_sum_overflows(values):
    v.check_finite("x", torch.tensor(values, dtype=F64))


@pytest.mark.parametrize(
    "values, bad",
    [
        ([[1.0, math.nan]], 1),
        ([[math.inf, -math.inf], [1.0, 2.0]], 2),  # inf - inf: a NaN sum
        ([[BIG, math.inf]], 1),
        ([[math.nan, math.nan, 3.0]], 2),
    ],
)
def test_check_finite_counts_what_is_not_finite(values, bad):
    t = torch.tensor(values, dtype=F64)
    with pytest.raises(
        ValueError, match=rf"x must be finite, but {bad} of its"
    ):
        v.check_finite("x", t)


def test_check_finite_ignores_integer_tensors():
    v.check_finite("x", torch.tensor([[1, 2]]))


def test_check_probability_rows_refuses_a_negative_entry_and_a_nan_row():
    with pytest.raises(ValueError, match="negative entries"):
        v.check_probability_rows("y", torch.tensor([[1.5, -0.5]], dtype=F64))
    with pytest.raises(ValueError, match="row 1 sums to nan"):
        v.check_probability_rows(
            "y", torch.tensor([[1.0, 0.0], [math.nan, 0.0]], dtype=F64)
        )
    with pytest.raises(ValueError, match="row 0 sums to 0"):
        v.check_probability_rows("y", torch.zeros(1, 0, dtype=F64))
    v.check_probability_rows("y", torch.tensor([[0.25, 0.75]], dtype=F64))


def _message(fn, *args, error=ValueError):
    with pytest.raises(error) as info:
        fn(*args)
    return str(info.value)


def test_check_finite_full_message():
    t = torch.tensor([[1.0, math.nan, math.inf]], dtype=F64)
    assert _message(v.check_finite, "x", t) == (
        "x must be finite, but 2 of its 3 entries are NaN or inf"
    )


def test_check_finite_builds_no_mask_for_finite_data():
    """A finite tensor is settled by its sum: ``isfinite`` sees only a
    0-d tensor, never a mask as large as ``t``."""
    seen = []

    class Record(torch.overrides.TorchFunctionMode):
        def __torch_function__(self, func, types, args=(), kwargs=None):
            if func is torch.isfinite:
                seen.append(tuple(args[0].shape))
            return func(*args, **(kwargs or {}))

    with Record():
        v.check_finite("x", torch.ones(100, 3, dtype=F64))
    assert seen == [()]
    seen.clear()
    with Record(), pytest.raises(ValueError):
        v.check_finite("x", torch.tensor([[math.nan]], dtype=F64))
    assert seen[0] == () and (1, 1) in seen


def test_check_matrix_full_messages():
    t = torch.zeros(3, dtype=F64)
    assert _message(v.check_matrix, "x", t) == (
        "x must be a 2-D tensor of shape (m, n), got shape (3,)"
    )
    assert _message(v.check_matrix, "x", t, 4) == (
        "x must be a 2-D tensor of shape (m, 4), got shape (3,)"
    )
    assert _message(v.check_matrix, "x", torch.zeros(0, 2)) == (
        "x must have at least one row, got shape (0, 2)"
    )
    assert _message(v.check_matrix, "x", torch.zeros(2, 2), 3) == (
        "x must have 3 columns (shape (m, 3)), got shape (2, 2)"
    )
    assert _message(v.check_matrix, "y", torch.zeros(2, 2), 3, "classes") == (
        "y must have 3 classes (shape (m, 3)), got shape (2, 2)"
    )


def test_check_probability_rows_full_messages_and_the_tolerance_edge():
    t = torch.tensor([[1.5, -0.5]], dtype=F64)
    assert _message(v.check_probability_rows, "y", t) == (
        "y must hold one-hot or probability rows, "
        "but it has negative entries"
    )
    t = torch.tensor([[1.0, 0.0], [0.75, 0.5]], dtype=F64)
    assert _message(v.check_probability_rows, "y", t) == (
        "y must hold one-hot or probability rows that sum to 1, "
        "but row 1 sums to 1.25 (off by 0.25, allowed 1e-09)"
    )
    # |sum - 1| == atol is still accepted (0.25 is exact in binary)
    v.check_probability_rows("y", t, 0.25)


@pytest.mark.parametrize(
    "check, value, message",
    [
        (
            v.check_int,
            1.5,
            "n must be an integer >= 1, got 1.5 (float)",
        ),
        (
            v.check_int,
            True,
            "n must be an integer >= 1, got True (bool)",
        ),
        (
            v.check_positive_float,
            "2",
            "n must be a positive number, got '2' (str)",
        ),
        (
            v.check_nonnegative_float,
            "0",
            "n must be a number >= 0, got '0' (str)",
        ),
    ],
)
def test_number_checks_name_the_type_that_came(check, value, message):
    args = ("n", value, 1) if check is v.check_int else ("n", value)
    assert _message(check, *args, error=TypeError) == message


def test_number_checks_at_their_edges():
    assert _message(v.check_int, "n", 0, 1) == (
        "n must be an integer >= 1, got 0"
    )
    for bad in (0.0, -1.0, math.inf, math.nan):
        assert _message(v.check_positive_float, "lr", bad) == (
            f"lr must be a finite number > 0, got {bad}"
        )
    for bad in (-1e-300, math.inf, math.nan):
        assert _message(v.check_nonnegative_float, "wd", bad) == (
            f"wd must be a finite number >= 0, got {bad}"
        )
    assert v.check_nonnegative_float("wd", 0) == 0.0
    assert v.check_positive_float("lr", 1e308) == 1e308


def test_check_seed_takes_exactly_the_64_bit_range():
    assert v.check_seed(2**64 - 1) == 2**64 - 1
    assert v.check_seed(200) == 200
    assert _message(v.check_seed, 2**64) == (
        f"seed must be an integer below 2**64, got {2**64}"
    )


def test_check_dtype_full_messages():
    assert v.check_dtype(torch.float32) is torch.float32
    assert v.check_dtype(None) is torch.get_default_dtype()
    assert _message(v.check_dtype, torch.int64, error=TypeError) == (
        "dtype must be a floating-point torch.dtype, torch.float32 or "
        "torch.float64, got torch.int64"
    )
    assert _message(v.check_dtype, torch.float16, error=TypeError) == (
        "dtype must be a floating-point torch.dtype, torch.float32 or "
        "torch.float64, got torch.float16 (half precision is too coarse "
        "for the checks of probability rows and gradients in this course)"
    )


def test_check_device_accepts_the_cpu_and_any_existing_device():
    assert v.check_device(None) == torch.device("cpu")
    assert v.check_device("cpu") == torch.device("cpu")
    assert v.check_device(torch.device("meta")) == torch.device("meta")
    assert _message(v.check_device, "nowhere") == (
        "device must name a device such as 'cpu' or 'cuda', got 'nowhere'"
    )


@pytest.mark.skipif(torch.cuda.is_available(), reason="a GPU is here")
def test_check_device_without_cuda_full_message():
    assert _message(v.check_device, "cuda:1") == (
        "device is 'cuda:1' but PyTorch sees no CUDA GPU here; use "
        "device='cpu', or pick the device with 'cuda' if "
        "torch.cuda.is_available() else 'cpu'"
    )


def test_tensor_like_and_grad_checks_full_messages():
    assert _message(v.check_tensor, "x", [1.0], error=TypeError) == (
        "x must be a torch.Tensor, got list; convert it with "
        "torch.as_tensor(x, dtype=torch.float64)"
    )
    t = torch.zeros(1, dtype=torch.float32)
    assert _message(v.check_like, "x", t, t.device, F64, "the model") == (
        "x has dtype torch.float32 but the model has dtype torch.float64; "
        "convert it with x.to(torch.float64)"
    )
    meta = torch.device("meta")
    assert _message(v.check_like, "x", t, meta, t.dtype, "the model") == (
        "x is on device cpu but the model is on meta; "
        "move it with x.to('meta')"
    )
    g = torch.zeros(1, requires_grad=True)
    assert _message(v.check_no_grad, "x", g) == (
        "x requires grad (it carries autograd history); "
        "pass x.detach() instead"
    )
    a, b = torch.zeros(2, 1), torch.zeros(3, 1)
    assert _message(v.check_same_rows, "x", a, "y", b) == (
        "x and y must have the same number of samples, got 2 and 3"
    )


# -- probability rows: a tolerance that follows the dtype, sums in full ------
def test_a_float32_row_converted_to_float64_is_refused_with_its_true_sum():
    """A float32 row off by 6e-8 read "row 0 sums to 1" (rounded to six
    digits): the message now prints the sum in full, by how much it is off,
    the tolerance, and the way out."""
    row = torch.tensor([[0.5, 0.5 + 7.5e-8]], dtype=torch.float32)
    assert _message(v.check_probability_rows, "y", row.double()) == (
        "y must hold one-hot or probability rows that sum to 1, but row 0 "
        "sums to 1.0000000596046448 (off by 5.96e-08, allowed 1e-09); rows "
        "computed in float32 and converted are off by about 1e-7: compute "
        "them in float64, or renormalise with y / y.sum(dim=1, keepdim=True)"
    )
    v.check_probability_rows("y", row)  # in its own dtype it is fine


@pytest.mark.parametrize("dtype, c", [(torch.float16, 3), (torch.bfloat16, 10)])
def test_softmax_rows_of_any_float_dtype_and_width_are_accepted(dtype, c):
    """A float16 softmax row is off by up to about c * 1e-3: the fixed 1e-6
    refused every one of them."""
    g = torch.Generator().manual_seed(0)
    z = torch.randn(200, c, generator=g, dtype=F64) * 3
    rows = torch.softmax(z.to(dtype), dim=1)
    v.check_probability_rows("y", rows)
    assert float((rows.double().sum(dim=1) - 1).abs().max()) > 1e-6


@pytest.mark.parametrize(
    "dtype, c, atol",
    [
        (F64, 2, 1e-9),
        (torch.float32, 2, 1e-6),
        (torch.float32, 100, 100 * 2.0**-23),
        (torch.float16, 3, 3 * 2.0**-10),
    ],
)
def test_the_default_tolerance_is_the_larger_of_a_floor_and_c_eps(
    dtype, c, atol
):
    """Rows of ``c`` entries in a dtype of machine epsilon ``u`` may be off
    by ``max(floor, c u)``: twice that is refused, half of it accepted."""
    t = torch.zeros(1, c, dtype=dtype)
    t[0, 0] = 1.0
    t[0, 1] = 2 * atol
    with pytest.raises(ValueError, match=rf"allowed {atol:.3g}\)$"):
        v.check_probability_rows("y", t)
    t[0, 1] = atol / 2
    v.check_probability_rows("y", t)


# -- the dtype, column and overflow checks ----------------------------------
@pytest.mark.parametrize(
    "dtype, tail",
    [
        (torch.int64, "; convert it with x.to(torch.float64)"),
        (torch.bool, "; convert it with x.to(torch.float64)"),
        (torch.complex64, " (complex numbers are not supported here)"),
    ],
)
def test_check_real_float_full_messages(dtype, tail):
    t = torch.zeros(2, 2).to(dtype)
    assert _message(v.check_real_float, "x", t, error=TypeError) == (
        "x must hold real floating-point numbers (torch.float32 or "
        f"torch.float64), got a tensor of {dtype}{tail}"
    )
    for ok in (torch.float16, torch.float32, F64):
        v.check_real_float("x", torch.zeros(1, dtype=ok))


def test_check_has_columns_and_check_not_overflowed():
    assert _message(v.check_has_columns, "y", torch.zeros(4, 0)) == (
        "y must have at least one column, got shape (4, 0)"
    )
    v.check_has_columns("y", torch.zeros(4, 1))
    bad = torch.tensor([1.0, math.inf], dtype=F64)
    assert _message(v.check_not_overflowed, "the sum", bad, "scale x") == (
        "the sum overflowed torch.float64: scale x"
    )
    with pytest.raises(ValueError, match="overflowed"):
        v.check_not_overflowed("the sum", bad * math.nan, "scale x")
    v.check_not_overflowed("the sum", torch.ones(2, dtype=F64), "scale x")
    v.check_not_overflowed("the count", torch.tensor([2**62]), "")


@pytest.mark.parametrize(
    "row, shown",
    [([math.nan, 0.0], "nan"), ([0.0, 0.0], "0.0"), ([math.inf, 0.0], "inf")],
)
def test_a_row_whose_sum_is_not_a_number_near_1_has_no_off_by(row, shown):
    t = torch.tensor([row], dtype=F64)
    if math.isinf(row[0]):
        t = torch.tensor([[1e308, 1e308]], dtype=F64)  # the sum overflows
    assert _message(v.check_probability_rows, "y", t) == (
        "y must hold one-hot or probability rows that sum to 1, but row 0 "
        f"sums to {shown}"
    )
