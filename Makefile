# Inside Deep Learning: the two commands of the README, and a few for authors.
#   make book     set up .venv (if needed) and build the site into _build/html
#   make test     set up .venv (if needed) and run every test
#   make refresh  re-execute every notebook in a fresh kernel and store its outputs in place
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
PYTEST_NOTEBOOKS := --nbval --nbval-current-env --nbval-sanitize-with tests/nbval_sanitize.cfg

.PHONY: setup book test test-fast refresh clean

setup: $(STAMP)

$(STAMP): requirements.txt pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Python 3.11 or newer is needed")'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements.txt
	$(BIN)/python -m pip install --quiet --no-deps -e .
	touch $@

book: $(STAMP)
	$(BIN)/jupyter-book build . -W -n --keep-going
	@echo "The site is in _build/html: open _build/html/index.html in a browser."

test: $(STAMP)
	$(BIN)/python -m pytest --doctest-modules $(PYTEST_NOTEBOOKS) tools tests content

# Everything but the slow book build.
test-fast: $(STAMP)
	$(BIN)/python -m pytest --doctest-modules $(PYTEST_NOTEBOOKS) -m "not slow" tools tests content

refresh: $(STAMP)
	$(BIN)/python scripts/refresh_notebooks.py

clean:
	rm -rf _build
