"""Size and generation time of ``report.html`` on a large stage-1-like build.

    python bench/report_scale.py [--docs 1000000] [--work DIR] [--keep] [--workers N]

Generates PubMed-style abstracts (gzipped ``PubmedArticleSet`` files, 60% of the documents) and QA
consultations (40%, some with phone numbers and e-mails, some planted exact and near duplicates, a
few too short), builds them with ``curate corpus`` (PHI scrub on QA, quality thresholds, exact and
near dedup, decontamination against the bundled evaluation samples), then regenerates the report
with ``curate report BUILD_DIR`` three times and prints the build time, the report times (median) and
the page size. The inputs and the build stay in ``--work``; a second run reuses a finished build
(``--rebuild`` runs ``curate corpus`` again).
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))

from build_throughput import _sentence, write_pubmed  # noqa: E402

PER_FILE = 10_000


def _qa(path: Path, n: int, rng: random.Random) -> None:
    """QA consultations: every 50th with PHI, every 200th an exact copy, every 300th a near copy."""
    previous: list[dict] = []
    with open(path, "w", encoding="utf-8") as f:
        for i in range(n):
            if i % 200 == 199 and previous:
                row = dict(rng.choice(previous))
            elif i % 300 == 299 and previous:
                src = rng.choice(previous)
                row = {"question": src["question"], "answer": src["answer"].replace(".", " again.", 1)}
            elif i % 997 == 0:
                row = {"question": "Hi?", "answer": "Ok."}  # under min_chars
            else:
                answer = " ".join(_sentence(rng) for _ in range(rng.randint(1, 4)))
                if i % 50 == 0:
                    answer += f" Call me at 138{rng.randint(10_000_000, 99_999_999)} or mail p{i}@example.org."
                row = {"question": f"Case {i}: " + _sentence(rng), "answer": answer}
            previous = [*previous[-50:], row]
            f.write(json.dumps(row) + "\n")


def generate(work: Path, docs: int, seed: int = 0) -> Path:
    """Inputs and the recipe of the bench build; returns the recipe."""
    rng = random.Random(seed)
    articles = docs * 6 // 10
    (work / "pubmed").mkdir(parents=True, exist_ok=True)
    for k, start in enumerate(range(0, articles, PER_FILE)):
        write_pubmed(work / "pubmed" / f"pubmed25n{k + 1:04d}.xml.gz", 30_000_000 + start,
                     min(PER_FILE, articles - start), rng)
    (work / "qa").mkdir(exist_ok=True)
    _qa(work / "qa" / "consults.jsonl", docs - articles, rng)
    evals = ROOT / "samples" / "eval"
    (work / "a.toml").write_text(f'reader = "articles"\nname = "articles"\ninputs = ["{work / "pubmed"}"]\n'
                                 "[quality]\nmin_chars = 200\nmax_symbol_ratio = 0.25\n")
    (work / "q.toml").write_text(f'reader = "qa"\nname = "qa"\ninputs = ["{work / "qa"}"]\n'
                                 "[quality]\nmin_chars = 30\nmax_symbol_ratio = 0.3\n[scrub]\n")
    recipe = work / "scale.toml"
    recipe.write_text(
        'name = "scale"\nseed = 1\n[near_dedup]\nverify = "estimate"\n[near_dedup.minhash]\nthreshold = 0.8\n'
        "num_perm = 128\nngram = 5\n[decontam]\n[[decontam.benchmarks]]\nname = \"pubmedqa\"\n"
        f'loader = "pubmedqa"\npath = "{evals / "pubmedqa_sample.json"}"\nids = "{evals / "pubmedqa_test_ids.json"}"\n'
        f'[[decontam.benchmarks]]\nname = "medqa"\nloader = "medqa"\npath = "{evals / "medqa_sample.jsonl"}"\n'
        '[[sources]]\nrecipe = "a.toml"\nweight = 0.6\n[[sources]]\nrecipe = "q.toml"\nweight = 0.4\n')
    return recipe


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--docs", type=int, default=1_000_000)
    parser.add_argument("--work", type=Path, default=Path("/tmp/curate-report-scale"))
    parser.add_argument("--workers", type=int, default=None)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--rebuild", action="store_true", help="run curate corpus even if the build is finished")
    args = parser.parse_args()
    curate = [sys.executable, "-m", "curate"]
    recipe = args.work / "scale.toml"
    if not recipe.is_file():
        start = time.perf_counter()
        recipe = generate(args.work, args.docs)
        print(f"generated {args.docs:,} documents in {time.perf_counter() - start:.0f} s")
    build = args.work / "out" / "scale"
    if args.rebuild or not (build / "manifest.json").is_file():
        start = time.perf_counter()
        subprocess.run([*curate, "corpus", str(recipe), "--out", str(args.work / "out"), "--no-progress",
                        *(["--workers", str(args.workers)] if args.workers else [])], check=True, cwd=ROOT)
        print(f"build: {time.perf_counter() - start:.0f} s wall")
    times = []
    for _ in range(args.runs):
        start = time.perf_counter()
        subprocess.run([*curate, "report", str(build)], check=True, cwd=ROOT, capture_output=True)
        times.append(time.perf_counter() - start)
    page = build / "report.html"
    runs = ", ".join(f"{t:.1f}" for t in times)
    print(f"report: median {statistics.median(times):.1f} s of {args.runs} runs ({runs}); "
          f"report.html {page.stat().st_size / 1e6:.2f} MB")


if __name__ == "__main__":
    main()
