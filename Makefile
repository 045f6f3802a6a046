# Two commands for a fresh machine with Python 3.11+ and pip: `make demo` and `make test`.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: demo test bench fuzz lint clean

$(BIN)/python:
	$(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install -q -e '.[dev]'
	touch $@

demo: $(VENV)/.installed
	$(BIN)/memattr demo

test: $(VENV)/.installed
	$(BIN)/python -m pytest
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/mypy

bench: $(VENV)/.installed
	$(BIN)/python benchmarks/run.py

# The long, random run of tests/fuzz (about 30 minutes, some 90,000 inputs; the short derandomised
# run is part of `make test`).  MEMATTR_FUZZ_SCALE=0.1 (3 minutes) .. 3 (1.5 hours) scales it.
fuzz: $(VENV)/.installed
	MEMATTR_FUZZ=long $(BIN)/python -m pytest tests/fuzz -q -p no:cacheprovider \
		--hypothesis-show-statistics $(FUZZ_ARGS)

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .hypothesis
