"""An instruction build (stages 2 and 3): sources to packed, loss-masked Parquet shards.

Per source, into ``<build>/sources/<source>/<step>/``:

1. ``load``: the source's files in their published format (``instruct.sources``) -> ``Example`` rows;
   MCQ items rendered into turns (``instruct.render``); unreadable items quarantined, items without
   an answer dropped;
2. ``guard`` (the recipe's ``[guard]``): the leakage guard. An example that carries a PMID of, or shares
   an n-gram with, an item of an evaluation set named in the recipe is refused and ledgered
   (``contamination``, with the benchmark, item and n-gram);

then over all sources, in the main process:

3. ``dedup``: the same conversation twice (normalised text) keeps the copy of the source listed first;
4. ``select``: ``max_examples`` (a seeded sample) and ``weight`` (copies per example; a fraction is a
   seeded share), written in chunks for the next step;

and again per chunk:

5. ``tokenize``: chat template and loss mask (``instruct.chat``); over-long examples truncated or
   dropped by the recipe's rule; a held-out share goes to ``valid`` by a hash of the id;

and finally ``pack`` (``instruct.pack``) into ``packed/<split>-NNNNN.parquet`` (``tokens.packed``).
The build writes ``ledger.parquet``, ``manifest.json`` (with packing efficiency) and ``report.{json,md,html}``.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from curate.build.pipeline import BuildResult
from curate.core import records, shards
from curate.core.executor import Done, Executor, Result, Task
from curate.core.ledger import Ledger
from curate.instruct import chat, render, sources
from curate.instruct.recipe import InstructSource, InstructSpec
from curate.text import normalise as text
from curate.tokens import tokenizer

DROP_PROBLEMS = ("unlabelled", "other_part")  # loader problems that are rules, not unreadable input
TOKENS = pa.schema([("example_id", pa.string()), ("task_id", pa.int32()), ("split", pa.string()),
                    ("input_ids", pa.list_(pa.int32())), ("labels", pa.list_(pa.int32()))])
CHUNK = 20_000


@dataclass(frozen=True)
class LoadConfig:
    """The source to load and the seed that chooses template phrasings."""

    source: InstructSource
    seed: int


def _clean_turns(messages: Sequence[dict]) -> tuple[list[dict], str | None]:
    """Non-empty turns up to the last assistant reply, or the reason the example cannot train."""
    turns = [{"role": m["role"], "content": text.fix(str(m["content"] or "")).strip()} for m in messages]
    turns = [t for t in turns if t["content"]]
    while turns and turns[-1]["role"] != "assistant":
        turns.pop()
    if not any(t["role"] == "assistant" for t in turns):
        return turns, "empty_answer"
    if not any(t["role"] == "user" for t in turns):
        return turns, "empty_question"
    return turns, None


def load_task(task: Task) -> Result:
    """Load one source into Example rows (``records.EXAMPLE``) plus its ledger part."""
    cfg: LoadConfig = task.config
    src = cfg.source
    ledger = Ledger(src.name, "load")
    problems: sources.Problems = []
    rows, seen, n_in = [], set(), 0
    for record, kind in sources.load(src, problems):
        n_in += 1
        rid = record["id"]
        if rid in seen:
            ledger.drop(rid, "duplicate_id", "the same id twice in one source (two inputs with one name?)")
            continue
        seen.add(rid)
        meta = dict(record.get("meta") or {})
        if kind == "mcq":
            if not record["answer"]:
                ledger.drop(rid, "no_answer", "the item has no answer (an unlabelled test split?)")
                continue
            messages, template_id, lang = render.mcq_messages(record, cfg.seed)
            meta.update(dataset=record["dataset"], split=record["split"], template=template_id, lang=lang)
        else:
            messages, reason = _clean_turns(record["messages"])
            if reason:
                ledger.drop(rid, reason, "no non-empty " + ("answer" if reason == "empty_answer" else "question"))
                continue
            meta["lang"] = text.detect_lang(" ".join(m["content"] for m in messages))
        rows.append({"id": rid, "source": src.name, "task": src.task, "messages": messages, "meta": meta})
    for rid, reason, message in problems:
        n_in += 1
        (ledger.drop if reason in DROP_PROBLEMS else ledger.quarantine)(rid, reason, message)
    table = records.to_table(rows, records.EXAMPLE)
    return shards.write_outputs(task, table, ledger, {"in": n_in})


def _as_documents(table: pa.Table) -> pa.Table:
    """A Document-shaped view of Example rows (all turns joined) for the n-gram and PMID guard."""
    texts = ["\n".join(m["content"] for m in msgs) for msgs in table["messages"].to_pylist()]
    return pa.table({"id": table["id"], "text": pa.array(texts, pa.string()), "meta": table["meta"]})


@dataclass(frozen=True)
class GuardConfig:
    """The source being guarded and the n-gram settings of the index."""

    source: str
    cfg: Any  # decontam.DecontamConfig


def guard_task(task: Task) -> Result:
    """Refuse the examples of shard ``inputs[0]`` that leak an evaluation item of index ``inputs[1]``."""
    from curate.benchmarks import decontam

    spec: GuardConfig = task.config
    table = shards.read(Path(task.inputs[0]))
    ledger = Ledger(spec.source, "guard")
    stat = Path(task.inputs[1]).stat()
    index = decontam.cached_index(task.inputs[1], stat.st_mtime_ns, stat.st_size)
    kept = decontam.decontaminate(_as_documents(table), spec.cfg, ledger, index)
    out = table.filter(pc.is_in(table["id"], kept["id"])) if kept.num_rows != table.num_rows else table
    return shards.write_outputs(task, out, ledger, {"in": table.num_rows})


def _unit(seed: int, salt: str, rid: str) -> float:
    """A deterministic number in [0, 1) per (seed, salt, id)."""
    digest = hashlib.sha256(f"{seed}:{salt}:{rid}".encode()).digest()
    return int.from_bytes(digest[:8], "little") / 2**64


@dataclass(frozen=True)
class TokenizeConfig:
    """Chat rendering, truncation and the train/valid split of one chunk."""

    source: str
    tokenizer_dir: str
    tokenizer_fingerprint: str
    task_id: int
    seq_len: int
    overlong: str
    valid_fraction: float
    seed: int


def tokenize_task(task: Task) -> Result:
    """Tokens and loss labels of one chunk of selected examples."""
    cfg: TokenizeConfig = task.config
    table = shards.read(Path(task.inputs[0]), columns=["id", "messages"])
    ledger = Ledger(cfg.source, "tokenize")
    ids = table["id"].to_pylist()
    encoded = chat.encode(cfg.tokenizer_dir, table["messages"].to_pylist())
    out: dict[str, list] = {name: [] for name in TOKENS.names}
    tokens = loss_tokens = 0
    for rid, enc in zip(ids, encoded, strict=True):
        if isinstance(enc, chat.ChatTemplateError):
            ledger.drop(rid, "chat_template", str(enc))
            continue
        input_ids, labels = enc.input_ids, enc.labels
        if len(input_ids) > cfg.seq_len:
            if cfg.overlong == "drop":
                ledger.drop(rid, "overlong", f"{len(input_ids)} tokens > seq_len {cfg.seq_len}")
                continue
            input_ids, labels = input_ids[:cfg.seq_len], labels[:cfg.seq_len]
            if not (labels != chat.IGNORE).any():
                ledger.drop(rid, "overlong", f"{len(enc.input_ids)} tokens; no answer token within seq_len "
                            f"{cfg.seq_len}")
                continue
            ledger.modify(rid, "truncated", f"{len(enc.input_ids)} -> {cfg.seq_len} tokens")
        split = "valid" if _unit(cfg.seed, "valid", rid.split("~")[0]) < cfg.valid_fraction else "train"
        for name, value in (("example_id", rid), ("task_id", cfg.task_id), ("split", split),
                            ("input_ids", input_ids), ("labels", labels)):
            out[name].append(value)
        tokens += len(input_ids)
        loss_tokens += int((labels != chat.IGNORE).sum())
    shards.write(pa.Table.from_pydict(out, schema=TOKENS), task.out(".parquet"))
    outputs = {"tokens": [f"{task.name}.parquet"], "ledger": []}
    if ledger.rows:
        outputs["ledger"].append(shards.write_ledger(task, ledger))
    return Result(outputs, {"in": table.num_rows, "out": len(out["example_id"]), "tokens": tokens,
                            "loss_tokens": loss_tokens})


@dataclass
class Flow:
    """What each source has after each step, and its ledger parts."""

    shards: dict[str, list[Path]] = field(default_factory=dict)
    ledgers: list[Path] = field(default_factory=list)
    records_in: int = 0

    def add(self, step: str, done: list[Done]) -> None:
        """Record one step's outputs."""
        self.shards[step] = [p for d in done for p in d.files("records") or d.files("tokens")]
        self.ledgers += [p for d in done for p in d.files("ledger")]

    def last(self) -> list[Path]:
        """The shards after the latest step."""
        return self.shards[list(self.shards)[-1]]


def _dedup_key(messages: list[dict]) -> str:
    body = "\n".join(f"{m['role']}: {text.dedup_key(m['content'])}" for m in messages)
    return hashlib.sha256(body.encode()).hexdigest()


def _select(root: Path, spec: InstructSpec, flows: dict[str, Flow]) -> None:
    """Exact dedup across sources, then ``max_examples`` and ``weight``; writes the ``select`` chunks."""
    seen: dict[str, str] = {}
    for src in spec.sources:
        flow = flows[src.name]
        table = pa.concat_tables([shards.read(p) for p in flow.last()]) if flow.last() else records.empty(
            records.EXAMPLE)
        ledger = Ledger(src.name, "select")
        keep: list[int] = []
        for i, (rid, messages) in enumerate(zip(table["id"].to_pylist(), table["messages"].to_pylist(),
                                                strict=True)):
            key = _dedup_key(messages)
            if spec.exact_dedup and key in seen:
                ledger.drop(rid, "exact_duplicate", f"duplicate_of={seen[key]}")
                continue
            seen.setdefault(key, rid)
            keep.append(i)
        if src.max_examples is not None and len(keep) > src.max_examples:
            ids = table["id"].to_pylist()
            ranked = sorted(keep, key=lambda i: (_unit(spec.seed, src.name, ids[i]), ids[i]))
            chosen = set(ranked[:src.max_examples])
            for i in ranked[src.max_examples:]:
                ledger.drop(ids[i], "not_sampled", f"max_examples={src.max_examples}")
            keep = [i for i in keep if i in chosen]
        table = table.take(pa.array(keep, pa.int64()))
        table = _weighted(table, src, spec.seed, ledger)
        out_dir = root / "sources" / src.name / "select"
        paths = []
        for k, start in enumerate(range(0, max(table.num_rows, 1), CHUNK)):
            path = out_dir / f"{src.name}-{k:05d}.parquet"
            shards.write(table.slice(start, CHUNK), path)
            paths.append(path)
        flow.shards["select"] = paths
        if ledger.rows:
            path = out_dir / ".ledger" / f"{src.name}.parquet"
            shards.write(ledger.table(), path)
            flow.ledgers.append(path)


def _weighted(table: pa.Table, src: InstructSource, seed: int, ledger: Ledger) -> pa.Table:
    """Each example ``floor(weight)`` times plus once more with probability ``frac(weight)``."""
    if src.weight == 1.0:
        return table
    whole, frac = int(src.weight), src.weight - int(src.weight)
    ids = table["id"].to_pylist()
    rows, new_ids = [], []
    for i, rid in enumerate(ids):
        copies = whole + (1 if _unit(seed, f"weight:{src.name}", rid) < frac else 0)
        if copies == 0:
            ledger.drop(rid, "not_sampled", f"weight={src.weight}")
        for c in range(copies):
            rows.append(i)
            new_ids.append(rid if c == 0 else f"{rid}~{c + 1}")
    table = table.take(pa.array(rows, pa.int64()))
    return table.set_column(0, "id", pa.array(new_ids, pa.string()))


def plan_and_run(ex: Executor, root: Path, spec: InstructSpec, flows: dict[str, Flow],
                 tok: tokenizer.TokenizerInfo) -> dict[str, Any]:
    """Run load, guard, select and tokenize; returns per-source tokenize stats."""
    loads = [Task(f"{s.name}/load", load_task, tuple(str(p) for p in _inputs(s)),
                  str(root / "sources" / s.name / "load"), s.name, LoadConfig(s, spec.seed)) for s in spec.sources]
    done = ex.run(loads, "load", unit="source")
    for s, t in zip(spec.sources, loads, strict=True):
        flows[s.name].records_in = done[t.key].stats["in"]
        flows[s.name].add("load", [done[t.key]])
    if spec.guard is not None:
        _guard(ex, root, spec, flows)
    _select(root, spec, flows)
    tasks = []
    for s in spec.sources:
        cfg = TokenizeConfig(s.name, tok.path, tok.fingerprint, spec.tasks[s.task], spec.seq_len, spec.overlong,
                             spec.valid_fraction, spec.seed)
        tasks += [Task(f"{s.name}/tokenize/{p.stem}", tokenize_task, (str(p),),
                       str(root / "sources" / s.name / "tokenize"), p.stem, cfg) for p in flows[s.name].last()]
    done = ex.run(tasks, "tokenize")
    stats: dict[str, Any] = {}
    for s in spec.sources:
        mine = [d for k, d in done.items() if k.startswith(f"{s.name}/tokenize/")]
        flows[s.name].add("tokenize", mine)
        stats[s.name] = {k: sum(d.stats[k] for d in mine) for k in ("out", "tokens", "loss_tokens")}
    return stats


def _inputs(src: InstructSource) -> list[Path]:
    """Every file a source reads (fingerprinted by the executor)."""
    found = []
    for p in map(Path, src.inputs):
        found += sorted(q for q in p.rglob("*") if q.is_file()) if p.is_dir() else [p]
    ids = src.options.get("ids")
    return [*found, *([Path(ids)] if isinstance(ids, str) else [])]


def _guard(ex: Executor, root: Path, spec: InstructSpec, flows: dict[str, Flow]) -> None:
    from curate.benchmarks import decontam

    index = Task("guard/index", decontam.index_task, decontam.index_inputs(spec.guard), str(root / "guard"),
                 "index", spec.guard)
    path = str(ex.run([index], "guard: index", unit="task")[index.key].files("index")[0])
    tasks = [Task(f"{s.name}/guard", guard_task, (str(flows[s.name].last()[0]), path),
                  str(root / "sources" / s.name / "guard"), s.name, GuardConfig(s.name, spec.guard.config))
             for s in spec.sources]
    done = ex.run(tasks, "guard", unit="source")
    for s, t in zip(spec.sources, tasks, strict=True):
        flows[s.name].add("guard", [done[t.key]])



def run(spec: InstructSpec, root: Path, *, workers: int | None = None, progress: bool | None = None) -> BuildResult:
    """Run every step of an instruction build into ``root`` (resuming finished work)."""
    from curate.build import report
    from curate.core.executor import write_json
    from curate.instruct import outputs

    root.mkdir(parents=True, exist_ok=True)
    flows = {s.name: Flow() for s in spec.sources}
    tok = tokenizer.prepare(spec.tokenizer, root / "tokenizer")
    with Executor(workers, progress) as ex:
        stats = plan_and_run(ex, root, spec, flows, tok)
        ran, skipped, seconds = ex.ran, ex.skipped, dict(ex.seconds)
    pad = outputs.pad_id(tok)
    packing = outputs.pack_all(root, spec, [p for s in spec.sources for p in flows[s.name].last()], tok, pad)
    shards.write(shards.concat_ledgers([p for f in flows.values() for p in f.ledgers]), root / "ledger.parquet")
    manifest = outputs.manifest(root, spec, flows, tok, pad, stats, packing)
    write_json(root / "manifest.json", manifest)
    report.write_instruct(root, manifest)
    return BuildResult(root, manifest, ran, skipped, seconds)
