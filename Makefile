# Fresh-machine entry points. `make demo` sets up .venv and runs the main job (PPO on GP-L) on built-in defaults;
# `make test` sets up .venv and runs the test suite. Both install everything they need themselves.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
TORCH_PIN ?= torch==2.13.0
DEMO_DIR ?= outputs/demo

.PHONY: setup demo test test-slow test-all bench clean

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	# Pin torch first: an unpinned torch pulls several GB of CUDA packages.
	$(PY) -m pip install -q "$(TORCH_PIN)"
	$(PY) -m pip install -q -e ".[dev]"
	touch $@

setup: $(VENV)/.installed

demo: setup
	# The main job: PPO on GP-L with the built-in tiny model (SFT-initialised and cached on first run).
	# --resume auto continues an interrupted demo (and starts one in a new folder).
	$(VENV)/bin/sftvsrl ppo --task gp-l --out $(DEMO_DIR)/ppo-gp-l --resume auto

# The fast suite (tests marked slow are deselected in pyproject.toml); `test-slow` runs only those,
# `test-all` runs everything. Each run ends with its 15 slowest steps.
test: setup
	$(PY) -m pytest -q

test-slow: setup
	$(PY) -m pytest -q -m slow

test-all: setup
	$(PY) -m pytest -q -m "slow or not slow"

bench: setup
	$(PY) bench/gp_env_throughput.py
	$(PY) bench/virl_throughput.py
	$(PY) bench/eval_throughput.py
	$(PY) bench/ppo_rollout_throughput.py

clean:
	rm -rf $(VENV) outputs
