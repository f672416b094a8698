"""Unit tests of :mod:`tools.jacobian` and of the ``gradient=`` routes of :class:`tools.SoftmaxClassifier`.

Covered:

* every route of ``tools.jacobian.ROUTES`` gives ``dL/dW`` and ``dL/db`` equal to autograd through
  ``F.cross_entropy`` on the logits (float64, relative error <= 1e-12), for several shapes
  including ``m = 1``, with one-hot and soft targets;
* the Jacobian pieces against ``torch.autograd.functional.jacobian``: ``softmax_jacobian``
  (``(m, n1, m, n1)``), ``logits_jacobian_wrt_weights`` (``(m, n1, n, n1)``), and
  ``softmax_jacobian_blocks`` as the diagonal blocks of the full Jacobian (off-diagonal blocks
  exactly zero);
* ``full_jacobian_bytes`` against its formula; the full route's ``MemoryError`` (message, cap
  boundary, and raised before anything is allocated, by ``PeakTensorMemory``);
* ``SoftmaxClassifier(gradient=...)``: ``fit`` with each route ends where the closed form ends;
  rejected ``gradient`` and ``max_jacobian_bytes`` values; ``MemoryError`` from ``update``.
"""

from __future__ import annotations

import re

import pytest
import torch
import torch.nn.functional as F

import tools
from tools.benchmark import PeakTensorMemory
from tools.jacobian import (
    ROUTES,
    full_jacobian_bytes,
    gradients_block_jacobian,
    gradients_closed_form,
    gradients_full_jacobian,
    logits_jacobian_wrt_weights,
    softmax_jacobian,
    softmax_jacobian_blocks,
)

F64 = torch.float64
TOL = 1e-12


def assert_close(actual, expected, tol: float = TOL) -> None:
    err = tools.max_relative_error(actual, expected)
    assert err <= tol, f"max relative error {err:.3g} > {tol:g}"


def make_data(n: int, k: int, m: int, seed: int, soft: bool = False):
    """``x`` (m, n) and one-hot or soft targets (m, k), float64, from ``seed``."""
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(m, n, generator=g, dtype=F64)
    if soft:
        return x, torch.softmax(torch.randn(m, k, generator=g, dtype=F64), dim=1)
    return x, F.one_hot(torch.randint(k, (m,), generator=g), k).to(F64)


def make_params(n: int, k: int, seed: int):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, k, generator=g, dtype=F64), torch.randn(k, generator=g, dtype=F64)


SHAPES = [(1, 2, 1), (3, 4, 1), (4, 3, 5), (6, 5, 8), (10, 7, 33)]  # (n, n1, m)


# -- the three routes against autograd -------------------------------------------------------------
@pytest.mark.parametrize("route", sorted(ROUTES))
@pytest.mark.parametrize("n, k, m", SHAPES)
@pytest.mark.parametrize("soft", [False, True], ids=["onehot", "soft"])
def test_route_matches_autograd(route, n, k, m, soft):
    x, y = make_data(n, k, m, seed=10 * n + m, soft=soft)
    w0, b0 = make_params(n, k, seed=m)
    w, b = w0.clone().requires_grad_(True), b0.clone().requires_grad_(True)
    z = x @ w + b
    F.cross_entropy(z, y).backward()
    dw, db = ROUTES[route](x, y, tools.softmax(z.detach()))
    assert dw.shape == (n, k) and db.shape == (k,)
    assert dw.dtype == db.dtype == F64
    assert_close(dw, w.grad)
    assert_close(db, b.grad)


# -- the Jacobian pieces -----------------------------------------------------------------------------
@pytest.mark.parametrize("n, k, m", SHAPES)
def test_softmax_jacobian_and_blocks_match_autograd(n, k, m):
    z = make_data(k, 2, m, seed=m + k)[0] * 3
    ref = torch.autograd.functional.jacobian(tools.softmax, z)
    full = softmax_jacobian(tools.softmax(z))
    assert full.shape == ref.shape == (m, k, m, k)
    assert_close(full, ref)

    blocks = softmax_jacobian_blocks(tools.softmax(z))
    assert blocks.shape == (m, k, k)
    diagonal = torch.stack([ref[i, :, i, :] for i in range(m)])
    assert_close(blocks, diagonal)
    assert torch.equal(blocks, torch.stack([full[i, :, i, :] for i in range(m)]))
    off = ~torch.eye(m, dtype=torch.bool)            # (i, k) with i != k
    assert torch.count_nonzero(full.permute(0, 2, 1, 3)[off]) == 0, "off-diagonal blocks must be exactly 0"


@pytest.mark.parametrize("n, k, m", SHAPES)
def test_logits_jacobian_wrt_weights_matches_autograd(n, k, m):
    x, _ = make_data(n, k, m, seed=3)
    w, b = make_params(n, k, seed=4)
    ref = torch.autograd.functional.jacobian(lambda w_: x @ w_ + b, w)
    ours = logits_jacobian_wrt_weights(x, k)
    assert ours.shape == ref.shape == (m, k, n, k)
    assert_close(ours, ref)


# -- the full route's memory cap ---------------------------------------------------------------------
@pytest.mark.parametrize("m, n, k, itemsize", [(1, 1, 2, 8), (1024, 5, 3, 8), (7, 4, 10, 4), (4096, 784, 10, 8)])
def test_full_jacobian_bytes_formula(m, n, k, itemsize):
    assert full_jacobian_bytes(m, n, k, itemsize) == itemsize * ((m * k) ** 2 + m * k * n * k)
    if itemsize == 8:
        assert full_jacobian_bytes(m, n, k) == full_jacobian_bytes(m, n, k, 8)


def test_full_jacobian_bytes_is_the_size_of_the_two_jacobians():
    x, y = make_data(4, 3, 6, seed=0)
    s = tools.softmax(x[:, :3])
    built = softmax_jacobian(s).nbytes + logits_jacobian_wrt_weights(x, 3).nbytes
    assert full_jacobian_bytes(6, 4, 3) == built


def test_cap_is_inclusive():
    x, y = make_data(4, 3, 6, seed=1)
    s = tools.softmax(x[:, :3])
    need = full_jacobian_bytes(6, 4, 3)
    dw, db = gradients_full_jacobian(x, y, s, max_bytes=need)     # exactly at the cap: allowed
    assert_close(dw, ROUTES["closed-form"](x, y, s)[0])
    with pytest.raises(MemoryError):
        gradients_full_jacobian(x, y, s, max_bytes=need - 1)


def test_over_cap_raises_before_allocating():
    m, n, k = 4096, 5, 3
    x, y = make_data(n, k, m, seed=2)
    s = tools.softmax(x[:, :k])
    with PeakTensorMemory() as mem:
        with pytest.raises(MemoryError) as info:
            gradients_full_jacobian(x, y, s, max_bytes=2**20)
    assert mem.peak < 2**20, f"{mem.peak} bytes allocated before refusing"
    assert mem.peak == 0
    msg = str(info.value)
    assert re.search(rf"\b{m} samples\b", msg), msg
    assert re.search(r"max_bytes=(1048576\b|1(\.0+)? MiB)", msg), msg


UNITS = {"": 1, "B": 1, "bytes": 1, "KiB": 2**10, "MiB": 2**20, "GiB": 2**30, "kB": 1e3, "MB": 1e6, "GB": 1e9}


def _amount(msg: str, before: str) -> float:
    found = re.search(re.escape(before) + r"\s*([\d.]+)\s*(KiB|MiB|GiB|kB|MB|GB|bytes|B)?", msg)
    assert found, f"no amount after {before!r} in: {msg}"
    return float(found.group(1)) * UNITS[found.group(2) or ""]


@pytest.mark.parametrize("m, cap", [(4096, 2**20), (10, 1000), (128, 2**20 // 3)], ids=["1 MiB", "1000 B", "a third MiB"])
def test_memory_error_message_states_need_and_cap_correctly(m, cap):
    """The amounts the message prints must be the real ones (to 1 %), whatever unit it chooses."""
    x, y = make_data(3, 3, m, seed=5)
    need = full_jacobian_bytes(m, 3, 3)
    assert need > cap
    with pytest.raises(MemoryError) as info:
        gradients_full_jacobian(x, y, tools.softmax(x), max_bytes=cap)
    msg = str(info.value)
    assert _amount(msg, "needs") == pytest.approx(need, rel=0.01), msg
    assert _amount(msg, "max_bytes=") == pytest.approx(cap, rel=0.01), msg


def test_memory_error_message_in_full():
    x, y = make_data(3, 3, 10, seed=5)
    with pytest.raises(MemoryError) as info:
        gradients_full_jacobian(x, y, tools.softmax(x), max_bytes=1000)
    assert str(info.value) == (
        "the full Jacobian of a batch of 10 samples with 3 classes needs "
        "9.14 KiB, more than max_bytes=1000 (1000 B); use a smaller batch, "
        "a larger max_bytes, or the block-jacobian / closed-form route"
    )


def test_cap_counts_the_bytes_of_the_inputs_dtype():
    """float32 Jacobians take half the bytes of float64 ones."""
    x, y = make_data(4, 3, 6, seed=1)
    x, y = x.float(), y.float()
    s = tools.softmax(x[:, :3])
    need = full_jacobian_bytes(6, 4, 3, itemsize=4)
    assert need == 2160
    dw, _ = gradients_full_jacobian(x, y, s, max_bytes=need)
    assert dw.dtype == torch.float32
    with pytest.raises(MemoryError, match=r"needs 2.11 KiB, .*=2159 "):
        gradients_full_jacobian(x, y, s, max_bytes=need - 1)


@pytest.mark.parametrize(
    "n, shown",
    [
        (0, "0 B"),
        (1023, "1023 B"),
        (1024, "1.00 KiB"),
        (1536, "1.50 KiB"),
        (10240, "10.00 KiB"),
        (2**20, "1.00 MiB"),
        (2**30, "1.00 GiB"),
        (2**40, "1024.00 GiB"),  # GiB is the largest unit
    ],
)
def test_format_bytes(n, shown):
    assert tools.jacobian.format_bytes(n) == shown


def test_jacobian_pieces_and_routes_keep_the_dtype_of_their_input():
    x, y = make_data(4, 3, 5, seed=2)
    x, y = x.half(), y.half()
    s = tools.softmax(x[:, :3].double()).half()
    assert softmax_jacobian(s).dtype == torch.float16
    assert softmax_jacobian_blocks(s).dtype == torch.float16
    assert logits_jacobian_wrt_weights(x, 3).dtype == torch.float16
    for route in ROUTES.values():
        dw, db = route(x, y, s)
        assert dw.dtype == db.dtype == torch.float16


def test_jacobian_pieces_and_routes_keep_the_device_of_their_input():
    """On the meta device (shapes only, no data), as on a GPU: any tensor
    made on the default device would not combine with the input."""
    meta = torch.device("meta")
    x, y = (t.to(meta) for t in make_data(4, 3, 5, seed=2))
    s = torch.empty(5, 3, dtype=F64, device=meta)
    assert softmax_jacobian(s).device == meta
    assert softmax_jacobian(s).shape == (5, 3, 5, 3)
    assert softmax_jacobian_blocks(s).device == meta
    assert logits_jacobian_wrt_weights(x, 3).device == meta
    for route in ROUTES.values():
        dw, db = route(x, y, s)
        assert dw.device == db.device == meta
        assert dw.shape == (4, 3) and db.shape == (3,)


# -- the routes inside SoftmaxClassifier --------------------------------------------------------------
@pytest.mark.parametrize("route", ["block-jacobian", "full-jacobian"])
@pytest.mark.parametrize("soft", [False, True], ids=["onehot", "soft"])
def test_fit_with_route_ends_where_closed_form_ends(route, soft):
    n, k, m, epochs, lr, batch = 5, 4, 50, 4, 0.3, 16      # batches of 16, 16, 16, 2
    x, y = make_data(n, k, m, seed=9, soft=soft)
    ref = tools.SoftmaxClassifier(n, k, dtype=F64, seed=3)
    model = tools.SoftmaxClassifier(n, k, dtype=F64, seed=3, gradient=route)
    assert model.gradient == route and route in repr(model)
    start = ref.w.clone()
    ref_log = ref.fit(x, y, epochs, lr, batch, verbose=False)
    log = model.fit(x, y, epochs, lr, batch, verbose=False)
    assert tools.max_relative_error(ref.w, start) > 1e-3, "the parameters did not move"
    assert_close(model.w, ref.w)
    assert_close(model.b, ref.b)
    for a, b in zip(log, ref_log):
        assert_close(a.train_ce, b.train_ce)
        assert_close(a.batch_ce, b.batch_ce)


def test_default_route_is_closed_form():
    model = tools.SoftmaxClassifier(3, 2, dtype=F64, seed=0)
    assert model.gradient == "closed-form" and "gradient" not in repr(model)


@pytest.mark.parametrize("gradient", ["bogus", "closed_form", "", None, "FULL-JACOBIAN"])
def test_unknown_gradient_route_raises_naming_the_routes(gradient):
    with pytest.raises(ValueError, match=r"gradient must be one of") as info:
        tools.SoftmaxClassifier(3, 2, gradient=gradient)
    for route in ROUTES:
        assert route in str(info.value)
    assert repr(gradient) in str(info.value)


@pytest.mark.parametrize("cap, exc", [(0, ValueError), (-1, ValueError), (1.5, TypeError), (True, TypeError)])
def test_bad_max_jacobian_bytes_raises(cap, exc):
    with pytest.raises(exc, match=r"max_jacobian_bytes must be an integer >= 1"):
        tools.SoftmaxClassifier(3, 2, gradient="full-jacobian", max_jacobian_bytes=cap)


def test_update_with_full_route_over_cap_raises_memory_error_and_leaves_params():
    n, k, m = 3, 4, 20
    x, y = make_data(n, k, m, seed=6)
    model = tools.SoftmaxClassifier(n, k, dtype=F64, seed=0, gradient="full-jacobian",
                                    max_jacobian_bytes=full_jacobian_bytes(m, n, k) - 1)
    w, b = model.w.clone(), model.b.clone()
    with pytest.raises(MemoryError, match=rf"\b{m} samples"):
        model.update(x, y, model.predict(x), 0.1)
    with pytest.raises(MemoryError):
        model.fit(x, y, 1, 0.1, m, verbose=False)
    assert torch.equal(model.w, w) and torch.equal(model.b, b)
    model.update(x[:m // 2], y[:m // 2], model.predict(x[:m // 2]), 0.1)  # a smaller batch fits
    assert not torch.equal(model.w, w)


def test_cap_applies_only_to_full_route():
    x, y = make_data(3, 4, 20, seed=7)
    reference = tools.SoftmaxClassifier(3, 4, dtype=F64, seed=0)
    reference.update(x, y, reference.predict(x), 0.1)
    for route in ("closed-form", "block-jacobian"):
        model = tools.SoftmaxClassifier(3, 4, dtype=F64, seed=0, gradient=route, max_jacobian_bytes=1)
        model.update(x, y, model.predict(x), 0.1)  # no MemoryError
        assert tools.max_relative_error(model.w, reference.w) < 1e-12
        assert tools.max_relative_error(model.b, reference.b) < 1e-12


def test_block_route_really_builds_the_per_sample_jacobians():
    """The block route holds m blocks of n1 x n1 at once; the closed form never does."""
    m, n, k = 64, 3, 8
    x, y = make_data(n, k, m, seed=3)
    model = tools.SoftmaxClassifier(n, k, dtype=F64, seed=0)
    p = model.predict(x)
    blocks = m * k * k * 8
    block_peak = tools.benchmark.peak_tensor_bytes(lambda: gradients_block_jacobian(x, y, p))
    closed_peak = tools.benchmark.peak_tensor_bytes(lambda: gradients_closed_form(x, y, p))
    assert block_peak >= blocks, f"{block_peak} bytes: the m x n1 x n1 blocks were never built"
    assert closed_peak < blocks / 2, f"{closed_peak} bytes: the closed form built something m x n1 x n1"


@pytest.mark.parametrize("dtype", [torch.int64, torch.bool, torch.complex128])
def test_jacobian_pieces_and_routes_refuse_what_is_not_a_real_float(dtype):
    """An int y_pred gave an integer Jacobian without a word."""
    x, y = make_data(4, 3, 5, seed=2)
    s = tools.softmax(x[:, :3])
    bad = s.to(dtype)
    calls = {
        "y_pred": [
            lambda: softmax_jacobian(bad),
            lambda: softmax_jacobian_blocks(bad),
            *[lambda r=r: r(x, y, bad) for r in ROUTES.values()],
        ],
        "x": [lambda: logits_jacobian_wrt_weights(x.to(dtype), 3)],
    }
    for name, fns in calls.items():
        for fn in fns:
            with pytest.raises(TypeError, match=rf"^{name} must hold real"):
                fn()
    with pytest.raises(ValueError, match=r"^y_pred must be a 2-D tensor"):
        softmax_jacobian(s[0])
