"""Recipe validation: every bundled recipe passes, every key of every recipe kind is typed, and wrong
values stop ``curate corpus`` and ``curate build`` with one line per problem before any work starts."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from curate.build import recipes
from curate.build import schema as build_schema
from curate.cli import main
from curate.core import schema
from curate.core.config import RecipeError, load_toml
from curate.instruct import schema as instruct_schema
from tests.conftest import ROOT, SAMPLES

RECIPES = sorted((ROOT / "recipes").rglob("*.toml"))
FREE_FORM = {("model", "config")}  # transformers config keyword arguments: passed through as they are


def problems_of(path: Path, data: dict) -> list[str]:
    """The schema problems of a parsed recipe of any kind (a corpus recipe without its source files)."""
    if path.parent.name == "train":
        from curate.train import schema as train_schema

        return schema.problems(train_schema.TrainRecipe, data)
    if "kind" in data:
        return instruct_schema.problems(data)
    if "reader" in data:
        return build_schema.source_problems(data)
    return schema.problems(build_schema.CorpusRecipe, data)


def leaves(data: Any, path: tuple = ()) -> list[tuple]:
    """Every key path of a parsed recipe that holds a value (lists whole and their first item)."""
    if path[:2] in FREE_FORM:
        return []
    if isinstance(data, dict):
        return [p for k, v in data.items() for p in leaves(v, (*path, k))]
    if isinstance(data, list):
        return [path, *leaves(data[0], (*path, 0))] if data else [path]
    return [path]


def tables(data: Any, path: tuple = ()) -> list[tuple]:
    """Every key path of a parsed recipe that holds a table."""
    if path[:2] in FREE_FORM:
        return []
    if isinstance(data, dict):
        return [path, *(p for k, v in data.items() for p in tables(v, (*path, k)))]
    if isinstance(data, list):
        return [p for i, v in enumerate(data) for p in tables(v, (*path, i))]
    return []


def replaced(data: Any, path: tuple, value: Any) -> Any:
    if not path:
        return value
    copy = dict(data) if isinstance(data, dict) else list(data)
    copy[path[0]] = replaced(data[path[0]], path[1:], value) if len(path) > 1 else value
    return copy


@pytest.mark.parametrize("path", RECIPES, ids=lambda p: str(p.relative_to(ROOT / "recipes")))
def test_every_bundled_recipe_validates(path: Path) -> None:
    assert problems_of(path, load_toml(path)) == []


@pytest.mark.parametrize("path", RECIPES, ids=lambda p: str(p.relative_to(ROOT / "recipes")))
def test_every_key_of_every_bundled_recipe_is_typed(path: Path) -> None:
    data = load_toml(path)
    for leaf in leaves(data):
        found = problems_of(path, replaced(data, leaf, {"bogus": 1}))
        assert found and all(line.startswith(schema.key_path(leaf)) for line in found), (leaf, found)
    for table in tables(data):
        found = problems_of(path, replaced(data, (*table, "bogus_key"), 1))
        # a table of names (relations, blend targets) takes any name, but not the integer 1
        assert len(found) == 1 and found[0].startswith(f"{schema.key_path((*table, 'bogus_key'))}: "), (table, found)


def _source(tmp_path: Path, options: str, **keys: str) -> Path:
    path = tmp_path / "qa.toml"
    lines = ['reader = "qa"', f'inputs = ["{SAMPLES / "qa"}"]', *(f"{k} = {v}" for k, v in keys.items())]
    path.write_text("\n".join(lines) + f"\n[options]\n{options}\n")
    return path


@pytest.mark.parametrize(("options", "line"), [
    ('question_fields = "question"', 'options.question_fields: expected a list of strings, got the string "question"'),
    ("template = 42", "options.template: expected a string, got the integer 42"),
])
def test_wrong_option_types_stop_the_build_before_any_work(tmp_path: Path, options: str, line: str) -> None:
    recipe, out = _source(tmp_path, options), tmp_path / "out"
    result = CliRunner().invoke(main, ["build", "qa", "--recipe", str(recipe), "--out", str(out)])
    assert result.exit_code == 1 and isinstance(result.exception, SystemExit)
    assert result.output.splitlines() == [f"Error: {recipe}: {line}"]
    assert not out.exists()


def test_corpus_weight_and_seed_name_the_recipe_and_key(tmp_path: Path) -> None:
    source = _source(tmp_path, 'template = "qa"')
    corpus = tmp_path / "mix.toml"
    corpus.write_text(f'seed = "abc"\n[[sources]]\nrecipe = "{source.name}"\nweight = "heavy"\n')
    out = tmp_path / "out"
    result = CliRunner().invoke(main, ["corpus", str(corpus), "--out", str(out)])
    assert result.exit_code == 1 and isinstance(result.exception, SystemExit) and "Traceback" not in result.output
    assert result.output.splitlines() == [f'Error: {corpus}: seed: expected an integer, got the string "abc"',
                                          f'{corpus}: sources[0].weight: expected a number > 0, got the string "heavy"']
    assert not out.exists()


@pytest.mark.parametrize("name", ["../escaped", "a/b", "..", ""])
def test_a_build_name_that_is_not_one_folder_is_refused(tmp_path: Path, name: str) -> None:
    source = _source(tmp_path, 'template = "qa"')
    corpus = tmp_path / "mix.toml"
    corpus.write_text(f'name = "{name}"\n[[sources]]\nrecipe = "{source.name}"\n')
    result = CliRunner().invoke(main, ["corpus", str(corpus), "--out", str(tmp_path / "out")])
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert result.output.startswith(f"Error: {corpus}: name: ") and "is not a plain name" in result.output
    assert not (tmp_path / "escaped").exists() and not (tmp_path / "out").exists()


def test_a_recipe_that_is_not_text_is_named(tmp_path: Path) -> None:
    recipe = tmp_path / "mix.toml"
    recipe.write_bytes(b"\x89PNG\r\n\x1a\n\x00")
    with pytest.raises(RecipeError, match=r"mix.toml: not a UTF-8 text file"):
        load_toml(recipe)


def test_corpus_reports_its_source_recipes_problems_with_their_files(tmp_path: Path) -> None:
    source = _source(tmp_path, 'question_fields = "question"', name="42")
    corpus = tmp_path / "mix.toml"
    corpus.write_text(f'[[sources]]\nrecipe = "{source.name}"\n[near_dedup]\nverfy = "exact"\n')
    with pytest.raises(RecipeError) as err:
        recipes.load_corpus(corpus)
    assert str(err.value).splitlines() == [
        f"{corpus}: near_dedup.verfy: unknown key 'verfy'; did you mean 'verify'?",
        f"{source} (sources[0] of {corpus}): name: expected a string, got the integer 42",
        f'{source} (sources[0] of {corpus}): options.question_fields: expected a list of strings, got the string '
        '"question"']


def test_cross_field_rules_stop_curate_corpus_with_one_line_each(tmp_path: Path) -> None:
    source = _source(tmp_path, 'template = "qa"')
    corpus = tmp_path / "mix.toml"
    corpus.write_text(f'[[sources]]\nrecipe = "{source.name}"\n[near_dedup]\nkeep = ["rank"]\n[decontam]\n'
                      'min_short_words = 20\n[[decontam.benchmarks]]\nname = "m"\nloader = "medqa"\npath = "m.jsonl"\n')
    result = CliRunner().invoke(main, ["corpus", str(corpus), "--out", str(tmp_path / "out")])
    assert result.exit_code == 1 and isinstance(result.exception, SystemExit)
    assert result.output.splitlines() == [
        f"Error: {corpus}: near_dedup: near_dedup.keep must list distinct keys of rank, quality, length, id, "
        "including 'id' (the tie-breaker); got ['rank']",
        f"{corpus}: decontam: decontam: min_short_words must be in 1..ngram_words, got 20"]


def test_a_recipe_of_the_other_kind_says_which_command_builds_it(tmp_path: Path) -> None:
    source = _source(tmp_path, 'template = "qa"')
    result = CliRunner().invoke(main, ["corpus", str(source), "--out", str(tmp_path / "out")])
    assert result.output.splitlines() == [
        f"Error: {source}: a source recipe (reader = 'qa'), not a mixture recipe: build it with `curate build qa "
        f"--recipe {source}`, or list it under [[sources]] of a mixture recipe"]
    mix = ROOT / "recipes" / "stage1.toml"
    result = CliRunner().invoke(main, ["build", "qa", "--recipe", str(mix), "--out", str(tmp_path / "out")])
    assert result.output.splitlines() == [
        f"Error: {mix}: a mixture recipe (it lists [[sources]]), not a source recipe: build it with `curate corpus "
        f"{mix}`"]
    assert not (tmp_path / "out").exists()


def test_every_reader_and_step_option_is_checked() -> None:
    for reader, options, line in [
        ("books", {"table_finder": "fast"}, "options.table_finder: expected one of 'rules', 'pymupdf', 'off'"),
        ("books", {"section_level": 0}, "options.section_level: expected an integer >= 1, got the integer 0"),
        ("kg", {"scales": ["star", "hop"]}, "options.scales[1]: expected one of 'star', 'khop', 'walk'"),
        ("kg", {"relations": {"x": {"kind": "vals"}}}, "options.relations.x.kind: expected one of 'list'"),
        ("kg", {"values": {"null": "nan"}}, 'options.values.null: expected a list of strings, got the string "nan"'),
        ("exams", {"fields": {"question": "stem"}}, "options.fields.question: expected a list of strings"),
        ("articles", {"exclude_pmids": 1}, "options.exclude_pmids: expected a string, got the integer 1"),
        ("documents", {"text_field": ["t"]}, "options.text_field: expected a string, got a list of 1 item"),
        ("promptcblue", {"template": None}, "options.template: expected a string"),
        ("qa", {"template": "qaa"}, "options.template: no template or template family 'qaa' under "),
        ("articles", {"template": "articles/pubmd"}, "options.template: no template or template family"),
        ("exams", {"templates": "exam"}, "options.templates: no template or template family 'exam'"),
        # the option dataclasses' own cross-field rules, reported with the others
        ("books", {"pua_map": ["garbage"]}, "options: pua_map: bad character map entry 'garbage'"),
        ("kg", {"values": {"remove": ["("]}}, "options.values: values.remove: invalid regular expression"),
        ("kg", {"max_doc_chars": 100}, "options: kg: min_doc_chars and max_doc_chars must be >= 0, and max_doc"),
    ]:
        found = build_schema.source_problems({"reader": reader, "options": options})
        assert len(found) == 1 and found[0].startswith(line), (reader, found)
    for table, values, line in [
        ("quality", {"max_symbol_ratio": 3}, "quality.max_symbol_ratio: expected a number >= 0 and <= 1"),
        ("scrub", {"types": ["EMAIL", "SSN"]}, "scrub.types[1]: expected one of 'URL'"),
        ("clean", {"nfkc": "yes"}, 'clean.nfkc: expected true or false, got the string "yes"'),
    ]:
        found = build_schema.source_problems({"reader": "qa", table: values})
        assert len(found) == 1 and found[0].startswith(line), (table, found)
    assert build_schema.source_problems({"reader": "qaa"}) == [
        "reader: unknown reader 'qaa' (did you mean 'qa'?); known: articles, qa, exams, promptcblue, books, kg, "
        "documents"]


def test_set_overrides_are_checked_after_merging(tmp_path: Path) -> None:
    out = tmp_path / "out"
    result = CliRunner().invoke(main, ["build", "kg", "--input", str(SAMPLES / "kg"), "--out", str(out),
                                       "--set", "seed=abc", "--set", "budget=0"])
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert result.output.splitlines() == ["Error: --set budget: expected an integer >= 1, got the integer 0",
                                          '--set seed: expected an integer, got the string "abc"']
    recipe = _source(tmp_path, 'template = "qa"')
    result = CliRunner().invoke(main, ["build", "qa", "--recipe", str(recipe), "--out", str(out),
                                       "--set", "question_fields=question"])
    assert result.output.splitlines() == [
        'Error: --set question_fields: expected a list of strings, got the string "question"']
    assert not out.exists()


def test_scrub_is_on_for_books_unless_a_recipe_turns_it_off_and_a_recipe_turns_it_on_for_others():
    """PHI scrubbing is the books reader's default; ``scrub = false`` turns it off, ``scrub = true`` or a
    ``[scrub]`` table turns it on for any reader, with the table's types."""
    from curate.build import recipes
    from curate.filters.phi import ScrubConfig

    def scrub(data: dict):
        return recipes.source_from_dict(data, None, "t").scrub

    assert scrub({"reader": "books"}) == ScrubConfig()
    assert scrub({"reader": "books", "scrub": False}) is None
    assert scrub({"reader": "documents"}) is None
    assert scrub({"reader": "documents", "scrub": True}) == ScrubConfig()
    assert scrub({"reader": "qa", "scrub": {"types": ["EMAIL"]}}).types == ("EMAIL",)
