# Two commands on a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: demo test torture lint typecheck bench clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[server,dev]'
	touch $(STAMP)

demo: $(STAMP)
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/paramedic run --config examples/floor/floor.yaml

# pytest with bytecode caching on, whatever the shell says: the suite starts `paramedic run`
# and the CLI hundreds of times, and each start would compile all of src/ again (~0.3 s).
test: $(STAMP)
	$(BIN)/ruff check src tests examples
	$(BIN)/ruff format --check src tests examples
	$(BIN)/mypy
	$(BIN)/lint-imports --no-cache
	PYTHONDONTWRITEBYTECODE= $(BIN)/pytest -q --durations=25

# The long torture runs (tens of minutes; KILLS kill -9s of paramedic while alerting, 200 by
# default); their figures are in docs/reliability.md.
torture: $(STAMP)
	PARAMEDIC_TORTURE=long PARAMEDIC_KILLS=$${KILLS:-200} $(BIN)/pytest -q -s \
		tests/torture tests/integration/test_kill_9_alerting.py

lint: $(STAMP)
	$(BIN)/ruff check src tests
	$(BIN)/ruff format --check src tests

typecheck: $(STAMP)
	$(BIN)/mypy

clean:
	rm -rf $(VENV) var build *.egg-info
