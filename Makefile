# VidPref: `make run` (install + demo + web server and worker), `make test` (install + every test).
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
DEV_ENV := VIDPREF_DEV=1 DEBUG=1

.PHONY: install run demo test test-sqlite test-fast lint bench clean

$(VENV)/.installed: pyproject.toml
	scripts/system-deps.sh ffmpeg
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install -q --upgrade pip
	$(VENV)/bin/pip install -q -e '.[dev]'
	touch $@

install: $(VENV)/.installed

run: install
	$(DEV_ENV) $(PY) manage.py migrate --noinput
	$(DEV_ENV) $(PY) manage.py demo
	$(DEV_ENV) $(PY) manage.py make_tiny_models
	$(DEV_ENV) scripts/run-dev.sh

demo: install
	$(DEV_ENV) $(PY) manage.py migrate --noinput
	$(DEV_ENV) $(PY) manage.py demo
	$(DEV_ENV) $(PY) manage.py make_tiny_models

# The embedded default's own code paths (the portable claim under 16 racing annotators, the SQLite queries of
# quality and exports, migration 0002's trigger) run again on SQLite: `make run` uses them.
SQLITE_TESTS := tests/annotation/test_queue.py tests/annotation/test_submit.py tests/annotation/test_quality.py \
	tests/annotation/test_exports_formats.py tests/annotation/test_exports_worker.py

test: install
	scripts/system-deps.sh ffmpeg chromium
	scripts/ensure-services.sh
	$(PY) -m pytest
	$(MAKE) --no-print-directory test-sqlite

test-sqlite: install
	DATABASE_URL=sqlite://:memory: $(PY) -m pytest -q $(SQLITE_TESTS)

test-fast: install
	$(PY) -m pytest -m "not browser and not slow"

lint: install
	$(VENV)/bin/ruff check .

bench: install
	@for b in bench/bench_*.py; do echo "== $$b"; $(PY) $$b || exit 1; done

clean:
	rm -rf $(VENV) data staticfiles .pytest_cache
