"""The step contract: a step is a pure function over one Arrow batch of records.

    fn(batch: pa.Table, cfg: <frozen dataclass>, ctx: Context) -> Out

- ``batch`` is a table of records (``records.DOCUMENT`` or ``records.EXAMPLE``); ``cfg`` the step's
  frozen config dataclass (its defaults are the step's one defaults table); ``ctx`` says which
  source and step the batch belongs to, the source's rank, the seed, and shared read-only
  resources loaded once per worker (a decontamination index, the drop list of a global step).
- ``Out.kept`` is the batch minus the records the step removed (in their original order, possibly
  changed); ``Out.ledger`` has one row per record removed or changed (``ledger.SCHEMA``); ``Out.side``
  is an optional per-record side output keyed by ``id`` (quality signals, hashes, signatures): data
  about records that a later global step or the report reads, never records themselves.
- A step removes a record only by writing a ``drop`` or ``quarantine`` row for it, so
  ``len(kept) + removed == len(batch)`` holds for every call; ``run_chain`` checks it.

Steps know nothing about files, processes or clusters. Executor adapters (``core.tasks``) read a
shard, run a chain of consecutive steps over it in one pass (fused), and write the kept records,
the side outputs and the ledger rows.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa

from curate.core import ledger as ledger_mod
from curate.core.ledger import Ledger

TRANSFORM, ANNOTATE, EXPAND = "transform", "annotate", "expand"


@dataclass(frozen=True)
class Context:
    """Where a batch comes from, and the shared resources a step may read."""

    source: str
    step: str = ""
    rank: int = 0  # the source's place in the recipe (earlier wins a dedup tie)
    seed: int = 0
    resources: Mapping[str, Any] = field(default_factory=dict, compare=False)
    sides: Mapping[str, pa.Table] = field(default_factory=dict, compare=False)  # earlier steps' side outputs
    scratch: dict = field(default_factory=dict, compare=False)  # values of this batch shared by its steps

    def ledger(self) -> Ledger:
        """An empty ledger for this source and step."""
        return Ledger(self.source, self.step)

    def memo(self, key: Hashable, compute: Callable[[], Any]) -> Any:
        """``compute()``, once per batch for all steps of a chain that ask for ``key`` (e.g. the token
        hashes that the quality signals and the MinHash signatures both need); forgotten when a step
        changes the batch."""
        if key not in self.scratch:
            self.scratch[key] = compute()
        return self.scratch[key]


@dataclass(frozen=True)
class Out:
    """What a step returns: the kept records, their ledger rows and an optional side output."""

    kept: pa.Table
    ledger: pa.Table = field(default_factory=ledger_mod.SCHEMA.empty_table)
    side: pa.Table | None = None


StepFn = Callable[[pa.Table, Any, Context], Out]


@dataclass(frozen=True)
class Step:
    """A step in a chain: its ledger name, function, config and kind.

    ``kind`` is ``transform`` (may remove or change records), ``annotate`` (returns the batch
    unchanged and a side output) or ``expand`` (may also add records, e.g. weighted copies). A chain
    of annotations alone writes no new record shard.
    """

    name: str
    fn: StepFn
    config: Any = None
    kind: str = TRANSFORM


def removed(ledger: pa.Table) -> int:
    """Ledger rows that take a record out of the flow."""
    if ledger.num_rows == 0:
        return 0
    return sum(1 for a in ledger.column("action").to_pylist() if a in ledger_mod.REMOVALS)


@dataclass
class ChainResult:
    """A chain's kept batch, ledger rows, side outputs by step, and records in/out per step."""

    kept: pa.Table
    ledger: list[pa.Table]
    sides: dict[str, pa.Table]
    counts: list[dict[str, Any]]


def run_chain(batch: pa.Table, steps: Sequence[Step], ctx: Context) -> ChainResult:
    """Run ``steps`` in order over ``batch``, checking each step's balance."""
    ledgers: list[pa.Table] = []
    sides: dict[str, pa.Table] = {}
    counts = []
    scratch: dict = {}
    for step in steps:
        step_ctx = Context(ctx.source, step.name, ctx.rank, ctx.seed, ctx.resources, dict(sides), scratch)
        out = step.fn(batch, step.config, step_ctx)
        if out.kept is not batch:  # the records changed: what was computed from them is stale
            scratch.clear()
        gone = removed(out.ledger)
        if out.kept.num_rows + gone != batch.num_rows and not (step.kind == EXPAND and
                                                             out.kept.num_rows + gone >= batch.num_rows):
            raise AssertionError(f"{step.name}: {batch.num_rows} in, {out.kept.num_rows} out, {gone} in ledger")
        if step.kind == ANNOTATE and out.kept.num_rows != batch.num_rows:
            raise AssertionError(f"{step.name}: an annotation step may not remove records")
        counts.append({"step": step.name, "in": batch.num_rows, "out": out.kept.num_rows})
        if out.ledger.num_rows:
            ledgers.append(out.ledger)
        if out.side is not None:
            sides[step.name] = out.side
        batch = out.kept
    return ChainResult(batch, ledgers, sides, counts)


def keep_mask(batch: pa.Table, mask: Sequence[bool] | pa.Array) -> pa.Table:
    """Rows of ``batch`` where ``mask`` is true."""
    return batch.filter(mask if isinstance(mask, pa.Array) else pa.array(mask, pa.bool_()))


@dataclass(frozen=True)
class Listed:
    """Config of ``drop_listed``: the resource holding a drop table (``id, reason, detail``)."""

    resource: str


def drop_listed(batch: pa.Table, cfg: Listed, ctx: Context) -> Out:
    """Drop the records a global step listed (duplicates, superseded versions, failed thresholds)."""
    import pyarrow.compute as pc

    drops: pa.Table = ctx.resources[cfg.resource]
    ledger = ctx.ledger()
    if drops.num_rows == 0 or batch.num_rows == 0:
        return Out(batch, ledger.table())
    hit = drops.filter(pc.is_in(drops["id"], value_set=batch["id"]))
    for id_, reason, detail in zip(*(hit[c].to_pylist() for c in ("id", "reason", "detail")), strict=True):
        ledger.drop(id_, reason, detail)
    kept = batch.filter(pc.invert(pc.is_in(batch["id"], value_set=hit["id"]))) if hit.num_rows else batch
    return Out(kept, ledger.table())
