"""The test suite's time budget, reported at the end of every run (loaded by ../conftest.py).

`make test` re-executes every notebook and opens every page of the book, and that time grows
with each chapter. The budgets (issue 19): a notebook within ``NOTEBOOK_BUDGET_S`` seconds of
nbval time, the browser suite within ``BROWSER_BUDGET_S``. At the end of a run this plugin
prints each notebook's nbval time (the sum of its cells' set-up, run and tear-down) and the
time of each slow suite, and names whatever is over its budget. It is a report, never a
failure: the machines the suite runs on are noisy, and a run on a loaded machine would fail
for no fault of the book. The same figures are written to ``_build/test-times.json``.

Under pytest-xdist the workers send every test report to the controlling process, which sums
them here, so the figures are the same whichever worker ran what.
"""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path

NOTEBOOK_BUDGET_S = 20.0
BROWSER_BUDGET_S = 40.0
BROWSER_SUITE = "tests/test_browser.py"
# The other slow suites, timed as wholes (their tests share a costly set-up).
SUITES = (BROWSER_SUITE, "tests/test_book.py", "tests/test_colab_setup.py")
ROOT = Path(__file__).resolve().parent.parent


def unit_of(nodeid: str) -> str | None:
    """The notebook or suite a test belongs to, or None when it is timed with no other."""
    path = nodeid.split("::", 1)[0]
    if path.endswith(".ipynb") or path in SUITES:
        return path
    return None


class TimingReport:
    def __init__(self) -> None:
        self.seconds: dict[str, float] = defaultdict(float)

    def pytest_runtest_logreport(self, report) -> None:
        unit = unit_of(report.nodeid)
        if unit is not None:
            self.seconds[unit] += report.duration

    def over_budget(self) -> list[str]:
        over = [
            f"{unit}: {s:.1f} s of nbval time, over the {NOTEBOOK_BUDGET_S:.0f} s budget of a notebook"
            for unit, s in sorted(self.seconds.items(), key=lambda item: -item[1])
            if unit.endswith(".ipynb") and s > NOTEBOOK_BUDGET_S
        ]
        browser = self.seconds.get(BROWSER_SUITE)
        if browser is not None and browser > BROWSER_BUDGET_S:
            over.append(f"{BROWSER_SUITE}: {browser:.1f} s, over its {BROWSER_BUDGET_S:.0f} s budget")
        return over

    def pytest_terminal_summary(self, terminalreporter) -> None:
        if not self.seconds or hasattr(terminalreporter.config, "workerinput"):
            return
        write = terminalreporter.write_line
        notebooks = sorted(((u, s) for u, s in self.seconds.items() if u.endswith(".ipynb")), key=lambda i: -i[1])
        suites = [(u, self.seconds[u]) for u in SUITES if u in self.seconds]
        terminalreporter.section("time per notebook (nbval) and per slow suite")
        for unit, s in notebooks + suites:
            write(f"{s:7.1f} s  {unit}")
        if notebooks:
            write(f"{sum(s for _, s in notebooks):7.1f} s  all {len(notebooks)} notebooks")
        over = self.over_budget()
        if over:
            terminalreporter.section("over the time budget (a report, not a failure)")
            for line in over:
                write(line)
        try:
            (ROOT / "_build").mkdir(exist_ok=True)
            (ROOT / "_build" / "test-times.json").write_text(json.dumps(
                {"seconds": {u: round(s, 2) for u, s in notebooks + suites},
                 "budgets": {"notebook": NOTEBOOK_BUDGET_S, "browser_suite": BROWSER_BUDGET_S},
                 "over_budget": over}, indent=1) + "\n")
        except OSError:
            pass


def pytest_configure(config) -> None:
    config.pluginmanager.register(TimingReport(), "timing_report_collector")
