"""The build report: ``report.json`` for machines, ``report.md`` and ``report.html`` for people.

It gathers what a reviewer of a corpus asks about: records and tokens per source, drops per step
and rule, quarantined input, the near-dedup S-curve (chance of being caught at similarity 0.5, 0.7,
0.8 and 0.9 for the chosen bands and rows), cluster counts, sizes and samples, contamination hits
by benchmark, and PHI replacements by type. Everything comes from the manifest, the ledger and the
global steps' statistics, so the report is as deterministic as the build. ``report.html`` adds the
distributions (``corpus_stats``, ``instruct_stats``) drawn as charts (``pages``, ``html``); an
instruction build gets the same three files. ``regenerate`` rewrites them from a finished build.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from curate.build import aggregate, artifacts, corpus_stats, html, instruct_stats, pages
from curate.core.executor import atomic_path, write_json


def _ledger_tallies(root: Path) -> tuple[dict[str, int], dict[str, int]]:
    """Contamination hits by benchmark and PHI replacements by type, from the ledger."""
    tallies = aggregate.ledger_tallies(root / "ledger.parquet", hit_steps=("decontam",))
    hits = tallies.hits.get("decontam", {})
    phi = {kind: sum(by_source.values()) for kind, by_source in tallies.phi.items()}
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


def instruct_report(manifest: dict[str, Any], hits: dict[str, int]) -> dict[str, Any]:
    """The ``report.json`` content of an instruction build."""
    drops: dict[str, dict[str, int]] = {}
    for s in manifest["sources"].values():
        for step, reasons in s["dropped"].items():
            for reason, n in reasons.items():
                drops.setdefault(step, {})[reason] = drops.get(step, {}).get(reason, 0) + n
    keys = ("task", "records_in", "examples_out", "tokens", "loss_tokens", "quarantined")
    return {"name": manifest["name"], "kind": "instruct",
            "sources": {name: {k: s[k] for k in keys} for name, s in manifest["sources"].items()},
            "drops": {k: dict(sorted(v.items())) for k, v in sorted(drops.items())},
            "quarantined": manifest["quarantined"], "packing": manifest.get("packing", {}), "guard_hits": hits}


def instruct_markdown(report: dict[str, Any]) -> str:
    """The report of an instruction build as Markdown."""
    lines = [f"# Build report: {report['name']} (instruction build)", "", "## Datasets", "",
             "| dataset | task | in | examples | tokens | loss tokens | quarantined |",
             "|---|---|---:|---:|---:|---:|---:|"]
    lines += [f"| {n} | {s['task']} | {s['records_in']:,} | {s['examples_out']:,} | {s['tokens']:,} | "
              f"{s['loss_tokens']:,} | {s['quarantined']:,} |" for n, s in report["sources"].items()]
    lines += ["", "## Drops by step and rule", "", "| step | rule | records |", "|---|---|---:|"]
    for step, reasons in report["drops"].items():
        lines += [f"| {step} | {reason} | {n:,} |" for reason, n in reasons.items()]
    packing = report["packing"]
    lines += ["", f"## Packing (seq_len {packing.get('seq_len')})", "",
              "| split | packs | examples | tokens | efficiency |", "|---|---:|---:|---:|---:|"]
    lines += [f"| {k} | {p['packs']:,} | {p['examples']:,} | {p['tokens']:,} | {p['efficiency']:.1%} |"
              for k, p in packing.items() if isinstance(p, dict)]
    lines += ["", "## Leakage guard refusals by benchmark", ""]
    lines += [f"- {b}: {n:,}" for b, n in report["guard_hits"].items()] or ["- none"]
    return "\n".join(lines) + "\n"


def _write_text(path: Path, text: str) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


def write_html(root: Path, budget: float | None = None, manifest: dict[str, Any] | None = None) -> Path:
    """Write ``report.html`` of the finished build in ``root`` (``budget``: training tokens for epochs)."""
    art = artifacts.find(root, manifest)
    if art.instruct:
        context = pages.instruct_context(art, instruct_stats.collect(art))
    else:
        context = pages.corpus_context(art, corpus_stats.collect(art, budget))
    _write_text(root / "report.html", html.render(context))
    return root / "report.html"


def write(root: Path, manifest: dict[str, Any], steps: dict[str, Any]) -> dict[str, Any]:
    """Write ``report.json``, ``report.md`` and ``report.html`` into the build directory."""
    manifest = artifacts.in_recipe_order(manifest)
    report = build(root, manifest, json.loads(json.dumps(steps)))
    write_json(root / "report.json", report)
    _write_text(root / "report.md", markdown(report))
    write_html(root, manifest=manifest)
    return report


def write_instruct(root: Path, manifest: dict[str, Any]) -> dict[str, Any]:
    """Write ``report.json``, ``report.md`` and ``report.html`` of an instruction build."""
    manifest = artifacts.in_recipe_order(manifest)
    hits = aggregate.ledger_tallies(root / "ledger.parquet", hit_steps=("guard",)).hits.get("guard", {})
    report = instruct_report(manifest, dict(sorted(hits.items())))
    write_json(root / "report.json", report)
    _write_text(root / "report.md", instruct_markdown(report))
    write_html(root, manifest=manifest)
    return report


def regenerate(root: Path, budget: float | None = None) -> Path:
    """Rewrite the reports of a finished build from its files; returns the path of ``report.html``."""
    art = artifacts.find(root)
    if art.instruct:
        write_instruct(root, art.manifest)
    else:
        write(root, art.manifest, {"near_dedup": art.report_json().get("near_dedup")})
    return write_html(root, budget) if budget else root / "report.html"
