"""Recipes: TOML files that hold the choices of a build (sources, options, thresholds, weights).

A **source recipe** names a reader, its inputs and options, and the clean-step thresholds::

    name = "articles"
    reader = "articles"
    inputs = ["../samples/articles"]
    [options]                      # fields of the reader's Config
    exclude_pmids = "../samples/exclude_pmids.txt"
    [clean]                        # fields of filters.clean.CleanConfig
    min_chars = 200

A **corpus recipe** lists source recipes in priority order (exact dedup keeps the copy from the
source listed first) with their blend weights::

    name = "stage1"
    seed = 1234
    tokenizer = "bundled"          # or a local Hugging Face tokenizer directory
    [[sources]]
    recipe = "articles.toml"
    weight = 0.4

Relative paths (``inputs``, ``recipe``, ``tokenizer`` and reader options marked as paths) are
resolved against the recipe file's directory. Unknown keys are errors, so a typo never silently
falls back to a default.
"""

from __future__ import annotations

import dataclasses
import os
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from curate.filters.clean import CleanConfig
from curate.readers import reader_module


class RecipeError(ValueError):
    """A recipe is missing, malformed or names unknown options."""


def path_option(default: str | None = None) -> Any:
    """A reader option that is a file path (resolved against the recipe's directory)."""
    return field(default=default, metadata={"path": True})


@dataclass(frozen=True)
class SourceSpec:
    """One source of a build: reader, resolved inputs, reader options, clean config, weight."""

    name: str
    reader: str
    inputs: tuple[str, ...]
    options: Any
    clean: CleanConfig = field(default_factory=CleanConfig)
    weight: float = 1.0


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
    raw: dict = field(default_factory=dict, compare=False)


def _resolve(base: Path, value: str) -> str:
    p = Path(value).expanduser()
    return os.path.normpath(p if p.is_absolute() else (base / p).absolute())


def make_config(cls: type, values: dict[str, Any], base: Path | None, where: str) -> Any:
    """Instantiate config dataclass ``cls`` from recipe values (lists become tuples)."""
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(values) - set(fields))
    if unknown:
        raise RecipeError(f"{where}: unknown option(s) {', '.join(unknown)}; known: {', '.join(fields)}")
    kwargs = {}
    for key, value in values.items():
        if isinstance(value, list):
            value = tuple(value)
        if fields[key].metadata.get("path") and isinstance(value, str) and base is not None:
            value = _resolve(base, value)
        kwargs[key] = value
    return cls(**kwargs)


def _load_toml(path: Path) -> dict[str, Any]:
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise RecipeError(f"recipe {path} not found") from None
    except tomllib.TOMLDecodeError as err:
        raise RecipeError(f"recipe {path}: invalid TOML: {err}") from None


def source_from_dict(data: dict[str, Any], base: Path | None, where: str, weight: float = 1.0) -> SourceSpec:
    """Build a ``SourceSpec`` from a parsed source recipe."""
    known = {"name", "reader", "inputs", "options", "clean"}
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
        weight=weight,
    )


def load_source(path: Path, weight: float = 1.0) -> SourceSpec:
    """Load a source recipe file."""
    return source_from_dict(_load_toml(path), path.parent, str(path), weight)


def load_corpus(path: Path) -> CorpusSpec:
    """Load a corpus recipe file and the source recipes it lists."""
    data = _load_toml(path)
    known = {"name", "seed", "tokenizer", "eod_token", "shard_records", "exact_dedup", "sources"}
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
    tok = data.get("tokenizer")
    return CorpusSpec(
        name=data.get("name", path.stem),
        sources=tuple(sources),
        seed=int(data.get("seed", 0)),
        tokenizer=_resolve(path.parent, tok) if tok and tok != "bundled" else None,
        eod_token=data.get("eod_token"),
        shard_records=int(data.get("shard_records", 50_000)),
        exact_dedup=bool(data.get("exact_dedup", True)),
        raw=data,
    )
