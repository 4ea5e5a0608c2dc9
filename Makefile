# The README's two commands: `make shift` and `make test`. Each sets up .venv first.
VENV ?= .venv
PYTHON ?= python3
BIN := $(VENV)/bin
# torch first and pinned: this CPU wheel comes from the machine's disk; an unpinned torch
# (pulled in by stable-baselines3) would download a multi-GB CUDA build.
TORCH := torch==2.13.0

.PHONY: setup shift test bench

$(BIN)/.installed: setup.py
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet $(TORCH)
	$(BIN)/pip install --quiet -e '.[rl,test,ray]'
	touch $@

setup: $(BIN)/.installed

## an autonomous shift in the digital twin (extra flags: make shift ARGS="--parts 5")
shift: setup
	$(BIN)/cellctl shift $(ARGS)

## Debian's chromium, which Playwright drives in the operator page's browser tests (nothing is downloaded at run
## time: Playwright's own browser builds are never fetched)
CHROMIUM := /usr/bin/chromium
$(CHROMIUM):
	apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium

## the default test run (slow tests: make test ARGS="-m slow")
test: setup $(CHROMIUM)
	$(BIN)/python -m pytest -m "not slow" $(ARGS)

## every benchmark, results in bench/results.md
bench: setup $(CHROMIUM)
	$(BIN)/pip install --quiet -e '.[rl,test,ray,bench]'
	$(BIN)/python bench/run.py $(ARGS)
