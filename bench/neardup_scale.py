"""Near dedup of a million short documents end to end: wall time and peak memory.

    python bench/neardup_scale.py [--docs 1000000] [--workers N]

Generates ``--docs`` documents of 60-100 words (English vocabulary, one in ten Chinese), a tenth of
them near copies of another document (one word replaced: Jaccard about 0.9), writes them as Parquet
shards and runs ``curate dedup`` (exact + MinHash near dedup, 256 permutations, threshold 0.8) on
them in a subprocess. Prints wall time, documents/s, documents dropped, and the peak RSS of the
largest process (``getrusage(RUSAGE_CHILDREN)``: the build and its workers).
"""

from __future__ import annotations

import argparse
import random
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.dedup.neardup_set import EN_WORDS, ZH_WORDS  # noqa: E402


def generate(n: int, directory: Path, shards: int = 20, seed: int = 0) -> int:
    """Write ``n`` short documents as Parquet shards; returns the number of planted near copies."""
    rng = random.Random(seed)
    texts: list[str] = []
    planted = 0
    for i in range(n):
        if texts and rng.random() < 0.1:
            words = rng.choice(texts[-5000:]).split(" ")
            words[rng.randrange(len(words))] = rng.choice(EN_WORDS)
            texts.append(" ".join(words))
            planted += 1
        elif i % 10 == 9:
            texts.append(" ".join(rng.choice(ZH_WORDS) for _ in range(rng.randint(60, 100))))
        else:
            texts.append(" ".join(rng.choice(EN_WORDS) for _ in range(rng.randint(60, 100))))
    per = -(-n // shards)
    for s in range(shards):
        chunk = texts[s * per:(s + 1) * per]
        ids = [f"gen/{s:02d}#{j}" for j in range(len(chunk))]
        pq.write_table(pa.table({"id": ids, "text": chunk}), directory / f"part{s:02d}.parquet")
    return planted


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--docs", type=int, default=1_000_000)
    parser.add_argument("--workers", type=int, default=None)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="curate-neardup-"))
    try:
        (work / "in").mkdir()
        planted = generate(args.docs, work / "in")
        cmd = [sys.executable, "-m", "curate", "dedup", str(work / "in"), "--out", str(work / "out"), "--no-progress",
               *(["--workers", str(args.workers)] if args.workers else [])]
        start = time.perf_counter()
        out = subprocess.run(cmd, capture_output=True, text=True, check=True, cwd=ROOT).stdout
        wall = time.perf_counter() - start
        peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
        drops = dict(re.findall(r"(\w+/\w+): ([\d,]+)", out))
        print(f"{args.docs:,} documents ({planted:,} planted near copies)")
        print(f"dropped: {', '.join(f'{k} {v}' for k, v in drops.items())}")
        print(next(line.strip() for line in out.splitlines() if line.strip().startswith("time:")))
        print(f"wall {wall:.1f} s, {args.docs / wall:,.0f} documents/s, peak RSS {peak:,.0f} MB")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
