"""Knowledge graphs verbalised into pre-training text (``curate build kg [--sample-subgraphs]``).

A graph only makes sense whole, so ``read_all`` loads every input file into one graph: RDF in any
rdflib format, TSV/CSV triples (any suffix: ``.spo``, ``.txt``; ``format = "tsv"``), and JSON/CSV entity
records whose columns the relation mapping names (``curate.kg.load``, ``curate.kg.tables``,
``curate.kg.relations``, ``curate.kg.values``, ``curate.kg.rdf``). Then:

- without ``sample_subgraphs``: one sub-graph per subject entity, its star (every triple it heads),
  which covers every triple exactly once;
- with it: sub-graphs sampled at several scales (stars, k-hop neighbourhoods under a triple budget,
  random walks with restart), seeded, with a hub cap, and a coverage pass so that every triple
  appears at least once (``curate.kg.sample``);

each sub-graph is written as zh or en text by ``templates/kg/<lang>/*.j2`` (``curate.kg.verbalise``),
and the texts are made into documents of ``min_doc_chars`` to ``max_doc_chars`` characters: short ones
merged by shared neighbours and shared facts, long ones split (``curate.kg.pack``).

Ids are ``<source>/<scale>/<seed entity>#<n>`` (``kg/entity/感冒#1``, ``kg/khop/DOID_1612#1``,
``kg/merged/疾病#1``). ``meta``: ``triples`` (stable triple ids, covered by the text), ``scale``, ``seed``
(the seed or anchor entity's key) and ``seed_name``, ``subjects`` (keys of the entities the text is
about), ``templates`` (ids used), ``files`` (inputs the triples came from), and ``parts`` (sub-graphs
merged into it). The statistics returned are the coverage report: ``triples``, ``triples_covered``,
``mean_times_covered``, ``max_times_covered``, ``entities``, ``subjects``, ``relations``, ``subgraphs``
(and per scale), ``documents`` (``documents_merged``, ``documents_split``), ``triples_unwritten``, and
what loading left out (``statements``, ``duplicate_triples``, ``skipped_*``, ...). Malformed lines,
records and files, self-loops and unnamed references are in the ledger; so is, once per relation with
its count, a relation left unwritten because it has no name in the text's language (``part`` in
Chinese text: map it in ``relations``).
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
from pathlib import Path
from typing import Any

from curate.core import records
from curate.core.config import RecipeError
from curate.core.ledger import Ledger
from curate.kg import labels as lab
from curate.kg import load, pack, rdf, sample, tables
from curate.kg import relations as rel
from curate.kg.graph import KG, Builder
from curate.kg.values import ValueRules
from curate.kg.verbalise import Verbaliser
from curate.readers import FileRef
from curate.text.textio import NotText

SUFFIXES = load.SUFFIXES
# Quality thresholds when no recipe sets them: documents are packed up to min_doc_chars already, so only a
# graph smaller than that is short.
QUALITY = {"min_chars": 8, "max_symbol_ratio": 0.3}

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
    format: str | None = None  # tsv or csv for triple tables, or an rdflib format; default: from the file
    lang: str = "auto"  # zh, en, or auto: per sub-graph, from its entities' names
    # Names (columns, keys, predicates) -> relation id of templates/kg/relations.toml or template id,
    # or a table {zh, en, kind} for a relation of one's own; added to the bundled mapping.
    relations: Mapping[str, Any] = field(default_factory=dict)
    skip_relations: tuple[str, ...] = SKIP_RELATIONS
    fields: tables.Fields = field(default_factory=tables.Fields)
    values: ValueRules = field(default_factory=ValueRules)
    min_doc_chars: int = 200  # shorter sub-graph texts are merged (0: never)
    max_doc_chars: int = 2000  # longer ones are split (0: never)
    # JSON-LD contexts: URL -> local copy (relative to the recipe). Nothing is fetched (curate.kg.parsing).
    jsonld_contexts: Mapping[str, str] = field(default_factory=dict, metadata={"path": True})

    def side_inputs(self) -> tuple[str, ...]:
        """Files whose content the graph depends on besides the inputs: the local JSON-LD contexts."""
        return tuple(sorted(set(self.jsonld_contexts.values())))

    def __post_init__(self) -> None:
        if self.lang not in ("zh", "en", "auto"):
            raise RecipeError(f"kg: lang must be zh, en or auto, got {self.lang!r}")
        for name, cls in (("fields", tables.Fields), ("values", ValueRules)):
            value = getattr(self, name)
            if isinstance(value, Mapping):  # a recipe passes [options.fields] as a plain mapping
                try:
                    object.__setattr__(self, name, cls(**{k: tuple(v) if isinstance(v, list) else v
                                                          for k, v in value.items()}))
                except (TypeError, ValueError) as err:
                    raise RecipeError(f"kg options.{name}: {err}") from None
        for url, local in self.jsonld_contexts.items():
            if not isinstance(local, str) or "://" in local or not Path(local).is_file():
                raise RecipeError(f"kg options.jsonld_contexts: {url!r} must name a local file (a saved copy of "
                                  f"the context), got {local!r}")
        if self.min_doc_chars < 0 or self.max_doc_chars < 0 or (
                self.max_doc_chars and self.max_doc_chars < 2 * self.min_doc_chars):
            raise RecipeError("kg: min_doc_chars and max_doc_chars must be >= 0, and max_doc_chars at least "
                              "twice min_doc_chars (or 0)")
        try:
            rel.Relations(self.relations)
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
    relations = rel.Relations(cfg.relations)
    opts = tables.Options(cfg.fields, relations, cfg.values)
    b = Builder([r.relpath for r in refs])
    for i, ref in enumerate(refs):
        try:
            load.load_file(ref.path, ref.relpath, i, b, ledger, source, fmt=cfg.format,
                           skip=frozenset(cfg.skip_relations), opts=opts, contexts=cfg.jsonld_contexts)
        except NotText as err:
            ledger.quarantine(ref.id(), err.reason, f"kg: cannot read '{ref.relpath}': {err}")
        except Exception as err:  # one unreadable file must not lose the rest of the graph
            ledger.quarantine(ref.id(), "reader_error", f"kg: '{ref.relpath}': {type(err).__name__}: {err}")
    kg = b.finish(ledger, source, _known(b, relations))
    times = array("i", bytes(4 * len(kg)))
    subgraphs = (sample.sample(kg, cfg.sampling(), times) if cfg.sample_subgraphs
                 else sample.entity_stars(kg, times))
    verbalise = Verbaliser(kg, relations, cfg.lang)
    seen: Counter[tuple[str, str]] = Counter()
    scales: Counter[str] = Counter()
    docs: Counter[str] = Counter()
    skipped: dict[int, str] = {}
    for d in pack.documents(kg, _counted(subgraphs, scales), verbalise, cfg.min_doc_chars, cfg.max_doc_chars):
        key = _id_part(kg.keys[d.seed])
        seen[d.scale, key] += 1
        rid = records.record_id(source, f"{d.scale}/{key}", str(seen[d.scale, key]))
        skipped.update((t, d.lang) for t in d.skipped)
        if not d.text:
            ledger.drop(rid, "empty_text", f"kg: sub-graph of '{kg.keys[d.seed]}' rendered no text")
            continue
        docs["documents"] += 1
        docs["documents_merged"] += d.scale == "merged"
        docs["documents_split"] += d.split
        meta = {"triples": [kg.triple_id(t) for t in d.triples], "scale": d.scale, "seed": kg.keys[d.seed],
                "seed_name": kg.name(d.seed, d.lang), "subjects": [kg.keys[s] for s in d.subjects],
                "templates": d.templates, "files": sorted({kg.files[kg.file[t]] for t in d.triples})}
        if d.parts > 1:
            meta["parts"] = d.parts
        yield {"id": rid, "source": source, "text": d.text, "lang": d.lang, "meta": meta}
    _ledger_unwritten(kg, skipped, ledger, source)
    stats = _stats(kg, times, scales, b.stats)
    stats.update(docs, triples_unwritten=len(skipped))
    return stats


def _counted(subgraphs: Iterator[sample.Subgraph], scales: Counter[str]) -> Iterator[sample.Subgraph]:
    for sub in subgraphs:
        scales[sub.scale] += 1
        yield sub


def _known(b: Builder, relations: rel.Relations) -> set[str]:
    """Relation keys that have a name through the mapping (a property without a label still reads)."""
    return {k for k in b.rel_keys if relations.find(k, lab.local_name(k))} | set(rdf.CANONICAL)


def _ledger_unwritten(kg: KG, skipped: dict[int, str], ledger: Ledger, source: str) -> None:
    """One ledger row per relation whose triples were left out of text of another language."""
    by_rel: dict[tuple[int, str], list[int]] = {}
    for t, lang in skipped.items():
        by_rel.setdefault((kg.rel[t], lang), []).append(t)
    for (r, lang), ts in sorted(by_rel.items(), key=lambda item: (kg.rel_keys[item[0][0]], item[0][1])):
        key = kg.rel_keys[r]
        name = lab.local_name(key) if key.startswith(("http://", "https://")) else key
        ledger.modify(records.record_id(source, kg.files[kg.file[ts[0]]], f"relation={_id_part(key)}"),
                      "unwritten_relation",
                      f"kg: relation '{name}' has no {lang} name, so its {len(ts)} triple(s) are not written in "
                      f"{lang} text; map it in [options.relations] ({name} = \"<relation id>\", see "
                      "templates/kg/relations.toml, or {zh = \"...\", en = \"...\"})")


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
        "subjects": len(kg.subjects()),
        "relations": len(set(kg.rel)),
        "subgraphs": sum(scales.values()),
        **{f"subgraphs_{scale}": count for scale, count in sorted(scales.items())},
    }
    stats.update(sorted(loaded.items()))
    return stats
