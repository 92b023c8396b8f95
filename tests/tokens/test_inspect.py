"""curate inspect on packed instruction shards: examples at their boundaries, loss-carrying tokens marked."""

from __future__ import annotations

import re
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

from curate.cli import main
from curate.instruct import build, recipe
from curate.tokens import inspect as inspect_mod
from curate.tokens import packed
from tests.conftest import ROOT


@pytest.fixture(scope="module")
def stage2(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("inspect") / "stage2"
    build.run(recipe.load(ROOT / "recipes" / "stage2.toml"), root, workers=2, progress=False)
    return root


def test_prompts_are_unmarked_and_replies_are_marked(stage2: Path) -> None:
    shard = stage2 / "packed" / "train-00000.parquet"
    total, (pack,) = inspect_mod.show_packs(shard, [0])
    row = pq.read_table(shard).slice(0, 1).to_pylist()[0]
    assert total == pq.read_metadata(shard).num_rows and pack.num_tokens == row["num_tokens"]
    assert [e.example_id for e in pack.examples] == row["example_id"]
    for ex, start, end in zip(pack.examples, row["boundaries"], row["boundaries"][1:], strict=False):
        assert (ex.start, ex.end) == (start, end)
        assert ex.loss_tokens == sum(label != packed.IGNORE for label in row["labels"][start:end]) > 0
        replies = [text for text, loss in ex.runs if loss]
        prompts = [text for text, loss in ex.runs if not loss]
        assert prompts[0].startswith("<|im_start|>user\n") and prompts[0].endswith("<|im_start|>assistant\n")
        assert all("<|im_start|>" not in r for r in replies)  # no template or user token carries loss
        assert all(r.endswith("<|im_end|>") for r in replies)  # each reply is trained through its end token
        assert ex.label_mismatches == 0 and ex.task is not None
        assert ex.task == "mcq" or not ex.example_id.startswith("pubmedqa/")


def test_cli_marks_replies_with_brackets_or_colour(stage2: Path) -> None:
    shard = stage2 / "packed" / "train-00000.parquet"
    plain = CliRunner().invoke(main, ["inspect", str(shard), "--no-color"])
    assert plain.exit_code == 0, plain.output
    assert re.search(r"--- example 0: \S+ · task \w+ \(\d\) · tokens \[0, \d+\) · \d+ of \d+ carry loss", plain.output)
    assert "<|im_start|>assistant\n⟦" in plain.output and "<|im_end|>⟧" in plain.output
    assert "\x1b[" not in plain.output
    coloured = CliRunner().invoke(main, ["inspect", str(stage2 / "packed"), "--index", "-1", "--color"], color=True)
    assert coloured.exit_code == 0 and "\x1b[1;32m" in coloured.output and "⟦" not in coloured.output
    bad = CliRunner().invoke(main, ["inspect", str(shard), "--index", "999"])
    assert bad.exit_code == 1 and "pack 999 out of range" in bad.output


def test_a_label_that_is_not_its_token_is_flagged(stage2: Path, tmp_path: Path) -> None:
    table = pq.read_table(stage2 / "packed" / "train-00000.parquet")
    row = table.slice(0, 1).to_pylist()[0]
    first_loss = next(i for i, label in enumerate(row["labels"]) if label != packed.IGNORE)
    row["labels"][first_loss] += 1
    bad = tmp_path / "packed" / "train-00000.parquet"
    bad.parent.mkdir()
    packed.write([row], bad)
    _, (pack,) = inspect_mod.show_packs(bad, [0], tokenizer_dir=stage2 / "tokenizer")
    lines = inspect_mod.render_pack(pack, colour=False)
    assert "!!! 1 loss labels differ from their input tokens" in lines


def test_a_cut_off_shard_is_named_in_one_line(stage2: Path, tmp_path: Path) -> None:
    data = (stage2 / "packed" / "train-00000.parquet").read_bytes()
    cut = tmp_path / "train-00000.parquet"
    cut.write_bytes(data[: len(data) // 2])
    result = CliRunner().invoke(main, ["inspect", str(cut)])
    assert result.exit_code == 1 and "Traceback" not in result.output and result.output.count("\n") == 1
    assert f"{cut}: not a whole Parquet file" in result.output and "rerun the build" in result.output
