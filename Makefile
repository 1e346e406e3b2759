PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
# `make run` must see DATABASE_URL/REDIS_URL exactly as the user set them (unset = embedded/in-process);
# tests default to the local Postgres (settings) and Redis DB 15.
export REDIS_URL_TEST ?= redis://127.0.0.1:6379/15

.PHONY: run test install lint citus
# The shared material (the Citus source among it) sits beside the checkout unless told otherwise.
SHARED ?= $(or $(O2C_SHARED_DIR),../shared)

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

# Build and install the Citus extension into this machine's PostgreSQL (a no-op once installed).
citus:
	bash $(SHARED)/engines/build-citus.sh

# The whole suite on the machine's PostgreSQL, then the Citus suite (tests/citus_support.py) on a real
# coordinator and two workers that the tests start themselves.
test: install citus
	@command -v chromium >/dev/null || (apt-get update -qq && apt-get install -y -qq chromium >/dev/null) || echo "chromium not installable: browser tests will fail"
	O2C_FAST_PASSWORD_HASHER=1 $(BIN)/pytest -n auto -q --create-db $(ARGS)
	O2C_CITUS=1 O2C_FAST_PASSWORD_HASHER=1 $(BIN)/pytest -n 2 -q $(ARGS)

run: install
	$(BIN)/python scripts/run.py
