"""The schemas of source and corpus recipes: every key, its type, range and enum.

Options tables are derived from the dataclasses that hold them (``readers.<reader>.Config``,
``CleanConfig``, ``QualityConfig``, ``ScrubConfig``, ``NearDedupConfig``, ``DecontamConfig``), with the
ranges and enums below; the recipe-level keys are declared here. ``check_source`` and ``check_corpus``
report every problem of a recipe, and of the source recipes a corpus lists, at once.
"""

from __future__ import annotations

import dataclasses
import inspect
from pathlib import Path
from typing import Any

from pydantic import AfterValidator, Field, field_validator, model_validator

from curate.benchmarks import decontam, evalsets, mcq
from curate.core import schema as s
from curate.core.config import load_toml, resolve
from curate.core.shards import WORKING_CODECS
from curate.dedup import minhash, near
from curate.filters import clean, phi, quality
from curate.kg import relations, sample
from curate.readers import READERS, reader_module
from curate.text import templates

Pos, NonNeg, Frac = s.at_least(1), s.at_least(0), s.fraction()

_QUALITY = {f: NonNeg for f in ("min_chars", "max_chars", "min_words", "max_words", "min_mean_word_len",
                                "max_mean_word_len")}
_QUALITY |= {f: Frac for f in ("max_symbol_ratio", "max_digit_ratio", "min_alpha_words", "max_dup_line_frac",
                               "max_dup_line_char_frac", "max_top_2gram_frac", "max_top_3gram_frac",
                               "max_top_4gram_frac", "max_dup_5gram_frac", "max_dup_10gram_frac",
                               "max_bullet_lines_frac", "max_ellipsis_lines_frac", "min_lang_score")}
Clean = s.from_dataclass(clean.CleanConfig)
Quality = s.from_dataclass(quality.QualityConfig, _QUALITY)
Scrub = s.from_dataclass(phi.ScrubConfig, {"types": list[s.one_of(phi.TYPES)],
                                           "placeholders": dict[s.one_of(phi.TYPES), s.Str]})
MinHash = s.from_dataclass(minhash.MinHashConfig, {
    "ngram": Pos, "num_perm": Pos, "threshold": (s.above(0), s.at_most(1)),
    "false_positive_weight": Frac, "false_negative_weight": Frac})
NearDedup = s.from_dataclass(near.NearDedupConfig, {
    "minhash": MinHash, "verify": s.one_of(("estimate", "exact", "none")), "keep": list[s.one_of(near.KEEP_ORDER)],
    "batch_docs": Pos, "sample_clusters": NonNeg, "partitions": Pos})
Decontam = s.from_dataclass(decontam.DecontamConfig, {
    "ngram_words": Pos, "ngram_cjk_chars": Pos, "min_short_words": Pos, "min_short_cjk_chars": Pos,
    "min_matches": Pos})
McqFields = s.from_dataclass(mcq.Fields)


class RelationTable(s.Table):
    """A relation of a graph's own: ``{zh = "...", en = "...", kind = "value"}``."""

    zh: s.Str | None = None
    en: s.Str | None = None
    kind: s.one_of(relations.KINDS) | None = None  # type: ignore[valid-type]
    template: s.Str | None = None


def _template(name: str) -> str:
    """A template id (``<name>.j2``) or a template family (``<name>/``) under the templates directory."""
    root = templates.templates_dir()
    if (root / f"{name}.j2").is_file() or (root / name).is_dir():
        return name
    known = sorted({p.relative_to(root).with_suffix("").as_posix() for p in root.rglob("*.j2")}
                   | {p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_dir()})
    raise ValueError(f"no template or template family {name!r} under {root}{s.closest(name, known)}")


Template = s.Annotated[s.Str, AfterValidator(_template)]

_SAMPLE = {"scales": list[s.one_of(sample.SCALES)], "seed_fraction": Frac, "budget": Pos, "k": Pos,
           "walk_length": Pos, "restart": s.fraction(upper_open=True), "hub_cap": Pos}
# Per reader: the ranges and enums of its options (types come from its Config).
READER_RULES: dict[str, dict[str, Any]] = {
    "books": {"section_level": Pos, "max_chars": Pos, "min_section_chars": NonNeg, "header_band": Frac,
              "table_finder": s.one_of(("rules", "pymupdf", "off")), "header_window": NonNeg, "table_warning": Frac},
    "kg": {**_SAMPLE, "lang": s.one_of(("zh", "en", "auto")), "min_doc_chars": NonNeg, "max_doc_chars": NonNeg,
           "relations": dict[s.Str, s.Str | RelationTable]},
    "exams": {"fields": McqFields, "templates": Template},
    "qa": {"template": Template},
    "articles": {"template": Template},
    "promptcblue": {"template": Template},
}


def reader_options(reader: str) -> type[s.Table]:
    """The model of one reader's ``[options]``."""
    return s.from_dataclass(reader_module(reader).Config, READER_RULES.get(reader), f"{reader}_options")


def _no_options() -> dict:
    return {}


class SourceRecipe(s.Table):
    """A source recipe: reader, inputs, reader options and per-source step settings."""

    name: s.Name | None = None
    reader: s.Str  # one of READERS, read when checked: a reader may be registered at run time

    @field_validator("reader")
    @classmethod
    def _known_reader(cls, value: str) -> str:
        if value not in READERS:
            raise ValueError(f"unknown reader {value!r}{s.closest(value, READERS)}; known: {', '.join(READERS)}")
        return value
    inputs: s.Str | s.Strs | None = None
    options: dict[str, Any] = Field(default_factory=_no_options)  # checked against the reader's model
    clean: Clean | None = None  # type: ignore[valid-type]
    quality: Quality | None = None  # type: ignore[valid-type]
    scrub: Scrub | s.Bool | None = None  # type: ignore[valid-type]  # false: off where the reader has it on
    read_timeout: s.Annotated[s.Float, s.above(0)] | None = None  # seconds per file, plus per MB below
    read_timeout_per_mb: s.Annotated[s.Float, s.at_least(0)] | None = None


class Benchmark(s.Table):
    """One ``[[decontam.benchmarks]]`` entry: an evaluation set and its loader's options."""

    name: s.Str
    loader: s.one_of(evalsets.LOADERS)  # type: ignore[valid-type]
    path: s.Str
    ids: s.Str | None = None
    split: s.Str | None = None
    subjects: s.Strs | None = None
    field: s.Str | None = None
    dataset: s.Str | None = None

    @model_validator(mode="after")
    def _loader_takes(self) -> Benchmark:
        takes = set(inspect.signature(evalsets.LOADERS[self.loader]).parameters)
        given = {k for k in self.model_fields_set if k not in ("name", "loader", "path")}
        if extra := sorted(given - takes):
            raise ValueError(f"loader {self.loader!r} takes no option(s) {', '.join(extra)}")
        return self


class DecontamTable(Decontam):  # type: ignore[valid-type, misc]
    """``[decontam]`` (and an instruction recipe's ``[guard]``): n-gram settings and the benchmarks."""

    benchmarks: list[Benchmark] = Field(min_length=1)


class SourceEntry(s.Table):
    """One ``[[sources]]`` entry of a corpus recipe."""

    recipe: s.Str
    weight: s.Annotated[s.Float, s.above(0)] | None = None


class BlendTarget(s.Table):
    """One source's blend target: ``{tokens, epochs}`` or ``{share}``."""

    tokens: s.Annotated[s.Float, s.above(0)] | None = None
    epochs: s.Annotated[s.Float, s.above(0)] | None = None
    share: s.Annotated[s.Float, s.above(0), s.fraction(upper_open=True)[1]] | None = None


class BlendTable(s.Table):
    """``[blend]``: the repeat limit and each source's target."""

    repeat_limit: s.Annotated[s.Float, s.above(0)] | None = None
    sources: dict[str, BlendTarget] | None = None


class CorpusRecipe(s.Table):
    """A stage-1 corpus recipe: sources in priority order and the build-wide steps."""

    name: s.Name | None = None
    seed: s.Int | None = None
    tokenizer: s.Str | None = None
    eod_token: s.Str | None = None
    shard_records: s.Annotated[s.Int, Pos] | None = None
    exact_dedup: s.Bool | None = None
    near_dedup: NearDedup | None = None  # type: ignore[valid-type]
    decontam: DecontamTable | None = None
    sources: list[SourceEntry] = Field(min_length=1)
    partitions: s.Annotated[s.Int, Pos] | None = None
    blend: BlendTable | None = None
    working_compression: s.one_of(WORKING_CODECS) | None = None  # type: ignore[valid-type]


def source_problems(data: Any, prefix: list | tuple = ()) -> list[str]:
    """Every problem of a parsed source recipe, its reader's options included."""
    found = s.problems(SourceRecipe, data, prefix)
    reader = data.get("reader") if isinstance(data, dict) else None
    if isinstance(reader, str) and reader in READERS and isinstance(data.get("options"), dict) and \
            dataclasses.is_dataclass(reader_module(reader).Config):
        found += s.problems(reader_options(reader), data["options"], [*prefix, "options"])
    return found


def check_source(data: Any, where: str) -> None:
    """Raise every problem of a source recipe (``where``: its file) at once."""
    if isinstance(data, dict) and "sources" in data and "reader" not in data:
        raise s.SchemaError([f"{where}: a mixture recipe (it lists [[sources]]), not a source recipe: build it with "
                             f"`curate corpus {where}`"])
    if found := source_problems(data):
        raise s.SchemaError([f"{where}: {line}" for line in found])


def check_corpus(data: Any, path: Path) -> None:
    """Raise every problem of a corpus recipe and of the source recipes it lists, at once."""
    if isinstance(data, dict) and "reader" in data and "sources" not in data:
        raise s.SchemaError([f"{path}: a source recipe (reader = {data['reader']!r}), not a mixture recipe: build it "
                             f"with `curate build {data['reader']} --recipe {path}`, or list it under [[sources]] of "
                             "a mixture recipe"])
    if isinstance(data, dict) and "kind" in data:  # not "instruct", or it would not be read as a corpus
        raise s.SchemaError([f"{path}: kind: expected 'instruct' (an instruction recipe) or no kind (a corpus "
                             f"recipe), got {s.shown(data['kind'])}"])
    lines = [f"{path}: {line}" for line in s.problems(CorpusRecipe, data)]
    for i, entry in enumerate(data.get("sources") or [] if isinstance(data, dict) else []):
        if isinstance(entry, dict) and isinstance(entry.get("recipe"), str):
            source = Path(resolve(path.parent, entry["recipe"]))
            if source.is_file():  # a missing one is reported by the loader
                lines += [f"{source} (sources[{i}] of {path}): {line}" for line in source_problems(load_toml(source))]
    if lines:
        raise s.SchemaError(lines)


def check_options(reader: str, options: dict[str, Any], where: str = "--set") -> None:
    """Raise every problem of reader options given on the command line (``--set KEY=VALUE``) at once."""
    if reader not in READERS or not dataclasses.is_dataclass(reader_module(reader).Config):
        return
    if found := s.problems(reader_options(reader), options):
        raise s.SchemaError([f"{where} {line}" for line in found])
