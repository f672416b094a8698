"""The time-budget report of tests/timing_report.py: what it sums, and what it names."""

from types import SimpleNamespace

import timing_report as tr


def report(nodeid: str, duration: float) -> SimpleNamespace:
    return SimpleNamespace(nodeid=nodeid, duration=duration)


def test_it_sums_by_notebook_and_suite_and_names_what_is_over_budget():
    timing = tr.TimingReport()
    for nodeid, seconds in [
        ("content/a/x.ipynb::Cell 0", 15.0),
        ("content/a/x.ipynb::Cell 1", 6.0),  # 21 s: over
        ("content/a/y.ipynb::Cell 0", 19.0),  # under
        ("tests/test_browser.py::test_a", 30.0),
        ("tests/test_browser.py::test_b[phone]", 11.0),  # 41 s: over
        ("tests/test_metrics.py::test_c", 99.0),  # not a timed unit
    ]:
        timing.pytest_runtest_logreport(report(nodeid, seconds))
    assert timing.seconds == {
        "content/a/x.ipynb": 21.0,
        "content/a/y.ipynb": 19.0,
        "tests/test_browser.py": 41.0,
    }
    over = timing.over_budget()
    assert len(over) == 2
    assert over[0].startswith("content/a/x.ipynb: 21.0 s")
    assert over[1].startswith("tests/test_browser.py: 41.0 s")


def test_nothing_is_over_budget_within_it():
    timing = tr.TimingReport()
    timing.pytest_runtest_logreport(report("content/x.ipynb::Cell 0", 20.0))
    timing.pytest_runtest_logreport(report("tests/test_browser.py::t", 40.0))
    assert timing.over_budget() == []
