# The two commands a new user needs: `make demo` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: venv test lint security browser demo lab rehearse clean

venv: $(STAMP)

# uv (from PyPI) fills the venv several times faster than pip (docs/performance.md).
$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet "uv>=0.5"
	$(BIN)/uv pip install --quiet --python $(BIN)/python -e '.[dev]'
	touch $(STAMP)

lint: venv
	$(BIN)/ruff check .

# checkov pins boto3 and packaging to versions the workshop cannot use: it gets a venv of its own.
CHECKOV_VERSION := 3.3.30
CHECKOV_VENV := .venv-checkov
CHECKOV_STAMP := $(CHECKOV_VENV)/.installed-$(CHECKOV_VERSION)

$(CHECKOV_STAMP): | $(STAMP)
	test -x $(CHECKOV_VENV)/bin/python || $(BIN)/uv venv --quiet $(CHECKOV_VENV)
	$(BIN)/uv pip install --quiet --python $(CHECKOV_VENV)/bin/python "checkov==$(CHECKOV_VERSION)"
	touch $@

# Zero failed checks; each skip is written next to its resource in the template, with its reason.
security: $(CHECKOV_STAMP)
	$(CHECKOV_VENV)/bin/checkov --file cloudformation/pipeline.yaml --framework cloudformation \
		--skip-download --compact --quiet

# Debian's chromium for tests/test_browser.py; never fails (without it that test skips, saying why).
browser:
	sh scripts/install-browser.sh

# tests/ on two workers, each with a local AWS of its own (a test file stays on one worker);
# then the notebooks, in order, on one local AWS: each one builds on the one before.
test: venv lint security browser
	$(BIN)/python -m pytest -n 2 --dist loadfile tests
	$(BIN)/python -m pytest notebooks

demo: venv
	$(BIN)/workshop demo

# An instructor's proof, on their own AWS account, that the learner's path works (docs/instructor.md).
rehearse: venv
	WORKSHOP_TARGET=aws WORKSHOP_REHEARSE=yes $(BIN)/python -m pytest -m aws -s \
		tests/test_rehearsal.py

# .devcontainer/devcontainer.json forwards this port (GitHub Codespaces).
LAB_PORT ?= 8888

lab: venv
	@if [ "$${WORKSHOP_TARGET:-local}" = local ]; then $(BIN)/workshop local start; fi
	$(BIN)/jupyter lab --ServerApp.root_dir=notebooks --ServerApp.port=$(LAB_PORT)

clean:
	rm -rf $(VENV) $(CHECKOV_VENV) .workshop build *.egg-info
