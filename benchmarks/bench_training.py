"""Per-step cost of the scratch models' ``fit`` against ``tools.fit_torch``.

For each scratch model of the book (a registry below: add one entry per
model), each batch size and each thread count, the script times whole
``fit`` calls of one epoch on ``steps`` minibatches, scratch and PyTorch
alternately (scratch first in even rounds, PyTorch first in odd ones), and
keeps the median over the rounds. Per step means: the wall time of the
call divided by its number of minibatches, so the checks at the entry of
``fit`` and the end-of-epoch loss are included, as a learner meets them.
float64 on the CPU throughout.

It prints a Markdown table of the ratios and writes

* ``content/appendix/bench-training-table.txt``: the tables (Markdown),
  included by ``content/appendix/benchmarks.md``;
* ``content/appendix/figures/bench-training.png``: time per step against
  batch size, log-log, one panel per thread count.

Run it with ``make bench`` (about 2-4 minutes), or
``python benchmarks/bench_training.py --quick`` for a smoke run that writes
nothing unless ``--out`` is given.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch

import tools

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "content" / "appendix"
F64 = torch.float64
N_FEATURES, N_OUTPUTS, N_HIDDEN = 16, 4, 32
BATCHES = [32, 128, 512, 1024, 4096, 16384, 65536]


# -- the models ------------------------------------------------------------
@dataclass
class Entry:
    """One scratch model and its PyTorch twin, trained on the same data.

    ``scratch(seed)`` returns an object with the book's ``fit``;
    ``torch_model(seed)`` returns ``(nn.Module, loss_fn)`` for
    ``tools.fit_torch``; ``task`` is ``"classify"`` (one-hot targets) or
    ``"regress"``; ``fit_kwargs`` go to the scratch ``fit`` only.
    """

    name: str
    task: str
    scratch: Callable[[int], object]
    torch_model: Callable[[int], tuple[torch.nn.Module, torch.nn.Module]]
    fit_kwargs: dict | None = None


def _linear(seed: int) -> torch.nn.Module:
    torch.manual_seed(seed)
    return torch.nn.Linear(N_FEATURES, N_OUTPUTS, dtype=F64)


def _mlp_torch(seed: int) -> tuple[torch.nn.Module, torch.nn.Module]:
    torch.manual_seed(seed)
    net = torch.nn.Sequential(
        torch.nn.Linear(N_FEATURES, N_HIDDEN, dtype=F64),
        torch.nn.ReLU(),
        torch.nn.Linear(N_HIDDEN, N_OUTPUTS, dtype=F64),
    )
    return net, torch.nn.MSELoss()


def _mlp_scratch(seed: int) -> object:
    """Chapter 3's ``tools.Sequential``, as far as its API is known here."""
    torch.manual_seed(seed)
    layers = []
    for shape in ((N_FEATURES, N_HIDDEN), None, (N_HIDDEN, N_OUTPUTS)):
        if shape is None:
            layers.append(tools.ReLU())
            continue
        try:
            layers.append(tools.Linear(*shape, dtype=F64, seed=seed))
        except TypeError:
            layers.append(tools.Linear(*shape, dtype=F64))
    return tools.Sequential(*layers)


REGISTRY: list[Entry] = [
    Entry(
        "softmax classifier",
        "classify",
        lambda seed: tools.SoftmaxClassifier(
            N_FEATURES, N_OUTPUTS, dtype=F64, seed=seed
        ),
        lambda seed: (_linear(seed), torch.nn.CrossEntropyLoss()),
    ),
    Entry(
        "linear regression",
        "regress",
        lambda seed: tools.LinearRegression(
            N_FEATURES, N_OUTPUTS, dtype=F64, seed=seed
        ),
        lambda seed: (_linear(seed), torch.nn.MSELoss()),
    ),
]
if hasattr(tools, "Sequential"):  # chapter 3's MLP, once it exists
    REGISTRY.append(
        Entry(
            "MLP (16-32-4, ReLU)",
            "regress",
            _mlp_scratch,
            _mlp_torch,
            {"loss": tools.MSELoss()} if hasattr(tools, "MSELoss") else {},
        )
    )


# -- data and timing ---------------------------------------------------------
def make_data(task: str, m: int) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    x = torch.randn(m, N_FEATURES, generator=g, dtype=F64)
    w = torch.randn(N_FEATURES, N_OUTPUTS, generator=g, dtype=F64) / 4
    z = x @ w + 0.1 * torch.randn(m, N_OUTPUTS, generator=g, dtype=F64)
    if task == "classify":
        eye = torch.eye(N_OUTPUTS, dtype=F64)
        return x, eye[z.argmax(dim=1)]
    return x, z


def rows_for(batch: int, min_steps: int, min_rows: int) -> int:
    """Enough rows for ``min_steps`` steps and ``min_rows`` in all."""
    return batch * max(min_steps, -(-min_rows // batch))


def time_pair(
    entry: Entry, batch: int, x, y, rounds: int, lr: float = 0.01
) -> tuple[float, float]:
    """Median seconds per step of scratch ``fit`` and of ``fit_torch``."""
    steps = -(-x.shape[0] // batch)
    kwargs = entry.fit_kwargs or {}

    def scratch() -> float:
        model = entry.scratch(0)
        start = time.perf_counter()
        model.fit(x, y, 1, lr, batch, verbose=False, **kwargs)
        return time.perf_counter() - start

    def reference() -> float:
        module, loss_fn = entry.torch_model(0)
        start = time.perf_counter()
        tools.fit_torch(
            module, x, y, 1, lr, batch, loss_fn=loss_fn, verbose=False
        )
        return time.perf_counter() - start

    scratch(), reference()  # warm-up: allocator, kernels, lazy imports
    ours, theirs = [], []
    for r in range(rounds):
        if r % 2 == 0:
            ours.append(scratch())
            theirs.append(reference())
        else:
            theirs.append(reference())
            ours.append(scratch())
    return statistics.median(ours) / steps, statistics.median(theirs) / steps


def mlp_products(x: torch.Tensor, batch: int) -> Callable[[], None]:
    """One epoch of the MLP's matrix products and nothing else.

    Per step: the two forward products, ``dW2``, ``dL/dA`` and ``dW1``;
    per epoch: the two forward products over the whole training set (the
    loss after the epoch). Any implementation that computes these products
    in these layouts spends at least this long, whatever it does around
    them: it is the floor under the scratch MLP's time per step.
    """
    w1 = torch.randn(N_FEATURES, N_HIDDEN, dtype=F64)
    w2 = torch.randn(N_HIDDEN, N_OUTPUTS, dtype=F64)
    b1, b2 = (
        torch.zeros(N_HIDDEN, dtype=F64),
        torch.zeros(N_OUTPUTS, dtype=F64),
    )

    def epoch() -> None:
        for s in tools.minibatches(x.shape[0], batch):
            a = torch.addmm(b1, x[s], w1)
            g = torch.addmm(b2, a, w2)
            torch.mm(g.T, a), torch.mm(torch.mm(g, w2.T).T, x[s])
        torch.addmm(b2, torch.addmm(b1, x, w1), w2)

    return epoch


def time_floor(x: torch.Tensor, batch: int, rounds: int) -> float:
    """Median seconds per step of :func:`mlp_products`."""
    epoch, steps = mlp_products(x, batch), -(-x.shape[0] // batch)
    epoch()
    times = []
    for _ in range(rounds):
        start = time.perf_counter()
        epoch()
        times.append(time.perf_counter() - start)
    return statistics.median(times) / steps


def machine() -> str:
    cpu = platform.processor() or "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    load = ""
    if hasattr(os, "getloadavg"):  # other work on the machine skews times
        load = f"; load average {os.getloadavg()[0]:.1f} at the end"
    return (
        f"{cpu}, {os.cpu_count()} cores seen by Linux; PyTorch "
        f"{torch.__version__}, Python {platform.python_version()}; "
        f"{dt.date.today().isoformat()}{load}"
    )


# -- output ------------------------------------------------------------------
def ratio_table(results: dict, names: list[str], threads: list[int]) -> str:
    cols = [(n, t) for t in threads for n in names]
    head = "| batch | " + " | ".join(
        f"{n}, {t} thread{'s' if t > 1 else ''}" for n, t in cols
    )
    lines = [head + " |", "|" + "---:|" * (len(cols) + 1)]
    for b in sorted({k[2] for k in results}):
        cells = []
        for n, t in cols:
            ours, theirs = results[(n, t, b)]
            cells.append(f"{ours / theirs:.2f}")
        lines.append(f"| {b:,} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def floor_table(floors: dict[int, float]) -> str:
    lines = ["| batch | MLP products alone / fit_torch |", "|---:|---:|"]
    lines += [f"| {b:,} | {r:.2f} |" for b, r in sorted(floors.items())]
    return "\n".join(lines)


def times_table(results: dict) -> str:
    head = "| model | threads | batch | scratch µs/step | PyTorch µs/step "
    lines = [head + "| ratio |", "|---|---:|---:|---:|---:|---:|"]
    for (n, t, b), (ours, theirs) in results.items():
        lines.append(
            f"| {n} | {t} | {b:,} | {ours * 1e6:,.1f} | {theirs * 1e6:,.1f} "
            f"| {ours / theirs:.2f} |"
        )
    return "\n".join(lines)


def plot(results: dict, names: list[str], threads: list[int], path: Path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(
        1, len(threads), figsize=(7, 3.6), sharey=True, squeeze=False
    )
    colors = ["tab:blue", "tab:orange", "tab:green", "tab:red"]
    for ax, t in zip(axes[0], threads):
        for name, color in zip(names, colors):
            keys = sorted(k for k in results if k[0] == name and k[1] == t)
            bs = [k[2] for k in keys]
            ax.loglog(
                bs,
                [results[k][0] * 1e6 for k in keys],
                "-o",
                ms=3,
                color=color,
                label=f"{name}, scratch",
            )
            ax.loglog(
                bs,
                [results[k][1] * 1e6 for k in keys],
                "--",
                color=color,
                label=f"{name}, PyTorch",
            )
        ax.set(
            xlabel="batch size (rows)",
            title=f"{t} thread{'s' if t > 1 else ''}",
        )
        ax.grid(True, which="major", alpha=0.3)
    axes[0][0].set_ylabel("time per step (µs)")
    axes[0][0].legend(fontsize=7)
    fig.suptitle("One step of fit: scratch vs fit_torch (float64, CPU)")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=9)
    parser.add_argument(
        "--quick",
        action="store_true",
        help="3 batch sizes, 3 rounds, writes nothing",
    )
    parser.add_argument(
        "--out",
        type=Path,
        default=None,
        help=f"where to write (default {OUT})",
    )
    args = parser.parse_args(argv)

    batches, rounds, out = BATCHES, args.rounds, args.out or OUT
    min_steps, min_rows = 8, 16384
    if args.quick:
        batches, rounds, min_rows = [32, 1024, 65536], 3, 4096
        out = args.out
    threads = sorted({1, os.cpu_count() or 1})
    names = [e.name for e in REGISTRY]
    results: dict[tuple[str, int, int], tuple[float, float]] = {}
    floors: dict[int, float] = {}  # MLP: its products alone / fit_torch
    previous = torch.get_num_threads()
    started = time.perf_counter()
    try:
        for t in threads:
            torch.set_num_threads(t)
            for b in batches:
                m = rows_for(b, min_steps, min_rows)
                for entry in REGISTRY:
                    x, y = make_data(entry.task, m)
                    results[(entry.name, t, b)] = time_pair(
                        entry, b, x, y, rounds
                    )
                    ours, theirs = results[(entry.name, t, b)]
                    if entry.name.startswith("MLP") and t == 1:
                        floors[b] = time_floor(x, b, rounds) / theirs
                    print(
                        f"{entry.name:>20}  {t} thr  batch {b:>6}: scratch "
                        f"{ours * 1e6:9.1f} µs  torch {theirs * 1e6:9.1f} µs"
                        f"  ratio {ours / theirs:.2f}",
                        file=sys.stderr,
                    )
    finally:
        torch.set_num_threads(previous)

    ratios = ratio_table(results, names, threads)
    print(
        "\nscratch fit / fit_torch, time per step (below 1: scratch "
        "is faster)\n"
    )
    print(ratios)
    floor = floor_table(floors)
    print(f"\n{floor}")
    print(f"\n{machine()}; {time.perf_counter() - started:.0f} s")
    if out is not None:
        text = (
            f"Measured on {machine()}; median of {rounds} interleaved "
            f"rounds; calls of at least {min_steps} steps and {min_rows:,} "
            f"rows; {N_FEATURES} features, {N_OUTPUTS} outputs.\n\n"
            "**Ratio** scratch ``fit`` / ``fit_torch``, time per step "
            "(below 1: scratch is faster):\n\n"
            f"{ratios}\n\n**The MLP's floor**, its matrix products alone "
            "(forward, ``dW`` and ``dL/dA``, and the loss after the epoch), "
            "per step, over ``fit_torch``'s time per step, 1 thread: no "
            "scratch step that computes these products can have a lower "
            f"ratio.\n\n{floor}\n\n"
            f"**Time per step**:\n\n{times_table(results)}\n"
        )
        (out / "bench-training-table.txt").parent.mkdir(
            parents=True, exist_ok=True
        )
        (out / "bench-training-table.txt").write_text(text)
        plot(results, names, threads, out / "figures" / "bench-training.png")
        print(
            f"wrote {out / 'bench-training-table.txt'} and "
            f"{out / 'figures' / 'bench-training.png'}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
