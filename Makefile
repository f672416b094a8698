# Inside Deep Learning: the two commands of the README, and a few for authors.
#   make book     set up .venv (if needed) and build the site into _build/html
#   make test     set up .venv (if needed) and run every test; at the end it prints each
#                 notebook's nbval time and the slow suites' times, and names any over budget
#                 (a notebook over 20 s, the browser suite over 40 s: tests/timing_report.py)
#   make test-site  the book build and the browser walk only (BOOK_SCREENSHOTS=1 also saves
#                 a screenshot of every page at 1280 and 390 px under _build/screenshots)
#   make refresh  re-execute every notebook in a fresh kernel and store its outputs in place
#   make sync     rewrite every notebook's Colab/NBViewer links and setup cell from _config.yml
#   make figures  redraw the static figures in content/figures
#   make bench    time scratch fit against fit_torch; writes the appendix's table and figure
#   make mutate   mutation testing of tools/ with mutmut, then the score (MUTATION.md)
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
PYTEST_NOTEBOOKS := --nbval --nbval-current-env --nbval-sanitize-with tests/nbval_sanitize.cfg
# Tests run on every core (JOBS=0: all in this one process). loadscope keeps each notebook's
# cells, and each test module, together and in order on one worker; tests/conftest.py makes
# the modules that share the book build one unit (one worker, one build).
JOBS ?= auto
# One OpenMP thread per worker: two workers whose PyTorch each spins two threads on two cores
# ran small tensor operations up to 20x slower (1-math: 20 s against 4 s). Nothing printed
# depends on the thread count (the hygiene test refuses printed thread counts).
PYTEST_PARALLEL := -n $(JOBS) --dist loadscope --durations=10
PYTEST := OMP_NUM_THREADS=1 $(BIN)/python -m pytest

.PHONY: setup browser book test test-fast test-site test-notebooks bench mutate refresh sync figures clean

setup: $(STAMP)

# The pinned wheels are installed by uv, which unpacks and byte-compiles them in parallel (the
# set-up took 116 s with pip and 36 s with uv and a warm uv cache on the 2-core CI machine, 49 s
# with an empty one; byte-compiling up front matters where PYTHONDONTWRITEBYTECODE is set, as in
# CI: there an uncompiled Keras imports in 13 s instead of 7). The Makefile hands uv pip's
# find-links (PIP_FIND_LINKS or pip's config), so both pick the same local wheels; uv reads no
# other pip setting (indexes, certificates), so where uv cannot be had or fails, pip installs.
UV_VERSION := 0.13.9
FIND_LINKS = $(sort $(PIP_FIND_LINKS) $(shell $(PYTHON) -m pip config get global.find-links 2>/dev/null))

$(STAMP): requirements.txt pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Python 3.11 or newer is needed")'
	$(PYTHON) -m venv $(VENV)
	if $(BIN)/python -m pip install --quiet uv==$(UV_VERSION) && \
	   $(BIN)/uv pip install --quiet --compile-bytecode --python $(BIN)/python \
	     $(foreach d,$(FIND_LINKS),--find-links $(d)) -r requirements.txt; then :; else \
	  echo "uv could not install the requirements: pip installs them (slower)"; \
	  $(BIN)/python -m pip install --quiet -r requirements.txt; \
	fi
	$(BIN)/python -m pip install --quiet --no-deps --no-build-isolation -e .
	@# Build matplotlib's font cache now: its one-time notice would otherwise reach a notebook's stderr.
	$(BIN)/python -c "import matplotlib.pyplot"
	touch $@

# Chromium for tests/test_browser.py, installed where that is possible (root + apt-get).
browser:
	@bash scripts/install_browser.sh

book: $(STAMP)
	$(BIN)/jupyter-book build . -W -n --keep-going
	@echo "The site is in _build/html: open _build/html/index.html in a browser."

test: $(STAMP) browser
	$(PYTEST) $(PYTEST_PARALLEL) --doctest-modules $(PYTEST_NOTEBOOKS) tools tests content

# Everything but the slow tests (book build, browser, fresh-environment install).
test-fast: $(STAMP)
	$(PYTEST) $(PYTEST_PARALLEL) --doctest-modules $(PYTEST_NOTEBOOKS) -m "not slow" tools tests content

# The book build, its checks and the browser walk (every page opened once, several at a time).
test-site: $(STAMP) browser
	$(PYTEST) -n 0 --durations=5 tests/test_book.py tests/test_browser.py

# The notebooks under nbval and their hygiene checks only (the CUDA runner's job).
test-notebooks: $(STAMP)
	$(PYTEST) $(PYTEST_PARALLEL) $(PYTEST_NOTEBOOKS) tests/test_notebooks.py content

# Per-step time of every scratch model's fit against fit_torch (a few minutes; not a test).
bench: $(STAMP)
	$(BIN)/python benchmarks/bench_training.py && $(BIN)/python benchmarks/bench_optim.py

# Mutation testing (MUTATION.md): mutmut makes one small change to tools/ at a time and runs
# the unit tests that call the changed function ([tool.mutmut] in pyproject.toml); a change
# no test notices is a gap in the tests. Not part of `make test`: all of tools/ (about 3,200
# mutants) took 276 s with 2 jobs on the 2-core CI machine. Always a fresh run, since mutmut
# keeps an old verdict for a function that did not change, even when the tests did. MUTANTS
# narrows it to some modules, e.g. make mutate MUTANTS="tools.metrics.* tools.jacobian.*";
# MUTATE_JOBS=N runs N mutants at once (default: one per core).
MUTATE_JOBS ?= $(shell nproc 2>/dev/null || echo 1)
MUTANTS ?=
mutate: $(STAMP)
	rm -rf mutants
	OMP_NUM_THREADS=1 $(BIN)/mutmut run --max-children $(MUTATE_JOBS) $(foreach m,$(MUTANTS),'$(m)')
	$(BIN)/python scripts/mutation_score.py

refresh: $(STAMP)
	$(BIN)/python scripts/refresh_notebooks.py

sync: $(STAMP)
	$(BIN)/python scripts/sync_notebooks.py

figures: $(STAMP)
	$(BIN)/python scripts/make_figures.py

clean:
	rm -rf _build
