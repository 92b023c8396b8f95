"""One bad line or item never ends a file: JSON lines, JSON documents and CSV rows, unit by unit."""

from __future__ import annotations

import json

from curate.text import csvrows, textio
from curate.text.textio import Problem


def _reasons(items):
    return [(loc, row.reason if isinstance(row, Problem) else "ok") for loc, row in items]


def test_jsonl_survives_deep_nesting_gbk_line_and_oversized_line(tmp_path, monkeypatch):
    monkeypatch.setattr(textio, "MAX_RECORD_BYTES", 300_000)
    good = json.dumps({"text": "发热三天"}, ensure_ascii=False)
    p = tmp_path / "a.jsonl"
    p.write_bytes(b"\n".join([good.encode(), b"[" * 100_000 + b"]" * 100_000, '{"text": "咳嗽"}'.encode("gbk"),
                              b'{"text": "' + b"x" * 400_000 + b'"}', b"", good.encode()]) + b"\n")
    items = list(textio.iter_records(p))
    assert _reasons(items) == [("L1", "ok"), ("L2", "malformed_json"), ("L3", "ok"), ("L4", "oversized_record"),
                               ("L6", "ok")]
    assert items[2][1] == {"text": "咳嗽"}  # the GBK line is decoded as such, not lost
    assert textio.count_units(p) == 5


def test_cr_only_line_endings_are_lines(tmp_path):
    p = tmp_path / "mac.jsonl"
    p.write_bytes(b'{"text": "a"}\r{"text": "b"}\r\r{"text": "c"}\r')
    assert [row["text"] for _, row in textio.iter_records(p)] == ["a", "b", "c"]
    assert textio.count_units(p) == 3


def test_json_array_followed_by_junk_keeps_its_items(tmp_path):
    p = tmp_path / "a.json"
    p.write_text('[\n  {"q": 1},\n  {"q": 2}\n]\ngarbage after the array\n')
    assert _reasons(textio.iter_records(p)) == [("item0", "ok"), ("item1", "ok"), ("trailing@line5", "trailing_data")]


def test_broken_item_in_a_json_array_is_one_problem(tmp_path):
    p = tmp_path / "a.json"
    p.write_text('[\n  {"q": 1},\n  {"q": 2,, "x"},\n  {"q": 3}\n]\n')
    items = list(textio.iter_records(p))
    assert _reasons(items) == [("item0", "ok"), ("item1", "malformed_json"), ("item2", "ok")]
    assert items[2][1] == {"q": 3}


def test_stray_quote_in_csv_loses_no_row(tmp_path):
    rows = ["id,question,answer"] + [f"{i},question {i},answer {i}" for i in range(1, 11)]
    rows[3] = '3,"question 3,answer 3'  # a quote that never closes swallows the rows after it
    p = tmp_path / "a.csv"
    p.write_text("\n".join(rows) + "\n")
    items = list(textio.iter_records(p))
    ok = [row["id"] for _, row in items if not isinstance(row, Problem)]
    assert ok == [str(i) for i in range(1, 11) if i != 3]
    assert [(loc, row.reason) for loc, row in items if isinstance(row, Problem)] == [("L4", "malformed_record")]
    assert textio.count_units(p) == 10


def test_stray_quotes_that_pair_up_are_split_back_into_rows(tmp_path):
    p = tmp_path / "a.csv"
    p.write_text('a,b,c\n1,"x,y\n2,p,q\n3,r",s\n4,t,u\n')
    got = list(csvrows.rows(p))
    assert [numbers for numbers, _ in got] == [[1], [2], [3], [4], [5]]
    assert isinstance(got[1][1], Problem) and got[1][1].reason == "unbalanced_quote"
    assert got[2][1] == ["2", "p", "q"] and got[4][1] == ["4", "t", "u"]


def test_quoted_newlines_stay_one_row_over_several_lines(tmp_path):
    p = tmp_path / "a.csv"
    p.write_text('q,a\n"line one\nline two",answer\nq2,a2\n')
    spans: dict[str, int] = {}
    items = list(textio.iter_records(p, spans=spans))
    assert items[0] == ("L2", {"q": "line one\nline two", "a": "answer"}) and spans == {"L2": 2}
    assert textio.count_units(p) == 3  # physical lines: the row over two lines holds two
