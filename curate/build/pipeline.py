"""A build: plan the passes of a corpus build and run their tasks through an executor.

The corpus is written three times, by three passes over every shard (``SourceFlow.passes``):

1. ``read``: the reader over each input file -> Document shards (+ key events, + ledger);
2. ``prepare`` (one fused task per shard): ``versions`` (keyed sources such as PubMed: the last
   version wins, deletions apply), ``clean``, ``scrub`` (sources with ``[scrub]``), then the
   annotations that later steps read: quality ``signals`` (kept in ``sources/<src>/signals/``),
   exact-dedup hashes and MinHash signatures (the map phases of the global steps);
3. ``apply`` (one fused task per shard): the drops decided by ``quality`` (the recipe's thresholds
   over the signals), ``dedup`` and ``near_dedup`` (global reduces over the map outputs, each without
   the records an earlier step removed), then ``decontam`` against the n-gram index built once.

then ``tokenize`` (corpus builds): Megatron part datasets, written by the tasks of each source's last
per-shard pass as they write its records (the read of a build without steps, else the apply), merged per
source into ``<build>/tokens/<source>_text_document.{bin,idx}``. A quality or near-dedup threshold change
re-runs only the decisions, the reduces after them and the apply pass; the signals, hashes and
signatures are reused.

Steps run when the recipes configure them; ``CorpusSpec.steps`` selects a subset (the standalone
``curate dedup``/``decontam``/``scrub`` commands). ``flow.json`` records each pass's shards, ledger
parts and per-step record counts, so ``curate audit`` can recount the build.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import importlib
import os
import re
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from curate.build.recipes import CorpusSpec, SourceSpec
from curate.core import manifest as manifest_mod
from curate.core import records, shards, storage
from curate.core.executor import Done, Executor, Task, code_version, make_executor, write_json
from curate.core.lock import build_lock
from curate.core.step import ANNOTATE, Listed, Step, drop_listed
from curate.core.tasks import (
    ArtifactConfig,
    ChainConfig,
    Quarantined,
    Resource,
    artifact_task,
    chain_task,
    load_drops,
)
from curate.dedup import exact, near
from curate.filters import clean, quality
from curate.readers import ReadConfig, discover_all, finish_task, read_task, reader_module
from curate.text.parts import DEFAULT_PART_BYTES
from curate.tokens import indexed, tokenize, tokenizer


@dataclass
class SourceFlow:
    """A source's passes (shards written, ledger parts, per-step counts) and its side files."""

    passes: list[dict[str, Any]] = field(default_factory=list)
    sides: dict[str, list[Path]] = field(default_factory=dict)  # step -> side outputs, in shard order
    records_in: int = 0
    reader_stats: dict[str, float] = field(default_factory=dict)
    tokens: dict[str, Any] | None = None
    parts: list[Done] = field(default_factory=list)  # token parts the latest pass wrote itself, in shard order
    tokenized: bool = False  # whether every shard of the latest pass is in ``parts``

    def last(self) -> list[Path]:
        """Record shards after the latest pass."""
        return self.passes[-1]["shards"]

    def add(self, name: str, inputs: list[Path], results: list[Done], records: bool = True) -> None:
        """Record one pass: its shards (the inputs when it wrote none), ledger parts and step counts."""
        steps: dict[str, dict[str, Any]] = {}
        for d in results:
            for c in d.stats.get("steps", []):
                entry = steps.setdefault(c["step"], {"step": c["step"], "in": 0, "out": 0})
                entry["in"] += c["in"]
                entry["out"] += c["out"]
            for role, paths in d.outputs.items():
                if role not in ("records", "ledger", "drops", "keys", *tokenize.TOKEN_ROLES):
                    self.sides.setdefault(role, []).extend(paths)
        if records:
            self.passes.append({"pass": name, "inputs": inputs,
                                "shards": [p for d in results for p in d.files("records")],
                                "ledger": [p for d in results for p in d.files("ledger")],
                                "steps": list(steps.values())})
            self.parts = [d for d in results if d.files("bin")]
            self.tokenized = all(d.files("bin") or not d.files("records") for d in results)


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


def _read_tasks(root: Path, src: SourceSpec, shard_records: int, part_bytes: int, workers: int = 2,
                working: str | None = None) -> list[Task]:
    """The read tasks of one source, in (file, part) order, and the finish tasks of two-phase readers
    (``working``: a later pass reads their records back, so they are written with this codec).

    With one worker a two-phase reader's files are read whole: its parts would be read one after another
    by the same process, then finished, which only adds the pieces' round trip through the disk (the
    records are the same whatever the cut)."""
    module = reader_module(src.reader)
    if workers <= 1 and hasattr(module, "finish"):
        part_bytes = 0
    files, problems = discover_all(src.inputs, module.SUFFIXES, exclude=(root,))  # never the build's own output
    side = tuple(getattr(src.options, "side_inputs", tuple)())
    taken: set[str] = set()
    out_dir = str(root / "sources" / src.name / "read")
    # Inputs that cannot be listed or opened: one task each, whose quarantine row says why.
    unreadable = [Task(f"{src.name}/read/{rel}", read_task, (), out_dir, safe_name(rel, taken),
                       ReadConfig(src.name, src.reader, src.options, (rel,), shard_records, problem=message))
                  for _, rel, message in problems]
    if hasattr(module, "read_all"):  # one task over every file (e.g. a graph split over files)
        rels = tuple(rel for _, rel in files)
        return [*unreadable, Task(f"{src.name}/read/*", read_task, (*(str(p) for p, _ in files), *side), out_dir,
                                  "all", ReadConfig(src.name, src.reader, src.options, rels, shard_records,
                                                    working=working))]
    size = getattr(module, "units", None)  # progress in the reader's own unit (pages) when it has one
    tasks = unreadable
    for path, rel in files:
        name = safe_name(rel, taken)
        cfg = ReadConfig(src.name, src.reader, src.options, (rel,), shard_records, working=working)
        parts = _parts(module, path, src.options, part_bytes)
        if not parts:
            tasks.append(Task(f"{src.name}/read/{rel}", read_task, (str(path), *side), out_dir, name, cfg,
                              size=size(path, src.options) if size else 1))
            continue
        # a file long enough to be read in parts writes smaller shards where its reader says so (a book's
        # records: ``SHARD_TEXT`` characters), so that the passes after the read share it between workers
        cfg = dataclasses.replace(cfg, shard_bytes=getattr(module, "SHARD_TEXT", cfg.shard_bytes))
        part_size = getattr(module, "part_units", None)  # progress in pages for a book's page ranges too
        tasks += [Task(f"{src.name}/read/{rel}@{k}", read_task, (str(path), *side), out_dir, f"{name}@{k:04d}",
                       dataclasses.replace(cfg, part=part, part_index=k), size=part_size(part) if part_size else 1)
                  for k, part in enumerate(parts)]
    return tasks


def _parts(module: Any, path: Path, options: Any, part_bytes: int) -> list[dict] | None:
    """The reader's parts of one file (None: read it whole); a file it cannot cut is read whole."""
    if not hasattr(module, "parts") or part_bytes <= 0:
        return None
    try:
        parts = module.parts(path, options, part_bytes)
    except OSError:  # the read task reports what is wrong with the file
        return None
    return parts if parts and len(parts) > 1 else None


def _finish_tasks(root: Path, src: SourceSpec, tasks: list[Task], results: dict[str, Done]) -> list[Task]:
    """For a two-phase reader, one finish task per split file over its parts' pieces, in part order."""
    by_file: dict[str, list[Task]] = {}
    for t in tasks:
        if t.config.part is not None:
            by_file.setdefault(t.config.relpaths[0], []).append(t)
    out = []
    for rel, parts in by_file.items():
        pieces = [str(p) for t in parts for p in results[t.key].files("pieces")]
        first = parts[0]
        cfg = dataclasses.replace(first.config, part=None, part_index=0, pieces=len(pieces))
        out.append(Task(f"{src.name}/read/{rel}@finish", finish_task, (first.inputs[0], *pieces, *first.inputs[1:]),
                        first.out_dir, first.name.rsplit("@", 1)[0], cfg))
    return out


def _bounded(src: SourceSpec, tasks: list[Task]) -> list[Task]:
    """Read tasks with the source's time limit: a file (or a byte range of one) that takes longer is
    quarantined, named. The page ranges of a two-phase reader are not bounded one by one: their finish needs
    every range's pieces, so a cut book is bounded only by the pool's hard limits."""
    two_phase = hasattr(reader_module(src.reader), "finish")
    bounded = []
    for t in tasks:
        rels, part = t.config.relpaths, t.config.part
        if part is not None and two_phase:
            bounded.append(t)
            continue
        if part is not None and "start" in part:  # a byte range: its own size counts
            what = f"reading '{rels[0]}' from line {part.get('line', '?')} (bytes {part['start']}-{part['end']})"
            size = part["end"] - part["start"]
        else:
            what = f"reading '{rels[0]}'" if len(rels) == 1 else f"reading its {len(rels)} files together"
            size = sum(os.path.getsize(p) for p in t.inputs[:len(rels)] if os.path.isfile(p))
        timeout = src.timeout_for(size)
        ids = tuple(records.record_id(src.name, rel) for rel in rels) if len(rels) == 1 else (
            records.record_id(src.name, "*"),)
        bounded.append(dataclasses.replace(t, timeout=timeout, on_timeout=Quarantined(src.name, "read", ids, what)))
    return bounded


def _read(ex: Executor, root: Path, spec: CorpusSpec, flows: dict[str, SourceFlow],
          part_bytes: int = DEFAULT_PART_BYTES, tail: Any = None) -> dict[str, tuple[str, ...]]:
    """Run every reader (large files in parts, in parallel); returns the versions drop tables of each
    keyed source. ``tail`` (``tokenize.in_last_pass``) tokenizes in the read tasks of sources with no later pass."""
    workers = getattr(ex, "workers", 1) or 1
    read_tasks = {s.name: _bounded(s, _read_tasks(root, s, spec.shard_records, part_bytes, workers,
                                                  working=_working(spec, _read_back(spec, s))))
                  for s in spec.sources}
    last = {t.key for s in spec.sources if tail and _ends_at_read(spec, s) for t in read_tasks[s.name]}
    units = {getattr(reader_module(s.reader), "UNIT", "file") for s in spec.sources}
    unit = units.pop() if len(units) == 1 else "unit"
    split = {t.key for s in spec.sources if hasattr(reader_module(s.reader), "finish")
             for t in read_tasks[s.name] if t.config.part is not None}
    first, beside = _read_passes([t for tasks in read_tasks.values() for t in tasks], split, workers)
    only = not split and not beside  # the read's last task list: its idle workers import the prepare pass's code
    _import_behind(_later_modules(spec))
    results = ex.run([tail(t) if t.key in last else t for t in first], "read", unit=unit,
                     then=_prepare_modules(spec) if only else ())
    finishes = {s.name: _finish_tasks(root, s, read_tasks[s.name], results)
                for s in spec.sources if hasattr(reader_module(s.reader), "finish")}
    if any(finishes.values()) or beside:
        results.update(ex.run([t for tasks in finishes.values() for t in tasks]
                              + [tail(t) if t.key in last else t for t in beside], "read: finish",
                              unit=unit if beside else "file", then=_prepare_modules(spec)))
    reduces = {}
    for src in spec.sources:
        flow = flows[src.name]
        reads = _in_file_order(read_tasks[src.name], finishes.get(src.name, []), results)
        flow.records_in = sum(d.stats["in"] for d in reads)
        for d in reads:
            for k, v in d.stats.get("reader", {}).items():
                flow.reader_stats[k] = flow.reader_stats.get(k, 0) + v
        flow.add("read", [], reads)
        keys = [str(p) for d in reads for p in d.files("keys")]
        if keys:
            from curate.build import reduces as global_steps  # a build without reduces never loads them

            reduces[src.name] = tuple(global_steps.versions(ex, root, src.name, keys, spec.partitions))
    return reduces


def _exact_on(spec: CorpusSpec) -> bool:
    """Whether the build runs exact dedup."""
    return bool(spec.exact_dedup and spec.runs("dedup"))


def _near_on(spec: CorpusSpec) -> bool:
    """Whether the build runs near dedup."""
    return spec.near_dedup is not None and spec.runs("near_dedup")


def _later_modules(spec: CorpusSpec) -> list[str]:
    """The modules this process runs after the read: the global reduces (when the build has one) and the
    report."""
    return [*(["curate.build.reduces"] if _exact_on(spec) or _near_on(spec) else []), "curate.build.report"]


def _reduce_modules(spec: CorpusSpec) -> tuple[str, ...]:
    """The modules the global reduces' tasks run (near dedup's joins: polars, a fifth of a second to import),
    which a worker left without a prepare task imports while the others finish."""
    if _near_on(spec):
        return ("curate.build.reduces", "polars")
    return ("curate.build.reduces",) if _exact_on(spec) else ()


def _import_behind(modules: list[str]) -> None:
    """Import ``modules`` in a thread while this process waits for the read's tasks, instead of before its
    first task list (they are a third of a second or more that every worker would wait for) or between two
    passes; then hash the package's code for the manifest (``code_version``, read once per process). An
    import that fails here fails again, and is reported, where the module is used."""

    def load() -> None:
        for name in modules:
            try:
                importlib.import_module(name)
            except Exception:  # reported by the import where the module is used
                return
        with contextlib.suppress(OSError):
            code_version()

    threading.Thread(target=load, name="curate-imports", daemon=True).start()


def _read_passes(tasks: list[Task], split: set[str], workers: int) -> tuple[list[Task], list[Task]]:
    """The read tasks of the first pass, and those run beside the finish tasks of split files.

    A split file's finish is one task that waits for all its page ranges; the other workers would sit
    idle beside it. So the ranges run first, with as many whole files as fit beside them without making
    that pass longer (sizes in pages, ranges spread over ``workers``, largest first); the other whole
    files run in the second pass, after the finishes. Outputs do not depend on the order tasks run in."""
    ranges = [t for t in tasks if t.key in split]
    if not ranges or workers <= 1:
        return tasks, []
    loads = [0] * workers
    for t in sorted(ranges, key=lambda t: -t.size):
        loads[loads.index(min(loads))] += t.size
    longest = max(loads)
    first, beside = list(ranges), []
    for t in sorted((t for t in tasks if t.key not in split), key=lambda t: -t.size):
        low = loads.index(min(loads))
        if loads[low] + t.size <= longest:
            loads[low] += t.size
            first.append(t)
        else:
            beside.append(t)
    return first, beside


def _in_file_order(tasks: list[Task], finishes: list[Task], results: dict[str, Done]) -> list[Done]:
    """Results in (file, part) order, a split file's finish right after its parts."""
    after = {t.key.rsplit("@", 1)[0]: t for t in finishes}
    out = []
    for i, t in enumerate(tasks):
        out.append(results[t.key])
        file_key = t.key.rsplit("@", 1)[0] if t.config.part is not None else None
        last_part = i + 1 == len(tasks) or tasks[i + 1].key.rsplit("@", 1)[0] != file_key
        if file_key in after and last_part:
            out.append(results[after[file_key].key])
    return out


def _per_shard(root: Path, spec: CorpusSpec, flows: dict[str, SourceFlow], name: str,
               config_of: Any) -> tuple[list[Task], dict[str, list[Path]]]:
    """One chain task per shard of every source whose ``config_of(source, rank)`` is not None."""
    tasks, inputs = [], {}
    for rank, src in enumerate(spec.sources):
        cfg: ChainConfig | None = config_of(src, rank)
        if cfg is None:
            continue
        inputs[src.name] = flows[src.name].last()
        res_paths = tuple(p for r in cfg.resources for p in r.paths)
        tasks += [Task(f"{src.name}/{name}/{_stem(p)}", chain_task, (str(p), *res_paths),
                       str(root / "sources" / src.name / name), _stem(p), cfg) for p in inputs[src.name]]
    return tasks, inputs


def _prepare_steps(spec: CorpusSpec, src: SourceSpec, has_versions: bool) -> list[Step]:
    steps = []
    if has_versions:
        steps.append(Step("versions", drop_listed, Listed("versions")))
    if spec.runs("clean"):
        steps.append(Step("clean", clean.clean, src.clean))
    if spec.runs("scrub") and src.scrub is not None:
        from curate.filters import phi

        steps.append(Step("scrub", phi.scrub, src.scrub))
    if spec.runs("quality"):
        columns = quality.needed(src.quality, score=_near_on(spec) and "quality" in spec.near_dedup.keep)
        steps.append(Step("signals", quality.signals_step, quality.SignalsConfig(columns), ANNOTATE))
    if _exact_on(spec):
        steps.append(Step("hashes", exact.hash_step, exact.ExactDedupConfig(), ANNOTATE))
    if _near_on(spec):
        steps.append(Step("signatures", near.signature_step, near.SignatureConfig.of(spec.near_dedup), ANNOTATE))
    return steps


def _prepare_modules(spec: CorpusSpec) -> tuple[str, ...]:
    """The modules the prepare pass's tasks run (their steps' functions and configs)."""
    found = {chain_task.__module__}
    for src in spec.sources:
        for step in _prepare_steps(spec, src, False):
            found.add(step.fn.__module__)
            if step.config is not None:
                found.add(type(step.config).__module__)
    return tuple(sorted(found))


# Rows per slice of the prepare chain: the signals' and signatures' batch, so that the token hashes both
# need are computed once per slice (``Context.memo``) and held for one slice only.
PREPARE_BATCH = 2048
_SIDES = {"signals": "../signals", "hashes": "../../../dedup/map/{src}", "signatures": "../../../near_dedup/map/{src}"}


def _prepare(ex: Executor, root: Path, spec: CorpusSpec, flows: dict[str, SourceFlow],
             version_drops: dict[str, tuple[str, ...]], along: list[Task]) -> dict[str, Done]:
    """The fused per-shard pass: versions, clean, scrub, and the annotations of later steps; with it, the
    tasks ``along`` (that need nothing of the build: a worker takes them when the others' shards run out),
    whose results it returns."""

    def config_of(src: SourceSpec, rank: int) -> ChainConfig | None:
        steps = _prepare_steps(spec, src, src.name in version_drops)
        if not steps:
            return None
        resources = ((Resource("versions", version_drops[src.name], load_drops),)
                     if src.name in version_drops else ())
        return ChainConfig(src.name, tuple(steps), rank, spec.seed, resources,
                           tuple((s.name, _SIDES[s.name].format(src=src.name)) for s in steps if s.kind == ANNOTATE),
                           records=any(s.kind != ANNOTATE for s in steps), batch_rows=PREPARE_BATCH,
                           working=_working(spec, _applies(spec)))

    tasks, inputs = _per_shard(root, spec, flows, "prepare", config_of)
    # Largest shards first, so that no worker starts a long one when the others are done (the order tasks
    # run in changes no output: results are taken in shard order).
    done = ex.run([*sorted(tasks, key=lambda t: -os.path.getsize(t.inputs[0])), *along], "prepare",
                  then=_reduce_modules(spec))
    for name, shard_paths in inputs.items():
        mine = [done[t.key] for t in tasks if t.key.startswith(f"{name}/prepare/")]
        flows[name].add("prepare", shard_paths, mine, records=any("records" in d.outputs for d in mine))
    return {t.key: done[t.key] for t in along}


def _quality(ex: Executor, root: Path, spec: CorpusSpec, flows: dict[str, SourceFlow]) -> dict[str, list[str]]:
    """Per shard, the drop table of the recipe's thresholds over the signals (no records read)."""
    tasks: dict[str, list[Task]] = {}
    for src in spec.sources:
        cfg = ChainConfig(src.name, (Step("quality", quality.thresholds, src.quality),), records=False,
                          as_drops=True)
        tasks[src.name] = [Task(f"{src.name}/quality/{_stem(p)}", chain_task, (str(p),),
                                str(root / "sources" / src.name / "quality"), _stem(p), cfg)
                           for p in flows[src.name].sides.get("signals", [])]
    done = ex.run([t for ts in tasks.values() for t in ts], "quality")
    return {name: [str(done[t.key].files("drops")[0]) for t in ts] for name, ts in tasks.items()}


def _decontam_task(root: Path, spec: CorpusSpec) -> Task | None:
    """The task that builds the decontamination index (from the evaluation sets alone), if the build has one."""
    if spec.decontam is None or not spec.runs("decontam"):
        return None
    from curate.benchmarks import decontam

    return Task("decontam/index", artifact_task, decontam.index_inputs(spec.decontam), str(root / "decontam"),
                "index", ArtifactConfig(decontam.index_for, decontam.Index.save, spec.decontam))


def _apply(ex: Executor, root: Path, spec: CorpusSpec, flows: dict[str, SourceFlow],
           quality_drops: dict[str, list[str]], global_drops: dict[str, list[str]], index: str | None,
           tail: Any = None) -> None:
    """The fused per-shard pass that applies every decision: quality, dedup, near_dedup, decontam."""
    tasks: list[Task] = []
    inputs = {}
    for rank, src in enumerate(spec.sources):
        inputs[src.name] = flows[src.name].last()
        for k, shard in enumerate(inputs[src.name]):
            steps, resources = [], []
            if src.name in quality_drops:
                steps.append(Step("quality", drop_listed, Listed("quality")))
                resources.append(Resource("quality", (quality_drops[src.name][k],), load_drops))
            for step, paths in global_drops.items():
                steps.append(Step(step, drop_listed, Listed(step)))
                resources.append(Resource(step, tuple(paths), load_drops))
            if index is not None:
                from curate.benchmarks import decontam

                steps.append(Step("decontam", decontam.decontaminate, spec.decontam.config))
                resources.append(Resource(decontam.INDEX, (index,), decontam.load_index))
            if not steps:
                continue
            cfg = ChainConfig(src.name, tuple(steps), rank, spec.seed, tuple(resources))
            tasks.append(Task(f"{src.name}/apply/{_stem(shard)}", chain_task,
                              (str(shard), *(p for r in resources for p in r.paths)),
                              str(root / "sources" / src.name / "apply"), _stem(shard), cfg))
    if not tasks:
        return
    done = ex.run([tail(t) for t in tasks] if tail else tasks, "apply")
    for name, shard_paths in inputs.items():
        mine = [done[t.key] for t in tasks if t.key.startswith(f"{name}/apply/")]
        if mine:
            flows[name].add("apply", shard_paths, mine)


def _global(ex: Executor, root: Path, spec: CorpusSpec, flows: dict[str, SourceFlow],
            tail: Any = None, index: str | None = None) -> dict[str, Any]:
    """Quality decisions, the global reduces and the apply pass (``index``: the decontamination index, built
    beside the prepare pass); returns the reports of global steps."""
    reports: dict[str, Any] = {}
    quality_drops = _quality(ex, root, spec, flows) if spec.runs("quality") else {}
    removed = [p for paths in quality_drops.values() for p in paths]
    global_drops: dict[str, list[str]] = {}
    if _exact_on(spec):
        from curate.build import reduces as global_steps  # a build without reduces never loads them

        maps = [str(p) for s in spec.sources for p in flows[s.name].sides.get("hashes", [])]
        global_drops["dedup"] = global_steps.exact_dedup(ex, root, maps, removed, spec.partitions)
        removed = [*removed, *global_drops["dedup"]]
    if _near_on(spec):
        from curate.build import reduces as global_steps

        maps = [str(p) for s in spec.sources for p in flows[s.name].sides.get("signatures", [])]
        drops, stats = global_steps.near_dedup(ex, root, spec.near_dedup, maps, removed)
        global_drops["near_dedup"] = [drops]
        reports["near_dedup"] = stats.get("report")
    if index is not None:
        reports["decontam"] = {}
    _apply(ex, root, spec, flows, quality_drops, global_drops, index, tail)
    return reports


def _applies(spec: CorpusSpec) -> bool:
    """Whether the build has an apply pass (a decision that drops records)."""
    return any((spec.runs("quality"), _exact_on(spec), spec.decontam is not None and spec.runs("decontam"),
                _near_on(spec)))


def _working(spec: CorpusSpec, read_back: bool) -> str | None:
    """The codec of records that a later pass reads back (``read_back``), from the recipe; None: not working
    records, zstd as every other output."""
    return spec.working_compression if read_back else None


def _read_back(spec: CorpusSpec, src: SourceSpec) -> bool:
    """Whether a later pass writes a source's records again, so that the read pass's are working shards (a
    keyed source's versions, known only after reading, may add such a pass too)."""
    return _applies(spec) or any(s.kind != ANNOTATE for s in _prepare_steps(spec, src, False))


def _ends_at_read(spec: CorpusSpec, src: SourceSpec) -> bool:
    """Whether the read pass writes a source's last record shards (as far as the plan knows before reading: a
    keyed source's versions may still add a pass, and its read-time tokens are then not used)."""
    return not hasattr(reader_module(src.reader), "finish") and not _read_back(spec, src)


def _tokenize(ex: Executor, root: Path, spec: CorpusSpec, flows: dict[str, SourceFlow],
              cfg: tokenize.TokenizeConfig, names: dict[str, str]) -> None:
    """Token parts of the sources whose last pass did not tokenize, then one merge per source."""
    tasks = []
    for src in spec.sources:
        out_dir = str(root / "tokens" / "parts" / src.name)
        if not flows[src.name].tokenized:
            tasks += [Task(f"{src.name}/tokenize/{_stem(p)}", tokenize.tokenize_task, (str(p),), out_dir,
                           _stem(p), cfg) for p in flows[src.name].last()]
    parts = ex.run(tasks, "tokenize")
    merges = []
    for src in spec.sources:
        mine = flows[src.name].parts if flows[src.name].tokenized else \
            [d for k, d in parts.items() if k.startswith(f"{src.name}/tokenize/")]
        prefixes = tuple(str(d.files("bin")[0].with_suffix("")) for d in mine)
        inputs = tuple(str(p) for d in mine for role in tokenize.TOKEN_ROLES for p in d.files(role))
        merges.append(Task(f"{src.name}/merge", tokenize.merge_task, inputs, str(root / "tokens"),
                           names.get(src.name, f"{src.name}_text_document"), tokenize.MergeConfig(prefixes)))
    merged = ex.run(merges, "merge", unit="source")
    for src, task in zip(spec.sources, merges, strict=True):
        done = merged[task.key]
        flows[src.name].tokens = {"prefix": f"tokens/{task.name}", **done.stats,
                                  "files": [p for role in ("bin", "idx", "docs") for p in done.files(role)]}


def run(spec: CorpusSpec, root: Path | str, *, workers: int | None = None, tokenize_docs: bool = True,
        progress: bool | None = None, executor: str = "local", address: str | None = None,
        part_bytes: int = DEFAULT_PART_BYTES, eod: tokenize.EodRule = tokenize.CURATE_EOD,
        names: dict[str, str] | None = None) -> BuildResult:
    """Run every pass of a build into ``root`` (resuming finished work) and write its manifest.

    ``executor`` is ``local`` (processes on this machine) or ``ray`` (the Ray cluster at ``address``);
    it chooses nothing else: the tasks, markers and outputs are the same. Inputs and ``root`` may be
    URLs of any fsspec filesystem (``s3://``, ``gs://``, ...; ``core.storage``). Input files larger
    than ``part_bytes`` are read in parts by parallel tasks when their reader can cut them (0: never);
    the outputs do not depend on it. ``eod`` is the EOD rule of the token files and ``names`` their
    names per source (default ``<source>_text_document``)."""
    spec = storage.localize(spec)
    if storage.is_url(root):
        url = str(root)
        local = storage.working_copy(url)
        result = run(spec, local, workers=workers, tokenize_docs=tokenize_docs, progress=progress,
                     executor=executor, address=address, part_bytes=part_bytes, eod=eod, names=names)
        storage.publish(local, url)
        return result
    root = Path(root)
    with build_lock(root):
        return _run_locked(spec, root, workers, tokenize_docs, progress, executor, address, part_bytes, eod,
                           names)


def _run_locked(spec: CorpusSpec, root: Path, workers: int | None, tokenize_docs: bool, progress: bool | None,
                executor: str, address: str | None, part_bytes: int, eod: tokenize.EodRule,
                names: dict[str, str] | None) -> BuildResult:
    flows = {s.name: SourceFlow() for s in spec.sources}
    with make_executor(executor, workers, progress, address) as ex:
        if not (root / "manifest.json").exists():  # a first run (a finished build reruns without workers)
            ex.warm(sorted({reader_module(s.reader).__name__ for s in spec.sources}))
        tok = tokenizer.prepare(spec.tokenizer, root / "tokenizer", spec.eod_token) if tokenize_docs else None
        tail = tokenize.in_last_pass(root, tokenize.config_for(tok, eod)) if tok is not None else None
        version_drops = _read(ex, root, spec, flows, part_bytes, tail)
        index_task = _decontam_task(root, spec)
        along = _prepare(ex, root, spec, flows, version_drops, [index_task] if index_task else [])
        index = str(along[index_task.key].files("artifact")[0]) if index_task else None
        reports = _global(ex, root, spec, flows, tail, index)
        if tok is not None:
            _tokenize(ex, root, spec, flows, tokenize.config_for(tok, eod), names or {})
        ran, skipped, seconds = ex.ran, ex.skipped, dict(ex.seconds)
    ledger_parts = [p for f in flows.values() for ps in f.passes for p in ps["ledger"]]
    shards.write(shards.concat_ledgers(ledger_parts), root / "ledger.parquet")
    write_json(root / "flow.json", manifest_mod.flow(root, flows))
    manifest = manifest_mod.build(root, spec, flows, tok,
                                   str(indexed.dtype_for_vocab(tok.vocab_size)) if tok else None)
    from curate.build import report as report_mod  # imported behind the read (``_import_behind``)

    report_mod.write(root, manifest, reports)
    write_json(root / "manifest.json", manifest)
    return BuildResult(root, manifest, ran, skipped, seconds)
