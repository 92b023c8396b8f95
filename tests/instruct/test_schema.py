"""Instruction recipes are validated whole, each source's loader options included, before any work."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from curate.cli import main
from curate.core.config import RecipeError
from curate.instruct import recipe
from tests.conftest import SAMPLES

GOOD = f"""kind = "instruct"
seed = 1
[[sources]]
name = "pqa"
loader = "pubmedqa"
inputs = ["{SAMPLES / 'instruct' / 'pubmedqa' / 'ori_pqal.json'}"]
[sources.options]
part = "cv"
[[sources]]
name = "qa"
loader = "qa"
inputs = ["{SAMPLES / 'instruct' / 'qa' / 'wuma_qa.jsonl'}"]
"""


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "mix.toml"
    path.write_text(text)
    return path


def test_a_valid_recipe_loads(tmp_path: Path) -> None:
    assert [s.name for s in recipe.load(_write(tmp_path, GOOD)).sources] == ["pqa", "qa"]


def test_every_problem_is_reported_with_its_key_path(tmp_path: Path) -> None:
    text = (GOOD.replace("seed = 1", 'seed = "abc"\nvalid_fraction = 1\noverlong = "cut"')
            .replace('part = "cv"', 'part = "cvv"\nfold = 10')
            .replace('name = "qa"\n', 'name = "qa"\nweight = "heavy"\nmax_examples = 0\n')
            + '[sources.options]\nquestion_fields = "question"\ntemplate = 42\n')
    path = _write(tmp_path, text)
    with pytest.raises(RecipeError) as err:
        recipe.load(path)
    assert str(err.value).splitlines() == [
        f'{path}: seed: expected an integer, got the string "abc"',
        f'{path}: overlong: expected one of \'truncate\', \'drop\', got the string "cut"',
        f"{path}: valid_fraction: expected a number >= 0 and < 1, got the integer 1",
        f'{path}: sources[1].weight: expected a number > 0, got the string "heavy"',
        f"{path}: sources[1].max_examples: expected an integer >= 1, got the integer 0",
        f"{path}: sources[0].options.part: expected one of 'all', 'cv', 'train_fold', 'dev_fold', 'pqa_a_train', "
        "'pqa_a_dev', 'test', got the string \"cvv\" (did you mean 'cv'?)",
        f"{path}: sources[0].options.fold: expected an integer >= 0 and <= 9, got the integer 10",
        f'{path}: sources[1].options.question_fields: expected a list of strings, got the string "question"',
        f"{path}: sources[1].options.template: expected a string, got the integer 42"]


def test_loader_options_and_guard_keys_are_checked(tmp_path: Path) -> None:
    text = GOOD.replace('part = "cv"', 'part = "cv"\nsubjects = ["anatomy"]') + (
        '[guard]\nngram_word = 13\n[[guard.benchmarks]]\nname = "m"\nloader = "medqa"\npath = "x"\nsubjects = ["a"]\n')
    path = _write(tmp_path, text)
    with pytest.raises(RecipeError) as err:
        recipe.load(path)
    assert str(err.value).splitlines() == [
        f"{path}: guard.benchmarks[0]: loader 'medqa' takes no option(s) subjects",
        f"{path}: guard.ngram_word: unknown key 'ngram_word'; did you mean 'ngram_words'?",
        f"{path}: sources[0].options.subjects: unknown key 'subjects'; known keys: part, fold, ids, split"]


def test_curate_corpus_exits_with_one_line_and_no_output(tmp_path: Path) -> None:
    path, out = _write(tmp_path, GOOD.replace("seed = 1", "seq_len = 0")), tmp_path / "out"
    result = CliRunner().invoke(main, ["corpus", str(path), "--out", str(out)])
    assert result.exit_code == 1 and isinstance(result.exception, SystemExit)
    assert result.output.splitlines() == [f"Error: {path}: seq_len: expected an integer >= 1, got the integer 0"]
    assert not out.exists()
    path.write_text(GOOD.replace('kind = "instruct"', 'kind = "instrct"'))
    result = CliRunner().invoke(main, ["corpus", str(path), "--out", str(out)])
    assert result.output.splitlines() == [f"Error: {path}: kind: expected 'instruct' (an instruction recipe) or no "
                                          'kind (a corpus recipe), got the string "instrct"']
