"""Read training data back as text: Megatron documents, or packed instruction shards with their loss mask.

``show`` detokenizes documents of a Megatron dataset with their record ids. ``show_packs`` opens packs of
a packed Parquet file (or a ``packed/`` directory, its files in name order) and splits each into its
examples by ``boundaries``: per example the record id, task, token span and the text in runs that carry
loss (labels set) or not (labels -100: system, user and template tokens), then the padding.
``render_pack`` marks the loss-carrying runs in colour on a terminal, else between ``⟦`` and ``⟧``.
Both use the tokenizer the build recorded in its ``manifest.json`` unless one is given.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from curate.tokens import indexed, packed, tokenizer

LOSS_OPEN, LOSS_CLOSE = "⟦", "⟧"
COLOUR_OPEN, COLOUR_CLOSE = "\x1b[1;32m", "\x1b[0m"  # bold green: the tokens trained on


@dataclass(frozen=True)
class ShownDocument:
    """One document of a dataset: its index, record id (when known), tokens and text."""

    index: int
    id: str | None
    tokens: int
    text: str


def find_tokenizer(path: Path) -> Path:
    """The ``tokenizer.json`` of the build that holds ``path`` (searched upwards for manifest.json)."""
    for parent in Path(path).resolve().parents:
        manifest = parent / "manifest.json"
        if manifest.is_file():
            info = json.loads(manifest.read_text()).get("tokenizer")
            if info:
                return parent / info["path"] / "tokenizer.json"
    raise tokenizer.TokenizerError(f"no build manifest above {path}; pass --tokenizer DIR")


def _tokenizer(path: Path, tokenizer_dir: Path | None):
    return tokenizer.load(str(tokenizer_dir / "tokenizer.json" if tokenizer_dir else find_tokenizer(path)))


def show(prefix: Path, indices: list[int] | None = None, count: int = 3,
         tokenizer_dir: Path | None = None) -> tuple[indexed.Reader, list[ShownDocument]]:
    """Detokenize documents ``indices`` (default: the first ``count``) of dataset ``prefix``."""
    reader = indexed.Reader(prefix)
    if not indices:
        indices = list(range(min(count, len(reader))))
    tok = _tokenizer(prefix, tokenizer_dir)
    docs_path = Path(f"{prefix}.docs.parquet")
    try:
        ids = pq.read_table(docs_path, columns=["id"])["id"].to_pylist() if docs_path.is_file() else None
    except (pa.ArrowException, OSError) as err:
        raise ValueError(f"{docs_path}: not a whole Parquet file ({err}); rerun the build that wrote it") from None
    shown = []
    for i in indices:
        if not -len(reader) <= i < len(reader):
            raise IndexError(f"document {i} out of range: {prefix} has {len(reader)} documents")
        i %= len(reader)
        tokens = reader[i]
        text = tok.decode(tokens.tolist(), skip_special_tokens=False)
        shown.append(ShownDocument(i, ids[i] if ids else None, len(tokens), text))
    return reader, shown


@dataclass(frozen=True)
class ShownExample:
    """One example of a pack: where it sits, what it is, and its text in runs with or without loss."""

    example_id: str
    task_id: int
    task: str | None
    start: int
    end: int
    loss_tokens: int
    runs: list[tuple[str, bool]]  # (text, carries loss)
    label_mismatches: int  # loss positions whose label is not the input token (a broken shard)


@dataclass(frozen=True)
class ShownPack:
    """One pack: its file, row, fill and examples."""

    file: Path
    row: int
    index: int
    seq_len: int
    num_tokens: int
    examples: list[ShownExample]


def pack_files(path: Path) -> list[Path]:
    """The packed shards at ``path``: the file itself, or a directory's ``*.parquet`` in name order."""
    files = sorted(Path(path).glob("*.parquet")) if Path(path).is_dir() else [Path(path)]
    if not files or not all(f.is_file() for f in files):
        raise FileNotFoundError(f"{path}: no packed Parquet shards (expected <split>-NNNNN.parquet files)")
    return files


def _runs(tok, ids: np.ndarray, loss: np.ndarray) -> list[tuple[str, bool]]:
    """Decoded runs of consecutive tokens that all carry loss or all do not."""
    cuts = np.flatnonzero(np.diff(loss.astype(np.int8))) + 1
    runs = []
    for a, b in zip([0, *cuts.tolist()], [*cuts.tolist(), len(ids)], strict=True):
        if b > a:
            runs.append((tok.decode(ids[a:b].tolist(), skip_special_tokens=False), bool(loss[a])))
    return runs


def _example(tok, row: dict, j: int, names: dict[int, str]) -> ShownExample:
    start, end = int(row["boundaries"][j]), int(row["boundaries"][j + 1])
    ids, labels = row["input_ids"][start:end], row["labels"][start:end]
    loss = labels != packed.IGNORE
    task_id = int(row["task_id"][j])
    return ShownExample(row["example_id"][j], task_id, names.get(task_id), start, end, int(loss.sum()),
                        _runs(tok, ids, loss), int((labels[loss] != ids[loss]).sum()))


def _pack_row(path: Path, index: int) -> dict:
    """Row ``index`` of a packed shard, reading only its row group."""
    pf = packed.open_shard(path)
    if pf.schema_arrow.names != packed.SCHEMA.names:
        raise ValueError(f"{path}: not a packed shard (columns {pf.schema_arrow.names})")
    for group in range(pf.num_row_groups):
        n = pf.metadata.row_group(group).num_rows
        if index < n:
            row = pf.read_row_group(group).slice(index, 1).to_pylist()[0]
            break
        index -= n
    b = row["boundaries"]
    if not b or b[0] != 0 or b[-1] != row["num_tokens"] or len(row["task_id"]) != len(b) - 1:
        raise ValueError(f"{path}: row {index}: boundaries {b[:8]}... do not split its {row['num_tokens']} tokens "
                         f"into its {len(row['task_id'])} examples; rerun the build that wrote it")
    return {k: np.asarray(v) if k in ("input_ids", "labels", "boundaries", "task_id") else v for k, v in row.items()}


def show_packs(path: Path, indices: list[int] | None = None, count: int = 1,
               tokenizer_dir: Path | None = None) -> tuple[int, list[ShownPack]]:
    """Packs ``indices`` (default: the first ``count``) of the packed shards at ``path``, and the pack count."""
    files = pack_files(path)
    rows = [packed.open_shard(f).metadata.num_rows for f in files]
    total = sum(rows)
    indices = indices or list(range(min(count, total)))
    info_path = files[0].parent / "info.json"
    info = packed.read_info(files[0].parent) if info_path.is_file() else {}
    names = {int(v): k for k, v in info.get("tasks", {}).items()}
    tok = _tokenizer(files[0], tokenizer_dir)
    shown = []
    for i in indices:
        if not -total <= i < total:
            raise IndexError(f"pack {i} out of range: {path} has {total} packs")
        i %= total
        k = int(np.searchsorted(np.cumsum(rows), i, side="right"))
        row_index = i - sum(rows[:k])
        row = _pack_row(files[k], row_index)
        examples = [_example(tok, row, j, names) for j in range(len(row["task_id"]))]
        shown.append(ShownPack(files[k], row_index, i, len(row["input_ids"]), int(row["num_tokens"]), examples))
    return total, shown


def render_pack(pack: ShownPack, colour: bool) -> list[str]:
    """Lines that show a pack: a header per example, its text with the loss-carrying runs marked."""
    opening, closing = (COLOUR_OPEN, COLOUR_CLOSE) if colour else (LOSS_OPEN, LOSS_CLOSE)
    lines = [f"=== pack {pack.index} ({pack.file.name} row {pack.row}): {len(pack.examples)} examples, "
             f"{pack.num_tokens:,} of {pack.seq_len:,} tokens"]
    for j, ex in enumerate(pack.examples):
        task = f"{ex.task} ({ex.task_id})" if ex.task else str(ex.task_id)
        lines.append(f"--- example {j}: {ex.example_id} · task {task} · tokens [{ex.start}, {ex.end}) · "
                     f"{ex.loss_tokens:,} of {ex.end - ex.start:,} carry loss")
        if ex.label_mismatches:
            lines.append(f"!!! {ex.label_mismatches} loss labels differ from their input tokens")
        lines.append("".join(f"{opening}{text}{closing}" if loss else text for text, loss in ex.runs))
    if pack.num_tokens < pack.seq_len:
        lines.append(f"--- padding: {pack.seq_len - pack.num_tokens:,} tokens")
    return lines
