"""The clean step: normalisation and named filter rules, each in the ledger."""

from curate import records
from curate.filters.clean import CleanConfig, clean
from curate.ledger import Ledger


def _docs(texts):
    return records.to_table([{"id": f"s/f#{i}", "source": "s", "text": t, "lang": "en", "meta": {}}
                             for i, t in enumerate(texts)], records.DOCUMENT)


def test_rules_and_ledger():
    table = _docs([
        "A perfectly ordinary sentence about asthma control.",
        "short",
        "x" * 200,
        "@@## $$ %% ^^ && ** (( )) !! ~~ ||",
        "Kangxi ⽬ radical and   extra   spaces in a sentence.",
    ])
    ledger = Ledger("s", "clean")
    out = clean(table, CleanConfig(min_chars=20, max_chars=100, max_symbol_ratio=0.3), ledger)
    assert out["id"].to_pylist() == ["s/f#0", "s/f#4"]
    assert out["text"].to_pylist()[1] == "Kangxi 目 radical and extra spaces in a sentence."
    assert [(r[0], r[3], r[4]) for r in ledger.rows] == [
        ("s/f#1", "drop", "min_length"),
        ("s/f#2", "drop", "max_length"),
        ("s/f#3", "drop", "symbol_ratio"),
        ("s/f#4", "modify", "normalize"),
    ]
    assert ledger.rows[3][5] == "nfkc,whitespace" and ledger.rows[0][5] == "5 chars < 20"
    assert out.schema == records.DOCUMENT


def test_empty_batch():
    out = clean(records.empty(records.DOCUMENT), CleanConfig(), Ledger("s", "clean"))
    assert out.num_rows == 0 and out.schema == records.DOCUMENT
