"""``tools.init`` (chapter 4): the initialisation schemes against their
formulas, statistically (seeded), and against ``torch.nn.init``.

* ``uniform`` is, bit for bit, what chapter 1-3's models have always
  drawn (``tools.linear_models.uniform_init``);
* every scheme's weights have the standard deviation of its formula (and
  the law: uniform within its bound, or normal), the bias is zero for
  the Xavier and Kaiming schemes;
* ``torch.nn.init``'s draws for the same layer have the same spread;
* seeds, devices (the meta device stands for a GPU), dtypes, and every
  bad argument.
"""

from __future__ import annotations

import math

import pytest
import torch

import tools
from tools import init
from tools.linear_models import uniform_init

F64 = torch.float64
N_IN, N_OUT = 300, 400  # 120,000 weights

SCHEMES = list(init.SCHEMES)
UNIFORM_BOUND = {
    "uniform": lambda n_in, n_out: 1 / math.sqrt(n_in),
    "xavier_uniform": lambda n_in, n_out: math.sqrt(6 / (n_in + n_out)),
    "kaiming_uniform": lambda n_in, n_out: math.sqrt(6 / n_in),
}
NORMAL_STD = {
    "xavier_normal": lambda n_in, n_out: math.sqrt(2 / (n_in + n_out)),
    "kaiming_normal": lambda n_in, n_out: math.sqrt(2 / n_in),
}
TORCH = {  # torch.nn.init on nn.Linear's (out, in) weight
    "xavier_uniform": torch.nn.init.xavier_uniform_,
    "xavier_normal": torch.nn.init.xavier_normal_,
    "kaiming_uniform": lambda w: torch.nn.init.kaiming_uniform_(
        w, nonlinearity="relu"
    ),
    "kaiming_normal": lambda w: torch.nn.init.kaiming_normal_(
        w, nonlinearity="relu"
    ),
}


def message(fn, error=ValueError) -> str:
    with pytest.raises(error) as info:
        fn()
    return str(info.value)


def test_uniform_is_what_the_models_have_always_drawn():
    """The draws of chapters 1-3 (stored notebook outputs depend on them),
    written out: ``w`` then ``b`` from one float64 generator, each
    ``(U(0, 1) * 2 - 1) / sqrt(n_in)``."""
    for n_in, n_out, seed in [(3, 2, 0), (64, 10, 7), (1, 1, 123)]:
        gen = torch.Generator().manual_seed(seed)
        bound = 1.0 / n_in**0.5
        w0 = (torch.rand((n_in, n_out), generator=gen, dtype=F64) * 2 - 1)
        b0 = (torch.rand(n_out, generator=gen, dtype=F64) * 2 - 1)
        w, b = init.uniform(n_in, n_out, dtype=F64, seed=seed)
        assert torch.equal(w, w0 * bound) and torch.equal(b, b0 * bound)
        w1, b1 = uniform_init(n_in, n_out, device=None, dtype=F64, seed=seed)
        assert torch.equal(w1, w) and torch.equal(b1, b)


@pytest.mark.parametrize("scheme", SCHEMES)
def test_weight_spread_and_law_match_the_formula(scheme):
    """Sample standard deviation within 1 % of the formula (its standard
    error is below 0.3 % for 120,000 draws), mean within 5 standard
    errors of 0; the excess kurtosis tells the law: -1.2 for a uniform,
    0 for a normal (standard error about 0.014)."""
    w, b = init.initialize(scheme, N_IN, N_OUT, dtype=F64, seed=1)
    assert w.shape == (N_IN, N_OUT) and b.shape == (N_OUT,)
    std = init.weight_std(scheme, N_IN, N_OUT)
    if scheme in UNIFORM_BOUND:
        bound = UNIFORM_BOUND[scheme](N_IN, N_OUT)
        assert std == pytest.approx(bound / math.sqrt(3), rel=1e-15)
        assert float(w.abs().max()) <= bound
        assert float(w.abs().max()) > 0.999 * bound
    else:
        assert std == pytest.approx(NORMAL_STD[scheme](N_IN, N_OUT),
                                    rel=1e-15)
    assert float(w.std()) == pytest.approx(std, rel=0.01)
    assert abs(float(w.mean())) < 5 * std / math.sqrt(w.numel())
    z = (w - w.mean()) / w.std()
    kurtosis = float((z**4).mean()) - 3
    expected = -1.2 if scheme in UNIFORM_BOUND else 0.0
    assert abs(kurtosis - expected) < 0.1
    if scheme == "uniform":
        assert float(b.abs().max()) <= 1 / math.sqrt(N_IN)
        assert bool((b != 0).all())
    else:
        assert torch.equal(b, torch.zeros(N_OUT, dtype=F64))


@pytest.mark.parametrize("scheme", list(TORCH))
def test_same_spread_as_torch_nn_init(scheme):
    torch.manual_seed(0)
    theirs = torch.empty(N_OUT, N_IN, dtype=F64)  # nn.Linear's layout
    TORCH[scheme](theirs)
    ours, _ = init.initialize(scheme, N_IN, N_OUT, dtype=F64, seed=0)
    assert float(ours.std()) == pytest.approx(float(theirs.std()), rel=0.02)
    assert float(theirs.std()) == pytest.approx(
        init.weight_std(scheme, N_IN, N_OUT), rel=0.01
    )
    if "uniform" in scheme:
        assert float(ours.abs().max()) == pytest.approx(
            float(theirs.abs().max()), rel=1e-3
        )


def test_default_linear_uniform_matches_nn_linear_bound():
    layer = torch.nn.Linear(N_IN, N_OUT, dtype=F64).requires_grad_(False)
    w, b = init.uniform(N_IN, N_OUT, dtype=F64, seed=0)
    for ours, theirs in ((w, layer.weight), (b, layer.bias)):
        assert float(ours.abs().max()) <= 1 / math.sqrt(N_IN)
        assert float(theirs.abs().max()) <= 1 / math.sqrt(N_IN)
    assert float(w.std()) == pytest.approx(float(layer.weight.std()),
                                           rel=0.02)


@pytest.mark.parametrize("scheme", SCHEMES)
def test_seeds_devices_and_dtypes(scheme):
    make = init.SCHEMES[scheme]
    w1, b1 = make(5, 3, dtype=F64, seed=9)
    w2, b2 = make(5, 3, dtype=F64, seed=9)
    assert torch.equal(w1, w2) and torch.equal(b1, b2)
    assert not torch.equal(make(5, 3, dtype=F64, seed=10)[0], w1)
    # float32 is the float64 draw, cast: one seed, one start everywhere
    w32, b32 = make(5, 3, dtype=torch.float32, seed=9)
    assert w32.dtype == b32.dtype == torch.float32
    assert torch.equal(w32, w1.float()) and torch.equal(b32, b1.float())
    w, b = make(5, 3, seed=9)
    assert w.dtype == torch.get_default_dtype() == b.dtype
    meta_w, meta_b = make(5, 3, device="meta", dtype=F64, seed=9)
    assert meta_w.device.type == "meta" == meta_b.device.type
    assert meta_w.shape == (5, 3) and meta_b.shape == (3,)
    # seed=None draws from PyTorch's global generator
    torch.manual_seed(4)
    g1 = make(5, 3, dtype=F64)
    torch.manual_seed(4)
    g2 = make(5, 3, dtype=F64)
    assert torch.equal(g1[0], g2[0])


def test_weight_std_formulas_by_hand():
    assert init.weight_std("uniform", 12, 5) == 1 / 6
    assert init.weight_std("xavier_uniform", 10, 40) == 0.2
    assert init.weight_std("xavier_normal", 10, 40) == 0.2
    assert init.weight_std("kaiming_uniform", 8, 3) == 0.5
    assert init.weight_std("kaiming_normal", 50, 1) == 0.2


def test_bad_arguments_full_messages():
    names = ("'uniform', 'xavier_uniform', 'xavier_normal', "
             "'kaiming_uniform', 'kaiming_normal'")
    for bad in ("he", "Xavier_uniform", None, 3):
        assert message(lambda: init.initialize(bad, 2, 2)) == (
            f"init must be one of {names}, got {bad!r}"
        )
        assert message(lambda: init.weight_std(bad, 2, 2)).startswith(
            "init must be one of"
        )
    for scheme in SCHEMES:
        make = init.SCHEMES[scheme]
        assert message(lambda: make(0, 2)) == (
            "n_in must be an integer >= 1, got 0"
        )
        assert message(lambda: make(2, 0)) == (
            "n_out must be an integer >= 1, got 0"
        )
        assert message(lambda: make(2.5, 2), TypeError).startswith(
            "n_in must be an integer >= 1, got 2.5"
        )
        assert message(lambda: make(2, 2, seed=-3)) == (
            "seed must be an integer >= 0, got -3"
        )
        assert message(lambda: make(2, 2, dtype=torch.int64),
                       TypeError).startswith("dtype must be a floating-point")
        assert message(lambda: make(2, 2, device="nowhere")).startswith(
            "device must name a device"
        )
    assert message(lambda: init.weight_std("uniform", 0, 2)) == (
        "n_in must be an integer >= 1, got 0"
    )


@pytest.mark.parametrize("scheme", SCHEMES)
def test_linear_draws_its_parameters_with_the_scheme(scheme):
    layer = tools.Linear(6, 4, init=scheme, dtype=F64, seed=3)
    w, b = init.initialize(scheme, 6, 4, dtype=F64, seed=3)
    assert torch.equal(layer.w, w) and torch.equal(layer.b, b)
    assert layer.init == scheme and repr(layer) == "Linear(6, 4)"
    if scheme != "uniform":
        assert torch.equal(layer.b, torch.zeros(4, dtype=F64))


def test_linear_default_is_unchanged_and_bad_init_is_refused():
    default = tools.Linear(5, 3, dtype=F64, seed=1)
    w, b = init.uniform(5, 3, dtype=F64, seed=1)
    assert torch.equal(default.w, w) and torch.equal(default.b, b)
    assert default.init == "uniform"
    assert message(lambda: tools.Linear(5, 3, init="he_normal")) == (
        "init must be one of 'uniform', 'xavier_uniform', 'xavier_normal', "
        "'kaiming_uniform', 'kaiming_normal', got 'he_normal'"
    )
    meta = tools.Linear(5, 3, init="kaiming_normal", device="meta")
    assert meta.w.device.type == "meta" == meta.b.device.type


REFERENCE = {  # the law (float64, from the seeded generator) and scale
    "xavier_uniform": ("uniform", lambda n_in, n_out:
                       math.sqrt(6 / (n_in + n_out))),
    "kaiming_uniform": ("uniform", lambda n_in, n_out: math.sqrt(6 / n_in)),
    "xavier_normal": ("normal", lambda n_in, n_out:
                      math.sqrt(2 / (n_in + n_out))),
    "kaiming_normal": ("normal", lambda n_in, n_out: math.sqrt(2 / n_in)),
}


@pytest.mark.parametrize("scheme", list(REFERENCE))
def test_draws_written_out(scheme):
    """Each scheme's weights are its float64 law times its scale, from a
    generator seeded with ``seed``; the bias is zeros of the dtype."""
    law, scale = REFERENCE[scheme]
    for n_in, n_out, seed in [(4, 3, 0), (30, 7, 5)]:
        gen = torch.Generator().manual_seed(seed)
        if law == "uniform":
            draws = torch.rand((n_in, n_out), generator=gen, dtype=F64) * 2 - 1
        else:
            draws = torch.randn((n_in, n_out), generator=gen, dtype=F64)
        w, b = init.initialize(scheme, n_in, n_out, dtype=F64, seed=seed)
        assert torch.equal(w, draws * scale(n_in, n_out))
        assert b.dtype == F64 and torch.equal(b, torch.zeros(n_out,
                                                             dtype=F64))
