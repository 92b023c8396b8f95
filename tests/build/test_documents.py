"""``curate build documents``: Megatron's preprocess_data.py output, byte for byte, with a ledger."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from curate.cli import main
from curate.core.audit import audit
from curate.tokens import tokenizer as tok_mod


def _corpus(path: Path) -> Path:
    lines = []
    for i in range(400):
        text = "" if i % 97 == 3 else f"Document {i}: 高血压 treatment, dose {i} mg. " * (i % 5 + 1)
        lines.append(json.dumps({"text": text, "title": f"title {i}", "id": f"doc-{i}"}, ensure_ascii=False))
    lines[10] = '{"text": "broken'
    lines[20] = json.dumps({"text": ["a", "list"], "title": "t"})
    lines[30] = json.dumps({"title": "no text field"})
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def _megatron(path: Path, key: str, prefix: Path, tokenizer_dir: Path, append_eod: bool) -> None:
    """What preprocess_data.py writes (its encode loop, megatron-core's own builder), for good lines."""
    indexed_dataset = pytest.importorskip("megatron.core.datasets.indexed_dataset")
    tok = tok_mod.load(str(tokenizer_dir / "tokenizer.json"))
    eod = tok_mod.prepare(None, prefix.parent / "tok").eod_id
    builder = indexed_dataset.IndexedDatasetBuilder(f"{prefix}.bin", dtype=np.uint16)
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            text = json.loads(line).get(key)
        except json.JSONDecodeError:
            continue
        if not isinstance(text, str):
            continue
        ids = tok.encode(text, add_special_tokens=False).ids
        if ids and append_eod:
            ids = [*ids, eod]
        builder.add_document(np.array(ids, dtype=np.int64), [len(ids)] if ids else [])
    builder.finalize(f"{prefix}.idx")


@pytest.mark.parametrize(("append_eod", "part_size"), [(True, "0"), (False, "0"), (True, "1")])
def test_byte_identical_to_megatron_and_every_line_accounted_for(tmp_path, append_eod, part_size, monkeypatch):
    corpus = _corpus(tmp_path / "corpus.jsonl")
    if part_size == "1":  # parts of 1 MiB: make the file larger than one part
        corpus.write_text(corpus.read_text(encoding="utf-8") * 60, encoding="utf-8")
    args = ["build", "documents", "--input", str(corpus), "--json-keys", "text title",
            "--output-prefix", str(tmp_path / "out" / "corpus"), "--workers", "2", "--no-progress",
            "--part-size", part_size, *(["--append-eod"] if append_eod else [])]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    root = tmp_path / "out" / "corpus"
    tokenizer_dir = root / "tokenizer"
    for key in ("text", "title"):
        ours = root / "tokens" / f"corpus_{key}_document"
        theirs = tmp_path / f"megatron_{key}_document"
        _megatron(corpus, key, theirs, tokenizer_dir, append_eod)
        assert Path(f"{ours}.bin").read_bytes() == Path(f"{theirs}.bin").read_bytes()
        assert Path(f"{ours}.idx").read_bytes() == Path(f"{theirs}.idx").read_bytes()
    assert audit(root).ok
    import polars as pl

    ledger = pl.read_parquet(root / "ledger.parquet")
    text_rows = ledger.filter(pl.col("source") == "corpus_text")
    copies = 60 if part_size == "1" else 1
    assert sorted(text_rows["reason"].to_list()) == sorted(
        ["malformed_json"] * copies + ["non_text_field"] * copies + ["malformed_record"] * copies)


def test_unknown_step_is_a_clear_error(tmp_path):
    corpus = _corpus(tmp_path / "corpus.jsonl")
    result = CliRunner().invoke(main, ["build", "documents", "--input", str(corpus), "--steps", "clean,bogus",
                                       "--output-prefix", str(tmp_path / "o")])
    assert result.exit_code == 1 and "unknown step(s) bogus" in result.output


def test_the_command_line_build_imports_neither_pandas_nor_polars(tmp_path):
    """A plain ``build documents`` needs no data-frame library in its driver: pyarrow's look for pandas and
    the dedup modules' polars would cost a fresh process about half a second."""
    import subprocess
    import sys

    corpus = _corpus(tmp_path / "corpus.jsonl")
    # Printed at exit: a command-line build ends its process itself once its output is written (``cli._leave``).
    probe = ("import atexit, runpy, sys\n"
             "atexit.register(lambda: print(sorted(m for m in ('pandas', 'polars') if sys.modules.get(m) is not None),"
             " flush=True))\n"
             f"sys.argv = ['curate', 'build', 'documents', '--input', {str(corpus)!r}, '--output-prefix', "
             f"{str(tmp_path / 'out' / 'c')!r}, '--workers', '2', '--no-progress']\n"
             "runpy.run_module('curate.cli', run_name='__main__')\n")
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert out.stdout.strip().splitlines()[-1] == "[]", out.stdout + out.stderr
    assert (tmp_path / "out" / "c" / "tokens" / "c_text_document.bin").is_file()
