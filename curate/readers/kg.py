"""Knowledge graphs verbalised into pre-training text (``curate build kg [--sample-subgraphs]``).

A graph only makes sense whole, so ``read_all`` loads every input file into one graph: RDF in any
rdflib format, TSV/CSV triples, and JSON/CSV entity records (``curate.kg.load``, ``curate.kg.tables``,
``curate.kg.rdf``). Then:

- without ``sample_subgraphs``: one document per subject entity, its star (every triple it heads),
  which covers every triple exactly once;
- with it: sub-graphs sampled at several scales (stars, k-hop neighbourhoods under a triple budget,
  random walks with restart), seeded, with a hub cap, and a coverage pass so that every triple
  appears at least once (``curate.kg.sample``);

and each sub-graph is written as zh or en text by ``templates/kg/<lang>/*.j2``
(``curate.kg.verbalise``); which template a relation uses is a recipe choice (``relations``).

Ids are ``<source>/<scale>/<seed entity>#<n>`` (``kg/entity/感冒#1``, ``kg/khop/DOID_1612#1``).
``meta``: ``triples`` (stable triple ids, covered by the text), ``scale``, ``seed`` (the seed
entity's key) and ``seed_name``, ``templates`` (ids used) and ``files`` (inputs the triples came
from). The statistics returned are the coverage report: ``triples``, ``triples_covered``,
``mean_times_covered``, ``max_times_covered``, ``entities``, ``relations``, ``subgraphs`` (and per
scale), and what loading left out (``statements``, ``duplicate_triples``, ``skipped_*``, ...).
Malformed lines, records and files, self-loops and unnamed references are in the ledger.
"""

from __future__ import annotations

import contextlib
import dataclasses
import gc
import re
from array import array
from collections import Counter
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field

from curate.core import records
from curate.core.config import RecipeError
from curate.core.ledger import Ledger
from curate.kg import labels as lab
from curate.kg import load, rdf, sample, tables
from curate.kg.graph import KG, Builder
from curate.kg.verbalise import Verbaliser
from curate.readers import FileRef
from curate.text.textio import NotText

SUFFIXES = load.SUFFIXES

# Annotation properties that say nothing about medicine (by local name); a recipe may change them.
SKIP_RELATIONS = ("hasDbXref", "creation_date", "created_by", "hasOBONamespace", "id", "inSubset",
                  "hasAlternativeId", "hasSynonymType", "shorthand", "exactMatch", "closeMatch",
                  "broadMatch", "narrowMatch", "relatedMatch", "seeAlso", "isDefinedBy", "versionIRI",
                  "versionInfo", "created", "modified", "date", "creator", "contributor", "license",
                  "IAO_0000117", "IAO_0000119", "IAO_0000231", "IAO_0000233", "IAO_0100001")


@dataclass(frozen=True)
class Config(sample.SampleConfig):
    """Options of the knowledge-graph reader: the sampling parameters of ``curate.kg.sample`` (scales,
    seed_fraction, budget, k, walk_length, restart, hub_cap, seed) and the reader's own."""

    sample_subgraphs: bool = False
    format: str | None = None  # rdflib format for RDF inputs; default: from the extension
    lang: str = "auto"  # zh, en, or auto: per sub-graph, from its entities' names
    relations: Mapping[str, str] = field(default_factory=dict)  # relation -> template id
    skip_relations: tuple[str, ...] = SKIP_RELATIONS
    fields: tables.Fields = field(default_factory=tables.Fields)

    def __post_init__(self) -> None:
        if self.lang not in ("zh", "en", "auto"):
            raise RecipeError(f"kg: lang must be zh, en or auto, got {self.lang!r}")
        if isinstance(self.fields, Mapping):  # a recipe passes [options.fields] as a plain mapping
            object.__setattr__(self, "fields", tables.Fields(
                **{k: tuple(v) if isinstance(v, list) else v for k, v in self.fields.items()}))
        try:
            super().__post_init__()  # invalid sampling parameters fail when the recipe is read
        except ValueError as err:
            raise RecipeError(f"kg options: {err}") from None

    def sampling(self) -> sample.SampleConfig:
        """The sampling parameters alone."""
        return sample.SampleConfig(**{f.name: getattr(self, f.name) for f in dataclasses.fields(sample.SampleConfig)})


@contextlib.contextmanager
def _cyclic_gc_paused() -> Iterator[None]:
    """A graph is millions of small containers without reference cycles; a full cyclic collection
    walks all of them, and at a million triples those walks took about 40% of loading and building.
    Reference counting still frees everything; collection resumes afterwards."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def read_all(refs: list[FileRef], cfg: Config, ledger: Ledger) -> Iterator[dict]:
    """Documents (one per sub-graph) from all input files of one graph; returns coverage stats."""
    with _cyclic_gc_paused():
        return (yield from _read_all(refs, cfg, ledger))


def _read_all(refs: list[FileRef], cfg: Config, ledger: Ledger) -> Iterator[dict]:
    source = refs[0].source
    b = Builder([r.relpath for r in refs])
    for i, ref in enumerate(refs):
        try:
            load.load_file(ref.path, ref.relpath, i, b, ledger, source, fmt=cfg.format,
                           skip=frozenset(cfg.skip_relations), fields=cfg.fields)
        except NotText as err:
            ledger.quarantine(ref.id(), err.reason, f"kg: cannot read '{ref.relpath}': {err}")
        except Exception as err:  # one unreadable file must not lose the rest of the graph
            ledger.quarantine(ref.id(), "reader_error", f"kg: '{ref.relpath}': {type(err).__name__}: {err}")
    kg = b.finish(ledger, source, {*cfg.relations, *rdf.CANONICAL})
    times = array("i", bytes(4 * len(kg)))
    subgraphs = (sample.sample(kg, cfg.sampling(), times) if cfg.sample_subgraphs
                 else sample.entity_stars(kg, times))
    verbalise = Verbaliser(kg, cfg.relations, cfg.lang)
    seen: Counter[tuple[str, str]] = Counter()
    scales: Counter[str] = Counter()
    for sub in subgraphs:
        body, lang, used = verbalise(sub)
        key = _id_part(kg.keys[sub.seed])
        seen[sub.scale, key] += 1
        rid = records.record_id(source, f"{sub.scale}/{key}", str(seen[sub.scale, key]))
        if not body:
            ledger.drop(rid, "empty_text", f"kg: sub-graph of '{kg.keys[sub.seed]}' rendered no text")
            continue
        scales[sub.scale] += 1
        meta = {"triples": [kg.triple_id(t) for t in sub.triples], "scale": sub.scale,
                "seed": kg.keys[sub.seed], "seed_name": kg.name(sub.seed, lang), "templates": used,
                "files": sorted({kg.files[kg.file[t]] for t in sub.triples})}
        yield {"id": rid, "source": source, "text": body, "lang": lang, "meta": meta}
    return _stats(kg, times, scales, b.stats)


_UNSAFE = re.compile(r"[\s/#?]+")


def _id_part(key: str) -> str:
    """A readable, path-safe form of an entity key for record ids."""
    if key.startswith("_:"):
        short = key[2:]
    elif key.startswith(("http://", "https://", "urn:", "file:", "ftp:")):
        short = lab.local_name(key) or key
    else:
        short = key
    return _UNSAFE.sub("_", short).strip("_")[:80] or "entity"


def _stats(kg: KG, times: array, scales: Counter[str], loaded: Counter[str]) -> dict[str, float]:
    n = len(kg)
    used = bytearray(len(kg.keys))
    for h, x in zip(kg.head, kg.tail, strict=True):
        used[h] = 1
        if x >= 0:
            used[x] = 1
    stats: dict[str, float] = {
        "triples": n,
        "triples_covered": sum(1 for c in times if c),
        "mean_times_covered": round(sum(times) / n, 3) if n else 0,
        "max_times_covered": max(times, default=0),
        "entities": sum(used),
        "relations": len(set(kg.rel)),
        "subgraphs": sum(scales.values()),
        **{f"subgraphs_{scale}": count for scale, count in sorted(scales.items())},
    }
    stats.update(sorted(loaded.items()))
    return stats
