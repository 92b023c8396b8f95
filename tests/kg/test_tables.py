"""Triples tables and entity records: shapes, value splitting, literals, encodings, bad rows."""

from __future__ import annotations

import json

import pytest

from curate.kg.graph import Lit
from curate.text.textio import NotText
from tests.kg.helpers import facts, from_files


def test_entity_records_split_lists_and_keep_prose_whole(tmp_path):
    rows = [{"name": "感冒", "症状": ["发热", "咳嗽"], "并发症": "中耳炎、 肺炎", "易感人群": "儿童 老年人",
             "简介": "感冒是常见的上呼吸道感染", "治愈率": "99%", "治疗周期": "5-7天", "id": 17,
             "病因": "多由病毒引起。受凉是诱因。"},
            {"name": "common cold", "symptom": "runny nose, sore throat", "cure_way": "rest; fluids"}]
    (tmp_path / "d.json").write_text(json.dumps(rows, ensure_ascii=False), encoding="utf-8")
    kg, ledger, _ = from_files([tmp_path / "d.json"])
    assert facts(kg, "zh") == {
        ("感冒", "症状", "发热"), ("感冒", "症状", "咳嗽"), ("感冒", "并发症", "中耳炎"), ("感冒", "并发症", "肺炎"),
        ("感冒", "易感人群", "儿童"), ("感冒", "易感人群", "老年人"), ("感冒", "简介", "感冒是常见的上呼吸道感染"),
        ("感冒", "治愈率", "99%"), ("感冒", "治疗周期", "5-7天"), ("感冒", "病因", "多由病毒引起。受凉是诱因。"),
        ("common cold", "symptom", "runny nose"), ("common cold", "symptom", "sore throat"),
        ("common cold", "cure_way", "rest"), ("common cold", "cure_way", "fluids")}
    literal = {kg.rel_keys[kg.rel[t]] for t in range(len(kg)) if kg.literal(t) is not None}
    assert literal == {"简介", "治愈率", "治疗周期", "病因"}  # text and attribute columns are not nodes
    assert ledger.rows == []


def test_gb18030_csv_records_and_bad_rows(tmp_path):
    text = "疾病名称,症状,科室\n高血压,头晕 头痛,心血管内科\n,乏力,\n冠心病,,\n"
    (tmp_path / "d.csv").write_bytes(text.encode("gb18030"))
    kg, ledger, _ = from_files([tmp_path / "d.csv"])
    assert facts(kg, "zh") == {("高血压", "症状", "头晕"), ("高血压", "症状", "头痛"), ("高血压", "科室", "心血管内科")}
    rows = {r[0]: r[3:] for r in ledger.rows}
    assert rows["kg/d.csv#L3"][:2] == ("quarantine", "malformed_record")
    assert "no name field" in rows["kg/d.csv#L3"][2]
    assert rows["kg/d.csv#L4"] == ("drop", "empty_record", "kg: 'd.csv' L4: a name and no relations")


def test_triple_tables_with_and_without_header(tmp_path):
    (tmp_path / "h.csv").write_text("subject,predicate,object\naspirin,treats,headache\nfever,,x\n", encoding="utf-8")
    (tmp_path / "n.tsv").write_text("flu\thas_symptom\tfever\nflu\tonly two\n\nflu\tis_a\tinfection\n",
                                    encoding="utf-8")
    kg, ledger, _ = from_files([tmp_path / "h.csv", tmp_path / "n.tsv"])
    assert facts(kg) == {("aspirin", "treats", "headache"), ("flu", "has_symptom", "fever"),
                         ("flu", "is_a", "infection")}
    rows = {r[0]: r[5] for r in ledger.rows}
    assert rows["kg/h.csv#L3"] == "kg: 'h.csv' L3: empty relation"
    assert "expected 3 non-empty fields (head, relation, tail), got 2" in rows["kg/n.tsv#L2"]


def test_json_triples_and_objects_where_values_belong(tmp_path):
    rows = [{"head": "flu", "relation": "has_symptom", "tail": "fever"},
            {"head": "flu", "relation": "has_symptom", "tail": {"id": 3}},
            {"name": "cold", "symptom": {"nested": True}}]
    (tmp_path / "t.jsonl").write_text("\n".join(json.dumps(r) for r in rows) + "\n{broken\n", encoding="utf-8")
    kg, ledger, _ = from_files([tmp_path / "t.jsonl"])
    assert facts(kg) == {("flu", "has_symptom", "fever")}
    reasons = {r[0]: (r[4], r[5]) for r in ledger.rows}
    assert reasons["kg/t.jsonl#L2"] == ("malformed_record", "kg: 't.jsonl' L2: column 'tail' holds a dict; "
                                        "expected a single value")
    assert reasons["kg/t.jsonl#L3"][1].endswith("column 'symptom' holds an object; expected text or a list")
    assert reasons["kg/t.jsonl#L4"][0] == "malformed_json"


def test_unrecognised_table_is_refused_with_what_to_do(tmp_path):
    (tmp_path / "x.csv").write_text("a,b,c,d\n1,2,3,4\n", encoding="utf-8")
    with pytest.raises(NotText, match="expected a header with head/relation/tail columns"):
        from_files([tmp_path / "x.csv"])


def test_values_without_letters_are_literals(tmp_path):
    (tmp_path / "r.json").write_text(json.dumps([{"name": "肺炎", "发病年龄": "65", "检查": "CT、血常规"}],
                                                ensure_ascii=False), encoding="utf-8")
    kg, _, _ = from_files([tmp_path / "r.json"])
    tails = {kg.rel_keys[kg.rel[t]]: kg.literal(t) for t in range(len(kg))}
    assert tails["发病年龄"] == Lit("65") and tails["检查"] is None
