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


def test_problems_deep_in_a_large_json_array_name_their_lines(tmp_path, monkeypatch):
    from curate.text import jsonrecords

    lines = ["["] + [f'  {{"q": {i}}},' for i in range(5000)]
    lines[1200] = '  "not an object",'
    lines[4000] = '  {"q": 3999} {"q": "no comma"},'
    lines += ['  {"q": "last"}', "]"]
    p = tmp_path / "big.json"
    p.write_text("\n".join(lines) + "\n")
    counted: list[int] = []  # characters scanned for newlines, in all
    real = jsonrecords._Lines.at

    def at(self, pos):
        counted.append(abs(pos - self.pos))
        return real(self, pos)

    monkeypatch.setattr(jsonrecords._Lines, "at", at)
    problems = [(loc, row.message) for loc, row in textio.iter_records(p) if isinstance(row, Problem)]
    assert [(loc, message.split(":")[0]) for loc, message in problems] == [
        ("item1199", "item 1199 (line 1201)"), ("item4000", "line 4001")]
    assert sum(counted) <= len(p.read_text())  # each newline counted once, not once per item before it


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


def test_json_document_items_over_the_record_limit_are_problems(tmp_path, monkeypatch):
    monkeypatch.setattr(textio, "MAX_RECORD_BYTES", 1000)
    big = "x" * 2000
    arr = tmp_path / "a.json"
    arr.write_text(json.dumps([{"q": 1}, {"q": big}, {"q": 3}], indent=1))
    assert _reasons(textio.iter_records(arr)) == [("item0", "ok"), ("item1", "oversized_record"), ("item2", "ok")]
    keyed = tmp_path / "k.json"
    keyed.write_text(json.dumps({"7": {"q": 1}, "8": {"q": big}}))
    assert _reasons(textio.iter_records(keyed)) == [("key=7", "ok"), ("key=8", "oversized_record")]
    one = tmp_path / "o.json"
    one.write_text(json.dumps({"q": big}))
    ((_, problem),) = textio.iter_records(one)
    assert problem.reason == "oversized_record" and "CURATE_MAX_RECORD_BYTES" in problem.message
    assert textio.count_units(arr) == 3


def test_a_lone_escaped_surrogate_is_one_problem_and_a_pair_is_a_character(tmp_path):
    p = tmp_path / "s.jsonl"
    p.write_text('{"text": "ok"}\n{"text": "bad \\ud800 x"}\n{"text": "smile \\ud83d\\ude00"}\n{"t": "\\uDC00"}\n')
    items = list(textio.iter_records(p))
    assert _reasons(items) == [("L1", "ok"), ("L2", "malformed_json"), ("L3", "ok"), ("L4", "malformed_json")]
    assert "\\ud800 is half of a UTF-16 surrogate pair" in items[1][1].message
    assert items[2][1] == {"text": "smile \U0001F600"}
    doc = tmp_path / "s.json"
    doc.write_text('[{"text": "ok"}, {"text": "bad \\ud800"}, {"text": "\\ud83d\\ude00"}]')
    assert _reasons(textio.iter_records(doc)) == [("item0", "ok"), ("item1", "malformed_json"), ("item2", "ok")]


def test_a_lone_surrogate_does_not_take_the_build_down(tmp_path):
    from click.testing import CliRunner

    from curate.cli import main

    p = tmp_path / "in.jsonl"
    p.write_text('{"text": "ok one"}\n{"text": "bad \\ud800 x"}\n{"text": "ok two"}\n')
    result = CliRunner().invoke(main, ["build", "documents", "--input", str(p), "--output-prefix",
                                       str(tmp_path / "out" / "x"), "--workers", "1", "--no-progress"])
    assert result.exit_code == 0, result.output
    import pyarrow.parquet as pq

    ledger = pq.read_table(tmp_path / "out" / "x" / "ledger.parquet").to_pylist()
    assert [(r["id"].rsplit("#", 1)[-1], r["reason"]) for r in ledger] == [("L2", "malformed_json")]
