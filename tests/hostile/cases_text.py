"""Hostile record files (CSV, TSV, JSON lines, JSON, gzip, Parquet) for the QA and exam readers.

Every row carries a marker (``t<case><row>``) so that each input unit can be found in the output.
"""

from __future__ import annotations

import gzip
import io
import json
from pathlib import Path

from tests.hostile.harness import CORRUPT, LOSS, MEMORY, Defect
from tests.hostile.registry import Expect, file_case


def qa(tag: str, i: int, zh: bool = False) -> tuple[str, str]:
    """A question and answer with the marker ``<tag><i>``."""
    if zh:
        return f"头痛三天怎么办 {tag}{i}？", f"多休息，按时服药并复诊 {tag}{i}a。"
    return f"What treats anaemia {tag}{i}?", f"Oral iron and diet {tag}{i}a."


def jsonl(tag: str, n: int, zh: bool = False) -> list[bytes]:
    """``n`` good JSON lines (no newline)."""
    out = []
    for i in range(1, n + 1):
        q, a = qa(tag, i, zh)
        out.append(json.dumps({"question": q, "answer": a}, ensure_ascii=False).encode())
    return out


def csv_text(tag: str, n: int, bad: dict[int, str] | None = None, zh: bool = False, sep: str = ",") -> str:
    """A ``question,answer`` table of ``n`` rows; ``bad`` replaces row i's line."""
    lines = [f"question{sep}answer"]
    for i in range(1, n + 1):
        q, a = qa(tag, i, zh)
        lines.append((bad or {}).get(i, f"{q.replace(',', ' ')}{sep}{a.replace(',', ' ')}"))
    return "\n".join(lines) + "\n"


def good(tag: str, rows: range | list[int], zh: bool = False) -> tuple[str, ...]:
    """The question markers of ``rows``."""
    return tuple(f"{tag}{i}?" if not zh else f"{tag}{i}？" for i in rows)


# --- CSV and TSV ---------------------------------------------------------------------------------

file_case("qa", "csv-unbalanced-quote-utf8",
          {"quote.csv": csv_text("tq", 10, {3: '"Doctor, my cough tq3? won\'t stop,Drink water tq3a.'}).encode()},
          Expect(units=10, good=good("tq", [1, 2])))
file_case("exams", "csv-unbalanced-quote-gb18030",
          {"exam.csv": ("question,A,B,C,D,answer\n" + "".join(
              f"{'“' if i != 4 else chr(34)}第{i}题 ex{i}：成人胸外按压的频率为（ ）,60,80,100,120,C\n"
              for i in range(1, 9))).encode("gb18030")},
          Expect(units=8, good=("ex1", "ex2", "ex3")))
file_case("qa", "tsv-unbalanced-quote",
          {"quote.tsv": csv_text("tt", 6, {2: '"It hurts, he said tt2?\tRest tt2a.'}, sep="\t").encode()},
          Expect(units=6, good=good("tt", [1])))
file_case("qa", "csv-field-over-128k",
          {"big.csv": csv_text("tb", 8, {3: f"Long tb3?,{'word ' * 40_000}tb3a."}).encode()},
          Expect(units=8, good=good("tb", [1, 2, 4, 5, 6, 7, 8])))
file_case("qa", "csv-ragged-row",
          {"ragged.csv": csv_text("tr", 6, {4: "one,two,three"}).encode()},
          Expect(units=6, good=good("tr", [1, 2, 3, 5, 6]), reason="malformed"))
file_case("qa", "csv-cr-only-line-endings",
          {"mac.csv": csv_text("tc", 6).replace("\n", "\r").encode()},
          Expect(units=6, good=good("tc", range(1, 7))))
file_case("qa", "csv-nul-byte-in-one-field",
          {"nul.csv": csv_text("tn", 6, {3: "Bad tn3?,x\x00y tn3a."}).encode()},
          Expect(units=6, good=good("tn", [1, 2, 4, 5, 6])))
file_case("qa", "csv-utf8-bom",
          {"bom.csv": b"\xef\xbb\xbf" + csv_text("to", 4).encode()}, Expect(units=4, good=good("to", range(1, 5))))
file_case("qa", "csv-quoted-crlf-newlines",
          {"crlf.csv": ('question,answer\r\n"Line one\r\nline two tw1?","Yes tw1a."\r\n'
                        + "".join(f"Plain tw{i}?,Ok tw{i}a.\r\n" for i in range(2, 5))).encode()},
          Expect(units=4, good=good("tw", range(1, 5))))
file_case("qa", "csv-header-only", {"header.csv": b"question,answer\n"}, Expect())
file_case("qa", "csv-latin1-not-gb18030",
          {"fr.csv": "".join(["question,answer\n"] + [f"Quelle fièvre est normale tl{i}?,Moins de 38 degrés tl{i}a.\n"
                                                      for i in range(1, 5)]).encode("latin-1")},
          Expect(units=4),
          check=lambda o, rel: [] if o.view is None or not (recs := o.view.for_file(rel)[0]) or any(
              "fièvre" in r["text"] for r in recs) else [Defect(CORRUPT, "Latin-1 text decoded as GB18030: "
                                                                 f"{recs[0]['text'][:60]!r}")])

# --- JSON lines ----------------------------------------------------------------------------------

file_case("qa", "jsonl-deeply-nested-line",
          {"deep.jsonl": b"\n".join([jsonl("td", 1)[0], b'{"question": ' + b"[" * 200_000 + b"]" * 200_000 + b"}",
                                     *jsonl("td", 6)[2:]]) + b"\n"},
          Expect(units=6, good=good("td", [1, 3, 4, 5, 6])))
file_case("qa", "jsonl-one-gbk-line-in-utf8",
          {"mixed.jsonl": b"\n".join([*jsonl("tg", 3, zh=True),
                                      json.dumps({"question": "胃痛怎么办 tg4？", "answer": "就医 tg4a。"},
                                                 ensure_ascii=False).encode("gbk"),
                                      *jsonl("tg", 8, zh=True)[4:]]) + b"\n"},
          Expect(units=8, good=good("tg", [1, 2, 3, 5, 6, 7, 8], zh=True)))
file_case("qa", "jsonl-cr-only-line-endings",
          {"mac.jsonl": b"\r".join(jsonl("tm", 5)) + b"\r"},
          Expect(units=5, good=good("tm", range(1, 6))))
file_case("qa", "jsonl-utf8-bom", {"bom.jsonl": b"\xef\xbb\xbf" + b"\n".join(jsonl("tbo", 4)) + b"\n"},
          Expect(units=4, good=good("tbo", range(1, 5))))
file_case("qa", "jsonl-nul-bytes-in-one-line",
          {"nul.jsonl": b"\n".join([*jsonl("tz", 2), b'{"question": "x\x00\x00 tz3?", "answer": "y"}',
                                    *jsonl("tz", 6)[3:]]) + b"\n"},
          Expect(units=6, good=good("tz", [1, 2, 4, 5, 6])))
file_case("qa", "jsonl-lone-surrogate-escape",
          {"surrogate.jsonl": b"\n".join([*jsonl("ts", 2), b'{"question": "bad \\ud800 ts3?", "answer": "x ts3a."}',
                                          *jsonl("ts", 5)[3:]]) + b"\n"},
          Expect(units=5, good=good("ts", [1, 2, 4, 5])))
file_case("qa", "jsonl-broken-and-non-object-lines",
          {"broken.jsonl": b"\n".join([jsonl("tj", 1)[0], b'{"question": "cut', b"[1, 2]", b"42",
                                       *jsonl("tj", 6)[4:]]) + b"\n"},
          Expect(units=6, good=good("tj", [1, 5, 6]), reason="malformed"))
file_case("qa", "jsonl-utf16-with-bom",
          {"u16.jsonl": "\n".join(x.decode() for x in jsonl("tu", 3, zh=True)).encode("utf-16")},
          Expect(units=3, good=good("tu", range(1, 4), zh=True)))


def _huge_line(folder: Path) -> dict[str, bytes]:
    body = b"x" * (50 << 20)
    return {"huge.jsonl": b'{"question": "Huge th1?", "answer": "' + body + b'"}\n' + b"\n".join(jsonl("th", 3)[1:])
            + b"\n"}


def _peak(limit_mb: float):
    def check(outcome, rel: str) -> list[Defect]:
        peak = outcome.run.peak_mb
        return [Defect(MEMORY, f"peak {peak:,.0f} MB > {limit_mb:,.0f} MB")] if peak > limit_mb else []
    return check


file_case("qa", "jsonl-50mb-single-line", _huge_line, Expect(units=3, good=good("th", [2, 3])),
          isolated=True, expensive=True, timeout=120, check=_peak(1024))

# --- JSON ----------------------------------------------------------------------------------------


def _array(tag: str, n: int) -> bytes:
    return json.dumps([json.loads(x) for x in jsonl(tag, n)], ensure_ascii=False).encode()


file_case("qa", "json-array-then-junk", {"junk.json": _array("ta", 3) + b"\n<<<garbage after the array>>>\n"},
          Expect(units=4, good=good("ta", range(1, 4))))
file_case("qa", "json-truncated-array", {"cut.json": _array("tx", 4)[:-60]},
          Expect(units=4, good=good("tx", [1, 2])))
file_case("qa", "json-array-with-non-objects",
          {"mixed.json": json.dumps([json.loads(jsonl("tk", 1)[0]), 42, "text", None,
                                     json.loads(jsonl("tk", 2)[1])]).encode()},
          Expect(units=5, good=good("tk", [1, 2]), reason="malformed"))
file_case("qa", "json-scalar-top-level", {"scalar.json": b"42\n"}, Expect(whole=True))

# --- empty, binary, compressed ------------------------------------------------------------------

file_case("qa", "empty-file", {"empty.jsonl": b""}, Expect(whole=True, reason="empty"))
file_case("qa", "whitespace-only-file", {"blank.csv": b"\n \r\n\t\n"}, Expect(whole=True, reason="empty"))
file_case("qa", "png-named-jsonl", {"image.jsonl": b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)) * 4},
          Expect(whole=True, reason="binary"))
file_case("qa", "random-bytes-named-csv", {"noise.csv": bytes((i * 73 + 129) % 128 + 128 for i in range(4096))},
          Expect(whole=True, reason="undecodable|binary"))
file_case("qa", "utf16-without-bom", {"u16.csv": csv_text("tv", 3).encode("utf-16-le")}, Expect(whole=True))


def _truncated_gz(folder: Path) -> dict[str, bytes]:
    raw = b"\n".join(jsonl("tgz", 200)) + b"\n"
    data = gzip.compress(raw, mtime=0)
    return {"cut.jsonl.gz": data[: len(data) // 2]}


file_case("qa", "gzip-truncated", _truncated_gz, Expect(good=good("tgz", [1, 2, 3]), reason="truncated_gzip"))
file_case("qa", "gzip-suffix-on-plain-text", {"plain.jsonl.gz": b"\n".join(jsonl("tp", 2)) + b"\n"},
          Expect(whole=True))
file_case("qa", "gzip-empty", {"empty.jsonl.gz": b""}, Expect(whole=True))
file_case("qa", "parquet-corrupt", {"bad.parquet": b"PAR1" + bytes(200) + b"PAR1"}, Expect(whole=True))

# --- values that are not text ---------------------------------------------------------------------


def _non_text(tag: str, field: str, value: object) -> dict[str, bytes]:
    row = {"question": f"Plain question {tag}0?", "answer": f"Plain answer {tag}0a."}
    row[field] = value
    lines = [json.dumps({"question": f"Ok {tag}1?", "answer": f"Ok {tag}1a."}), json.dumps(row)]
    return {f"{tag}.jsonl": ("\n".join(lines) + "\n").encode()}


file_case("qa", "question-is-a-list", _non_text("nl", "question", ["fever", "cough"]),
          Expect(units=2, good=good("nl", [1]), forbid=("['",)))
file_case("qa", "answer-is-an-object", _non_text("nd", "answer", {"drug": "aspirin", "dose": 100}),
          Expect(units=2, good=good("nd", [1]), forbid=("{'",)))
file_case("qa", "answer-is-a-boolean", _non_text("nb", "answer", True),
          Expect(units=2, good=good("nb", [1]), forbid=("Answer: True",)))
file_case("qa", "answer-is-nan", {"nan.jsonl": b'{"question": "Ok nn1?", "answer": "Ok."}\n'
                                               b'{"question": "Level nn2?", "answer": NaN}\n'},
          Expect(units=2, good=good("nn", [1]), forbid=("Answer: nan",)))
file_case("qa", "conversation-turn-content-is-a-list",
          {"conv.jsonl": (json.dumps({"conversations": [{"from": "human", "value": ["a", "b"]},
                                                       {"from": "gpt", "value": "Rest nc1a."}]}) + "\n"
                          + json.dumps({"question": "Ok nc2?", "answer": "Ok nc2a."}) + "\n").encode()},
          Expect(units=2, good=good("nc", [2]), forbid=("['a'",)))


def _parquet_list(folder: Path) -> dict[str, bytes]:
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pa.table({"question": [["fever", "rash"], ["Ok np2?"]], "answer": ["Rest np1a.", "Ok np2a."]})
    buf = io.BytesIO()
    pq.write_table(table, buf)
    return {"lists.parquet": buf.getvalue()}


file_case("qa", "parquet-list-column", _parquet_list,
          Expect(units=2, forbid=("['fever'", "['Ok")))
file_case("exams", "exam-question-is-a-list",
          {"exam.jsonl": (json.dumps({"question": ["Which drug", "is first line?"], "options": {"A": "x", "B": "y"},
                                      "answer": "A"}) + "\n"
                          + json.dumps({"question": "Which drug is first line ex9?", "options": {"A": "x", "B": "y"},
                                        "answer": "A"}) + "\n").encode()},
          Expect(units=2, good=("ex9",), forbid=("['Which",)))

_ = LOSS  # the class the Expect checks report for most of these cases
