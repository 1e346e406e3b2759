PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
# `make run` must see DATABASE_URL/REDIS_URL exactly as the user set them (unset = embedded/in-process);
# tests default to the local Postgres (settings) and Redis DB 15.
export REDIS_URL_TEST ?= redis://127.0.0.1:6379/15

.PHONY: run test install lint citus

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

# Build and install the Citus extension into this machine's PostgreSQL (a no-op once installed), from the
# shared engines folder: O2C_SHARED_DIR, ../shared, or ../shared beside the checkout this one was cloned from.
citus:
	@shared="$(O2C_SHARED_DIR)"; origin="$$(git config --get remote.origin.url 2>/dev/null)"; \
	for d in ../shared "$$origin/../shared"; do \
	  [ -z "$$shared" ] && [ -f "$$d/engines/build-citus.sh" ] && shared="$$d"; \
	done; \
	if [ -n "$$shared" ]; then bash "$$shared/engines/build-citus.sh"; \
	elif ls /usr/lib/postgresql/*/lib/citus.so >/dev/null 2>&1; then echo "citus installed (no source found to check its version)"; \
	else echo "the Citus source (../shared/engines) was not found: set O2C_SHARED_DIR" >&2; exit 1; fi

# The whole suite on the machine's PostgreSQL, then the Citus suite (tests/citus_support.py) on a real
# coordinator and two workers that the tests start themselves.
test: install citus
	@command -v chromium >/dev/null || (apt-get update -qq && apt-get install -y -qq chromium >/dev/null) || echo "chromium not installable: browser tests will fail"
	O2C_FAST_PASSWORD_HASHER=1 $(BIN)/pytest -n auto -q --create-db $(ARGS)
	O2C_CITUS=1 O2C_FAST_PASSWORD_HASHER=1 $(BIN)/pytest -n 2 -q $(ARGS)

run: install
	$(BIN)/python scripts/run.py
