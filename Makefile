# Two commands do all the set-up on a fresh clone:
#   make demo   -- installs into .venv and shows what the tools do, on bundled material
#   make test   -- installs into .venv and runs the test suite
#
# torch: the pin below resolves to whatever index pip is configured with. On Linux that is the multi-GB CUDA build;
# for the CPU-only wheel (about 200 MB) say:  make install TORCH_INDEX=https://download.pytorch.org/whl/cpu
#
# .venv is a symlink to a folder in ~/.cache/pytorch-patterns/, so a plugin install from this folder (a local Claude
# Code marketplace copies the folder) never copies a 1 GB environment.
PY ?= python3
VENV := .venv
VENV_HOME ?= $(HOME)/.cache/pytorch-patterns/dev-venvs/$(notdir $(CURDIR))-$(shell printf %s "$(CURDIR)" | cksum | cut -d' ' -f1)
BIN := $(VENV)/bin
TORCH_PIN := torch==2.13.0
TORCH_INDEX ?=
PIP := $(BIN)/python -m pip --disable-pip-version-check

.PHONY: demo test install clean

$(BIN)/pytorch-patterns: pyproject.toml
	@echo "[1/3] creating the virtual environment ($(VENV) -> $(VENV_HOME))"
	@if [ ! -L $(VENV) ] && [ -d $(VENV) ]; then echo "      (keeping the existing $(VENV) folder)"; \
	 else rm -f $(VENV) && $(PY) -m venv $(VENV_HOME) && ln -sfn $(VENV_HOME) $(VENV); fi
	@$(PIP) install -q --upgrade pip
	@echo "[2/3] installing $(TORCH_PIN) $(if $(TORCH_INDEX),from $(TORCH_INDEX),from the configured index) (up to a few minutes the first time)"
	@$(PIP) install $(if $(TORCH_INDEX),--index-url $(TORCH_INDEX)) --progress-bar on "$(TORCH_PIN)" | grep -v '^Requirement already satisfied' || true
	@$(BIN)/python -c "import torch" || { echo "torch did not install; see above"; exit 1; }
	@echo "[3/3] installing pytorch-patterns (editable) with its test tools"
	@$(PIP) install -q -e ".[dev]"
	@touch $@
	@echo "done: the CLI is $(BIN)/pytorch-patterns (or 'source $(BIN)/activate')"

install: $(BIN)/pytorch-patterns

demo: install
	@$(BIN)/python -m pytorch_patterns demo

test: install
	$(BIN)/python -m pytest -q -n 2

clean:
	rm -rf $(VENV_HOME) $(VENV) build *.egg-info .pytest_cache
