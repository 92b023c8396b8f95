"""The clean step: normalisation, each change in the ledger."""

from curate.core import records
from curate.core.step import Context
from curate.filters.clean import CleanConfig, clean


def _docs(texts):
    return records.to_table([{"id": f"s/f#{i}", "source": "s", "text": t, "lang": "en", "meta": {}}
                             for i, t in enumerate(texts)], records.DOCUMENT)


def test_normalisation_and_ledger():
    table = _docs(["A perfectly ordinary sentence.", "Kangxi ⽬ radical and   extra   spaces.", " \u200b\n ",
                   "ＡＢＣ１２３ full width"])
    res = clean(table, CleanConfig(), Context("s", "clean"))
    out = res.kept
    assert out["id"].to_pylist() == ["s/f#0", "s/f#1", "s/f#3"]
    assert out["text"].to_pylist()[1:] == ["Kangxi 目 radical and extra spaces.", "ABC123 full width"]
    rows = res.ledger.to_pylist()
    assert {(r["source"], r["step"]) for r in rows} == {("s", "clean")}
    assert [(r["id"], r["action"], r["reason"], r["detail"]) for r in rows] == [
        ("s/f#1", "modify", "normalize", "nfkc,whitespace"),
        ("s/f#2", "drop", "empty_text", "no text left after normalisation"),
        ("s/f#3", "modify", "normalize", "nfkc"),
    ]
    assert out.schema == records.DOCUMENT
    unfolded = clean(_docs(["ＡＢＣ"]), CleanConfig(nfkc=False), Context("s", "clean")).kept
    assert unfolded["text"].to_pylist() == ["ＡＢＣ"]


def test_empty_batch():
    out = clean(records.empty(records.DOCUMENT), CleanConfig(), Context("s", "clean")).kept
    assert out.num_rows == 0 and out.schema == records.DOCUMENT


def test_batch_equals_the_per_text_rules_and_keeps_the_column_whole():
    import unicodedata

    import pyarrow as pa

    from curate.text import normalise

    texts = ["plain", "two  spaces", "e\u0301", "ＡＢＣ", "\u200b", "中文\u3000全角", "Ⅱ型 " * 30, "ok\n\n\n\nend", "",
             "tail ", "café"]
    table = _docs(texts)
    chunked = pa.Table.from_batches(table.to_batches(max_chunksize=4))
    assert chunked["text"].num_chunks > 1
    res = clean(chunked, CleanConfig(), Context("s", "clean"))
    want = [normalise.normalize_whitespace(normalise.safe_nfkc(t)) for t in texts]
    assert res.kept["text"].to_pylist() == [w for w in want if w]
    assert res.kept["id"].to_pylist() == [f"s/f#{i}" for i, w in enumerate(want) if w]
    assert res.kept["text"].num_chunks == 1 and res.kept.schema == records.DOCUMENT
    rows = {r["id"]: (r["action"], r["detail"]) for r in res.ledger.to_pylist()}
    assert rows["s/f#2"] == ("modify", "nfkc")  # not NFC: composed
    assert unicodedata.is_normalized("NFC", texts[10]) and "s/f#10" not in rows
    assert rows["s/f#4"][0] == rows["s/f#8"][0] == "drop"
    assert {i for i, (t, w) in enumerate(zip(texts, want, strict=True)) if t != w or not w} == {
        int(k.split("#")[1]) for k in rows}
