"""QA shapes detected whatever the container and suffix, the shapes reported, short answers kept, and the
shared ShareGPT file read whole."""

from __future__ import annotations

import importlib.util
import json

import pytest
from click.testing import CliRunner

from curate.cli import main
from curate.readers import qa
from tests.conftest import ROOT, SAMPLES
from tests.readers.helpers import run_reader

_spec = importlib.util.spec_from_file_location("structured_check", ROOT / "bench" / "structured_check.py")
check = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(check)


@pytest.mark.parametrize(("row", "shape", "text"), [
    ({"问": "灭活睾酮的器官是哪个？", "答": "肝脏"}, "问/答", "问：灭活睾酮的器官是哪个？\n答：肝脏"),
    ({"问题": "感冒吃什么药？", "回答": "对症治疗即可。"}, "问题/回答", "问：感冒吃什么药？\n答：对症治疗即可。"),
    ({"Question": "What is gout?", "Answer": "A form of arthritis."}, "question/answer",
     "Question: What is gout?\nAnswer: A form of arthritis."),
    ({"query": "Dose of amoxicillin?", "response": "500 mg three times a day."}, "query/response",
     "Question: Dose of amoxicillin?\nAnswer: 500 mg three times a day."),
    ({"instruction": "解释什么是高血压", "input": "", "output": "血压持续升高。"}, "instruction/output",
     "问：解释什么是高血压\n答：血压持续升高。"),
    ({"prompt": "Define sepsis.", "completion": "Organ dysfunction caused by infection."}, "prompt/completion",
     "Question: Define sepsis.\nAnswer: Organ dysfunction caused by infection."),
    ({"medical_case": "男，45岁，反复上腹痛半年。", "doctor_diagnosis": "胃溃疡。"}, "medical_case/doctor_diagnosis",
     "问：男，45岁，反复上腹痛半年。\n答：胃溃疡。"),
    ({"title": "偏头痛反复发作", "ask": "最近总是头痛怎么办？", "answer": "注意休息，必要时就诊。"}, "ask/answer",
     "问：偏头痛反复发作\n最近总是头痛怎么办？\n答：注意休息，必要时就诊。"),
    ({"dialogue": ["病人：咳嗽两周了。", "医生：有发热吗？", "病人：没有。", "医生：建议拍胸片。"]}, "dialogue",
     "问：咳嗽两周了。\n答：有发热吗？\n问：没有。\n答：建议拍胸片。"),
    ({"dialogue": [{"speaker": "患者", "sentence": "肚子疼。"}, {"speaker": "医生", "sentence": "哪个位置？"}]},
     "dialogue", "问：肚子疼。\n答：哪个位置？"),
])
def test_shapes_are_detected(tmp_path, row, shape, text):
    path = tmp_path / "data.txt"  # the suffix says nothing; the content decides
    path.write_text(json.dumps(row, ensure_ascii=False) + "\n", encoding="utf-8")
    docs, _, rows = run_reader("qa", path)
    assert rows == [] and [d["text"] for d in docs] == [text]
    assert docs[0]["meta"]["shape"] == shape


def test_recipe_fields_come_first(tmp_path):
    path = tmp_path / "c.csv"
    path.write_text("咨询内容,回复,问题\n孩子发烧怎么办,物理降温,无关\n", encoding="utf-8")
    docs, _, _ = run_reader("qa", path, qa.Config(question_fields=("咨询内容",), answer_fields=("回复",)))
    assert docs[0]["text"] == "问：孩子发烧怎么办\n答：物理降温"


def test_bundled_shape_samples_and_the_build_summary(tmp_path):
    result = CliRunner().invoke(main, ["build", "qa", "--input", str(SAMPLES / "qa"), "--recipe",
                                       str(ROOT / "recipes" / "qa.toml"), "--out", str(tmp_path), "--workers", "1",
                                       "--no-progress"])
    assert result.exit_code == 0, result.output
    summary = next(line for line in result.output.splitlines() if line.strip().startswith("qa: shape"))
    for shape in ("问/答", "问题/答案", "query/response", "medical_case/doctor_diagnosis", "instruction/output",
                  "question/answer", "conversations"):
        assert f"shape {shape}" in summary, (shape, summary)
    manifest = json.loads((tmp_path / "qa" / "manifest.json").read_text())["sources"]["qa"]
    assert manifest["quarantined"] == 0
    assert manifest["dropped"]["read"] == {"empty_question": 1}  # the 问-less line of zh_wenda.txt
    # only the planted "问：嗯\n答：好" and "Question: ok?\nAnswer: ok" are too short;
    # "问：小儿髓母细胞瘤的就诊科室是什么？\n答：肿瘤科；肿瘤外科" is kept
    assert manifest["dropped"]["quality"] == {"min_chars": 1, "min_words": 1}
    flow = json.loads((tmp_path / "qa" / "flow.json").read_text())["qa"]
    texts = check._final_docs(tmp_path / "qa", flow)
    assert any(d["text"] == "问：小儿髓母细胞瘤的就诊科室是什么？\n答：肿瘤科；肿瘤外科" for d in texts)
    assert any(d["text"] == "问：灭活睾酮的器官是哪个？\n答：肝脏。" for d in texts)


def test_shared_sharegpt_qa(realdata, tmp_path):
    path = realdata / "chinese_qa" / "medical_sft_1K_format.jsonl"
    if not path.is_file():
        pytest.skip("medical_sft_1K_format.jsonl is not present")
    result = CliRunner().invoke(main, ["build", "qa", "--input", str(path), "--recipe",
                                       str(ROOT / "recipes" / "qa.toml"), "--out", str(tmp_path), "--workers", "1",
                                       "--no-progress"])
    assert result.exit_code == 0, result.output
    assert "shape conversations 1,000" in result.output
    manifest = json.loads((tmp_path / "qa" / "manifest.json").read_text())["sources"]["qa"]
    assert manifest["records_out"] >= 980, manifest["dropped"]  # was 823 with a 30-character minimum
    figures = check.check_build(tmp_path / "qa")["qa"]
    assert figures["field_names"]["documents"] == 0
