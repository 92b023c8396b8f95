"""The schema mechanism: strict leaves, ranges and enums, key paths, suggestions, every problem at once."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest
from pydantic import Field

from curate.core import schema as s
from curate.core.config import RecipeError


@dataclass(frozen=True)
class Inner:
    names: tuple[str, ...] = ("a",)
    pairs: tuple[tuple[str, int], ...] = (("x", 0),)


@dataclass(frozen=True)
class Options:
    template: str = "qa"
    fields: tuple[str, ...] = ()
    seed: int = 0
    ratio: float | None = None
    mode: str = "fast"
    flag: bool = False
    inner: Inner = field(default_factory=Inner)
    extra: dict[str, str] = field(default_factory=dict)


Model = s.from_dataclass(Options, {"ratio": s.fraction(), "mode": s.one_of(("fast", "slow")), "seed": s.at_least(0)})


def test_valid_tables_pass_and_int_is_a_float() -> None:
    assert s.problems(Model, {}) == []
    assert s.problems(Model, {"template": "x", "fields": ["q"], "seed": 3, "ratio": 1, "mode": "slow", "flag": True,
                              "inner": {"names": ["b"], "pairs": [["y", 1]]}, "extra": {"k": "v"}}) == []


@pytest.mark.parametrize(("values", "line"), [
    ({"fields": "question"}, 'fields: expected a list of strings, got the string "question"'),
    ({"template": 42}, "template: expected a string, got the integer 42"),
    ({"seed": "abc"}, 'seed: expected an integer >= 0, got the string "abc"'),
    ({"seed": True}, "seed: expected an integer >= 0, got the boolean true"),
    ({"seed": 1.5}, "seed: expected an integer >= 0, got the number 1.5"),
    ({"seed": -1}, "seed: expected an integer >= 0, got the integer -1"),
    ({"ratio": "heavy"}, 'ratio: expected a number >= 0 and <= 1, got the string "heavy"'),
    ({"ratio": 1.5}, "ratio: expected a number >= 0 and <= 1, got the number 1.5"),
    ({"ratio": float("inf")}, "ratio: expected a number >= 0 and <= 1, got the number inf"),
    ({"mode": "fsat"}, "mode: expected one of 'fast', 'slow', got the string \"fsat\" (did you mean 'fast'?)"),
    ({"flag": "yes"}, 'flag: expected true or false, got the string "yes"'),
    ({"inner": {"names": "b"}}, 'inner.names: expected a list of strings, got the string "b"'),
    ({"inner": {"pairs": [["y", "1"]]}}, 'inner.pairs[0][1]: expected an integer, got the string "1"'),
    ({"inner": 3}, "inner: expected a table, got the integer 3"),
    ({"extra": {"k": 1}}, "extra.k: expected a string, got the integer 1"),
    ({"templte": "qa"}, "templte: unknown key 'templte'; did you mean 'template'?"),
    ({"inner": {"name": ["a"]}}, "inner.name: unknown key 'name'; did you mean 'names'?"),
])
def test_each_problem_is_one_line_with_its_key_path(values: dict, line: str) -> None:
    assert s.problems(Model, values) == [line]


def test_every_problem_is_reported_at_once_with_the_file() -> None:
    with pytest.raises(RecipeError) as err:
        s.check(Model, {"fields": "question", "template": 42, "sede": 1}, "recipes/x.toml")
    lines = str(err.value).splitlines()
    assert lines == ["recipes/x.toml: template: expected a string, got the integer 42",
                     'recipes/x.toml: fields: expected a list of strings, got the string "question"',
                     "recipes/x.toml: sede: unknown key 'sede'; did you mean 'seed'?"]


def test_union_reports_the_member_that_fits_the_value() -> None:
    class Table(s.Table):
        inputs: s.Str | s.Strs | None = None
        relations: dict[str, s.Str | Model] | None = None  # type: ignore[valid-type]

    assert s.problems(Table, {"inputs": ["a", 1]}) == ["inputs[1]: expected a string, got the integer 1"]
    assert s.problems(Table, {"inputs": 1}) == ["inputs: expected a string or a list of strings, got the integer 1"]
    assert s.problems(Table, {"relations": {"r": {"mode": "x"}}}) == [
        "relations.r.mode: expected one of 'fast', 'slow', got the string \"x\""]


def test_an_empty_required_list_says_so() -> None:
    class Table(s.Table):
        sources: list[Model] = Field(min_length=1)  # type: ignore[valid-type]

    assert s.problems(Table, {"sources": []}) == ["sources: needs at least 1 entry, got none"]
    assert s.problems(Table, {}) == ["sources: required key is missing"]


def test_unknown_rule_field_is_a_programming_error() -> None:
    with pytest.raises(TypeError, match="unknown fields"):
        s.from_dataclass(Options, {"nope": s.at_least(1)})
