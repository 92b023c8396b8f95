"""Exam stems classified by form before they are rewritten: one template per form in zh and en, each
statement grammatical and stating the fact once; the forms of the real CMMLU rows; short facts kept."""

from __future__ import annotations

import importlib.util
import json

import pytest
from click.testing import CliRunner

from curate.benchmarks import mcq
from curate.cli import main
from curate.readers import exams
from tests.conftest import ROOT

_spec = importlib.util.spec_from_file_location("structured_check", ROOT / "bench" / "structured_check.py")
check = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(check)


def point(question: str, options: list[str], answer: str) -> tuple[str, str, str]:
    """(form, template, statement) of one item."""
    item = mcq.parse({"question": question, "options": options, "answer": answer})
    body, _, template, form = exams._knowledge_point(item, exams.Config(include_explanation=False))
    return form, template.rsplit("/", 1)[1], body


@pytest.mark.parametrize(("question", "options", "answer", "form", "template", "expected"), [
    # negative: 错误的是 / 不正确 / 除外 / 不包括, with the topic named once ("有关", "下述" are not topics)
    ("有关膝关节，下列说法错误的是", ["由股骨下端、胫骨上端和髌骨构成", "是人体最大的关节", "不含半月板"], "C",
     "negative", "negative", "关于膝关节，正确的说法有：由股骨下端、胫骨上端和髌骨构成；是人体最大的关节。"
     "“不含半月板”的说法是错误的。"),
    ("关于糖的有氧氧化，下述不正确的是", ["是糖分解供能的主要方式", "在胞质中全部完成"], "B", "negative", "negative",
     "关于糖的有氧氧化，正确的说法有：是糖分解供能的主要方式。“在胞质中全部完成”的说法不正确。"),
    ("下列各项均是急性炎症介质，除外", ["组胺", "缓激肽", "胰岛素"], "C", "negative", "negative_except",
     "组胺和缓激肽均是急性炎症介质，胰岛素除外。"),
    ("下列哪项不是急性炎症介质", ["组胺", "缓激肽", "胰岛素"], "C", "negative", "negative_which",
     "组胺和缓激肽是急性炎症介质，而胰岛素不是。"),
    ("糖尿病的典型症状不包括", ["多饮", "多尿", "黄疸"], "C", "negative", "negative_include",
     "糖尿病的典型症状包括多饮和多尿，不包括黄疸。"),
    # correct: "which is correct"
    ("下列关于胰岛素的叙述，正确的是", ["由胰岛B细胞分泌", "升高血糖"], "A", "correct", "statement",
     "关于胰岛素，由胰岛B细胞分泌。"),
    ("据此判断，下列叙述正确的是", ["甲正确", "乙正确"], "A", "correct", "statement", "据此判断，甲正确。"),
    ("在进行配对秩和检验时，以下何种检验假设是正确的", ["差值的总体中位数为0", "两总体均数相等"], "A", "correct",
     "cleft", "在进行配对秩和检验时，正确的检验假设是差值的总体中位数为0。"),
    # cloze: the answer's own words are not repeated around the blank
    ("（ ）神经损伤出现“爪形手”", ["尺神经", "桡神经"], "A", "cloze", "cloze", "尺神经损伤出现“爪形手”。"),
    ("哺乳动物的性别由（ ）决定", ["Y染色体决定", "环境决定"], "A", "cloze", "cloze", "哺乳动物的性别由Y染色体决定。"),
    # superlative and positive completions: short facts, 是 only after a noun phrase
    ("动脉舒张压主要反映", ["心输出量", "外周阻力"], "B", "superlative", "superlative", "动脉舒张压主要反映外周阻力。"),
    ("灭活睾酮的器官是", ["肝脏", "肾脏"], "A", "positive", "subject", "灭活睾酮的器官是肝脏。"),
    ("四格表的自由度", ["一定等于1", "不一定等于1"], "A", "positive", "subject", "四格表的自由度一定等于1。"),
    ("概率P的范围", ["0≤P≤1", "P>1"], "A", "positive", "subject", "概率P的范围是0≤P≤1。"),
    ("设x服从泊松分布，已知均数为25，试计算标准差s", ["5", "25"], "A", "positive", "subject",
     "设x服从泊松分布，已知均数为25，标准差s为5。"),
    ("下列哪种传染病不需要隔离", ["钩虫病", "霍乱"], "A", "positive", "which", "钩虫病不需要隔离。"),
    ("组成核酸的核苷酸和碱基各有几种", ["8种和5种", "4种和4种"], "A", "positive", "which",
     "组成核酸的核苷酸和碱基各有8种和5种。"),
    ("高血压患者为什么要限制钠盐摄入", ["钠潴留会增加血容量", "钠盐味咸"], "A", "positive", "reason",
     "高血压患者要限制钠盐摄入，是因为钠潴留会增加血容量。"),
    # all of the above: the other options are the facts, never "以上都是" itself
    ("导致维生素缺乏的原因是", ["摄入不足", "吸收障碍", "以上都是"], "C", "all", "all_of",
     "导致维生素缺乏的原因是摄入不足和吸收障碍。"),
    ("两样本均数的比较，可用", ["t检验", "u检验", "方差分析", "A，B，C均可"], "D", "all", "all_of",
     "两样本均数的比较，可用t检验、u检验和方差分析。"),
    ("关于可信区间，以下不对的是", ["可回答假设检验的问题", "可说明量的大小", "以上均不对"], "C", "all", "statement",
     "关于可信区间，可回答假设检验的问题；可说明量的大小。"),
    ("下列哪项是维生素", ["铁", "锌", "以上都不是"], "C", "all", "none_of", "铁和锌都不是维生素。"),
    ("在前人进行的下列研究中，采用的核心技术相同的一组是（1）证明光合作用释放的氧气来自于水；（2）用紫外线处理青霉菌"
     "选育高产菌株；（3）用T2噬菌体侵染大肠杆菌证明DNA是遗传物质", ["（1）（2）", "（1）（3）"], "B", "all", "numbered",
     "在前人进行的研究中，采用的核心技术相同的一组是：证明光合作用释放的氧气来自于水；用T2噬菌体侵染大肠杆菌证明DNA"
     "是遗传物质。"),
    ("Which of the following are features of nephrotic syndrome?", ["Proteinuria", "Edema", "All of the above"],
     "C", "all", "which", "Proteinuria and Edema are features of nephrotic syndrome."),
    # fallback, counted: a yes/no question
    ("青霉素过敏者可以使用头孢菌素吗", ["可以", "不可以"], "B", "fallback", "fallback",
     "青霉素过敏者可以使用头孢菌素吗，答案为不可以。"),
])
def test_forms(question, options, answer, form, template, expected):
    assert point(question, options, answer) == (form, template, expected)


def test_statements_match_no_garble_pattern():
    stems = [("有关膝关节，下列说法错误的是", ["A项", "B项", "C项"], "C"),
             ("关于糖的有氧氧化，下述不正确的是", ["甲", "乙"], "B"),
             ("下列关于下列细胞核的叙述，错误的是", ["甲", "乙"], "B"),
             ("（ ）神经损伤出现爪形手", ["尺神经", "桡神经"], "A"),
             ("问成功次数k服从什么分布", ["二项分布", "泊松分布"], "A")]
    for question, options, answer in stems:
        _, _, statement = point(question, options, answer)
        assert check._garbled(statement) == [], statement


def test_an_option_that_names_others_is_never_a_fact():
    _, _, text = point("关于可信区间，不正确的是", ["可回答假设检验的问题", "说明量的大小", "以上结论均不对"], "B")
    assert "以上" not in text
    _, _, text = point("Which of the following is NOT an antibiotic?", ["Penicillin", "Aspirin", "All of the above"],
                       "B")
    assert "All of the above" not in text


def test_form_counts_are_reader_statistics(tmp_path):
    rows = [{"question": "灭活睾酮的器官是", "options": ["肝脏", "肾脏"], "answer": "A"},
            {"question": "下列哪项不是维生素", "options": ["铁", "维生素C", "维生素D"], "answer": "A"},
            {"question": "青霉素过敏者可以使用头孢菌素吗", "options": ["可以", "不可以"], "answer": "B"}]
    (tmp_path / "x.jsonl").write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in rows), encoding="utf-8")
    result = CliRunner().invoke(main, ["build", "exams", "--input", str(tmp_path / "x.jsonl"), "--recipe",
                                       str(ROOT / "recipes" / "exams.toml"), "--out", str(tmp_path), "--workers", "1",
                                       "--no-progress"])
    assert result.exit_code == 0, result.output
    assert "form_fallback 1" in result.output and "form_negative 1" in result.output
    manifest = json.loads((tmp_path / "exams" / "manifest.json").read_text())["sources"]["exams"]
    assert manifest["records_out"] == 3  # the 11-character fact is kept by the recipe's length rule


def test_short_facts_are_kept_without_a_recipe(tmp_path):
    rows = [{"question": "灭活睾酮的器官是", "options": ["肝脏", "肾脏"], "answer": "A"},
            {"question": "四格表的自由度一定等于", "options": ["1", "2"], "answer": "A"}]
    (tmp_path / "x.jsonl").write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in rows), encoding="utf-8")
    result = CliRunner().invoke(main, ["build", "exams", "--input", str(tmp_path / "x.jsonl"), "--out", str(tmp_path),
                                       "--workers", "1", "--no-progress"])
    assert result.exit_code == 0, result.output
    manifest = json.loads((tmp_path / "exams" / "manifest.json").read_text())["sources"]["exams"]
    assert manifest["records_out"] == 2  # the reader's own length rule, not the generic 20 characters


def test_shared_cmmlu_meets_the_goals(realdata, tmp_path):
    path = realdata / "cmmlu"
    if not path.is_dir():
        pytest.skip("cmmlu/ is not present")
    result = CliRunner().invoke(main, ["build", "exams", "--input", str(path), "--recipe",
                                       str(ROOT / "recipes" / "exams.toml"), "--out", str(tmp_path), "--workers", "1",
                                       "--no-progress"])
    assert result.exit_code == 0, result.output
    figures = check.check_build(tmp_path / "exams")["exams"]
    assert figures["fallback"]["share"] <= 0.02
    assert figures["field_names"]["documents"] == 0 and figures["debris"]["total"] == 0
    # one statement keeps a slip of its source: an option that says "相互相互传播"
    assert figures["garble"]["garbled"] <= 1, figures["garble"]["examples"]
    assert figures["documents"] >= 915  # of 921 rows: 2 exact duplicates; formulas pass the recipe's symbol rule
