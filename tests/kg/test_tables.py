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
    # text and value columns (the mapping's kinds) are not nodes
    assert literal == {"简介", "治愈率", "治疗周期", "病因", "易感人群"}
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


DISEASE_TABLE = ("name,alias,part,age,infection,insurance,department,checklist,symptom,complication,treatment,drug,"
                 "period,rate,money\n"
                 "小儿砷中毒,儿童砷中毒,全身,多发于儿童,无传染性,非医保疾病,儿科 小儿内科,全血砷 尿砷 发砷 ... [详细],"
                 "腹痛 呕吐 腹泻 [详细],周围神经病、、中毒性肝病,药物治疗 支持性治疗,>>,1-2个月,85%,"
                 "根据不同医院，收费标准不一致，市三甲医院约（2000——5000元）\n")


def test_disease_table_columns_map_to_relations_and_debris_is_cleaned(tmp_path):
    (tmp_path / "d.csv").write_bytes(DISEASE_TABLE.encode("gb18030"))
    kg, ledger, _ = from_files([tmp_path / "d.csv"])
    assert facts(kg, "zh") == {
        ("小儿砷中毒", "alias", "儿童砷中毒"), ("小儿砷中毒", "part", "全身"), ("小儿砷中毒", "age", "多发于儿童"),
        ("小儿砷中毒", "infection", "无传染性"), ("小儿砷中毒", "insurance", "非医保疾病"),
        ("小儿砷中毒", "department", "儿科"), ("小儿砷中毒", "department", "小儿内科"),
        ("小儿砷中毒", "checklist", "全血砷"), ("小儿砷中毒", "checklist", "尿砷"), ("小儿砷中毒", "checklist", "发砷"),
        ("小儿砷中毒", "symptom", "腹痛"), ("小儿砷中毒", "symptom", "呕吐"), ("小儿砷中毒", "symptom", "腹泻"),
        ("小儿砷中毒", "complication", "周围神经病"), ("小儿砷中毒", "complication", "中毒性肝病"),
        ("小儿砷中毒", "treatment", "药物治疗"), ("小儿砷中毒", "treatment", "支持性治疗"),
        ("小儿砷中毒", "period", "1-2个月"), ("小儿砷中毒", "rate", "85%"),
        ("小儿砷中毒", "money", "根据不同医院，收费标准不一致，市三甲医院约2000-5000元")}  # drug ">>" was debris only
    e, checklist = kg.keys.index("小儿砷中毒"), kg.rel_keys.index("checklist")
    assert kg.partial == {(e, checklist)}  # "..." cut the list off
    assert ledger.rows == []


def test_spo_triples_are_sniffed_and_a_data_first_row_is_not_a_header(tmp_path):
    # "疾病" is also a name-column alias: the first row is still data, because its relation recurs
    (tmp_path / "c.spo").write_text("感冒\t类别\t疾病\n发热\t类别\t症状\n咳嗽\t类别\t症状\n", encoding="utf-8")
    (tmp_path / "t.triples").write_text("head,relation,tail\n肺炎,症状,咳嗽\n", encoding="utf-8")
    kg, ledger, _ = from_files([tmp_path / "c.spo", tmp_path / "t.triples"])
    assert facts(kg, "zh") == {("感冒", "类别", "疾病"), ("发热", "类别", "症状"), ("咳嗽", "类别", "症状"),
                               ("肺炎", "症状", "咳嗽")}
    assert ledger.rows == []


def test_format_tsv_or_csv_reads_any_suffix_as_triples(tmp_path):
    (tmp_path / "g.dat").write_text("a\tis_a\tb\nc\tis_a\tb\n", encoding="utf-8")
    kg, _, _ = from_files([tmp_path / "g.dat"], fmt="tsv")
    assert facts(kg) == {("a", "is_a", "b"), ("c", "is_a", "b")}
    (tmp_path / "g.csv").write_text("a\tis_a\tb\n", encoding="utf-8")  # tab-separated under a .csv name
    kg, _, _ = from_files([tmp_path / "g.csv"], fmt="tsv")
    assert facts(kg) == {("a", "is_a", "b")}


def test_unknown_content_is_refused_with_what_to_do(tmp_path):
    (tmp_path / "notes.spo").write_text("just a sentence\n", encoding="utf-8")
    with pytest.raises(NotText, match="pass --format tsv"):
        from_files([tmp_path / "notes.spo"])


def test_list_values_are_split_cleaned_and_statements_kept_whole(tmp_path):
    rows = [{"name": "神庭", "diseases": ["] 头痛", "眩晕", "", "目赤 肿痛", "头痛、耳鸣", "多汗；配"]},
            {"name": "百会", "diseases": ["（回旋灸）主治炎症"]}]
    (tmp_path / "a.jsonl").write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in rows), encoding="utf-8")
    kg, _, _ = from_files([tmp_path / "a.jsonl"])
    assert facts(kg, "zh") == {("神庭", "diseases", t) for t in ("头痛", "眩晕", "目赤肿痛", "耳鸣", "多汗")} | {
        ("百会", "diseases", "（回旋灸）主治炎症。")}
    assert kg.partial == {(kg.keys.index("神庭"), kg.rel_keys.index("diseases"))}  # "配" was a cut-off fragment
