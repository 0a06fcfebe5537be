# Two commands on a fresh machine (see README.md):
#   make demo   installs Comptoir in .venv and runs the demo network
#   make test   installs Comptoir, its test tools and Debian's chromium, then runs every test
VENV ?= .venv
PY := $(VENV)/bin/python

.PHONY: install demo test lint bench

$(PY):
	python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip

install: $(PY)
	$(PY) -m pip install --quiet -e ".[dev]"

demo: install
	$(VENV)/bin/comptoir demo

chromium:
	@command -v chromium >/dev/null 2>&1 || { apt-get update -qq && apt-get install -y -qq chromium >/dev/null; }

lint: install
	$(VENV)/bin/ruff check .

test: install chromium lint
	$(PY) -m pytest -q

bench: install
	$(PY) -m benchmarks.routing
	$(PY) -m benchmarks.sync_ingest
	$(PY) -m benchmarks.terminal_latency
