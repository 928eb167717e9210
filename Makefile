# Everything a newcomer needs: `make demo` sets up and serves the example site, `make test` runs the suite.
# `make mutation` runs mutmut over the edge, the local edge, variants, publishing and deploy, then writes
# mutation-report.md. One worker: all ~7,500 mutants take days, but every result is kept in mutants/ as it comes, an
# interrupted run resumes and a rerun only tests what is new or changed. MUTANTS='imagevariants.edge.keys*' limits a
# run to the mutants whose names match.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: demo test lint setup lambda-pillow mutation

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

test: setup lambda-pillow
	$(BIN)/python -m pytest

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

$(VENV)/.mutation-installed: $(VENV)/.installed
	$(BIN)/python -m pip install --quiet -e ".[test,mutation]"
	touch $@

mutation: setup lambda-pillow $(VENV)/.mutation-installed
	$(BIN)/mutmut run --max-children 1 $(MUTANTS)
	$(BIN)/python scripts/mutation_report.py > mutation-report.md
	@echo "Wrote mutation-report.md"
