"""Loaded by every pytest run in this repository, whatever paths it is given
(``pytest content/...ipynb`` does not load tests/conftest.py): it loads the
plugin that extends nbval's cell check to the figures, tests/nbval_figures.py,
and the one that reports each notebook's time against its budget at the end
of the run, tests/timing_report.py.
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent / "tests"))

pytest_plugins = ["nbval_figures", "timing_report"]
