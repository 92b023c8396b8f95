"""What the report of a pre-training build shows, aggregated from the build's files.

Per source: the records funnel through every step with drop reasons; tokens against the blend weight
and the epochs each source gets at a token budget; document lengths in characters and tokens; the
language mix; each quality signal's distribution with the recipe's thresholds, how many documents
break each one and the documents nearest to it on both sides; reader statistics and text accounting.
Over the corpus: near-dedup S-curve, cluster sizes and sample clusters with their texts,
contamination hits with the matched n-grams, PHI replacements by type.
"""

from __future__ import annotations

import functools
from collections import Counter, defaultdict
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from curate.build import aggregate
from curate.build.aggregate import LOG_EDGES, SHARE_EDGES, Hist
from curate.build.artifacts import Artifacts

STEP_ORDER = ["read", "versions", "clean", "scrub", "quality", "dedup", "near_dedup", "decontam"]
LOG_SIGNALS = ("chars", "words", "lines")
EDGES = {"mean_word_len": np.linspace(0.0, 20.0, 41)}
NOT_SIGNALS = ("id", "lang")
SAMPLES = 3  # documents shown on each side of a threshold


def _steps(art: Artifacts, source: str) -> list[str]:
    """The source's steps in build order, from its passes; steps that only compute side outputs (signals,
    hashes, signatures) and drop nothing are left out of the funnel."""
    dropped = art.manifest["sources"][source]["dropped"]
    passes = (art.flow.get(source) or {}).get("passes", [])
    steps = [p["pass"] for p in passes[:1]] + [s["step"] for p in passes for s in p.get("steps", [])]
    steps = [s for s in steps if s in STEP_ORDER or s in dropped]
    return steps or [s for s in STEP_ORDER if s in dropped]


def tokens_vs_blend(manifest: dict[str, Any], budget: float | None) -> dict[str, Any]:
    """Per source: token share, normalised blend weight and epochs at ``budget`` tokens (default: the
    corpus size, i.e. one pass over the blend)."""
    sources = {k: s for k, s in manifest["sources"].items() if s.get("tokens")}
    total = sum(s["tokens"] for s in sources.values())
    weights = sum(s.get("weight", 0) for s in sources.values())
    budget = float(budget or total)
    rows = {}
    for name, s in sources.items():
        weight = s.get("weight", 0) / weights if weights else 0.0
        rows[name] = {"tokens": s["tokens"], "share": s["tokens"] / total if total else 0.0, "weight": weight,
                      "epochs": weight * budget / s["tokens"] if s["tokens"] else 0.0}
    return {"budget": budget, "budget_is_corpus": budget == total, "total": total, "sources": rows}


def lengths_and_languages(art: Artifacts) -> tuple[dict[str, dict[str, Hist]], dict[str, Counter]]:
    """Per source: histograms of output lengths (characters, tokens), and documents per language."""
    lengths: dict[str, dict[str, Hist]] = {}
    langs: dict[str, Counter] = {}
    for source in art.manifest["sources"]:
        chars, counts, tokens = Hist(LOG_EDGES), Counter(), Hist(LOG_EDGES)
        path = art.token_counts(source)
        counted = path is not None and "chars" in pq.read_schema(path).names  # the documents' lengths, per document
        for batch in aggregate.batches([path] if path else [], ["tokens", "chars"] if counted else ["tokens"]):
            tokens.add(batch.column("tokens").to_numpy())
            if counted:
                chars.add(batch.column("chars").to_numpy())
        for lengths_, langs_ in aggregate.per_file(functools.partial(_lengths_and_languages, text=not counted),
                                                   art.records(source)):
            for part in lengths_:
                chars.add(part)
            counts.update(langs_)
        lengths[source] = {"chars": chars, "tokens": tokens}
        langs[source] = Counter({str(k or "unknown"): int(v) for k, v in counts.items()})
    return lengths, langs


def _lengths_and_languages(path: Any, text: bool = True) -> tuple[list[np.ndarray], Counter]:
    """The characters of each document of one shard (per batch; none without ``text``: the token dataset
    has them) and its documents per language."""
    lengths, counts = [], Counter()
    for batch in aggregate.batches([path], ["text", "lang"] if text else ["lang"]):
        if text:
            lengths.append(pc.utf8_length(batch.column("text")).to_numpy(zero_copy_only=False))
        values = pc.value_counts(batch.column("lang"))
        counts.update(dict(zip(values.field("values").to_pylist(), values.field("counts").to_pylist(), strict=True)))
    return lengths, counts


def _rules(config: dict[str, Any]) -> list[tuple[str, str, str, float]]:
    """``(rule, signal, kind, limit)`` of a source's quality thresholds that are on."""
    rules = []
    for key, limit in sorted((config or {}).items()):
        if key.startswith(("min_", "max_")) and limit is not None:
            rules.append((key, key[4:], key[:3], float(limit)))
    return rules


class _Nearest:
    """The ``k`` documents nearest to a threshold on one side, kept across batches."""

    def __init__(self, k: int) -> None:
        self.k, self.rows = k, []

    def add(self, dist: np.ndarray, ids: pa.Array, values: np.ndarray) -> None:
        """Offer a batch's candidates (distances to the threshold, ids, values)."""
        if not dist.size:
            return
        take = np.argsort(dist, kind="stable")[: self.k]
        rows = [(float(dist[i]), ids[int(i)].as_py(), float(values[i])) for i in take]
        self.rows = sorted(self.rows + rows)[: self.k]


def _edges(signal: str) -> np.ndarray:
    return LOG_EDGES if signal in LOG_SIGNALS else EDGES.get(signal, SHARE_EDGES)


def quality(art: Artifacts) -> dict[str, Any]:
    """Per source: a histogram of every signal, and per threshold its breakers and nearest documents."""
    configs = {s["name"]: s.get("quality") or {} for s in art.manifest.get("config", {}).get("sources", [])}
    out: dict[str, Any] = {}
    for source in art.manifest["sources"]:
        rules = _rules(configs.get(source, {}))
        langs = (configs.get(source) or {}).get("langs")
        hists: dict[str, Hist] = {}
        broken: Counter = Counter()
        near = {(r[0], side): _Nearest(SAMPLES) for r in rules for side in ("kept", "removed")}
        n = 0
        for batches in aggregate.per_file(lambda path: list(aggregate.batches([path], None)), art.signals(source)):
            for batch in batches:  # the batches of a serial read: the nearest documents' ties fall the same way
                n += batch.num_rows
                ids = batch.column("id")
                for name in batch.schema.names:
                    if name in NOT_SIGNALS:
                        continue
                    values = batch.column(name).to_numpy(zero_copy_only=False).astype(np.float64)
                    hists.setdefault(name, Hist(_edges(name))).add(values)
                for rule, signal, kind, limit in rules:
                    if signal not in batch.schema.names:
                        continue
                    v = batch.column(signal).to_numpy(zero_copy_only=False).astype(np.float64)
                    bad = v < limit if kind == "min" else v > limit
                    broken[rule] += int(bad.sum())
                    dist = np.abs(v - limit)
                    for side, mask in (("kept", ~bad), ("removed", bad)):
                        idx = np.flatnonzero(mask)
                        near[(rule, side)].add(dist[idx], ids.take(pa.array(idx)), v[idx])
                if langs is not None and "lang" in batch.schema.names:
                    broken["langs"] += int((~np.isin(np.array(batch.column("lang").to_pylist()), langs)).sum())
        out[source] = {"documents": n, "hists": hists, "rules": rules, "langs": langs, "broken": dict(broken),
                       "near": {k: v.rows for k, v in near.items()}}
    _sample_texts(art, out)
    return out


def _sample_texts(art: Artifacts, quality_: dict[str, Any]) -> None:
    """The texts of the documents nearest to each threshold (from the records the quality step read)."""
    for source, q in quality_.items():
        ids = {rid for rows in q["near"].values() for _, rid, _ in rows}
        q["texts"] = aggregate.texts(art.records_before(source, "quality"), ids, limit=600)


def near_dedup(art: Artifacts) -> dict[str, Any] | None:
    """The near-dedup statistics of ``report.json`` plus the texts of its sample clusters."""
    near = art.report_json().get("near_dedup")
    if not near:
        return None
    ids = {m["id"] for c in near.get("sample_clusters", []) for m in c["members"]}
    ids |= {c["kept"] for c in near.get("sample_clusters", [])}
    by_source: dict[str, set[str]] = defaultdict(set)
    for rid in ids:
        by_source[rid.split("/", 1)[0]].add(rid)
    found: dict[str, str] = {}
    for source, wanted in by_source.items():
        if source in art.manifest["sources"]:
            found.update(aggregate.texts(art.records_before(source, "near_dedup"), wanted, limit=1500))
    return {**near, "texts": found}


def text_accounting(manifest: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Per source that reports it: characters in, out, and removed per reason (reader statistics)."""
    out = {}
    for name, s in manifest["sources"].items():
        stats = s.get("stats") or {}
        if "text_in" not in stats:
            continue
        removed = {k.removeprefix("text_removed_"): v for k, v in sorted(stats.items())
                   if k.startswith("text_removed_")}
        out[name] = {"in": stats["text_in"], "out": stats.get("text_out", 0), "removed": removed,
                     "unaccounted": stats["text_in"] - stats.get("text_out", 0) - sum(removed.values())}
    return out


def collect(art: Artifacts, budget: float | None = None) -> dict[str, Any]:
    """Every aggregate the report of a pre-training build draws."""
    m = art.manifest
    lengths, langs = lengths_and_languages(art)
    return {
        "funnels": {name: aggregate.funnel(s["records_in"], s["dropped"], _steps(art, name))
                    for name, s in m["sources"].items()},
        "tokens": tokens_vs_blend(m, budget),
        "lengths": lengths,
        "langs": langs,
        "quality": quality(art),
        "near": near_dedup(art),
        "ledger": aggregate.ledger_tallies(art.ledger),
        "text_accounting": text_accounting(m),
    }
