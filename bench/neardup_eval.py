"""Precision and recall of near dedup on the labelled near-duplicate set.

    python bench/neardup_eval.py [--pairs 2000] [--seed 0]

Each pair is a base document (English or Chinese, four paragraphs) and a copy mutated by word
swaps, deletions, insertions, replacements and paragraph reordering down to a target Jaccard
similarity (1.0, 0.95, 0.9, 0.85, 0.7, 0.6, 0.5, 0.3), measured exactly on 5-token shingles
(``tests/dedup/neardup_set.py``). A pair is positive when its measured similarity reaches the
threshold (0.8). Prints precision and recall per verification mode and language, with the S-curve.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from curate.dedup import minhash, near  # noqa: E402
from tests.dedup.neardup_set import evaluate, make_pairs  # noqa: E402
from tests.dedup.test_neardup_quality import run_near_dedup  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pairs", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    start = time.perf_counter()
    pairs = make_pairs(args.pairs, args.seed)
    print(f"{len(pairs):,} pairs generated in {time.perf_counter() - start:.0f} s")
    base = near.NearDedupConfig()
    bands, rows = minhash.bands_rows(base.minhash)
    curve = ", ".join(f"{s}: {minhash.catch_probability(s, bands, rows):.3f}" for s in (0.5, 0.7, 0.8, 0.9))
    print(f"threshold {base.minhash.threshold}, {base.minhash.num_perm} permutations, {bands} bands x {rows} rows; "
          f"S-curve {curve}")
    print(f"{'verify':<9} {'lang':<4} {'positives':>9} {'TP':>5} {'FP':>4} {'precision':>9} {'recall':>7}")
    for verify in ("estimate", "exact", "none"):
        cfg = near.NearDedupConfig(verify=verify)
        drops = run_near_dedup(pairs, cfg)
        for lang in ("en", "zh", "all"):
            subset = [p for p in pairs if lang in ("all", p.lang)]
            fams = {p.family for p in subset}
            mine = {d: k for d, k in drops.items() if int(d[1:]) in fams}
            s = evaluate(subset, mine, cfg.minhash.threshold)
            print(f"{verify:<9} {lang:<4} {s['positives']:>9} {s['true_positives']:>5} {s['false_positives']:>4} "
                  f"{s['precision']:>9.3f} {s['recall']:>7.3f}")


if __name__ == "__main__":
    main()
