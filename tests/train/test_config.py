"""Training recipes: unknown keys, gradient accumulation, iteration counts, overrides, stage chaining."""

from __future__ import annotations

from pathlib import Path

import pytest

from curate.build.recipes import RecipeError
from curate.train.config import StageConfig, load_config, parse_overrides


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "r.toml"
    path.write_text(text, encoding="utf-8")
    return path


BASE = """
[model]
config = { vocab_size = 64, hidden_size = 32 }
[pretrain]
data = "b1"
seq_length = 32
train_iters = 5
save = "out/pretrain"
[instruct]
data = "b2"
save = "out/instruct"
"""


def test_unknown_stage_key_is_an_error(tmp_path: Path) -> None:
    path = _write(tmp_path, BASE.replace("train_iters = 5", "train_iter = 5"))
    with pytest.raises(RecipeError, match=r"pretrain.train_iter: unknown key 'train_iter'"):
        load_config(path, "pretrain")


def test_unknown_model_key_and_table_are_errors(tmp_path: Path) -> None:
    with pytest.raises(RecipeError, match=r"model.tokenizr: unknown key 'tokenizr'"):
        load_config(_write(tmp_path, BASE.replace("[model]", '[model]\ntokenizr = "x"')), "pretrain")
    with pytest.raises(RecipeError, match=r"unknown table.*pretrian"):
        load_config(_write(tmp_path, BASE + "[pretrian]\nlr = 1.0\n"), "pretrain")


def test_unknown_override_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(RecipeError, match="override"):
        load_config(_write(tmp_path, BASE), "pretrain", ["lrr=1e-3"])


def test_paths_resolve_against_the_recipe_and_overrides_against_cwd(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path.parent)
    overrides = ["lr=0.5", "save=elsewhere", "model.model_type=mistral"]
    cfg = load_config(_write(tmp_path, BASE), "pretrain", overrides)
    assert cfg.train.data == str(tmp_path / "b1")
    assert cfg.train.save == str(tmp_path.parent / "elsewhere")
    assert cfg.train.lr == 0.5 and cfg.model.model_type == "mistral"


def test_next_stage_starts_from_previous_export(tmp_path: Path) -> None:
    cfg = load_config(_write(tmp_path, BASE), "instruct")
    assert cfg.init_dir() == tmp_path / "out" / "pretrain" / "export"
    assert load_config(_write(tmp_path, BASE), "pretrain").init_dir() is None  # from [model].config
    explicit = load_config(_write(tmp_path, BASE.replace('data = "b2"', 'data = "b2"\ninit = "m"')), "instruct")
    assert explicit.init_dir() == tmp_path / "m"


def test_objective_and_method_are_checked(tmp_path: Path) -> None:
    with pytest.raises(RecipeError, match="objective"):
        load_config(_write(tmp_path, BASE.replace("seq_length = 32", 'seq_length = 32\nobjective = "sft"')), "pretrain")
    with pytest.raises(RecipeError, match="adapt stage only"):
        load_config(_write(tmp_path, BASE.replace('data = "b2"', 'data = "b2"\nmethod = "lora"')), "instruct")


def test_grad_accum_is_global_over_micro_times_world() -> None:
    from curate.train.engine import Dist
    from curate.train.stagedata import EpochBatches, GlobalBatches

    cpu = __import__("torch").device("cpu")
    batches = GlobalBatches(100, 16, 2, shuffle=False, seed=0)
    assert [len(batches.micro_batches(0, Dist(0, w, 0, cpu))) for w in (1, 2, 8)] == [8, 4, 1]
    with pytest.raises(RecipeError, match="not a multiple"):
        batches.micro_batches(0, Dist(0, 3, 0, cpu))
    # Examples (stage 3): 12 on 8 ranks of micro-batch 3 are 2 per rank, the last two ranks idle.
    examples = EpochBatches(100, 12, 3, shuffle=False, seed=0)
    per_rank = [examples.micro_batches(0, Dist(r, 8, r, cpu)) for r in range(8)]
    assert [len(m) for m in per_rank] == [1] * 8 and [len(m[0]) for m in per_rank] == [2] * 6 + [0, 0]
    assert sorted(i for m in per_rank for i in m[0]) == examples.global_batch_at(0)


def test_iterations_from_iters_tokens_or_epochs() -> None:
    assert StageConfig(train_iters=7).iterations(128) == 7
    assert StageConfig(global_batch_size=4, train_tokens=1000).iterations(128) == 2  # ceil(1000 / 512)
    assert StageConfig(global_batch_size=12, train_epochs=10).iterations(128, dataset_len=30) == 25
    with pytest.raises(RecipeError):
        StageConfig().iterations(128)


def test_warmup_and_min_lr() -> None:
    assert StageConfig(lr_warmup_fraction=0.06).warmup_iters(100) == 6
    assert StageConfig(lr_warmup_iters=3).warmup_iters(100) == 3
    assert StageConfig(lr=1e-3, min_lr_ratio=0.1).final_lr() == pytest.approx(1e-4)
    assert StageConfig(lr=1e-3, min_lr=5e-5).final_lr() == 5e-5


def test_parse_overrides_reads_toml_values() -> None:
    assert parse_overrides(["lr=1e-3", "bf16=false", "data=build/x", "target_modules=['q_proj']"]) == {
        "lr": 1e-3, "bf16": False, "data": "build/x", "target_modules": ["q_proj"]}
    with pytest.raises(RecipeError):
        parse_overrides(["lr"])


def test_shipped_recipes_load() -> None:
    root = Path(__file__).resolve().parents[2] / "recipes" / "train"
    for name in ("tiny.toml", "antglm-10b.toml"):
        for stage in ("pretrain", "instruct", "adapt"):
            cfg = load_config(root / name, stage)
            assert cfg.train.save
    big = load_config(root / "antglm-10b.toml", "pretrain").train
    assert (big.adam_beta2, big.lr, big.min_lr_ratio, big.global_batch_size) == (0.95, 7e-6, 0.1, 256)
    adapt = load_config(root / "antglm-10b.toml", "adapt").train
    assert (adapt.lr, adapt.lr_decay_style, adapt.lr_warmup_fraction, adapt.train_epochs) == (5e-5, "linear", 0.06, 10)
