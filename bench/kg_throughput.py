"""Knowledge-graph reader throughput: load, sample and verbalise generated graphs of 100k and 1M triples.

    python bench/kg_throughput.py [--sizes 100000 1000000] [--runs 3] [--format nt|tsv] [--pipeline]

Generates a disease graph with hubs (a few symptoms, drugs and departments shared by many diseases):
per disease a label, a parent class, sometimes a definition, and relations to shared entities chosen
with a skewed distribution, as N-Triples (with rdfs:label statements on top of the counted triples)
or as a headerless TSV of name triples. Then, each in a fresh child process:

- ``phases``: load, graph (checks, head index, networkx graph), sampling, verbalisation, packing into
  documents of the recipe's length range (``curate.kg.pack``: merging, splitting, re-verbalising), timed apart,
  and the networkx graph's own memory (tracemalloc around building it again);
- ``reader``: ``curate.readers.kg.read_all`` end to end (load + sample + verbalise, consuming every
  document) -- the figure the 120 s / 6 GB goal is about;
- ``--pipeline``: ``curate build kg --recipe recipes/kg.toml`` (read, clean, exact dedup, Parquet).

All runs use the options of ``recipes/kg.toml``: sampling on, its scales and budget, its mapping of
relations to templates.

Prints medians over ``--runs``; peak RSS is the child's own maximum resident set
(``getrusage(RUSAGE_SELF)`` in the child, cross-checked with ``RUSAGE_CHILDREN`` in the parent).
"""

from __future__ import annotations

import argparse
import json
import random
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
EX = "http://example.org/bench/"
LABEL = "http://www.w3.org/2000/01/rdf-schema#label"
SUBCLASS = "http://www.w3.org/2000/01/rdf-schema#subClassOf"
DEFINITION = "http://purl.obolibrary.org/obo/IAO_0000115"
RELATIONS = ("has_symptom", "has_complication", "treated_with", "diagnosed_by", "seen_in_department",
             "located_in", "caused_by", "affects_population", "transmitted_by", "prevented_by")
WORDS = ("acute chronic viral bacterial primary secondary juvenile adult familial hereditary inflammatory "
         "malignant benign congenital systemic focal diffuse recurrent idiopathic toxic").split()
ORGANS = ("lung liver kidney heart skin bone brain stomach colon thyroid pancreas blood eye ear joint "
          "muscle nerve breast prostate bladder").split()


def generate(path: Path, triples: int, fmt: str, seed: int = 0) -> int:
    """Write a graph of ``triples`` counted triples; return the number of label statements added."""
    rng = random.Random(seed)
    shared = max(20, triples // 40)
    labels = 0
    with open(path, "w", encoding="utf-8") as f:
        def name(kind: str, i: int) -> str:
            if kind == "d":
                return f"{WORDS[i % len(WORDS)]} {ORGANS[(i // 20) % len(ORGANS)]} disease type {i}"
            return f"{RELATIONS[i % len(RELATIONS)].split('_')[-1]} finding {i}"

        def emit(h: str, r: str, t: str, literal: bool = False) -> None:
            if fmt == "tsv":
                f.write(f"{h}\t{r}\t{t}\n")
            else:
                obj = '"' + t.replace('"', "'") + '"@en' if literal else f"<{EX}{t}>"
                f.write(f"<{EX}{h}> <{r if r.startswith('http') else EX + r}> {obj} .\n")

        def label(key: str, text: str) -> None:
            nonlocal labels
            if fmt == "nt":
                f.write(f'<{EX}{key}> <{LABEL}> "{text}"@en .\n')
                labels += 1

        for i in range(shared):
            label(f"s{i}", name("s", i))
        count = 0
        i = 0
        while count < triples:
            d = f"d{i}"
            label(d, name("d", i))
            head = d if fmt == "nt" else name("d", i)
            parent = rng.randrange(i) if i else None
            if parent is not None:
                emit(head, SUBCLASS if fmt == "nt" else "is_a", f"d{parent}" if fmt == "nt" else name("d", parent))
                count += 1
            if rng.random() < 0.3:
                emit(head, DEFINITION if fmt == "nt" else "definition",
                     f"A {name('d', i)} that affects the {ORGANS[i % len(ORGANS)]} and is marked by "
                     f"{WORDS[(i * 7) % len(WORDS)]} inflammation.", literal=True)
                count += 1
            picked = set()
            for _ in range(rng.randint(4, 12)):
                if count >= triples:
                    break
                s = int(shared * rng.random() ** 3)  # skewed: low indices are hubs
                r = RELATIONS[rng.randrange(len(RELATIONS))]
                if (r, s) in picked:
                    continue
                picked.add((r, s))
                emit(head, r, f"s{s}" if fmt == "nt" else name("s", s))
                count += 1
            i += 1
    return labels


def _config():  # -> curate.readers.kg.Config, imported in the child only
    """The options of ``recipes/kg.toml`` (sampling on, its relation-to-template mapping)."""
    import tomllib

    from curate.build import recipes
    from curate.readers import kg as reader

    options = tomllib.loads((ROOT / "recipes" / "kg.toml").read_text(encoding="utf-8"))["options"]
    return recipes.make_config(reader.Config, options, None, "recipes/kg.toml")


def child_phases(path: Path) -> dict:
    """Load, graph, sample and verbalise timed apart, plus networkx graph memory."""
    import gc
    import tracemalloc
    from array import array

    from curate.core.ledger import Ledger
    from curate.kg import graph, load, pack, sample, tables
    from curate.kg.relations import Relations
    from curate.kg.verbalise import Verbaliser
    from curate.readers import kg as reader

    gc.disable()  # as read_all does (see curate.readers.kg)
    cfg = _config()
    ledger = Ledger("kg", "read")
    out: dict = {}
    t0 = time.perf_counter()
    b = graph.Builder([path.name])
    relations = Relations(cfg.relations)
    load.load_file(path, path.name, 0, b, ledger, "kg", fmt=None, skip=frozenset(cfg.skip_relations),
                   opts=tables.Options(cfg.fields, relations, cfg.values))
    t1 = time.perf_counter()
    kg = b.finish(ledger, "kg", {*cfg.relations, *reader.rdf.CANONICAL})
    del b
    t2 = time.perf_counter()
    times = array("i", bytes(4 * len(kg)))
    subs = list(sample.sample(kg, cfg.sampling(), times))
    t3 = time.perf_counter()
    verbalise = Verbaliser(kg, relations, cfg.lang)
    chars = sum(len(verbalise(s).text) for s in subs)
    t4 = time.perf_counter()
    docs = list(pack.documents(kg, iter(subs), verbalise, cfg.min_doc_chars, cfg.max_doc_chars))
    t5 = time.perf_counter()
    out.update(load=t1 - t0, graph=t2 - t1, sample=t3 - t2, verbalise=t4 - t3, pack=t5 - t4, triples=len(kg),
               subgraphs=len(subs), documents=len(docs), chars=chars, mean_times_covered=sum(times) / len(kg),
               edges=kg.graph.number_of_edges(), nodes=kg.graph.number_of_nodes())
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    g = graph.build_graph(kg.head, kg.tail, len(kg.keys))
    out["graph_mb"] = (tracemalloc.get_traced_memory()[0] - before) / 1e6
    tracemalloc.stop()
    del g
    return out


def child_reader(path: Path) -> dict:
    """``read_all`` end to end, with sampling."""
    from curate.core.ledger import Ledger
    from curate.readers import FileRef
    from curate.readers import kg as reader

    start = time.perf_counter()
    items = reader.read_all([FileRef(path, path.name, "kg")], _config(), Ledger("kg", "read"))
    docs = 0
    while True:
        try:
            next(items)
            docs += 1
        except StopIteration as stop:
            stats = stop.value
            break
    return {"total": time.perf_counter() - start, "docs": docs, "triples": stats["triples"],
            "covered": stats["triples_covered"]}


def run_child(mode: str, path: Path) -> dict:
    out = subprocess.run([sys.executable, __file__, "--child", mode, str(path)], capture_output=True, text=True,
                         check=True, cwd=ROOT).stdout
    return json.loads(out.strip().splitlines()[-1])


def run_pipeline(path: Path, work: Path) -> dict:
    cmd = [sys.executable, "-m", "curate", "build", "kg", "--recipe", "recipes/kg.toml", "--input", str(path),
           "--out", str(work / "out"), "--no-progress", "--workers", "2"]
    start = time.perf_counter()
    subprocess.run(cmd, capture_output=True, text=True, check=True, cwd=ROOT)
    wall = time.perf_counter() - start
    shutil.rmtree(work / "out", ignore_errors=True)
    return {"wall": wall}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--format", choices=["nt", "tsv"], default="nt")
    parser.add_argument("--pipeline", action="store_true", help="also time `curate build kg` once per size")
    parser.add_argument("--child", nargs=2, metavar=("MODE", "FILE"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        mode, path = args.child
        result = (child_phases if mode == "phases" else child_reader)(Path(path))
        result["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(json.dumps(result))
        return

    work = Path(tempfile.mkdtemp(prefix="curate-kg-bench-"))
    try:
        print(f"{'triples':>9} {'file MB':>7} {'load':>6} {'graph':>6} {'sample':>6} {'verbal.':>7} {'pack':>6} "
              f"{'reader s':>8} {'triples/s':>9} {'peak MB':>7} {'nx MB':>6} {'B/edge':>6} {'docs':>7} "
              f"{'cover':>5}")
        for size in args.sizes:
            path = work / f"graph_{size}.{args.format}"
            labels = generate(path, size, args.format)
            phases = [run_child("phases", path) for _ in range(args.runs)]
            reads = [run_child("reader", path) for _ in range(args.runs)]
            med = {k: statistics.median(p[k] for p in phases) for k in ("load", "graph", "sample", "verbalise",
                                                                        "pack", "graph_mb")}
            total = statistics.median(r["total"] for r in reads)
            peak = statistics.median(r["peak_rss_mb"] for r in reads)
            p0, r0 = phases[0], reads[0]
            assert r0["covered"] == r0["triples"], "coverage must be 100%"
            print(f"{p0['triples']:>9,} {path.stat().st_size / 1e6:>7.0f} {med['load']:>6.1f} {med['graph']:>6.1f} "
                  f"{med['sample']:>6.1f} {med['verbalise']:>7.1f} {med['pack']:>6.1f} {total:>8.1f} "
                  f"{p0['triples'] / total:>9,.0f} "
                  f"{peak:>7,.0f} {med['graph_mb']:>6.0f} {med['graph_mb'] * 1e6 / p0['edges']:>6.0f} "
                  f"{r0['docs']:>7,} {p0['mean_times_covered']:>5.2f}")
            runs = ", ".join(f"{r['total']:.1f}" for r in reads)
            print(f"{'':>9} ({labels:,} label statements on top; {p0['nodes']:,} nodes, {p0['edges']:,} edges; "
                  f"reader runs: {runs} s)")
            if args.pipeline:
                wall = run_pipeline(path, work)['wall']
                print(f"{'':>9} curate build kg --recipe recipes/kg.toml: {wall:.1f} s wall")
        children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
        print(f"largest child peak RSS (RUSAGE_CHILDREN): {children:,.0f} MB")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
