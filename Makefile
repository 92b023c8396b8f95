# curate: `make corpus` builds the three stages' corpora from the bundled samples; `make test` runs the tests.
# Both create the virtual environment they need (.venv) on first use.

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
RECIPES ?= recipes/stage1.toml recipes/stage2.toml recipes/stage3.toml
OUT ?= build
WORKERS ?=

.PHONY: setup setup-dev corpus test lint bench tokenizer samples clean

# Core install: the curation toolkit only (no torch).
$(VENV)/.core: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e .
	touch $@

# Dev install: torch's CPU build first (megatron-core and peft need torch; an unpinned torch pulls
# CUDA), then the training stack, the test tools, megatron-core and lm-eval for the cross-checks.
$(VENV)/.dev: $(VENV)/.core
	$(BIN)/pip install --quiet torch==2.13.0
	$(BIN)/pip install --quiet -e '.[train,dev]'
	touch $@

setup: $(VENV)/.core

setup-dev: $(VENV)/.dev

# Stage 1 (Megatron shards), stage 2 and stage 3 (packed instruction Parquet) into $(OUT)/<name>/.
corpus: $(VENV)/.core
	@for recipe in $(RECIPES); do \
		$(BIN)/curate corpus $$recipe --out $(OUT) $(if $(WORKERS),--workers $(WORKERS)) || exit 1; \
	done

test: $(VENV)/.dev
	$(BIN)/python -m pytest -q

lint: $(VENV)/.dev
	$(BIN)/ruff check .

# All benchmarks, one after the other (about 20 minutes on 2 cores); each script also runs alone.
bench: $(VENV)/.core
	$(BIN)/python bench/tokenize_throughput.py
	$(BIN)/python bench/build_throughput.py
	$(BIN)/python bench/books_throughput.py
	$(BIN)/python bench/kg_throughput.py
	$(BIN)/python bench/minhash_throughput.py
	$(BIN)/python bench/neardup_eval.py
	$(BIN)/python bench/neardup_scale.py
	$(BIN)/python bench/decontam_throughput.py
	$(BIN)/python bench/phi_eval.py

# Retrain the bundled tokenizer on the bundled samples (the result is committed).
tokenizer: $(VENV)/.core
	$(BIN)/curate tokenizer train --input samples --vocab-size 8000 --out curate/assets/tokenizer

clean:
	rm -rf $(OUT) .pytest_cache
