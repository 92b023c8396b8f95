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

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from curate.build.pipeline import BuildResult
from curate.core import records, shards
from curate.core.executor import Done, Executor, Result, Task, make_executor
from curate.core.ledger import Ledger
from curate.core.lock import build_lock
from curate.core.step import EXPAND, Context, Listed, Out, Step, drop_listed
from curate.core.tasks import (
    ArtifactConfig,
    ChainConfig,
    Read,
    Resource,
    TableTaskConfig,
    artifact_task,
    chain_task,
    load_drops,
    load_table,
    table_inputs,
    table_task,
)
from curate.instruct import chat, render, select, sources
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
    outputs: dict[str, list[str]] = {"records": [], "ledger": []}
    for k, start in enumerate(range(0, max(table.num_rows, 1), CHUNK)):  # bounded shards for the next steps
        name = f"{task.name}-{k:05d}.parquet"
        shards.write(table.slice(start, CHUNK), Path(task.out_dir) / name)
        outputs["records"].append(name)
    if ledger.rows:
        outputs["ledger"].append(shards.write_ledger(task, ledger))
    return Result(outputs, {"in": n_in, "out": table.num_rows})


def _as_documents(table: pa.Table) -> pa.Table:
    """A Document-shaped view of Example rows (all turns joined) for the n-gram and PMID guard."""
    texts = ["\n".join(m["content"] for m in msgs) for msgs in table["messages"].to_pylist()]
    return pa.table({"id": table["id"], "text": pa.array(texts, pa.string()), "meta": table["meta"]})


def guard(table: pa.Table, cfg: Any, ctx: Context) -> Out:
    """Refuse the examples that leak an evaluation item of the index in ``ctx.resources`` (a step;
    ``cfg`` is a ``decontam.DecontamConfig``)."""
    from curate.benchmarks import decontam

    out = decontam.decontaminate(_as_documents(table), cfg, ctx)
    if out.kept.num_rows == table.num_rows:
        return Out(table, out.ledger)
    return Out(table.filter(pc.is_in(table["id"], out.kept["id"])), out.ledger)


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
        split = "valid" if select.unit(cfg.seed, "valid", rid.split("~")[0]) < cfg.valid_fraction else "train"
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


def _select(ex: Executor, root: Path, spec: InstructSpec, flows: dict[str, Flow]) -> None:
    """Cross-source dedup, ``max_examples`` and ``weight``, partitioned (``instruct.select``)."""
    from curate.build.reduces import partitions

    def phase(name: str, configs: list[tuple[Any, Any, tuple[Read, ...]]]) -> list[Done]:
        tasks = [Task(f"select/{name}/{i}", table_task, table_inputs(reads), str(root / "select" / name),
                      f"{i:05d}", TableTaskConfig(fn, cfg, reads)) for i, (fn, cfg, reads) in enumerate(configs)]
        done = ex.run(tasks, f"select: {name}", unit="task")
        return [done[t.key] for t in tasks]

    drops: list[str] = []
    if spec.exact_dedup:
        key_tasks = [(select.keys, select.Place(rank, k), (Read((str(p),), ("id", "messages")),))
                     for rank, s in enumerate(spec.sources) for k, p in enumerate(flows[s.name].last())]
        key_done = phase("keys", key_tasks)
        keyed = [str(d.files("table")[0]) for d in key_done]
        parts = partitions(sum(d.stats["examples"] for d in key_done), spec.partitions)
        drops = [str(d.files("table")[0]) for d in phase("dedup", [
            (select.dedup, select.KeyPartition(p, parts), (Read(tuple(keyed)),)) for p in range(parts)])]
    samples = {}
    for s in spec.sources:
        if s.max_examples is not None:
            reads = (Read(tuple(str(p) for p in flows[s.name].last()), ("id",)), Read(tuple(drops)))
            (done,) = phase(f"sample-{s.name}", [(select.sample, select.SampleConfig(s.name, spec.seed,
                                                                                     s.max_examples), reads)])
            samples[s.name] = str(done.files("table")[0])
    tasks = {}
    for s in spec.sources:
        steps, resources = [], []
        if drops:
            steps.append(Step("select", drop_listed, Listed("duplicates")))
            resources.append(Resource("duplicates", tuple(drops), load_drops))
        if s.name in samples:
            steps.append(Step("select", select.sampled, select.Sampled("sample", s.max_examples)))
            resources.append(Resource("sample", (samples[s.name],), load_table))
        steps.append(Step("select", select.weighted, select.Weight(s.weight, spec.seed), EXPAND))
        cfg = ChainConfig(s.name, tuple(steps), seed=spec.seed, resources=tuple(resources))
        extra = tuple(x for r in resources for x in r.paths)
        tasks[s.name] = [Task(f"{s.name}/select/{p.stem}", chain_task, (str(p), *extra),
                              str(root / "sources" / s.name / "select"), p.stem, cfg) for p in flows[s.name].last()]
    done = ex.run([t for ts in tasks.values() for t in ts], "select")
    for s in spec.sources:
        flows[s.name].add("select", [done[t.key] for t in tasks[s.name]])


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
    _select(ex, root, spec, flows)
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

    index = Task("guard/index", artifact_task, decontam.index_inputs(spec.guard), str(root / "guard"), "index",
                 ArtifactConfig(decontam.index_for, decontam.Index.save, spec.guard))
    path = str(ex.run([index], "guard: index", unit="task")[index.key].files("artifact")[0])
    resource = Resource(decontam.INDEX, (path,), decontam.load_index)
    tasks = {}
    for s in spec.sources:
        cfg = ChainConfig(s.name, (Step("guard", guard, spec.guard.config),), resources=(resource,))
        tasks[s.name] = [Task(f"{s.name}/guard/{p.stem}", chain_task, (str(p), path),
                              str(root / "sources" / s.name / "guard"), p.stem, cfg) for p in flows[s.name].last()]
    done = ex.run([t for ts in tasks.values() for t in ts], "guard")
    for s in spec.sources:
        flows[s.name].add("guard", [done[t.key] for t in tasks[s.name]])



def run(spec: InstructSpec, root: Path | str, *, workers: int | None = None, progress: bool | None = None,
        executor: str = "local", address: str | None = None) -> BuildResult:
    """Run every step of an instruction build into ``root`` (resuming finished work) with the named
    executor (``local`` or ``ray`` at ``address``)."""
    from curate.core import storage

    spec = storage.localize(spec)  # inputs on object storage: staged local copies
    if storage.is_url(root):
        url = str(root)
        local = storage.working_copy(url)
        result = run(spec, local, workers=workers, progress=progress, executor=executor, address=address)
        storage.publish(local, url)
        return result
    with build_lock(Path(root)):  # one build per directory at a time
        return _run_locked(spec, Path(root), workers, progress, executor, address)


def _run_locked(spec: InstructSpec, root: Path, workers: int | None, progress: bool | None, executor: str,
                address: str | None) -> BuildResult:
    from curate.build import report
    from curate.core.executor import write_json
    from curate.instruct import outputs

    flows = {s.name: Flow() for s in spec.sources}
    tok = tokenizer.prepare(spec.tokenizer, root / "tokenizer")
    pad = outputs.pad_id(tok)
    with make_executor(executor, workers, progress, address) as ex:
        stats = plan_and_run(ex, root, spec, flows, tok)
        packing = outputs.pack_all(ex, root, spec, [p for s in spec.sources for p in flows[s.name].last()], tok,
                                   pad, sum(s["tokens"] for s in stats.values()))
        ran, skipped, seconds = ex.ran, ex.skipped, dict(ex.seconds)
    shards.write(shards.concat_ledgers([p for f in flows.values() for p in f.ledgers]), root / "ledger.parquet")
    manifest = outputs.manifest(root, spec, flows, tok, pad, stats, packing)
    write_json(root / "manifest.json", manifest)
    report.write_instruct(root, manifest)
    return BuildResult(root, manifest, ran, skipped, seconds)
