"""A build: plan the task lists of each step and run them through the executor.

Steps, per source unless noted, each writing into ``<build>/sources/<source>/<step>/``:

1. ``read``: reader over each input file -> Document shards (+ key events, + ledger);
2. ``versions``: only for keyed sources (PubMed): last version wins, deletions apply;
3. ``clean``: normalisation and quality filters;
4. ``dedup``: exact dedup across all sources of the build (map, global reduce, apply);
5. ``tokenize`` (corpus builds): Megatron part datasets, merged per source into
   ``<build>/tokens/<source>_text_document.{bin,idx}``.

``flow.json`` records which files each step produced, so ``curate audit`` can recount the build.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from curate import manifest as manifest_mod
from curate import shards
from curate.dedup import exact
from curate.executor import Done, Executor, Task, write_json
from curate.filters import clean
from curate.readers import ReadConfig, discover, read_task, reader_module, versions
from curate.recipes import CorpusSpec, SourceSpec
from curate.tokens import indexed, tokenize, tokenizer

STEPS = ("read", "versions", "clean", "dedup")


@dataclass
class SourceFlow:
    """The shards a source has after each step, and the ledger parts each step wrote."""

    shards: dict[str, list[Path]] = field(default_factory=dict)
    ledgers: dict[str, list[Path]] = field(default_factory=dict)
    records_in: int = 0
    reader_stats: dict[str, float] = field(default_factory=dict)
    tokens: dict[str, Any] | None = None

    def last(self) -> list[Path]:
        """Shards after the latest step run so far."""
        return self.shards[list(self.shards)[-1]]

    def add(self, step: str, results: list[Done]) -> None:
        """Record the record shards and ledger parts of one step."""
        self.shards[step] = [p for d in results for p in d.files("records")]
        self.ledgers[step] = [p for d in results for p in d.files("ledger")]


@dataclass
class BuildResult:
    """What a build did: its directory, manifest, and how many tasks ran or were skipped."""

    root: Path
    manifest: dict[str, Any]
    ran: int
    skipped: int
    seconds: dict[str, float] = field(default_factory=dict)


def safe_name(relpath: str, taken: set[str]) -> str:
    """A file-name-safe, unique stem for an input's relative path."""
    stem = re.sub(r"[^A-Za-z0-9._-]+", "_", relpath.replace("/", "__"))[-120:]
    if stem in taken:
        stem = f"{stem}-{hashlib.sha1(relpath.encode()).hexdigest()[:8]}"
    taken.add(stem)
    return stem


def _stem(path: Path) -> str:
    return path.name.removesuffix(".parquet")


def _read_tasks(root: Path, src: SourceSpec, shard_records: int) -> list[Task]:
    module = reader_module(src.reader)
    files = discover(src.inputs, module.SUFFIXES)
    side = tuple(getattr(src.options, "side_inputs", tuple)())
    taken: set[str] = set()
    out_dir = str(root / "sources" / src.name / "read")
    if hasattr(module, "read_all"):  # one task over every file (e.g. a graph split over files)
        rels = tuple(rel for _, rel in files)
        return [Task(f"{src.name}/read/*", read_task, (*(str(p) for p, _ in files), *side), out_dir, "all",
                     ReadConfig(src.name, src.reader, src.options, rels, shard_records))]
    size = getattr(module, "units", None)  # progress in the reader's own unit (pages) when it has one
    return [
        Task(f"{src.name}/read/{rel}", read_task, (str(path), *side), out_dir, safe_name(rel, taken),
             ReadConfig(src.name, src.reader, src.options, (rel,), shard_records),
             size=size(path, src.options) if size else 1)
        for path, rel in files
    ]


def _per_shard(root: Path, src: str, step: str, shard_paths: list[Path], fn: Callable, config: Any,
               extra: tuple[str, ...] = ()) -> list[Task]:
    out_dir = str(root / "sources" / src / step)
    return [Task(f"{src}/{step}/{_stem(p)}", fn, (str(p), *extra), out_dir, _stem(p), config)
            for p in shard_paths]


def _versions(ex: Executor, root: Path, src: str, flow: SourceFlow, reads: list[Done]) -> None:
    keys = [str(p) for d in reads for p in d.files("keys")]
    if not keys:
        return
    out_dir = str(root / "sources" / src / "versions")
    reduce = Task(f"{src}/versions/reduce", versions.reduce_task, tuple(keys), out_dir, "drops")
    drops = ex.run([reduce], f"{src}: versions", unit="task")[reduce.key].files("drops")[0]
    tasks = _per_shard(root, src, "versions", flow.last(), shards.drop_task,
                       shards.DropConfig("versions", src), (str(drops),))
    flow.add("versions", list(ex.run(tasks, f"{src}: versions").values()))


def _dedup(ex: Executor, root: Path, spec: CorpusSpec, flows: dict[str, SourceFlow]) -> None:
    hash_tasks = []
    for rank, src in enumerate(spec.sources):
        hash_tasks += [Task(f"{src.name}/hash/{_stem(p)}", exact.hash_task, (str(p),),
                            str(root / "dedup" / "hashes" / src.name), _stem(p), exact.HashConfig(rank))
                       for p in flows[src.name].last()]
    hashes = ex.run(hash_tasks, "dedup: hash")
    inputs = tuple(str(p) for d in hashes.values() for p in d.files("hashes"))
    reduce = Task("dedup/reduce", exact.reduce_task, inputs, str(root / "dedup"), "exact")
    drops = ex.run([reduce], "dedup: reduce", unit="task")[reduce.key].files("drops")[0]
    apply = []
    for src in spec.sources:
        apply += _per_shard(root, src.name, "dedup", flows[src.name].last(), shards.drop_task,
                            shards.DropConfig("dedup", src.name), (str(drops),))
    _add_per_source(flows, "dedup", ex.run(apply, "dedup: apply"))


def _add_per_source(flows: dict[str, SourceFlow], step: str, done: dict[str, Done]) -> None:
    """Split one step's results (keys ``<source>/<step>/...``) into the sources' flows."""
    for name, flow in flows.items():
        flow.add(step, [d for k, d in done.items() if k.startswith(f"{name}/{step}/")])


def _tokenize(ex: Executor, root: Path, spec: CorpusSpec, flows: dict[str, SourceFlow],
              tok: tokenizer.TokenizerInfo) -> None:
    cfg = tokenize.TokenizeConfig(str(Path(tok.path) / "tokenizer.json"), tok.fingerprint, tok.eod_id,
                                  str(indexed.dtype_for_vocab(tok.vocab_size)))
    tasks = []
    for src in spec.sources:
        out_dir = str(root / "tokens" / "parts" / src.name)
        tasks += [Task(f"{src.name}/tokenize/{_stem(p)}", tokenize.tokenize_task, (str(p),), out_dir,
                       _stem(p), cfg) for p in flows[src.name].last()]
    parts = ex.run(tasks, "tokenize")
    merges = []
    for src in spec.sources:
        mine = [d for k, d in parts.items() if k.startswith(f"{src.name}/tokenize/")]
        prefixes = tuple(str(d.files("bin")[0].with_suffix("")) for d in mine)
        inputs = tuple(str(p) for d in mine for role in ("bin", "idx", "ids") for p in d.files(role))
        merges.append(Task(f"{src.name}/merge", tokenize.merge_task, inputs, str(root / "tokens"),
                           f"{src.name}_text_document", tokenize.MergeConfig(prefixes)))
    merged = ex.run(merges, "merge", unit="source")
    for src, task in zip(spec.sources, merges, strict=True):
        done = merged[task.key]
        flows[src.name].tokens = {"prefix": f"tokens/{src.name}_text_document", **done.stats,
                                  "files": [p for role in ("bin", "idx", "docs") for p in done.files(role)]}


def run(spec: CorpusSpec, root: Path, *, workers: int | None = None, tokenize_docs: bool = True,
        progress: bool | None = None) -> BuildResult:
    """Run every step of a build into ``root`` (resuming finished work) and write its manifest."""
    root.mkdir(parents=True, exist_ok=True)
    flows = {s.name: SourceFlow() for s in spec.sources}
    tok = tokenizer.prepare(spec.tokenizer, root / "tokenizer", spec.eod_token) if tokenize_docs else None
    with Executor(workers, progress) as ex:
        read_tasks = {s.name: _read_tasks(root, s, spec.shard_records) for s in spec.sources}
        everything = [t for tasks in read_tasks.values() for t in tasks]
        units = {getattr(reader_module(s.reader), "UNIT", "file") for s in spec.sources}
        results = ex.run(everything, "read", unit=units.pop() if len(units) == 1 else "unit")
        clean_tasks = []
        for src in spec.sources:
            reads = [results[t.key] for t in read_tasks[src.name]]
            flows[src.name].records_in = sum(d.stats["in"] for d in reads)
            for d in reads:
                for k, v in d.stats.get("reader", {}).items():
                    flows[src.name].reader_stats[k] = flows[src.name].reader_stats.get(k, 0) + v
            flows[src.name].add("read", reads)
            _versions(ex, root, src.name, flows[src.name], reads)
            clean_tasks += _per_shard(root, src.name, "clean", flows[src.name].last(), shards.map_task,
                                      shards.MapConfig("clean", src.name, clean.clean, src.clean))
        _add_per_source(flows, "clean", ex.run(clean_tasks, "clean"))
        if spec.exact_dedup:
            _dedup(ex, root, spec, flows)
        if tok is not None:
            _tokenize(ex, root, spec, flows, tok)
        ran, skipped, seconds = ex.ran, ex.skipped, dict(ex.seconds)
    ledger_parts = [p for f in flows.values() for parts in f.ledgers.values() for p in parts]
    shards.write(shards.concat_ledgers(ledger_parts), root / "ledger.parquet")
    write_json(root / "flow.json", manifest_mod.flow(root, flows))
    manifest = manifest_mod.build(root, spec, flows, tok)
    write_json(root / "manifest.json", manifest)
    return BuildResult(root, manifest, ran, skipped, seconds)
