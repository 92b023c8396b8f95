"""Read documents back out of a Megatron dataset, detokenized, with their record ids."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import pyarrow.parquet as pq

from curate.tokens import indexed, tokenizer


@dataclass(frozen=True)
class ShownDocument:
    """One document of a dataset: its index, record id (when known), tokens and text."""

    index: int
    id: str | None
    tokens: int
    text: str


def find_tokenizer(prefix: Path) -> Path:
    """The ``tokenizer.json`` of the build that holds ``prefix`` (searched upwards for manifest.json)."""
    for parent in Path(prefix).resolve().parents:
        manifest = parent / "manifest.json"
        if manifest.is_file():
            info = json.loads(manifest.read_text()).get("tokenizer")
            if info:
                return parent / info["path"] / "tokenizer.json"
    raise tokenizer.TokenizerError(f"no build manifest above {prefix}; pass --tokenizer DIR")


def show(prefix: Path, indices: list[int] | None = None, count: int = 3,
         tokenizer_dir: Path | None = None) -> tuple[indexed.Reader, list[ShownDocument]]:
    """Detokenize documents ``indices`` (default: the first ``count``) of dataset ``prefix``."""
    reader = indexed.Reader(prefix)
    if not indices:
        indices = list(range(min(count, len(reader))))
    tok_json = tokenizer_dir / "tokenizer.json" if tokenizer_dir else find_tokenizer(prefix)
    tok = tokenizer.load(str(tok_json))
    docs_path = Path(f"{prefix}.docs.parquet")
    ids = pq.read_table(docs_path, columns=["id"])["id"].to_pylist() if docs_path.is_file() else None
    shown = []
    for i in indices:
        if not -len(reader) <= i < len(reader):
            raise IndexError(f"document {i} out of range: {prefix} has {len(reader)} documents")
        i %= len(reader)
        tokens = reader[i]
        text = tok.decode(tokens.tolist(), skip_special_tokens=False)
        shown.append(ShownDocument(i, ids[i] if ids else None, len(tokens), text))
    return reader, shown
