"""Recall, precision and throughput of PHI scrubbing on the planted evaluation set.

    python bench/phi_eval.py [--items 2000] [--seed 0] [--runs 5]

The set (``tests/filters/phi_cases.py``) is invented zh and en consultation snippets holding at least
``--items`` PHI items of every type and as many non-PHI numbers (doses, lab values, dates, PMIDs,
invalid ids, non-Luhn numbers ...). A PHI item counts as found only when a span of its type covers
exactly its characters. Prints recall per type and overall, precision of all detections, the share of
non-PHI numbers left intact, and ``scrub_text`` throughput over the snippets (median of ``--runs``).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from curate.filters.phi import ScrubConfig, detect, scrub_text  # noqa: E402
from tests.filters.phi_cases import evaluate, make_cases  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--items", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    cfg = ScrubConfig()
    cases = make_cases(args.items, args.items, args.seed)
    r = evaluate(cases, lambda text: detect(text, cfg))
    print(f"{len(cases):,} snippets (seed {args.seed}), {r['phi_items']:,} PHI items, "
          f"{r['keep_items']:,} non-PHI numbers")
    print(f"{'type':<14} {'planted':>7} {'recall':>7}")
    for kind, recall in r["recall_by_type"].items():
        print(f"{kind:<14} {r['planted_by_type'][kind]:>7} {recall:>7.4f}")
    print(f"{'all':<14} {r['phi_items']:>7} {r['recall']:>7.4f}")
    print(f"precision {r['precision']:.4f}; non-PHI numbers left intact {r['keep_rate']:.4f}")
    for line in (r["misses"] + r["false_positives"])[:10]:
        print("  ", line)

    texts = [c.text for c in cases]
    megabytes = sum(len(t.encode()) for t in texts) / 1e6
    times = []
    for _ in range(args.runs):
        start = time.perf_counter()
        for text in texts:
            scrub_text(text, cfg)
        times.append(time.perf_counter() - start)
    median = statistics.median(times)
    print(f"throughput (median of {args.runs}): {len(texts) / median:,.0f} documents/s, "
          f"{megabytes / median:.2f} MB/s ({megabytes:.2f} MB, mean {megabytes * 1e6 / len(texts):.0f} bytes/doc)")


if __name__ == "__main__":
    main()
