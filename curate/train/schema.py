"""The schema of training recipes: ``[model]``, one table per stage and ``[experiments]``.

Types come from ``ModelConfig``, ``StageConfig`` and ``ExperimentsConfig``; the ranges and enums are
declared here. ``check`` validates the recipe after ``--set`` overrides are merged into it, so an
override of the wrong type is reported like a recipe value, under its key path.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from curate.core import schema as s
from curate.train.config import STAGES, ExperimentsConfig, ModelConfig, StageConfig

Pos, NonNeg, Frac = s.at_least(1), s.at_least(0), s.fraction()

Model = s.from_dataclass(ModelConfig, {"model_type": s.Str, "attn_implementation": s.Str})
Stage = s.from_dataclass(StageConfig, {
    "objective": s.one_of(("causal", "glm", "sft")), "data_path": list[s.Float | s.Str],
    "micro_batch_size": Pos, "global_batch_size": Pos, "seq_length": Pos, "lr": NonNeg, "min_lr": NonNeg,
    "min_lr_ratio": Frac, "lr_decay_style": s.one_of(("cosine", "linear", "constant")), "lr_decay_iters": Pos,
    "lr_warmup_fraction": Frac, "lr_warmup_iters": NonNeg, "adam_beta1": s.fraction(upper_open=True),
    "adam_beta2": s.fraction(upper_open=True), "adam_eps": s.above(0), "weight_decay": NonNeg, "clip_grad": NonNeg,
    "train_iters": Pos, "train_tokens": Pos, "train_epochs": s.above(0), "save_interval": NonNeg, "keep_last": Pos,
    "log_interval": Pos, "eval_interval": NonNeg, "eval_iters": NonNeg, "glm_mask_ratio": s.fraction(upper_open=True),
    "glm_poisson_lambda": s.above(0), "method": s.one_of(("lora", "cpoly", "full")), "lora_r": Pos,
    "lora_alpha": Pos, "lora_dropout": s.fraction(upper_open=True), "target_modules": s.Strs,
    "cpoly_shared_skills": NonNeg, "cpoly_rank": Pos, "cpoly_task_skills": NonNeg,
    "cpoly_combine": s.one_of(("outputs", "weights")), "peak_flops": s.above(0)})
Experiments = s.from_dataclass(ExperimentsConfig, {
    "reasoning_tokens": Pos, "answer_tokens": Pos, "annotate_limit": Pos, "eval_limit": Pos, "workers": Pos})


class TrainRecipe(s.Table):
    """A training recipe: the model and the tables of the stages it trains."""

    model: Model | None = None  # type: ignore[valid-type]
    pretrain: Stage | None = None  # type: ignore[valid-type]
    instruct: Stage | None = None  # type: ignore[valid-type]
    adapt: Stage | None = None  # type: ignore[valid-type]
    experiments: Experiments | None = None  # type: ignore[valid-type]


def merged(raw: dict[str, Any], stage: str, overrides: dict[str, Any]) -> dict[str, Any]:
    """The recipe with ``model.KEY`` and ``[stage.]KEY`` overrides merged into its tables."""
    out = {k: dict(v) if isinstance(v, dict) else v for k, v in raw.items()}
    for key, value in overrides.items():
        table, _, name = key.partition(".") if key.startswith(("model.", *(f"{t}." for t in STAGES))) else (
            stage, "", key)
        if isinstance(out.get(table), dict):
            out[table][name] = value
        elif table not in out:
            out[table] = {name: value}
    return out


def check(raw: dict[str, Any], path: Path | str, stage: str, overrides: dict[str, Any] | None = None) -> None:
    """Raise every problem of a training recipe, with ``overrides`` merged, at once."""
    data = merged(raw, stage, overrides or {})
    where = f"{path} with --set" if overrides else str(path)
    if found := s.problems(TrainRecipe, data):
        raise s.SchemaError([f"{where}: {line}" for line in found])
