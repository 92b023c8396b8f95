"""What a build made of structured sources (knowledge graphs, exams, QA) reads like: a text-quality check.

    python bench/structured_check.py BUILD_DIR [BUILD_DIR ...] [--json]
    python bench/structured_check.py --build kg:FILE --build exams:DIR --build qa:FILE [--out DIR] [--json]

``--build READER:PATH`` first builds PATH with ``curate build READER --recipe recipes/READER.toml`` (the
source's own recipe: options and quality thresholds) into ``--out`` (a temporary folder by default), then
checks the result. For every source of every build, on the documents that were kept (the last step's
shards), it reports:

- ``field_names``: the share of Chinese documents with an ASCII field name inside Chinese text
  (``小儿砷中毒的part是全身``, ``…的insurance是…``, a ``snake_case`` identifier next to CJK characters, or
  a known column name of the Chinese medical KG dumps glued to CJK text);
- ``debris``: counts of scraper debris: ``[详细]``-style tags, ``>>`` arrows, truncation marks (``...``,
  ``…``), dashes starting a value or doubled inside a number range, bracket debris (a closing bracket
  starting an item, an opening one ending it, empty brackets), empty list items (``、、``);
- ``fallback``: for exam knowledge points, the share rendered by a ``fallback`` template;
- ``garble``: the share of statements (a knowledge point without its explanation, or a KG sentence)
  matching known garble patterns: a doubled 下列/关于/以下, an empty slot before a comma (``主要有，而``),
  a doubled word (``神经神经``, ``the the``);
- ``length``: the distribution of document lengths in characters (n, min, p10, median, p90, max);
- for knowledge graphs, ``subjects``: the share of the graph's subject entities that head a triple of a
  kept document (``meta.subjects``, or the seed entity for builds that do not record them), out of
  the reader's ``subjects`` statistic (else the subjects of the documents read).

Goals: 0 field names, 0 debris and 0 garble in what the readers write (KG documents and knowledge
points; QA text is people's own writing, so its "……" and "，，" are reported but not goals), fallback
<= 2%, and for every KG >= 99% subjects and a median document of at least 200 characters. Exit status
1 when ``--strict`` and a goal is missed.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
from collections import Counter
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq

ROOT = Path(__file__).resolve().parents[1]
CJK = "\u3400-\u4dbf\u4e00-\u9fff"
# Column names of the widely used Chinese medical KG dumps (English keys), as they leak into text.
KNOWN_FIELDS = ("name alias part age infection insurance department checklist symptom complication treatment "
                "drug period rate money desc cause prevent diseases acompany category easy_get get_way get_prob "
                "yibao_status cure_department cure_way cure_lasttime cured_prob common_drug recommand_drug "
                "drug_detail cost_money check do_eat not_eat recommand_eat").split()
FIELD_PATTERNS = (
    re.compile(rf"[{CJK}]的([a-z][a-z_]{{2,}})(?:是|为|包括|有|：|:)"),
    re.compile(rf"(?<=[{CJK}])[a-z]+_[a-z_]+|[a-z]+_[a-z_]+(?=[{CJK}])"),
    re.compile(rf"(?<=[{CJK}])(?:{'|'.join(KNOWN_FIELDS)})(?![A-Za-z_])|(?<![A-Za-z_])(?:{'|'.join(KNOWN_FIELDS)})(?=[{CJK}])"),
)
DEBRIS = {
    "scraper_tag": re.compile(r"\[(?:详细|详情|更多|查看|展开)[^\]]{0,4}\]|(?:查看)?详[细情]\s*>>|更多\s*>>"),
    "arrow": re.compile(r">>|»"),
    "truncation": re.compile(r"\.{3,}|…|。{3,}"),
    "dash": re.compile(r"(?:^|[、，,；;：:（(\s])[—–－]+(?=\s*\S)|\d\s*—{2,}\s*\d"),
    "bracket": re.compile(rf"(?:^|[、，,；;\s])[\]】）)](?![{CJK}A-Za-z0-9])|(?:^|[、，,；;\s])[\]】](?=\s*[{CJK}])"
                          rf"|[\[【（(](?=[、，,。；;]|$)|[（(]\s*[）)]|\[\s*\]|【\s*】"),
    "empty_item": re.compile(r"、[、，,。；]|，，|,,|[：:]、"),
}
GARBLE = {
    "doubled_lead": re.compile(r"(下列|关于|以下|下述)[^。；]{0,12}?\1|关于有关|有关关于|下述，|以下，下列|下列，以下"),
    "empty_slot": re.compile(r"(?:主要有|包括|属于|(?<![因认作称成以行])为|(?<![没所只还具均都也既又共拥占另])有"
                             r"|(?<![但就这那凡总若要即可于还也正只])是)[，,]|\b(?:is|are|include|includes)\s*,"),
    "doubled_word": re.compile(rf"([{CJK}]{{2,4}})\1|\b([A-Za-z]{{3,}})\s+\2\b", re.I),
}
EXPLANATION = re.compile(r"\n\n(?:解析：|Explanation: )")
ALLOWED_REPEATS = re.compile(rf"([{CJK}])\1")  # 常常, 慢慢: one-character reduplication is ordinary Chinese


def _final_docs(build: Path, flow: dict) -> list[dict]:
    paths = flow["passes"][-1]["shards"]
    return [row for p in paths for row in pq.read_table(build / p, columns=["id", "text", "lang", "meta"]).to_pylist()]


def _read_docs(build: Path, flow: dict) -> list[dict]:
    paths = flow["passes"][0]["shards"]
    return [row for p in paths for row in pq.read_table(build / p, columns=["id", "meta"]).to_pylist()]


def _pct(values: list[int], q: float) -> int:
    if not values:
        return 0
    s = sorted(values)
    return s[min(len(s) - 1, int(q * (len(s) - 1) + 0.5))]


def _statements(text: str, reader: str) -> list[str]:
    if reader == "exams":
        return [EXPLANATION.split(text, maxsplit=1)[0]]
    if reader == "kg":
        return [s for s in re.split(r"(?<=[。.!?！？])\s*", text) if s]
    return []


def _garbled(statement: str) -> list[str]:
    hits = []
    for name, pattern in GARBLE.items():
        for m in pattern.finditer(statement):
            if name == "doubled_word" and m.group(1) and ALLOWED_REPEATS.fullmatch(m.group(1)[:2]) \
                    and len(set(m.group(1))) == 1:
                continue
            hits.append(name)
            break
    return hits


def check_source(build: Path, name: str, flow: dict, manifest: dict) -> dict[str, Any]:
    """The figures of one source of one build."""
    info = manifest["sources"].get(name, {})
    reader = info.get("reader", "")
    docs = _final_docs(build, flow)
    lengths = [len(d["text"]) for d in docs]
    zh = [d for d in docs if d["lang"] == "zh"]
    field_docs, field_examples = 0, Counter()
    debris, debris_examples = Counter(), {}
    garbled, statements, garble_kinds, garble_examples = 0, 0, Counter(), []
    for d in docs:
        text = d["text"]
        if d["lang"] == "zh":
            found = [m.group(0) for p in FIELD_PATTERNS for m in p.finditer(text)]
            if found:
                field_docs += 1
                field_examples.update(found)
        for kind, pattern in DEBRIS.items():
            hits = pattern.findall(text)
            if hits:
                debris[kind] += len(hits)
                if kind not in debris_examples:
                    m = pattern.search(text)
                    debris_examples[kind] = text[max(0, m.start() - 20):m.end() + 20]
        for s in _statements(text, reader):
            statements += 1
            kinds = _garbled(s)
            if kinds:
                garbled += 1
                garble_kinds.update(kinds)
                if len(garble_examples) < 5:
                    garble_examples.append(s[:120])
    out: dict[str, Any] = {
        "reader": reader, "documents": len(docs),
        "length": {"min": min(lengths, default=0), "p10": _pct(lengths, 0.1),
                   "median": int(statistics.median(lengths)) if lengths else 0, "p90": _pct(lengths, 0.9),
                   "max": max(lengths, default=0), "total": sum(lengths)},
        "field_names": {"documents": field_docs, "share": round(field_docs / len(zh), 4) if zh else 0.0,
                        "examples": [w for w, _ in field_examples.most_common(8)]},
        "debris": {"total": sum(debris.values()), **dict(sorted(debris.items())), "examples": debris_examples},
        "garble": {"statements": statements, "garbled": garbled,
                   "share": round(garbled / statements, 4) if statements else 0.0,
                   "kinds": dict(garble_kinds), "examples": garble_examples},
    }
    if reader == "exams":
        metas = [json.loads(d["meta"] or "{}") for d in docs]
        fallback = sum(1 for m in metas if str(m.get("template", "")).endswith("/fallback"))
        out["fallback"] = {"documents": fallback, "share": round(fallback / len(docs), 4) if docs else 0.0}
    if reader == "kg":
        out["subjects"] = _subjects(build, flow, docs, info.get("stats", {}))
    return out


def _subject_keys(meta: dict) -> list[str]:
    return list(meta.get("subjects") or ([meta["seed"]] if meta.get("seed") else []))


def _subjects(build: Path, flow: dict, docs: list[dict], stats: dict) -> dict[str, Any]:
    kept = {k for d in docs for k in _subject_keys(json.loads(d["meta"] or "{}"))}
    read = {k for d in _read_docs(build, flow) for k in _subject_keys(json.loads(d["meta"] or "{}"))}
    total = int(stats.get("subjects") or len(read))
    return {"total": total, "kept": len(kept), "share": round(len(kept) / total, 4) if total else 0.0}


def check_build(build: Path) -> dict[str, dict[str, Any]]:
    """Figures per source of one build directory."""
    flow = json.loads((build / "flow.json").read_text())
    manifest = json.loads((build / "manifest.json").read_text())
    return {name: check_source(build, name, f, manifest) for name, f in flow.items()}


def goals(figures: dict[str, Any]) -> list[str]:
    """The goals a source misses."""
    missed = []
    if figures["field_names"]["documents"]:
        missed.append("field names")
    if figures["debris"]["total"] and figures["reader"] in ("kg", "exams"):
        missed.append("debris")
    if figures.get("fallback", {}).get("share", 0) > 0.02:
        missed.append("fallback > 2%")
    if figures["garble"]["garbled"] and figures["reader"] == "exams":
        missed.append("garble")
    if figures["reader"] == "kg":
        if figures["subjects"]["share"] < 0.99:
            missed.append("subjects < 99%")
        if figures["length"]["median"] < 200:
            missed.append("median < 200 chars")
    return missed


def build(spec: str, out: Path) -> Path:
    """``curate build READER --input PATH --recipe recipes/READER.toml`` into ``out``; the build directory."""
    reader, _, path = spec.partition(":")
    name = f"{reader}_{Path(path).stem}"
    cmd = [sys.executable, "-m", "curate.cli", "build", reader, "--input", os.path.abspath(path),
           "--recipe", str(ROOT / "recipes" / f"{reader}.toml"), "--name", name, "--out", str(out),
           "--workers", "1", "--no-progress"]
    done = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT)
    if done.returncode != 0:
        raise SystemExit(f"build {spec} failed:\n{done.stdout}\n{done.stderr}")
    print(done.stdout, file=sys.stderr)
    return out / name


def _line(build: str, name: str, f: dict[str, Any]) -> str:
    length = f["length"]
    parts = [f"{build}:{name} ({f['reader']}) docs {f['documents']:,}",
             f"length min/p10/median/p90/max {length['min']}/{length['p10']}/{length['median']}/{length['p90']}/"
             f"{length['max']}",
             f"field-name docs {f['field_names']['documents']} ({f['field_names']['share']:.2%})",
             f"debris {f['debris']['total']}",
             f"garble {f['garble']['garbled']}/{f['garble']['statements']} ({f['garble']['share']:.2%})"]
    if "fallback" in f:
        parts.append(f"fallback {f['fallback']['documents']} ({f['fallback']['share']:.2%})")
    if "subjects" in f:
        s = f["subjects"]
        parts.append(f"subjects {s['kept']:,}/{s['total']:,} ({s['share']:.2%})")
    missed = goals(f)
    parts.append("goals met" if not missed else "MISSED: " + ", ".join(missed))
    return "\n    ".join(parts)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("builds", nargs="*", type=Path, help="build directories (with flow.json)")
    parser.add_argument("--build", dest="specs", action="append", default=[], metavar="READER:PATH",
                        help="build PATH with the READER's recipe first (repeatable)")
    parser.add_argument("--out", type=Path, default=None, help="where --build writes [a temporary folder]")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    parser.add_argument("--strict", action="store_true", help="exit 1 when a goal is missed")
    args = parser.parse_args()
    if not args.builds and not args.specs:
        parser.error("give build directories or --build READER:PATH")
    with tempfile.TemporaryDirectory() as tmp:
        out = args.out or Path(tmp)
        dirs = [*args.builds, *(build(s, out) for s in args.specs)]
        report = {str(d): check_build(d) for d in dirs}
    if args.json:
        print(json.dumps(report, ensure_ascii=False, indent=1))
    else:
        for d, sources in report.items():
            for name, f in sources.items():
                print(_line(Path(d).name, name, f))
                for kind in ("field_names", "garble"):
                    if f[kind].get("examples"):
                        print(f"      {kind} e.g. {f[kind]['examples'][:4]}")
                if f["debris"]["examples"]:
                    print(f"      debris e.g. {f['debris']['examples']}")
    if args.strict and any(goals(f) for sources in report.values() for f in sources.values()):
        sys.exit(1)


if __name__ == "__main__":
    main()
