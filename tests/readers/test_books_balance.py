"""Books: every character of every page is in the output or removed under a named reason, and
``curate audit`` proves it from the build's files."""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl
import pytest

from curate.build import pipeline, recipes
from curate.core import textbalance
from curate.core.audit import audit
from curate.core.ledger import Ledger
from curate.readers import FileRef, books

SAMPLES = Path(__file__).resolve().parents[2] / "samples" / "books"


def read_stats(path: Path, cfg: books.Config | None = None) -> tuple[list[dict], dict]:
    """Records and returned statistics of the books reader on one file."""
    gen = books.read_whole(FileRef(path, path.name, "books"), cfg or books.Config(), Ledger("books", "read"))
    records = []
    while True:
        try:
            records.append(next(gen))
        except StopIteration as stop:
            return records, stop.value


def test_character_definition_matches_the_shard_recount(tmp_path):
    texts = ["a b\tc\nd", "糖尿病\u3000患者 ", "x\u00a0y\u2003z\u200bw", "\x1c\x1d\x1e\x1fq", "", "ﬁ ① \u0085."]
    pl.DataFrame({"text": texts}).write_parquet(tmp_path / "s.parquet")
    assert textbalance.recount([tmp_path / "s.parquet"]) == sum(map(textbalance.characters, texts))
    assert textbalance.characters("a b\tc") == 3 and textbalance.characters("x\u200by") == 3


@pytest.mark.parametrize("name", ["hypertension_en.pdf", "tangniaobing_zh.pdf"])
def test_sample_books_balance_per_reason(name):
    records, stats = read_stats(SAMPLES / name)
    removed = textbalance.removed(stats)
    assert stats["text_in"] == stats["text_out"] + sum(removed.values())
    assert stats["text_out"] == sum(textbalance.characters(r["text"]) for r in records)
    for reason in ("table", "running_head", "page_number", "back_matter"):
        assert removed.get(reason, 0) > 0, reason


def test_audit_fails_when_text_is_removed_behind_the_ledgers_back(tmp_path):
    src = recipes.source_from_dict({"reader": "books", "inputs": [str(SAMPLES)]}, None, "books")
    spec = recipes.CorpusSpec(name="books", sources=(src,))
    root = tmp_path / "build"
    manifest = pipeline.run(spec, root, workers=1, tokenize_docs=False, progress=False).manifest
    stats = manifest["sources"]["books"]["stats"]
    assert stats["text_in"] == stats["text_out"] + sum(textbalance.removed(stats).values())
    report = audit(root)
    assert report.ok, report.problems
    assert any("text in" in line and "table" in line for line in report.lines)
    summary = (root / "report.md").read_text(encoding="utf-8")
    assert "## Text accounting: books" in summary and "| running_head |" in summary

    flow = json.loads((root / "flow.json").read_text())
    read = next(p for p in flow["books"]["passes"] if p["pass"] == "read")["shards"][0]
    frame = pl.read_parquet(root / read)
    first = frame["text"][0]
    frame = frame.with_columns(pl.when(pl.int_range(pl.len()) == 0).then(pl.lit(first[: len(first) // 2]))
                               .otherwise(pl.col("text")).alias("text"))
    frame.write_parquet(root / read)
    report = audit(root)
    assert not report.ok
    assert any("read records hold" in p for p in report.problems)


def test_books_recipe_scrubs_phi_by_default():
    root = Path(__file__).resolve().parents[2] / "recipes"
    assert recipes.load_source(root / "books.toml").scrub is not None
    books_source = next(s for s in recipes.load_corpus(root / "stage1.toml").sources if s.reader == "books")
    assert books_source.scrub is not None


def test_pages_losing_most_text_as_table_are_ledgered():
    from tests.readers.helpers import run_reader

    _, _, rows = run_reader("books", SAMPLES / "hypertension_en.pdf", books.Config(table_warning=0.01))
    warned = [r for r in rows if r["reason"] == "table_share"]
    assert warned and all("removed as table" in r["detail"] and "page" in r["detail"] for r in warned)
    _, _, rows = run_reader("books", SAMPLES / "hypertension_en.pdf")
    assert not [r for r in rows if r["reason"] == "table_share"]  # the sample's tables are a small share


def test_a_heading_with_nothing_under_it_before_the_references_is_counted_not_lost(tmp_path):
    """A section whose heading is followed straight by back matter (``3. Contributors`` then ``References``)
    gives no record; its title's characters are removed under ``empty_section``, and the book balances."""
    import pymupdf

    body = ("Applications must agree on the type of a file, and this specification says how they find it. "
            "Each rule is tried in order, and the first that matches gives the type.")
    doc = pymupdf.open()
    page = doc.new_page()
    y = 72
    for line in ("1. Introduction", *[body[i:i + 80] for i in range(0, len(body), 80)], "", "2. Rules",
                 *[body[i:i + 80] for i in range(0, len(body), 80)], "", "3. Contributors", "", "References",
                 "[1] Base Directory Specification, 2010.", "[2] Desktop Entry Specification, 2012."):
        if line:
            page.insert_text((72, y), line, fontsize=11)
        y += 16
    doc.set_toc([[1, "1. Introduction", 1], [1, "2. Rules", 1], [1, "3. Contributors", 1], [1, "References", 1]])
    path = tmp_path / "spec.pdf"
    doc.save(path)
    records, stats = read_stats(path)
    removed = textbalance.removed(stats)
    assert stats["text_in"] == stats["text_out"] + sum(removed.values())
    assert removed.get("empty_section") == textbalance.characters("3. Contributors")
    assert not any("Contributors" in r["text"] for r in records)
