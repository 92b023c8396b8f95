"""Training recipes: one TOML file per model, a ``[model]`` table and one table per stage.

::

    [model]
    config = { vocab_size = 6922, hidden_size = 64, num_hidden_layers = 2 }   # or path = "/models/x"
    tokenizer = "bundled"              # or a local tokenizer directory

    [pretrain]                         # Megatron-style names
    data = "../../build/stage1"        # a build whose manifest.json has "data_path", or data_path = [...]
    micro_batch_size = 4
    global_batch_size = 16             # gradient accumulation = global / (micro * world)
    seq_length = 256
    lr = 3e-3
    min_lr_ratio = 0.1
    train_iters = 40                   # or train_tokens, or train_epochs
    save = "../../build/train/pretrain"

    [instruct]                         # starts from [pretrain]'s <save>/export unless init is set
    data = "../../build/stage2"        # a build with packed/

    [adapt]
    method = "lora"                    # "lora" | "cpoly" | "full"

Relative paths are resolved against the recipe's directory; ``--set`` overrides against the
working directory. Unknown keys are errors, so a typo never silently falls back to a default.
"""

from __future__ import annotations

import dataclasses
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from curate.core.config import RecipeError, load_toml, make_config, parse_overrides, path_option

STAGES = ("pretrain", "instruct", "adapt")
PREVIOUS = {"instruct": "pretrain", "adapt": "instruct"}
BUNDLED_TOKENIZER = Path(__file__).resolve().parent.parent / "assets" / "tokenizer"


@dataclass(frozen=True)
class ModelConfig:
    """The model: a local Hugging Face directory, or a LLaMA-style config built from scratch."""

    path: str | None = path_option()
    config: dict | None = None  # keyword arguments of transformers.AutoConfig.for_model(model_type, ...)
    model_type: str = "llama"
    tokenizer: str = "bundled"
    attn_implementation: str = "sdpa"


@dataclass(frozen=True)
class StageConfig:
    """One stage's data, objective and optimisation settings (Megatron argument names)."""

    objective: str | None = None  # "causal" (default) | "glm" for pretrain; "sft" for instruct and adapt
    data: str | None = path_option()
    data_path: tuple = ()  # explicit Megatron blend: (w1, prefix1, w2, prefix2, ...)
    split: str = "969,30,1"
    init: str | None = path_option()  # HF directory to start from; default: previous stage's export
    micro_batch_size: int = 1
    global_batch_size: int = 8
    seq_length: int | None = None  # packed stages: taken from the shards when unset
    lr: float = 1e-4
    min_lr: float | None = None
    min_lr_ratio: float | None = None
    lr_decay_style: str = "cosine"  # "cosine" | "linear" | "constant"
    lr_decay_iters: int | None = None  # default: the training iterations
    lr_warmup_fraction: float | None = None
    lr_warmup_iters: int = 0
    adam_beta1: float = 0.9
    adam_beta2: float = 0.999
    adam_eps: float = 1e-8
    weight_decay: float = 0.0
    clip_grad: float = 1.0
    train_iters: int | None = None
    train_tokens: int | None = None
    train_epochs: float | None = None
    seed: int = 1234
    save: str | None = path_option()
    save_interval: int = 0  # 0: only the final export, no step checkpoints
    keep_last: int = 2
    log_interval: int = 1
    eval_interval: int = 0
    eval_iters: int = 0
    bf16: bool = True  # on GPU only; CPU trains in fp32
    activation_checkpointing: bool = False
    glm_mask_ratio: float = 0.15
    glm_poisson_lambda: float = 3.0
    # stage 3 adapters
    method: str = "full"  # "lora" | "cpoly" | "full"
    lora_r: int = 8
    lora_alpha: int = 16
    lora_dropout: float = 0.05
    target_modules: tuple = ("q_proj", "k_proj", "v_proj", "o_proj")
    cpoly_shared_skills: int = 4
    cpoly_rank: int = 4
    cpoly_task_skills: int = 1
    cpoly_combine: str = "outputs"  # "outputs" (Eq. 1: sum of skill outputs) | "weights" (Poly: average of skills)
    merge: bool = False
    peak_flops: float | None = None  # per device; default from the device name (GPU) or none (CPU)

    def iterations(self, seq_length: int, dataset_len: int | None = None) -> int:
        """Training iterations from train_iters, train_tokens or train_epochs (in that order)."""
        if self.train_iters is not None:
            return self.train_iters
        if self.train_tokens is not None:
            return max(1, math.ceil(self.train_tokens / (self.global_batch_size * seq_length)))
        if self.train_epochs is not None and dataset_len is not None:
            return max(1, int(self.train_epochs * dataset_len) // self.global_batch_size)
        raise RecipeError("set train_iters, train_tokens or train_epochs (epochs need a dataset of known length)")

    def warmup_iters(self, iters: int) -> int:
        """Warmup iterations: lr_warmup_fraction of the run when set, else lr_warmup_iters."""
        if self.lr_warmup_fraction is not None:
            return round(self.lr_warmup_fraction * iters)
        return self.lr_warmup_iters

    def final_lr(self) -> float:
        """The lr the decay ends at: min_lr, or min_lr_ratio * lr, or 0."""
        if self.min_lr is not None:
            return self.min_lr
        return self.lr * (self.min_lr_ratio or 0.0)


@dataclass(frozen=True)
class ExperimentsConfig:
    """``[experiments]``: what ``curate experiment`` (Tables 7 and 8, Figure 6) reads, and where it writes."""

    out: str | None = path_option()  # tables, figure, corpora, runs and evaluations of the experiments
    pqal: str | None = path_option()  # ori_pqal.json: evaluation items and the annotators' labelled check
    test_ids: str | None = path_option()  # test_ground_truth.json: the official test split
    pqau: str | None = path_option()  # ori_pqau.json: what Table 7's annotators label
    table7: str | None = path_option()  # the stage-3 recipe of PQA-L + labelled PQA-U (its pqa_u inputs are set)
    table8: str | None = path_option()  # the directory of Table 8's mix recipes
    annotator: str | None = path_option()  # an HF export; default: the [instruct] stage's export
    annotator_url: str | None = None  # an OpenAI-compatible server instead (vLLM): annotator_model is its model
    annotator_model: str | None = None
    reasoning_tokens: int = 384  # VoC explanations and judgement
    answer_tokens: int = 32
    annotate_limit: int | None = None  # only the first N PQA-U items (and PQA-L test items for the accuracy)
    annotate_fallback_to_ppl: bool = True  # an unparsed answer -> the options' perplexity ranking (local model only)
    eval_method: str = "ppl"
    eval_limit: int | None = None  # only the first N test items
    base_prompt: str = "lm_eval"  # the base and stage-1 models are not chat models: lm-eval's plain prompt
    chat_prompt: str = "chat"  # stages 2 and 3: the instruction format they were tuned on
    workers: int | None = None  # corpus build processes (default: all cores)


@dataclass(frozen=True)
class TrainConfig:
    """A recipe resolved for one stage."""

    stage: str
    model: ModelConfig
    train: StageConfig
    recipe: str = ""
    previous: StageConfig | None = field(default=None, compare=False)

    @property
    def tokenizer_dir(self) -> Path:
        """The tokenizer directory (the bundled one unless the recipe names another)."""
        tok = self.model.tokenizer
        return BUNDLED_TOKENIZER if tok == "bundled" else Path(tok)

    @property
    def save_dir(self) -> Path:
        """Where checkpoints, logs and the export go."""
        if self.train.save is None:
            raise RecipeError(f"[{self.stage}] needs save = \"<dir>\" for checkpoints and the export")
        return Path(self.train.save)

    def init_dir(self) -> Path | None:
        """The HF directory this stage starts from, or None to build the model from [model]."""
        if self.train.init is not None:
            return Path(self.train.init)
        if self.stage == "pretrain":
            return Path(self.model.path) if self.model.path else None
        if self.previous is None or self.previous.save is None:
            raise RecipeError(f"[{self.stage}] has no init and the recipe has no [{PREVIOUS[self.stage]}] with a "
                              f"save dir: set {self.stage}.init to the HF directory to start from")
        return Path(self.previous.save) / "export"


# Implementations that honour the batch's mask: sdpa takes the boolean 4-D mask, flash-attention 2 the
# cu_seqlens of the packed examples. Eager ADDS a boolean mask to the scores (True = 1.0, False = 0.0),
# so every masked position would stay visible.
ATTENTION = ("sdpa", "flash_attention_2")


def check_attention(model: ModelConfig, objective: str | None) -> None:
    """Refuse an attention implementation that would ignore the training masks."""
    if model.attn_implementation not in ATTENTION:
        raise RecipeError(f"[model] attn_implementation {model.attn_implementation!r}: use 'sdpa' (any device) or "
                          f"'flash_attention_2' (GPU with flash-attn); eager attention adds the boolean mask to the "
                          f"scores and so ignores it (packed examples would see each other, GLM's Part A would see "
                          f"Part B)")
    if model.attn_implementation == "flash_attention_2" and objective == "glm":
        raise RecipeError("[model] flash_attention_2 cannot express GLM's mask (Part A attends bidirectionally, "
                          "Part B causally): train the glm objective with attn_implementation = 'sdpa'")


def _check(stage: str, cfg: StageConfig) -> None:
    allowed = {"pretrain": ("causal", "glm"), "instruct": ("sft",), "adapt": ("sft",)}[stage]
    if cfg.objective not in allowed:
        raise RecipeError(f"[{stage}] objective {cfg.objective!r}: expected one of {', '.join(allowed)}")
    if cfg.lr_decay_style not in ("cosine", "linear", "constant"):
        raise RecipeError(f"[{stage}] lr_decay_style {cfg.lr_decay_style!r}: expected cosine, linear or constant")
    if cfg.method not in ("lora", "cpoly", "full"):
        raise RecipeError(f"[{stage}] method {cfg.method!r}: expected lora, cpoly or full")
    if cfg.cpoly_combine not in ("outputs", "weights"):
        raise RecipeError(f"[{stage}] cpoly_combine {cfg.cpoly_combine!r}: expected outputs or weights")
    if cfg.method != "full" and stage != "adapt":
        raise RecipeError(f"[{stage}] method {cfg.method!r}: adapters are for the adapt stage only")
    if cfg.min_lr is not None and cfg.min_lr_ratio is not None:
        raise RecipeError(f"[{stage}] set min_lr or min_lr_ratio, not both")
    if cfg.data is None and not cfg.data_path:
        raise RecipeError(f"[{stage}] needs data = \"<build dir>\" (or data_path = [w1, prefix1, ...] for pretrain)")


def _absolute_paths(cls: type, values: dict[str, Any]) -> dict[str, Any]:
    """Overrides name paths relative to the working directory, not the recipe."""
    paths = {f.name for f in dataclasses.fields(cls) if f.metadata.get("path")}
    return {k: (os.path.abspath(v) if k in paths and isinstance(v, str) else v) for k, v in values.items()}


def load_config(path: str | Path, stage: str, overrides: Any = None) -> TrainConfig:
    """Read a training recipe for ``stage``; ``overrides`` (``key=value``, ``model.key=value``) win."""
    if stage not in STAGES:
        raise RecipeError(f"unknown stage {stage!r}: expected one of {', '.join(STAGES)}")
    path = Path(path)
    raw = load_toml(path)
    unknown = sorted(set(raw) - {"model", *STAGES, "experiments"})
    if unknown:
        tables = ", ".join(f"[{s}]" for s in ("model", *STAGES, "experiments"))
        raise RecipeError(f"{path}: unknown table(s) {', '.join(unknown)}; expected {tables}")
    if stage not in raw:
        raise RecipeError(f"{path}: no [{stage}] table")
    extra = parse_overrides(overrides)
    from curate.train import schema

    schema.check(raw, path, stage, extra)  # the recipe with its overrides: every problem at once
    model_over = {k.removeprefix("model."): v for k, v in extra.items() if k.startswith("model.")}
    stage_over = {k.removeprefix(f"{stage}."): v for k, v in extra.items() if not k.startswith("model.")}
    base = path.resolve().parent
    model = make_config(ModelConfig, raw.get("model", {}), base, f"{path} [model]")
    model = dataclasses.replace(model, **_absolute_paths(ModelConfig, model_over))
    if model.tokenizer != "bundled" and not os.path.isabs(model.tokenizer):
        model = dataclasses.replace(model, tokenizer=os.path.normpath(base / model.tokenizer))
    train = make_config(StageConfig, raw[stage], base, f"{path} [{stage}]")
    try:
        train = dataclasses.replace(train, **_absolute_paths(StageConfig, stage_over))
    except TypeError as err:
        raise RecipeError(f"override: {err} (keys are [{stage}] options or model.<option>)") from None
    if train.data_path:
        parts = list(train.data_path)
        parts[1::2] = [os.path.normpath(base / p) for p in parts[1::2]]
        train = dataclasses.replace(train, data_path=tuple(parts))
    if train.objective is None:
        train = dataclasses.replace(train, objective="causal" if stage == "pretrain" else "sft")
    _check(stage, train)
    check_attention(model, train.objective)
    prev = PREVIOUS.get(stage)
    previous = make_config(StageConfig, raw[prev], base, f"{path} [{prev}]") if prev in raw else None
    return TrainConfig(stage=stage, model=model, train=train, recipe=str(path), previous=previous)


def load_experiments(path: str | Path) -> ExperimentsConfig:
    """The ``[experiments]`` table of a training recipe (paths resolved against the recipe's directory)."""
    path = Path(path)
    raw = load_toml(path)
    from curate.train import schema

    schema.check(raw, path, "experiments")
    if "experiments" not in raw:
        raise RecipeError(f"{path}: no [experiments] table (out, pqal, test_ids, pqau, table7, table8, ...)")
    exp = make_config(ExperimentsConfig, raw["experiments"], path.resolve().parent, f"{path} [experiments]")
    for key in ("out", "pqal", "test_ids"):
        if getattr(exp, key) is None:
            raise RecipeError(f"{path} [experiments]: {key} is required")
    if exp.annotator_url and not exp.annotator_model:
        raise RecipeError(f"{path} [experiments]: annotator_url needs annotator_model (the served model's name)")
    return exp
