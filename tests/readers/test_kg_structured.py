"""Entity tables, triple files and small graphs as real Chinese KGs ship them, read into fluent documents:
the bundled defect samples, the shared acupoint graph, and the structured-text checker's figures."""

from __future__ import annotations

import dataclasses
import importlib.util
import json
import statistics

import pytest
from click.testing import CliRunner

from curate.build import recipes
from curate.cli import main
from curate.core.audit import audit
from curate.readers import kg
from tests.conftest import ROOT, SAMPLES
from tests.readers.test_kg import RECIPE, read

_spec = importlib.util.spec_from_file_location("structured_check", ROOT / "bench" / "structured_check.py")
check = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(check)


def field_names(text: str) -> list[str]:
    return [m.group(0) for p in check.FIELD_PATTERNS for m in p.finditer(text)]


def debris(text: str) -> dict[str, list[str]]:
    return {k: p.findall(text) for k, p in check.DEBRIS.items() if p.findall(text)}


@pytest.fixture(scope="module")
def options() -> kg.Config:
    return recipes.load_source(RECIPE).options


def test_disease_table_reads_without_column_names_or_debris(options):
    docs, rows, stats = read([SAMPLES / "kg" / "zh_disease_table_gb18030.csv"], options)
    text = "\n".join(d["text"] for d in docs)
    assert field_names(text) == [] and debris(text) == {}
    stars, _, _ = read([SAMPLES / "kg" / "zh_disease_table_gb18030.csv"],
                       dataclasses.replace(options, sample_subgraphs=False, min_doc_chars=0))
    first = stars[0]["text"]
    for sentence in ("小儿砷中毒又称儿童砷中毒。", "小儿砷中毒的发病部位为全身。", "小儿砷中毒多发于儿童。",
                     "小儿砷中毒无传染性。", "小儿砷中毒不属于医保疾病。", "小儿砷中毒的就诊科室为儿科和小儿内科。",
                     "小儿砷中毒的检查项目包括全血砷、尿砷和发砷等。", "小儿砷中毒的治疗周期一般为1至2个月。",
                     "小儿砷中毒的治愈率约为85%。",
                     "小儿砷中毒的治疗费用：根据不同医院，收费标准不一致，市三甲医院约2000至5000元。"):
        assert sentence in first, sentence
    assert "常用药物" not in first  # its drug column was ">>" only
    assert rows == [] and stats["triples_unwritten"] == 0


def test_single_relation_graph_reads_as_lists_not_one_liners(options):
    docs, _, stats = read([SAMPLES / "kg" / "zh_categories.spo"], options)
    assert len(docs) == 1 and len(docs[0]["text"]) >= 200  # the whole graph is one document's worth
    assert "肛门反射减弱或消失、皮肤瘙痒、关节肿痛和视物模糊均属于症状。" in docs[0]["text"]
    assert set(docs[0]["meta"]["subjects"]) == {line.split("\t")[0] for line in
                                                (SAMPLES / "kg" / "zh_categories.spo").read_text().splitlines()}
    assert stats["subjects"] == 46


def test_unmapped_column_is_ledgered_once_with_its_count(tmp_path):
    rows = [{"name": f"病{i}", "症状": ["发热"], "score_v2": "高"} for i in range(5)]
    (tmp_path / "t.jsonl").write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in rows), encoding="utf-8")
    docs, ledger_rows, stats = read([tmp_path], kg.Config())
    assert "score" not in "".join(d["text"] for d in docs) and "高" not in "".join(d["text"] for d in docs)
    assert [(r[0], r[3], r[4]) for r in ledger_rows] == [("kg/t.jsonl#relation=score_v2", "modify",
                                                          "unwritten_relation")]
    assert "its 5 triple(s) are not written in zh text" in ledger_rows[0][5]
    assert stats["triples_unwritten"] == 5


def test_cli_reads_a_spo_file_and_accepts_format_tsv(tmp_path):
    spo = tmp_path / "g.spo"
    spo.write_text("".join(f"疾病{i}\t类别\t{'疾病' if i % 2 else '症状'}\n" for i in range(300)), encoding="utf-8")
    for extra in ([], ["--format", "tsv"]):
        out = tmp_path / ("sniffed" if not extra else "given")
        result = CliRunner().invoke(main, ["build", "kg", "--input", str(spo), "--recipe", str(RECIPE), *extra,
                                           "--out", str(out), "--workers", "1", "--no-progress"])
        assert result.exit_code == 0, result.output
        manifest = json.loads((out / "kg" / "manifest.json").read_text())["sources"]["kg"]
        assert manifest["quarantined"] == 0 and manifest["stats"]["subjects"] == 300
        assert audit(out / "kg").ok
        figures = check.check_build(out / "kg")["kg"]
        assert figures["subjects"]["share"] == 1.0 and figures["length"]["median"] >= 200


def test_shared_acupoint_graph_meets_the_goals(realdata, options, tmp_path):
    path = realdata / "chinese_kg" / "acupoints_medical.json"
    if not path.is_file():
        pytest.skip("acupoints_medical.json is not present")
    result = CliRunner().invoke(main, ["build", "kg", "--input", str(path), "--recipe", str(RECIPE),
                                       "--out", str(tmp_path), "--workers", "1", "--no-progress"])
    assert result.exit_code == 0, result.output
    figures = check.check_build(tmp_path / "kg")["kg"]
    assert check.goals(figures) == [], figures
    assert figures["subjects"]["share"] >= 0.99 and figures["length"]["median"] >= 200
    docs, _, _ = read([path], dataclasses.replace(options, sample_subgraphs=False))
    text = "\n".join(d["text"] for d in docs)
    assert "大椎主治热病、疟疾、咳嗽、喘逆、骨蒸潮热、头痛项强、肩背痛、五劳虚损、七伤乏力、中暑和风疹。" in text
    assert "神庭主治头痛、眩晕" in text and "] 头痛" not in text  # bracket debris
    assert "心俞主治" in text and "盗 汗" not in text and "盗汗" in text  # a space inside one word
    assert "百会：（回旋灸）主治炎症。" in text  # a value restating its relation reads as a sentence
    assert statistics.median(len(d["text"]) for d in docs) >= 200


MEDICAL_JSON = ('{ "_id" : { "$oid" : "5bb578b6831b973a137e3ee6" }, "name" : "百日咳", '
                '"desc" : "百日咳是由百日咳杆菌所致的急性呼吸道传染病。", "category" : [ "疾病百科", "儿科" ], '
                '"cause" : "百日咳杆菌感染。", "symptom" : [ "阵发性痉挛性咳嗽", "鸡鸣样吸气吼声" ], '
                '"yibao_status" : "是", "get_prob" : "0.5%", "easy_get" : "多见于5岁以下小儿", '
                '"get_way" : "无传染性", "acompany" : [ "肺炎" ], "cure_department" : [ "儿科", "小儿内科" ], '
                '"cure_lasttime" : "约3个月", "cured_prob" : "约40%", "recommand_eat" : [ "百合粥" ], '
                '"drug_detail" : [ "长城人血白蛋白(人血白蛋白)" ], "recommand_drug" : [ ] }\n')


def test_medical_json_dump_reads_as_prose(tmp_path):
    (tmp_path / "medical.json").write_text(MEDICAL_JSON, encoding="utf-8")
    (tmp_path / "attrs.csv").write_text("实体,属性,值\n百日咳,鉴别诊断,支气管炎\n百日咳,高危因素,未接种疫苗\n",
                                        encoding="utf-8")
    docs, rows, _ = read([tmp_path], kg.Config(min_doc_chars=0))
    text = docs[0]["text"]
    # attrs.csv is read first: facts keep their load order
    assert text == ("百日咳的鉴别诊断为支气管炎。百日咳的高危因素为未接种疫苗。"
                    "百日咳是由百日咳杆菌所致的急性呼吸道传染病。百日咳属于儿科。百日咳的病因：百日咳杆菌感染。"
                    "百日咳的症状包括阵发性痉挛性咳嗽和鸡鸣样吸气吼声。百日咳属于医保疾病。百日咳的患病比例为0.5%。"
                    "百日咳多见于5岁以下小儿。百日咳无传染性。百日咳可并发肺炎。百日咳的就诊科室为儿科和小儿内科。"
                    "百日咳的治疗周期约为3个月。百日咳的治愈率约为40%。百日咳的推荐食谱为百合粥。"
                    "百日咳的常用药品（商品名）为长城人血白蛋白(人血白蛋白)。")
    assert rows == []
