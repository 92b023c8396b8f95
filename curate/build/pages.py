"""The contexts of the two report pages: a pre-training corpus and an instruction build.

Each function takes the build's artifacts and aggregates and returns what ``report.html.j2`` fills
in: charts as SVG and the numbers of the tables beside them.
"""

from __future__ import annotations

from typing import Any

from curate.build import charts, html
from curate.build.artifacts import Artifacts
from curate.build.charts import Bar, Marker, Segment

SIGNAL_UNITS = {"chars": "characters", "words": "words", "lines": "lines"}


def _header(art: Artifacts) -> dict[str, Any]:
    m = art.manifest
    return {"name": m["name"], "kind": "instruct" if art.instruct else "corpus", "seed": m.get("seed"),
            "curate_version": m.get("curate_version"), "code_version": m.get("code_version"),
            "tokenizer": (m.get("tokenizer") or {}).get("name"), "quarantined": m.get("quarantined", 0)}


def _funnels(m: dict[str, Any], funnels: dict[str, list]) -> list[dict[str, Any]]:
    return [{"source": name, "svg": html.funnel_chart(name, m["sources"][name]["records_in"], rows), "rows": rows,
             "records_in": m["sources"][name]["records_in"]} for name, rows in funnels.items()]


def _tokens(tokens: dict[str, Any]) -> dict[str, Any] | None:
    if not tokens["sources"]:
        return None
    rows = tokens["sources"]
    shares = html.share_bars(rows, [("share", "token share"), ("weight", "blend weight")],
                             title="token share against blend weight")
    bars = [Bar(name, [Segment(r["epochs"], charts.colour(2) if r["epochs"] <= 1 else charts.colour(3),
                               f"{name}: {r['epochs']:.2f} epochs")], f"{r['epochs']:.2f}") for name, r in rows.items()]
    epochs = html._svg(charts.hbars(bars, title="epochs per source", unit=" epochs"))
    return {**tokens, "share_svg": shares, "epochs_svg": epochs}


def _languages(langs: dict[str, Any]) -> dict[str, Any] | None:
    totals: dict[str, int] = {}
    for counts in langs.values():
        for lang, n in counts.items():
            totals[lang] = totals.get(lang, 0) + n
    if not totals:
        return None
    top = [lang for lang, _ in sorted(totals.items(), key=lambda kv: (-kv[1], kv[0]))[:html.TOP_LANGS]]
    colours = {lang: charts.colour(i) for i, lang in enumerate([*top, "other"])}
    bars, rows = [], []
    for source, counts in langs.items():
        n = sum(counts.values())
        if not n:
            continue
        parts = {lang: counts.get(lang, 0) for lang in top}
        parts["other"] = n - sum(parts.values())
        bars.append(Bar(source, [Segment(v / n, colours[k], f"{source}: {k} {v:,} ({v / n:.1%})")
                                 for k, v in parts.items() if v], ", ".join(f"{k} {v / n:.0%}" for k, v in
                                                                           parts.items() if v / n >= 0.05)))
        rows.append({"source": source, "documents": n, "langs": dict(counts.most_common())})
    used = {k for counts in langs.values() for k in counts} | ({"other"} if len(totals) > len(top) else set())
    svg = charts.hbars(bars, title="language mix", scale_max=1.0,
                       legend_items=[(k, c) for k, c in colours.items() if k in used])
    return {"svg": html._svg(svg), "rows": rows}


def _lengths(lengths: dict[str, dict[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {"rows": []}
    for unit in ("chars", "tokens"):
        out[unit] = html.hist_chart({s: h[unit] for s, h in lengths.items()}, log=True,
                                    xlabel=f"document length in {'characters' if unit == 'chars' else 'tokens'} "
                                           "(log scale)", title=f"document length in {unit}")
    for source, h in lengths.items():
        out["rows"].append({"source": source, "documents": h["chars"].total,
                            **{f"{u}_{q}": h[u].quantile(p) for u in ("chars", "tokens")
                               for q, p in (("p50", 0.5), ("p90", 0.9))}})
    return out


def _threshold_rows(q: dict[str, Any], m: dict[str, Any], source: str, signal: str) -> list[dict[str, Any]]:
    rows = []
    for rule, sig, kind, limit in q["rules"]:
        if sig != signal:
            continue
        texts = q["texts"]
        samples = {side: [{"id": rid, "value": value, "text": texts.get(rid)} for _, rid, value in
                          q["near"][(rule, side)]] for side in ("kept", "removed")}
        rows.append({"source": source, "rule": rule, "kind": kind, "limit": limit, "broken": q["broken"].get(rule, 0),
                     "documents": q["documents"], "dropped": m["sources"][source]["dropped"].get("quality", {}).get(
                         rule, 0), "samples": samples})
    return rows


def _markers(rows: list[dict[str, Any]], hists: dict[str, Any], log: bool) -> list[Marker]:
    """One marker per distinct limit, naming its sources; on a log axis, limits far outside the data (a
    ``max_chars`` of millions) are left to the table so they do not squeeze the distribution."""
    xs = [x for h in hists.values() for x, _ in h.steps()]
    lo, hi = (min(xs), max(xs)) if xs else (0.0, 1.0)
    by_limit: dict[tuple[str, float], list[str]] = {}
    for r in rows:
        if log and not lo / 10 <= r["limit"] <= hi * 10:
            continue
        by_limit.setdefault((r["kind"], r["limit"]), []).append(r["source"])
    return [Marker(limit, f"{kind} {charts.fmt(limit)}: {', '.join(sources)}", charts.colour(3))
            for (kind, limit), sources in sorted(by_limit.items(), key=lambda kv: kv[0][1])]


def _quality(quality: dict[str, Any], m: dict[str, Any]) -> dict[str, Any]:
    signals = sorted({s for q in quality.values() for s in q["hists"]})
    with_rules, others = [], []
    for signal in signals:
        hists = {src: q["hists"][signal] for src, q in quality.items() if signal in q["hists"]}
        rows = [r for src, q in quality.items() for r in _threshold_rows(q, m, src, signal)]
        log = signal in SIGNAL_UNITS
        svg = html.hist_chart(hists, xlabel=signal + (" (log scale)" if log else ""), log=log,
                              markers=_markers(rows, hists, log), title=f"quality signal {signal}")
        if svg is None:
            continue
        (with_rules if rows else others).append({"signal": signal, "svg": svg, "rows": rows})
    langs = [{"source": src, "langs": q["langs"], "broken": q["broken"].get("langs", 0), "documents": q["documents"]}
             for src, q in quality.items() if q["langs"] is not None]
    return {"with_rules": with_rules, "others": others, "langs": langs}


def _text_accounting(accounting: dict[str, Any]) -> dict[str, Any] | None:
    if not accounting:
        return None
    reasons = sorted({r for a in accounting.values() for r in a["removed"]})
    colours = {"kept": charts.KEPT, **{r: charts.colour(i + 1) for i, r in enumerate(reasons)}}
    bars = []
    for source, a in accounting.items():
        segs = [Segment(a["out"], charts.KEPT, f"{source}: {a['out']:,} characters kept")]
        segs += [Segment(n, colours[r], f"{source}: {n:,} characters removed as {r}") for r, n in a["removed"].items()]
        bars.append(Bar(source, segs, f"{a['out'] / a['in']:.0%} kept" if a["in"] else ""))
    svg = charts.hbars(bars, title="text accounting", unit=" chars", legend_items=list(colours.items()))
    return {"svg": html._svg(svg), "rows": accounting}


def corpus_context(art: Artifacts, data: dict[str, Any]) -> dict[str, Any]:
    """The page of a pre-training build."""
    m = art.manifest
    sources = m["sources"]
    return {
        "build": _header(art),
        "sources": sources,
        "totals": {"records_in": sum(s["records_in"] for s in sources.values()),
                   "records_out": sum(s["records_out"] for s in sources.values()),
                   "tokens": sum(s.get("tokens") or 0 for s in sources.values())},
        "funnels": _funnels(m, data["funnels"]),
        "tokens": _tokens(data["tokens"]),
        "lengths": _lengths(data["lengths"]),
        "languages": _languages(data["langs"]),
        "quality": _quality(data["quality"], m),
        "near": html.near_section(data["near"]),
        "contamination": html.contamination_section(data["ledger"]),
        "phi": html.phi_section(data["ledger"]),
        "text_accounting": _text_accounting(data["text_accounting"]),
        "reader_stats": {k: s["stats"] for k, s in sources.items() if s.get("stats")},
        "modified": {k: dict(v) for k, v in sorted(data["ledger"].modified.items())},
    }


def _examples(m: dict[str, Any]) -> dict[str, Any]:
    tasks = sorted({s["task"] for s in m["sources"].values()})
    colours = {t: charts.colour(i) for i, t in enumerate(tasks)}
    bars = [Bar(name, [Segment(s["examples_out"], colours[s["task"]], f"{name} ({s['task']}): "
                               f"{s['examples_out']:,} examples")], f"{s['examples_out']:,} · {s['task']}")
            for name, s in m["sources"].items()]
    examples = charts.hbars(bars, title="examples per dataset", legend_items=list(colours.items()))
    loss = {name: {"loss": s["loss_tokens"] / s["tokens"] if s["tokens"] else 0.0} for name, s in m["sources"].items()}
    return {"examples_svg": html._svg(examples), "loss_svg": html.share_bars(loss, [("loss", "loss-token share")],
                                                                           title="loss-token share")}


def instruct_context(art: Artifacts, data: dict[str, Any]) -> dict[str, Any]:
    """The page of an instruction build."""
    m = art.manifest
    packing = {k: v for k, v in m.get("packing", {}).items() if isinstance(v, dict)}
    bars = [Bar(split, [Segment(p["efficiency"], charts.colour(2), f"{split}: {p['efficiency']:.1%} of "
                                f"{p['packs']:,} packs hold tokens")], f"{p['efficiency']:.1%} of {p['packs']:,} packs")
            for split, p in packing.items()]
    seq_len = data["seq_len"]
    lengths = html.hist_chart(data["lengths"], xlabel="example length in tokens", log=False,
                              markers=[Marker(seq_len, f"seq_len {seq_len}")], title="example lengths",
                              ylabel="share of examples")
    return {
        "build": _header(art),
        "sources": m["sources"],
        "tasks": m.get("tasks", {}),
        "totals": {"records_in": sum(s["records_in"] for s in m["sources"].values()),
                   "examples": sum(s["examples_out"] for s in m["sources"].values()),
                   "tokens": sum(s["tokens"] for s in m["sources"].values()),
                   "loss_tokens": sum(s["loss_tokens"] for s in m["sources"].values())},
        "funnels": _funnels(m, data["funnels"]),
        **_examples(m),
        "packing": packing, "seq_len": seq_len,
        "packing_svg": html._svg(charts.hbars(bars, title="packing efficiency", scale_max=1.0)) if bars else None,
        "lengths_svg": lengths, "truncated": data["truncated"], "overlong": data["overlong"],
        "guard": html.contamination_section(data["ledger"]),
        "modified": {k: dict(v) for k, v in sorted(data["ledger"].modified.items())},
    }
