# The two commands a new user needs: `make demo` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: venv test lint demo lab clean

venv: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

lint: venv
	$(BIN)/ruff check .

test: venv lint
	$(BIN)/python -m pytest

demo: venv
	$(BIN)/workshop demo

lab: venv
	@if [ "$${WORKSHOP_TARGET:-local}" = local ]; then $(BIN)/workshop local start; fi
	$(BIN)/jupyter lab --ServerApp.root_dir=notebooks

clean:
	rm -rf $(VENV) .workshop build *.egg-info
