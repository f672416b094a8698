"""Unit tests of :mod:`tools.benchmark`, :mod:`tools.notebook` and the logits overflow guard.

Covered:

* ``PeakTensorMemory``: exact bytes of a known allocation, ``current`` back to 0 once tensors are
  freed, views of a pre-existing tensor (``.T``, slices, ``reshape``, ``view``) and pre-existing
  tensors cost nothing, freed temporaries still raise ``peak`` above the final ``current``,
  in-place ops add nothing, a copy made by reshape/flatten counts while alive;
* ``peak_tensor_bytes`` scaling: closed-form and block routes linear in ``m`` (ratio 8 for 8x the
  batch), full-Jacobian route quadratic (ratio about 16 for 4x the batch);
* ``growth_exponent`` on exact power laws and each of its rejected inputs;
* ``seconds_per_call``: a positive float, ``fn`` called at least ``repeat`` times;
* ``quiet_native_stderr``: file descriptor 2 silenced inside the block, restored after it, even
  when the block raises;
* ``show_source``: a caption with the file, lines and link to the repository; the docstring as
  Markdown prose; the code without it; the same text wherever ``tools`` is installed;
  ``TypeError`` for non-code;
* ``SoftmaxClassifier.logits``/``predict``/``evaluate`` raise ``ValueError`` ("overflowed") instead
  of returning NaN for finite but huge inputs.
"""

from __future__ import annotations

import gc
import inspect
import os
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

import tools
from tools._repo import BRANCH, REPOSITORY_URL
from tools.notebook import source_markdown
from tools.benchmark import (
    PeakTensorMemory,
    growth_exponent,
    peak_tensor_bytes,
    seconds_per_call,
)
from tools.jacobian import ROUTES

F64 = torch.float64


# -- PeakTensorMemory ----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "numel, dtype",
    [
        (1000, torch.float64),
        (1000, torch.float32),
        (7, torch.int16),
        (1, torch.bool),
    ],
)
def test_known_allocation_counted_exactly_and_released(numel, dtype):
    with PeakTensorMemory() as mem:
        x = torch.zeros(numel, dtype=dtype)
        assert mem.current == mem.peak == numel * x.element_size()
        del x
        gc.collect()
        assert mem.current == 0
    assert mem.peak == numel * torch.empty(0, dtype=dtype).element_size()
    assert mem.current == 0


def test_two_live_tensors_add_up_and_release_one_at_a_time():
    with PeakTensorMemory() as mem:
        a = torch.zeros(1000, dtype=F64)
        b = torch.ones(500, dtype=F64)
        assert mem.current == 12000
        del a
        assert mem.current == 4000
        del b
    assert (mem.peak, mem.current) == (12000, 0)


VIEWS = {
    "T": lambda x: x.T,
    "slice": lambda x: x[:10],
    "column slice": lambda x: x[:, 1:3],
    "reshape": lambda x: x.reshape(-1),
    "view": lambda x: x.view(5, 40),
    "unsqueeze": lambda x: x[None],
    "expand": lambda x: x[:1].expand(30, 4),
    "detach": lambda x: x.detach(),
    "itself": lambda x: x,
}


@pytest.mark.parametrize("view", VIEWS.values(), ids=VIEWS.keys())
def test_views_of_pre_existing_tensor_cost_nothing(view):
    x = torch.randn(50, 4, dtype=F64)
    with PeakTensorMemory() as mem:
        v = view(x)
        assert v.untyped_storage().data_ptr() == x.untyped_storage().data_ptr()
        del v
    assert (mem.peak, mem.current) == (0, 0)


def test_in_place_ops_cost_nothing():
    x = torch.zeros(100, dtype=F64)
    with PeakTensorMemory() as mem:
        x.add_(1).mul_(2)
        x[:10] = 3.0
    assert mem.peak == 0


@pytest.mark.parametrize(
    "copy",
    [lambda x: x.T.reshape(-1), lambda x: x.T.flatten()],
    ids=["reshape", "flatten"],
)
def test_reshape_copy_of_non_contiguous_tensor_stays_counted_while_alive(copy):
    """reshape/flatten of a non-contiguous tensor run clone + _unsafe_view: the clone's storage lives on in the result."""
    x = torch.randn(50, 4, dtype=F64)
    with PeakTensorMemory() as mem:
        y = copy(x)  # not expressible as a view of x: a new 1600-byte storage
        z = torch.zeros(200, dtype=F64)
        assert (mem.current, mem.peak) == (3200, 3200), (
            "the live copy y is not counted"
        )
        del y, z
    assert mem.current == 0


def test_freed_temporary_raises_peak_above_final_current():
    x = torch.randn(1000, dtype=F64)
    with PeakTensorMemory() as mem:
        total = (
            x * 2
        ).sum()  # x * 2 is a temporary of 8000 bytes, freed at once
    assert mem.peak >= 8000 + total.untyped_storage().nbytes()
    assert mem.current == total.untyped_storage().nbytes() == 8
    assert mem.peak > mem.current


# -- peak_tensor_bytes scaling of the routes -------------------------------------------------------
def route_peak(route: str, m: int, n: int = 5, k: int = 3) -> int:
    g = torch.Generator().manual_seed(m)
    x = torch.randn(m, n, generator=g, dtype=F64)
    y = F.one_hot(torch.randint(k, (m,), generator=g), k).to(F64)
    s = torch.softmax(torch.randn(m, k, generator=g, dtype=F64), dim=1)
    return peak_tensor_bytes(lambda: ROUTES[route](x, y, s))


@pytest.mark.parametrize("route", ["closed-form", "block-jacobian"])
def test_linear_routes_peak_grows_linearly(route):
    small, large = route_peak(route, 256), route_peak(route, 2048)
    assert small > 0
    assert large / small == pytest.approx(8, rel=1e-3)


def test_full_route_peak_grows_quadratically():
    small, large = (
        route_peak("full-jacobian", 128),
        route_peak("full-jacobian", 512),
    )
    assert large / small == pytest.approx(16, rel=0.01)
    assert growth_exponent([128, 512], [small, large]) == pytest.approx(
        2, abs=0.01
    )


def test_peak_tensor_bytes_counts_the_result():
    assert peak_tensor_bytes(lambda: torch.empty(3, 5, dtype=F64)) == 120
    assert peak_tensor_bytes(lambda: None) == 0


def test_meta_tensors_and_plain_numbers_cost_nothing():
    """Meta tensors hold no data; an operator may return a plain number
    (``item``)."""
    with PeakTensorMemory() as mem:
        a = torch.zeros(1000, device="meta")
        b = a + 1
        number = torch.ones(3, dtype=F64).sum().item()
    assert (mem.peak, number) == (24 + 8, 3.0)  # ones(3) and its sum
    del a, b


# -- growth_exponent --------------------------------------------------------------------------------
@pytest.mark.parametrize("exponent", [1.0, 2.0, 0.5, 0.0, -1.0])
@pytest.mark.parametrize(
    "sizes",
    [[8, 16, 32, 64], [3, 1000], [1, 2.5, 7, 100, 1e4]],
    ids=["doubling", "two", "irregular"],
)
def test_growth_exponent_recovers_power_laws(exponent, sizes):
    costs = [3.7 * s**exponent for s in sizes]
    assert growth_exponent(sizes, costs) == pytest.approx(exponent, abs=1e-9)


@pytest.mark.parametrize(
    "sizes, costs, match",
    [
        ([1, 2, 3], [1, 2], r"same length"),
        ([1], [1], r">= 2"),
        ([], [], r">= 2"),
        ([0, 2], [1, 2], r"positive"),
        ([1, 2], [1, -2], r"positive"),
        ([1, 2], [0, 2], r"positive"),
        ([4, 4, 4], [1, 2, 3], r"must not all be equal"),
    ],
    ids=[
        "length",
        "one point",
        "empty",
        "zero size",
        "negative cost",
        "zero cost",
        "equal sizes",
    ],
)
def test_growth_exponent_rejects(sizes, costs, match):
    with pytest.raises(ValueError, match=match):
        growth_exponent(sizes, costs)


# -- seconds_per_call -------------------------------------------------------------------------------
@pytest.mark.parametrize("repeat", [1, 3])
def test_seconds_per_call_is_positive_and_calls_fn_enough(repeat):
    calls = []
    t = seconds_per_call(
        lambda: calls.append(sum(range(200))), repeat=repeat, min_time=0.002
    )
    assert isinstance(t, float) and 0 < t < 0.002
    assert (
        len(calls) >= repeat + 1
    )  # the warm-up call and at least one per round


@pytest.mark.parametrize(
    "sizes, costs, message",
    [
        (
            [1, 2, 3],
            [1, 2],
            "sizes and costs must have the same length >= 2, got 3 and 2",
        ),
        (
            [0, 2],
            [1, 2],
            "sizes and costs must be positive to take logarithms",
        ),
        ([4, 4], [1, 2], "sizes must not all be equal"),
    ],
    ids=["length", "positive", "equal"],
)
def test_growth_exponent_messages_in_full(sizes, costs, message):
    with pytest.raises(ValueError) as info:
        growth_exponent(sizes, costs)
    assert str(info.value) == message


def test_growth_exponent_is_accurate_for_sizes_close_together():
    """Centred sums keep the slope exact to 1e-9 even when the log sizes
    differ by 1e-4 only (an uncentred sum loses about 1e-6 here)."""
    sizes = [10_000, 10_001, 10_002, 10_003]
    costs = [3 * s**2 for s in sizes]
    assert growth_exponent(sizes, costs) == pytest.approx(2.0, abs=1e-9)


class FakeClock:
    """Stands for ``time``: each call of ``fn`` advances ``perf_counter`` by
    ``step(k)`` seconds, k = 0, 1, ... the call's index."""

    def __init__(self, step):
        self.now, self.calls, self.step = 0.0, 0, step

    def perf_counter(self) -> float:
        return self.now

    def fn(self) -> None:
        self.now += self.step(self.calls)
        self.calls += 1


def test_seconds_per_call_doubles_the_calls_until_a_round_lasts_min_time(
    monkeypatch,
):
    """Calls of 1/64 s: rounds of 1, 2, 4 calls (4/64 s >= 0.05 s), then 4
    more rounds of 4: 1 warm-up + 7 + 16 = 24 calls, and 1/64 s each."""
    clock = FakeClock(lambda k: 1 / 64)
    monkeypatch.setattr(tools.benchmark, "time", clock)
    assert seconds_per_call(clock.fn) == 1 / 64
    assert clock.calls == 24


def test_seconds_per_call_stops_doubling_at_exactly_min_time(monkeypatch):
    clock = FakeClock(lambda k: 1 / 64)
    monkeypatch.setattr(tools.benchmark, "time", clock)
    assert seconds_per_call(clock.fn, repeat=2, min_time=4 / 64) == 1 / 64
    assert clock.calls == 1 + (1 + 2 + 4) + 4  # a 4/64 s round is enough


def test_seconds_per_call_keeps_the_fastest_round(monkeypatch):
    """The first 4 calls (warm-up, rounds of 1 and 2) take 2/64 s, the rest
    1/64 s: the later rounds give the best time per call."""
    clock = FakeClock(lambda k: 2 / 64 if k < 4 else 1 / 64)
    monkeypatch.setattr(tools.benchmark, "time", clock)
    assert seconds_per_call(clock.fn, repeat=3) == 1 / 64
    assert clock.calls == 1 + (1 + 2) + 2 * 2


# -- quiet_native_stderr ----------------------------------------------------------------------------
def test_quiet_native_stderr_silences_fd2_only_inside(capfd):
    os.write(2, b"before\n")
    with tools.quiet_native_stderr():
        os.write(2, b"noise\n")
    os.write(2, b"after\n")
    assert capfd.readouterr().err == "before\nafter\n"


def test_quiet_native_stderr_restores_fd2_when_the_block_raises(capfd):
    target = os.fstat(2)
    with pytest.raises(RuntimeError, match="boom"):
        with tools.quiet_native_stderr():
            os.write(2, b"noise\n")
            raise RuntimeError("boom")
    restored = os.fstat(2)
    assert (restored.st_dev, restored.st_ino) == (target.st_dev, target.st_ino)
    os.write(2, b"after\n")
    assert capfd.readouterr().err == "after\n"


def test_quiet_native_stderr_leaks_no_descriptor():
    before = (
        len(os.listdir("/proc/self/fd"))
        if os.path.isdir("/proc/self/fd")
        else None
    )
    for _ in range(5):
        with tools.quiet_native_stderr():
            pass
    if before is not None:
        assert len(os.listdir("/proc/self/fd")) == before


# -- show_source ------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "obj, name",
    [
        (tools.softmax, "def softmax"),
        (tools.SoftmaxClassifier.logits, "def logits"),  # a method: dedented
        (tools.EpochLog, "class EpochLog"),  # a decorated class
    ],
)
def test_show_source_returns_python_markdown(obj, name):
    pytest.importorskip("IPython")
    data = tools.show_source(obj).data
    assert data == source_markdown(obj)
    code = data.split("```python\n", 1)[1]
    assert code.endswith("\n```")
    assert code.startswith((name, "@"))
    assert name in code


def _code_block(markdown: str) -> str:
    return markdown.split("```python\n", 1)[1].rsplit("\n```", 1)[0]


@pytest.mark.parametrize(
    "obj",
    [
        tools.softmax,
        tools.SoftmaxClassifier.gradients,
        tools.training_loop,
        tools.EpochLog,
    ],
)
def test_show_source_caption_names_file_lines_and_links_them(obj):
    lines, first = inspect.getsourcelines(obj)
    last = first + len(lines) - 1
    # getsourcelines unwraps a decorated function, getsourcefile does not: the
    # module's own name gives the file (also under a wrapping decorator).
    relative = obj.__module__.replace(".", "/") + ".py"
    caption = source_markdown(obj).split("\n", 1)[0]
    assert caption == (
        f"**`{obj.__qualname__}`** · [{relative}, lines {first}–{last}]"
        f"({REPOSITORY_URL}/blob/{BRANCH}/{relative}#L{first}-L{last})"
    )


def test_show_source_is_the_same_wherever_tools_lives():
    """No absolute path: only the path inside the package appears."""
    text = source_markdown(tools.softmax)
    assert str(Path(tools.__file__).parent) not in text
    assert "tools/functional.py" in text


def test_show_source_shows_the_docstring_as_prose_and_code_without_it():
    text = source_markdown(tools.SoftmaxClassifier.gradients)
    prose, code = text.split("```python\n", 1)
    assert '"""' not in code and "(X^T dL/dZ, 1^T dL/dZ)" not in code
    assert "`(dL/dW, dL/db) = (X^T dL/dZ, 1^T dL/dZ)`." in prose
    assert "``" not in prose and ":mod:" not in prose
    assert "`tools.jacobian`" in prose  # was :mod:`tools.jacobian`
    # code lines follow each other as in the file, the docstring's lines cut
    assert (
        code.startswith("def gradients(")
        and "x, y_true = self._check_data" in code
    )


def test_show_source_turns_doctests_and_literal_blocks_into_code_blocks():
    softmax = source_markdown(tools.softmax)
    assert "```pycon\n>>> z = [[1.0, 2.0, 3.0]" in softmax
    doc = tools.notebook._doc_markdown(
        "Summary with ``code`` and :func:`f`.\n\nThe model::\n\n    Z = X W + b\n\nAfter."
    )
    assert (
        doc
        == "Summary with `code` and `f`.\n\nThe model:\n\n```text\nZ = X W + b\n```\n\nAfter."
    )


def test_show_source_without_docstring_shows_caption_and_code_only():
    text = source_markdown(tools.SoftmaxClassifier._step)
    caption, rest = text.split("\n\n", 1)
    assert caption.startswith(
        "**`SoftmaxClassifier._step`** · [tools/softmax_classifier.py"
    )
    assert rest.startswith("```python\ndef _step(")


@pytest.mark.parametrize(
    "module",
    [
        "functional",
        "jacobian",
        "training",
        "softmax_classifier",
        "linear_models",
        "benchmark",
        "notebook",
    ],
)
def test_shown_code_fits_the_column(module):
    """Every public function and method, as show_source prints it, fits 79 columns."""
    mod = __import__(f"tools.{module}", fromlist=["_"])
    for name, obj in vars(mod).items():
        if getattr(obj, "__module__", None) != mod.__name__ or not callable(
            obj
        ):
            continue
        long = [
            line
            for line in _code_block(source_markdown(obj)).splitlines()
            if len(line) > 79
        ]
        assert long == [], f"{module}.{name}: {long}"


@pytest.mark.parametrize("obj", [42, "softmax", len, None])
def test_show_source_rejects_non_code(obj):
    pytest.importorskip("IPython")
    with pytest.raises(
        TypeError, match=r"obj must be a function, method or class"
    ):
        tools.show_source(obj)


# -- show_source on functions of this module ---------------------------------
# mutmut rewrites tools/ (a decorator on each function, a copy per mutant), so
# the exact text that show_source makes is checked on functions defined here.
def _sample_documented(x):
    """Add one.

    A second paragraph that runs
    over two lines, with ``code`` and :func:`f`.

    The rule::

        y = x + 1

    >>> _sample_documented(1)
    2

    After the example, a quote:

        indented, but no literal block

        >>> 1 + 1
        2
    """

    y = x + 1
    return y


def _sample_tight(x):
    """One line."""
    return x


def _sample_spaced(x):
    """Spaced."""

    return x


def _sample_doc_then_comment():
    """Only a docstring, then a comment."""

    # the blank line after the docstring goes with it


def _sample_plain(x):
    y = x + 1
    return y


def _sample_stub(): ...


def _sample_call():
    print("hi")


class _SampleDocOnly:
    """Only a docstring."""


_sample_lambda = lambda x: x + 1  # noqa: E731


def test_source_markdown_of_a_documented_function_in_full():
    assert source_markdown(_sample_documented) == (
        "**`_sample_documented`**\n\n"
        "Add one.\n\n"
        "A second paragraph that runs over two lines, with `code` and "
        "`f`.\n\n"
        "The rule:\n\n"
        "```text\ny = x + 1\n```\n\n"
        "```pycon\n>>> _sample_documented(1)\n2\n```\n\n"
        "After the example, a quote:\n\n"
        "indented, but no literal block\n\n"
        "```pycon\n>>> 1 + 1\n2\n```\n\n"
        "```python\ndef _sample_documented(x):\n    y = x + 1\n"
        "    return y\n```"
    )


@pytest.mark.parametrize(
    "obj, shown",
    [
        (
            _sample_tight,
            "One line.\n\n```python\ndef _sample_tight(x):\n    return x\n```",
        ),
        (
            _sample_spaced,
            "Spaced.\n\n```python\ndef _sample_spaced(x):\n    return x\n```",
        ),
        (
            _sample_doc_then_comment,
            "Only a docstring, then a comment.\n\n"
            "```python\ndef _sample_doc_then_comment():\n"
            "    # the blank line after the docstring goes with it\n```",
        ),
        (
            _sample_plain,
            "```python\ndef _sample_plain(x):\n    y = x + 1\n"
            "    return y\n```",
        ),
        (_sample_stub, "```python\ndef _sample_stub(): ...\n```"),
        (_sample_call, '```python\ndef _sample_call():\n    print("hi")\n```'),
        (
            _SampleDocOnly,
            "Only a docstring.\n\n```python\nclass _SampleDocOnly:\n```",
        ),
        (
            _sample_lambda,
            "```python\n_sample_lambda = lambda x: x + 1  # noqa: E731\n```",
        ),
    ],
    ids=[
        "tight",
        "spaced",
        "doc+comment",
        "plain",
        "stub",
        "call",
        "doc only",
        "lambda",
    ],
)
def test_source_markdown_with_and_without_docstring(obj, shown):
    caption = f"**`{obj.__qualname__}`**\n\n"
    assert source_markdown(obj) == caption + shown


def test_doc_markdown_takes_tab_indented_literal_blocks():
    doc = tools.notebook._doc_markdown("The rule::\n\n\ty = x + 1")
    assert doc == "The rule:\n\n```text\ny = x + 1\n```"


def test_source_markdown_refuses_a_module_and_names_what_it_got():
    """A module has source lines, but no one lesson to show."""
    with pytest.raises(TypeError, match=r"^obj must be a function, method"):
        source_markdown(tools.metrics)
    with pytest.raises(TypeError) as info:
        source_markdown(42)
    assert str(info.value) == (
        "obj must be a function, method or class defined in a .py file, got 42"
    )


def test_use_book_style_sets_the_book_figure_settings():
    import matplotlib

    expected = {
        "figure.facecolor": "white",
        "savefig.facecolor": "white",
        "savefig.pad_inches": 0.3,
        "font.size": 11.0,
        "axes.titlesize": 12.0,
        "axes.labelsize": 11.0,
        "xtick.labelsize": 10.0,
        "ytick.labelsize": 10.0,
        "legend.fontsize": 10.0,
    }
    with matplotlib.rc_context():
        matplotlib.rcParams.update(  # anything else first
            {k: "black" if "color" in k else 7 for k in expected}
        )
        tools.use_book_style()
        assert {key: matplotlib.rcParams[key] for key in expected} == expected


# -- logits overflow --------------------------------------------------------------------------------
@pytest.fixture
def overflowing():
    """W = 1 and inputs of 1e308 in float64: each logit sums three of them, beyond the largest float64."""
    model = tools.SoftmaxClassifier(3, 2, dtype=F64, seed=0)
    model.w, model.b = torch.ones(3, 2, dtype=F64), torch.zeros(2, dtype=F64)
    x = torch.full((4, 3), 1e308, dtype=F64)
    assert bool(torch.isfinite(x).all())
    return model, x, F.one_hot(torch.tensor([0, 1, 0, 1]), 2).to(F64)


CALLS = {
    "logits": lambda model, x, y: model.logits(x),
    "predict": lambda model, x, y: model.predict(x),
    "evaluate": lambda model, x, y: model.evaluate(x, y),
    "fit": lambda model, x, y: model.fit(x, y, 1, 0.1, 2, verbose=False),
    "negative x": lambda model, x, y: model.predict(-x),
}


@pytest.mark.parametrize("call", CALLS.values(), ids=CALLS.keys())
def test_overflowing_logits_raise_instead_of_nan(overflowing, call):
    model, x, y = overflowing
    w = model.w.clone()
    with pytest.raises(ValueError, match=r"overflowed torch\.float64") as info:
        call(model, x, y)
    assert "1e+308" in str(info.value)
    assert str(info.value).startswith("the logits x @ w + b overflowed")
    assert torch.equal(model.w, w)


def test_large_but_representable_logits_pass():
    model = tools.SoftmaxClassifier(3, 2, dtype=F64, seed=0)
    model.w, model.b = torch.ones(3, 2, dtype=F64), torch.zeros(2, dtype=F64)
    p = model.predict(torch.full((2, 3), 1e307, dtype=F64))
    assert bool(torch.isfinite(p).all()) and torch.equal(
        p, torch.full((2, 2), 0.5, dtype=F64)
    )


LAMBDAS = '''\
import functools

on_a_continuation_line = functools.partial(print,
                                           lambda x: x + 1)
h = [1, 2,
     3]; after_a_semicolon = lambda z: z  # noqa: E702, E731


def inside():
    return sorted([3, 1],
                  key=lambda v: -v)
'''


@pytest.fixture
def lambdas(tmp_path, monkeypatch):
    """A module whose lambdas start in the middle of a statement."""
    (tmp_path / "idl_lambdas.py").write_text(LAMBDAS, encoding="utf-8")
    monkeypatch.syspath_prepend(str(tmp_path))
    import importlib

    return importlib.import_module("idl_lambdas")


def test_show_source_of_a_lambda_shows_the_whole_statement(lambdas):
    """The lambda's own lines ("lambda x: x + 1)") are no Python: that was a
    SyntaxError. The statement that holds it is shown instead."""
    text = source_markdown(lambdas.on_a_continuation_line.args[0])
    assert text == (
        "**`<lambda>`**\n\n```python\n"
        "on_a_continuation_line = functools.partial(print,\n"
        "                                           lambda x: x + 1)\n```"
    )
    text = source_markdown(lambdas.after_a_semicolon)
    assert _code_block(text) == (
        "h = [1, 2,\n"
        "     3]; after_a_semicolon = lambda z: z  # noqa: E702, E731"
    )
    key = lambdas.inside.__code__.co_consts
    key = next(c for c in key if inspect.iscode(c))
    fn = type(lambdas.inside)(key, vars(lambdas))
    assert _code_block(source_markdown(fn)) == (
        "return sorted([3, 1],\n              key=lambda v: -v)"
    )
