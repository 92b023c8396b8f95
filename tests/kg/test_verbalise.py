"""Verbalisation: grouped lists, templates by the relation mapping, fallback, language, zh spacing, subjects
sharing a fact, relations without a name in the text's language, values and cut-off lists."""

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
    """(text, lang, templates) of each entity's star."""
    v = Verbaliser(kg, relations, lang)
    return {kg.keys[s.seed]: tuple(v(s)[:3]) for s in sample.entity_stars(kg, array("i", bytes(4 * len(kg))))}


def test_lists_read_as_one_sentence_in_zh_and_en():
    kg, _ = from_triples([("感冒", "症状", "发热"), ("感冒", "症状", "咳嗽"), ("感冒", "症状", "乏力"),
                          ("influenza", "has_symptom", "fever"), ("influenza", "has_symptom", "cough"),
                          ("influenza", "has_symptom", "fatigue")], RELATIONS)
    texts = star_texts(kg)
    assert texts["感冒"] == ("感冒的症状包括发热、咳嗽和乏力。", "zh", ["kg/zh/symptom"])
    assert texts["influenza"] == ("Symptoms of influenza include fever, cough and fatigue.", "en", ["kg/en/symptom"])


def test_unknown_relations_use_the_fallback_template_and_mapped_ones_their_own():
    kg, _ = from_triples([("aspirin", "maximum daily dose", Lit("4 g")), ("aspirin", "interacts_with", "warfarin"),
                          ("aspirin", "note", Lit("Take it with food.")),
                          ("influenza", "located_in", "respiratory tract"), ("感冒", "别名", "伤风"),
                          ("感冒", "简介", Lit("多数患者一周左右自愈。")), ("感冒", "备注", "常见病")])
    texts = star_texts(kg, {})
    assert texts["aspirin"][0] == ("The maximum daily dose of aspirin is 4 g. Aspirin interacts with warfarin. "
                                   "The note of aspirin: Take it with food.")
    assert texts["influenza"][0] == "Influenza is located in respiratory tract."
    # 别名 and 简介 are in the bundled mapping; 备注 is not, and reads through the fallback
    assert texts["感冒"] == ("感冒又称伤风。感冒：多数患者一周左右自愈。感冒的备注是常见病。", "zh",
                           ["kg/zh/description", "kg/zh/fallback", "kg/zh/synonym"])


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
    text, lang, used, subjects, skipped = Verbaliser(kg, RELATIONS)(sub)
    assert text == "肺炎可并发脓毒症。\n感冒可并发肺炎。感冒的症状为发热。"
    assert (lang, used) == ("zh", ["kg/zh/complication", "kg/zh/symptom"])
    assert (subjects, skipped) == ([p, c], [])
    assert c != p


def test_zh_text_has_no_spaces_between_chinese_characters():
    kg, _ = from_triples([("急性 上呼吸道 感染", "症状", "咽 痛"), ("急性 上呼吸道 感染", "药物", "对乙酰氨基酚 片")],
                         RELATIONS)
    text, lang, _ = star_texts(kg)["急性 上呼吸道 感染"]
    assert lang == "zh"
    assert text == "急性上呼吸道感染的症状为咽痛。治疗急性上呼吸道感染的常用药物有对乙酰氨基酚片。"
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


def test_subjects_sharing_their_one_fact_are_listed_together():
    triples = [(f"病{i}", "类别", "疾病") for i in range(35)] + [("发热", "类别", "症状"), ("咳嗽", "类别", "症状"),
                                                            ("感冒", "症状", "发热")]
    kg, _ = from_triples(triples, RELATIONS)
    sub = Subgraph("merged", kg.keys.index("疾病"), tuple(range(len(kg))))
    text = Verbaliser(kg, RELATIONS)(sub).text
    lines = text.split("\n")
    # 35 subjects in runs of at most GROUP (30); 发热 and 咳嗽 share theirs; 感冒's fact is its own
    assert lines[0] == "、".join(f"病{i}" for i in range(29)) + "和病29均属于疾病。"
    assert lines[1] == "病30、病31、病32、病33和病34均属于疾病。"
    assert "发热和咳嗽均属于症状。" in lines and "感冒的症状为发热。" in lines
    assert len(lines) == 4


def test_a_relation_without_a_name_in_the_text_language_is_left_out():
    kg, _ = from_triples([("小儿砷中毒", "part", "全身"), ("小儿砷中毒", "症状", "腹痛"),
                          ("小儿砷中毒", "自定义", "甲"),
                          ("gout", "主治疾病列表x", "joint pain"), ("gout", "has_symptom", "joint pain")])
    v = Verbaliser(kg, RELATIONS)
    stars = {kg.keys[s.seed]: v(s) for s in sample.entity_stars(kg, array("i", bytes(4 * len(kg))))}
    zh = stars["小儿砷中毒"]
    # "part" is mapped (发病部位); "自定义" reads through the fallback in Chinese text
    assert zh.text == "小儿砷中毒的发病部位为全身。小儿砷中毒的症状为腹痛。小儿砷中毒的自定义是甲。"
    en = stars["gout"]
    assert en.text == "A symptom of gout is joint pain." and len(en.skipped) == 1
    assert kg.rel_keys[kg.rel[en.skipped[0]]] == "主治疾病列表x"
    unknown_en, _ = from_triples([("小儿砷中毒", "risk_score_v2", "高"), ("小儿砷中毒", "症状", "腹痛")])
    r = Verbaliser(unknown_en, RELATIONS, "zh")(next(sample.entity_stars(unknown_en, array("i", bytes(8)))))
    assert r.text == "小儿砷中毒的症状为腹痛。" and [unknown_en.rel_keys[unknown_en.rel[t]] for t in r.skipped] == \
        ["risk_score_v2"]


def test_values_read_naturally_and_cut_lists_end_with_deng():
    kg, _ = from_triples([("肺结核", "治疗周期", Lit("6-9个月")), ("肺结核", "rate", Lit("60%-70%")),
                          ("肺结核", "医保", Lit("是")), ("肺结核", "传染性", Lit("有传染性")),
                          ("肺结核", "money", Lit("3000-8000元")), ("肺结核", "checklist", "胸部CT"),
                          ("肺结核", "checklist", "痰涂片"), ("tb", "cure_lasttime", Lit("6-9 months")),
                          ("tb", "cured_prob", Lit("90%"))])
    b_partial = {(kg.keys.index("肺结核"), kg.rel_keys.index("checklist"))}
    kg.partial = frozenset(b_partial)
    texts = star_texts(kg, {})
    assert texts["肺结核"][0] == ("肺结核的治疗周期一般为6至9个月。肺结核的治愈率约为60%至70%。肺结核属于医保疾病。"
                                "肺结核有传染性。肺结核的治疗费用约为3000至8000元。肺结核的检查项目包括胸部CT和痰涂片等。")
    assert texts["tb"][0] == "Treatment of tb usually takes 6–9 months. The cure rate of tb is about 90%."


def test_recipe_relations_with_words_of_their_own():
    kg, _ = from_triples([("百会", "穴性", Lit("升阳举陷")), ("百会", "主治病证", "头痛"),
                          ("百会", "主治病证", "眩晕")])
    relations = {"穴性": {"zh": "穴性", "en": "properties", "kind": "value"}, "主治病证": "indication"}
    assert star_texts(kg, relations)["百会"][0] == "百会的穴性为升阳举陷。百会主治头痛和眩晕。"
