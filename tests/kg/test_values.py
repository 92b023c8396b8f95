"""Value cleaning: scraper tags, truncation marks, dashes, bracket debris, nulls, items in one string."""

from __future__ import annotations

import pytest

from curate.kg import values as val

RULES = val.ValueRules()


@pytest.mark.parametrize(("raw", "clean"), [
    ("全血砷 [详细]", "全血砷"),
    ("查看详情>>", ""),
    (">>", ""),
    ("骨髓穿刺...", "骨髓穿刺"),
    ("食欲不振…", "食欲不振"),
    ("——5000元）", "5000元"),
    ("（2000——5000元）", "2000-5000元"),
    ("市三甲医院约（2000——5000元）", "市三甲医院约2000-5000元"),
    ("1~2个月", "1-2个月"),
    ("] 头痛", "头痛"),
    ("【 头晕", "头晕"),
    ("盗 汗", "盗汗"),
    ("（回旋灸）主治炎症", "（回旋灸）主治炎症"),
    ("HBV-DNA", "HBV-DNA"),
    ("暂无", ""),
    ("nan", ""),
    ("（）发热", "发热"),
])
def test_items_are_cleaned(raw, clean):
    assert val.clean_item(raw, RULES)[0] == clean


def test_truncation_is_reported():
    assert val.clean_item("骨髓穿刺...", RULES) == ("骨髓穿刺", True)
    assert val.clean_item("骨髓穿刺", RULES) == ("骨髓穿刺", False)


def test_lists_drop_empty_repeated_and_fragment_items():
    items, cut = val.cleaned(val.split("全血砷 尿砷 尿砷 发砷 ... ", True), RULES, from_string=True)
    assert (items, cut) == (["全血砷", "尿砷", "发砷"], True)
    assert val.cleaned(val.split("多汗；配", False), RULES, from_string=True) == (["多汗"], True)
    assert val.cleaned(["痛", "痒"], RULES, from_string=True) == (["痛", "痒"], False)  # short items, not a cut
    assert val.cleaned(["肺炎", "", "肺炎", "[详细]"], RULES, from_string=False) == (["肺炎"], False)


def test_split_on_separators_and_chinese_spaces():
    assert val.split("儿科 小儿内科", True) == ["儿科", "小儿内科"]
    assert val.split("runny nose, sore throat", False) == ["runny nose", "sore throat"]
    assert val.split("咳嗽；咳痰|发热、胸痛", False) == ["咳嗽", "咳痰", "发热", "胸痛"]


def test_prose_is_cut_back_to_its_last_whole_sentence():
    text = "感冒是常见病。多数患者一周左右自愈。少数人会并发..."
    assert val.clean_text(text, RULES) == "感冒是常见病。多数患者一周左右自愈。"
    assert val.clean_text("感冒多由病毒引起[详细]", RULES) == "感冒多由病毒引起"


def test_rules_come_from_the_recipe():
    rules = val.ValueRules(remove=(r"\(来源：[^)]*\)",), null=("不明",))
    assert val.clean_item("发热(来源：百科)", rules)[0] == "发热"
    assert val.clean_item("不明", rules)[0] == ""
    assert val.clean_item("查看详情>>", rules)[0] == "查看详情>>"  # the defaults were replaced
    with pytest.raises(ValueError, match="invalid regular expression"):
        val.ValueRules(remove=("(unclosed",))
