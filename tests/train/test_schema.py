"""Training recipes and their --set overrides are validated before a model or a process group is made."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from curate.core.config import RecipeError
from curate.train.config import load_config, load_experiments
from tests.conftest import ROOT

TINY = ROOT / "recipes" / "train" / "tiny.toml"


def test_bundled_recipes_load_for_every_stage() -> None:
    for path in (ROOT / "recipes" / "train").glob("*.toml"):
        for stage in ("pretrain", "instruct", "adapt"):
            assert load_config(path, stage).stage == stage
        assert load_experiments(path).out


def test_overrides_are_checked_after_merging() -> None:
    with pytest.raises(RecipeError) as err:
        load_config(TINY, "adapt", ["lora_r='8'", "model.tokenizr=x", "lr_decay_style=cosin", "seed=abc"])
    assert str(err.value).splitlines() == [
        f"{TINY} with --set: model.tokenizr: unknown key 'tokenizr'; did you mean 'tokenizer'?",
        f"{TINY} with --set: adapt.lr_decay_style: expected one of 'cosine', 'linear', 'constant', got the string "
        "\"cosin\" (did you mean 'cosine'?)",
        f'{TINY} with --set: adapt.seed: expected an integer, got the string "abc"',
        f'{TINY} with --set: adapt.lora_r: expected an integer >= 1, got the string "8"']


def test_recipe_values_are_typed_in_every_table(tmp_path: Path) -> None:
    text = TINY.read_text().replace("lora_dropout = 0.05", "lora_dropout = 1.5").replace(
        "micro_batch_size = 4\nglobal_batch_size = 8", 'micro_batch_size = "4"\nglobal_batch_size = 8').replace(
        "answer_tokens = 8", "answer_tokens = 0")
    path = tmp_path / "t.toml"
    path.write_text(text.replace("../../", str(ROOT) + "/"))
    with pytest.raises(RecipeError) as err:
        load_config(path, "pretrain")
    assert str(err.value).splitlines() == [
        f'{path}: pretrain.micro_batch_size: expected an integer >= 1, got the string "4"',
        f"{path}: adapt.lora_dropout: expected a number >= 0 and < 1, got the number 1.5",
        f"{path}: experiments.answer_tokens: expected an integer >= 1, got the integer 0"]


def test_curate_train_exits_with_one_line(tmp_path: Path) -> None:
    from curate.cli import main

    result = CliRunner().invoke(main, ["train", "--stage", "pretrain", "--config", str(TINY), "--set", "lr=fast"])
    assert result.exit_code == 1 and isinstance(result.exception, SystemExit)
    assert result.output.splitlines() == [
        f'Error: {TINY} with --set: pretrain.lr: expected a number >= 0, got the string "fast"']
