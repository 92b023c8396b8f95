"""The end of an instruction build: packing into ``packed/``, then ledger, manifest and report.

The manifest (no timestamps, no absolute paths) records the tokenizer and where the chat template came
from, the task ids, per source the records in and out, copies, drops per step and reason, tokens and
loss tokens, and per split the packs, examples, tokens and packing efficiency (non-pad share).
"""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from tokenizers import Tokenizer

import curate
from curate.core import shards
from curate.core.executor import canonical, code_version, digest
from curate.core.manifest import ledger_counts, rel, relativize
from curate.instruct import chat, pack
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


def pack_split(table: pa.Table, spec: InstructSpec, pad: int, out: Path, split: str) -> dict[str, Any]:
    """Pack one split's examples and write ``<split>-NNNNN.parquet`` files; returns its statistics."""
    lengths = pc.list_value_length(table["input_ids"]).to_numpy().astype(np.int64)
    packs: list[list[int]] = []
    for rows in _groups(table, spec.pack_by_task):
        packs += [[int(rows[i]) for i in p] for p in pack.best_fit(lengths[rows].tolist(), spec.seq_len)]
    packs = pack.shuffled(packs, spec.seed)
    ids_v, ids_o = _flat(table["input_ids"])
    lab_v, lab_o = _flat(table["labels"])
    example_ids, task_ids = table["example_id"].to_pylist(), table["task_id"].to_pylist()
    files = []
    for k, start in enumerate(range(0, len(packs), spec.shard_packs)):
        rows = [packed.pack_row([(example_ids[i], task_ids[i], ids_v[ids_o[i]:ids_o[i + 1]],
                                  lab_v[lab_o[i]:lab_o[i + 1]]) for i in p], spec.seq_len, pad)
                for p in packs[start:start + spec.shard_packs]]
        path = out / f"{split}-{k:05d}.parquet"
        packed.write(rows, path)
        files.append(path)
    total = int(lengths.sum())
    return {"packs": len(packs), "examples": table.num_rows, "tokens": total,
            "efficiency": round(pack.efficiency(lengths.tolist(), len(packs), spec.seq_len), 6),
            "files": files}


def pack_all(root: Path, spec: InstructSpec, token_shards: list[Path], tok: TokenizerInfo, pad: int
             ) -> dict[str, Any]:
    """Pack every split into ``<root>/packed/`` and write ``info.json``."""
    out = root / "packed"
    out.mkdir(parents=True, exist_ok=True)
    for stale in out.glob("*.parquet"):  # a rebuild with other settings may write fewer files
        stale.unlink()
    table = pa.concat_tables([shards.read(p) for p in token_shards]) if token_shards else None
    stats = {}
    for split in SPLITS:
        part = table.filter(pc.equal(table["split"], split)) if table is not None else None
        if part is not None and part.num_rows:
            stats[split] = pack_split(part, spec, pad, out, split)
    info = {"seq_len": spec.seq_len, "pad_id": pad, "eod_id": tok.eod_id, "tasks": spec.tasks,
            "stage": spec.stage, "ignore_index": packed.IGNORE,
            "splits": {k: {**{m: v for m, v in s.items() if m != "files"},
                           "files": [p.name for p in s["files"]]} for k, s in stats.items()}}
    packed.write_info(out / "info.json", info)
    return stats


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
