"""The step contract: chains over slices equal chains over the whole shard; what steps share per batch."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from curate.core import records
from curate.core.executor import Task
from curate.core.step import ANNOTATE, Context, Out, Step, run_chain
from curate.core.tasks import ChainConfig, chain_task


def _batch(n: int) -> pa.Table:
    return records.to_table([{"id": f"s/f#{i:03d}", "source": "s", "text": f"text {i} " + "w " * (i % 7),
                              "lang": "en", "meta": {}} for i in range(n)], records.DOCUMENT)


def drop_odd(batch: pa.Table, cfg: object, ctx: Context) -> Out:
    ledger = ctx.ledger()
    keep = []
    for rid in batch["id"].to_pylist():
        odd = int(rid[-3:]) % 2 == 1
        if odd:
            ledger.drop(rid, "odd", "")
        keep.append(not odd)
    return Out(batch.filter(pa.array(keep)), ledger.table())


def lengths(batch: pa.Table, cfg: object, ctx: Context) -> Out:
    texts = batch["text"].to_pylist()
    n = ctx.memo(("len", len(texts)), lambda: [len(t) for t in texts])
    return Out(batch, side=pa.table({"id": batch["id"], "n": n}))


def _run(tmp_path: Path, batch_rows: int | None, name: str) -> tuple[pa.Table, pa.Table, pa.Table, dict]:
    shard = tmp_path / "in.parquet"
    if not shard.exists():
        pq.write_table(_batch(101), shard)
    cfg = ChainConfig("s", (Step("odd", drop_odd), Step("len", lengths, None, ANNOTATE)),
                      sides=(("len", "lengths"),), batch_rows=batch_rows)
    out = tmp_path / name
    result = chain_task(Task("k", chain_task, (str(shard),), str(out), "x", cfg))
    return (pq.read_table(out / "x.parquet"), pq.read_table(out / "lengths" / "x.parquet"),
            pq.read_table(out / ".ledger" / "x.parquet"), result.stats)


def test_a_chain_over_slices_equals_the_chain_over_the_shard(tmp_path):
    whole = _run(tmp_path, None, "whole")
    for rows in (1, 7, 50, 100, 101, 500):
        sliced = _run(tmp_path, rows, f"s{rows}")
        assert sliced[0].equals(whole[0]) and sliced[1].equals(whole[1]), rows
        assert sliced[2].sort_by("id").equals(whole[2].sort_by("id")), rows
        assert sliced[3] == whole[3], rows
    assert whole[3]["steps"] == [{"step": "odd", "in": 101, "out": 51}, {"step": "len", "in": 51, "out": 51}]


def test_memo_is_shared_by_the_steps_of_a_batch_and_dropped_when_the_batch_changes():
    calls = []

    def count(batch, cfg, ctx):
        ctx.memo("n", lambda: calls.append(batch.num_rows) or batch.num_rows)
        return Out(batch, side=pa.table({"id": batch["id"]}))

    steps = [Step("a", count, None, ANNOTATE), Step("b", count, None, ANNOTATE)]
    run_chain(_batch(10), steps, Context("s"))
    assert calls == [10]  # computed once for both steps
    calls.clear()
    run_chain(_batch(10), [steps[0], Step("odd", drop_odd), steps[1]], Context("s"))
    assert calls == [10, 5]  # the odd records left: recomputed on the batch the next step sees


def test_signals_and_signatures_tokenize_each_batch_once(monkeypatch):
    from curate.dedup import minhash, near
    from curate.filters import quality

    seen = []
    original = minhash.tokens
    monkeypatch.setattr(minhash, "tokens", lambda texts, *cp: seen.append(len(texts)) or original(texts, *cp))
    batch = _batch(30)
    steps = [Step("signals", quality.signals_step, quality.SignalsConfig(quality.needed(quality.QualityConfig())),
                  ANNOTATE),
             Step("signatures", near.signature_step, near.SignatureConfig(5, 64, 1, False, False), ANNOTATE)]
    shared = run_chain(batch, steps, Context("s"))
    assert seen == [30]
    alone = near.signature_step(batch, near.SignatureConfig(5, 64, 1, False, False), Context("s",
                                sides={"signals": shared.sides["signals"]}))
    assert alone.side.equals(shared.sides["signatures"])  # sharing changes nothing in the signatures
