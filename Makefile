# `make demo` and `make test` each install what they need into .venv first.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
export UCLAF_DATA ?= $(abspath ../shared/data)

.PHONY: setup test demo lint bench clean

setup: $(STAMP)

# torch goes in first: the CPU build on disk, unless a CUDA torch is already importable.
$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -c "import torch, sys; sys.exit(0 if torch.version.cuda else 1)" 2>/dev/null \
		|| $(BIN)/python -m pip install -q torch==2.13.0
	$(BIN)/python -m pip install -q -e ".[dev]"
	touch $(STAMP)

test: setup
	$(BIN)/python -m pytest -q

demo: setup
	$(BIN)/uclaf-bench demo --output runs/demo

lint: setup
	$(BIN)/ruff check uclaf_plugin tests benchmarks docs/examples

clean:
	rm -rf $(VENV) runs .pytest_cache
