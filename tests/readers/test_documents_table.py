"""Plain JSON lines are read a whole part at a time into columns, with the records, ids, shards and ledger
of the line-by-line reader; anything that reader would treat apart is left to it."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from curate.core import records
from curate.core.executor import Task
from curate.readers import FileRef, ReadConfig, documents, read_task
from curate.readers.documents import Config
from curate.text import jsonrecords, parts


def _line(obj: object) -> str:
    return json.dumps(obj, ensure_ascii=False)


PLAIN = [_line({"text": f"document {i}: 高血压 dose {i} mg", "n": i}) for i in range(12)]

# (name, lines or raw bytes, whether the column reader takes it)
CASES = [
    ("plain", PLAIN, True),
    ("string ids, empty and missing ones", [_line({"text": "a", "id": "x-1"}), _line({"text": "b", "id": ""}),
                                            _line({"text": "c"}), _line({"text": "d", "id": None})], True),
    ("integer ids", [_line({"text": "a", "id": 7}), _line({"text": "b", "id": -3}), _line({"text": "c", "id": 0})],
     True),
    ("float ids", [_line({"text": "a", "id": 1.0}), _line({"text": "b", "id": 2.5})], False),
    ("lang given, empty and missing", [_line({"text": "a", "lang": "en"}), _line({"text": "b", "lang": ""}),
                                       _line({"text": "c"})], True),
    ("lang not text", [_line({"text": "a", "lang": 5}), _line({"text": "b", "lang": 6})], True),
    ("meta given", [_line({"text": "a", "meta": {"page": 3}}), _line({"text": "b"})], False),
    ("meta all null", [_line({"text": "a", "meta": None}), _line({"text": "b"})], True),
    ("nested extra fields", [_line({"text": "a", "x": {"y": [1, 2], "z": "w"}}), _line({"text": "b", "x": None})],
     True),
    ("escapes", ['{"text": "caf\\u00e9 \\/ \\"q\\" \\u0000 end"}', '{"text": "line\\nbreak\\ttab"}'], True),
    ("escaped surrogate pair", ['{"text": "smile \\ud83d\\ude00"}'], False),
    ("lone escaped surrogate", ['{"text": "bad \\ud800 x"}', _line({"text": "ok"})], False),
    ("last line without newline", b'{"text": "a"}\n{"text": "b"}', True),
    ("leading and trailing spaces", ['  {"text": "a"}  ', _line({"text": "b"})], True),
    ("CRLF line endings", b'{"text": "a"}\r\n{"text": "b"}\r\n', False),
    ("a BOM", b'\xef\xbb\xbf{"text": "a"}\n{"text": "b"}\n', False),
    ("a raw tab", [_line({"text": "a"}), '{"text":\t"b"}'], False),
    ("a blank line", [_line({"text": "a"}), "", _line({"text": "b"})], False),
    ("a line of spaces", [_line({"text": "a"}), "   ", _line({"text": "b"})], False),
    ("two objects on one line", ['{"text": "a"}{"text": "b"}', _line({"text": "c"})], False),
    ("a broken line", [_line({"text": "a"}), '{"text": "bro', _line({"text": "c"})], False),
    ("text not a string", [_line({"text": "a"}), _line({"text": 5}), _line({"text": ["x"]})], False),
    ("no text field", [_line({"text": "a"}), _line({"body": "b"})], False),
    ("null text", [_line({"text": "a"}), _line({"text": None})], False),
    ("duplicate keys", ['{"text": "a", "text": "b"}'], False),
    ("not an object", [_line({"text": "a"}), "[1, 2]"], False),
    ("NaN in another field", ['{"text": "a", "x": NaN}'], True),
    ("nested past the limit", ['{"text": "a", "x": ' + "[" * 3000 + "]" * 3000 + "}"], False),
    ("undecodable bytes", b'{"text": "a"}\n{"text": "\xff\xfe"}\n', False),
    ("GB18030 file", ('{"text": "高血压患者"}\n' * 3).encode("gb18030"), False),
]


def _write(path: Path, content: list[str] | bytes) -> Path:
    path.write_bytes(content if isinstance(content, bytes) else ("\n".join(content) + "\n").encode("utf-8"))
    return path


PLAIN_CONFIG = Config(detect_lang=False)


def _read(path: Path, out: Path, part: dict | None = None, cfg: Config = PLAIN_CONFIG,
          shard_records: int = 50_000) -> tuple[list[dict], list[dict], dict, list[str]]:
    spec = ReadConfig("docs", "documents", cfg, (path.name,), part=part, shard_records=shard_records)
    res = read_task(Task("docs/read", read_task, (str(path),), str(out), "r", spec))
    rows = [r for name in res.outputs["records"] for r in pq.read_table(out / name).to_pylist()]
    ledger = [r for name in res.outputs["ledger"] for r in pq.read_table(out / name).to_pylist()]
    return rows, ledger, res.stats, [n for n in res.outputs["records"]]


def _both(tmp_path: Path, path: Path, monkeypatch: pytest.MonkeyPatch, **kw: object) -> tuple:
    fast = _read(path, tmp_path / "fast", **kw)
    with monkeypatch.context() as m:
        m.setattr(documents, "read_table", lambda ref, cfg: None)
        slow = _read(path, tmp_path / "slow", **kw)
    return fast, slow


@pytest.mark.parametrize(("name", "content", "columnar"), CASES, ids=[c[0] for c in CASES])
def test_the_column_reader_gives_the_line_readers_records(tmp_path, monkeypatch, name, content, columnar):
    path = _write(tmp_path / "in.jsonl", content)
    taken = documents.read_table(FileRef(path, "in.jsonl", "docs"), Config(detect_lang=False)) is not None
    assert taken == columnar, f"{name}: the column reader {'refused' if columnar else 'took'} it"
    fast, slow = _both(tmp_path, path, monkeypatch)
    assert fast == slow


def test_parts_keep_the_line_numbers_of_the_whole_file(tmp_path, monkeypatch):
    lines = [_line({"text": f"document number {i} " + "词" * (i % 50)}) for i in range(3000)]
    path = _write(tmp_path / "big.jsonl", lines)
    cuts = parts.record_parts(path, 16 << 10)
    assert cuts and len(cuts) > 4
    for k, part in enumerate(cuts):
        assert jsonrecords.jsonl_table(path, "text", part) is not None
        fast, slow = _both(tmp_path / f"p{k}", path, monkeypatch, part=part)
        assert fast == slow
        assert fast[0][0]["id"] == f"docs/big.jsonl#L{part['line']}"


def test_shards_are_cut_where_the_line_reader_cuts_them(tmp_path, monkeypatch):
    path = _write(tmp_path / "in.jsonl", PLAIN)
    fast, slow = _both(tmp_path, path, monkeypatch, shard_records=5)
    assert fast[3] == slow[3] == ["r-00000.parquet", "r-00001.parquet", "r-00002.parquet"]
    assert fast == slow


def test_detected_languages_match(tmp_path, monkeypatch):
    path = _write(tmp_path / "in.jsonl", [_line({"text": "高血压患者每日服用药物"}),
                                          _line({"text": "The patient was febrile."}),
                                          _line({"text": "x", "lang": "fr"})])
    fast, slow = _both(tmp_path, path, monkeypatch, cfg=Config(detect_lang=True))
    assert fast == slow
    assert [r["lang"] for r in fast[0]] == ["zh", "en", "fr"]


def test_the_table_has_the_document_schema(tmp_path):
    path = _write(tmp_path / "in.jsonl", PLAIN)
    table = documents.read_table(FileRef(path, "in.jsonl", "docs"), Config(detect_lang=False))
    assert isinstance(table, pa.Table) and table.schema == records.DOCUMENT
    assert table.num_rows == len(PLAIN)


def test_an_unreadable_file_is_left_to_the_line_reader(tmp_path, monkeypatch):
    """An error opening the file is the line reader's to ledger; the column reader must not raise it."""
    path = _write(tmp_path / "in.jsonl", PLAIN)

    def refuse(*args, **kwargs):
        raise PermissionError(13, "Permission denied", str(path))

    monkeypatch.setattr(jsonrecords, "open", refuse, raising=False)
    assert documents.read_table(FileRef(path, "in.jsonl", "docs"), PLAIN_CONFIG) is None
