"""Decontamination throughput: documents per second on 1-2 KB documents against a large index.

    python bench/decontam_throughput.py [--docs 20000] [--items 100000] [--runs 3]

Documents are 1-2 KB of sentences remixed from the bundled sample articles and PubMed abstracts
(``samples/articles``), one in ten Chinese, one in 200 with an item's question planted in it
(upper-cased). The index holds ``--items`` generated exam items (a 12-40-word question, a 40-120-word
context on half of them, four options, the answer; words drawn at random from the same texts, one in
ten Chinese), plus PubMedQA's 1,000 labelled items when ``../shared/realdata`` is present: a few
million n-gram hashes, the size MedQA, MedMCQA and PubMedQA together give. ``decontaminate`` runs
over tables of 10,000 documents in one process (one core); the figure is the median of ``--runs``, with
and without the short-item matching (``fuzzy``), the two alternating.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import random
import re
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from curate.benchmarks import decontam, evalsets  # noqa: E402
from curate.core import records  # noqa: E402
from curate.core.step import Context  # noqa: E402
from curate.text import textio  # noqa: E402

ARTICLES = ROOT / "samples" / "articles"
PUBMEDQA = ROOT.parent / "shared" / "realdata" / "pubmedqa" / "ori_pqal.json"


def sentences() -> tuple[list[str], list[str]]:
    """English and Chinese sentences of the sample articles."""
    en = [textio.read_text(ARTICLES / n)[0] for n in ("heart_failure_en.md", "sleep_hygiene_en.txt")]
    xml = textio.read_text(ARTICLES / "pubmed_baseline.xml")[0]
    en += re.findall(r"<AbstractText[^>]*>([^<]+)</AbstractText>", xml)
    zh = [textio.read_text(ARTICLES / n)[0] for n in ("ganmao_zh.txt", "gaoxueya_zh.md")]
    split = lambda texts, sep: [s.strip() for t in texts for s in re.split(sep, t) if len(s.strip()) > 10]  # noqa: E731
    return split(en, r"(?<=[.?!])\s+"), split(zh, r"(?<=[。？！])")


def items(n: int, en: list[str], zh: list[str], seed: int = 1) -> list[dict]:
    """Generated exam items: words (characters for Chinese) of the sample texts in random order."""
    rng = random.Random(seed)
    vocab = {False: sorted({w for s in en for w in s.split()}), True: sorted({c for s in zh for c in s})}

    def words(k: int, chinese: bool) -> str:
        return ("" if chinese else " ").join(rng.choices(vocab[chinese], k=k * (2 if chinese else 1)))

    out = []
    for i in range(n):
        chinese = i % 10 == 9
        options = [{"label": c, "text": words(rng.randint(1, 6), chinese)} for c in "ABCD"]
        out.append({"id": f"gen/test#{i}", "question": words(rng.randint(12, 40), chinese),
                    "context": words(rng.randint(40, 120), chinese) if i % 2 else "", "options": options,
                    "answer": rng.choice("ABCD"), "meta": {}})
    return out


def documents(n: int, en: list[str], zh: list[str], planted: list[dict], seed: int = 0) -> list[dict]:
    """``n`` documents of 1-2 KB of remixed sentences; every 200th carries a planted item's question."""
    rng = random.Random(seed)
    docs = []
    for i in range(n):
        chinese = i % 10 == 9
        target, parts = rng.randint(1000, 2000), []
        while sum(len(p.encode()) for p in parts) < target:
            parts.append(rng.choice(zh if chinese else en))
        if i % 200 == 0:
            parts.insert(rng.randrange(len(parts)), rng.choice(planted)["question"].upper())
        docs.append({"id": f"bench#{i}", "source": "bench", "text": ("" if chinese else " ").join(parts),
                     "lang": "zh" if chinese else "en", "meta": "{}"})
    return docs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--docs", type=int, default=20000)
    parser.add_argument("--items", type=int, default=100000)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    cfg = decontam.DecontamConfig()
    en, zh = sentences()
    sets = {"generated": items(args.items, en, zh)}
    if PUBMEDQA.is_file():
        sets["pubmedqa"] = list(evalsets.load_pubmedqa(PUBMEDQA))
    start = time.perf_counter()
    index = decontam.build_index(sets, cfg)
    built = time.perf_counter() - start
    with tempfile.TemporaryDirectory() as tmp:
        index.save(Path(tmp) / "index.parquet")
        index_mb = (Path(tmp) / "index.parquet").stat().st_size / 1e6
        start = time.perf_counter()
        decontam.Index.load(Path(tmp) / "index.parquet")
        loaded = time.perf_counter() - start
    docs = documents(args.docs, en, zh, sets["generated"])
    tables = [records.to_table(docs[i:i + 10000], records.DOCUMENT) for i in range(0, len(docs), 10000)]
    size = sum(len(d["text"].encode()) for d in docs)
    # The same index without its short-item part, scanned in alternation with it (n-grams alone).
    plain = (dataclasses.replace(index, fuzzy=None, settings={**index.settings, "fuzzy": False}),
             dataclasses.replace(cfg, fuzzy=False))
    times, plain_times, dropped, plain_dropped = [], [], 0, 0
    for _ in range(args.runs):
        for idx, conf, out in ((index, cfg, times), (*plain, plain_times)):
            ctx = Context("bench", "decontam", resources={decontam.INDEX: idx})
            start = time.perf_counter()
            n = sum(decontam.decontaminate(table, conf, ctx).ledger.num_rows for table in tables)
            out.append(time.perf_counter() - start)
            dropped, plain_dropped = (n, plain_dropped) if conf is cfg else (dropped, n)
    median, plain_median = statistics.median(times), statistics.median(plain_times)
    print(json.dumps({
        "index_items": sum(len(v) for v in sets.values()), "index_ngrams": int(index.hashes.size),
        "index_build_s": round(built, 2), "index_file_mb": round(index_mb, 1),
        "index_load_s": round(loaded, 2), "short_lengths": index.settings["short"],
        "docs": len(docs), "mean_doc_bytes": round(size / len(docs)), "planted": (len(docs) + 199) // 200,
        "dropped": dropped, "median_s": round(median, 3), "docs_per_s": round(len(docs) / median),
        "mb_per_s": round(size / median / 1e6, 2), "runs_s": [round(t, 3) for t in times],
        "fuzzy_entries": len(index.fuzzy) if index.fuzzy else 0,
        "ngrams_only": {"dropped": plain_dropped, "median_s": round(plain_median, 3),
                        "docs_per_s": round(len(docs) / plain_median), "runs_s": [round(t, 3) for t in plain_times]},
        "time_ratio_with_short_items": round(median / plain_median, 2),
    }, indent=1))


if __name__ == "__main__":
    main()
