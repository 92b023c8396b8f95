# curate: `make corpus` builds the three stages' corpora from the bundled samples; `make test` runs the tests.
# Both create the virtual environment they need (.venv) on first use.

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
RECIPES ?= recipes/stage1.toml recipes/stage2.toml recipes/stage3.toml
OUT ?= build
WORKERS ?=
TORCH ?= torch==2.13.0
# Training: the recipe, processes per node, and the PubMedQA files the chain is evaluated on.
CONFIG ?= recipes/train/tiny.toml
NPROC ?= 1
PQAL ?= samples/instruct/pubmedqa/ori_pqal.json
PQAL_TEST ?= samples/instruct/pubmedqa/test_ground_truth.json
TRAIN_OUT ?= build/train/tiny
TORCHRUN = $(BIN)/torchrun --standalone --nproc-per-node $(NPROC) -m curate.cli train --config $(CONFIG)

.PHONY: setup setup-dev setup-train corpus train-all table7 table8 figure6 test lint bench tokenizer samples clean

# Core install: the curation toolkit only (no torch).
$(VENV)/.core: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e .
	touch $@

# Training install: torch first (pinned: an unpinned torch pulls CUDA wheels on CPU machines; set
# TORCH= to keep a cluster's own build), then peft, megatron-core, tensorboard and matplotlib.
$(VENV)/.train: $(VENV)/.core
	$(if $(TORCH),$(BIN)/pip install --quiet $(TORCH))
	$(BIN)/pip install --quiet -e '.[train]'
	touch $@

# Dev install: the training stack plus the test tools and lm-eval for the parity check.
$(VENV)/.dev: $(VENV)/.train
	$(BIN)/pip install --quiet -e '.[train,dev]'
	touch $@

setup: $(VENV)/.core

setup-dev: $(VENV)/.dev

setup-train: $(VENV)/.train

# Stage 1 (Megatron shards), stage 2 and stage 3 (packed instruction Parquet) into $(OUT)/<name>/.
corpus: $(VENV)/.core
	@for recipe in $(RECIPES); do \
		$(BIN)/curate corpus $$recipe --out $(OUT) $(if $(WORKERS),--workers $(WORKERS)) || exit 1; \
	done

# The three training stages in order, each from the previous stage's export, then the PubMedQA
# evaluation of the final model. CONFIG=recipes/train/antglm-10b.toml NPROC=8 on a GPU node; for
# several nodes use scripts/slurm_train.sh. The corpora are built (or found built) first.
train-all: $(VENV)/.train corpus
	$(TORCHRUN) --stage pretrain
	$(TORCHRUN) --stage instruct
	$(TORCHRUN) --stage adapt
	$(BIN)/curate eval pubmedqa --data $(PQAL) --test-ids $(PQAL_TEST) --out $(TRAIN_OUT)/eval \
		--model $(TRAIN_OUT)/instruct/export --adapter $(TRAIN_OUT)/adapt/export

# The seed's experiments, each one command (curate experiment): table7.md (PQA-U annotated from the long
# answer, and with Verification-of-Choice; LoRA and full fine-tuning on PQA-L + each), table8.md (every
# mix of recipes/table8/: LoRA for one dataset, C-Poly for several) and figure6.md + figure6.png
# (PubMedQA accuracy per stage), in $(CONFIG)'s experiments.out. Stages 1 and 2 are trained first when
# their exports are missing. Tiny and on CPU by default; CONFIG=recipes/train/antglm-10b.toml NPROC=8 on
# a GPU node is the paper's run.
table7 table8 figure6: $(VENV)/.train corpus
	$(BIN)/curate experiment $@ --config $(CONFIG) --nproc $(NPROC)

test: $(VENV)/.dev
	$(BIN)/python -m pytest -q

lint: $(VENV)/.dev
	$(BIN)/ruff check .

# All benchmarks, one after the other (about 20 minutes on 2 cores); each script also runs alone.
bench: $(VENV)/.dev
	$(BIN)/python bench/tokenize_throughput.py
	$(BIN)/python bench/build_throughput.py
	$(BIN)/python bench/books_throughput.py
	$(BIN)/python bench/kg_throughput.py
	$(BIN)/python bench/structured_check.py --build kg:samples/kg --build exams:samples/exams --build qa:samples/qa
	$(BIN)/python bench/minhash_throughput.py
	$(BIN)/python bench/neardup_eval.py
	$(BIN)/python bench/neardup_scale.py
	$(BIN)/python bench/decontam_throughput.py
	$(BIN)/python bench/phi_eval.py
	$(BIN)/python bench/instruct_build.py
	$(BIN)/python bench/train_throughput.py --threads 1
	$(BIN)/python bench/cpoly_vs_lora.py
	$(BIN)/python bench/eval_prefix_reuse.py
	$(BIN)/python bench/lm_eval_parity.py

# Retrain the bundled tokenizer on the bundled samples (the result is committed).
tokenizer: $(VENV)/.core
	$(BIN)/curate tokenizer train --input samples --vocab-size 8000 --out curate/assets/tokenizer

clean:
	rm -rf $(OUT) .pytest_cache
