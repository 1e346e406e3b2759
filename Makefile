PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
export DATABASE_URL ?= postgresql://postgres@127.0.0.1:5432/o2c
export REDIS_URL_TEST ?= redis://127.0.0.1:6379/15

.PHONY: run test install lint bench

$(BIN)/python:
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

install: $(BIN)/python
	$(BIN)/pip install -q -e '.[dev]'

lint: install
	$(BIN)/ruff check .

test: install
	@command -v chromium >/dev/null || (apt-get update -qq && apt-get install -y -qq chromium >/dev/null) || echo "chromium not installable: browser tests will fail"
	O2C_FAST_PASSWORD_HASHER=1 $(BIN)/pytest -n auto -q --create-db $(ARGS)

run: install
	$(BIN)/python scripts/run.py
