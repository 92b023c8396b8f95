"""Large files are read in parts by parallel tasks, and every output is the same whatever the cut."""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from curate import readers
from curate.build import pipeline, recipes
from curate.core.audit import audit
from curate.readers.documents import Config as DocumentsConfig
from curate.text import parts


def _jsonl(path: Path) -> Path:
    lines = []
    for i in range(300):
        if i % 37 == 5:
            lines.append('{"text": "broken')
        elif i % 41 == 7:
            lines.append("")
        else:
            lines.append(json.dumps({"text": f"document {i} " + "word " * (i % 13) + ("发热咳嗽" if i % 3 else "")},
                                    ensure_ascii=False))
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def _build(tmp: Path, name: str, inputs: list[Path], part_bytes: int, reader: str = "documents",
           options: object = None, workers: int = 2) -> Path:
    src = recipes.SourceSpec(name="docs", reader=reader, inputs=tuple(str(p) for p in inputs),
                             options=options if options is not None else DocumentsConfig())
    spec = recipes.CorpusSpec(name="docs", sources=(src,), steps=("clean", "quality", "dedup"))
    root = tmp / name
    pipeline.run(spec, root, workers=workers, progress=False, part_bytes=part_bytes)
    return root


def _outputs(root: Path) -> dict[str, bytes]:
    files = [root / "ledger.parquet", *sorted((root / "tokens").glob("docs_text_document*"))]
    return {p.name: p.read_bytes() for p in files}


def _final_records(root: Path) -> list[dict]:
    flow = json.loads((root / "flow.json").read_text())
    return pa.concat_tables([pq.read_table(root / p) for p in flow["docs"]["passes"][-1]["shards"]]).to_pylist()


def test_line_cuts_start_after_newlines_with_their_line_numbers(tmp_path):
    path = _jsonl(tmp_path / "a.jsonl")
    data = path.read_bytes()
    cuts = parts.line_cuts(path, 500)
    assert len(cuts) > 5 and cuts[0]["start"] == 0 and cuts[-1]["end"] == len(data)
    for a, b in itertools.pairwise(cuts):
        assert a["end"] == b["start"] and data[b["start"] - 1:b["start"]] == b"\n"
        assert b["line"] == data[:b["start"]].count(b"\n") + 1


def test_the_last_parts_are_shorter_down_to_an_eighth_of_a_part(tmp_path):
    assert [parts.next_part(left, 800) for left in (10_000, 1601, 1600, 900, 201, 200, 7)] == \
        [800, 800, 800, 450, 100, 200, 7]
    path = tmp_path / "big.jsonl"
    path.write_bytes(b"".join(b'{"text": "%s"}\n' % (b"x" * (i % 37)) for i in range(3000)))
    sizes = [c["end"] - c["start"] for c in parts.line_cuts(path, 8000)]
    lines = [len(line) for line in path.read_bytes().splitlines(keepends=True)]
    full = [s for s in sizes if s >= 8000]
    assert sizes[:len(full)] == full and all(s < 8000 + max(lines) for s in full)  # cut at the next newline
    tail = sizes[len(full):]
    assert len(tail) >= 3 and tail == sorted(tail, reverse=True) and min(tail) >= 1000  # halving, down to 1/8
    assert sum(tail) <= 2 * 8000


@pytest.mark.parametrize("fmt", ["jsonl", "csv", "parquet"])
def test_outputs_are_byte_identical_whatever_the_cut(tmp_path, fmt):
    path = _jsonl(tmp_path / "a.jsonl")
    if fmt == "csv":
        rows = [json.loads(line) for line in path.read_text().splitlines() if line.startswith('{"text": "doc')]
        csv_path = tmp_path / "a.csv"
        csv_path.write_text("text,n\n" + "".join(f'"{r["text"]}",{i}\n' for i, r in enumerate(rows))
                            + 'stray "quote,1,2\n', encoding="utf-8")
        path = csv_path
    elif fmt == "parquet":
        rows = [json.loads(line) for line in path.read_text().splitlines() if line.startswith('{"text": "doc')]
        path = tmp_path / "a.parquet"
        pq.write_table(pa.Table.from_pylist(rows), path, row_group_size=20)
    assert parts.record_parts(path, 400) and len(parts.record_parts(path, 400)) > 3
    whole = _build(tmp_path, "whole", [path], 0)
    cut = _build(tmp_path, "cut", [path], 400)
    flow = json.loads((cut / "flow.json").read_text())
    assert len(flow["docs"]["passes"][0]["shards"]) > 3  # one shard per part, read in parallel
    assert _outputs(whole) == _outputs(cut)
    assert _final_records(whole) == _final_records(cut)
    assert audit(cut).ok


def test_two_phase_reader_assembles_records_across_parts(tmp_path, monkeypatch):
    monkeypatch.setitem(readers.READERS, "chapters", "tests.readers.chapters_reader")
    from tests.readers import chapters_reader

    path = tmp_path / "book.chapters"
    body = []
    for c in range(12):
        body.append(f"# chapter{c}")
        body += [f"line {c}.{k} " + "text " * k for k in range(9)]
        body.append("! damaged")
    path.write_text("\n".join(body) + "\n")
    assert len(chapters_reader.parts(path, None, 300)) > 5
    whole = _build(tmp_path, "whole", [path], 0, "chapters", chapters_reader.Config(), workers=1)
    cut = _build(tmp_path, "cut", [path], 300, "chapters", chapters_reader.Config(), workers=1)
    assert _outputs(whole) == _outputs(cut)
    records = _final_records(cut)
    assert [r["id"] for r in records] == [f"docs/book.chapters#chapter{c}" for c in range(12)]
    assert records[1]["text"].startswith("13:line 1.0")  # line numbers continue across parts
    manifest = json.loads((cut / "manifest.json").read_text())
    assert manifest["sources"]["docs"]["stats"]["chapters"] == 12
    assert audit(cut).ok


@pytest.mark.parametrize("compressed", [False, True])
def test_pubmed_outputs_are_byte_identical_whatever_the_cut(tmp_path, compressed):
    from curate.readers.articles import Config as ArticlesConfig
    from tests.readers.test_pubmed_parts import corpus, gzip_members

    data = corpus(160).encode()
    path = tmp_path / ("baseline.xml.gz" if compressed else "baseline.xml")
    path.write_bytes(gzip_members(data, list(range(997, len(data), 3001))) if compressed else data)
    split = readers.reader_module("articles").parts(path, ArticlesConfig(), 2000)
    assert split and len(split) > 5
    whole = _build(tmp_path, "whole", [path], 0, "articles", ArticlesConfig())
    cut = _build(tmp_path, "cut", [path], 2000, "articles", ArticlesConfig())
    flow = json.loads((cut / "flow.json").read_text())
    assert len(flow["docs"]["passes"][0]["shards"]) > 5
    assert _outputs(whole) == _outputs(cut)
    assert _final_records(whole) == _final_records(cut) and len(_final_records(cut)) > 20
    assert audit(cut).ok and audit(whole).ok


def test_whole_files_fill_idle_workers_beside_page_ranges_the_rest_wait_for_the_finish():
    from curate.core.executor import Task

    def task(key: str, size: int) -> Task:
        return Task(key, pipeline.read_task, (), "out", key, None, size=size)

    ranges = [task("book@0", 200), task("book@1", 210)]
    papers = [task("a", 30), task("b", 90), task("c", 12)]
    split = {"book@0", "book@1"}
    # Two workers, both busy with a range: every whole file runs beside the finish.
    first, beside = pipeline._read_passes(ranges + papers, split, 2)
    assert [t.key for t in first] == ["book@0", "book@1"] and [t.key for t in beside] == ["b", "a", "c"]
    # Three workers: the third reads whole files while the ranges run, as many as fit in that time.
    first, beside = pipeline._read_passes(ranges + papers + [task("d", 150)], split, 3)
    assert [t.key for t in first] == ["book@0", "book@1", "d", "a", "c"] and [t.key for t in beside] == ["b"]
    # One worker, or nothing split: one pass in file order.
    assert pipeline._read_passes(ranges + papers, split, 1) == (ranges + papers, [])
    assert pipeline._read_passes(papers, set(), 4) == (papers, [])
