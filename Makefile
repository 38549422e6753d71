# heard: every target sets up what it needs (virtualenv, Debian packages) on first use.
SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
STUBS := $(VENV)/esp32-stubs
FIRMWARE_SRC := $(shell find firmware -name '*.py' -not -path '*/__pycache__/*')
DEMO_DIR ?= build/demo
PYTEST_WORKERS ?= 2

.PHONY: setup demo simulate-demo test test-all bench placement lint firmware clean

setup: $(STAMP)

$(STAMP): pyproject.toml scripts/setup.sh
	@bash scripts/setup.sh $(VENV)
	@touch $(STAMP)

demo: $(STAMP)
	$(BIN)/heard demo --out $(DEMO_DIR)

# The engineers' loop: synthesize, run the firmware detector on the WAVs, score it.
simulate-demo: $(STAMP)
	$(BIN)/heard synth --out $(DEMO_DIR)/sim/corpus --n 4 --seed 7
	$(BIN)/heard simulate $(DEMO_DIR)/sim/corpus --out $(DEMO_DIR)/sim/detector
	$(BIN)/heard eval $(DEMO_DIR)/sim/corpus $(DEMO_DIR)/sim/detector

test: $(STAMP)
	$(BIN)/pytest -m "not slow" -n $(PYTEST_WORKERS) -q

test-all: $(STAMP)
	$(BIN)/pytest -n $(PYTEST_WORKERS) -q

bench: $(STAMP)
	$(PY) bench/run.py

# The placement study: rewrites the results in hardware/PLACEMENT.md and hardware/placement.svg.
placement: $(STAMP)
	$(PY) -m heard.placement

lint: $(STAMP) firmware
	$(BIN)/ruff check host firmware tests bench
	$(BIN)/mypy
	MYPYPATH=$(STUBS) $(BIN)/mypy --config-file firmware/mypy.ini firmware/heardcore firmware/heardapp firmware/main.py

firmware: $(STAMP)
	@$(PY) -m heard.mpytools build --out build/mpy firmware

clean:
	rm -rf build $(VENV) .pytest_cache .mypy_cache .ruff_cache
