"""Per-step cost of the scratch models' ``fit`` against ``tools.fit_torch``.

For each scratch model of the book (a registry below: add one entry per
model; chapters 1-3's linear regression, softmax classifier and MLP, and
chapter 4's MLP with ``BatchNorm1d``, ``LayerNorm`` or ``Dropout``), each
batch size and each thread count, the script times whole ``fit`` calls of
one epoch on ``steps`` minibatches, scratch and PyTorch alternately
(scratch first in even rounds, PyTorch first in odd ones), and keeps the
median over the rounds. Per step means: the time of the call divided by
its number of minibatches, so the checks at the entry of ``fit`` and the
end-of-epoch loss are included, as a learner meets them. With one thread
the time is the CPU time of the process, with more the wall time (see
:func:`clock`). float64 on the CPU throughout. By default one thread
only (``--threads 1,2`` adds two; the chapter 4 networks run on one
thread only).

With one thread it also times each model's *floor*, its matrix products
alone (:func:`products`).

It prints Markdown tables of the ratios and writes

* ``content/appendix/bench-training-table.txt``: the tables (Markdown),
  included by ``content/appendix/benchmarks.md``;
* ``content/appendix/figures/bench-training-light.png`` and
  ``-dark.png``: the ratios against the batch size, one panel per thread
  count, for the book's light and dark themes.

Run it with ``make bench`` (with ``benchmarks/bench_optim.py``), or
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
    ``"regress"``; ``fit_kwargs`` go to the scratch ``fit`` only;
    ``floor`` names the matrix products a step cannot avoid (see
    :func:`products`): ``"linear"`` or ``"mlp"``; ``one_thread_only``
    leaves the model out of the runs with more threads (it keeps ``make
    bench`` within a few minutes; the aims are stated for one thread).
    """

    name: str
    task: str
    scratch: Callable[[int], object]
    torch_model: Callable[[int], tuple[torch.nn.Module, torch.nn.Module]]
    fit_kwargs: dict | None = None
    floor: str = "linear"
    one_thread_only: bool = False


def _linear(seed: int) -> torch.nn.Module:
    torch.manual_seed(seed)
    return torch.nn.Linear(N_FEATURES, N_OUTPUTS, dtype=F64)


# The chapter 3 MLP and its chapter 4 variants: one layer (or none) after
# the first Linear, as (scratch layer, nn module) factories.
MIDDLE = {
    "MLP (16-32-4, ReLU)": None,
    "MLP + BatchNorm1d": (
        lambda seed: tools.BatchNorm1d(N_HIDDEN, dtype=F64),
        lambda: torch.nn.BatchNorm1d(N_HIDDEN, dtype=F64),
    ),
    "MLP + LayerNorm": (
        lambda seed: tools.LayerNorm(N_HIDDEN, dtype=F64),
        lambda: torch.nn.LayerNorm(N_HIDDEN, dtype=F64),
    ),
    "MLP + Dropout(0.2)": (
        lambda seed: tools.Dropout(0.2, seed=seed),
        lambda: torch.nn.Dropout(0.2),
    ),
}


def _mlp_torch(
    name: str,
) -> Callable[[int], tuple[torch.nn.Module, torch.nn.Module]]:
    """``nn.Sequential(Linear, [middle,] ReLU, Linear)`` for ``name``
    (a dropout goes after the ReLU, as is usual)."""

    def make(seed: int) -> tuple[torch.nn.Module, torch.nn.Module]:
        torch.manual_seed(seed)
        middle = MIDDLE[name]
        first = torch.nn.Linear(N_FEATURES, N_HIDDEN, dtype=F64)
        layers = [first, torch.nn.ReLU()]
        if middle is not None:
            at = 2 if "Dropout" in name else 1
            layers.insert(at, middle[1]())
        layers.append(torch.nn.Linear(N_HIDDEN, N_OUTPUTS, dtype=F64))
        return torch.nn.Sequential(*layers), torch.nn.MSELoss()

    return make


def _mlp_scratch(name: str) -> Callable[[int], object]:
    """Chapter 3's ``tools.Sequential`` with the layers of ``name``."""

    def make(seed: int) -> object:
        torch.manual_seed(seed)
        middle = MIDDLE[name]
        layers = [
            tools.Linear(N_FEATURES, N_HIDDEN, dtype=F64, seed=seed),
            tools.ReLU(),
        ]
        if middle is not None:
            at = 2 if "Dropout" in name else 1
            layers.insert(at, middle[0](seed))
        layers.append(tools.Linear(N_HIDDEN, N_OUTPUTS, dtype=F64, seed=seed))
        return tools.Sequential(*layers)

    return make


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
REGISTRY += [
    Entry(
        name,
        "regress",
        _mlp_scratch(name),
        _mlp_torch(name),
        {"loss": tools.MSELoss()},
        floor="mlp",
        one_thread_only=MIDDLE[name] is not None,
    )
    for name in MIDDLE
]


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


def clock() -> Callable[[], float]:
    """The clock for the current thread count: with one thread, the CPU
    time of this process (``time.process_time``), which leaves out the
    time other processes held the core, so a shared machine slows the
    run but moves the figures less; with more threads, wall time (the CPU
    time of several threads adds up, and the wait for the slowest counts).
    """
    return (
        time.process_time
        if torch.get_num_threads() == 1
        else (time.perf_counter)
    )


def time_pair(
    entry: Entry, batch: int, x, y, rounds: int, lr: float = 0.01
) -> tuple[float, float]:
    """Median seconds per step of scratch ``fit`` and of ``fit_torch``."""
    steps = -(-x.shape[0] // batch)
    kwargs = entry.fit_kwargs or {}
    now = clock()

    def scratch() -> float:
        model = entry.scratch(0)
        start = now()
        model.fit(x, y, 1, lr, batch, verbose=False, **kwargs)
        return now() - start

    def reference() -> float:
        module, loss_fn = entry.torch_model(0)
        start = now()
        tools.fit_torch(
            module, x, y, 1, lr, batch, loss_fn=loss_fn, verbose=False
        )
        return now() - start

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


def products(kind: str, x: torch.Tensor, batch: int) -> Callable[[], None]:
    """One epoch of a model's matrix products and nothing else.

    ``"linear"`` (linear regression, softmax classifier): per step the
    affine map and ``dW``, in the layouts the scratch step uses
    (``(W^T X^T + b 1^T)^T`` and ``(dZ^T X)^T``). ``"mlp"`` (the MLP and
    its chapter 4 variants, whose normalisation and dropout layers make
    no matrix product): per step the two forward products, ``dW2``,
    ``dL/dA`` and ``dW1``. Per epoch, both: the forward products over the
    whole training set (the loss after the epoch). Any implementation that
    computes these products in these layouts spends at least this long,
    whatever it does around them: it is the floor under the model's time
    per step.
    """
    if kind == "linear":
        w = torch.randn(N_FEATURES, N_OUTPUTS, dtype=F64)
        b = torch.zeros(N_OUTPUTS, 1, dtype=F64)

        def epoch() -> None:
            for s in tools.minibatches(x.shape[0], batch):
                z = torch.addmm(b, w.T, x[s].T).T
                torch.mm(z.T, x[s])
            torch.addmm(b, w.T, x.T)

        return epoch
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


def time_floor(kind: str, x: torch.Tensor, batch: int, rounds: int) -> float:
    """Median seconds per step of :func:`products`."""
    epoch, steps = products(kind, x, batch), -(-x.shape[0] // batch)
    now = clock()
    epoch()
    times = []
    for _ in range(rounds):
        start = now()
        epoch()
        times.append(now() - start)
    return statistics.median(times) / steps


def load_average() -> float | None:
    """The 1-minute load average: the processes running or waiting for a
    core (above the number of cores, the run shared them)."""
    return os.getloadavg()[0] if hasattr(os, "getloadavg") else None


def machine(load_at_start: float | None = None) -> str:
    cpu = platform.processor() or "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    load = ""
    if load_average() is not None:  # other work on the machine skews times
        if load_at_start is not None:
            load = f"; load average {load_at_start:.1f} at the start"
        load += f"; load average {load_average():.1f} at the end"
    return (
        f"{cpu}, {os.cpu_count()} cores seen by Linux; PyTorch "
        f"{torch.__version__}, Python {platform.python_version()}; "
        f"{dt.date.today().isoformat()}{load}"
    )


# -- output ------------------------------------------------------------------
def ratio_table(results: dict, names: list[str], t: int) -> str:
    """Scratch / PyTorch time per step at ``t`` threads: batch x model."""
    names = [n for n in names if any(k[:2] == (n, t) for k in results)]
    lines = ["| batch | " + " | ".join(names) + " |"]
    lines.append("|" + "---:|" * (len(names) + 1))
    for b in sorted({k[2] for k in results if k[1] == t}):
        cells = []
        for n in names:
            ours, theirs = results[(n, t, b)]
            cells.append(f"{ours / theirs:.2f}")
        lines.append(f"| {b:,} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def floor_table(floors: dict, results: dict, names: list[str]) -> str:
    """Each model's floor over its ``fit_torch`` time per step, 1 thread,
    and its scratch time over its floor."""
    lines = [
        "| batch | "
        + " | ".join(f"{n}: floor / PyTorch, scratch / floor" for n in names)
        + " |"
    ]
    lines.append("|" + "---:|" * (len(names) + 1))
    for b in sorted({k[1] for k in floors}):
        cells = []
        for n in names:
            ours, theirs = results[(n, 1, b)]
            floor = floors[(n, b)]
            cells.append(f"{floor / theirs:.2f}, {ours / floor:.1f}")
        lines.append(f"| {b:,} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def times_table(results: dict, floors: dict) -> str:
    head = (
        "| model | threads | batch | scratch µs/step | PyTorch µs/step "
        "| ratio | floor µs/step |"
    )
    lines = [head, "|---|---:|---:|---:|---:|---:|---:|"]
    for (n, t, b), (ours, theirs) in results.items():
        floor = floors.get((n, b)) if t == 1 else None
        lines.append(
            f"| {n} | {t} | {b:,} | {ours * 1e6:,.1f} | {theirs * 1e6:,.1f} "
            f"| {ours / theirs:.2f} | "
            + (f"{floor * 1e6:,.1f}" if floor is not None else "")
            + " |"
        )
    return "\n".join(lines)


THEMES = {  # text and line colours of the light and dark book themes
    "light": ("#1f2328", "#ffffff"),
    "dark": ("#e6edf3", "#121212"),
}
COLORS = {
    "light": [
        "#1f77b4",
        "#ff7f0e",
        "#2ca02c",
        "#d62728",
        "#9467bd",
        "#8c564b",
    ],
    "dark": ["#79aef2", "#ffb86b", "#6fdd8b", "#ff8a80", "#d2a8ff", "#e3b58f"],
}


def plot(
    results: dict,
    floors: dict,
    names: list[str],
    threads: list[int],
    path: Path,
) -> list[Path]:
    """Scratch / PyTorch time per step against the batch size, one panel
    per thread count (the floors, dashed, on the 1-thread panel); one PNG
    for each book theme, ``<stem>-light.png`` and ``<stem>-dark.png``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    written = []
    for theme, (ink, paper) in THEMES.items():
        rc = {
            "text.color": ink,
            "axes.labelcolor": ink,
            "axes.edgecolor": ink,
            "xtick.color": ink,
            "ytick.color": ink,
            "figure.facecolor": paper,
            "axes.facecolor": paper,
            "savefig.facecolor": paper,
            "legend.facecolor": paper,
            "legend.edgecolor": ink,
        }
        with plt.rc_context(rc):
            fig, axes = plt.subplots(
                1, len(threads), figsize=(8, 4), sharey=True, squeeze=False
            )
            for ax, t in zip(axes[0], threads):
                for name, color in zip(names, COLORS[theme]):
                    keys = sorted(
                        k for k in results if k[0] == name and k[1] == t
                    )
                    if not keys:
                        continue
                    bs = [k[2] for k in keys]
                    ratio = [results[k][0] / results[k][1] for k in keys]
                    ax.semilogx(bs, ratio, "-o", ms=3, color=color,
                                label=name)  # fmt: skip
                    if t == 1:
                        ax.semilogx(
                            bs,
                            [floors[(name, b)] / results[k][1]
                             for k, b in zip(keys, bs)],
                            ":",
                            color=color,
                        )  # fmt: skip
                ax.axhline(1.0, color=ink, lw=0.8)
                ax.set(
                    xlabel="batch size $m$ (rows)",
                    title=f"{t} thread{'s' if t > 1 else ''}",
                )
                ax.grid(True, which="major", alpha=0.3)
            axes[0][0].set_ylabel("scratch time / PyTorch time, per step")
            axes[0][-1].legend(fontsize=7)
            fig.suptitle(
                "One step of fit against fit_torch (float64, CPU); "
                "dotted: the floor"
            )
            fig.tight_layout()
            out = path.with_name(f"{path.stem}-{theme}.png")
            out.parent.mkdir(parents=True, exist_ok=True)
            fig.savefig(out, dpi=120)
            plt.close(fig)
            written.append(out)
    return written


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
    parser.add_argument(
        "--threads",
        default="1",
        help="thread counts, comma-separated, e.g. 1,2 (default 1: on a "
        "machine shared with other processes, threads that wait for each "
        "other time the scheduler more than the code)",
    )
    args = parser.parse_args(argv)

    batches, rounds, out = BATCHES, args.rounds, args.out or OUT
    min_steps, min_rows = 8, 16384
    if args.quick:
        batches, rounds, min_rows = [32, 1024, 65536], 3, 4096
        out = args.out
    try:
        threads = sorted({int(t) for t in args.threads.split(",")})
    except ValueError:
        parser.error(f"--threads must be numbers like 1,2, got {args.threads}")
    if not threads or threads[0] < 1:
        parser.error(f"--threads must be at least 1, got {args.threads}")
    names = [e.name for e in REGISTRY]
    results: dict[tuple[str, int, int], tuple[float, float]] = {}
    floors: dict[tuple[str, int], float] = {}  # (model, batch): s/step
    previous = torch.get_num_threads()
    started = time.perf_counter()
    cpu_started = time.process_time()
    load_at_start = load_average()
    try:
        for t in threads:
            torch.set_num_threads(t)
            for b in batches:
                m = rows_for(b, min_steps, min_rows)
                floor_of: dict[str, float] = {}  # kind: s/step
                for entry in REGISTRY:
                    if t > 1 and entry.one_thread_only:
                        continue
                    x, y = make_data(entry.task, m)
                    results[(entry.name, t, b)] = time_pair(
                        entry, b, x, y, rounds
                    )
                    ours, theirs = results[(entry.name, t, b)]
                    if t == 1:
                        if entry.floor not in floor_of:
                            floor_of[entry.floor] = time_floor(
                                entry.floor, x, b, rounds
                            )
                        floors[(entry.name, b)] = floor_of[entry.floor]
                    print(
                        f"{entry.name:>20}  {t} thr  batch {b:>6}: scratch "
                        f"{ours * 1e6:9.1f} µs  torch {theirs * 1e6:9.1f} µs"
                        f"  ratio {ours / theirs:.2f}",
                        file=sys.stderr,
                    )
    finally:
        torch.set_num_threads(previous)

    ratios = {
        t: ratio_table(results, names, t) for t in threads
    }  # fmt: skip
    for t, table in ratios.items():
        print(f"\nscratch fit / fit_torch per step, {t} thread(s)\n")
        print(table)
    floor = floor_table(floors, results, names)
    print(f"\n{floor}")
    elapsed = time.perf_counter() - started
    cpu = time.process_time() - cpu_started
    where = machine(load_at_start)
    print(f"\n{where}; {elapsed:.0f} s ({cpu:.0f} s of CPU time)")
    if out is not None:
        text = (
            f"Measured on {where}; median of {rounds} interleaved "
            f"rounds; calls of at least {min_steps} steps and {min_rows:,} "
            f"rows; {N_FEATURES} features, {N_HIDDEN} hidden units, "
            f"{N_OUTPUTS} outputs; "
            + "; ".join(
                f"{t} thread: CPU time of the process"
                if t == 1
                else f"{t} threads: wall time"
                for t in threads
            )
            + ".\n\n"
        )
        for t, table in ratios.items():
            text += (
                f"**Ratio, {t} thread{'s' if t > 1 else ''}**: scratch "
                "``fit`` / ``fit_torch``, time per step (below 1: scratch "
                f"is faster):\n\n{table}\n\n"
            )
        text += (
            "**Floors**, 1 thread: a model's matrix products alone "
            "(forward, ``dW`` and, in the MLPs, ``dL/dA``, and the loss "
            "after the epoch) per step, over ``fit_torch``'s time per "
            "step (no scratch step that computes these products can have "
            "a lower ratio), and the scratch time per step over the floor "
            f"(how many times the floor it takes):\n\n{floor}\n\n"
            f"**Time per step**:\n\n{times_table(results, floors)}\n"
        )
        table_path = out / "bench-training-table.txt"
        table_path.parent.mkdir(parents=True, exist_ok=True)
        table_path.write_text(text)
        figures = plot(
            results, floors, names, threads,
            out / "figures" / "bench-training.png",
        )  # fmt: skip
        print(f"wrote {table_path}, " + ", ".join(map(str, figures)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
