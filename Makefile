# Fresh-machine entry points. `make demo` sets up .venv and runs the main job on built-in defaults;
# `make test` sets up .venv and runs the test suite. Both install everything they need themselves.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
TORCH_PIN ?= torch==2.13.0
DEMO_DIR ?= outputs/demo

.PHONY: setup demo test test-all bench clean

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	# Pin torch first: an unpinned torch pulls several GB of CUDA packages.
	$(PY) -m pip install -q "$(TORCH_PIN)"
	$(PY) -m pip install -q -e ".[dev]"
	touch $@

setup: $(VENV)/.installed

demo: setup
	$(VENV)/bin/sftvsrl gen-data --env gp --variant l --num 200 --seed 0 --out $(DEMO_DIR)/gp-l-sft
	$(VENV)/bin/sftvsrl gen-data --env gp --variant l --ood --num 200 --seed 1 --out $(DEMO_DIR)/gp-l-ood
	$(VENV)/bin/sftvsrl gen-data --env gp --variant vl --num 8 --seed 0 --out $(DEMO_DIR)/gp-vl-sft

test: setup
	$(PY) -m pytest -q

test-all: setup
	$(PY) -m pytest -q -m "slow or not slow"

bench: setup
	$(PY) bench/gp_env_throughput.py
	$(PY) bench/virl_throughput.py
	$(PY) bench/eval_throughput.py
	$(PY) bench/ppo_rollout_throughput.py

clean:
	rm -rf $(VENV) outputs
