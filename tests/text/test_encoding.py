"""Encoding and damage handling of raw files: stray NULs, mixed encodings, Western text, cut gzip."""

import gzip
import json

import pytest

from curate.text import encoding, textio
from curate.text.textio import NotText, Problem


def _qa(tag: str, i: int, zh: bool = False) -> bytes:
    q = f"头痛三天怎么办 {tag}{i}？" if zh else f"What treats anaemia {tag}{i}?"
    return json.dumps({"question": q, "answer": f"rest {tag}{i}a"}, ensure_ascii=False).encode()


def test_a_nul_byte_in_one_csv_row_is_that_row_only(tmp_path):
    p = tmp_path / "nul.csv"
    p.write_bytes(b"question,answer\nWhat treats anaemia n1?,Iron\nBad n2?,x\x00y\nWhat treats gout n3?,Colchicine\n")
    got = list(textio.iter_records(p))
    assert [loc for loc, _ in got] == ["L2", "L3", "L4"]
    assert got[0][1] == {"question": "What treats anaemia n1?", "answer": "Iron"}
    assert got[2][1] == {"question": "What treats gout n3?", "answer": "Colchicine"}
    assert isinstance(got[1][1], Problem) and got[1][1].reason == "nul_bytes" and "line 3" in got[1][1].message
    assert textio.count_units(p) == 3


def test_nul_bytes_in_one_json_line_are_that_line_only(tmp_path):
    p = tmp_path / "nul.jsonl"
    p.write_bytes(b"\n".join([_qa("z", 1), b'{"question": "x\x00\x00 z2?", "answer": "y"}', _qa("z", 3)]) + b"\n")
    got = list(textio.iter_records(p))
    assert isinstance(got[1][1], Problem) and got[1][1].reason == "nul_bytes"
    assert [r["question"] for _, r in (got[0], got[2])] == ["What treats anaemia z1?", "What treats anaemia z3?"]


def test_binary_files_are_still_refused_whole():
    for data in (b"\x89PNG\r\n\x1a\n\x00\x00", bytes(range(256)) * 4, b"\x00\x01\x02" * 200 + b"text\n" * 10):
        with pytest.raises(NotText) as err:
            textio.sniff_encoding(data)
        assert err.value.reason == "binary_file"


def test_one_gbk_line_in_a_utf8_file_is_read_in_its_own_encoding(tmp_path):
    lines = [_qa("g", i, zh=True) for i in range(1, 7)]
    lines[3] = json.dumps({"question": "胃痛怎么办 g4？", "answer": "就医"}, ensure_ascii=False).encode("gbk")
    p = tmp_path / "mixed.jsonl"
    p.write_bytes(b"\n".join(lines) + b"\n")
    got = [r for _, r in textio.iter_records(p)]
    assert [r["question"] for r in got] == [f"头痛三天怎么办 g{i}？" for i in (1, 2, 3)] + ["胃痛怎么办 g4？"] + [
        f"头痛三天怎么办 g{i}？" for i in (5, 6)]


def test_a_utf8_line_in_a_gb18030_file_is_not_garbled(tmp_path):
    lines = [_qa("u", i, zh=True).decode().encode("gb18030") for i in range(1, 6)]
    lines[2] = _qa("u", 3, zh=True)
    p = tmp_path / "gb.jsonl"
    p.write_bytes(b"\n".join(lines) + b"\n")
    assert textio.sniff_encoding(p.read_bytes()) == "gb18030"
    assert [r["question"] for _, r in textio.iter_records(p)] == [f"头痛三天怎么办 u{i}？" for i in range(1, 6)]


@pytest.mark.parametrize("text", ["Quelle fièvre est normale l{i}?,Moins de 38 degrés l{i}a.",
                                  "Äußerst gefährliche Übelkeit l{i}?,Arzt l{i}a.",
                                  "¿Qué es la anemia l{i}?,Falta de hierro señal l{i}a."])
def test_western_text_is_not_read_as_gb18030(tmp_path, text):
    p = tmp_path / "west.csv"
    rows = [text.format(i=i) for i in range(1, 4)]
    p.write_bytes(("question,answer\n" + "\n".join(rows) + "\n").encode("cp1252"))
    assert textio.sniff_encoding(p.read_bytes()) == "cp1252"
    got = [f"{r['question']},{r['answer']}" for _, r in textio.iter_records(p)]
    assert got == rows  # byte-for-byte the source text


def test_chinese_text_still_reads_as_gb18030():
    for text in ("发热咳嗽，乏力", "高血压吃什么药？遵医嘱，常用ACEI、ARB。", "頭痛發熱怎麼辦？多休息。"):
        assert encoding.guess(text.encode("gb18030")) == "gb18030"


def test_japanese_shift_jis_is_not_read_as_gb18030():
    with pytest.raises(encoding.EncodingUnknown):
        encoding.guess("患者は発熱と頭痛を訴えている。\n".encode("shift_jis") * 3)


def test_noise_is_undecodable():
    with pytest.raises(encoding.EncodingUnknown) as err:
        encoding.guess(bytes((i * 73 + 129) % 128 + 128 for i in range(4096)))
    assert err.value.reason == "undecodable"


def test_a_truncated_gzip_keeps_the_lines_before_the_cut(tmp_path):
    raw = b"\n".join(_qa("t", i) for i in range(1, 201)) + b"\n"
    data = gzip.compress(raw, mtime=0)
    p = tmp_path / "cut.jsonl.gz"
    p.write_bytes(data[: len(data) // 2])
    got = list(textio.iter_records(p))
    good = [r for _, r in got if isinstance(r, dict)]
    assert len(good) > 50 and [json.dumps(r, ensure_ascii=False).encode() for r in good] == raw.split(b"\n")[:len(good)]
    assert isinstance(got[-1][1], Problem) and got[-1][1].reason == "truncated_gzip"
    assert textio.count_units(p) == len(got)  # every unit: the lines read, the cut line, the lost rest


def test_a_gzip_cut_inside_its_header_or_a_plain_file_named_gz_is_refused_whole(tmp_path):
    p = tmp_path / "a.jsonl.gz"
    p.write_bytes(gzip.compress(_qa("h", 1), mtime=0)[:10])  # the header only
    with pytest.raises(NotText) as err:
        list(textio.iter_lines(p))
    assert err.value.reason == "truncated_gzip"
    p.write_bytes(_qa("h", 1) + b"\n")
    with pytest.raises(NotText) as err:
        list(textio.iter_lines(p))
    assert err.value.reason == "corrupt_gzip"


def test_a_cut_gzip_json_document_is_refused_with_its_reason(tmp_path):
    data = gzip.compress(json.dumps([json.loads(_qa("j", i)) for i in range(300)]).encode(), mtime=0)
    p = tmp_path / "cut.json.gz"
    p.write_bytes(data[: len(data) // 2])
    with pytest.raises(NotText) as err:
        list(textio.iter_records(p))
    assert err.value.reason == "truncated_gzip" and "truncated" in str(err.value)


def test_a_json_document_with_one_line_in_another_encoding_is_read(tmp_path):
    items = [json.loads(_qa("d", i, zh=True)) for i in range(1, 5)]
    lines = [json.dumps(it, ensure_ascii=False).encode() for it in items]
    lines[2] = lines[2].decode().encode("gbk")
    p = tmp_path / "doc.json"
    p.write_bytes(b"[\n" + b",\n".join(lines) + b"\n]\n")
    assert [r for _, r in textio.iter_records(p)] == items
