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

.PHONY: setup setup-dev setup-train corpus train-all table7 table8 test lint bench tokenizer samples clean

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

# The seed's Table 8 on a cluster: stage 3 on each ablation mix of recipes/table8/ (500 examples per
# dataset), LoRA for one dataset and C-Poly for several, each scored on the PubMedQA test split.
# Starts from the stage-2 export of CONFIG; MIXES picks a subset.
MIXES ?= $(basename $(notdir $(wildcard recipes/table8/*.toml)))
INSTRUCT_EXPORT ?= $(TRAIN_OUT)/instruct/export
table8: $(VENV)/.train
	@for mix in $(MIXES); do \
		method=$$(case $$mix in *+*) echo cpoly;; *) echo lora;; esac); \
		$(BIN)/curate corpus "recipes/table8/$$mix.toml" --out build || exit 1; \
		$(TORCHRUN) --stage adapt --set data=build/table8-$$mix --set method=$$method \
			--set init=$(INSTRUCT_EXPORT) --set save=build/train/table8/$$mix || exit 1; \
		$(BIN)/curate eval pubmedqa --data $(PQAL) --test-ids $(PQAL_TEST) --model $(INSTRUCT_EXPORT) \
			--adapter build/train/table8/$$mix/export $$([ $$method = cpoly ] && echo --task pubmedqa) \
			--out build/eval/table8/$$mix || exit 1; \
	done

# The seed's Table 7 on a cluster: PQA-U pseudo-labelled by an LLM served at URL (an OpenAI-compatible
# server, model name MODEL; without URL, MODEL is a local export) from the long answer, then long
# answer + Verification-of-Choice; the annotator's accuracy on the labelled test items; stage 3 on
# PQA-L + each labelled PQA-U; each scored on the test split.
PQAU ?= samples/instruct/pubmedqa/ori_pqau.json
URL ?=
MODEL ?= $(INSTRUCT_EXPORT)
table7: $(VENV)/.train
	@for strategy in long-answer long-answer+voc; do \
		$(BIN)/curate annotate accuracy $(PQAL) --ids $(PQAL_TEST) --split test --strategy $$strategy \
			--model $(MODEL) $(if $(URL),--base-url $(URL)) --out build/eval/table7/accuracy-$$strategy.json || exit 1; \
		$(BIN)/curate annotate pqa-u $(PQAU) --test-ids $(PQAL_TEST) --strategy $$strategy \
			--model $(MODEL) $(if $(URL),--base-url $(URL)) --out build/annotate/pqa_u_labelled.json || exit 1; \
		$(BIN)/curate corpus recipes/stage3.toml --out build/table7/$$strategy || exit 1; \
		$(TORCHRUN) --stage adapt --set data=build/table7/$$strategy/stage3 --set init=$(INSTRUCT_EXPORT) \
			--set save=build/train/table7/$$strategy || exit 1; \
		$(BIN)/curate eval pubmedqa --data $(PQAL) --test-ids $(PQAL_TEST) --model $(INSTRUCT_EXPORT) \
			--adapter build/train/table7/$$strategy/export --out build/eval/table7/$$strategy || exit 1; \
	done

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
