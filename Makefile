# Two entry points on a fresh machine (see README):
#   make reproduce   set up .venv, install pinned dependencies, run the main job
#   make test        set up .venv, install pinned dependencies, lint, run the test suite
#   make test-slow   the slow end-to-end tests make test skips (CI runs both)
#   make docs        the documentation site (mkdocs.yml, docs/) into build/site
# Set-up is incremental: it re-runs only when the lock files or pyproject.toml change.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.ephys2type-installed
# Keep BLAS/torch to the machine's cores and caches out of the home folder during tests.
export OMP_NUM_THREADS ?= 2

.PHONY: reproduce test test-slow lint install clean docs

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(STAMP): $(BIN)/python requirements.lock requirements-dev.lock pyproject.toml
	$(BIN)/python -m pip install --disable-pip-version-check "torch==2.13.0"
	$(BIN)/python -m pip install --disable-pip-version-check -r requirements.lock -r requirements-dev.lock
	$(BIN)/python -m pip install --disable-pip-version-check --no-deps --no-build-isolation -e .
	touch $(STAMP)

install: $(STAMP)

reproduce: $(STAMP)
	$(BIN)/ephys2type reproduce

lint: $(STAMP)
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks

# Two test processes (pytest-xdist); a process that runs out of tests takes some of the
# other's (worksteal: 136 s against 145 s handing out whole files, though a module fixture may
# then be built in both); one BLAS/OpenMP/torch thread per process so the two never contend
# for the 2 cores. PYTHONDONTWRITEBYTECODE is cleared (an environment may set it) so the
# compiled and assertion-rewritten test modules are cached between runs: measured, each test
# process otherwise spends 5 s re-compiling them (125 s against 149 s for the suite).
test: lint
	PYTHONDONTWRITEBYTECODE= OMP_NUM_THREADS=1 $(BIN)/python -m pytest -n 2 --dist worksteal

# The slow end-to-end tests (marked slow: every documented block run as written, the
# parallel and Dask paths, the commands end to end), which `make test` skips to stay within
# its time; CI runs them after it.
test-slow: $(STAMP)
	PYTHONDONTWRITEBYTECODE= EPHYS2TYPE_SLOW_TESTS=1 OMP_NUM_THREADS=1 $(BIN)/python -m pytest -n 2 --dist loadfile -m slow

# The documentation site: README.md as its front page, docs/*.md, the API from docstrings.
docs: $(STAMP)
	$(BIN)/mkdocs build --strict

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .hypothesis
