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
