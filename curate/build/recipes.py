"""Recipes: TOML files that hold the choices of a build (sources, options, thresholds, weights).

A **source recipe** names a reader, its inputs and options, and per-source step settings::

    name = "qa"
    reader = "qa"
    inputs = ["../samples/qa"]
    [options]                      # fields of the reader's Config
    template = "qa"
    [clean]                        # filters.clean.CleanConfig (normalisation)
    nfkc = true
    [quality]                      # filters.quality.QualityConfig thresholds
    min_chars = 30
    max_dup_line_frac = 0.3
    [scrub]                        # filters.phi.ScrubConfig: present = PHI scrubbing on for this source
                                   # (scrub = false turns off a reader's default: on for books)

A **corpus recipe** lists source recipes in priority order (dedup keeps the copy from the source
listed first) with their blend weights, and the build-wide steps::

    name = "stage1"
    seed = 1234
    tokenizer = "bundled"          # or a local Hugging Face tokenizer directory
    [near_dedup]                   # dedup.near.NearDedupConfig: present = near dedup on
    verify = "estimate"
    [near_dedup.minhash]
    threshold = 0.8
    [decontam]                     # decontam.DecontamConfig + the benchmarks
    ngram_words = 13
    [[decontam.benchmarks]]
    name = "pubmedqa"
    loader = "pubmedqa"
    path = "data/ori_pqal.json"
    ids = "data/test_ground_truth.json"
    [[sources]]
    recipe = "articles.toml"
    weight = 0.4

Relative paths (``inputs``, ``recipe``, ``tokenizer``, benchmark paths and reader options marked as
paths) are resolved against the recipe file's directory. Unknown keys are errors, so a typo never
silently falls back to a default.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from curate.core.config import RecipeError, load_toml, make_config, path_option  # noqa: F401 - re-exported
from curate.core.config import resolve as _resolve
from curate.filters.clean import CleanConfig
from curate.filters.quality import QualityConfig
from curate.readers import reader_module


@dataclass(frozen=True)
class SourceSpec:
    """One source of a build: reader, resolved inputs, reader options, per-source step configs, weight."""

    name: str
    reader: str
    inputs: tuple[str, ...]
    options: Any
    clean: CleanConfig = field(default_factory=CleanConfig)
    quality: QualityConfig = field(default_factory=QualityConfig)
    scrub: Any = None  # filters.phi.ScrubConfig when the recipe has a [scrub] table
    weight: float = 1.0
    # Time allowed to read one input file: ``read_timeout`` seconds plus ``read_timeout_per_mb`` per MB of
    # the file (a read task over several files: of all of them); then the file is quarantined.
    read_timeout: float | None = 120.0
    read_timeout_per_mb: float = 5.0

    def timeout_for(self, size: int) -> float | None:
        """Seconds one read task over ``size`` bytes of input may run (None: no limit)."""
        if self.read_timeout is None:
            return None
        return self.read_timeout + self.read_timeout_per_mb * size / 1e6


@dataclass(frozen=True)
class Benchmark:
    """An evaluation set to decontaminate against: name, loader (``evalsets.LOADERS``), file, options."""

    name: str
    loader: str
    path: str
    options: dict = field(default_factory=dict)


@dataclass(frozen=True)
class DecontamSpec:
    """The benchmarks of a build and the n-gram settings."""

    benchmarks: tuple[Benchmark, ...]
    config: Any  # decontam.DecontamConfig


# Build steps that a build runs when configured; ``CorpusSpec.steps`` may select a subset.
STEPS = ("clean", "scrub", "quality", "dedup", "near_dedup", "decontam")


@dataclass(frozen=True)
class CorpusSpec:
    """A whole build: named sources in priority order plus build-wide settings."""

    name: str
    sources: tuple[SourceSpec, ...]
    seed: int = 0
    tokenizer: str | None = None
    eod_token: str | None = None
    shard_records: int = 50_000
    exact_dedup: bool = True
    near_dedup: Any = None  # dedup.near.NearDedupConfig when the recipe has [near_dedup]
    decontam: DecontamSpec | None = None
    partitions: int | None = None  # exact-dedup and versions partitions; None: from the input size
    working_compression: str = "none"  # codec of the records a later pass reads back (core.shards.WORKING_CODECS)
    steps: tuple[str, ...] = STEPS
    raw: dict = field(default_factory=dict, compare=False)

    def runs(self, step: str) -> bool:
        """Whether this build runs ``step``."""
        return step in self.steps


def source_from_dict(data: dict[str, Any], base: Path | None, where: str, weight: float = 1.0) -> SourceSpec:
    """Build a ``SourceSpec`` from a parsed source recipe."""
    from curate.build.schema import check_source

    check_source(data, where)  # every type, range and enum problem at once, before any work
    known = {"name", "reader", "inputs", "options", "clean", "quality", "scrub", "read_timeout", "read_timeout_per_mb"}
    if unknown := sorted(set(data) - known):
        raise RecipeError(f"{where}: unknown key(s) {', '.join(unknown)}; known: {', '.join(sorted(known))}")
    if "reader" not in data:
        raise RecipeError(f"{where}: 'reader' is required")
    try:
        module = reader_module(data["reader"])
    except ValueError as err:
        raise RecipeError(f"{where}: {err}") from None
    inputs = data.get("inputs", [])
    if isinstance(inputs, str):
        inputs = [inputs]
    return SourceSpec(
        name=data.get("name", data["reader"]),
        reader=data["reader"],
        inputs=tuple(_resolve(base, i) if base else i for i in inputs),
        options=make_config(module.Config, data.get("options", {}), base, f"{where} [options]"),
        clean=make_config(CleanConfig, data.get("clean", {}), base, f"{where} [clean]"),
        # the reader's own defaults for its kind of text (short exam facts, short answers), then the recipe's
        quality=make_config(QualityConfig, {**getattr(module, "QUALITY", {}), **data.get("quality", {})}, base,
                            f"{where} [quality]"),
        scrub=_scrub_of(module, data.get("scrub"), base, where),
        weight=weight,
        **{k: data[k] for k in ("read_timeout", "read_timeout_per_mb") if k in data},
    )


def _scrub_of(module: Any, value: dict[str, Any] | bool | None, base: Path | None, where: str) -> Any:
    """The source's PHI scrub: a ``[scrub]`` table (or ``scrub = true``) turns it on, ``scrub = false`` off;
    without either, the reader's default (``SCRUB``: on for books, whose papers and prefaces carry
    authors' e-mail addresses and phone numbers)."""
    if value is None:
        value = bool(getattr(module, "SCRUB", False))
    if value is False:
        return None
    return _scrub({} if value is True else value, base, where)


def _scrub(values: dict[str, Any], base: Path | None, where: str) -> Any:
    from curate.filters.phi import ScrubConfig

    return make_config(ScrubConfig, values, base, f"{where} [scrub]")


def _near_dedup(values: dict[str, Any], where: str) -> Any:
    from curate.dedup.minhash import MinHashConfig
    from curate.dedup.near import NearDedupConfig

    values = dict(values)
    if isinstance(values.get("minhash"), dict):
        values["minhash"] = make_config(MinHashConfig, values["minhash"], None, f"{where} [near_dedup.minhash]")
    return make_config(NearDedupConfig, values, None, f"{where} [near_dedup]")


def decontam_spec(values: dict[str, Any], base: Path, where: str) -> DecontamSpec:
    """A ``DecontamSpec`` from a ``[decontam]`` table (with its ``benchmarks`` list)."""
    from curate.benchmarks.decontam import DecontamConfig
    from curate.benchmarks.evalsets import LOADERS

    values = dict(values)
    benchmarks = []
    for i, entry in enumerate(values.pop("benchmarks", [])):
        entry = dict(entry)
        missing = [k for k in ("name", "loader", "path") if k not in entry]
        if missing:
            raise RecipeError(f"{where}: decontam.benchmarks[{i}] needs {', '.join(missing)}")
        if entry["loader"] not in LOADERS:
            raise RecipeError(f"{where}: decontam.benchmarks[{i}]: unknown loader {entry['loader']!r}; "
                              f"known: {', '.join(sorted(LOADERS))}")
        name, loader, path = entry.pop("name"), entry.pop("loader"), _resolve(base, entry.pop("path"))
        options = {k: _resolve(base, v) if k.endswith(("ids", "_file", "_path")) and isinstance(v, str) else v
                   for k, v in entry.items()}
        benchmarks.append(Benchmark(name, loader, path, options))
    if not benchmarks:
        raise RecipeError(f"{where}: [decontam] needs at least one [[decontam.benchmarks]] entry")
    return DecontamSpec(tuple(benchmarks), make_config(DecontamConfig, values, base, f"{where} [decontam]"))


def load_source(path: Path, weight: float = 1.0) -> SourceSpec:
    """Load a source recipe file."""
    return source_from_dict(load_toml(path), path.parent, str(path), weight)


def load_corpus(path: Path) -> CorpusSpec:
    """Load a corpus recipe file and the source recipes it lists."""
    data = load_toml(path)
    from curate.build.schema import check_corpus

    check_corpus(data, path)  # this recipe and every source recipe it lists, before any work
    known = {"name", "seed", "tokenizer", "eod_token", "shard_records", "exact_dedup", "near_dedup", "decontam",
             "sources", "partitions", "blend", "working_compression"}
    if unknown := sorted(set(data) - known):
        raise RecipeError(f"{path}: unknown key(s) {', '.join(unknown)}; known: {', '.join(sorted(known))}")
    sources = []
    for i, entry in enumerate(data.get("sources", [])):
        if "recipe" not in entry:
            raise RecipeError(f"{path}: sources[{i}] needs 'recipe'")
        weight = float(entry.get("weight", 1.0))
        if weight <= 0:
            raise RecipeError(f"{path}: sources[{i}] weight must be positive")
        sources.append(load_source(Path(_resolve(path.parent, entry["recipe"])), weight))
    if not sources:
        raise RecipeError(f"{path}: no [[sources]]")
    names = [s.name for s in sources]
    if len(set(names)) != len(names):
        raise RecipeError(f"{path}: source names must be unique, got {names}")
    if "blend" in data:  # weights derived from each source's tokens and target (curate.tokens.blend)
        from curate.tokens import blend

        if any("weight" in entry for entry in data["sources"]):
            raise RecipeError(f"{path}: give weights either per source or through [blend], not both")
        try:
            derived = blend.weights(blend.parse(data["blend"], names, str(path)))
        except blend.BlendError as err:
            raise RecipeError(str(err)) from None
        sources = [dataclasses.replace(s, weight=derived[s.name]) for s in sources]
    tok = data.get("tokenizer")
    return CorpusSpec(
        name=data.get("name", path.stem),
        sources=tuple(sources),
        seed=int(data.get("seed", 0)),
        tokenizer=_resolve(path.parent, tok) if tok and tok != "bundled" else None,
        eod_token=data.get("eod_token"),
        shard_records=int(data.get("shard_records", 50_000)),
        exact_dedup=bool(data.get("exact_dedup", True)),
        near_dedup=_near_dedup(data["near_dedup"], str(path)) if "near_dedup" in data else None,
        decontam=decontam_spec(data["decontam"], path.parent, str(path)) if "decontam" in data else None,
        partitions=int(data["partitions"]) if "partitions" in data else None,
        working_compression=str(data.get("working_compression", "none")),
        raw=data,
    )
