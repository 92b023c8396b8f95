"""The triple store of a knowledge graph and its networkx graph.

Loaders add triples to a ``Builder`` by key. Entity keys are IRIs, file-scoped blank-node ids
(``_:f0b3``) or plain names from tables and entity records; relation keys are IRIs, canonical ids
(``is_a``, ``definition``, ... from ``rdf``) or column names; a tail is an entity key or a ``Lit``.
``Builder.finish`` returns a ``KG``, handling what real graphs contain:

- identical triples, within a file or across files, are kept once (stat ``duplicate_triples``);
- self-loops (``X rel X``) state nothing: dropped, each with a ledger row (reason ``self_loop``);
- deprecated entities (``owl:deprecated true``) lose their triples (stat ``deprecated_triples``);
- dangling references (a tail described nowhere else, e.g. a symptom without its own record) are
  kept as leaf entities, named by their label, their value, or their readable IRI local name;
- a triple whose head, tail or relation has no name at all (an opaque IRI without a label, an
  anonymous blank node) cannot be written as text: dropped with a ledger row (reason
  ``unnamed_entity`` / ``unnamed_relation``) saying which label to add.

The networkx graph is undirected over entities (literal tails are not nodes): one edge per pair of
related entities, whose ``triples`` attribute lists the indices of the triples between them, in
either direction. Triples themselves live in compact arrays, indexed by head for stars.
"""

from __future__ import annotations

import hashlib
import re
from array import array
from collections import Counter
from collections.abc import Collection
from dataclasses import dataclass, field
from typing import NamedTuple

import networkx as nx

from curate.core import records
from curate.core.ledger import Ledger
from curate.kg import labels as lab

_IRI = re.compile(r"(?:https?|ftp|urn|file):\S+")


class Lit(NamedTuple):
    """A literal value: text with an optional language tag or datatype IRI."""

    text: str
    lang: str | None = None
    datatype: str | None = None


def looks_like_iri(value: str) -> bool:
    """Whether a table value is an IRI (named through labels) rather than a plain name."""
    return _IRI.fullmatch(value) is not None


@dataclass
class KG:
    """A loaded graph: entities, relations, literals, triples (arrays) and the networkx graph."""

    files: list[str]
    keys: list[str]
    iri: bytearray  # 1 where the entity key is an IRI or blank node (named by labels)
    rel_keys: list[str]
    labels: dict[str, list[lab.Label]]
    literals: list[Lit]
    head: array
    rel: array
    tail: array  # entity index, or -1 - literal index
    file: array
    graph: nx.Graph
    starts: array  # triples with head e are by_head[starts[e]:starts[e + 1]]
    by_head: array
    partial: frozenset[tuple[int, int]] = frozenset()  # (head, relation): a list the source cut off
    _names: dict[tuple[int, str], str] = field(default_factory=dict, repr=False)
    _rel_names: dict[tuple[int, str], str] = field(default_factory=dict, repr=False)
    _langs: dict[int, frozenset[str]] = field(default_factory=dict, repr=False)

    def __len__(self) -> int:
        return len(self.head)

    def out(self, e: int) -> array:
        """Indices of the triples whose head is entity ``e``, in load order."""
        return self.by_head[self.starts[e]:self.starts[e + 1]]

    def subjects(self) -> list[int]:
        """Entities that head at least one triple, in load order."""
        return [e for e in range(len(self.keys)) if self.starts[e + 1] > self.starts[e]]

    def name(self, e: int, lang: str) -> str:
        """The readable name of entity ``e`` for text in ``lang``."""
        cached = self._names.get((e, lang))
        if cached is None:
            cached = _name(self.keys[e], self.labels, bool(self.iri[e]), lang) or self.keys[e]
            self._names[e, lang] = cached
        return cached

    def rel_name(self, r: int, lang: str) -> str:
        """The readable name of relation ``r`` for text in ``lang``."""
        cached = self._rel_names.get((r, lang))
        if cached is None:
            key = self.rel_keys[r]
            cands = self.labels.get(key)
            local = lab.local_name(key) if looks_like_iri(key) else key
            cached = (lab.choose(cands, lang) if cands else None) or lab.readable(local) or local
            self._rel_names[r, lang] = cached
        return cached

    def entity_langs(self, e: int) -> frozenset[str]:
        """Languages entity ``e`` has a name in."""
        cached = self._langs.get(e)
        if cached is None:
            cands = self.labels.get(self.keys[e])
            cached = frozenset(lab.languages(cands) if cands else {lab.language(self.name(e, "en"), None)})
            self._langs[e] = cached
        return cached

    def literal(self, t: int) -> Lit | None:
        """The literal tail of triple ``t``, or ``None`` when its tail is an entity."""
        x = self.tail[t]
        return self.literals[-1 - x] if x < 0 else None

    def triple_id(self, t: int) -> str:
        """Stable short id of triple ``t``: a hash of its head, relation and tail keys."""
        return triple_id(self.keys[self.head[t]], self.rel_keys[self.rel[t]], self._tail_key(t))

    def _tail_key(self, t: int) -> str | Lit:
        x = self.tail[t]
        return self.literals[-1 - x] if x < 0 else self.keys[x]


def triple_id(head: str, rel: str, tail: str | Lit) -> str:
    """12 hex digits of a hash of ``head|relation|tail`` (a literal with its language or datatype)."""
    if isinstance(tail, Lit):
        tail = f'"{tail.text}"@{tail.lang or ""}^^{tail.datatype or ""}'
    return hashlib.blake2b(f"{head}\x1f{rel}\x1f{tail}".encode(), digest_size=6).hexdigest()


def _name(key: str, labels: dict[str, list[lab.Label]], iri: bool, lang: str) -> str | None:
    cands = labels.get(key)
    if cands:
        return lab.choose(cands, lang)
    if not iri:
        return key
    if key.startswith("_:"):
        return None
    return lab.readable(lab.local_name(key))


class Builder:
    """Collects entities, labels and triples from the loaders; ``finish`` makes the ``KG``."""

    def __init__(self, files: list[str]):
        self.files = files
        self.entity_ids: dict[str, int] = {}
        self.keys: list[str] = []
        self.iri = bytearray()
        self.rel_ids: dict[str, int] = {}
        self.rel_keys: list[str] = []
        self.labels: dict[str, list[lab.Label]] = {}
        self.literal_ids: dict[Lit, int] = {}
        self.literals: list[Lit] = []
        self.head, self.rel, self.tail, self.file = array("i"), array("i"), array("i"), array("H")
        self.deprecated: set[str] = set()
        self.mentions: dict[str, tuple[str, int]] = {}  # class -> (its ontology, file), see rdf
        self.stats: Counter[str] = Counter()
        self.partial: set[tuple[str, str]] = set()  # (head key, relation key) of lists cut off at the source
        self._seen: set[tuple[int, int, int]] = set()
        self._drops: list[tuple[int, str, str, str]] = []  # (file, triple id, reason, detail)

    def entity(self, key: str, iri: bool) -> int:
        """Index of the entity ``key``, added on first sight."""
        e = self.entity_ids.get(key)
        if e is None:
            e = self.entity_ids[key] = len(self.keys)
            self.keys.append(key)
            self.iri.append(iri)
        return e

    def label(self, key: str, label_text: str, tag: str | None, rank: int = 0) -> None:
        """A name for entity or relation ``key`` (``tag``: the literal's language tag)."""
        label_text = " ".join(label_text.split())
        if label_text:
            cands = self.labels.setdefault(key, [])
            entry = (label_text, lab.language(label_text, tag), rank)
            if entry not in cands:
                cands.append(entry)

    def add(self, head: str, rel: str, tail: str | Lit, file: int, iri: bool, where: str = "") -> None:
        """Add the triple ``head rel tail`` read from file number ``file`` (``where``: line or record)."""
        h = self.entity(head, iri)
        r = self.rel_ids.get(rel)
        if r is None:
            r = self.rel_ids[rel] = len(self.rel_keys)
            self.rel_keys.append(rel)
        if isinstance(tail, Lit):
            li = self.literal_ids.get(tail)
            if li is None:
                li = self.literal_ids[tail] = len(self.literals)
                self.literals.append(tail)
            x = -1 - li
        else:
            x = self.entity(tail, iri or looks_like_iri(tail))
        key = (h, r, x)
        if key in self._seen:
            self.stats["duplicate_triples"] += 1
            return
        self._seen.add(key)
        if x == h:
            detail = (f"kg: '{self.files[file]}'{' ' + where if where else ''}: '{head}' {rel} itself; "
                      "a self-loop states nothing, so it is left out")
            self._drops.append((file, triple_id(head, rel, tail), "self_loop", detail))
            return
        self.head.append(h)
        self.rel.append(r)
        self.tail.append(x)
        self.file.append(file)

    def finish(self, ledger: Ledger, source: str, known_relations: Collection[str] = ()) -> KG:
        """Drop what cannot be written (see module doc), index by head and build the graph."""
        named = [self.iri[e] == 0 or _name(k, self.labels, True, "en") is not None
                 for e, k in enumerate(self.keys)]
        rel_ok = [k in known_relations or lab.local_name(k) in known_relations
                  or _name(k, self.labels, looks_like_iri(k), "en") is not None for k in self.rel_keys]
        gone = {self.entity_ids[k] for k in self.deprecated if k in self.entity_ids}
        keep = array("i")
        for t in range(len(self.head)):
            h, r, x = self.head[t], self.rel[t], self.tail[t]
            if h in gone or x in gone:
                self.stats["deprecated_triples"] += 1
            elif not named[h] or (x >= 0 and not named[x]):
                self._drop_unnamed(t, self.keys[h] if not named[h] else self.keys[x])
            elif not rel_ok[r]:
                self._drop(t, "unnamed_relation", f"relation '{self.rel_keys[r]}' has no label: add an "
                           "rdfs:label for the property, or map it to a template in [options.relations]")
            else:
                keep.append(t)
        keep += self._mention_unmentioned(keep, gone, named)
        for f, tid, reason, detail in self._drops:
            ledger.drop(records.record_id(source, self.files[f], f"t{tid}"), reason, detail)
        head, rel, tail, file = (array(a.typecode, (a[t] for t in keep))
                                 for a in (self.head, self.rel, self.tail, self.file))
        starts, by_head = _index_by_head(head, len(self.keys))
        partial = frozenset((self.entity_ids[h], self.rel_ids[r]) for h, r in self.partial
                            if h in self.entity_ids and r in self.rel_ids)
        return KG(self.files, self.keys, self.iri, self.rel_keys, self.labels, self.literals, head, rel,
                  tail, file, build_graph(head, tail, len(self.keys)), starts, by_head, partial)

    def _mention_unmentioned(self, keep: array, gone: set[int], named: list[bool]) -> array:
        """``in_ontology`` triples for declared classes that no kept triple mentions."""
        seen = bytearray(len(self.keys))
        for t in keep:
            seen[self.head[t]] = 1
            if self.tail[t] >= 0:
                seen[self.tail[t]] = 1
        added = array("i")
        for key, (ontology, file) in self.mentions.items():
            e = self.entity_ids.get(key)
            if e is not None and (e >= len(seen) or seen[e] or e in gone or not named[e]):
                continue  # (an entity newer than ``seen`` is an ontology just mentioned)
            if key == ontology or key in self.deprecated or _name(key, self.labels, True, "en") is None:
                continue
            before = len(self.head)
            self.add(key, "in_ontology", ontology, file, True)
            if len(self.head) > before:
                added.append(before)
                self.stats["label_only_classes"] += 1
        return added

    def _tail(self, t: int) -> str | Lit:
        x = self.tail[t]
        return self.literals[-1 - x] if x < 0 else self.keys[x]

    def _drop(self, t: int, reason: str, why: str) -> None:
        tid = triple_id(self.keys[self.head[t]], self.rel_keys[self.rel[t]], self._tail(t))
        self._drops.append((self.file[t], tid, reason, f"kg: '{self.files[self.file[t]]}': {why}"))

    def _drop_unnamed(self, t: int, key: str) -> None:
        if key.startswith("_:"):
            why = ("an anonymous blank node that is not an OWL class expression has no name; give it an "
                   "rdfs:label")
        else:
            why = f"'{key}' has no label and its IRI is an opaque code: add an rdfs:label or skos:prefLabel"
        self._drop(t, "unnamed_entity", why)


def _index_by_head(head: array, n: int) -> tuple[array, array]:
    """Counting sort of triple indices by head: ``starts`` offsets and the ``by_head`` order."""
    counts = array("q", bytes(8 * (n + 1)))
    for h in head:
        counts[h + 1] += 1
    for e in range(n):
        counts[e + 1] += counts[e]
    starts = array("q", counts)
    fill = array("q", counts)
    by_head = array("i", bytes(4 * len(head)))
    for t, h in enumerate(head):
        by_head[fill[h]] = t
        fill[h] += 1
    return starts, by_head


def build_graph(head: array, tail: array, n: int) -> nx.Graph:
    """Undirected entity graph; edge attribute ``triples``: indices of the triples between the pair."""
    pairs: dict[tuple[int, int], list[int]] = {}
    for t, (h, x) in enumerate(zip(head, tail, strict=True)):
        if x >= 0:
            pairs.setdefault((h, x) if h < x else (x, h), []).append(t)
    graph = nx.Graph()
    graph.add_nodes_from(range(n))
    graph.add_edges_from((u, v, {"triples": ts}) for (u, v), ts in pairs.items())
    return graph
