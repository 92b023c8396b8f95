"""The schema of instruction recipes (``kind = "instruct"``): every key, its type, range and enum.

The recipe-level keys and each ``[[sources]]`` entry are declared here; ``[sources.options]`` is checked
against its loader's options (``split``, ``subjects``, PubMedQA's ``part``/``fold``/``ids``, the exam
``fields``, the QA reader's options), and ``[guard]`` against the ``[decontam]`` schema.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import Field

from curate.build import schema as build_schema
from curate.core import schema as s
from curate.instruct.sources import LOADERS, MCQ_LOADERS, PUBMEDQA_PARTS

Pos = s.at_least(1)


class EvalSetOptions(s.Table):
    """Options of the MedQA and MedMCQA loaders."""

    split: s.Str | None = None


class SubjectOptions(EvalSetOptions):
    """Options of the MMLU and CMMLU loaders."""

    subjects: s.Strs | None = None


class PubMedQAOptions(s.Table):
    """Options of the PubMedQA loader: the official part (and fold), the test ids file."""

    part: s.one_of(PUBMEDQA_PARTS) | None = None  # type: ignore[valid-type]
    fold: s.Annotated[s.Int, s.at_least(0), s.at_most(9)] | None = None
    ids: s.Str | None = None
    split: s.Str | None = None


class ExamOptions(s.Table):
    """Options of the exam loader: which row fields hold each part of an item."""

    fields: build_schema.McqFields | None = None  # type: ignore[valid-type]


class NoOptions(s.Table):
    """A loader without options."""


def loader_options(loader: str) -> type[s.Table]:
    """The model of one loader's ``[sources.options]``."""
    if loader in MCQ_LOADERS:
        return SubjectOptions if loader in ("mmlu", "cmmlu") else EvalSetOptions
    return {"pubmedqa": PubMedQAOptions, "exams": ExamOptions, "qa": build_schema.reader_options("qa")}.get(
        loader, NoOptions)


def _no_options() -> dict:
    return {}


class InstructSource(s.Table):
    """One ``[[sources]]`` entry of an instruction recipe."""

    name: s.Name
    loader: s.one_of(LOADERS)  # type: ignore[valid-type]
    inputs: s.Str | s.Strs
    task: s.Str | None = None
    weight: s.Annotated[s.Float, s.above(0)] | None = None
    max_examples: s.Annotated[s.Int, Pos] | None = None
    optional: s.Bool | None = None
    options: dict[str, Any] = Field(default_factory=_no_options)  # checked against the loader's model


class InstructRecipe(s.Table):
    """A stage-2 or stage-3 mixture."""

    name: s.Name | None = None
    kind: s.one_of(("instruct",))  # type: ignore[valid-type]
    stage: s.one_of(("instruct", "adapt")) | None = None  # type: ignore[valid-type]
    seed: s.Int | None = None
    tokenizer: s.Str | None = None
    seq_len: s.Annotated[s.Int, Pos] | None = None
    overlong: s.one_of(("truncate", "drop")) | None = None  # type: ignore[valid-type]
    valid_fraction: s.Annotated[s.Float, *s.fraction(upper_open=True)] | None = None
    pack_by_task: s.Bool | None = None
    exact_dedup: s.Bool | None = None
    guard: build_schema.DecontamTable | None = None
    sources: list[InstructSource] = Field(min_length=1)
    shard_packs: s.Annotated[s.Int, Pos] | None = None
    partitions: s.Annotated[s.Int, Pos] | None = None


def problems(data: Any) -> list[str]:
    """Every problem of a parsed instruction recipe, each source's loader options included."""
    found = s.problems(InstructRecipe, data)
    sources = data.get("sources") if isinstance(data, dict) else None
    for i, entry in enumerate(sources if isinstance(sources, list) else []):
        if isinstance(entry, dict) and entry.get("loader") in LOADERS and isinstance(entry.get("options"), dict):
            found += s.problems(loader_options(entry["loader"]), entry["options"], ["sources", i, "options"])
    return found


def check(data: Any, path: Path | str) -> None:
    """Raise every problem of an instruction recipe (``path``: its file) at once."""
    if found := problems(data):
        raise s.SchemaError([f"{path}: {line}" for line in found])
