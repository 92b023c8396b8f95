"""MinHash signatures per second per core on 400-word documents, against datasketch's per-document path.

    python bench/minhash_throughput.py [--docs 8192] [--runs 5] [--num-perm 256]

curate: ``minhash.shingles`` + ``minhash.signatures`` over batches of 2,048 documents in one process
(one core), 5-token shingles. datasketch: ``MinHash(scheme="affine32").update_batch`` per document
over the same documents' word 5-grams encoded as bytes (its default SHA-1 hashing), on a subset.
Medians of ``--runs`` runs.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from datasketch import MinHash  # noqa: E402

from curate.dedup import minhash  # noqa: E402
from tests.dedup.neardup_set import EN_WORDS, ZH_WORDS  # noqa: E402


def documents(n: int, seed: int = 0) -> list[str]:
    """``n`` 400-word documents (one in ten Chinese, 400 words of 1-3 characters)."""
    rng = random.Random(seed)
    docs = []
    for i in range(n):
        if i % 10 == 9:
            docs.append("".join(rng.choice(ZH_WORDS) for _ in range(400)))
        else:
            docs.append(" ".join(rng.choice(EN_WORDS) + ("." if rng.random() < 0.07 else "") for _ in range(400)))
    return docs


def curate_run(docs: list[str], num_perm: int) -> None:
    for i in range(0, len(docs), 2048):
        hashes, offsets = minhash.shingles(docs[i:i + 2048], 5)
        minhash.signatures(hashes, offsets, num_perm, 1)


def datasketch_run(docs: list[str], num_perm: int) -> None:
    for doc in docs:
        words = doc.split()
        m = MinHash(num_perm=num_perm, seed=1, scheme="affine32")
        m.update_batch([" ".join(words[j:j + 5]).encode() for j in range(len(words) - 4)])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--docs", type=int, default=8192)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--num-perm", type=int, default=256)
    args = parser.parse_args()
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    docs = documents(args.docs)
    subset = docs[: max(200, args.docs // 16)]
    curate_run(docs[:64], args.num_perm)  # warm the power tables
    results = {}
    variants = (("curate (numpy batch)", curate_run, docs), ("datasketch update_batch", datasketch_run, subset))
    for name, fn, batch in variants:
        times = []
        for _ in range(args.runs):
            start = time.perf_counter()
            fn(batch, args.num_perm)
            times.append(time.perf_counter() - start)
        results[name] = len(batch) / statistics.median(times)
    print(f"{args.docs:,} documents of 400 words, {args.num_perm} permutations, 5-token shingles, 1 process; "
          f"median of {args.runs} runs")
    for name, rate in results.items():
        print(f"{name:<26} {rate:>10,.0f} docs/s per core")
    print(f"ratio {results['curate (numpy batch)'] / results['datasketch update_batch']:.1f}x")


if __name__ == "__main__":
    main()
