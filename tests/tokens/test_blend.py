"""The stage-1 blend: weights derived from tokens and targets, Table 2 by default, epochs and warnings."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from curate.build.recipes import RecipeError, load_corpus
from curate.tokens import blend

ROOT = Path(__file__).resolve().parents[2]
TABLE_2 = {"books": 7.18e9, "articles": 7.71e9, "qa": 0.24e9, "kg": 0.15e9, "exams": 0.11e9}


def _parse(sources: dict, **extra) -> blend.Blend:
    return blend.parse({"sources": sources, **extra}, list(sources), "r.toml")


def test_equal_epochs_mix_by_size_and_shares_are_kept() -> None:
    by_size = blend.weights(_parse({k: {"tokens": v, "epochs": 1} for k, v in TABLE_2.items()}))
    total = sum(TABLE_2.values())
    assert by_size == pytest.approx({k: v / total for k, v in TABLE_2.items()})
    assert round(by_size["books"], 3) == 0.467 and round(by_size["kg"], 3) == 0.010
    mixed = blend.weights(_parse({"a": {"tokens": 3e9, "epochs": 2}, "b": {"tokens": 1e9, "epochs": 1},
                                  "c": {"share": 0.3}}))
    assert mixed == pytest.approx({"a": 0.6, "b": 0.1, "c": 0.3})  # 70% split 6:1 by tokens x epochs


def test_the_stage1_recipe_follows_table_2() -> None:
    weights = {s.name: s.weight for s in load_corpus(ROOT / "recipes" / "stage1.toml").sources}
    total = sum(TABLE_2.values())
    for name, tokens in TABLE_2.items():  # Table 2's shares, scaled by what PromptCBLUE's share leaves
        assert weights[name] == pytest.approx(0.99 * tokens / total)
    assert weights["promptcblue"] == pytest.approx(0.01) and sum(weights.values()) == pytest.approx(1)


def test_epochs_at_a_budget_and_the_repeat_warning() -> None:
    weights = {"big": 0.9, "small": 0.1}
    assert blend.epochs_at(weights, {"big": 900, "small": 10}, 1000) == pytest.approx({"big": 1.0, "small": 10.0})
    assert blend.epochs_at(weights, {"big": 900, "small": 0}, 1000)["small"] == math.inf
    lines, warnings = blend.report(weights, {"big": 900, "small": 10}, 1000, repeat_limit=4,
                                   stated={"big": 9e9, "small": None})
    assert "9,000,000,000" in lines[1] and len(warnings) == 1 and warnings[0].startswith("small would be repeated 10")
    assert blend.report(weights, {"big": 900, "small": 10}, 1000, repeat_limit=20)[1] == []


@pytest.mark.parametrize(("sources", "message"), [
    ({"a": {"tokens": 1, "epochs": 1}}, r"missing: b"),
    ({"a": {"tokens": 1, "epochs": 1}, "b": {"tokens": 1}}, "exactly one target"),
    ({"a": {"epochs": 1}, "b": {"share": 0.5}}, "epochs but no tokens"),
    ({"a": {"share": 0.5}, "b": {"share": 0.4}}, "add up to 0.9"),
    ({"a": {"share": 1.0}, "b": {"tokens": 1, "epochs": 1}}, "below 1"),
    ({"a": {"tokens": -3, "epochs": 1}, "b": {"share": 0.5}}, "positive number"),
    ({"a": {"tokens": 1, "epochs": 1, "weight": 2}, "b": {"share": 0.5}}, "unknown key"),
])
def test_bad_blends_are_named(sources: dict, message: str) -> None:
    with pytest.raises(blend.BlendError, match=message):
        blend.parse({"sources": sources}, ["a", "b"], "r.toml")


def test_weights_and_blend_together_are_refused(tmp_path: Path) -> None:
    text = (ROOT / "recipes" / "stage1.toml").read_text(encoding="utf-8")
    bad = tmp_path / "stage1.toml"
    bad.write_text(text.replace('recipe = "kg.toml"\n', 'recipe = "kg.toml"\nweight = 0.5\n')
                   .replace('"../samples/', f'"{ROOT}/samples/'), encoding="utf-8")
    for name in ("books", "articles", "exams", "kg", "qa", "promptcblue"):
        (tmp_path / f"{name}.toml").write_text((ROOT / "recipes" / f"{name}.toml").read_text(encoding="utf-8")
                                               .replace('"../samples/', f'"{ROOT}/samples/'), encoding="utf-8")
    with pytest.raises(RecipeError, match="either per source or through"):
        load_corpus(bad)
