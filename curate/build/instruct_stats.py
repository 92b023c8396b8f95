"""What the report of an instruction build (stages 2 and 3) shows, aggregated from its files.

Per dataset: the records funnel with drop reasons, examples out per task, tokens and the share that
carries loss; per split: packs, examples and packing efficiency; the length of every packed example
against ``seq_len`` (from the packs' boundaries), truncations and over-long drops; and the leakage
guard's refusals per benchmark with the matched n-grams.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from curate.build import aggregate
from curate.build.aggregate import Hist
from curate.build.artifacts import Artifacts

STEP_ORDER = ["load", "guard", "select", "tokenize"]
LENGTH_BINS = 64


def example_lengths(art: Artifacts, seq_len: int) -> dict[str, Hist]:
    """Per split: a histogram of example lengths in tokens over [0, seq_len] (from pack boundaries)."""
    edges = np.linspace(0.0, float(seq_len), LENGTH_BINS + 1)
    edges[-1] += 0.5  # an example of exactly seq_len tokens is in the last bin; only longer ones overflow
    out = {}
    for split in art.packed_info().get("splits", {}):
        hist = Hist(edges)
        for batch in aggregate.batches(art.packs(split), ["boundaries"]):
            column = batch.column("boundaries")
            values = column.flatten().to_numpy()
            offsets = column.offsets.to_numpy() - column.offsets[0].as_py()
            steps = np.diff(values)
            within = np.ones(steps.size, bool)
            within[offsets[1:-1] - 1] = False  # from one pack's last boundary to the next pack's 0
            hist.add(steps[within])
        out[split] = hist
    return out


def collect(art: Artifacts) -> dict[str, Any]:
    """Every aggregate the report of an instruction build draws."""
    m = art.manifest
    seq_len = int(m.get("packing", {}).get("seq_len") or art.packed_info().get("seq_len") or 0)
    ledger = aggregate.ledger_tallies(art.ledger, hit_steps=("guard",))
    truncated = sum(c.get("tokenize/truncated", 0) for c in ledger.modified.values())
    overlong = sum(s["dropped"].get("tokenize", {}).get("overlong", 0) for s in m["sources"].values())
    return {
        "funnels": {name: aggregate.funnel(s["records_in"], s["dropped"], STEP_ORDER)
                    for name, s in m["sources"].items()},
        "seq_len": seq_len,
        "lengths": example_lengths(art, seq_len) if seq_len else {},
        "truncated": truncated,
        "overlong": overlong,
        "ledger": ledger,
    }
