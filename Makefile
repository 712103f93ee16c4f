# Marktwijzer. Two commands matter: `make run` (set up, ingest the shipped corpus, start API + UI)
# and `make test` (set up, run the tests). See README.md.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
API_HOST ?= 127.0.0.1
API_PORT ?= 8000
UI_PORT ?= 8501

# Offline and quiet before anything imports transformers, huggingface_hub or chromadb.
export HF_HUB_OFFLINE=1
export TRANSFORMERS_OFFLINE=1
export HF_HUB_DISABLE_TELEMETRY=1
export ANONYMIZED_TELEMETRY=False
export TOKENIZERS_PARALLELISM=false
export OMP_WAIT_POLICY=PASSIVE

.PHONY: setup browser axe postgres ingest run serve ui test bench bench-ui bench-api bench-tables eval train clean

setup: $(VENV)/.installed

# torch first: pinned to the local CPU wheel, so nothing later pulls the CUDA build.
$(VENV)/.installed: requirements.txt pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --disable-pip-version-check -q torch==2.13.0
	$(BIN)/pip install --disable-pip-version-check -q -r requirements.txt
	$(BIN)/pip install --disable-pip-version-check -q --no-deps -e .
	touch $@

# Exit 3 means a damaged index was repaired: the index serves, so set-up goes on.
ingest: setup
	$(BIN)/marktwijzer ingest || [ $$? -eq 3 ]

run: ingest
	@echo "Starting API on http://$(API_HOST):$(API_PORT) and UI on http://127.0.0.1:$(UI_PORT) (Ctrl-C stops both)"
	@$(BIN)/marktwijzer serve --host $(API_HOST) --port $(API_PORT) & api=$$!; \
	trap "kill $$api 2>/dev/null" EXIT INT TERM; \
	$(BIN)/marktwijzer ui --port $(UI_PORT)

serve: setup
	$(BIN)/marktwijzer serve --host $(API_HOST) --port $(API_PORT)

ui: setup
	$(BIN)/marktwijzer ui --port $(UI_PORT)

# Debian's chromium + chromedriver for the browser smoke test (tests/test_browser_smoke.py), driven
# by Playwright through executable_path: no browser download. Installed only when missing.
browser:
	@command -v chromium >/dev/null 2>&1 || { \
	  SUDO=$$([ "$$(id -u)" = 0 ] || echo sudo); \
	  $$SUDO apt-get update -q && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -q chromium chromium-driver; }

# axe-core (npm, pinned in tests/js/package-lock.json) for the accessibility checks of the browser test
# (tests/test_workplace_browser.py injects it with Playwright). npm from Debian when missing.
AXE := tests/js/node_modules/axe-core/axe.min.js
axe: $(AXE)
$(AXE): tests/js/package.json tests/js/package-lock.json
	@command -v npm >/dev/null 2>&1 || { \
	  SUDO=$$([ "$$(id -u)" = 0 ] || echo sudo); \
	  $$SUDO apt-get update -q && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -q npm; }
	cd tests/js && npm ci --no-audit --no-fund --ignore-scripts
	touch $@

# PostgreSQL server binaries for the database tests (they start their own cluster on loopback).
postgres:
	@ls /usr/lib/postgresql/*/bin/pg_ctl >/dev/null 2>&1 || { \
	  SUDO=$$([ "$$(id -u)" = 0 ] || echo sudo); \
	  $$SUDO apt-get update -q && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -q postgresql; }

test: setup browser axe postgres
	$(BIN)/python -m pytest -q

# All sections (~15 min on 2 cores); e.g. make bench BENCH_ARGS="--only query,baseline" for a part.
bench: setup
	$(BIN)/python -m benchmarks.run $(BENCH_ARGS)

# HTTP API under load (20 clients, 60 s) while ingest jobs run, on a copy of ./data.
bench-api: ingest
	$(BIN)/python -m benchmarks.load --clients 20 --duration 60

# Ingest time per table row: synthetic CSV/XLSX factsheets through the loaders and a full ingest.
bench-tables: setup
	$(BIN)/python -m benchmarks.table_bench $(BENCH_ARGS)

# UI time to first visible text after the model is loaded (backend + real browser); needs ./data.
bench-ui: ingest browser
	$(BIN)/python -m benchmarks.ui_ttft

# All three labelled sets: in-sample and cross-validated (folds grouped by source passage) tables
# per set and type, with the shipped weights' numbers per set after it.
EVAL_SETS := evals/train.jsonl evals/dev.jsonl evals/own.jsonl
eval: ingest
	$(BIN)/python -m assistant.crossval $(EVAL_SETS) --report benchmarks/results/crossval
	$(BIN)/marktwijzer eval evals/dev.jsonl --report benchmarks/results/eval-dev
	$(BIN)/marktwijzer eval evals/train.jsonl --report benchmarks/results/eval-train
	$(BIN)/marktwijzer eval evals/own.jsonl --report benchmarks/results/eval-own
	$(BIN)/python -m benchmarks.retrieval_eval evals/dev.jsonl evals/own.jsonl evals/train.jsonl

# Refit the shipped answer models (assistant/weights/*.json) on all three sets.
train: ingest
	$(BIN)/python -m assistant.crossval $(EVAL_SETS) --write-weights --folds 5

# pip-audit over the pinned requirements; offline it says clearly that it could not check (exit 0).
audit: setup
	$(BIN)/python scripts/dependency_audit.py -r requirements.txt

clean:
	rm -rf data benchmarks/results .pytest_cache
