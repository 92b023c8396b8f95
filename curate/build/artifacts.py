"""Where a finished build keeps what its report reads: the one place that knows the build's layout.

The report prefers the build's summaries (``manifest.json``, ``ledger.parquet``, ``report.json``,
``packed/info.json``) and reads per-document files only for distributions and samples:

- quality signals per document: ``sources/<source>/signals/*.parquet``;
- records: the shards ``flow.json`` lists per source and pass (``read``, ``prepare``, ``apply``; the
  last pass's are the output, and a step sees the input of the pass it is fused into);
- tokens and characters per document: ``tokens/<source>_text_document.docs.parquet``;
- instruction packs: ``packed/<split>-NNNNN.parquet`` with ``packed/info.json``.

A file that a build no longer keeps is simply absent here, and the report leaves out what needed it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from curate.core.errors import load_json


def _json(path: Path) -> Any:
    return load_json(path, path.name) if path.is_file() else None


@dataclass
class Artifacts:
    """The files of one build directory that the report reads."""

    root: Path
    manifest: dict[str, Any]
    flow: dict[str, Any] = field(default_factory=dict)

    @property
    def instruct(self) -> bool:
        """An instruction build (packed Parquet) rather than a pre-training corpus."""
        return self.manifest.get("kind") == "instruct"

    @property
    def ledger(self) -> Path | None:
        """``ledger.parquet``: one row per dropped or changed record."""
        path = self.root / "ledger.parquet"
        return path if path.is_file() else None

    def report_json(self) -> dict[str, Any]:
        """``report.json`` of the build (the global steps' statistics), or nothing."""
        return _json(self.root / "report.json") or {}

    def signals(self, source: str) -> list[Path]:
        """Per-document quality signals of ``source``."""
        return sorted((self.root / "sources" / source / "signals").glob("*.parquet"))

    def _passes(self, source: str) -> list[dict[str, Any]]:
        return (self.flow.get(source) or {}).get("passes", [])

    def records(self, source: str) -> list[Path]:
        """The output record shards of ``source`` (those of its last pass)."""
        passes = self._passes(source)
        return [self.root / p for p in passes[-1]["shards"]] if passes else []

    def records_before(self, source: str, step: str) -> list[Path]:
        """Record shards holding every record that step ``step`` saw for ``source``: the input of the fused
        pass the step ran in (a superset when earlier steps of that pass dropped records; empty when the step
        did not run)."""
        for p in self._passes(source):
            if any(s["step"] == step for s in p.get("steps", [])):
                return [self.root / name for name in p["inputs"]]
        return []

    def token_counts(self, source: str) -> Path | None:
        """Per-document token and character counts (``id``, ``tokens``, ``chars``) of ``source``'s Megatron dataset."""
        prefix = self.manifest["sources"].get(source, {}).get("prefix")
        path = self.root / f"{prefix}.docs.parquet" if prefix else None
        return path if path is not None and path.is_file() else None

    def packed_info(self) -> dict[str, Any]:
        """``packed/info.json`` of an instruction build."""
        return _json(self.root / "packed" / "info.json") or {}

    def packs(self, split: str) -> list[Path]:
        """The packed shards of one split."""
        info = self.packed_info().get("splits", {}).get(split, {})
        return [self.root / "packed" / name for name in info.get("files", [])]


def in_recipe_order(manifest: dict[str, Any]) -> dict[str, Any]:
    """The manifest as read back from disk (JSON types), its sources in the recipe's order (priority order;
    ``manifest.json`` keeps its keys sorted), so a report from memory and one from disk are identical."""
    manifest = json.loads(json.dumps(manifest))
    order = [s.get("name") for s in manifest.get("config", {}).get("sources", []) if isinstance(s, dict)]
    rank = {name: i for i, name in enumerate(order)}
    manifest["sources"] = dict(sorted(manifest["sources"].items(), key=lambda kv: (rank.get(kv[0], len(rank)), kv[0])))
    return manifest


def find(root: Path, manifest: dict[str, Any] | None = None) -> Artifacts:
    """The artifacts of the finished build in ``root`` (``manifest``: the build's, before it is written)."""
    root = Path(root)
    manifest = manifest if manifest is not None else _json(root / "manifest.json")
    if manifest is None:
        raise FileNotFoundError(f"{root}: no manifest.json; is this a finished curate build directory?")
    return Artifacts(root, in_recipe_order(manifest), _json(root / "flow.json") or {})
