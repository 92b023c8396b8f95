"""Encoding detection and record iteration survive bad bytes and bad lines."""

import gzip
import json

import pytest

from curate.text import textio
from curate.text.textio import NotText, Problem


def test_sniff_encoding():
    assert textio.sniff_encoding("发热".encode()) == "utf-8"
    assert textio.sniff_encoding(b"\xef\xbb\xbf" + "发热".encode()) == "utf-8-sig"
    assert textio.sniff_encoding("发热咳嗽，乏力".encode("gb18030")) == "gb18030"
    assert textio.sniff_encoding("发热".encode("utf-16")) == "utf-16"
    with pytest.raises(NotText, match="NUL") as err:
        textio.sniff_encoding(b"\x89PNG\r\n\x1a\n\x00\x00")
    assert err.value.reason == "binary_file"


def test_mostly_utf8_file_is_read_line_by_line(tmp_path):
    p = tmp_path / "a.jsonl"
    good = json.dumps({"q": "发热怎么办"}, ensure_ascii=False).encode()
    p.write_bytes(good + b"\n" + b'{"q": "\x80\x81\x8d\x8f\x90\x9d\xff\xfe"}\n' + good + b"\n"
                  + b'{"q": "caf\xe9"}\n')
    lines = list(textio.iter_lines(p))
    assert [n for n, _ in lines] == [1, 2, 3, 4]
    assert isinstance(lines[1][1], Problem) and "line 2" in lines[1][1].message
    assert lines[0][1] == lines[2][1] == good.decode()
    assert lines[3][1] == '{"q": "café"}'  # a Latin-1 line in a UTF-8 file, decoded in its own encoding


def test_gb18030_records(tmp_path):
    p = tmp_path / "zh.csv"
    p.write_bytes("question,answer\n高血压吃什么药,\"遵医嘱，常用ACEI、ARB\"\n".encode("gb18030"))
    assert list(textio.iter_records(p)) == [("L2", {"question": "高血压吃什么药", "answer": "遵医嘱，常用ACEI、ARB"})]


def test_jsonl_with_broken_lines(tmp_path):
    p = tmp_path / "x.jsonl"
    p.write_text('{"a": 1}\n{"a": \n[1, 2]\n\n{"a": 3}\n')
    items = list(textio.iter_records(p))
    assert items[0] == ("L1", {"a": 1}) and items[-1] == ("L5", {"a": 3})
    assert items[1][1].reason == "malformed_json" and "line 2" in items[1][1].message
    assert items[2][1].reason == "malformed_record"


def test_json_shapes(tmp_path):
    array = tmp_path / "array.json"
    array.write_text(json.dumps([{"a": 1}, 2]))
    assert [i[1] if isinstance(i[1], dict) else i[1].reason for i in textio.iter_records(array)] == [
        {"a": 1}, "malformed_record"]
    keyed = tmp_path / "keyed.json"
    keyed.write_text(json.dumps({"123": {"QUESTION": "q"}}))
    assert list(textio.iter_records(keyed)) == [("key=123", {"_key": "123", "QUESTION": "q"})]
    lines = tmp_path / "lines.json"  # JSON lines named .json, as PromptCBLUE ships them
    lines.write_text('{"a": 1}\n{"a": 2}\n')
    assert [r for _, r in textio.iter_records(lines)] == [{"a": 1}, {"a": 2}]


def test_gzip_records(tmp_path):
    p = tmp_path / "x.jsonl.gz"
    with gzip.open(p, "wt") as f:
        f.write('{"a": 1}\n')
    assert list(textio.iter_records(p)) == [("L1", {"a": 1})]


@pytest.mark.parametrize(
    ("content", "name", "reason"),
    [
        (b"", "empty.jsonl", "empty_file"),
        (b"\n  \n", "blank.jsonl", "empty_file"),
        (bytes(range(256)) * 4, "binary.jsonl", "binary_file"),
        (b"PK\x03\x04\x14\x00\x06\x00", "x.xlsx", "binary_file"),
        (b"plain prose, not records\nanother line\n", "notes.txt", "unsupported_format"),
        (b"{not json", "bad.json", "malformed_json"),
    ],
)
def test_unreadable_files(tmp_path, content, name, reason):
    p = tmp_path / name
    p.write_bytes(content)
    with pytest.raises(NotText) as err:
        list(textio.iter_records(p))
    assert err.value.reason == reason
    assert str(err.value)


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ('{"问": "发热怎么办", "答": "多喝水"}\n{"问": "咳嗽", "答": "就医"}\n', [{"问": "发热怎么办", "答": "多喝水"},
                                                                     {"问": "咳嗽", "答": "就医"}]),
        ('[{"q": "a"},\n {"q": "b"}]', [{"q": "a"}, {"q": "b"}]),
        ('{\n "k1": {"q": "a"}\n}', [{"_key": "k1", "q": "a"}]),
        ("问题\t答案\n发热\t多喝水\n", [{"问题": "发热", "答案": "多喝水"}]),
        ("q,a\n1,2\n", [{"q": "1", "a": "2"}]),
    ],
    ids=["jsonl", "json-array", "json-object", "tsv", "csv"],
)
def test_records_whatever_the_suffix(tmp_path, content, expected):
    p = tmp_path / "data.txt"
    p.write_text(content, encoding="utf-8")
    assert [row for _, row in textio.iter_records(p)] == expected


def test_csv_field_count_mismatch(tmp_path):
    p = tmp_path / "x.csv"
    p.write_text("q,a\n1,2\n3\n4,5\n")
    items = list(textio.iter_records(p))
    assert items[0][1] == {"q": "1", "a": "2"} and items[2][1] == {"q": "4", "a": "5"}
    assert items[1][1].reason == "malformed_record"


def test_csv_quoted_newlines_and_blank_lines(tmp_path):
    p = tmp_path / "x.csv"
    p.write_text('q,a\n"line one\nline two",x\n\n"single",y\n')
    assert list(textio.iter_records(p)) == [("L2", {"q": "line one\nline two", "a": "x"}),
                                           ("L5", {"q": "single", "a": "y"})]
