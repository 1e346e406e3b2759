PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
# `make run` must see DATABASE_URL/REDIS_URL exactly as the user set them (unset = embedded/in-process);
# tests default to the local Postgres (settings) and Redis DB 15.
export REDIS_URL_TEST ?= redis://127.0.0.1:6379/15

.PHONY: run test install lint

$(BIN)/python:
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

# Reinstall only when the dependencies change.
$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q -e '.[dev]'
	touch $@

install: $(VENV)/.installed

lint: install
	$(BIN)/ruff check .

test: install
	@command -v chromium >/dev/null || (apt-get update -qq && apt-get install -y -qq chromium >/dev/null) || echo "chromium not installable: browser tests will fail"
	O2C_FAST_PASSWORD_HASHER=1 $(BIN)/pytest -n auto -q --create-db $(ARGS)

run: install
	$(BIN)/python scripts/run.py
