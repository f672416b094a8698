"""Print the mutation score of the last ``mutmut run``, module by module.

Reads ``mutmut results --all true`` (one ``name: status`` line per mutant)
in the repository root and prints, for each module of ``tools`` with checked
mutants, how many were killed, timed out, survived or had no test, then the
score: killed / checked. A timeout (the tests ran far longer than usual, as
when a mutant sends a loop or Hypothesis's shrinking on and on) is a mutant
the tests did notice; it is shown apart, and counted in the second score.
Mutants never run (``not checked``: another module's, in a partial run) are
left out. Survivors are listed by name: ``mutmut show NAME`` shows the change.

    python scripts/mutation_score.py              # every module run
    python scripts/mutation_score.py metrics jacobian
"""

from __future__ import annotations

import re
import subprocess
import sys
from collections import Counter, defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MUTMUT = Path(sys.executable).parent / "mutmut"
# tools.metrics.x_torch_mape__mutmut_3 (a function),
# tools.benchmark.xǁClassǁmethod__mutmut_1 (a method)
NAME = re.compile(r"^\s*(?P<module>[\w.]+?)\.x[_ǁ].*__mutmut_\d+$")
COLUMNS = ("killed", "timeout", "survived", "no tests", "other")


def results() -> list[tuple[str, str]]:
    """(mutant name, status) of every mutant mutmut knows of."""
    out = subprocess.run(
        [str(MUTMUT), "results", "--all", "true"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    pairs = []
    for line in out.splitlines():
        name, sep, status = line.strip().rpartition(": ")
        if sep and NAME.match(name):
            pairs.append((name, status))
    return pairs


def main(modules: list[str]) -> int:
    by_module: dict[str, Counter] = defaultdict(Counter)
    survivors: list[str] = []
    for name, status in results():
        module = NAME.match(name)["module"]
        if modules and module.removeprefix("tools.") not in modules:
            continue
        if status == "not checked":
            continue
        column = status if status in COLUMNS else "other"
        by_module[module][column] += 1
        if status != "killed" and status != "timeout":
            survivors.append(f"{name}: {status}")
    if not by_module:
        print("no checked mutants: run `mutmut run` first")
        return 1
    header = f"{'module':<24}" + "".join(f"{c:>10}" for c in COLUMNS)
    print(header + f"{'score':>9}")
    total: Counter = Counter()
    for module in sorted(by_module):
        counts = by_module[module]
        total.update(counts)
        print(_row(module, counts))
    print(_row("all", total))
    checked = sum(total.values())
    caught = total["killed"] + total["timeout"]
    print(
        f"\nkilled: {total['killed']} / {checked} "
        f"({100 * total['killed'] / checked:.1f} %); killed or timed out: "
        f"{caught} / {checked} ({100 * caught / checked:.1f} %)"
    )
    if survivors:
        print("\nnot killed (see MUTATION.md for the equivalent ones):")
        print("\n".join(f"  {s}" for s in survivors))
    return 0


def _row(label: str, counts: Counter) -> str:
    checked = sum(counts.values())
    score = 100 * counts["killed"] / checked
    cells = "".join(f"{counts[c]:>10}" for c in COLUMNS)
    return f"{label:<24}{cells}{score:>8.1f}%"


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
