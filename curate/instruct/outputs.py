"""The end of an instruction build: packing into ``packed/`` (partitioned, published atomically), then
ledger, manifest and report.

The manifest (no timestamps, no absolute paths) records the tokenizer and where the chat template came
from, the task ids, per source the records in and out, copies, drops per step and reason, tokens and
loss tokens, and per split the packs, examples, tokens and packing efficiency (non-pad share).
"""

from __future__ import annotations

import json
import math
import os
import shutil
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from tokenizers import Tokenizer

import curate
from curate.core.executor import Executor, Result, Task, canonical, code_version, digest
from curate.core.manifest import ledger_counts, rel, relativize
from curate.instruct import chat, pack, select
from curate.instruct.recipe import InstructSpec
from curate.tokens import packed
from curate.tokens.tokenizer import TokenizerInfo

SPLITS = ("train", "valid")


def pad_id(tok: TokenizerInfo) -> int:
    """The tokenizer's pad token id, else its EOD id."""
    config = Path(tok.path) / "tokenizer_config.json"
    pad = json.loads(config.read_text(encoding="utf-8")).get("pad_token") if config.is_file() else None
    if isinstance(pad, dict):  # an AddedToken written out in full
        pad = pad.get("content")
    pid = Tokenizer.from_file(str(Path(tok.path) / "tokenizer.json")).token_to_id(pad) if pad else None
    return tok.eod_id if pid is None else int(pid)


def _flat(column: pa.ChunkedArray) -> tuple[np.ndarray, np.ndarray]:
    array = column.combine_chunks()
    return array.values.to_numpy(), array.offsets.to_numpy()


def _groups(table: pa.Table, by_task: bool) -> list[np.ndarray]:
    """Row indices packed together: all rows, or one group per task."""
    if not by_task:
        return [np.arange(table.num_rows)]
    tasks = table["task_id"].to_numpy()
    return [np.flatnonzero(tasks == t) for t in np.unique(tasks)]


@dataclass(frozen=True)
class PackConfig:
    """One pack task: a split, a partition of ``parts`` (by a hash of the example id), the packing choices."""

    split: str
    part: int
    parts: int
    seq_len: int
    pad: int
    seed: int
    by_task: bool
    shard_packs: int


def _mine(table: pa.Table, cfg: PackConfig) -> pa.Table:
    table = table.filter(pc.equal(table["split"], cfg.split))
    if cfg.parts > 1 and table.num_rows:
        keep = [int(select.unit(cfg.seed, "pack", e) * cfg.parts) == cfg.part for e in table["example_id"].to_pylist()]
        table = table.filter(pa.array(keep, pa.bool_()))
    return table


def pack_task(task: Task) -> Result:
    """Pack one split's partition of the token shards ``inputs`` into ``<name>-NNNNN.parquet`` files."""
    cfg: PackConfig = task.config
    parts = [_mine(pq.read_table(p, columns=packed_columns()), cfg) for p in task.inputs]
    table = pa.concat_tables(parts) if parts else None
    if table is None or table.num_rows == 0:
        return Result({"packs": []}, {"packs": 0, "examples": 0, "tokens": 0, "lengths": []})
    lengths = pc.list_value_length(table["input_ids"]).to_numpy().astype(np.int64)
    packs: list[list[int]] = []
    for rows in _groups(table, cfg.by_task):
        packs += [[int(rows[i]) for i in p] for p in pack.best_fit(lengths[rows].tolist(), cfg.seq_len)]
    # One partition keeps the plain seeded order; with several, each shuffles its own packs.
    packs = pack.shuffled(packs, cfg.seed if cfg.parts == 1 else cfg.seed * 1_000_003 + cfg.part)
    ids_v, ids_o = _flat(table["input_ids"])
    lab_v, lab_o = _flat(table["labels"])
    example_ids, task_ids = table["example_id"].to_pylist(), table["task_id"].to_pylist()
    names = []
    for k, start in enumerate(range(0, len(packs), cfg.shard_packs)):
        rows = [packed.pack_row([(example_ids[i], task_ids[i], ids_v[ids_o[i]:ids_o[i + 1]],
                                  lab_v[lab_o[i]:lab_o[i + 1]]) for i in p], cfg.seq_len, cfg.pad)
                for p in packs[start:start + cfg.shard_packs]]
        names.append(f"{task.name}-{k:05d}.parquet")
        packed.write(rows, Path(task.out_dir) / names[-1])
    return Result({"packs": names}, {"packs": len(packs), "examples": table.num_rows, "tokens": int(lengths.sum()),
                                     "lengths": []})


def packed_columns() -> list[str]:
    """The token-shard columns packing reads."""
    return ["example_id", "task_id", "split", "input_ids", "labels"]


PACK_TOKENS = 50_000_000  # tokens one pack task holds (ids and labels: about 400 MB)


def pack_all(ex: Executor, root: Path, spec: InstructSpec, token_shards: list[Path], tok: TokenizerInfo, pad: int,
             tokens: int) -> dict[str, Any]:
    """Pack every split into ``<root>/packed/`` (partitioned by size), published atomically with ``info.json``.

    Pack tasks write into ``packed.parts/``; the published directory is assembled beside it
    (``packed.new/``, hard links) and swapped in by renames, so ``packed/`` is always one whole build.
    """
    parts = spec.partitions or max(1, math.ceil(tokens / PACK_TOKENS))
    tasks = [Task(f"pack/{split}/{p}", pack_task, tuple(str(x) for x in token_shards), str(root / "packed.parts"),
                  f"{split}-p{p:03d}", PackConfig(split, p, parts, spec.seq_len, pad, spec.seed, spec.pack_by_task,
                                                  spec.shard_packs))
             for split in SPLITS for p in range(parts)]
    done = ex.run(tasks, "pack", unit="part")
    new = root / "packed.new"
    shutil.rmtree(new, ignore_errors=True)
    new.mkdir(parents=True)
    stats: dict[str, Any] = {}
    for split in SPLITS:
        mine = [done[t.key] for t in tasks if t.config.split == split]
        files = [p for d in mine for p in d.files("packs")]
        if not files:
            continue
        names = [f"{split}-{k:05d}.parquet" for k in range(len(files))]
        for src, name in zip(files, names, strict=True):
            os.link(src, new / name)
        count = {k: sum(d.stats[k] for d in mine) for k in ("packs", "examples", "tokens")}
        stats[split] = {**count, "efficiency": round(count["tokens"] / (count["packs"] * spec.seq_len), 6),
                        "files": [root / "packed" / n for n in names]}
    info = {"seq_len": spec.seq_len, "pad_id": pad, "eod_id": tok.eod_id, "tasks": spec.tasks,
            "stage": spec.stage, "ignore_index": packed.IGNORE,
            "splits": {k: {**{m: v for m, v in s.items() if m != "files"},
                           "files": [p.name for p in s["files"]]} for k, s in stats.items()}}
    packed.write_info(new / "info.json", info)
    _swap(new, root / "packed")
    return stats


def _swap(new: Path, target: Path) -> None:
    """Put directory ``new`` in the place of ``target`` with renames (never a mixed directory)."""
    old = target.with_name(f"{target.name}.old")
    shutil.rmtree(old, ignore_errors=True)
    if target.exists():
        os.rename(target, old)
    os.rename(new, target)
    shutil.rmtree(old, ignore_errors=True)


def manifest(root: Path, spec: InstructSpec, flows: dict, tok: TokenizerInfo, pad: int,
             token_stats: dict[str, Any], packing: dict[str, Any]) -> dict[str, Any]:
    """The manifest of a finished instruction build."""
    per = ledger_counts(root)
    sources = {}
    for s in spec.sources:
        c, t = per[s.name], token_stats[s.name]
        sources[s.name] = {"loader": s.loader, "task": s.task, "task_id": spec.tasks[s.task], "weight": s.weight,
                           "records_in": flows[s.name].records_in, "examples_out": t["out"],
                           "dropped": {k: dict(v) for k, v in c["dropped"].items()},
                           "quarantined": c["quarantined"], "modified": dict(c["modified"]),
                           "tokens": t["tokens"], "loss_tokens": t["loss_tokens"]}
    files = [p for s in packing.values() for p in s["files"]]
    return {
        "name": spec.name, "kind": "instruct", "stage": spec.stage, "curate_version": curate.__version__,
        "code_version": code_version(), "seed": spec.seed, "config": relativize(canonical(spec), root),
        "tokenizer": {"name": tok.name, "path": rel(root, tok.path), "vocab_size": tok.vocab_size,
                      "eod_id": tok.eod_id, "pad_id": pad, "files": tok.files,
                      "chat_template": chat.template_source(tok.path)},
        "tasks": spec.tasks, "sources": sources, "skipped_sources": list(spec.skipped),
        "packing": {"seq_len": spec.seq_len, "by_task": spec.pack_by_task,
                    **{k: {m: v for m, v in s.items() if m != "files"} for k, s in packing.items()}},
        "quarantined": sum(s["quarantined"] for s in sources.values()),
        "outputs": [{"path": rel(root, p), "bytes": p.stat().st_size, "sha256": digest(p)}
                    for p in [*files, root / "packed" / "info.json", root / "ledger.parquet"]],
    }


def summary(result: dict[str, Any], root: Path) -> list[str]:
    """Human-readable lines: examples per source, drops, packing, outputs."""
    lines = [f"build {result['name']} (instruct, stage {result['stage']}) -> {root}",
             f"  chat template: {result['tokenizer']['chat_template']}'s; tasks: "
             + ", ".join(f"{k}={v}" for k, v in result["tasks"].items())]
    if result["skipped_sources"]:
        lines.append("  skipped (optional, inputs absent): " + ", ".join(result["skipped_sources"]))
    width = max([6, *map(len, result["sources"])])
    lines.append(f"  {'source':<{width}}  {'in':>8}  {'out':>8}  {'dropped':>8}  {'tokens':>10}  {'loss tok':>10}")
    for name, s in result["sources"].items():
        dropped = sum(n for reasons in s["dropped"].values() for n in reasons.values())
        lines.append(f"  {name:<{width}}  {s['records_in']:>8,}  {s['examples_out']:>8,}  {dropped:>8,}  "
                     f"{s['tokens']:>10,}  {s['loss_tokens']:>10,}")
    drops: dict[str, int] = defaultdict(int)
    for s in result["sources"].values():
        for step, reasons in s["dropped"].items():
            for reason, n in reasons.items():
                drops[f"{step}/{reason}"] += n
    if drops:
        lines.append("  drops by step/reason: " + ", ".join(f"{k} {v:,}" for k, v in sorted(drops.items())))
    for split in SPLITS:
        if p := result["packing"].get(split):
            lines.append(f"  {split}: {p['packs']:,} packs of {result['packing']['seq_len']}, {p['examples']:,} "
                         f"examples, {p['tokens']:,} tokens, efficiency {p['efficiency']:.1%}")
    lines.append(f"  quarantined: {result['quarantined']:,} (see {root / 'ledger.parquet'})")
    lines.append(f"  shards: {root / 'packed'}/{{train,valid}}-*.parquet")
    return lines
