"""Tokenize-and-write throughput of curate against the raw fast tokenizer, on the same texts.

    python bench/tokenize_throughput.py [--docs 20000] [--runs 5] [--tokenizer DIR]

- raw: ``tokenizers.Tokenizer.encode_batch_fast`` over all texts in one batch (Rust, all cores),
  ids pulled into Python lists; nothing is written. Also in batches of 1024, the batch size the
  tokenize step uses, so that the comparison does not flatter curate's batching.
- curate: the build's tokenize step (``tokenize_task`` per Parquet shard through the executor,
  then ``merge_task``) reading the same texts from Parquet shards and writing Megatron
  ``.bin/.idx`` plus the id sidecars, with 1 worker (in-process, tokenizer threads on) and with
  N workers (processes, one tokenizer thread each). The worker pool is started before timing, as
  in a build, where it starts once at the read step; its start-up time is printed separately.

Each variant runs ``--runs`` times, interleaved; the medians and their ratio to raw are printed.
The texts are the bundled sample documents, re-mixed paragraph by paragraph into ``--docs``
documents of about 1-3 KB (zh and en), so every run tokenizes identical input.
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from curate.core import records, shards  # noqa: E402
from curate.core.executor import Executor, Task  # noqa: E402
from curate.core.ledger import Ledger  # noqa: E402
from curate.readers import FileRef, discover, reader_module  # noqa: E402
from curate.tokens import indexed, tokenize, tokenizer  # noqa: E402


def sample_paragraphs() -> list[str]:
    """Paragraphs of every bundled sample document, as the readers produce them."""
    paragraphs: list[str] = []
    for reader in ("articles", "qa", "exams", "promptcblue"):
        module = reader_module(reader)
        for path, rel in discover([ROOT / "samples" / reader], module.SUFFIXES):
            for item in module.read(FileRef(path, rel, reader), module.Config(), Ledger(reader, "read")):
                if isinstance(item, dict):
                    paragraphs += [p for p in item["text"].split("\n") if len(p) > 20]
    return paragraphs


def make_texts(n_docs: int, seed: int = 0) -> list[str]:
    """``n_docs`` documents re-mixed from sample paragraphs (deterministic)."""
    rng = random.Random(seed)
    paragraphs = sample_paragraphs()
    return ["\n".join(rng.choices(paragraphs, k=rng.randint(4, 12))) for _ in range(n_docs)]


def write_shards(texts: list[str], directory: Path, n_shards: int) -> list[Path]:
    """The texts as Document Parquet shards."""
    paths = []
    per = -(-len(texts) // n_shards)
    for s in range(n_shards):
        rows = [{"id": f"bench/{s}#{i}", "source": "bench", "text": t, "lang": "", "meta": {}}
                for i, t in enumerate(texts[s * per:(s + 1) * per])]
        path = directory / f"shard{s:03d}.parquet"
        shards.write(records.to_table(rows, records.DOCUMENT), path)
        paths.append(path)
    return paths


def run_raw(tok_json: str, texts: list[str], batch: int | None = None) -> int:
    """Raw fast tokenizer batch encode (one batch, or batches of ``batch``); returns tokens."""
    tok = tokenizer.load(tok_json)
    batch = batch or len(texts)
    return sum(len(e.ids) for i in range(0, len(texts), batch)
               for e in tok.encode_batch_fast(texts[i:i + batch], add_special_tokens=False))


def warm_executor(workers: int) -> Executor:
    """An executor whose worker processes are started and have imported the tokenize step, as
    they have by the time a build reaches tokenization."""
    ex = Executor(workers, progress=False)
    if workers > 1:
        pool = ex._get_pool()
        for f in [pool.submit(_warm) for _ in range(workers)]:
            f.result()
    return ex


def _warm() -> None:
    time.sleep(0.5)  # keep this worker busy so that the pool starts all of them


def run_curate(ex: Executor, cfg: tokenize.TokenizeConfig, paths: list[Path], out: Path) -> int:
    """curate's tokenize step and merge into one dataset; returns tokens written (EOD included)."""
    shutil.rmtree(out, ignore_errors=True)
    tasks = [Task(f"bench/tokenize/{p.stem}", tokenize.tokenize_task, (str(p),), str(out / "parts"), p.stem, cfg)
             for p in paths]
    parts = ex.run(tasks, "tokenize")
    prefixes = tuple(str(d.files("bin")[0].with_suffix("")) for d in parts.values())
    files = tuple(str(f) for d in parts.values() for r in ("bin", "idx", "ids") for f in d.files(r))
    merge = Task("bench/merge", tokenize.merge_task, files, str(out), "bench_text_document",
                 tokenize.MergeConfig(prefixes))
    done = ex.run([merge], "merge")
    return done["bench/merge"].stats["tokens"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--docs", type=int, default=20_000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--shards", type=int, default=8)
    parser.add_argument("--workers", type=int, default=len(os.sched_getaffinity(0)))
    parser.add_argument("--tokenizer", default=None, help="HF tokenizer directory [default: bundled]")
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="curate-bench-"))
    try:
        info = tokenizer.prepare(args.tokenizer, work / "tokenizer")
        tok_json = str(Path(info.path) / "tokenizer.json")
        texts = make_texts(args.docs)
        paths = write_shards(texts, work, args.shards)
        mb = sum(len(t.encode()) for t in texts) / 1e6
        cfg = tokenize.TokenizeConfig(tok_json, info.fingerprint, info.eod_id,
                                      str(indexed.dtype_for_vocab(info.vocab_size)))
        start = time.perf_counter()
        one, many = warm_executor(1), warm_executor(args.workers)
        spawn = time.perf_counter() - start
        variants = {
            "raw encode_batch_fast": lambda: run_raw(tok_json, texts),
            "raw, batches of 1024": lambda: run_raw(tok_json, texts, 1024),
            "curate, 1 worker": lambda: run_curate(one, cfg, paths, work / "out1") - len(texts),
            f"curate, {args.workers} workers": lambda: run_curate(many, cfg, paths, work / "outN") - len(texts),
        }
        times: dict[str, list[float]] = {k: [] for k in variants}
        tokens: dict[str, int] = {}
        for _ in range(args.runs):
            for name, fn in variants.items():
                start = time.perf_counter()
                tokens[name] = fn()
                times[name].append(time.perf_counter() - start)
        assert len(set(tokens.values())) == 1, f"variants disagree on token counts: {tokens}"
        n_tokens = tokens["raw encode_batch_fast"]
        raw = statistics.median(times["raw encode_batch_fast"])
        raw1024 = statistics.median(times["raw, batches of 1024"])
        print(f"{len(texts):,} documents, {mb:.1f} MB, {n_tokens:,} tokens ({info.name}, vocab "
              f"{info.vocab_size:,}); {args.runs} runs each, interleaved; {os.cpu_count()} CPUs")
        print(f"{'variant':<28} {'median s':>9} {'Mtok/s':>8} {'vs raw':>7} {'vs 1024':>7}")
        for name, ts in times.items():
            med = statistics.median(ts)
            print(f"{name:<28} {med:>9.3f} {n_tokens / med / 1e6:>8.2f} {raw / med:>7.0%} {raw1024 / med:>7.0%}")
        print(f"(starting {args.workers} worker processes, once per build: {spawn - 0.5:.2f} s)")
        one.close()
        many.close()
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
