"""Books: bad files, scanned pages, other formats, and whole builds through the pipeline and CLI."""

from __future__ import annotations

import importlib.util
import shutil
import subprocess
import sys
from pathlib import Path

import pyarrow.parquet as pq
import pymupdf
import pytest
from click.testing import CliRunner

from curate.build import pipeline, recipes
from curate.cli import main
from curate.core.audit import audit
from curate.readers import books
from tests.readers.helpers import run_reader

SAMPLES = Path(__file__).resolve().parents[2] / "samples" / "books"
ENGLISH = SAMPLES / "hypertension_en.pdf"


def _quarantine(rows: list[dict]) -> dict:
    (row,) = [r for r in rows if r["action"] == "quarantine"]
    return row


def test_zero_byte_file(tmp_path):
    (p := tmp_path / "empty.pdf").write_bytes(b"")
    docs, _, rows = run_reader("books", p)
    assert not docs and _quarantine(rows)["reason"] == "empty_file" and "0 bytes" in rows[0]["detail"]


def test_not_really_a_pdf(tmp_path):
    (p := tmp_path / "page.pdf").write_text("<html><body>Not found</body></html>")
    docs, _, rows = run_reader("books", p)
    row = _quarantine(rows)
    assert not docs and row["reason"] == "not_pdf" and "<html>" in row["detail"]


def test_truncated_or_broken_pdf(tmp_path):
    data = ENGLISH.read_bytes()
    (cut := tmp_path / "cut.pdf").write_bytes(data[:1000])
    docs, _, rows = run_reader("books", cut)
    assert not docs and _quarantine(rows)["reason"] == "corrupt_file"
    assert "damaged" in _quarantine(rows)["detail"]
    (junk := tmp_path / "junk.pdf").write_bytes(b"%PDF-1.7\n" + bytes(range(256)) * 8)
    docs, _, rows = run_reader("books", junk)
    assert not docs and _quarantine(rows)["reason"] == "corrupt_file"
    for frac in (3, 5, 7):  # MuPDF repairs what it can: what it reads is kept, and said
        (part := tmp_path / f"part{frac}.pdf").write_bytes(data[: len(data) * frac // 10])
        docs, _, rows = run_reader("books", part)
        reasons = {r["reason"] for r in rows if r["action"] in ("quarantine", "modify")}
        assert reasons & {"repaired_file", "corrupt_file", "page_error"}, frac


def test_encrypted_pdf_needs_the_password(tmp_path):
    enc = tmp_path / "locked.pdf"
    with pymupdf.open(ENGLISH) as doc:
        doc.save(enc, encryption=pymupdf.PDF_ENCRYPT_AES_256, user_pw="s3cret", owner_pw="owner")
    docs, _, rows = run_reader("books", enc)
    row = _quarantine(rows)
    assert not docs and row["reason"] == "encrypted" and "pass --pdf-password or remove it" in row["detail"]
    docs, _, rows = run_reader("books", enc, books.Config(pdf_password="wrong"))
    assert not docs and "does not open it" in _quarantine(rows)["detail"]
    docs, _, _ = run_reader("books", enc, books.Config(pdf_password="s3cret"))
    assert [d["text"] for d in docs] == [d["text"] for d in run_reader("books", ENGLISH)[0]]


def _scanned_book(path: Path) -> None:
    """Two text pages around two image-only pages (a scan without OCR)."""
    doc = pymupdf.open()
    pix = pymupdf.Pixmap(pymupdf.csGRAY, pymupdf.IRect(0, 0, 50, 70), False)
    pix.set_rect(pix.irect, (180,))
    text = ("Anaemia is a reduction of haemoglobin below the reference range for age and sex. It is a sign of "
            "disease rather than a diagnosis, and its cause is always sought. ") * 3
    for n in range(4):
        page = doc.new_page()
        if n in (1, 2):
            page.insert_image(page.rect, pixmap=pix)
        else:
            page.insert_textbox(pymupdf.Rect(72, 72, 520, 400), text, fontsize=11)
    doc.save(path)


def test_scanned_pages_are_counted_and_ledgered(tmp_path):
    _scanned_book(p := tmp_path / "scan.pdf")
    from curate.core.ledger import Ledger
    from curate.readers import FileRef

    ledger = Ledger("books", "read")
    gen = books.read_whole(FileRef(p, p.name, "books"), books.Config(), ledger)
    docs = []
    try:
        while True:
            docs.append(next(gen))
    except StopIteration as stop:
        stats = stop.value
    assert stats["pages"] == 4 and stats["pages_no_text"] == 2
    (row,) = ledger.rows
    assert row[0] == "books/scan.pdf#p2-3" and row[3:5] == ("drop", "no_text_layer")
    assert "OCR" in row[5]
    assert "reduction of haemoglobin" in docs[0]["text"] and docs[0]["meta"]["pages"] == [1, 4]


def test_unsupported_suffix_named_explicitly(tmp_path):
    (p := tmp_path / "notes.docx").write_bytes(b"PK\x03\x04")
    _, _, rows = run_reader("books", p)
    assert _quarantine(rows)["reason"] == "unsupported_format"


def test_fb2_book(tmp_path):
    p = tmp_path / "anaemia.fb2"
    p.write_text(
        '<?xml version="1.0" encoding="utf-8"?>\n'
        '<FictionBook xmlns="http://www.gribuser.ru/xml/fictionbook/2.0"><body>'
        "<section><title><p>Iron deficiency</p></title>"
        "<p>Iron deficiency is the commonest cause of anaemia worldwide. Blood loss and poor intake are the "
        "usual reasons, and the cause is sought before iron is given.</p></section></body></FictionBook>",
        encoding="utf-8")
    docs, _, rows = run_reader("books", p)
    assert not [r for r in rows if r["action"] == "quarantine"]
    text = "\n".join(d["text"] for d in docs)
    assert "Iron deficiency is the commonest cause of anaemia worldwide." in text
    assert docs[0]["meta"]["format"] == "fb2"


def test_bad_pdf_option_is_an_error():
    with pytest.raises(ValueError, match="pua_map"):
        books.Config(pua_map=("E000=1",))
    with pytest.raises(ValueError, match="table_finder"):
        books.Config(table_finder="magic")


@pytest.fixture(scope="module")
def mixed(tmp_path_factory):
    """A folder with the samples and one file of each bad kind."""
    root = tmp_path_factory.mktemp("books")
    for p in SAMPLES.glob("*.pdf"):
        shutil.copy(p, root / p.name)
    (root / "empty.pdf").write_bytes(b"")
    (root / "fake.pdf").write_text("not a pdf at all")
    data = ENGLISH.read_bytes()
    (root / "cut.pdf").write_bytes(data[:1000])
    _scanned_book(root / "scan.pdf")
    return root


def test_build_goes_on_past_bad_files_and_balances(mixed, tmp_path):
    src = recipes.source_from_dict({"reader": "books", "inputs": [str(mixed)],
                                    "options": {"pua_map": ["U+E000..U+E009=0123456789"]}}, None, "test")
    spec = recipes.CorpusSpec(name="books", sources=(src,))
    result = pipeline.run(spec, tmp_path / "b", workers=1, tokenize_docs=False, progress=False)
    assert audit(result.root).ok
    ledger = pq.read_table(result.root / "ledger.parquet").to_pylist()
    quarantined = {r["id"]: r["reason"] for r in ledger if r["action"] == "quarantine"}
    assert quarantined == {"books/empty.pdf": "empty_file", "books/fake.pdf": "not_pdf",
                           "books/cut.pdf": "corrupt_file"}
    stats = result.manifest["sources"]["books"]["stats"]
    assert stats["pages"] == 6 + 5 + 4 + 6  # the cut copy still lists its 6 pages, all empty
    assert stats["pages_no_text"] == 2 and stats["tables_removed"] == 2
    assert result.manifest["sources"]["books"]["records_out"] > 10


def test_cli_build_books(tmp_path):
    result = CliRunner().invoke(main, ["build", "books", "--input", str(SAMPLES), "--out", str(tmp_path),
                                       "--pdf-password", "unused", "--set", "max_chars=2000", "--workers", "1"])
    assert result.exit_code == 0, result.output
    assert "pages" in result.output and "tables_removed" in result.output
    assert CliRunner().invoke(main, ["audit", str(tmp_path / "books")]).exit_code == 0


def test_build_books_from_the_recipe(tmp_path):
    recipe = Path(__file__).resolve().parents[2] / "recipes" / "books.toml"
    assert recipes.load_source(recipe).options == books.Config(pua_map=("U+E000..U+E009=0123456789",))
    result = CliRunner().invoke(main, ["build", "books", "--recipe", str(recipe), "--out", str(tmp_path),
                                       "--workers", "1", "--tokenizer", "bundled"])
    assert result.exit_code == 0, result.output
    assert CliRunner().invoke(main, ["audit", str(tmp_path / "books")]).exit_code == 0
    ledger = pq.read_table(tmp_path / "books" / "ledger.parquet").to_pylist()
    assert not [r for r in ledger if r["action"] == "quarantine"]
    assert {r["reason"] for r in ledger if r["step"] == "read" and r["action"] == "drop"} == {
        "back_matter", "table_of_contents"}


def test_reader_imports_pymupdf_without_its_layout_model():
    if importlib.util.find_spec("pymupdf.layout") is None:
        pytest.skip("pymupdf's layout package is not installed")
    code = ("import sys, curate.readers.books, pymupdf; print({'pymupdf.layout', 'pymupdf4llm'} & set(sys.modules)); "
            "import pymupdf4llm, pymupdf.layout; print(callable(pymupdf._get_layout))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["set()", "True"]  # not loaded by the reader, still there for who asks
