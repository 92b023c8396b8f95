"""Books in page ranges (parallel read tasks, one finish) and damaged pages, on generated PDFs."""

from __future__ import annotations

import importlib.util
import json
import random
import sys
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pymupdf

from curate.build import pipeline, recipes
from curate.core.audit import audit
from curate.readers import books
from tests.readers.helpers import run_reader

SAMPLES = Path(__file__).resolve().parents[2] / "samples" / "books"
WORDS = ("patients treatment blood pressure kidney insulin glucose therapy dose clinical diagnosis infection "
         "chronic acute risk renal serum symptoms disease management monitoring follow-up long-term").split()


def _typeset():
    spec = importlib.util.spec_from_file_location("typeset", SAMPLES / "typeset.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("typeset", module)
    spec.loader.exec_module(module)
    return module


def _book(path: Path, pages: int = 14) -> Path:
    """A two-column book with an outline, running heads, page numbers, tables, a figure and references."""
    typeset = _typeset()
    rng = random.Random(5)
    book = typeset.Book(heads=("Generated Handbook", "Chapter"), first_number=1)
    chapter = 0
    while book.doc.page_count < pages:
        chapter += 1
        book.chapter(f"Chapter {chapter} Disorder {chapter}")
        for section in range(1, 4):
            book.heading(f"{chapter}.{section} Clinical features", level=2)
            for k in range(4):
                book.paragraph(" ".join(" ".join(rng.choices(WORDS, k=14)).capitalize() + "." for _ in range(5)))
                if k == 1 and section == 2:
                    book.table(f"Table {chapter}-{section} Doses", [["Drug", "Dose", "Unit"], ["Aspirin", "75", "mg"],
                                                                   ["Heparin", "5000", "u"]])
                if k == 2 and section == 3:
                    book.figure(f"Figure {chapter}-{section} Course", ["axis", "time"])
    book.heading("References", level=1)
    for i in range(6):
        book.paragraph(f"[{i + 1}] Author A. Title of a reference {i}. Journal. 2020;{i}:1-9.", size=8.0)
    book.save(str(path), "Generated book")
    return path


def _build(tmp: Path, name: str, folder: Path, part_bytes: int, workers: int = 2) -> Path:
    src = recipes.source_from_dict({"reader": "books", "inputs": [str(folder)], "options": {"part_pages": 2}},
                                   None, "test")
    root = tmp / name
    pipeline.run(recipes.CorpusSpec(name="books", sources=(src,)), root, workers=workers, tokenize_docs=False,
                 progress=False, part_bytes=part_bytes)
    return root


def _records(root: Path) -> list[dict]:
    flow = json.loads((root / "flow.json").read_text())
    return pa.concat_tables([pq.read_table(root / p) for p in flow["books"]["passes"][-1]["shards"]]).to_pylist()


def test_parts_cover_the_book_in_ranges_only_when_long():
    path = SAMPLES / "hypertension_en.pdf"  # 6 pages
    ranges = books.parts(path, books.Config(part_pages=2), 1 << 20)
    assert [(r["start"], r["stop"]) for r in ranges] == [(0, 2), (2, 4), (4, 6)]
    assert all(r["glyphs"] == ranges[0]["glyphs"] for r in ranges)  # the book's glyph map, inferred once
    json.dumps(ranges)  # descriptors stay plain data
    assert books.parts(path, books.Config(part_pages=4), 1 << 20) is None  # fewer than twice part_pages
    assert books.parts(path, books.Config(part_pages=2), 0) is None  # the build does not cut files


def test_a_book_read_in_page_ranges_gives_the_same_build(tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    _book(folder / "handbook.pdf")
    for name in ("hypertension_en.pdf", "tangniaobing_zh.pdf"):  # the second needs its glyph map inferred
        (folder / name).write_bytes((SAMPLES / name).read_bytes())
    assert len(books.parts(folder / "handbook.pdf", books.Config(part_pages=2), 1)) >= 6
    whole = _build(tmp_path, "whole", folder, part_bytes=0, workers=1)
    cut = _build(tmp_path, "cut", folder, part_bytes=1)
    assert len(list((cut / "sources" / "books" / "read" / ".pieces").glob("handbook*.pkl"))) >= 6  # ranges read apart
    assert (whole / "ledger.parquet").read_bytes() == (cut / "ledger.parquet").read_bytes()
    assert _records(whole) == _records(cut) and len(_records(cut)) > 5
    manifest = [json.loads((r / "manifest.json").read_text())["sources"]["books"]["stats"] for r in (whole, cut)]
    assert manifest[0] == manifest[1] and manifest[1]["pages"] == manifest[1]["pages_in"]
    assert manifest[1]["running_heads_removed"] > 0 and manifest[1]["tables_removed"] > 0
    assert audit(cut).ok and audit(whole).ok
    reasons = pq.read_table(cut / "ledger.parquet").column("reason").to_pylist()
    assert {"glyph_map", "unmapped_glyph", "back_matter"} <= set(reasons)


def test_a_cut_book_infers_its_glyph_map_once_for_all_its_ranges(tmp_path, monkeypatch):
    """The glyph map is inferred when the book is cut and handed to every range (none infers it again): the
    same records and ledger as a whole-file read."""
    from curate.core.ledger import Ledger
    from curate.readers import FileRef
    from curate.readers.pdf import pages as pdfpages
    from curate.readers.pdf import plan as pdfplan

    folder = tmp_path / "in"
    folder.mkdir()
    path = folder / "zh.pdf"
    path.write_bytes((SAMPLES / "tangniaobing_zh.pdf").read_bytes())  # digits without Unicode
    calls = []
    real = pdfplan.glyph_map
    monkeypatch.setattr(pdfplan, "glyph_map", lambda doc, overrides: calls.append(1) or real(doc, overrides))
    ranges = books.parts(path, books.Config(part_pages=2), 1)
    assert len(ranges) == 2 and len(calls) == 1
    ends = [p for r in ranges for p in books.read(FileRef(path, "zh.pdf", "books", r), books.Config(part_pages=2),
                                                  Ledger("books", "read")) if isinstance(p, pdfpages.End)]
    assert len(calls) == 1  # no range inferred it again
    used = [e.glyphs for e in ends if e.glyphs is not None]
    assert used and all(g == pdfplan.GlyphMap.from_part(ranges[0]["glyphs"]) for g in used)
    monkeypatch.undo()
    whole = _build(tmp_path, "whole", folder, part_bytes=0, workers=1)
    cut = _build(tmp_path, "cut", folder, part_bytes=1, workers=2)
    assert len(list((cut / "sources" / "books" / "read" / ".pieces").glob("zh*.pkl"))) == 2
    assert (whole / "ledger.parquet").read_bytes() == (cut / "ledger.parquet").read_bytes()
    assert _records(whole) == _records(cut)
    assert "glyph_map" in pq.read_table(cut / "ledger.parquet").column("reason").to_pylist()
    assert any(c.isdigit() for r in _records(cut) for c in r["text"])


def test_one_worker_reads_a_long_book_whole(tmp_path):
    """Cutting a book is for parallel workers: one worker reads it whole (no pieces round trip)."""
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "zh.pdf").write_bytes((SAMPLES / "tangniaobing_zh.pdf").read_bytes())
    root = _build(tmp_path, "one", folder, part_bytes=1, workers=1)
    assert not (root / "sources" / "books" / "read" / ".pieces").exists()
    assert json.loads((root / "manifest.json").read_text())["sources"]["books"]["stats"]["pages"] == 5


def test_a_glyph_map_goes_through_a_range_descriptor_unchanged():
    from curate.readers.pdf import plan as pdfplan

    with pymupdf.open(SAMPLES / "tangniaobing_zh.pdf") as doc:
        gm = pdfplan.glyph_map(doc, {0xE100: "x"})
    assert gm.table and gm.reports
    part = json.loads(json.dumps(gm.to_part()))  # as plain data: JSON or a pickle
    back = pdfplan.GlyphMap.from_part(part)
    assert back == gm and list(back.table) == list(gm.table) and list(back.per_font) == list(gm.per_font)


def _damaged(path: Path, sentence: str = "The {} page begins with this sentence of body text.") -> Path:
    """Three pages of ``sentence`` (``{}``: first, second, third), the second's content stream broken."""
    doc = pymupdf.open()
    for word in ("first", "second", "third"):
        page = doc.new_page()
        page.insert_text((72, 300), sentence.format(word), fontsize=11)
    xref = doc[1].get_contents()[0]
    stream = doc.xref_stream(xref)
    cut = len(stream) // 3
    doc.update_stream(xref, stream[:cut] + b" ) ] >> <</Broken [[[ " + b"\x00\xff" * 9 + stream[cut:])
    doc.save(path)
    return path


def test_damaged_content_stream_gives_a_damaged_page_row(tmp_path):
    docs, _, rows = run_reader("books", _damaged(tmp_path / "damaged.pdf"))
    text = "\n".join(d["text"] for d in docs)
    assert "The first page begins" in text and "The third page" in text and "The second page" not in text
    damaged = [r for r in rows if r["reason"] == "damaged_page"]
    assert [r["id"].split("#")[1] for r in damaged] == ["p2"]
    assert "nothing could be read" in damaged[0]["detail"] and "syntax error" in damaged[0]["detail"]
    clean, _, rows = run_reader("books", SAMPLES / "hypertension_en.pdf")
    assert clean and not [r for r in rows if r["reason"] in ("damaged_page", "damaged_font")]


def test_finish_adds_up_what_each_page_range_saw():
    from curate.core.ledger import Ledger
    from curate.readers import FileRef
    from curate.readers.pdf import pages as pdfpages

    ref = FileRef(SAMPLES / "hypertension_en.pdf", "book.pdf", "books")
    pieces = [pdfpages.Start([], "A book", 40, False), pdfpages.End({0xE001: [3, "first"]}),
              pdfpages.Skipped(21), pdfpages.End({0xE001: [2, "second"], 0xE002: [1, "other"]})]
    ledger = Ledger("books", "read")
    gen = books.finish(ref, books.Config(), ledger, iter(pieces))
    try:
        while True:
            next(gen)
    except StopIteration as stop:
        stats = stop.value
    assert stats["pages_in"] == 40 and stats["pages_unreadable"] == 1
    (row,) = [r for r in ledger.rows if r[4] == "unmapped_glyph"]
    assert "U+E001×5 (e.g. 'first')" in row[5] and "U+E002×1 (e.g. 'other')" in row[5]


def test_warnings_of_reads_through_clips_are_not_the_pages(tmp_path, monkeypatch):
    """Blocks read again through a clip (superscript marks) make MuPDF warn about tagged text the clip cuts
    ("ActualText with no position"): those are set aside, while a page's own damage is still reported."""
    from curate.readers.pdf import layout

    real = layout.superscripts

    def warning_superscripts(page, clips):
        found = real(page, clips)
        pymupdf.JM_mupdf_warnings_store.append("ActualText with no position. Text may be lost or mispositioned.")
        return found

    monkeypatch.setattr(layout, "superscripts", warning_superscripts)
    path = _damaged(tmp_path / "tagged.pdf", "The {} page says that most studies12 agree on the dose.")
    docs, _, rows = run_reader("books", path)
    assert "The first page says" in "\n".join(d["text"] for d in docs)
    damaged = [r for r in rows if r["reason"] == "damaged_page"]
    assert [r["id"].split("#")[1] for r in damaged] == ["p2"]
    assert "ActualText" not in damaged[0]["detail"] and "syntax error" in damaged[0]["detail"]


def test_an_unmapped_glyph_is_ledgered_once_per_font_and_a_nameless_font_is_named_so():
    """Two fonts without a name (Type3 fonts of a browser-printed PDF) that leave one code unmapped give one
    entry, under a name that says the font has none."""
    from collections import Counter

    from curate.core.ledger import Ledger
    from curate.readers import FileRef, books
    from curate.readers.pdf import plan as pdfplan

    gm = pdfplan.GlyphMap(unmapped={0: ["", ""], 0xE000: ["Body"]})
    ledger, stats = Ledger("books", "read"), Counter()
    seen = {0: [590, "Rust  一门"], 0xE000: [2, "a b"]}
    books._glyph_rows(FileRef(Path("x.pdf"), "x.pdf", "books"), ledger, gm, seen, stats)
    details = sorted(row[5] for row in ledger.rows)
    assert len(details) == 2
    assert "font '(a font without a name)': U+0000×590 (e.g. 'Rust  一门') removed" in details[0]
    assert details[0].count("U+0000") == 1 and "font 'Body': U+E000×2" in details[1]


def test_a_long_book_goes_into_several_shards_in_order(tmp_path, monkeypatch):
    """A book read in page ranges with more text than ``SHARD_TEXT`` writes several record shards (the passes
    after the read then share it between the workers): the same records, in the same order, as in one
    shard; a book read whole stays one shard."""
    folder = tmp_path / "in"
    folder.mkdir()
    _book(folder / "handbook.pdf")
    one = _build(tmp_path, "one", folder, part_bytes=1)
    monkeypatch.setattr(books, "SHARD_TEXT", 3_000)
    several = _build(tmp_path, "several", folder, part_bytes=1)
    shards = json.loads((several / "flow.json").read_text())["books"]["passes"][-1]["shards"]
    assert len(shards) >= 3 and len(json.loads((one / "flow.json").read_text())["books"]["passes"][-1]["shards"]) == 1
    assert _records(one) == _records(several)
    assert (one / "ledger.parquet").read_bytes() == (several / "ledger.parquet").read_bytes()
    assert audit(several).ok
    whole = _build(tmp_path, "whole", folder, part_bytes=0)
    assert len(json.loads((whole / "flow.json").read_text())["books"]["passes"][-1]["shards"]) == 1
