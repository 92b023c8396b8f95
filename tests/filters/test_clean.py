"""The clean step: normalisation, each change in the ledger."""

from curate.core import records
from curate.core.ledger import Ledger
from curate.filters.clean import CleanConfig, clean


def _docs(texts):
    return records.to_table([{"id": f"s/f#{i}", "source": "s", "text": t, "lang": "en", "meta": {}}
                             for i, t in enumerate(texts)], records.DOCUMENT)


def test_normalisation_and_ledger():
    table = _docs(["A perfectly ordinary sentence.", "Kangxi ⽬ radical and   extra   spaces.", " \u200b\n ",
                   "ＡＢＣ１２３ full width"])
    ledger = Ledger("s", "clean")
    out = clean(table, CleanConfig(), ledger)
    assert out["id"].to_pylist() == ["s/f#0", "s/f#1", "s/f#3"]
    assert out["text"].to_pylist()[1:] == ["Kangxi 目 radical and extra spaces.", "ABC123 full width"]
    assert [(r[0], r[3], r[4], r[5]) for r in ledger.rows] == [
        ("s/f#1", "modify", "normalize", "nfkc,whitespace"),
        ("s/f#2", "drop", "empty_text", "no text left after normalisation"),
        ("s/f#3", "modify", "normalize", "nfkc"),
    ]
    assert out.schema == records.DOCUMENT
    unfolded = clean(_docs(["ＡＢＣ"]), CleanConfig(nfkc=False), Ledger("s", "clean"))
    assert unfolded["text"].to_pylist() == ["ＡＢＣ"]


def test_empty_batch():
    out = clean(records.empty(records.DOCUMENT), CleanConfig(), Ledger("s", "clean"))
    assert out.num_rows == 0 and out.schema == records.DOCUMENT
