"""Verbalisation: grouped lists, templates by recipe mapping, fallback, language, zh spacing."""

from __future__ import annotations

import re
from array import array

from curate.core.ledger import Ledger
from curate.kg import sample
from curate.kg.graph import Builder, Lit
from curate.kg.sample import Subgraph
from curate.kg.verbalise import Verbaliser
from tests.kg.helpers import from_triples

RELATIONS = {"症状": "symptom", "has_symptom": "symptom", "并发症": "complication"}


def star_texts(kg, relations=RELATIONS, lang="auto"):
    v = Verbaliser(kg, relations, lang)
    return {kg.keys[s.seed]: v(s) for s in sample.entity_stars(kg, array("i", bytes(4 * len(kg))))}


def test_lists_read_as_one_sentence_in_zh_and_en():
    kg, _ = from_triples([("感冒", "症状", "发热"), ("感冒", "症状", "咳嗽"), ("感冒", "症状", "乏力"),
                          ("influenza", "has_symptom", "fever"), ("influenza", "has_symptom", "cough"),
                          ("influenza", "has_symptom", "fatigue")], RELATIONS)
    texts = star_texts(kg)
    assert texts["感冒"] == ("感冒的症状包括发热、咳嗽和乏力。", "zh", ["kg/zh/symptom"])
    assert texts["influenza"] == ("Symptoms of influenza include fever, cough and fatigue.", "en", ["kg/en/symptom"])


def test_unknown_relations_use_the_fallback_template():
    kg, _ = from_triples([("aspirin", "maximum daily dose", Lit("4 g")), ("aspirin", "interacts_with", "warfarin"),
                          ("aspirin", "note", Lit("Take it with food.")),
                          ("influenza", "located_in", "respiratory tract"), ("感冒", "别名", "伤风"),
                          ("感冒", "简介", Lit("多数患者一周左右自愈。"))])
    texts = star_texts(kg, {})
    assert texts["aspirin"][0] == ("The maximum daily dose of aspirin is 4 g. Aspirin interacts with warfarin. "
                                   "The note of aspirin: Take it with food.")
    assert texts["influenza"][0] == "Influenza is located in respiratory tract."
    assert texts["感冒"] == ("感冒的别名是伤风。感冒的简介：多数患者一周左右自愈。", "zh", ["kg/zh/fallback"])


def test_mapping_by_relation_label_and_missing_template_falls_back():
    b = Builder(["g.ttl"])
    rel = "http://example.org/RO_0002452"
    b.label(rel, "has symptom", "en")
    b.label("http://example.org/D1", "influenza", "en")
    b.label("http://example.org/S1", "fever", "en")
    b.add("http://example.org/D1", rel, "http://example.org/S1", 0, True)
    kg = b.finish(Ledger("kg", "read"), "kg", {"has symptom"})
    assert star_texts(kg, {"has symptom": "symptom"})["http://example.org/D1"][0] == "A symptom of influenza is fever."
    assert star_texts(kg, {"has symptom": "no_such_template"})["http://example.org/D1"][2] == ["kg/en/fallback"]


def test_subjects_get_paragraphs_and_seed_comes_first():
    kg, _ = from_triples([("肺炎", "并发症", "脓毒症"), ("感冒", "并发症", "肺炎"), ("感冒", "症状", "发热")],
                         RELATIONS)
    c, p = kg.keys.index("感冒"), kg.keys.index("肺炎")
    sub = Subgraph("khop", p, (1, 0, 2))
    text, lang, used = Verbaliser(kg, RELATIONS)(sub)
    assert text == "肺炎可并发脓毒症。\n感冒可并发肺炎。感冒的症状为发热。"
    assert (lang, used) == ("zh", ["kg/zh/complication", "kg/zh/symptom"])
    assert c != p


def test_zh_text_has_no_spaces_between_chinese_characters():
    kg, _ = from_triples([("急性 上呼吸道 感染", "症状", "咽 痛"), ("急性 上呼吸道 感染", "药物", "对乙酰氨基酚 片")],
                         RELATIONS)
    text, lang, _ = star_texts(kg)["急性 上呼吸道 感染"]
    assert lang == "zh"
    assert text == "急性上呼吸道感染的症状为咽痛。急性上呼吸道感染的药物是对乙酰氨基酚片。"
    assert not re.search(r"[\u4e00-\u9fff]\s+[\u4e00-\u9fff]", text)


def test_language_auto_per_subgraph_and_forced():
    b = Builder(["g.ttl"])
    for key, en, zh in (("D1", "influenza", "流行性感冒"), ("S1", "fever", "发热")):
        b.label(key, en, "en")
        b.label(key, zh, "zh")
    b.add("D1", "has_symptom", "S1", 0, True)
    b.add("D1", "definition", Lit("A viral infection of the airways.", "en"), 0, True)
    kg = b.finish(Ledger("kg", "read"), "kg", {"has_symptom"})
    # names exist in both languages; the English definition decides
    assert star_texts(kg)["D1"][:2] == ("A symptom of influenza is fever. "
                                        "Influenza is a viral infection of the airways.", "en")
    zh = star_texts(kg, lang="zh")["D1"][0]
    assert zh == "流行性感冒的症状为发热。流行性感冒是指A viral infection of the airways。"


def test_prose_literals_keep_their_wording():
    kg, _ = from_triples([("脑卒中", "病因", Lit("高血压和吸烟是主要危险因素。")), ("心衰", "病因", "冠心病")],
                         RELATIONS)
    texts = star_texts(kg, {"病因": "cause"})
    assert texts["脑卒中"][0] == "脑卒中的病因：高血压和吸烟是主要危险因素。"
    assert texts["心衰"][0] == "心衰的病因为冠心病。"
