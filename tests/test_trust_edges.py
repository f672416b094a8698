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
