# Everything a newcomer needs: `make demo` sets up and serves the example site, `make test` runs the suite.
# `make mutation` runs mutmut over the edge, the local edge, variants, publishing and deploy, then writes
# mutation-report.md. One worker: all ~7,500 mutants take days, but every result is kept in mutants/ as it comes, an
# interrupted run resumes and a rerun only tests what is new or changed. MUTANTS='imagevariants.edge.keys*' limits a
# run to the mutants whose names match.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: demo test lint setup lambda-pillow chromium matrix mutation

$(BIN)/python:
	$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11) and "Python 3.11 or newer is needed")'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.installed: $(BIN)/python setup.cfg pyproject.toml
	$(BIN)/python -m pip install --quiet -e ".[test]"
	touch $@

setup: $(VENV)/.installed

# The build step that fills the cache of Pillow for the Lambda runtime (x86_64); the bundle tests read it.
lambda-pillow: setup
	$(BIN)/python manage.py deploy_edge --fetch-pillow --runtime python3.12

demo: setup
	$(BIN)/python manage.py migrate --verbosity 0
	$(BIN)/python manage.py load_demo
	$(BIN)/python manage.py runserver 127.0.0.1:8000

# The browser tests drive Debian's Chromium: installed here on a Debian machine run as root, else make stops and
# says what to install (the tests never skip for want of it).
chromium:
	@test -x /usr/bin/chromium || { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null && \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; } || \
		{ echo "The browser tests need Debian's chromium: run 'sudo apt-get install chromium', then make test." >&2; exit 1; }

test: setup lambda-pillow chromium
	$(BIN)/python -m pytest

# The Django side on Django 4.2, 5.2 and 6.0, on the Pythons each supports, and on PostgreSQL (Debian's server,
# started and stopped by the run): see scripts/matrix.py. CI runs it after `make test`.
matrix: setup
	$(BIN)/python scripts/matrix.py

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

$(VENV)/.mutation-installed: $(VENV)/.installed
	$(BIN)/python -m pip install --quiet -e ".[test,mutation]"
	touch $@

mutation: setup lambda-pillow $(VENV)/.mutation-installed
	$(BIN)/mutmut run --max-children 1 $(MUTANTS)
	$(BIN)/python scripts/mutation_report.py > mutation-report.md
	@echo "Wrote mutation-report.md"
