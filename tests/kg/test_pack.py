"""Documents of useful length: one-fact sub-graphs merged by shared facts and neighbours, hubs split."""

from __future__ import annotations

from array import array
from collections import Counter

from curate.kg import pack, sample
from curate.kg.graph import Lit
from curate.kg.verbalise import Verbaliser
from tests.kg.helpers import from_triples


def docs_of(kg, min_chars, max_chars, lang="auto"):
    v = Verbaliser(kg, {}, lang)
    stars = sample.entity_stars(kg, array("i", bytes(4 * len(kg))))
    return list(pack.documents(kg, stars, v, min_chars, max_chars))


def single_relation_graph(n: int):
    cats = ("疾病", "症状", "检查", "药物")
    return from_triples([(f"实体{i:04d}", "类别", cats[i % 4]) for i in range(n)])[0]


def test_one_fact_entities_become_lists_of_useful_length():
    kg = single_relation_graph(2000)
    docs = docs_of(kg, 200, 2000)
    lengths = [len(d.text) for d in docs]
    assert min(lengths) >= 200 and max(lengths) <= 2000
    assert len(docs) < 100  # not 2,000 one-line documents
    assert Counter(t for d in docs for t in d.triples) == Counter(range(len(kg)))  # each triple once
    assert {s for d in docs for s in d.subjects} == set(kg.subjects())
    assert all(d.scale == "merged" for d in docs)
    assert "均属于疾病。" in docs[0].text and "的类别" not in docs[0].text


def test_a_graph_smaller_than_the_minimum_is_one_document():
    kg = single_relation_graph(8)
    docs = docs_of(kg, 200, 2000)
    assert len(docs) == 1 and len(docs[0].triples) == 8


def test_without_a_minimum_every_star_is_its_own_document():
    kg = single_relation_graph(40)
    assert len(docs_of(kg, 0, 0)) == 40


def test_a_hub_star_longer_than_the_maximum_is_split_in_pieces():
    triples = [("感冒", "症状", f"症状{i:03d}") for i in range(300)]
    triples += [("感冒", "并发症", f"并发症{i:03d}") for i in range(100)]
    triples += [("感冒", "简介", Lit("感冒是常见的上呼吸道感染。" * 3))]
    kg, _ = from_triples(triples, {"症状", "并发症", "简介"})
    docs = docs_of(kg, 200, 1000)
    assert len(docs) >= 3 and all(len(d.text) <= 1000 for d in docs)
    assert all(d.split for d in docs)
    assert Counter(t for d in docs for t in d.triples) == Counter(range(len(kg)))
    assert all(d.text.count("感冒的症状包括") <= 1 for d in docs)


def test_merged_documents_keep_one_language_and_neighbours_together():
    zh = [(f"穴{i}", "主治", "头痛" if i < 10 else "腹痛") for i in range(20)]
    en = [(f"point {i}", "indication", "headache") for i in range(10)]
    kg, _ = from_triples(zh + en)
    docs = docs_of(kg, 60, 400)
    assert {d.lang for d in docs} == {"zh", "en"}
    for d in docs:
        assert all(kg.name(s, "en").startswith("point") == (d.lang == "en") for s in d.subjects)
    first = next(d for d in docs if d.lang == "zh")
    assert "头痛" in first.text and first.text.startswith("穴0、穴1")
