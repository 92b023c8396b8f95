"""Leakage of evaluation items into a training corpus: recall on planted items, false positives on clean QA.

    python bench/leakage.py [--seed 0] [--no-fuzzy] [--json OUT] [--show-misses N]

Every evaluation-set loader's sample set is indexed as one decontamination index, with the default
``DecontamConfig`` (the settings of ``recipes/stage1.toml``'s ``[decontam]`` and stage 2's ``[guard]``):
``samples/eval`` and ``samples/instruct`` (PubMedQA test split, MedQA, MedMCQA, MMLU, CMMLU), and
``../shared/realdata`` CMMLU (every test subject) and PubMedQA (the official 500-item test split) when
present. Each item is planted into a clean host document of its language, as its question followed by
its options ("A. ..." lines; PubMedQA: question, abstract and yes/no/maybe, and also the question and
options alone), in five forms:

- ``verbatim``; ``upper`` (the planted text upper-cased); ``rewrap`` (line breaks every 4-8 words or
  6-11 characters, options run on one line as "(A) ... (B) ...");
- ``one_word``: one word of the question (Latin) or one character (CJK) replaced by another from the
  host text, at a seeded random position;
- ``reordered``: the options shuffled and lettered again.

Hosts are clean medical QA: ``../shared/realdata/chinese_qa`` (1,000 Chinese ShareGPT conversations) and
``promptcblue``, and the bundled QA samples (``samples/qa``, ``samples/instruct/qa``: English alpaca,
Huatuo, Wuma, ShareGPT; ``samples/instruct/promptcblue``).
Paragraphs of the two Chinese textbooks in ``../shared/realdata/books-zh`` (psychiatry, pharmacology;
from their LaTeX sources) are clean documents too. Recall is the share of planted documents flagged
for the planted item's benchmark. The false-positive
rate is the share of clean documents flagged: the hosts themselves, and the non-test splits of the same
sets rendered the same way (MedQA train and dev, MedMCQA train, MMLU dev, CMMLU dev, PubMedQA's
labelled items outside the test split, with their abstracts), which share the exams' phrasing and
topics but not their items.
"""

from __future__ import annotations

import argparse
import json
import random
import re
import sys
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from curate.benchmarks import decontam, evalsets  # noqa: E402
from curate.benchmarks.decontam import DecontamConfig  # noqa: E402
from curate.text import textio  # noqa: E402

SAMPLES, REAL = ROOT / "samples", ROOT.parent / "shared" / "realdata"
VARIANTS = ("verbatim", "upper", "rewrap", "one_word", "reordered")
CJK = re.compile(r"[\u3400-\u9fff]")


def benchmarks() -> dict[str, list[dict]]:
    """Test items per set name (the sample sets, and the real files when present)."""
    e = evalsets
    sets = {
        "eval/medqa": e.load_medqa(SAMPLES / "eval" / "medqa_sample.jsonl"),
        "eval/pubmedqa": e.load_pubmedqa(SAMPLES / "eval" / "pubmedqa_sample.json",
                                         ids=SAMPLES / "eval" / "pubmedqa_test_ids.json", split="test"),
        "pubmedqa": e.load_pubmedqa(SAMPLES / "instruct" / "pubmedqa" / "ori_pqal.json",
                                    ids=SAMPLES / "instruct" / "pubmedqa" / "test_ground_truth.json", split="test"),
        "medqa": e.load_medqa(SAMPLES / "instruct" / "medqa" / "test.jsonl"),
        "medmcqa": e.load_medmcqa(SAMPLES / "instruct" / "medmcqa" / "dev.json"),
        "mmlu": e.load_mmlu(SAMPLES / "instruct" / "mmlu" / "data" / "test"),
        "cmmlu": e.load_cmmlu(SAMPLES / "instruct" / "cmmlu" / "test"),
    }
    if REAL.is_dir():
        sets["real/cmmlu"] = e.load_cmmlu(REAL / "cmmlu" / "test")
        sets["real/pubmedqa"] = e.load_pubmedqa(REAL / "pubmedqa" / "ori_pqal.json",
                                                ids=REAL / "pubmedqa" / "test_ground_truth.json", split="test")
    return {name: list(items) for name, items in sets.items()}


def controls() -> dict[str, list[dict]]:
    """Non-test items of the same sets: exam phrasing without the evaluated items."""
    e = evalsets
    sets = {"medqa train+dev": [*e.load_medqa(SAMPLES / "instruct" / "medqa" / "train.jsonl"),
                                *e.load_medqa(SAMPLES / "instruct" / "medqa" / "dev.jsonl")],
            "medmcqa train": list(e.load_medmcqa(SAMPLES / "instruct" / "medmcqa" / "train.json")),
            "mmlu dev": list(e.load_mmlu(SAMPLES / "instruct" / "mmlu" / "data" / "dev")),
            "cmmlu dev": list(e.load_cmmlu(SAMPLES / "instruct" / "cmmlu" / "dev"))}
    sets["pubmedqa train"] = list(e.load_pubmedqa(SAMPLES / "instruct" / "pubmedqa" / "ori_pqal.json",
                                                  ids=SAMPLES / "instruct" / "pubmedqa" / "test_ground_truth.json",
                                                  split="train"))
    if REAL.is_dir():
        sets["real cmmlu dev"] = list(e.load_cmmlu(REAL / "cmmlu" / "dev"))
        sets["real pubmedqa train"] = list(e.load_pubmedqa(REAL / "pubmedqa" / "ori_pqal.json",
                                                           ids=REAL / "pubmedqa" / "test_ground_truth.json",
                                                           split="train"))
    return sets


def _turns(record: dict) -> str:
    """The text of one QA record in any of the bundled shapes."""
    if "conversations" in record:
        return "\n".join(str(t.get("value", "")) for t in record["conversations"])
    if "messages" in record:
        return "\n".join(str(t.get("content", "")) for t in record["messages"])
    return "\n".join(str(v) for v in record.values() if isinstance(v, str | list) and v)


def hosts() -> dict[str, list[str]]:
    """Clean medical QA documents by language ("en", "zh")."""
    files = [*sorted((SAMPLES / "qa").glob("*")), *sorted((SAMPLES / "instruct" / "qa").glob("*")),
             *sorted((SAMPLES / "instruct" / "promptcblue").glob("*.jsonl"))]
    if REAL.is_dir():
        files += [*sorted((REAL / "chinese_qa").glob("*.jsonl")), *sorted((REAL / "promptcblue").glob("*.json"))]
    out: dict[str, list[str]] = {"en": [], "zh": []}
    for path in files:
        try:
            rows = [r for _, r in textio.iter_records(path) if isinstance(r, dict)]
        except (textio.NotText, ValueError):
            continue
        for row in rows:
            text = _turns(row).strip()
            if len(text) >= 40:
                out["zh" if len(CJK.findall(text)) > len(text) / 5 else "en"].append(text)
    return out


def textbook() -> list[str]:
    """Paragraphs of the Chinese textbooks' LaTeX sources in ``../shared/realdata/books-zh`` (clean text)."""
    paragraphs = []
    for path in sorted(REAL.glob("books-zh/*/content/chap*.tex")):
        text = path.read_text(encoding="utf-8", errors="replace")
        text = re.sub(r"(?m)%.*$", "", text)  # comments
        text = re.sub(r"\\[a-zA-Z]+\*?(\[[^\]]*\])?", "", text).replace("{", "").replace("}", "")
        paragraphs += [" ".join(p.split()) for p in re.split(r"\n\s*\n", text) if len(CJK.findall(p)) >= 40]
    return paragraphs


def render(item: dict, *, context: bool, options: bool = True) -> str:
    """An item as an exam paper prints it."""
    parts = [item["question"]]
    if context and item.get("context"):
        parts.append(item["context"])
    if options:
        parts += [f"{o['label']}. {o['text']}" for o in item.get("options") or []]
    return "\n".join(parts)


def _words(text: str) -> list[str]:
    return text.split() if not CJK.search(text) else list(text)


def variant(item: dict, kind: str, rng: random.Random, vocab: list[str], context: bool, options: bool) -> str:
    """The planted text of ``item`` in form ``kind``."""
    if kind == "reordered":
        opts = list(item.get("options") or [])
        rng.shuffle(opts)
        item = {**item, "options": [{**o, "label": "ABCDEFGH"[i]} for i, o in enumerate(opts)]}
    if kind == "one_word":
        chinese = bool(CJK.search(item["question"]))
        words = _words(item["question"])
        slots = [i for i, w in enumerate(words) if (CJK.match(w) if chinese else re.search(r"\w", w))]
        if slots:
            i = rng.choice(slots)
            pool = [w for w in vocab if w != words[i] and (bool(CJK.match(w)) == chinese)]
            words[i] = rng.choice(pool)
        item = {**item, "question": ("" if chinese else " ").join(words)}
    text = render(item, context=context, options=options)
    if kind == "upper":
        return text.upper()
    if kind == "rewrap":
        opts = " ".join(f"({o['label']}) {o['text']}" for o in item.get("options") or []) if options else ""
        body = render(item, context=context, options=False)
        chinese = bool(CJK.search(body))
        pieces, words, i = [], _words(body.replace("\n", " ")), 0
        while i < len(words):
            k = rng.randint(6, 11) if chinese else rng.randint(4, 8)
            pieces.append(("" if chinese else " ").join(words[i:i + k]))
            i += k
        return "\n".join(pieces) + ("\n" + opts if opts else "")
    return text


def plant(host: str, text: str, rng: random.Random) -> str:
    """``text`` inserted into ``host`` at a sentence boundary."""
    cuts = [m.end() for m in re.finditer(r"[.?!。？！\n]\s*", host)] or [len(host)]
    at = rng.choice(cuts)
    return f"{host[:at]}\n{text}\n{host[at:]}"


def flagged(texts: list[str], index: decontam.Index, cfg: DecontamConfig) -> dict[int, str]:
    """Ledger detail of each flagged text, by position."""
    import pyarrow as pa

    table = pa.table({"id": [str(i) for i in range(len(texts))], "text": texts, "meta": ["{}"] * len(texts)})
    return decontam.hits(table, cfg, index)


def run(seed: int, cfg: DecontamConfig, show: int) -> dict:
    """Plant, scan, count; returns the table rows and totals."""
    rng = random.Random(seed)
    sets, clean = benchmarks(), hosts()
    index = decontam.build_index(sets, cfg)
    vocab = sorted({w for t in clean["en"][:200] for w in t.split() if w.isalpha()} |
                   {c for t in clean["zh"][:200] for c in t if CJK.match(c)})
    rows, misses = [], []
    for name, items in sets.items():
        shapes = [("question + options", False, True)]
        if name.endswith("pubmedqa"):
            shapes = [("question + abstract + options", True, True), ("question + options", False, True)]
        for shape, context, options in shapes:
            docs, labels = [], []
            for item in items:
                lang = "zh" if CJK.search(item["question"]) else "en"
                for kind in VARIANTS:
                    docs.append(plant(rng.choice(clean[lang]), variant(item, kind, rng, vocab, context, options), rng))
                    labels.append((kind, item["id"]))
            hit = flagged(docs, index, cfg)
            by_kind = Counter(k for i, (k, _) in enumerate(labels) if i in hit and
                              f"benchmark={name} " in hit[i])
            total = Counter(k for k, _ in labels)
            misses += [(name, shape, k, iid, docs[i]) for i, (k, iid) in enumerate(labels)
                       if not (i in hit and f"benchmark={name} " in hit[i])]
            rows.append({"set": name, "shape": shape, "items": len(items),
                         **{k: f"{by_kind[k]}/{total[k]}" for k in VARIANTS},
                         "caught": sum(by_kind.values()), "planted": len(docs)})
    fp = []
    for name, texts in (("clean QA (en)", clean["en"]), ("clean QA (zh)", clean["zh"]),
                        ("textbook paragraphs (zh)", textbook()),
                        *((n, [render(i, context=True) for i in items]) for n, items in controls().items())):
        hit = flagged(texts, index, cfg)
        fp.append({"set": name, "documents": len(texts), "flagged": len(hit), "texts": texts,
                   "examples": [texts[i][:80] + " | " + hit[i][:160] for i in sorted(hit)[:3]]})
    timing = _timing([t for r in fp for t in r.pop("texts")], index, cfg)
    caught, planted = sum(r["caught"] for r in rows), sum(r["planted"] for r in rows)
    flagged_n, docs_n = sum(r["flagged"] for r in fp), sum(r["documents"] for r in fp)
    return {"rows": rows, "false_positives": fp, "recall": caught / planted, "caught": caught,
            "planted": planted, "fp_rate": flagged_n / docs_n, "flagged": flagged_n, "clean": docs_n,
            "misses": misses[:show], "timing": timing}


def _timing(texts: list[str], index: decontam.Index, cfg: DecontamConfig, runs: int = 5) -> dict:
    """Seconds to scan ``texts`` with and without the short-item match, alternating; medians."""
    import dataclasses
    import statistics

    plain = (dataclasses.replace(index, fuzzy=None, settings={**index.settings, "fuzzy": False}),
             dataclasses.replace(cfg, fuzzy=False))
    times: dict[str, list[float]] = {"with": [], "without": []}
    for _ in range(runs):
        for name, (idx, conf) in (("with", (index, cfg)), ("without", plain)):
            start = time.perf_counter()
            flagged(texts, idx, conf)
            times[name].append(time.perf_counter() - start)
    return {k: statistics.median(v) for k, v in times.items()} | {"documents": len(texts)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--no-fuzzy", action="store_true", help="n-grams alone (the rule before short items)")
    parser.add_argument("--json", type=Path, default=None, help="also write the results here")
    parser.add_argument("--show-misses", type=int, default=10)
    args = parser.parse_args()
    start = time.perf_counter()
    result = run(args.seed, DecontamConfig(fuzzy=not args.no_fuzzy), args.show_misses)
    print(f"| set | planted as | items | {' | '.join(VARIANTS)} | recall |")
    print("|---|---|---:|" + "---:|" * (len(VARIANTS) + 1))
    for r in result["rows"]:
        print(f"| {r['set']} | {r['shape']} | {r['items']} | {' | '.join(r[k] for k in VARIANTS)} | "
              f"{r['caught'] / r['planted']:.1%} |")
    print(f"\nrecall {result['caught']}/{result['planted']} = {result['recall']:.2%}\n")
    print("| clean documents | count | flagged |\n|---|---:|---:|")
    for r in result["false_positives"]:
        print(f"| {r['set']} | {r['documents']} | {r['flagged']} |")
    print(f"\nfalse positives {result['flagged']}/{result['clean']} = {result['fp_rate']:.2%}")
    t = result["timing"]
    print(f"scan of the {t['documents']} clean documents (median of 5, alternating): {t['with']:.3f} s with the "
          f"short-item match, {t['without']:.3f} s without ({t['with'] / t['without']:.2f}x)")
    for r in result["false_positives"]:
        for ex in r["examples"]:
            print(f"  fp {r['set']}: {ex}")
    for *what, doc in result["misses"]:
        print("  missed:", *what, "|", " ".join(doc.split())[:300])
    print(f"\n{time.perf_counter() - start:.1f} s")
    if args.json:
        args.json.write_text(json.dumps(result, indent=1, ensure_ascii=False))


if __name__ == "__main__":
    main()
