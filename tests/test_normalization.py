"""``tools.BatchNorm1d`` and ``tools.LayerNorm`` (chapter 4) against
autograd and ``torch.nn`` (float64).

* forward and the hand-derived backward (``dL/dx``, ``dgamma``,
  ``dbeta``) against autograd through the formula and against
  ``nn.BatchNorm1d`` / ``nn.LayerNorm``, in training and in evaluation,
  for several shapes including a batch of two;
* the running statistics over several steps against ``nn.BatchNorm1d``
  (bit for bit), the unbiased variance they keep, and the biased one
  shown to differ;
* modes (``train``/``eval``), dtype and device handling (the meta device
  stands for a GPU), and every bad input with its message; a call that
  fails leaves the layer as it was.
"""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

import tools
from tools.normalization import BatchNorm1d, LayerNorm

F64 = torch.float64
TOL = 1e-10


def randn(*shape: int, seed: int = 0, scale: float = 1.0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.randn(*shape, generator=g, dtype=F64) * scale


def assert_close(actual, expected, tol: float = TOL) -> None:
    """Norm-wise relative error below ``tol`` (absolute for zeros)."""
    if not bool(expected.any()):
        err = float(actual.abs().max())
    else:
        err = tools.max_relative_error(actual, expected)
    assert err <= tol, f"max relative error {err:.3g} > {tol:g}"


def message(fn, error=ValueError) -> str:
    with pytest.raises(error) as info:
        fn()
    return str(info.value)


def random_affine(layer, seed: int) -> None:
    """gamma and beta away from their start, so that both matter."""
    n = layer.gamma.shape[0]
    layer.gamma.copy_(1 + 0.5 * randn(n, seed=seed))
    layer.beta.copy_(randn(n, seed=seed + 1))


def torch_batchnorm(bn: BatchNorm1d) -> nn.BatchNorm1d:
    ref = nn.BatchNorm1d(bn.num_features, eps=bn.eps, momentum=bn.momentum,
                         dtype=F64)
    with torch.no_grad():
        ref.weight.copy_(bn.gamma)
        ref.bias.copy_(bn.beta)
        ref.running_mean.copy_(bn.running_mean)
        ref.running_var.copy_(bn.running_var)
    return ref


def by_formula(x, gamma, beta, eps, dims):
    """Batch/layer norm written with torch ops, for autograd."""
    mean = x.mean(dim=dims, keepdim=True)
    var = ((x - mean) ** 2).mean(dim=dims, keepdim=True)
    return (x - mean) / torch.sqrt(var + eps) * gamma + beta


SHAPES = [(2, 1), (2, 3), (5, 4), (17, 6), (64, 2)]


# -- batch norm ------------------------------------------------------------
@pytest.mark.parametrize("m, n", SHAPES)
def test_batchnorm_training_forward_and_backward_match_autograd(m, n):
    x, g = randn(m, n, seed=m, scale=3) + 2, randn(m, n, seed=m + 1)
    bn = BatchNorm1d(n, dtype=F64)
    random_affine(bn, seed=n)
    y = bn.forward(x)
    dx = bn.backward(g)

    xt = x.clone().requires_grad_(True)
    gamma = bn.gamma.clone().requires_grad_(True)
    beta = bn.beta.clone().requires_grad_(True)
    ref = by_formula(xt, gamma, beta, bn.eps, 0)
    ref.backward(g)
    assert_close(y, ref.detach())
    assert_close(dx, xt.grad)
    assert_close(bn.dgamma, gamma.grad)
    assert_close(bn.dbeta, beta.grad)

    module = torch_batchnorm(BatchNorm1d(n, dtype=F64))
    with torch.no_grad():
        module.weight.copy_(bn.gamma)
        module.bias.copy_(bn.beta)
    xt2 = x.clone().requires_grad_(True)
    out = module(xt2)
    out.backward(g)
    assert_close(y, out.detach())
    assert_close(dx, xt2.grad)
    assert_close(bn.dgamma, module.weight.grad)
    assert_close(bn.dbeta, module.bias.grad)
    assert bn.gradients() == [bn.dgamma, bn.dbeta]


@pytest.mark.parametrize("m, n", [(1, 3), *SHAPES])
def test_batchnorm_evaluation_forward_and_backward_match_autograd(m, n):
    """Evaluation uses the running statistics (here after three training
    steps), so one row is enough; they are constants for the backward."""
    bn = BatchNorm1d(n, momentum=0.3, dtype=F64)
    random_affine(bn, seed=3)
    for step in range(3):
        bn.forward(randn(8, n, seed=10 + step, scale=2) - 1)
    module = torch_batchnorm(bn).eval()
    assert bn.eval() is bn and not bn.training
    x, g = randn(m, n, seed=4), randn(m, n, seed=5)
    mean, var = bn.running_mean.clone(), bn.running_var.clone()
    y = bn.forward(x)
    dx = bn.backward(g)

    xt = x.clone().requires_grad_(True)
    gamma = bn.gamma.clone().requires_grad_(True)
    beta = bn.beta.clone().requires_grad_(True)
    ref = (xt - mean) / torch.sqrt(var + bn.eps) * gamma + beta
    ref.backward(g)
    assert_close(y, ref.detach())
    assert_close(dx, xt.grad)
    assert_close(bn.dgamma, gamma.grad)
    assert_close(bn.dbeta, beta.grad)

    xt2 = x.clone().requires_grad_(True)
    out = module(xt2)
    out.backward(g)
    assert_close(y, out.detach())
    assert_close(dx, xt2.grad)
    assert_close(bn.dgamma, module.weight.grad)
    assert_close(bn.dbeta, module.bias.grad)
    # evaluation changes no running statistic
    assert torch.equal(bn.running_mean, mean)
    assert torch.equal(bn.running_var, var)


@pytest.mark.parametrize("momentum", [0.1, 0.01, 0.5, 1.0, 0.0])
def test_running_statistics_equal_nn_batchnorm1d_step_by_step(momentum):
    """Equal to rounding: PyTorch's CPU kernel sums each column row after
    row, split across its threads, where ``x.mean(dim=0)`` sums in
    another order, so the last bits differ (about 1e-16 relative here)."""
    bn = BatchNorm1d(4, momentum=momentum, dtype=F64)
    ref = nn.BatchNorm1d(4, momentum=momentum, dtype=F64)
    worst = 0.0
    for step, m in enumerate([2, 7, 32, 3, 16, 5, 100]):
        x = randn(m, 4, seed=step, scale=1 + step) + step
        bn.forward(x)
        ref(x)
        for ours, theirs in zip(bn.buffers(), (ref.running_mean,
                                               ref.running_var)):
            worst = max(worst, tools.max_relative_error(ours, theirs))
    assert worst < 1e-14
    if momentum == 0.0:  # the running statistics never moved
        assert torch.equal(bn.running_mean, torch.zeros(4, dtype=F64))
        assert torch.equal(bn.running_var, torch.ones(4, dtype=F64))


def test_running_variance_is_the_unbiased_one_and_the_biased_one_differs():
    x = randn(6, 3, seed=2, scale=2)
    bn = BatchNorm1d(3, momentum=1.0, dtype=F64)  # keep the last batch only
    bn.forward(x)
    assert_close(bn.running_mean, x.mean(dim=0), 1e-15)
    assert_close(bn.running_var, x.var(dim=0, unbiased=True), 1e-14)
    biased = x.var(dim=0, unbiased=False)
    assert tools.max_relative_error(bn.running_var, biased) > 0.19  # 6/5
    ref = nn.BatchNorm1d(3, momentum=1.0, dtype=F64)
    ref(x)
    assert tools.max_relative_error(ref.running_var, biased) > 0.19


def test_batchnorm_layer_in_training_uses_batch_statistics_not_running():
    bn = BatchNorm1d(2, dtype=F64)
    x = randn(10, 2, seed=1, scale=5) + 7
    y = bn.forward(x)
    # standardised per column: mean 0, biased variance v / (v + eps)
    assert_close(y.mean(dim=0), torch.zeros(2, dtype=F64), 1e-12)
    v = x.var(dim=0, unbiased=False)
    assert_close(y.var(dim=0, unbiased=False), v / (v + bn.eps), 1e-12)
    z = bn.eval().forward(x)  # running stats are near 0.7, 1 + 0.1 var
    assert float((y - z).abs().max()) > 1


def test_batchnorm_apply_changes_nothing_and_matches_forward():
    bn = BatchNorm1d(3, dtype=F64)
    random_affine(bn, seed=0)
    x = randn(9, 3, seed=8)
    out = bn._apply(x)
    assert torch.equal(bn.running_mean, torch.zeros(3, dtype=F64))
    assert torch.equal(bn.running_var, torch.ones(3, dtype=F64))
    assert bn._xhat is None and bn._input is None
    assert getattr(bn, "_inv_std", None) is None
    assert_close(out, bn.forward(x), 1e-15)
    bn.eval()
    assert_close(bn._apply(x), bn.forward(x), 1e-15)


def test_backward_follows_the_mode_of_the_last_forward():
    bn = BatchNorm1d(3, dtype=F64)
    x, g = randn(5, 3, seed=1), randn(5, 3, seed=2)
    bn.forward(x)
    train_dx = bn.backward(g)
    bn.eval()  # switching modes between forward and backward ...
    assert torch.equal(bn.backward(g), train_dx)  # ... changes nothing
    bn.forward(x)
    assert not torch.allclose(bn.backward(g), train_dx)


def test_batchnorm_float32_and_device_and_dtype_checks():
    bn = BatchNorm1d(3, dtype=torch.float32)
    x = randn(4, 3, seed=0).float()
    assert bn.forward(x).dtype == torch.float32
    assert bn.backward(torch.ones(4, 3)).dtype == torch.float32
    assert bn.running_var.dtype == torch.float32
    meta = BatchNorm1d(3, device="meta", dtype=F64)
    for t in (meta.gamma, meta.beta, meta.running_mean, meta.running_var):
        assert t.device.type == "meta" and t.dtype == F64
    assert meta.device.type == "meta" and meta.dtype == F64
    assert message(lambda: meta.forward(randn(4, 3))) == (
        "x is on device cpu but BatchNorm1d(3) is on meta; move it with "
        "x.to('meta')"
    )
    assert message(lambda: bn.forward(randn(4, 3))) == (
        "x has dtype torch.float64 but BatchNorm1d(3) has dtype "
        "torch.float32; convert it with x.to(torch.float32)"
    )
    assert BatchNorm1d(2).dtype == torch.get_default_dtype()


def test_batchnorm_bad_arguments_full_messages():
    assert message(lambda: BatchNorm1d(0)) == (
        "num_features must be an integer >= 1, got 0"
    )
    assert message(lambda: BatchNorm1d(2.0), TypeError).startswith(
        "num_features must be an integer >= 1, got 2.0"
    )
    assert message(lambda: BatchNorm1d(2, eps=0)) == (
        "eps must be a finite number > 0, got 0.0"
    )
    assert message(lambda: BatchNorm1d(2, eps=math.nan)) == (
        "eps must be a finite number > 0, got nan"
    )
    for bad in (-0.1, 1.5, math.nan):
        assert message(lambda: BatchNorm1d(2, momentum=bad)) == (
            "momentum must be a number in [0, 1] (the weight of the new "
            f"batch in the running statistics, as PyTorch's), got {bad}"
        )
    assert message(lambda: BatchNorm1d(2, momentum="0.1"), TypeError) == (
        "momentum must be a number in [0, 1] (the weight of the new "
        "batch), got '0.1' (str)"
    )
    assert message(lambda: BatchNorm1d(2, dtype=torch.float16), TypeError) \
        .startswith("dtype must be a floating-point torch.dtype")
    assert message(lambda: BatchNorm1d(2, device="nowhere")).startswith(
        "device must name a device such as 'cpu' or 'cuda'"
    )


def test_batchnorm_bad_input_full_messages_and_nothing_changes():
    bn = BatchNorm1d(3, dtype=F64)
    random_affine(bn, seed=1)
    bn.forward(randn(4, 3, seed=0))
    state = [t.clone() for t in (*bn.buffers(), *bn.parameters())]
    kept = (bn._input, bn._xhat, bn._inv_std)

    def unchanged() -> None:
        now = (*bn.buffers(), *bn.parameters())
        assert all(torch.equal(a, b) for a, b in zip(state, now))
        assert (bn._input, bn._xhat, bn._inv_std) == kept

    assert message(lambda: bn.forward(randn(1, 3))) == (
        "x must have at least 2 rows in training mode, got 1: "
        "BatchNorm1d(3) normalises each feature with the batch's variance, "
        "which one row does not have; call eval() to use the running "
        "statistics instead"
    )
    unchanged()
    assert message(lambda: bn.forward(randn(4, 2))) == (
        "x must have 3 columns (num_features of BatchNorm1d(3)) "
        "(shape (m, 3)), got shape (4, 2)"
    )
    assert message(lambda: bn.forward(randn(4))) == (
        "x must be a 2-D tensor of shape (m, 3), got shape (4,)"
    )
    bad = randn(4, 3)
    bad[1, 2] = math.inf
    assert message(lambda: bn.forward(bad)) == (
        "x must be finite, but 1 of its 12 entries are NaN or inf"
    )
    bad[1, 2] = math.nan
    assert message(lambda: bn.forward(bad)).startswith("x must be finite")
    huge = randn(4, 3) * 1e200
    assert message(lambda: bn.forward(huge)) == (
        "the variance of x overflowed torch.float64 (x is too large for its "
        "dtype); scale the inputs or use a wider dtype"
    )
    assert message(lambda: bn.forward(torch.ones(4, 3, dtype=torch.int64)),
                   ).startswith("x has dtype torch.int64")
    assert message(lambda: bn.forward([[1.0, 2, 3]]), TypeError) == (
        "x must be a torch.Tensor, got list; convert it with "
        "torch.as_tensor(x, dtype=torch.float64)"
    )
    grad = randn(4, 3).requires_grad_(True)
    assert message(lambda: bn.forward(grad)) == (
        "x requires grad (it carries autograd history); pass x.detach() "
        "instead"
    )
    unchanged()
    assert message(lambda: bn.backward(randn(5, 3))) == (
        "grad_output must have the shape of the last output (4, 3), "
        "got shape (5, 3)"
    )
    assert message(lambda: bn.backward(torch.ones(4, 3))) == (
        "grad_output has dtype torch.float32 but the input has dtype "
        "torch.float64; convert it with grad_output.to(torch.float64)"
    )
    assert message(
        lambda: bn.backward(torch.full((4, 3), math.nan, dtype=F64))
    ) == "grad_output must be finite, but 12 of its 12 entries are NaN or inf"
    assert bn.dgamma is None and bn.dbeta is None
    unchanged()


def test_backward_before_forward_and_gradients_before_backward():
    for layer in (BatchNorm1d(2, dtype=F64), LayerNorm(2, dtype=F64)):
        assert message(
            lambda: layer.backward(torch.ones(3, 2, dtype=F64)), RuntimeError
        ) == (
            f"{layer!r}.backward() was called before forward(x): there is "
            "no input to differentiate at yet"
        )
        assert message(layer.gradients, RuntimeError) == (
            f"{layer!r} has no gradients yet: call backward first"
        )


def test_parameters_names_and_reprs():
    bn = BatchNorm1d(3)
    assert bn.parameters() == [bn.gamma, bn.beta]
    assert bn.named_parameters() == [("gamma", bn.gamma), ("beta", bn.beta)]
    assert torch.equal(bn.gamma, torch.ones(3))
    assert torch.equal(bn.beta, torch.zeros(3))
    assert torch.equal(bn.running_mean, torch.zeros(3))
    assert torch.equal(bn.running_var, torch.ones(3))
    assert bn.buffers() == [bn.running_mean, bn.running_var]
    assert repr(bn) == "BatchNorm1d(3)"
    assert repr(BatchNorm1d(3, eps=1e-3, momentum=0.01)) == (
        "BatchNorm1d(3, eps=0.001, momentum=0.01)"
    )
    ln = LayerNorm(4)
    assert ln.parameters() == [ln.gamma, ln.beta]
    assert ln.named_parameters() == [("gamma", ln.gamma), ("beta", ln.beta)]
    assert repr(ln) == "LayerNorm(4)" and ln.normalized_shape == (4,)
    assert repr(LayerNorm([4], eps=1e-3)) == "LayerNorm(4, eps=0.001)"
    assert repr(LayerNorm(torch.Size([5]))) == "LayerNorm(5)"


def test_train_and_eval_set_the_flag_and_return_the_layer():
    for layer in (BatchNorm1d(2), LayerNorm(2), tools.ReLU(),
                  tools.Linear(2, 2)):
        assert layer.training is True
        assert layer.eval() is layer and layer.training is False
        assert layer.train() is layer and layer.training is True
        assert layer.train(False) is layer and layer.training is False
        assert message(lambda: layer.train(1), TypeError) == (
            "mode must be True or False, got 1 (int)"
        )
        assert layer.training is False


# -- layer norm ------------------------------------------------------------
LN_SHAPES = [(1, 3), (2, 3), (5, 4), (17, 6), (4,), (2, 3, 5), (3, 1)]


@pytest.mark.parametrize("shape", LN_SHAPES, ids=str)
@pytest.mark.parametrize("training", [True, False])
def test_layernorm_forward_and_backward_match_autograd(shape, training):
    n = shape[-1]
    x = randn(*shape, seed=len(shape), scale=3) - 2
    g = randn(*shape, seed=n)
    ln = LayerNorm(n, dtype=F64).train(training)
    random_affine(ln, seed=2)
    y = ln.forward(x)
    dx = ln.backward(g)

    xt = x.clone().requires_grad_(True)
    gamma = ln.gamma.clone().requires_grad_(True)
    beta = ln.beta.clone().requires_grad_(True)
    ref = by_formula(xt, gamma, beta, ln.eps, -1)
    ref.backward(g)
    assert_close(y, ref.detach())
    assert_close(dx, xt.grad)
    assert_close(ln.dgamma, gamma.grad)
    assert_close(ln.dbeta, beta.grad)

    module = nn.LayerNorm(n, eps=ln.eps, dtype=F64).train(training)
    with torch.no_grad():
        module.weight.copy_(ln.gamma)
        module.bias.copy_(ln.beta)
    xt2 = x.clone().requires_grad_(True)
    out = module(xt2)
    out.backward(g)
    assert_close(y, out.detach())
    if n == 1:  # X̂ = 0, so dL/dx = dL/dgamma = 0, which PyTorch's
        # kernel computes to within rounding noise
        for ours, theirs in ((dx, xt2.grad), (ln.dgamma, module.weight.grad)):
            assert torch.equal(ours, torch.zeros_like(ours))
            assert float(theirs.abs().max()) < 1e-12
    else:
        assert_close(dx, xt2.grad)
        assert_close(ln.dgamma, module.weight.grad)
    assert_close(ln.dbeta, module.bias.grad)
    assert_close(ln._apply(x), y, 1e-15)


def test_layernorm_statistics_are_per_row_and_the_same_in_both_modes():
    x = randn(6, 5, seed=3, scale=4) + torch.arange(6, dtype=F64)[:, None]
    ln = LayerNorm(5, eps=1e-3, dtype=F64)
    y = ln.forward(x)
    assert_close(y.mean(dim=1), torch.zeros(6, dtype=F64), 1e-12)
    v = x.var(dim=1, unbiased=False)
    assert_close(y.var(dim=1, unbiased=False), v / (v + 1e-3), 1e-12)
    assert torch.equal(ln.eval().forward(x), y)
    # a row's output does not depend on the other rows
    assert_close(ln.forward(x[2:3]), y[2:3], 1e-15)
    # one feature: x̂ = 0, the output is beta
    one = LayerNorm(1, dtype=F64)
    one.beta.fill_(0.25)
    assert torch.equal(one.forward(randn(3, 1)), torch.full((3, 1), 0.25,
                                                            dtype=F64))


def test_layernorm_bad_arguments_and_inputs_full_messages():
    assert message(lambda: LayerNorm(0)) == (
        "normalized_shape must be an integer >= 1, got 0"
    )
    assert message(lambda: LayerNorm((2, 3))) == (
        "normalized_shape must be the number of features, or a sequence "
        "of that one number (only the last dimension is normalised here), "
        "got (2, 3)"
    )
    assert message(lambda: LayerNorm("4"), TypeError).startswith(
        "normalized_shape must be an integer >= 1, got '4'"
    )
    assert message(lambda: LayerNorm(2, eps=-1.0)) == (
        "eps must be a finite number > 0, got -1.0"
    )
    ln = LayerNorm(3, dtype=F64)
    for bad in (randn(4, 2), torch.zeros(0, 3, dtype=F64),
                torch.tensor(1.0, dtype=F64)):
        assert message(lambda: ln.forward(bad)) == (
            "x must have 3 entries in its last dimension (normalized_shape "
            "of LayerNorm(3)), with at least one row, got shape "
            f"{tuple(bad.shape)}"
        )
    nan = randn(2, 3)
    nan[0, 0] = math.nan
    assert message(lambda: ln.forward(nan)) == (
        "x must be finite, but 1 of its 6 entries are NaN or inf"
    )
    assert message(lambda: ln.forward(randn(2, 3) * 1e200)) == (
        "the variance of x overflowed torch.float64 (x is too large for its "
        "dtype); scale the inputs or use a wider dtype"
    )
    assert ln._input is None
    assert message(lambda: ln.forward(randn(2, 3).float())) == (
        "x has dtype torch.float32 but LayerNorm(3) has dtype "
        "torch.float64; convert it with x.to(torch.float32)"
    ).replace("x.to(torch.float32)", "x.to(torch.float64)")
    meta = LayerNorm(3, device="meta")
    assert meta.gamma.device.type == "meta" == meta.beta.device.type
    assert message(lambda: meta.forward(randn(2, 3).float())).startswith(
        "x is on device cpu but LayerNorm(3) is on meta"
    )


def test_batch_of_two_and_batch_of_one_side_by_side():
    """What a batch of one does to each: batch norm refuses it in training
    (and standardises a batch of two to +-1 per column), layer norm takes
    it."""
    x = torch.tensor([[1.0, 5.0, -2.0]], dtype=F64)
    with pytest.raises(ValueError, match="at least 2 rows"):
        BatchNorm1d(3, dtype=F64).forward(x)
    y = LayerNorm(3, dtype=F64).forward(x)
    assert y.shape == (1, 3)
    two = torch.cat([x, 2 * x])
    out = BatchNorm1d(3, eps=1e-12, dtype=F64).forward(two)
    assert_close(out.abs(), torch.ones(2, 3, dtype=F64), 1e-9)


# -- properties over many inputs (Hypothesis) --------------------------------
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

QUICK = settings(max_examples=60, deadline=None, derandomize=True,
                 database=None, suppress_health_check=[HealthCheck.too_slow])


@QUICK
@given(m=st.integers(2, 9), n=st.integers(1, 5), seed=st.integers(0, 999),
       log_scale=st.floats(-3, 3), offset=st.floats(-100, 100),
       layer=st.sampled_from(["batch", "layer"]),
       training=st.booleans())
def test_backward_matches_autograd_for_any_scale_and_offset(
    m, n, seed, log_scale, offset, layer, training
):
    """Inputs ``offset + 10^log_scale N(0, 1)``, so that eps matters (tiny
    spread) or not (large), in both modes (batch norm's evaluation after
    one training step). The gradients are compared to 1e-8, not 1e-10:
    with two features (or rows) ``x̂ = ±sqrt(v / (v + ε))`` and
    ``dL/dx`` is ``ε / (v + ε)`` times its terms, a cancellation that
    leaves PyTorch's rounding and ours about 4e-9 apart (m = n = 2,
    spread 10)."""
    x = offset + 10**log_scale * randn(m, n, seed=seed)
    g = randn(m, n, seed=seed + 1)
    if layer == "batch":
        ours = BatchNorm1d(n, dtype=F64)
        ref_module = nn.BatchNorm1d(n, dtype=F64)
        warm = offset + randn(m, n, seed=seed + 2)
        ours.forward(warm)
        ref_module(warm)
    else:
        ours, ref_module = LayerNorm(n, dtype=F64), nn.LayerNorm(n, dtype=F64)
    random_affine(ours, seed=seed)
    with torch.no_grad():
        ref_module.weight.copy_(ours.gamma)
        ref_module.bias.copy_(ours.beta)
    ours.train(training)
    ref_module.train(training)
    y = ours.forward(x)
    dx = ours.backward(g)
    xt = x.clone().requires_grad_(True)
    ref = ref_module(xt)
    ref.backward(g)
    assert_close(y, ref.detach(), 1e-9)
    if n > 1 or layer == "batch":  # layer norm of one feature: dx = 0
        assert_close(dx, xt.grad, 1e-8)
        assert_close(ours.dgamma, ref_module.weight.grad, 1e-8)
    assert_close(ours.dbeta, ref_module.bias.grad, 1e-12)


# ------------------------- memory: the new m x n arrays a pass asks for
# A new array of the batch's size costs more than the pass that fills it
# (the benchmarks appendix); the layers reuse memory where the formulas
# allow. These count the new m x n storages the operators return
# (tools.benchmark.PeakTensorMemory records each one).
from tools.benchmark import PeakTensorMemory  # noqa: E402


def _new_arrays(fn) -> int:
    """How many new storages of 64 x 8 float64s ``fn()`` asks for."""
    with PeakTensorMemory() as mem:
        fn()
    return mem.allocations.count(64 * 8 * 8)


@pytest.mark.parametrize("training", [True, False])
def test_batch_norm_asks_for_few_new_arrays(training):
    layer = tools.BatchNorm1d(8, dtype=F64).train(training)
    x = randn(64, 8, seed=0)
    g = randn(64, 8, seed=1)
    # training: X - 1 z̄ᵀ (then X̂), one for the squares and then Y;
    # evaluation: X - 1 μᵀ (then X̂) and Y
    assert _new_arrays(lambda: layer._forward(x)) == 2
    assert _new_arrays(lambda: layer._backward(g)) == 1  # G ⊙ X̂, then ∂L/∂X
    # X - 1 z̄ᵀ (then X̂, then Y over it), and in training the squares
    assert _new_arrays(lambda: layer._apply(x)) == (2 if training else 1)


def test_layer_norm_asks_for_few_new_arrays():
    layer = tools.LayerNorm(8, dtype=F64)
    x = randn(64, 8, seed=0)
    g = randn(64, 8, seed=1)
    assert _new_arrays(lambda: layer._forward(x)) == 2  # X - z̄ 1ᵀ, Y
    assert _new_arrays(lambda: layer._backward(g)) == 1
    assert _new_arrays(lambda: layer._apply(x)) == 1  # Y written over X̂
