"""Exact dedup: normalised hashes, the keep rule (source rank, then id), ledger details."""

import random

import pyarrow as pa

from curate.dedup import exact


def _hashes(hashes: list[bytes], ranks: list[int], ids: list[str]) -> pa.Table:
    return pa.table({"hash": pa.array(hashes, pa.binary(16)), "rank": pa.array(ranks, pa.int32()),
                     "id": pa.array(ids, pa.string())})


def _rows(table: pa.Table) -> list[tuple]:
    return list(zip(*(table[c].to_pylist() for c in ("id", "reason", "detail")), strict=True))


def test_keep_rule_and_details():
    texts = {
        "b/x#1": ("What is asthma?", 1),
        "a/y#9": ("what is  ASTHMA", 0),  # same after normalisation, higher-priority source
        "a/y#2": ("What is asthma!", 0),  # same, same source, smaller id -> kept
        "b/x#3": ("Something else entirely.", 1),
    }
    hashes = _hashes([exact.text_hash(t) for t, _ in texts.values()], [r for _, r in texts.values()], list(texts))
    dups = exact.duplicates(hashes)
    assert _rows(dups) == [
        ("a/y#9", "exact_duplicate", "duplicate_of=a/y#2"),
        ("b/x#1", "exact_duplicate", "duplicate_of=a/y#2"),
    ]


def test_no_duplicates():
    hashes = _hashes([exact.text_hash("a"), exact.text_hash("b")], [0, 0], ["s#1", "s#2"])
    assert exact.duplicates(hashes).num_rows == 0
    assert exact.duplicates(hashes.slice(0, 0)).num_rows == 0 and exact.duplicates(hashes.slice(0, 1)).num_rows == 0


def test_source_priority_beats_id_order():
    # The recipe's first source (rank 0) has ids that sort last: the keep rule must still pick it.
    hashes = _hashes([exact.text_hash("Asthma is a chronic disease.")] * 3, [1, 0, 2],
                     ["a/first-by-id#1", "z/priority-source#7", "m/middle#3"])
    dups = exact.duplicates(hashes)
    assert dups["detail"].to_pylist() == ["duplicate_of=z/priority-source#7"] * 2
    assert dups["id"].to_pylist() == ["a/first-by-id#1", "m/middle#3"]


def test_the_reduce_agrees_with_the_keep_rule_written_out():
    """Many small groups, hashes that differ in one word or one byte only, ranks and ids that disagree on
    which record to keep, ids in several scripts, chunked and sliced input: the same drops as the rule in plain
    Python (per hash, the smallest (rank, id) is kept, the rest sorted by id bytes)."""
    rng = random.Random(7)
    pool = [bytes(16), b"\x00" * 15 + b"\x01", b"\x01" + b"\x00" * 15, b"\xff" * 16, b"\x00" * 8 + b"\xff" * 8]
    pool += [rng.randbytes(16) for _ in range(300)]
    n = 5000
    hashes = [rng.choice(pool) for _ in range(n)]
    ranks = [rng.randrange(3) for _ in range(n)]
    ids = [f"{rng.choice(['a', 'b', 'Z', '中', 'é'])}/{i * 7919 % n}#{rng.randrange(10)}" for i in range(n)]
    table = _hashes(hashes, ranks, ids)
    chunked = pa.concat_tables([table.slice(0, 1234), table.slice(1234, 2000), table.slice(3234)])
    groups: dict[bytes, list[tuple[int, str]]] = {}
    for h, r, i in zip(hashes, ranks, ids, strict=True):
        groups.setdefault(h, []).append((r, i))
    want = []
    for members in groups.values():
        kept = min(members, key=lambda m: (m[0], m[1].encode()))
        want += [(i, "exact_duplicate", f"duplicate_of={kept[1]}") for m in members if m != kept for i in [m[1]]]
    want.sort(key=lambda row: row[0].encode())
    assert _rows(exact.duplicates(chunked)) == want
    drops, stats = exact.reduce([table.slice(0, 2500), table.slice(2500), table.slice(0, 0)], exact.ExactDedupConfig())
    assert _rows(drops) == want and stats == {"drops": len(want)}


def test_hash_step_equals_the_per_text_hash():
    import pyarrow as pa

    from curate.core.step import Context

    texts = ["What is asthma?", "", "Straße STRASSE", "ＡＢＣ①", "中文，标点。", "e\u0301 é", "a\x00b", "\U0001d400x"]
    table = pa.table({"id": [f"d#{i}" for i in range(len(texts))], "text": texts})
    side = exact.hash_step(table, exact.ExactDedupConfig(), Context("s", rank=3)).side
    assert side["hash"].to_pylist() == [exact.text_hash(t) for t in texts]
    assert side["rank"].to_pylist() == [3] * len(texts) and side["id"].to_pylist() == table["id"].to_pylist()
    assert exact.hash_step(table.slice(0, 0), exact.ExactDedupConfig(), Context("s")).side.num_rows == 0
