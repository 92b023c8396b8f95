"""report.html of the sample builds: every section from the build's own files, self-contained, deterministic."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
from click.testing import CliRunner

from curate.build import aggregate, artifacts, corpus_stats, instruct_stats, pages
from curate.cli import main


def _figures(page: str) -> list[str]:
    return re.findall(r'<figure class="chart">(.*?)</figure>', page, re.S)


def test_stage1_page_has_every_section_with_drawn_charts(stage1_build: Path) -> None:
    page = (stage1_build / "report.html").read_text(encoding="utf-8")
    manifest = json.loads((stage1_build / "manifest.json").read_text())
    figures = _figures(page)
    assert len(figures) >= len(manifest["sources"]) + 8
    assert all('class="mark"' in f and "<figcaption><b>" in f for f in figures)  # drawn, with a reading aid
    for anchor in ("funnel", "tokens", "lengths", "languages", "quality", "near", "contamination", "phi", "text"):
        assert f'id="{anchor}"' in page, anchor
    # what the sample build is known to contain, as the page shows it
    assert "a 67 year old man comes to the emergency department because of crushing" in page  # medqa n-gram
    assert "pubmedqa: 1 hit (1 by PMID)" in page
    assert re.search(r"PHONE: 2 in qa", page) and "Records with a replacement: qa 2." in page
    assert "kg/khop/T0005#1" in page and "<mark>" in page  # the near-duplicate pair, differences marked
    assert "removed · words = 4 · qa/en_pairs.jsonl#L19" in page  # the document under qa's min_words


def test_the_page_is_self_contained(stage1_build: Path, stage2_build: Path) -> None:
    for root in (stage1_build, stage2_build):
        page = (root / "report.html").read_text(encoding="utf-8")
        assert "Content-Security-Policy" in page and "default-src 'none'" in page
        assert "<script" not in page and "<link" not in page and "@import" not in page
        assert not re.search(r'(src|href)="(?!#)', page)  # no file, server or CDN reference


def test_funnel_ends_at_the_records_out(stage1_build: Path) -> None:
    art = artifacts.find(stage1_build)
    data = corpus_stats.collect(art)
    for name, s in art.manifest["sources"].items():
        rows = data["funnels"][name]
        assert rows[-1]["left"] == s["records_out"], name
        assert [r["step"] for r in rows][:2] == ["read", "versions" if name == "articles" else "clean"]
    assert data["funnels"]["books"][0]["dropped"] == {"back_matter": 3, "table_of_contents": 1}


def test_lengths_tokens_and_languages_count_every_output_document(stage1_build: Path) -> None:
    art = artifacts.find(stage1_build)
    data = corpus_stats.collect(art)
    for name, s in art.manifest["sources"].items():
        assert data["lengths"][name]["chars"].total == s["records_out"] == data["lengths"][name]["tokens"].total
        assert sum(data["langs"][name].values()) == s["records_out"]
        # the lengths come from the token dataset's per-document characters: those of the records' texts
        texts = [t for p in art.records(name) for t in pq.read_table(p, columns=["text"])["text"].to_pylist()]
        from_text = aggregate.Hist(aggregate.LOG_EDGES)
        from_text.add(np.array([len(t) for t in texts]))
        assert np.array_equal(data["lengths"][name]["chars"].counts, from_text.counts), name
        docs = pq.read_table(art.token_counts(name))
        assert sorted(docs["chars"].to_pylist()) == sorted(len(t) for t in texts)
    tokens = data["tokens"]
    assert tokens["budget_is_corpus"] and abs(sum(r["share"] for r in tokens["sources"].values()) - 1) < 1e-9
    books = tokens["sources"]["books"]  # epochs = weight x budget / tokens
    assert abs(books["epochs"] - books["weight"] * tokens["total"] / books["tokens"]) < 1e-9
    assert corpus_stats.tokens_vs_blend(art.manifest, 2 * tokens["total"])["sources"]["books"]["epochs"] == \
        2 * books["epochs"]


def test_quality_thresholds_count_breakers_and_keep_the_nearest_documents(stage1_build: Path) -> None:
    q = corpus_stats.collect(artifacts.find(stage1_build))["quality"]["qa"]
    files = sorted((stage1_build / "sources" / "qa" / "signals").glob("*.parquet"))
    assert q["documents"] == sum(pq.read_metadata(p).num_rows for p in files) > 0
    assert q["broken"]["min_chars"] == 1 and [rid for _, rid, _ in q["near"][("min_chars", "removed")]] == [
        "qa/zh_wenda.txt#L7"]
    kept = q["near"][("min_chars", "kept")]
    assert len(kept) == 3 and all(v >= 12 for _, _, v in kept) and kept == sorted(kept)
    assert q["texts"]["qa/zh_wenda.txt#L7"]  # the dropped document's text, from the quality step's input
    assert q["hists"]["chars"].total == q["documents"]


def test_text_accounting_is_charted_when_a_reader_reports_it() -> None:
    manifest = {"sources": {"books": {"stats": {"text_in": 1000, "text_out": 700, "text_removed_table": 200,
                                                "text_removed_running_head": 90, "pages": 3}},
                            "qa": {"stats": {}}}}
    accounting = corpus_stats.text_accounting(manifest)
    assert accounting == {"books": {"in": 1000, "out": 700, "removed": {"running_head": 90, "table": 200},
                                    "unaccounted": 10}}
    section = pages._text_accounting(accounting)
    assert section["svg"].count('class="mark"') == 3 and "running_head" in section["svg"]


def test_stage2_page_shows_examples_loss_packing_and_lengths(stage2_build: Path) -> None:
    art = artifacts.find(stage2_build)
    data = instruct_stats.collect(art)
    packing = art.manifest["packing"]
    for split, hist in data["lengths"].items():
        assert hist.total == packing[split]["examples"]  # one length per packed example
        assert hist.counts[-1] == 0  # nothing longer than seq_len
    page = (stage2_build / "report.html").read_text(encoding="utf-8")
    assert len(_figures(page)) == len(art.manifest["sources"]) + 4
    assert f"seq_len {packing['seq_len']}" in page and f"{packing['train']['efficiency']:.1%}" in page
    md = (stage2_build / "report.md").read_text(encoding="utf-8")
    assert "| pubmedqa | mcq | 60 | 30 |" in md and "| load | other_part | 30 |" in md


def test_regenerating_is_byte_identical_and_the_cli_prints_the_path(stage1_build: Path, tmp_path: Path) -> None:
    before = {n: (stage1_build / n).read_bytes() for n in ("report.html", "report.md", "report.json")}
    (stage1_build / "report.html").unlink()
    result = CliRunner().invoke(main, ["report", str(stage1_build)])
    assert result.exit_code == 0, result.output
    assert result.output.startswith(f"report: {stage1_build / 'report.html'} (")
    assert {n: (stage1_build / n).read_bytes() for n in before} == before
    result = CliRunner().invoke(main, ["report", "stages", "--help"])  # the model side's subcommand still answers
    assert result.exit_code == 0 and "LABEL=EXPORT_OR_METRICS" in result.output
    result = CliRunner().invoke(main, ["report", str(tmp_path)])
    assert result.exit_code == 1 and "no manifest.json" in result.output


def test_the_page_does_not_grow_with_the_documents(tmp_path: Path) -> None:
    from curate.build import pipeline, recipes

    sizes = []
    for n in (300, 3000):
        d = tmp_path / str(n)
        d.mkdir()
        rng = np.random.default_rng(0)
        words = np.array("fever cough patient dose daily blood pressure heart rest fluids pain clinic".split())
        with open(d / "qa.jsonl", "w") as f:
            for i in range(n):
                f.write(json.dumps({"question": f"Q{i} " + " ".join(rng.choice(words, 8)),
                                    "answer": " ".join(rng.choice(words, int(rng.integers(5, 60))))}) + "\n")
        (d / "qa.toml").write_text(f'reader = "qa"\nname = "qa"\ninputs = ["{d}"]\n[quality]\nmin_chars = 60\n')
        (d / "mix.toml").write_text('name = "mix"\n[[sources]]\nrecipe = "qa.toml"\n')
        pipeline.run(recipes.load_corpus(d / "mix.toml"), d / "out", workers=1, progress=False)
        sizes.append((d / "out" / "report.html").stat().st_size)
    assert sizes[1] < sizes[0] * 1.15, sizes  # ten times the documents, about the same page


def test_histogram_bins_and_quantiles() -> None:
    h = aggregate.Hist(aggregate.LOG_EDGES)
    h.add(np.array([0.5, 1, 9, 10, 11, 1e12, np.nan]))
    assert h.total == 6 and h.counts[0] == 1 and h.counts[-1] == 1
    steps = h.steps()
    assert steps[0] == (1.0, 0.0) and abs(sum(y for _, y in steps) - 1) < 1e-6
    assert h.quantile(0.5) <= 11 * 10 ** (1 / 8)
    rows = aggregate.funnel(10, {"read": {"bad": 2}, "dedup": {"dup": 1, "x": 3}}, ["read", "clean", "dedup"])
    assert [r["left"] for r in rows] == [8, 8, 4] and list(rows[2]["dropped"]) == ["x", "dup"]


def test_instruction_page_shows_guard_refusals_and_truncations(tmp_path: Path) -> None:
    from curate.instruct import build, recipe
    from tests.instruct.test_build import _recipe, _write_inputs

    d = tmp_path / "in"
    d.mkdir()
    _write_inputs(d)
    root = build.run(recipe.load(_recipe(d, seq_len="64")), tmp_path / "b", workers=1, progress=False).root
    refused = sum(1 for r in pq.read_table(root / "ledger.parquet").to_pylist() if r["step"] == "guard")
    data = instruct_stats.collect(artifacts.find(root))
    assert refused > 0 and sum(data["ledger"].hits["guard"].values()) == refused
    assert data["truncated"] > 0 and all(h.counts[-1] == 0 for h in data["lengths"].values())
    page = (root / "report.html").read_text(encoding="utf-8")
    assert f"pubmedqa: {refused} hits" in page or f"pubmedqa: {refused} hit " in page
    assert f"Truncated to seq_len: {data['truncated']}" in page
    report = json.loads((root / "report.json").read_text())
    assert report["guard_hits"] == {"pubmedqa": refused}
