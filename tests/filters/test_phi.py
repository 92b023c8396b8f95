"""The scrub step: each PHI type, what must survive, validators, overlaps, ledger rows, planted-set figures."""

import random

import pytest

from curate.core import records
from curate.core.step import Context, removed
from curate.filters import phi
from curate.filters.phi import (
    TYPES,
    ScrubConfig,
    detect,
    luhn_ok,
    resident_id_check,
    scrub,
    scrub_text,
    valid_resident_id,
)
from tests.filters import phi_cases

CFG = ScrubConfig()

FOUND = [
    # (text, scrubbed) — zh and en for every type
    ("我的邮箱是zhangwei88@163.com，谢谢。", "我的邮箱是<EMAIL>，谢谢。"),
    ("Please email emma.smith+clinic@mail.example.co.uk.", "Please email <EMAIL>."),
    ("联系电话：13912345678。", "联系电话：<PHONE>。"),
    ("手机号:139-1234-5678,谢谢", "手机号:<PHONE>,谢谢"),
    ("电话(+86) 139 1234 5678", "电话<PHONE>"),
    ("也可以打0086 13912345678", "也可以打<PHONE>"),
    ("座机 021-64371234-808，或(0755) 8888 6666 转 8021", "座机 <PHONE>，或<PHONE>"),
    ("家里电话 6552 8888", "家里电话 <PHONE>"),
    ("Call me at 212-555-0143 or (212) 555-0143 ext. 12.", "Call me at <PHONE> or <PHONE>."),
    ("My UK number is +44 (0)20 7946 0958, or +33 6 12 34 56 78.", "My UK number is <PHONE>, or <PHONE>."),
    ("Tel: +86-21-6437-1234", "Tel: <PHONE>"),
    ("身份证:11010519491231002x，", "身份证:<ID_NUMBER>，"),
    ("My resident ID is 110105 19491231 002X.", "My resident ID is <ID_NUMBER>."),
    ("老身份证号是110105491231002。", "老身份证号是<ID_NUMBER>。"),
    ("护照号码：E12345678；passport no. EA1234567", "护照号码：<ID_NUMBER>；passport no. <ID_NUMBER>"),
    ("住院号ZY-2023-0514，病历号码：A20230001，门诊号 0012345。",
     "住院号<RECORD_NUMBER>，病历号码：<RECORD_NUMBER>，门诊号 <RECORD_NUMBER>。"),
    ("MRN#00483920; Patient ID: 7734-221; admission no. is 20230514",
     "MRN#<RECORD_NUMBER>; Patient ID: <RECORD_NUMBER>; admission no. is <RECORD_NUMBER>"),
    ("退费请打到卡号6222 0212 3456 7890 128。", "退费请打到卡号<BANK_CARD>。"),
    ("Visa 4111-1111-1111-1111 or Amex 3782 822463 10005.", "Visa <BANK_CARD> or Amex <BANK_CARD>."),
    ("服务器地址192.168.1.10打不开，IP: 8.8.8.8", "服务器地址<IP>打不开，IP: <IP>"),
    ("from 2001:db8:85a3::8a2e:370:7334 and fe80:0:0:0:200:f8ff:fe21:67cf.", "from <IP> and <IP>."),
    ("报告链接：https://report.example.cn/view?pid=483920&t=ab12，请看。", "报告链接：<URL>，请看。"),
    ("See (www.example.com/r?id=9).", "See (<URL>)."),
]

KEPT = [
    "阿莫西林 500 mg tid，0.25 g bid，胰岛素 10 U/kg", "WBC 12.3×10⁹/L, HbA1c 7.2%",
    "血糖 11.1 mmol/L，血压 150/95 mmHg",
    "2023-05-14 14:30:15", "2019年确诊", "published 1998 Dec", "PMID: 29768149", "PMID 12345678",
    "doi:10.1016/S0140-6736(20)30183-5", "doi:10.1056/NEJMoa2034577", "ISBN 978-7-117-26789-3", "ISBN 9787117267893",
    "Lancet. 2020;395(10223):497-506.", "pp. 1123-1131", "v1.2.3.4", "见指南 3.2.1.4 节", "version 10.2.1.15",
    "身份证号 110105194912310022", "4111111111111112", "订单号 6222021234567891",
    "HBV DNA 13812345678 IU/ml", "HBV DNA 13800000000", "PLT 138 1234 5678 ×10⁹/L", "口服 1380 mg", "13812345678次",
    "剂量 250-500-1000，逐步加量", "电话随访 20230514", "1.3812345678", "12:30:45", "ratio 1:2:3:4:5:6:7:8",
    "https://example.com/path", "see https://example.com/x?", "NCT04280705", "ChiCTR2000029308", "GB 11643-1999",
    "256.1.1.1", "Ki-67 30%", "CD4 350 cells/μL", "1999-2023", "20230514", "(2019) 123-4567", "+ 10 20 30",
    "1 000 000 000", "e2021-123456", "病历号 12", "patient number 3", "共 13812 元", "time 08:00-16:30",
    "the hotel 5551 2345", "192.168.001.010", "2023.05.14.01",
]


@pytest.mark.parametrize(("text", "expected"), FOUND)
def test_each_type_is_replaced(text, expected):
    assert scrub_text(text, CFG)[0] == expected


@pytest.mark.parametrize("text", KEPT)
def test_non_phi_numbers_survive(text):
    assert scrub_text(text, CFG) == (text, {})


def test_resident_id_checksum():
    assert valid_resident_id("11010519491231002X")  # the example id of GB 11643-1999
    assert valid_resident_id("11010519491231002x") and valid_resident_id("110105 19491231 002X")
    assert not valid_resident_id("110105194912310021")  # check character wrong
    assert not valid_resident_id("990105194912310020")  # no province 99
    assert not valid_resident_id("110105194902300026")  # 30 February
    rng = random.Random(7)
    for _ in range(200):
        good = phi_cases.resident_id(rng)
        assert valid_resident_id(good) and resident_id_check(good[:17]) == good[17]
        assert not valid_resident_id(phi_cases.resident_id(rng, valid=False))


def test_luhn():
    assert luhn_ok("4111111111111111") and luhn_ok("378282246310005") and not luhn_ok("4111111111111112")
    rng = random.Random(7)
    for _ in range(200):
        assert luhn_ok(phi_cases.card_number(rng)) and not luhn_ok(phi_cases.card_number(rng, valid=False))


def test_id_shaped_number_failing_checksum_is_not_a_card():
    rng = random.Random(3)
    bad = next(n for n in (phi_cases.resident_id(rng, valid=False) for _ in range(500)) if n.isdigit() and luhn_ok(n))
    assert scrub_text(f"身份证号 {bad}", CFG)[1] == {}


def test_overlaps_resolve_by_priority():
    url = "https://x.example.cn/a?mail=li%40163.com&tel=13912345678"
    assert detect(f"链接 {url} 。", CFG) == [(3, 3 + len(url), "URL")]
    assert scrub_text("13912345678@163.com", CFG)[0] == "<EMAIL>"
    assert scrub_text("病历号：11010519491231002X", CFG)[0] == "病历号：<ID_NUMBER>"
    assert scrub_text("门诊号13912345678", CFG)[0] == "门诊号<RECORD_NUMBER>"


def test_overlap_rule_type_then_length_then_leftmost(monkeypatch):
    def spans(*pairs):
        return (lambda text, low: iter(pairs),)

    monkeypatch.setattr(phi, "_FINDERS", {t: spans() for t in TYPES} | {
        "IP": spans((0, 30)),  # longest, but the lowest priority
        # (4, 12) is the longest but overlaps the e-mail; (22, 30) beats the earlier, shorter (20, 24);
        # of the equally long (32, 36) and (33, 37) the leftmost wins.
        "PHONE": spans((2, 6), (4, 12), (10, 14), (20, 24), (22, 30), (32, 36), (33, 37)),
        "EMAIL": spans((8, 11)),  # beats every phone it overlaps
    })
    assert detect("1" * 40, CFG) == [(2, 6, "PHONE"), (8, 11, "EMAIL"), (22, 30, "PHONE"), (32, 36, "PHONE")]


def test_config_types_and_placeholders():
    only = ScrubConfig(types=("PHONE", "EMAIL"), placeholders={"PHONE": "[电话]"})
    assert only.types == ("EMAIL", "PHONE") and only.placeholders["EMAIL"] == "<EMAIL>"
    out, counts = scrub_text("电话13912345678，邮箱a@b.cn，IP 10.1.2.3", only)
    assert out == "电话[电话]，邮箱<EMAIL>，IP 10.1.2.3" and counts == {"PHONE": 1, "EMAIL": 1}
    assert ScrubConfig().types == TYPES
    with pytest.raises(ValueError, match="unknown PHI type"):
        ScrubConfig(types=("PHONES",))


def test_scrub_ledger_rows_and_table():
    texts = ["电话13912345678，13812345678；邮箱a@b.cn", "No PHI here, 500 mg.", "MRN: 00483920", None]
    table = records.to_table([{"id": f"s/f#{i}", "source": "s", "text": t, "lang": "zh", "meta": {}}
                              for i, t in enumerate(texts)], records.DOCUMENT)
    res = scrub(table, CFG, Context("s", "scrub"))
    out = res.kept
    assert out.schema == records.DOCUMENT and out["id"].to_pylist() == table["id"].to_pylist()
    assert out["text"].to_pylist() == ["电话<PHONE>，<PHONE>；邮箱<EMAIL>", "No PHI here, 500 mg.",
                                       "MRN: <RECORD_NUMBER>", None]
    assert [(r["id"], r["action"], r["reason"], r["detail"]) for r in res.ledger.to_pylist()] == [
        ("s/f#0", "modify", "phi", "EMAIL=1,PHONE=2"), ("s/f#2", "modify", "phi", "RECORD_NUMBER=1")]
    assert removed(res.ledger) == 0
    assert scrub(records.empty(records.DOCUMENT), CFG, Context("s", "scrub")).kept.num_rows == 0


def test_determinism():
    a, b = phi_cases.make_cases(seed=11), phi_cases.make_cases(seed=11)
    assert a == b and a != phi_cases.make_cases(seed=12)
    assert [scrub_text(c.text, CFG) for c in a] == [scrub_text(c.text, CFG) for c in b]


def test_planted_set_is_well_formed():
    cases = phi_cases.make_cases()
    phi = [(c.text[i.start:i.end], i.kind) for c in cases for i in c.phi]
    keep = [i.kind for c in cases for i in c.keep]
    assert len(phi) >= 200 and len(keep) >= 200
    assert {k for _, k in phi} == set(TYPES) == set(phi_cases.PHI_TYPES)
    assert {"dose", "lab", "year", "date", "pmid", "bad_id", "bad_card"} <= set(keep)
    assert {c.lang for c in cases} == {"zh", "en"}
    assert all(v and v == v.strip() for v, _ in phi)


def test_planted_set_recall_and_precision():
    cases = phi_cases.make_cases(n_phi=240, n_keep=240, seed=0)
    r = phi_cases.evaluate(cases, lambda text: detect(text, CFG))
    by_type = ", ".join(f"{t} {v:.3f}" for t, v in r["recall_by_type"].items())
    figures = (f"{r['phi_items']} PHI items: recall {r['recall']:.4f} ({by_type}); precision {r['precision']:.4f}; "
               f"{r['keep_items']} non-PHI items kept {r['keep_rate']:.4f}")
    print(figures)
    assert r["recall"] >= 0.99, f"{figures}\nmissed: {r['misses'][:10]}"
    assert r["precision"] >= 0.99 and r["keep_rate"] >= 0.99, f"{figures}\nwrong: {r['false_positives'][:10]}"


def test_evaluation_can_fail():
    cases = phi_cases.make_cases(n_phi=40, n_keep=40, seed=1)
    blind = phi_cases.evaluate(cases, lambda text: [])
    assert blind["recall"] == 0.0 and blind["keep_rate"] == 1.0
    greedy = phi_cases.evaluate(cases, lambda text: [(0, len(text), "PHONE")])
    assert greedy["precision"] < 0.5 and greedy["keep_rate"] == 0.0


# What the label finders replaced: one alternation of every label, scanned over the lower-cased text. The
# finders must give the same spans (they find the labels' rare ends, or their literal starts, instead).
_ALTERNATIONS = {
    "record": (phi._record_labels,
               r"(?:住院号|病历号|病案号|门诊号|就诊卡号|就诊号|登记号|检查号|影像号|医保卡号|社保卡号|id号|患者id|病人id|mrn"
               r"|medical record (?:number|no\.?|#)"
               r"|(?:patient|hospital|admission|inpatient|outpatient|chart|case|record) (?:id|number|no\.?|#))码?"),
    "id": (phi._ID_LABELS, r"身份证号?码?|id card(?: (?:number|no\.?|#))?|resident id(?: number)?"),
    "passport": (phi._PASSPORT_LABELS, r"护照号?码?|passport(?: (?:number|no\.?|#))?"),
    "phone": (phi._PHONE_CUES, r"电话|手机|座机|联系方式|传真|call|phone|tel|cell|mobile|fax|reach"),
}
_PIECES = [
    *"住院 病历 病案 门诊 就诊 卡 登记 检查 影像 医保 社保 号 码 id 患者 病人 身份证 护照".split(),
    *"电话 手机 座机 联系方式 传真 ， x 1234 : . # ho re ach te l".split(),
    *"mrn medical record patient in out hospital admission chart case no number idcard resident".split(),
    *"passport call tel phone cell mobile fax reach".split(),
    " ", " record", " no", " number", " #", " id", "medical record", " resident id", "id card",
]


@pytest.mark.parametrize("name", sorted(_ALTERNATIONS))
def test_label_finders_find_what_one_alternation_finds(name):
    import re

    finder, pattern = _ALTERNATIONS[name]
    oracle = re.compile(pattern)
    rng = random.Random(name)
    for _ in range(20_000):
        low = "".join(rng.choice(_PIECES) for _ in range(rng.randint(1, 14)))
        assert list(finder(low)) == [m.span() for m in oracle.finditer(low)], low
