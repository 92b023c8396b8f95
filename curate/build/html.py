"""``report.html``: one self-contained page (inline CSS and SVG, no script, no request) per build.

This module turns the aggregates of ``corpus_stats`` / ``instruct_stats`` into charts (``charts``) and
the numbers the page shows; ``templates/report/report.html.j2`` holds the page and all its wording. A
Content-Security-Policy that forbids every fetch makes "works offline" a property of the file.
"""

from __future__ import annotations

import difflib
import functools
import os
import re
from html import escape
from pathlib import Path
from typing import Any

import jinja2
from markupsafe import Markup

from curate.build import charts
from curate.build.aggregate import Hist
from curate.build.charts import Axes, Bar, Marker, Segment, Series
from curate.text.templates import templates_dir

TOP_LANGS = 8


def _env() -> jinja2.Environment:
    from curate.core.storage import cache_dir

    return _env_in(str(cache_dir()))


@functools.cache
def _env_in(cache: str) -> jinja2.Environment:
    """The report's template environment, its compiled templates kept under ``cache`` (the user cache)."""
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(str(templates_dir() / "report")), autoescape=True,
                             undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True,
                             bytecode_cache=_bytecode_cache(Path(cache) / "jinja"))
    env.filters["num"] = charts.fmt
    env.filters["pct"] = lambda x: f"{x:.1%}"
    return env


def _bytecode_cache(path: Path) -> jinja2.BytecodeCache | None:
    """The compiled report templates, kept in the user's cache (``$CURATE_CACHE_DIR/jinja``): compiling the
    page's template costs a build about 0.1-0.2 s at its very end, each time. Jinja keys each entry by the
    template's source and its own version; without a writable cache the templates compile as before."""
    try:
        path.mkdir(parents=True, exist_ok=True)
        if not os.access(path, os.W_OK | os.X_OK):
            return None
        return jinja2.FileSystemBytecodeCache(str(path))
    except OSError:
        return None


def _svg(s: str) -> Markup:
    return Markup(s)  # charts escape every text they draw


def funnel_chart(source: str, records_in: int, rows: list[dict[str, Any]]) -> Markup:
    """Records left after each step, with that step's drops per reason stacked after them."""
    bars = [Bar("in", [Segment(records_in, charts.KEPT, f"{source}: {records_in:,} records read")])]
    for row in rows:
        segs = [Segment(row["left"], charts.KEPT, f"{source}: {row['left']:,} left after {row['step']}")]
        segs += [Segment(n, charts.colour(i + 1), f"{row['step']}: {reason} {n:,}")
                 for i, (reason, n) in enumerate(row["dropped"].items())]
        note = ", ".join(f"{r} {n:,}" for r, n in row["dropped"].items())
        bars.append(Bar(row["step"], segs, note[:28] + ("…" if len(note) > 28 else "")))
    return _svg(charts.hbars(bars, title=f"records funnel of {source}", width=540, label_width=80, note_width=190))


def _hist_series(hists: dict[str, Hist]) -> list[Series]:
    return [Series(name, h.steps(), charts.colour(i), step=True) for i, (name, h) in enumerate(hists.items())
            if h.total]


def _range(series: list[Series], markers: list[float] = ()) -> tuple[float, float, float]:
    xs = [x for s in series for x, _ in s.points] + list(markers)
    ys = [y for s in series for _, y in s.points]
    return min(xs), max(xs), max([*ys, 1e-9]) * 1.08


def hist_chart(hists: dict[str, Hist], *, xlabel: str, log: bool, markers: list[Marker] = (),
               title: str, ylabel: str = "share of documents") -> Markup | None:
    """Histograms of several sources as step lines (share of each source's documents per bin)."""
    series = _hist_series(hists)
    if not series:
        return None
    lo, hi, top = _range(series, [m.x for m in markers])
    if log:
        lo, hi = max(lo, 1.0), max(hi, lo * 10)
    elif hi <= lo:
        hi = lo + 1
    axes = Axes((lo, hi), (0.0, top), xlabel, ylabel, xlog=log)
    return _svg(charts.lines(series, axes, title=title, markers=list(markers)))


def _diff_html(a: str, b: str) -> tuple[Markup, Markup]:
    """Two texts with the words (characters, for CJK) that differ marked."""
    ta = re.findall(r"[A-Za-z0-9]+|\s+|.", a, re.S)
    tb = re.findall(r"[A-Za-z0-9]+|\s+|.", b, re.S)
    out_a, out_b = [], []
    for op, i1, i2, j1, j2 in difflib.SequenceMatcher(None, ta, tb, autojunk=False).get_opcodes():
        sa, sb = escape("".join(ta[i1:i2])), escape("".join(tb[j1:j2]))
        out_a.append(sa if op == "equal" else f"<mark>{sa}</mark>" if sa else "")
        out_b.append(sb if op == "equal" else f"<mark>{sb}</mark>" if sb else "")
    return Markup("".join(out_a)), Markup("".join(out_b))  # escaped above


def near_section(near: dict[str, Any] | None) -> dict[str, Any] | None:
    """S-curve, cluster sizes and sample clusters side by side."""
    if not near:
        return None
    b, r = near["bands"], near["rows"]
    curve = [(s / 100, 1 - (1 - (s / 100) ** r) ** b) for s in range(0, 101)]
    dots = [(float(s), p) for s, p in near["s_curve"].items()]
    axes = Axes((0.0, 1.0), (0.0, 1.0), "Jaccard similarity of two documents", "chance of being caught")
    s_svg = charts.lines([Series(f"{b} bands x {r} rows", curve, charts.KEPT),
                          Series("tabulated", dots, charts.colour(1), dots=True)], axes,
                         title="near-dedup S-curve", width=540, height=220,
                         markers=[Marker(near["threshold"], f"threshold {near['threshold']}")])
    sizes = near.get("cluster_sizes", [])
    size_svg = charts.columns([str(row["size"]) for row in sizes], [row["clusters"] for row in sizes],
                              title="clusters by size", ylabel="clusters") if any(
        row["clusters"] for row in sizes) else None
    clusters = []
    for c in near.get("sample_clusters", []):
        kept = near["texts"].get(c["kept"], "")
        members = []
        for m in c["members"]:
            a, b_ = _diff_html(kept, near["texts"].get(m["id"], ""))
            members.append({"id": m["id"], "jaccard": m["jaccard"], "kept_html": a, "html": b_,
                            "found": m["id"] in near["texts"]})
        clusters.append({"kept": c["kept"], "size": c["size"], "members": members})
    return {**{k: v for k, v in near.items() if k not in ("texts", "sample_clusters")},
            "s_svg": _svg(s_svg), "size_svg": _svg(size_svg) if size_svg else None, "samples": clusters}


def contamination_section(ledger: Any) -> dict[str, Any] | None:
    """Hits per benchmark (stacked by source) and the matched n-grams."""
    if not ledger.hits_by_source:
        return None
    sources = sorted({s for c in ledger.hits_by_source.values() for s in c})
    colours = {s: charts.colour(i) for i, s in enumerate(sources)}
    bars = [Bar(bench, [Segment(n, colours[s], f"{bench}: {n:,} from {s}") for s, n in sorted(by.items())],
                f"{sum(by.values()):,}") for bench, by in sorted(ledger.hits_by_source.items())]
    svg = charts.hbars(bars, title="contamination hits", legend_items=[(s, colours[s]) for s in sources])
    rows = [{"benchmark": bench, "hits": sum(by.values()), "pmids": ledger.pmids.get(bench, 0),
             "ngrams": ledger.top_ngrams(bench)} for bench, by in sorted(ledger.hits_by_source.items())]
    return {"svg": _svg(svg), "rows": rows}


def phi_section(ledger: Any) -> dict[str, Any] | None:
    """PHI replacements per type, stacked by source."""
    if not ledger.phi:
        return None
    sources = sorted({s for c in ledger.phi.values() for s in c})
    colours = {s: charts.colour(i) for i, s in enumerate(sources)}
    ordered = sorted(ledger.phi.items(), key=lambda kv: (-sum(kv[1].values()), kv[0]))
    bars = [Bar(kind, [Segment(n, colours[s], f"{kind}: {n:,} in {s}") for s, n in sorted(by.items())],
                f"{sum(by.values()):,}") for kind, by in ordered]
    svg = charts.hbars(bars, title="PHI replacements", legend_items=[(s, colours[s]) for s in sources])
    return {"svg": _svg(svg), "rows": [{"type": k, "n": sum(v.values())} for k, v in ordered],
            "records": dict(ledger.phi_records)}


def share_bars(rows: dict[str, dict[str, float]], keys: list[tuple[str, str]], *, title: str) -> Markup:
    """One bar per (source, key) on a 0-1 scale: grouped bars of shares."""
    bars = []
    for name, row in rows.items():
        for i, (key, label) in enumerate(keys):
            shown = name if i == 0 else ""  # the source names its group of bars; colours name the keys
            bars.append(Bar(shown, [Segment(row[key], charts.colour(i), f"{name} {label}: {row[key]:.1%}")],
                            f"{row[key]:.1%}"))
    legend = [(label, charts.colour(i)) for i, (_, label) in enumerate(keys)] if len(keys) > 1 else []
    return _svg(charts.hbars(bars, title=title, scale_max=1.0, legend_items=legend))


def render(context: dict[str, Any]) -> str:
    """The page for a context built by ``report_page``."""
    return _env().get_template("report.html.j2").render(**context)
