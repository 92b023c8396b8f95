"""A build: plan the task lists of each step and run them through the executor.

Per source, each step writing into ``<build>/sources/<source>/<step>/``:

1. ``read``: the reader over each input file -> Document shards (+ key events, + ledger);
2. ``versions``: only for keyed sources (PubMed): the last version wins, deletions apply;
3. ``clean``: Unicode and whitespace normalisation;
4. ``scrub``: PHI/PII replaced by typed placeholders (sources whose recipe has ``[scrub]``);
5. ``quality``: signals per document (``signals/``), then the recipe's thresholds;

then over all sources together:

6. ``dedup``: exact duplicates (map: hashes, reduce: groups, apply);
7. ``near_dedup``: MinHash LSH near-duplicates (map: signatures, reduce: clusters, apply);
8. ``decontam``: n-gram overlap with evaluation sets and PMID exclusion (reduce: index, apply);
9. ``tokenize`` (corpus builds): Megatron part datasets, merged per source into
   ``<build>/tokens/<source>_text_document.{bin,idx}``.

Steps 4 and 7-8 run when the recipes configure them; ``CorpusSpec.steps`` selects a subset (the
standalone ``curate dedup``/``decontam``/``scrub`` commands). ``flow.json`` records which files
each step produced, so ``curate audit`` can recount the build.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from curate.core import manifest as manifest_mod
from curate.build import report as report_mod
from curate.core import shards
from curate.dedup import exact, near
from curate.core.executor import Done, Executor, Task, write_json
from curate.filters import clean, quality
from curate.readers import ReadConfig, discover, read_task, reader_module, versions
from curate.build.recipes import CorpusSpec, SourceSpec
from curate.tokens import indexed, tokenize, tokenizer


@dataclass
class SourceFlow:
    """The shards a source has after each step, the ledger parts each step wrote, and side files."""

    shards: dict[str, list[Path]] = field(default_factory=dict)
    ledgers: dict[str, list[Path]] = field(default_factory=dict)
    signals: dict[str, Path] = field(default_factory=dict)  # shard stem -> quality signals file
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
               extra: Callable[[Path], tuple[str, ...]] = lambda p: ()) -> list[Task]:
    """One task per shard of ``src`` into ``sources/<src>/<step>/``; ``extra`` adds side inputs."""
    out_dir = str(root / "sources" / src / step)
    return [Task(f"{src}/{step}/{_stem(p)}", fn, (str(p), *extra(p)), out_dir, _stem(p), config)
            for p in shard_paths]


def _add_per_source(flows: dict[str, SourceFlow], step: str, done: dict[str, Done]) -> None:
    """Split one step's results (keys ``<source>/<step>/...``) into the sources' flows."""
    for name, flow in flows.items():
        flow.add(step, [d for k, d in done.items() if k.startswith(f"{name}/{step}/")])


def _versions(ex: Executor, root: Path, src: str, flow: SourceFlow, reads: list[Done]) -> None:
    keys = [str(p) for d in reads for p in d.files("keys")]
    if not keys:
        return
    out_dir = str(root / "sources" / src / "versions")
    reduce = Task(f"{src}/versions/reduce", versions.reduce_task, tuple(keys), out_dir, "drops")
    drops = str(ex.run([reduce], f"{src}: versions", unit="task")[reduce.key].files("drops")[0])
    tasks = _per_shard(root, src, "versions", flow.last(), shards.drop_task,
                       shards.DropConfig("versions", src), lambda p: (drops,))
    flow.add("versions", list(ex.run(tasks, f"{src}: versions").values()))


def _read(ex: Executor, root: Path, spec: CorpusSpec, flows: dict[str, SourceFlow]) -> None:
    read_tasks = {s.name: _read_tasks(root, s, spec.shard_records) for s in spec.sources}
    units = {getattr(reader_module(s.reader), "UNIT", "file") for s in spec.sources}
    results = ex.run([t for tasks in read_tasks.values() for t in tasks], "read",
                     unit=units.pop() if len(units) == 1 else "unit")
    for src in spec.sources:
        flow = flows[src.name]
        reads = [results[t.key] for t in read_tasks[src.name]]
        flow.records_in = sum(d.stats["in"] for d in reads)
        for d in reads:
            for k, v in d.stats.get("reader", {}).items():
                flow.reader_stats[k] = flow.reader_stats.get(k, 0) + v
        flow.add("read", reads)
        _versions(ex, root, src.name, flow, reads)


def _map_step(ex: Executor, root: Path, spec: CorpusSpec, flows: dict[str, SourceFlow], step: str,
              fn: Callable, config_of: Callable[[SourceSpec], Any | None]) -> None:
    """A pure per-shard step over every source whose ``config_of(source)`` is not None."""
    tasks = []
    for src in spec.sources:
        cfg = config_of(src)
        if cfg is not None:
            tasks += _per_shard(root, src.name, step, flows[src.name].last(), shards.map_task,
                                shards.MapConfig(step, src.name, fn, cfg))
    if tasks:
        done = ex.run(tasks, step)
        _add_per_source({s.name: flows[s.name] for s in spec.sources if config_of(s) is not None}, step, done)


def _quality(ex: Executor, root: Path, spec: CorpusSpec, flows: dict[str, SourceFlow]) -> None:
    signal_tasks = []
    for src in spec.sources:
        signal_tasks += [Task(f"{src.name}/signals/{_stem(p)}", quality.signals_task, (str(p),),
                              str(root / "sources" / src.name / "signals"), _stem(p))
                         for p in flows[src.name].last()]
    signals = ex.run(signal_tasks, "quality: signals")
    apply = []
    for src in spec.sources:
        flow = flows[src.name]
        for p in flow.last():
            flow.signals[_stem(p)] = signals[f"{src.name}/signals/{_stem(p)}"].files("signals")[0]
        apply += _per_shard(root, src.name, "quality", flow.last(), quality.quality_task,
                            quality.QualityTaskConfig(src.name, src.quality),
                            lambda p, flow=flow: (str(flow.signals[_stem(p)]),))
    _add_per_source(flows, "quality", ex.run(apply, "quality: apply"))


def _global_step(ex: Executor, root: Path, spec: CorpusSpec, flows: dict[str, SourceFlow], step: str,
                 map_fn: Callable | None, map_config: Callable[[int], Any], reduce_fn: Callable,
                 reduce_config: Any, reduce_inputs: tuple[str, ...] = ()) -> dict[str, Any]:
    """Map over every shard (optional), reduce globally into a drop table, drop per shard."""
    mapped: list[str] = []
    if map_fn is not None:
        tasks = []
        for rank, src in enumerate(spec.sources):
            flow = flows[src.name]
            tasks += [Task(f"{src.name}/{step}-map/{_stem(p)}", map_fn,
                           (str(p), *((str(flow.signals[_stem(p)]),) if _stem(p) in flow.signals else ())),
                           str(root / step / "map" / src.name), _stem(p), map_config(rank))
                      for p in flow.last()]
        mapped = [str(p) for d in ex.run(tasks, f"{step}: map").values() for role in d.outputs
                  for p in d.files(role)]
    reduce = Task(f"{step}/reduce", reduce_fn, (*mapped, *reduce_inputs), str(root / step), "reduce",
                  reduce_config)
    done = ex.run([reduce], f"{step}: reduce", unit="task")[reduce.key]
    table = str(done.files("drops")[0])
    apply = []
    for src in spec.sources:
        apply += _per_shard(root, src.name, step, flows[src.name].last(), shards.drop_task,
                            shards.DropConfig(step, src.name), lambda p: (table,))
    _add_per_source(flows, step, ex.run(apply, f"{step}: apply"))
    return done.stats


def _decontam(ex: Executor, root: Path, spec: CorpusSpec, flows: dict[str, SourceFlow]) -> dict[str, Any]:
    from curate.benchmarks import decontam

    index = Task("decontam/index", decontam.index_task, decontam.index_inputs(spec.decontam),
                 str(root / "decontam"), "index", spec.decontam)
    path = str(ex.run([index], "decontam: index", unit="task")[index.key].files("index")[0])
    tasks = []
    for src in spec.sources:
        tasks += _per_shard(root, src.name, "decontam", flows[src.name].last(), decontam.decontam_task,
                            decontam.TaskConfig(src.name, spec.decontam.config), lambda p: (path,))
    _add_per_source(flows, "decontam", ex.run(tasks, "decontam: apply"))
    return {}


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


def _steps(ex: Executor, root: Path, spec: CorpusSpec, flows: dict[str, SourceFlow]) -> dict[str, Any]:
    """Every step after reading; returns the global steps' report data."""
    reports: dict[str, Any] = {}
    if spec.runs("clean"):
        _map_step(ex, root, spec, flows, "clean", clean.clean, lambda s: s.clean)
    if spec.runs("scrub") and any(s.scrub is not None for s in spec.sources):
        from curate.filters import phi

        _map_step(ex, root, spec, flows, "scrub", phi.scrub, lambda s: s.scrub)
    if spec.runs("quality"):
        _quality(ex, root, spec, flows)
    if spec.exact_dedup and spec.runs("dedup"):
        _global_step(ex, root, spec, flows, "dedup", exact.hash_task, exact.HashConfig, exact.reduce_task, None)
    if spec.near_dedup is not None and spec.runs("near_dedup"):
        stats = _global_step(ex, root, spec, flows, "near_dedup", near.signature_task,
                             lambda rank: near.SignatureConfig(spec.near_dedup, rank), near.reduce_task,
                             spec.near_dedup)
        reports["near_dedup"] = stats.get("report")
    if spec.decontam is not None and spec.runs("decontam"):
        reports["decontam"] = _decontam(ex, root, spec, flows)
    return reports


def run(spec: CorpusSpec, root: Path, *, workers: int | None = None, tokenize_docs: bool = True,
        progress: bool | None = None) -> BuildResult:
    """Run every step of a build into ``root`` (resuming finished work) and write its manifest."""
    root.mkdir(parents=True, exist_ok=True)
    flows = {s.name: SourceFlow() for s in spec.sources}
    tok = tokenizer.prepare(spec.tokenizer, root / "tokenizer", spec.eod_token) if tokenize_docs else None
    with Executor(workers, progress) as ex:
        _read(ex, root, spec, flows)
        reports = _steps(ex, root, spec, flows)
        if tok is not None:
            _tokenize(ex, root, spec, flows, tok)
        ran, skipped, seconds = ex.ran, ex.skipped, dict(ex.seconds)
    ledger_parts = [p for f in flows.values() for parts in f.ledgers.values() for p in parts]
    shards.write(shards.concat_ledgers(ledger_parts), root / "ledger.parquet")
    write_json(root / "flow.json", manifest_mod.flow(root, flows))
    manifest = manifest_mod.build(root, spec, flows, tok)
    report_mod.write(root, manifest, reports)
    write_json(root / "manifest.json", manifest)
    return BuildResult(root, manifest, ran, skipped, seconds)
