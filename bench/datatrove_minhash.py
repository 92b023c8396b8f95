"""datatrove's MinHash dedup on a folder of JSONL files, timed stage by stage (run by a side environment's python).

    /path/to/datatrove-venv/bin/python bench/datatrove_minhash.py IN WORK [--tasks 2] [--workers 2]
        [--buckets 14] [--rows 8] [--ngram 5] [--language eng] [--result result.json]

The four stages of datatrove's MinHash pipeline, each a ``LocalPipelineExecutor`` run one after the
other (as ``depends=`` would chain them): signatures (``JsonlReader`` -> ``MinhashDedupSignature``),
buckets (one task per bucket), clusters (one task), filter (``JsonlReader`` -> ``MinhashDedupFilter``
-> ``JsonlWriter``, the removed documents to an exclusion writer). Cluster ids are saved so that
each removed document can be paired with the kept document of its cluster. Writes a JSON object:
``stages`` (wall seconds of each stage), ``drops`` (removed id -> kept id), ``kept``, ``removed``.
Needs only datatrove (with spacy, jieba, xxhash, regex and orjson for the tokenizers and reader);
``bench/neardup_vs_datatrove.py`` runs it.
"""

from __future__ import annotations

import argparse
import gzip
import json
import time
from pathlib import Path

from datatrove.executor import LocalPipelineExecutor
from datatrove.pipeline.dedup.minhash import (
    MinhashConfig,
    MinhashDedupBuckets,
    MinhashDedupCluster,
    MinhashDedupFilter,
    MinhashDedupSignature,
)
from datatrove.pipeline.readers import JsonlReader
from datatrove.pipeline.writers import JsonlWriter


def stages(args: argparse.Namespace, config: MinhashConfig, work: Path) -> list[tuple[str, LocalPipelineExecutor]]:
    """The four executors of the MinHash pipeline, in order."""
    logs = work / "logs"
    return [
        ("signatures", LocalPipelineExecutor(
            [JsonlReader(args.input), MinhashDedupSignature(str(work / "sigs"), config=config, language=args.language)],
            tasks=args.tasks, workers=args.workers, logging_dir=str(logs / "signatures"))),
        ("buckets", LocalPipelineExecutor(
            [MinhashDedupBuckets(str(work / "sigs"), str(work / "buckets"), config=config)],
            tasks=config.num_buckets, workers=args.workers, logging_dir=str(logs / "buckets"))),
        ("clusters", LocalPipelineExecutor(
            [MinhashDedupCluster(str(work / "buckets"), str(work / "remove"), config=config, save_cluster_id=True)],
            tasks=1, logging_dir=str(logs / "clusters"))),
        ("filter", LocalPipelineExecutor(
            [JsonlReader(args.input),
             MinhashDedupFilter(str(work / "remove"), exclusion_writer=JsonlWriter(str(work / "removed")),
                                load_cluster_ids=True),
             JsonlWriter(str(work / "kept"))],
            tasks=args.tasks, workers=args.workers, logging_dir=str(logs / "filter"))),
    ]


def _documents(folder: Path) -> list[dict]:
    docs = []
    for path in sorted(folder.glob("*.jsonl.gz")):
        with gzip.open(path, "rt", encoding="utf-8") as f:
            docs.extend(json.loads(line) for line in f if line.strip())
    return docs


def pairs(work: Path) -> tuple[dict[str, str], int, int]:
    """Removed id -> the kept id of its cluster; counts of kept and removed documents."""
    kept, removed = _documents(work / "kept"), _documents(work / "removed")
    by_cluster = {d["metadata"]["minhash_cluster_id"]: d["id"] for d in kept
                  if d["metadata"].get("minhash_cluster_id", -1) != -1}
    drops = {d["id"]: by_cluster.get(d["metadata"]["minhash_cluster_id"], "?") for d in removed}
    return drops, len(kept), len(removed)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("input", help="folder of JSONL files with id and text")
    parser.add_argument("work", help="empty folder for signatures, buckets, clusters and outputs")
    parser.add_argument("--tasks", type=int, default=2, help="tasks of the signature and filter stages")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--buckets", type=int, default=MinhashConfig.num_buckets)
    parser.add_argument("--rows", type=int, default=MinhashConfig.hashes_per_bucket, help="hashes per bucket")
    parser.add_argument("--ngram", type=int, default=MinhashConfig.n_grams)
    parser.add_argument("--language", default="eng", help="word tokenizer: eng (default), cmn (spaCy zh + jieba)")
    parser.add_argument("--result", help="write the JSON result here (default: stdout)")
    args = parser.parse_args()
    config = MinhashConfig(n_grams=args.ngram, num_buckets=args.buckets, hashes_per_bucket=args.rows)
    work = Path(args.work)
    seconds = {}
    for name, executor in stages(args, config, work):
        start = time.perf_counter()
        executor.run()
        seconds[name] = time.perf_counter() - start
    drops, kept, removed = pairs(work)
    result = json.dumps({"stages": seconds, "drops": drops, "kept": kept, "removed": removed})
    if args.result:
        Path(args.result).write_text(result, encoding="utf-8")
    else:
        print(result)


if __name__ == "__main__":
    main()
