"""The build report: ``report.json`` for machines and ``report.md`` for people.

It gathers what a reviewer of a corpus asks about: records and tokens per source, drops per step
and rule, quarantined input, the near-dedup S-curve (chance of being caught at similarity 0.5, 0.7,
0.8 and 0.9 for the chosen bands and rows), cluster counts, sizes and samples, contamination hits
by benchmark, and PHI replacements by type. Everything comes from the manifest, the ledger and the
global steps' statistics, so the report is as deterministic as the build.
"""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq

from curate.core.executor import atomic_path, write_json

_BENCHMARK = re.compile(r"benchmark=(\S+)")
_PHI = re.compile(r"([A-Z_]+)=(\d+)")


def _ledger_tallies(root: Path) -> tuple[dict[str, int], dict[str, int]]:
    """Contamination hits by benchmark and PHI replacements by type, from the ledger."""
    table = pq.read_table(root / "ledger.parquet", columns=["step", "reason", "detail"])
    hits: Counter[str] = Counter()
    phi: Counter[str] = Counter()
    for step, detail in zip(table["step"].to_pylist(), table["detail"].to_pylist(), strict=True):
        if step == "decontam" and (m := _BENCHMARK.search(detail)):
            hits[m.group(1)] += 1
        elif step == "scrub":
            for kind, n in _PHI.findall(detail):
                phi[kind] += int(n)
    return dict(sorted(hits.items())), dict(sorted(phi.items()))


def build(root: Path, manifest: dict[str, Any], steps: dict[str, Any]) -> dict[str, Any]:
    """The report's content."""
    hits, phi = _ledger_tallies(root)
    return {
        "name": manifest["name"],
        "sources": {name: {k: s[k] for k in ("records_in", "records_out", "tokens", "quarantined")}
                    for name, s in manifest["sources"].items()},
        "drops": manifest["drops"],
        "quarantined": manifest["quarantined"],
        "near_dedup": steps.get("near_dedup"),
        "contamination_hits": hits,
        "phi_replacements": phi,
        "text": {name: {k: v for k, v in s["stats"].items() if k.startswith("text_")}
                 for name, s in manifest["sources"].items() if "text_in" in s.get("stats", {})},
    }


def markdown(report: dict[str, Any]) -> str:
    """The report as Markdown."""
    lines = [f"# Build report: {report['name']}", "", "## Sources", "",
             "| source | in | out | tokens | quarantined |", "|---|---:|---:|---:|---:|"]
    for name, s in report["sources"].items():
        tokens = f"{s['tokens']:,}" if s["tokens"] is not None else "-"
        lines.append(f"| {name} | {s['records_in']:,} | {s['records_out']:,} | {tokens} | {s['quarantined']:,} |")
    lines += ["", "## Drops by step and rule", "", "| step | rule | records |", "|---|---|---:|"]
    for step, reasons in report["drops"].items():
        lines += [f"| {step} | {reason} | {n:,} |" for reason, n in sorted(reasons.items())]
    near = report["near_dedup"]
    if near:
        lines += ["", "## Near dedup", "",
                  f"MinHash {near['num_perm']} permutations, {near['ngram']}-token shingles, threshold "
                  f"{near['threshold']}: {near['bands']} bands x {near['rows']} rows, verification "
                  f"`{near['verify']}`.", "", "| similarity | chance of being caught |", "|---:|---:|"]
        lines += [f"| {s} | {p:.3f} |" for s, p in near["s_curve"].items()]
        lines += ["", f"{near['documents']:,} documents ({near['documents_with_shingles']:,} with shingles), "
                  f"{near['candidate_pairs']:,} candidate pairs, {near['verified_pairs']:,} verified; "
                  f"{near['clusters']:,} clusters, {near['dropped']:,} documents dropped.", "",
                  "| cluster size | clusters |", "|---|---:|"]
        lines += [f"| {row['size']} | {row['clusters']:,} |" for row in near["cluster_sizes"]]
        for sample in near["sample_clusters"]:
            members = ", ".join(f"`{m['id']}` ({m['jaccard']})" for m in sample["members"])
            lines.append(f"\n- kept `{sample['kept']}` (cluster of {sample['size']}): {members}")
    lines += ["", "## Contamination hits by benchmark", ""]
    lines += [f"- {b}: {n:,}" for b, n in report["contamination_hits"].items()] or ["- none"]
    lines += ["", "## PHI replaced, by type", ""]
    lines += [f"- {k}: {n:,}" for k, n in report["phi_replacements"].items()] or ["- none"]
    for name, text in report.get("text", {}).items():  # characters (not spaces) removed inside records
        lines += ["", f"## Text accounting: {name}", "", f"{text['text_in']:,} characters in, "
                  f"{text.get('text_out', 0):,} out.", "", "| removed as | characters |", "|---|---:|"]
        lines += [f"| {k.removeprefix('text_removed_')} | {v:,} |" for k, v in sorted(text.items())
                  if k.startswith("text_removed_") and v]
    return "\n".join(lines) + "\n"


def write(root: Path, manifest: dict[str, Any], steps: dict[str, Any]) -> dict[str, Any]:
    """Write ``report.json`` and ``report.md`` into the build directory."""
    report = build(root, manifest, steps)
    write_json(root / "report.json", report)
    with atomic_path(root / "report.md") as tmp:
        tmp.write_text(markdown(report), encoding="utf-8")
    return report
