# CareOps: `make demo` and `make test` do everything on a new machine.
SHELL := /bin/bash
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install demo test test-fast bench lint fmt services browser clean lock

$(STAMP): pyproject.toml requirements.lock
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade "uv>=0.5"
	$(BIN)/uv pip install --python $(BIN)/python -q -c requirements.lock -e ".[dev,spark]"
	touch $(STAMP)

install: $(STAMP)

lock:  ## re-resolve the pinned versions after changing dependencies
	$(BIN)/uv pip compile --python-version 3.11 --all-extras pyproject.toml -o requirements.lock -q

services:  ## PostgreSQL on 127.0.0.1:5432 (started if down); Java for Spark
	@bash scripts/services.sh

browser:  ## Debian Chromium + ChromeDriver and a Chinese font for page tests
	@command -v chromium >/dev/null && command -v chromedriver >/dev/null && fc-list :lang=zh | grep -q . || \
	  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
	     chromium chromium-driver fonts-wqy-microhei >/dev/null)

demo: install
	$(BIN)/careops demo

test: install services browser
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks
	$(BIN)/python -m pytest -n 2 --dist loadgroup --durations=15

test-fast: install
	$(BIN)/python -m pytest -n 2 -m "not postgres and not spark and not browser and not slow"

bench: install
	$(BIN)/careops bench all

lint: install
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks

fmt: install
	$(BIN)/ruff check --fix src tests benchmarks
	$(BIN)/ruff format src tests benchmarks

clean:
	rm -rf careops-data .pytest_cache
