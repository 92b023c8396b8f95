"""Run one reader over one file, as the read step does, and collect what it yields."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

from curate.core.ledger import Ledger
from curate.readers import Delete, FileRef, reader_module
from curate.text.textio import NotText


def run_reader(name: str, path: Path, cfg=None, source: str | None = None):
    """(records, deletes, ledger rows as dicts) for ``path`` read by reader ``name``."""
    module = reader_module(name)
    cfg = cfg or module.Config()
    source = source or name
    ledger = Ledger(source, "read")
    ref = FileRef(path, path.name, source)
    records, deletes = [], []
    try:
        items = module.read(ref, cfg, ledger)
        if hasattr(module, "finish"):  # a two-phase reader: its pieces, assembled
            items = module.finish(ref, cfg, ledger, items)
        for item in items:
            (deletes if isinstance(item, Delete) else records).append(item)
    except NotText as err:
        ledger.quarantine(ref.id(), err.reason, str(err))
    rows = [dict(zip(("id", "source", "step", "action", "reason", "detail"), r, strict=True))
            for r in ledger.rows]
    return records, deletes, rows


def bench_module(name: str) -> ModuleType:
    """A script of ``bench/`` (e.g. ``books_fidelity``) loaded as a module, for its functions."""
    path = Path(__file__).resolve().parents[2] / "bench" / f"{name}.py"
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up
    spec.loader.exec_module(module)
    return module
