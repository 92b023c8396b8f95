"""The triple store: duplicates, self-loops, unnamed references, the head index and the graph."""

from __future__ import annotations

from curate.core.ledger import Ledger
from curate.kg.graph import Builder, Lit, triple_id
from tests.kg.helpers import from_triples

EX = "http://example.org/"


def test_duplicates_self_loops_and_dangling_tails():
    kg, ledger = from_triples([("感冒", "症状", "发热"), ("感冒", "症状", "发热"), ("中耳炎", "并发症", "中耳炎"),
                               ("感冒", "并发症", "中耳炎"), ("感冒", "治愈率", Lit("99%"))])
    assert len(kg) == 3
    names = {kg.name(e, "zh") for e in range(len(kg.keys))}
    assert {"发热", "中耳炎"} <= names  # tails described nowhere else are leaf entities named by their value
    [row] = ledger.rows
    assert row[0] == f"kg/t.tsv#t{triple_id('中耳炎', '并发症', '中耳炎')}"
    assert row[3:5] == ("drop", "self_loop")


def test_unnamed_entities_and_relations_are_dropped_with_a_reason():
    b = Builder(["g.nt"])
    b.label(f"{EX}D1", "influenza", "en")
    b.add(f"{EX}D1", f"{EX}has_symptom", f"{EX}C0015967", 0, True)       # opaque tail, no label
    b.add(f"{EX}D1", f"{EX}RO_0002452", f"{EX}fever", 0, True)            # opaque relation, no label
    b.add(f"{EX}D1", f"{EX}RO_0002200", f"{EX}cough", 0, True)            # opaque, but mapped in the recipe
    b.add(f"{EX}D1", f"{EX}has_part", "_:f0b3", 0, True)                  # anonymous blank node
    ledger = Ledger("kg", "read")
    kg = b.finish(ledger, "kg", {"RO_0002200"})
    kept = [(kg.rel_keys[kg.rel[t]], kg.keys[kg.tail[t]]) for t in range(len(kg))]
    assert kept == [(f"{EX}RO_0002200", f"{EX}cough")]
    reasons = [(r[4], r[5]) for r in ledger.rows]
    assert reasons[0] == ("unnamed_entity", f"kg: 'g.nt': '{EX}C0015967' has no label and its IRI is an opaque "
                          "code: add an rdfs:label or skos:prefLabel")
    assert reasons[1][0] == "unnamed_relation" and "map it to a template in [options.relations]" in reasons[1][1]
    assert reasons[2][0] == "unnamed_entity" and "anonymous blank node" in reasons[2][1]


def test_head_index_and_undirected_graph():
    kg, _ = from_triples([("a1", "r", "b1"), ("b1", "r", "a1"), ("a1", "s", "c1"), ("c1", "note", Lit("text"))])
    a, b, c = (kg.keys.index(k) for k in ("a1", "b1", "c1"))
    assert list(kg.out(a)) == [0, 2] and list(kg.out(b)) == [1] and list(kg.out(c)) == [3]
    assert kg.graph[a][b]["triples"] == [0, 1]  # both directions share one undirected edge
    assert kg.graph[a][c]["triples"] == [2]
    assert kg.graph.number_of_edges() == 2
    assert kg.subjects() == [a, b, c]
    assert kg.triple_id(3) == triple_id("c1", "note", Lit("text")) != triple_id("c1", "note", "text")
