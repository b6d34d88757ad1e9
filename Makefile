# Two commands do all the set-up on a fresh clone:
#   make demo   -- installs into .venv and runs the main job on bundled defaults
#   make test   -- installs into .venv and runs the test suite
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
TORCH_PIN := torch==2.13.0

.PHONY: demo test install clean

$(BIN)/pytorch-patterns: pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q "$(TORCH_PIN)"
	$(BIN)/python -m pip install -q -e ".[dev]"
	touch $@

install: $(BIN)/pytorch-patterns

demo: install
	$(BIN)/pytorch-patterns eval run --agent oracle

test: install
	$(BIN)/python -m pytest -q -n 2

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache
