"""One step of each scratch optimiser against the same ``torch.optim`` step.

About a million float64 parameters (a 1000 x 1000 weight and a bias of
1000) on the CPU, one thread. For each optimiser the script times
``opt.step(grads)`` of ``tools`` and ``topt.step()`` of ``torch.optim``
with ``foreach=False`` (the for-loop implementation, PyTorch's default on
the CPU) and with ``foreach=True``, in interleaved rounds (the order
rotates from round to round), and keeps the median of each. The scratch
step includes its checks (every gradient's shape, dtype, device and
finiteness).

It prints a Markdown table and, unless ``--quick``, writes it to
``content/appendix/bench-optim-table.txt`` (included by the benchmarks
appendix). Run it with ``make bench`` or
``python benchmarks/bench_optim.py``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import statistics
import sys
from pathlib import Path

import torch

import tools
from tools.benchmark import seconds_per_call

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "content" / "appendix" / "bench-optim-table.txt"
F64 = torch.float64

CASES = [
    ("SGD", dict(lr=0.01, momentum=0.9)),
    ("Adagrad", dict(lr=0.01)),
    ("RMSprop", dict(lr=0.01)),
    ("Adam", dict(lr=0.001)),
    ("AdamW", dict(lr=0.001)),
]


def params(seed: int) -> list[torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return [
        torch.randn(1000, 1000, generator=g, dtype=F64),
        torch.randn(1000, generator=g, dtype=F64),
    ]


def contenders(name: str, kw: dict) -> dict:
    """Each contender's one-step function, after one warm-up step (so the
    state exists and every later step does the same work)."""
    grads = [1e-3 * t for t in params(1)]
    mine = params(0)
    opt = getattr(tools, name)(mine, **kw)
    opt.step(grads)
    out = {"tools": lambda: opt.step(grads)}
    for label, foreach in (("torch for-loop", False), ("torch foreach", True)):
        theirs = [torch.nn.Parameter(p) for p in params(0)]
        topt = getattr(torch.optim, name)(theirs, foreach=foreach, **kw)
        for p, g in zip(theirs, grads):
            p.grad = g.clone()
        topt.step()
        out[label] = topt.step
    return out


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    rounds = 3 if args.quick else 9
    lines = [
        "| optimiser | tools step | torch for-loop | torch foreach "
        "| tools / for-loop |",
        "| --- | ---: | ---: | ---: | ---: |",
    ]
    for name, kw in CASES:
        steps = contenders(name, kw)
        names = list(steps)
        times: dict[str, list[float]] = {n: [] for n in names}
        for r in range(rounds):
            order = names[r % 3 :] + names[: r % 3]
            for n in order:
                times[n].append(
                    seconds_per_call(steps[n], repeat=3, min_time=0.05)
                )
        med = {n: statistics.median(t) * 1e3 for n, t in times.items()}
        ratio = med["tools"] / med["torch for-loop"]
        lines.append(
            f"| {name} {kw} | {med['tools']:.2f} ms "
            f"| {med['torch for-loop']:.2f} ms "
            f"| {med['torch foreach']:.2f} ms | {ratio:.2f} |"
        )
        print(lines[-1], flush=True)
    load = os.getloadavg()[0]
    lines.append("")
    lines.append(
        f"Median of {rounds} interleaved rounds, one thread, float64, "
        f"PyTorch {torch.__version__}, {os.cpu_count()} cores seen, "
        f"load average {load:.1f} at the end, {dt.date.today()}."
    )
    table = "\n".join(lines) + "\n"
    print(table)
    if not args.quick:
        OUT.write_text(table)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
