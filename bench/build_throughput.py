"""End-to-end stage-1 build throughput on generated PubMed baseline files and QA pairs.

    python bench/build_throughput.py [--files 40] [--articles 1000] [--workers N]

Generates gzipped ``PubmedArticleSet`` files (structured abstracts of ~250 words) and QA JSONL,
runs ``curate corpus`` over them with the bundled tokenizer, and prints wall time per step,
documents per second, and the build's peak RSS (main process and workers).
"""

from __future__ import annotations

import argparse
import gzip
import json
import random
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

WORDS = ("patients treatment randomized trial outcome mortality risk ratio cohort diagnosis therapy dose "
         "clinical hospital infection pneumonia diabetes hypertension insulin sepsis antibiotic months "
         "significant reduced increased compared baseline follow-up adverse events primary secondary "
         "analysis confidence interval age women men children elderly chronic acute kidney liver heart").split()


def _sentence(rng: random.Random) -> str:
    words = rng.choices(WORDS, k=rng.randint(12, 24))
    return " ".join(words).capitalize() + f" ({rng.randint(1, 99)}%, p={rng.random():.3f})."


def write_pubmed(path: Path, first_pmid: int, n: int, rng: random.Random) -> None:
    """One gzipped PubMed file of ``n`` articles with structured abstracts."""
    parts = ['<?xml version="1.0" encoding="UTF-8"?>\n<PubmedArticleSet>']
    for pmid in range(first_pmid, first_pmid + n):
        sections = "".join(
            f'<AbstractText Label="{label}" NlmCategory="{label}">'
            + " ".join(_sentence(rng) for _ in range(rng.randint(2, 4))) + "</AbstractText>"
            for label in ("BACKGROUND", "METHODS", "RESULTS", "CONCLUSIONS"))
        parts.append(
            f'<PubmedArticle><MedlineCitation Status="MEDLINE" Owner="NLM"><PMID Version="1">{pmid}</PMID>'
            f"<Article><Journal><JournalIssue><PubDate><Year>{rng.randint(1990, 2025)}</Year></PubDate>"
            f"</JournalIssue><Title>Journal of Tests</Title></Journal><ArticleTitle>{_sentence(rng)}</ArticleTitle>"
            f"<Abstract>{sections}</Abstract><Language>eng</Language></Article></MedlineCitation>"
            "</PubmedArticle>")
    parts.append("</PubmedArticleSet>\n")
    with open(path, "wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", mtime=0) as f:
        f.write("\n".join(parts).encode())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--files", type=int, default=40)
    parser.add_argument("--articles", type=int, default=1000, help="articles per PubMed file")
    parser.add_argument("--qa", type=int, default=100_000, help="QA pairs in total")
    parser.add_argument("--workers", type=int, default=None)
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="curate-build-bench-"))
    try:
        rng = random.Random(0)
        (work / "pubmed").mkdir()
        for i in range(args.files):
            write_pubmed(work / "pubmed" / f"pubmed25n{i + 1:04d}.xml.gz", 30_000_000 + i * args.articles,
                         args.articles, rng)
        (work / "qa").mkdir()
        with open(work / "qa" / "pairs.jsonl", "w") as f:
            for i in range(args.qa):
                f.write(json.dumps({"question": f"Case {i}: " + _sentence(rng), "answer": _sentence(rng)}) + "\n")
        (work / "a.toml").write_text(f'reader = "articles"\nname = "articles"\ninputs = ["{work / "pubmed"}"]\n')
        (work / "q.toml").write_text(f'reader = "qa"\nname = "qa"\ninputs = ["{work / "qa"}"]\n')
        (work / "mix.toml").write_text('name = "bench"\n[[sources]]\nrecipe = "a.toml"\nweight = 0.7\n'
                                       '[[sources]]\nrecipe = "q.toml"\nweight = 0.3\n')
        mb = sum(p.stat().st_size for p in work.rglob("*.gz")) / 1e6
        cmd = [sys.executable, "-m", "curate", "corpus", str(work / "mix.toml"), "--out", str(work / "out"),
               "--no-progress", *(["--workers", str(args.workers)] if args.workers else [])]
        start = time.perf_counter()
        out = subprocess.run(cmd, capture_output=True, text=True, check=True, cwd=ROOT).stdout
        wall = time.perf_counter() - start
        peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
        docs = args.files * args.articles + args.qa
        print(f"{args.files * args.articles:,} PubMed abstracts ({mb:.0f} MB gzipped) + {args.qa:,} QA pairs")
        print(out.split("  outputs:")[0].rstrip())
        print(next(line for line in out.splitlines() if line.strip().startswith("time:")))
        print(f"wall {wall:.1f} s, {docs / wall:,.0f} documents/s, peak RSS of one process {peak:,.0f} MB")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
