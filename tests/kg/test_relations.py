"""The relation mapping: bundled names of the common Chinese medical KG dumps, spellings, recipe additions."""

from __future__ import annotations

import pytest

from curate.kg import relations as rel
from curate.text import templates

# The columns of the widely copied disease tables and medical.json, and the CMeIE relation types.
DUMP_FIELDS = {
    "alias": "synonym", "part": "body_part", "age": "population", "infection": "contagion", "insurance": "insurance",
    "department": "department", "checklist": "check", "symptom": "symptom", "complication": "complication",
    "treatment": "treatment", "drug": "drug", "period": "duration", "rate": "cure_rate", "money": "cost",
    "desc": "description", "cause": "cause", "prevent": "prevention", "diseases": "indication",
    "acompany": "complication", "cure_way": "treatment", "cure_department": "department", "cured_prob": "cure_rate",
    "cure_lasttime": "duration", "cost_money": "cost", "yibao_status": "insurance", "easy_get": "population",
    "get_way": "transmission", "get_prob": "prevalence", "common_drug": "drug", "recommand_drug": "drug",
    "do_eat": "diet_good", "not_eat": "diet_avoid", "category": "type",
    "别名": "synonym", "发病部位": "body_part", "易感人群": "population", "传染性": "contagion", "医保": "insurance",
    "就诊科室": "department", "检查": "check", "症状": "symptom", "并发症": "complication", "治疗方法": "treatment",
    "常用药物": "drug", "治疗周期": "duration", "治愈率": "cure_rate", "治疗费用": "cost", "简介": "description",
    "病因": "cause", "预防": "prevention", "主治": "indication",
    "临床表现": "symptom", "鉴别诊断": "differential", "高危因素": "risk_factor", "转移部位": "metastasis",
    "相关（导致）": "leads_to", "相关（转化）": "progresses_to", "预后生存率": "survival_rate",
    "多发群体": "population",
}


@pytest.mark.parametrize(("name", "rid"), sorted(DUMP_FIELDS.items()))
def test_dump_fields_are_mapped(name, rid):
    found = rel.default().find(name)
    assert found is not None and found.id == rid


def test_every_relation_has_words_and_a_template_in_both_languages():
    for r in rel.default().by_id.values():
        assert r.zh and r.en and r.kind in rel.KINDS, r
        for lang in ("zh", "en"):
            assert templates.exists(f"kg/{lang}/{r.template}"), (r.id, lang)


def test_spellings_match_after_normalisation():
    d = rel.default()
    assert d.find("Cure Way") == d.find("cure-way") == d.find("CURE_WAY") == d.find("cure_way")
    assert d.find("相关(导致)") == d.find("相关（导致）")  # full-width brackets are NFKC-folded
    assert d.find("no such column") is None


def test_recipe_names_add_to_and_override_the_bundled_mapping():
    r = rel.Relations({"主治病证": "indication", "part": "symptom", "穴性": {"zh": "穴性", "en": "properties",
                                                                     "kind": "value"}})
    assert r.find("主治病证").id == "indication"
    assert r.find("part").id == "symptom"
    own = r.find("穴性")
    assert (own.template, own.zh, own.en, own.kind) == ("attribute", "穴性", "properties", "value")
    with pytest.raises(ValueError, match="kind"):
        rel.Relations({"x": {"kind": "number"}})
