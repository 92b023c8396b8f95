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


def _epub(path: Path, paragraphs: list[str]) -> Path:
    """A minimal EPUB 3 of one chapter holding ``paragraphs``."""
    import zipfile

    body = "".join(f"<p>{p}</p>" for p in paragraphs)
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("mimetype", "application/epub+zip", compress_type=zipfile.ZIP_STORED)
        z.writestr("META-INF/container.xml", '<?xml version="1.0"?><container version="1.0" xmlns="urn:oasis:'
                   'names:tc:opendocument:xmlns:container"><rootfiles><rootfile full-path="OEBPS/content.opf" '
                   'media-type="application/oebps-package+xml"/></rootfiles></container>')
        z.writestr("OEBPS/ch1.xhtml", '<?xml version="1.0" encoding="utf-8"?><html xmlns="http://www.w3.org/1999/'
                   f'xhtml"><head><title>Dosing</title></head><body><h1>Dosing</h1>{body}</body></html>')
        z.writestr("OEBPS/content.opf", '<?xml version="1.0"?><package xmlns="http://www.idpf.org/2007/opf" '
                   'version="3.0" unique-identifier="id"><metadata xmlns:dc="http://purl.org/dc/elements/1.1/">'
                   '<dc:identifier id="id">x</dc:identifier><dc:title>Dosing</dc:title><dc:language>en</dc:language>'
                   '</metadata><manifest><item id="ch1" href="ch1.xhtml" media-type="application/xhtml+xml"/>'
                   '</manifest><spine><itemref idref="ch1"/></spine></package>')
    return path


def test_a_reflowed_book_keeps_the_lines_its_pages_happen_to_repeat_at_their_top_or_foot(tmp_path):
    """An EPUB's pages are laid out by MuPDF: a line that recurs (a dose repeated after each case) may land in
    the header band of page after page, but it is text, not a running head, and none of it is removed."""
    cases = []
    for i in range(160):
        cases += [f"Case {i + 1}: an adult with fever and cough for {i % 9 + 2} days, seen at the clinic.",
                  "Take 5 mg twice a day."]
    records, stats = read_stats(_epub(tmp_path / "dosing.epub", cases))
    removed = textbalance.removed(stats)
    assert stats["text_in"] == stats["text_out"] + sum(removed.values())
    assert "running_head" not in removed and "page_number" not in removed and "footnote" not in removed
    assert "\n".join(r["text"] for r in records).count("Take 5 mg twice a day.") == 160


def test_a_books_build_without_a_recipe_scrubs_phi_left_in_the_text(tmp_path):
    """PHI scrubbing is on for books by default: an e-mail address inside a long paragraph (kept as prose,
    not cut as a contact block) becomes a placeholder, with a ledger row."""
    import pymupdf

    sentence = ("Questions about the protocol of this trial of blood pressure treatment in older adults go to the "
                "study office, reached at trials.office@example.org on every weekday, which answers within two "
                "days and keeps a record of each question and of the answer it gave. ")
    doc = pymupdf.open()
    page = doc.new_page()
    text = sentence * 3
    page.insert_textbox(pymupdf.Rect(72, 72, 520, 700), text, fontsize=10)
    (tmp_path / "in").mkdir()
    doc.save(tmp_path / "in" / "trial.pdf")
    src = recipes.source_from_dict({"reader": "books", "inputs": [str(tmp_path / "in")]}, None, "books")
    root = tmp_path / "build"
    pipeline.run(recipes.CorpusSpec(name="books", sources=(src,)), root, workers=1, tokenize_docs=False,
                 progress=False)
    out = pl.concat([pl.read_parquet(p) for p in sorted((root / "sources" / "books").glob("*/*.parquet"))
                     if p.parent.name in ("apply", "prepare")], how="diagonal_relaxed")
    texts = "\n".join(out["text"].to_list())
    assert "<EMAIL>" in texts and "@example.org" not in texts
    ledger = pl.read_parquet(root / "ledger.parquet")
    assert ledger.filter(pl.col("step") == "scrub").height >= 1


def test_a_file_whose_text_is_all_removed_says_so_and_why(tmp_path):
    """A page of reference entries alone (a list going on without its heading) leaves no body text: the
    ledger row says that its characters were removed and under which reasons, not that it had no text."""
    import pymupdf

    doc = pymupdf.open()
    page = doc.new_page()
    for i in range(12, 18):
        page.insert_text((60, 100 + 40 * (i - 12)), f"{i}. Author{i} J, Other K. A study of renal outcomes number "
                         f"{i}. Lancet. 20{i - 2};39{i % 10}:1{i % 10}-2{i % 10}.", fontsize=9)
    page.insert_text((290, 800), "57", fontsize=9)
    doc.save(tmp_path / "refs.pdf")
    ledger = Ledger("books", "read")
    assert list(books.read_whole(FileRef(tmp_path / "refs.pdf", "refs.pdf", "books"), books.Config(), ledger)) == []
    [(reason, detail)] = [(r[4], r[5]) for r in ledger.rows]
    assert reason == "no_text" and "were all removed (back matter" in detail and "page number 2" in detail
