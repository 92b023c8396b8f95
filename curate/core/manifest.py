"""``manifest.json`` and ``flow.json`` of a build, and the summary printed at its end.

The manifest holds the tokenizer (name, vocab size, EOD id, sha256 of its files), records and tokens
per source, drops per step and reason, quarantined items, every output file with its sha256, the
config (paths relative to the build directory), seed, code version, and the Megatron
``--data-path`` blend. It has no timestamps and no absolute paths, so the same inputs, config and
seed give a byte-identical manifest.

``flow.json`` lists per source the passes of the build (the shards each read and wrote, its ledger
parts, records in and out of each step) and the side outputs; ``curate audit`` recounts from it.
"""

from __future__ import annotations

import os
from collections import defaultdict
from pathlib import Path
from typing import Any

import curate
from curate.core import ledger as ledger_mod
from curate.core import shards
from curate.core.executor import canonical, code_version, digest

# The build hands in its plan as plain objects: ``spec`` has ``name, seed, sources`` (each with
# ``name, reader, weight``), a flow per source has ``passes, sides, records_in, reader_stats, tokens``
# and the tokenizer ``name, path, vocab_size, eod_id, eod_token, files``. Typed as ``Any`` so that the
# core imports nothing of the build that uses it.
SourceFlow = Any
CorpusSpec = Any
TokenizerInfo = Any


def rel(root: Path, path: Path | str) -> str:
    """``path`` relative to the build directory ``root``."""
    return os.path.relpath(Path(path).absolute(), root.absolute())


def relativize(value: Any, root: Path) -> Any:
    """Absolute paths in a canonical config become paths relative to the build directory."""
    if isinstance(value, dict):
        return {k: relativize(v, root) for k, v in value.items()}
    if isinstance(value, list):
        return [relativize(v, root) for v in value]
    if isinstance(value, str) and os.path.isabs(value):
        return rel(root, value)
    return value


def flow(root: Path, flows: dict[str, SourceFlow]) -> dict[str, Any]:
    """Per source: each pass's input and output shards, ledger parts and step counts; side outputs."""
    out: dict[str, Any] = {}
    for name, f in flows.items():
        passes = [{"pass": p["pass"], "inputs": [rel(root, x) for x in p["inputs"]],
                   "shards": [rel(root, x) for x in p["shards"]], "ledger": [rel(root, x) for x in p["ledger"]],
                   "steps": p["steps"]} for p in f.passes]  # a list: JSON objects get their keys sorted
        out[name] = {"records_in": f.records_in, "passes": passes,
                     "sides": {k: [rel(root, x) for x in v] for k, v in sorted(f.sides.items())},
                     "tokens": f.tokens["prefix"] if f.tokens else None}
    return out


def ledger_counts(root: Path) -> dict[str, dict[str, Any]]:
    """Per source, from ``ledger.parquet``: drops per step and reason, quarantined count, modifications."""
    table = ledger_mod.read([root / "ledger.parquet"])
    per: dict[str, dict[str, Any]] = defaultdict(lambda: {"dropped": defaultdict(dict), "quarantined": 0,
                                                          "modified": defaultdict(int)})
    for (source, step, action, reason), n in sorted(ledger_mod.counts(table).items()):
        entry = per[source]
        if action == ledger_mod.MODIFY:
            entry["modified"][reason] += n
        else:
            entry["dropped"][step][reason] = entry["dropped"][step].get(reason, 0) + n
            if action == ledger_mod.QUARANTINE:
                entry["quarantined"] += n
    return per


def _outputs(root: Path, flows: dict[str, SourceFlow]) -> list[Path]:
    files: list[Path] = []
    for f in flows.values():
        files += f.tokens["files"] if f.tokens else f.last()
    return [*files, root / "ledger.parquet", root / "flow.json"]


def blend(flows: dict[str, SourceFlow], spec: CorpusSpec, root: str = "") -> str:
    """Megatron ``--data-path`` string: normalised weight and prefix per non-empty source."""
    live = [s for s in spec.sources if flows[s.name].tokens and flows[s.name].tokens["documents"]]
    total = sum(s.weight for s in live)
    prefix = f"{root.rstrip('/')}/" if root else ""
    return " ".join(f"{s.weight / total:.6g} {prefix}{flows[s.name].tokens['prefix']}" for s in live)


def build(root: Path, spec: CorpusSpec, flows: dict[str, SourceFlow], tok: TokenizerInfo | None,
          dtype: str | None = None) -> dict:
    """The manifest of a finished build."""
    counts = ledger_counts(root)
    sources = {}
    for src in spec.sources:
        f, c = flows[src.name], counts[src.name]
        out = sum(shards.rows(p) for p in f.last())
        sources[src.name] = {
            "reader": src.reader, "weight": src.weight, "records_in": f.records_in, "records_out": out,
            "dropped": {k: dict(v) for k, v in c["dropped"].items()}, "quarantined": c["quarantined"],
            "modified": dict(c["modified"]),
            "stats": dict(sorted(f.reader_stats.items())),
            "tokens": f.tokens["tokens"] if f.tokens else None,
            "documents": f.tokens["documents"] if f.tokens else None,
            "prefix": f.tokens["prefix"] if f.tokens else None,
        }
    drops: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for s in sources.values():
        for step, reasons in s["dropped"].items():
            for reason, n in reasons.items():
                drops[step][reason] += n
    manifest: dict[str, Any] = {
        "name": spec.name,
        "curate_version": curate.__version__,
        "code_version": code_version(),
        "seed": spec.seed,
        "config": relativize(canonical(spec), root),
        "sources": sources,
        "drops": {k: dict(v) for k, v in sorted(drops.items())},
        "quarantined": sum(s["quarantined"] for s in sources.values()),
        "outputs": [{"path": rel(root, p), "bytes": p.stat().st_size, "sha256": digest(p)}
                    for p in _outputs(root, flows)],
    }
    if tok is not None:
        manifest["tokenizer"] = {
            "name": tok.name, "path": rel(root, tok.path), "vocab_size": tok.vocab_size,
            "eod_id": tok.eod_id, "eod_token": tok.eod_token,
            "dtype": dtype, "files": tok.files,
        }
        manifest["data_path"] = blend(flows, spec)
    return manifest


def summary(manifest: dict[str, Any], root: Path) -> list[str]:
    """Human-readable lines: records and tokens per source, drops per reason, outputs, blend."""
    lines = [f"build {manifest['name']} -> {root}"]
    width = max([6, *map(len, manifest["sources"])])
    lines.append(f"  {'source':<{width}}  {'in':>9}  {'out':>9}  {'dropped':>8}  {'tokens':>11}")
    for name, s in manifest["sources"].items():
        dropped = sum(n for reasons in s["dropped"].values() for n in reasons.values())
        tokens = f"{s['tokens']:,}" if s["tokens"] is not None else "-"
        lines.append(f"  {name:<{width}}  {s['records_in']:>9,}  {s['records_out']:>9,}  {dropped:>8,}  "
                     f"{tokens:>11}")
    for name, s in manifest["sources"].items():
        if s["stats"]:
            lines.append(f"  {name}: " + ", ".join(f"{k} {v:,}" for k, v in s["stats"].items()))
    if manifest["drops"]:
        lines.append("  drops by step/reason:")
        for step, reasons in manifest["drops"].items():
            for reason, n in sorted(reasons.items()):
                lines.append(f"    {step}/{reason}: {n:,}")
    lines.append(f"  quarantined: {manifest['quarantined']:,} (see {root / 'ledger.parquet'})")
    lines.append("  outputs:")
    for o in manifest["outputs"]:
        lines.append(f"    {root / o['path']}  ({o['bytes']:,} bytes)")
    if manifest.get("data_path"):
        parts = manifest["data_path"].split()
        blend_str = " ".join(p if i % 2 == 0 else str(root / p) for i, p in enumerate(parts))
        lines.append(f"  megatron: --data-path {blend_str}")
    return lines
