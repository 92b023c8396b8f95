"""Instruction recipes: the stage-2 and stage-3 mixtures, as TOML files with ``kind = "instruct"``.

::

    name = "stage2"
    kind = "instruct"
    seed = 1234
    tokenizer = "bundled"          # or a local Hugging Face tokenizer directory (its chat template wins)
    seq_len = 2048                 # pack length
    overlong = "truncate"          # an example longer than seq_len: "truncate" (keep its head) or "drop"
    valid_fraction = 0.02          # examples held out (by a hash of their id) into packed/valid-*.parquet
    pack_by_task = false           # true: a pack holds examples of one task only
    exact_dedup = true             # drop repeated conversations across sources (the first source wins)
    partitions = 4                 # optional: select and pack partitions [default: from the input size]
    [guard]                        # the leakage guard: a [decontam]-style table of evaluation sets
    ngram_words = 13
    [[guard.benchmarks]]
    name = "pubmedqa"
    loader = "pubmedqa"
    path = "../samples/instruct/pubmedqa/ori_pqal.json"
    ids = "../samples/instruct/pubmedqa/test_ground_truth.json"
    split = "test"
    [[sources]]
    name = "medqa"                 # unique; ledger and manifest key
    loader = "medqa"               # see instruct.sources
    inputs = ["../samples/instruct/medqa/train.jsonl"]
    task = "medqa"                 # task name -> task_id (order of first appearance); default: name
    weight = 1.0                   # times each example is used: 2.0 twice, 0.5 a seeded half
    max_examples = 500             # optional: a seeded sample of at most this many
    optional = false               # true: skip the source (noted in the manifest) while its inputs are absent
    [sources.options]              # loader options (split, subjects, part, fold, ids, fields)
    split = "train"

Relative paths are resolved against the recipe's directory. Unknown keys are errors.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from curate.build.recipes import DecontamSpec, decontam_spec
from curate.core.config import RecipeError, load_toml
from curate.core.config import resolve as _resolve
from curate.instruct import schema
from curate.instruct.sources import LOADERS

OVERLONG = ("truncate", "drop")
_SOURCE_KEYS = {"name", "loader", "inputs", "task", "weight", "max_examples", "options", "optional"}
_KEYS = {"name", "kind", "stage", "seed", "tokenizer", "seq_len", "overlong", "valid_fraction", "pack_by_task",
         "exact_dedup", "guard", "sources", "shard_packs", "partitions"}
_PATH_OPTIONS = ("ids",)


@dataclass(frozen=True)
class InstructSource:
    """One dataset of a mixture: loader, inputs, task name, weight, sample size and loader options."""

    name: str
    loader: str
    inputs: tuple[str, ...]
    task: str
    weight: float = 1.0
    max_examples: int | None = None
    options: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class InstructSpec:
    """A whole instruction build."""

    name: str
    sources: tuple[InstructSource, ...]
    stage: str = "instruct"
    seed: int = 0
    tokenizer: str | None = None
    seq_len: int = 2048
    overlong: str = "truncate"
    valid_fraction: float = 0.0
    pack_by_task: bool = False
    exact_dedup: bool = True
    guard: DecontamSpec | None = None
    shard_packs: int = 4096
    partitions: int | None = None  # select and pack partitions; None: from the input size
    skipped: tuple[str, ...] = ()  # optional sources whose inputs are absent

    @property
    def tasks(self) -> dict[str, int]:
        """Task name -> task id, in order of first appearance."""
        return {t: i for i, t in enumerate(dict.fromkeys(s.task for s in self.sources))}


def _source(entry: dict[str, Any], base: Path, where: str) -> InstructSource:
    if unknown := sorted(set(entry) - _SOURCE_KEYS):
        raise RecipeError(f"{where}: unknown key(s) {', '.join(unknown)}; known: {', '.join(sorted(_SOURCE_KEYS))}")
    for key in ("name", "loader", "inputs"):
        if key not in entry:
            raise RecipeError(f"{where}: '{key}' is required")
    if entry["loader"] not in LOADERS:
        raise RecipeError(f"{where}: unknown loader {entry['loader']!r}; known: {', '.join(LOADERS)}")
    inputs = [entry["inputs"]] if isinstance(entry["inputs"], str) else entry["inputs"]
    weight = float(entry.get("weight", 1.0))
    if weight <= 0:
        raise RecipeError(f"{where}: weight must be positive")
    options = {k: _resolve(base, v) if k in _PATH_OPTIONS and isinstance(v, str) else
               (tuple(v) if isinstance(v, list) else v) for k, v in entry.get("options", {}).items()}
    limit = entry.get("max_examples")
    if limit is not None and (not isinstance(limit, int) or limit <= 0):
        raise RecipeError(f"{where}: max_examples must be a positive integer")
    return InstructSource(entry["name"], entry["loader"], tuple(_resolve(base, i) for i in inputs),
                          entry.get("task", entry["name"]), weight, limit, options)


def load(path: Path) -> InstructSpec:
    """Load an instruction recipe file."""
    data = load_toml(path)
    schema.check(data, path)  # every type, range and enum problem at once, before any work
    if unknown := sorted(set(data) - _KEYS):
        raise RecipeError(f"{path}: unknown key(s) {', '.join(unknown)}; known: {', '.join(sorted(_KEYS))}")
    sources = tuple(_source(e, path.parent, f"{path}: sources[{i}]") for i, e in enumerate(data.get("sources", [])))
    optional = {e.get("name") for e in data.get("sources", []) if e.get("optional")}
    skipped = tuple(s.name for s in sources if s.name in optional and not any(Path(i).exists() for i in s.inputs))
    sources = tuple(s for s in sources if s.name not in skipped)
    if not sources:
        raise RecipeError(f"{path}: no [[sources]]")
    if len({s.name for s in sources}) != len(sources):
        raise RecipeError(f"{path}: source names must be unique")
    overlong = data.get("overlong", "truncate")
    if overlong not in OVERLONG:
        raise RecipeError(f"{path}: overlong must be one of {', '.join(OVERLONG)}")
    fraction = float(data.get("valid_fraction", 0.0))
    if not 0 <= fraction < 1:
        raise RecipeError(f"{path}: valid_fraction must be in [0, 1)")
    tok = data.get("tokenizer")
    return InstructSpec(
        name=data.get("name", path.stem), sources=sources, stage=data.get("stage", "instruct"),
        seed=int(data.get("seed", 0)), tokenizer=_resolve(path.parent, tok) if tok and tok != "bundled" else None,
        seq_len=int(data.get("seq_len", 2048)), overlong=overlong, valid_fraction=fraction,
        pack_by_task=bool(data.get("pack_by_task", False)), exact_dedup=bool(data.get("exact_dedup", True)),
        guard=decontam_spec(data["guard"], path.parent, f"{path} [guard]") if "guard" in data else None,
        shard_packs=int(data.get("shard_packs", 4096)), skipped=skipped,
        partitions=int(data["partitions"]) if "partitions" in data else None,
    )
