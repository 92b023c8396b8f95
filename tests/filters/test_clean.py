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
