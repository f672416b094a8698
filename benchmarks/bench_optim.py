"""One optimiser step: the scratch optimisers of ``tools.optim`` against
``torch.optim``.

Each scratch optimiser of chapter 5 (SGD with momentum, Nesterov, AdaGrad,
RMSProp plain and centred, Adam, AMSGrad, AdamW) updates the parameters
of a model of about a million float64 numbers in four tensors (the
weights and biases of a 1,024-768-320 MLP). The same update is made by

* ``torch.optim`` with ``foreach=False``: its for-loop implementation,
  one tensor at a time;
* ``torch.optim`` as constructed by default (no ``foreach``/``fused``
  argument), what a learner gets; on the CPU PyTorch chooses the
  for-loop, so the two columns time the same code;
* ``torch.optim`` with ``foreach=True`` (multi-tensor operations) and,
  where PyTorch has one for the CPU, ``fused=True`` (one kernel per
  tensor): not PyTorch's default here, shown for comparison.

The column "of which checks" times what the scratch ``step`` does before
it changes anything (``_check_grads``, ``_check_hyper``,
``_checked_state``: the gradients and the state it keeps are read once
each, for NaN and infinities) on its own.

Each one keeps its own copy of the parameters and its own state; all
read the same fixed gradients (``p.grad`` for PyTorch, ``step(grads)``
for scratch). After a few warm-up steps (the state is created at the
first), every round times ``STEPS`` consecutive steps of each
implementation, in an order that rotates from round to round, and the
median over the rounds of the time per step is kept. One thread
(``torch.set_num_threads(1)``).

It prints a Markdown table and, unless ``--quick``, writes
``content/appendix/bench-optim-table.txt`` (included by
``content/appendix/benchmarks.md``). ``make bench`` runs it after
``bench_training.py``.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch

import tools

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_training import load_average, machine  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "content" / "appendix"
F64 = torch.float64
SHAPES = [(1024, 768), (768,), (768, 320), (320,)]
STEPS = 10  # steps per timed sample


@dataclass
class Config:
    """One optimiser setting: the scratch class and ``torch.optim``'s,
    with the same keyword arguments (``lr`` included)."""

    name: str
    scratch: type
    reference: type
    kwargs: dict
    fused: bool  # does PyTorch have a fused CPU kernel for it?


CONFIGS = [
    Config("SGD, momentum 0.9", tools.SGD, torch.optim.SGD,
           {"lr": 0.01, "momentum": 0.9}, True),
    Config("SGD, Nesterov", tools.SGD, torch.optim.SGD,
           {"lr": 0.01, "momentum": 0.9, "nesterov": True}, True),
    Config("AdaGrad", tools.Adagrad, torch.optim.Adagrad,
           {"lr": 0.01}, True),
    Config("RMSProp", tools.RMSprop, torch.optim.RMSprop,
           {"lr": 0.001}, False),
    Config("RMSProp, centred", tools.RMSprop, torch.optim.RMSprop,
           {"lr": 0.001, "centered": True}, False),
    Config("Adam", tools.Adam, torch.optim.Adam, {"lr": 0.001}, True),
    Config("AMSGrad", tools.Adam, torch.optim.Adam,
           {"lr": 0.001, "amsgrad": True}, True),
    Config("AdamW", tools.AdamW, torch.optim.AdamW,
           {"lr": 0.001, "weight_decay": 0.01}, True),
]  # fmt: skip

IMPLEMENTATIONS = [
    "scratch",
    "checks",
    "for-loop",
    "default",
    "foreach",
    "fused",
]


def make_tensors(seed: int) -> list[torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return [torch.randn(s, generator=g, dtype=F64) * 0.05 for s in SHAPES]


@dataclass
class Runner:
    """One implementation: its ``step``, its own parameters and its own
    gradients (a copy of the common ones; PyTorch's multi-tensor Nesterov
    adds the momentum term into ``p.grad`` in place, so a shared gradient
    would change under the others)."""

    step: Callable[[], None]
    params: list[torch.Tensor]
    grads: list[torch.Tensor]

    def reset_grads(self, grads: list[torch.Tensor]) -> None:
        for mine, common in zip(self.grads, grads):
            mine.copy_(common)


def runners(config: Config, grads: list[torch.Tensor]) -> dict[str, Runner]:
    """A :class:`Runner` per implementation, from the same starting
    parameters, each with fresh state."""
    params, mine = make_tensors(1), [g.clone() for g in grads]
    opt = config.scratch(params, **config.kwargs)
    out = {"scratch": Runner(lambda: opt.step(mine), params, mine)}

    def checks() -> None:  # what step checks before it changes anything
        opt._check_grads(mine)
        opt._check_hyper()
        opt._checked_state()

    out["checks"] = Runner(checks, params, mine)
    extra = {
        "for-loop": {"foreach": False},
        "default": {},
        "foreach": {"foreach": True},
    }
    if config.fused:
        extra["fused"] = {"fused": True}
    for label, kw in extra.items():
        ps = [p.requires_grad_() for p in make_tensors(1)]
        for p, g in zip(ps, grads):
            p.grad = g.clone()
        ref = config.reference(ps, **config.kwargs, **kw)
        out[label] = Runner(ref.step, ps, [p.grad for p in ps])
    return out


def sample(runner: Runner, grads: list[torch.Tensor], steps: int) -> float:
    """Seconds per step over ``steps`` steps from the common gradients:
    CPU time of this process (``time.process_time``; one thread), which
    leaves out the time other processes held the core."""
    runner.reset_grads(grads)
    start = time.process_time()
    for _ in range(steps):
        runner.step()
    return (time.process_time() - start) / steps


def time_config(
    config: Config, rounds: int, steps: int
) -> tuple[dict[str, float], float]:
    """Median seconds per step of each implementation, and the largest
    difference of any implementation's parameters from scratch's after
    two warm-up steps (they must make the same update for the times to
    compare like with like)."""
    grads = make_tensors(2)
    runs = runners(config, grads)
    for label, run in runs.items():  # warm-up: the state, the allocator
        if label != "checks":
            sample(run, grads, 1)
            sample(run, grads, 1)
    ours = runs["scratch"].params
    gap = max(
        float((a - b.detach()).abs().max())
        for label, run in runs.items()
        if label != "checks"
        for a, b in zip(ours, run.params)
    )
    labels = list(runs)
    times: dict[str, list[float]] = {k: [] for k in labels}
    for r in range(rounds):
        k = r % len(labels)
        for label in labels[k:] + labels[:k]:
            times[label].append(sample(runs[label], grads, steps))
    return {k: statistics.median(t) for k, t in times.items()}, gap


def table(results: dict[str, dict[str, float]]) -> str:
    head = (
        "| optimiser | scratch | of which checks | for-loop | default "
        "| foreach | fused | scratch / for-loop | scratch / default "
        "| (scratch - checks) / for-loop |"
    )
    lines = [head, "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for name, t in results.items():
        cells = [
            f"{t[k] * 1e3:.2f}" if k in t else "—" for k in IMPLEMENTATIONS
        ]
        lines.append(
            f"| {name} | "
            + " | ".join(cells)
            + f" | {t['scratch'] / t['for-loop']:.2f}"
            + f" | {t['scratch'] / t['default']:.2f}"
            + f" | {(t['scratch'] - t['checks']) / t['for-loop']:.2f} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument(
        "--quick", action="store_true", help="5 rounds, writes nothing"
    )
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args(argv)
    rounds, out = args.rounds, args.out or OUT
    if args.quick:
        rounds, out = 5, args.out
    n = sum(torch.Size(s).numel() for s in SHAPES)
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    started = time.perf_counter()
    load_at_start = load_average()
    results: dict[str, dict[str, float]] = {}
    try:
        for config in CONFIGS:
            t, gap = time_config(config, rounds, STEPS)
            if gap > 1e-12:
                raise AssertionError(
                    f"{config.name}: scratch and torch.optim differ by "
                    f"{gap:.3g} after 2 steps"
                )
            results[config.name] = t
            print(
                f"{config.name:>18}: "
                + "  ".join(f"{k} {v * 1e3:6.2f} ms" for k, v in t.items()),
                file=sys.stderr,
            )
    finally:
        torch.set_num_threads(previous)
    text = table(results)
    where = machine(load_at_start)
    print(f"\n{text}\n\n{where}; {time.perf_counter() - started:.0f} s")
    if out is not None:
        path = out / "bench-optim-table.txt"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(
            f"Measured on {where}; 1 thread; {n:,} float64 parameters "
            f"in {len(SHAPES)} tensors {', '.join(map(str, SHAPES))}; "
            f"median over {rounds} rounds of {STEPS} steps each.\n\n"
            "**Time per step** (milliseconds; CPU time) and ratios:"
            f"\n\n{text}\n"
        )
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
