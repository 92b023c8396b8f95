"""Planted PHI evaluation set: invented zh and en consultation snippets with ground-truth spans.

``make_cases(n_phi, n_keep, seed)`` builds short exchanges (a patient's question, then a doctor's
answer) until at least ``n_phi`` PHI items and ``n_keep`` non-PHI numeric items are planted. PHI types
are drawn round-robin, so every type is equally represented; each comes in several written forms.
Resident ids and card numbers get computed check characters (GB 11643 MOD 11-2, Luhn); the
invalid ones are made by changing the check character. Non-PHI items are the numbers that must
survive: doses, lab values and series, viral loads written out, years, dates, times, PMIDs, DOIs,
ISBNs, page ranges, version and section numbers, invalid 18-digit ids, non-Luhn 16-digit numbers,
trial registrations and URLs without a query.

Everything is computed here, independently of ``curate.filters.phi``, and all names, numbers and
addresses are random inventions. ``evaluate`` scores a detector: a planted item counts as found
only when a span of the same type covers exactly its characters.
"""

from __future__ import annotations

import datetime
import random
import string
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

PHI_TYPES = ("EMAIL", "PHONE", "ID_NUMBER", "RECORD_NUMBER", "BANK_CARD", "IP", "URL")


@dataclass(frozen=True)
class Item:
    """A planted span: a PHI type (upper case) or a non-PHI kind (lower case)."""

    start: int
    end: int
    kind: str


@dataclass(frozen=True)
class Case:
    """One consultation snippet with its planted PHI and the non-PHI numbers that must survive."""

    text: str
    lang: str
    phi: tuple[Item, ...]
    keep: tuple[Item, ...]


# --- check characters ------------------------------------------------------------------------------
_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_PROVINCES = (11, 12, 13, 14, 15, 21, 22, 23, 31, 32, 33, 34, 35, 36, 37, 41, 42, 43, 44, 45, 46, 50, 51, 52,
              53, 54, 61, 62, 63, 64, 65)


def id_check(first17: str) -> str:
    """GB 11643 check character: weighted sum mod 11 mapped through 1 0 X 9 8 7 6 5 4 3 2."""
    return "10X98765432"[sum(int(c) * w for c, w in zip(first17, _ID_WEIGHTS, strict=True)) % 11]


def luhn_digit(payload: str) -> str:
    """The digit that makes ``payload + digit`` pass Luhn (payload's last digit gets doubled)."""
    total = 0
    for i, c in enumerate(reversed(payload)):
        d = int(c) * (2 if i % 2 == 0 else 1)
        total += d - 9 if d > 9 else d
    return str(-total % 10)


def _n(rng: random.Random, k: int) -> str:
    return "".join(rng.choice(string.digits) for _ in range(k))


def _date(rng: random.Random, first: int = 1935, last: int = 2019) -> datetime.date:
    start = datetime.date(first, 1, 1)
    return start + datetime.timedelta(days=rng.randrange((datetime.date(last, 12, 31) - start).days))


def resident_id(rng: random.Random, valid: bool = True) -> str:
    """An 18-character resident id with a real province and birth date; ``valid`` sets the check."""
    first17 = f"{rng.choice(_PROVINCES)}{rng.randint(1, 30):02d}{rng.randint(1, 40):02d}{_date(rng):%Y%m%d}{_n(rng, 3)}"
    check = id_check(first17)
    if not valid:
        check = rng.choice([c for c in "0123456789X" if c != check])
    return first17 + check


def card_number(rng: random.Random, valid: bool = True, length: int | None = None) -> str:
    """A 16- or 19-digit number with a bank issuer prefix; ``valid`` decides whether Luhn passes."""
    prefix = rng.choice(["622202", "621700", "622848", "621483", "436742", "453242", "552599", "518710", "356889"])
    payload = prefix + _n(rng, (length or rng.choice([16, 16, 16, 19])) - 1 - len(prefix))
    check = luhn_digit(payload)
    if not valid:
        check = str((int(check) + rng.randint(1, 9)) % 10)
    return payload + check


# --- PHI values: (label written before the value, value) --------------------------------------------
_PINYIN = ["zhangwei", "liuyang", "wangfang", "chenjing", "lina", "zhaolei", "sunli", "zhouxin", "wuhao", "huangmin"]
_FIRST = ["emma", "jack", "olivia", "noah", "mia", "leo", "grace", "sam", "ava", "ethan"]
_LAST = ["smith", "chen", "brown", "garcia", "patel", "wong", "miller", "lopez"]
_DOMAINS = ["163.com", "qq.com", "126.com", "gmail.com", "outlook.com", "example.org", "mail.example-hosp.cn",
            "yahoo.co.uk"]


def _email(rng: random.Random) -> tuple[str, str]:
    first, last, pinyin = rng.choice(_FIRST), rng.choice(_LAST), rng.choice(_PINYIN)
    local = rng.choice([f"{pinyin}{_n(rng, rng.randint(2, 4))}", f"{first}.{last}", f"{first}_{last}{_n(rng, 2)}",
                        pinyin, _n(rng, 9)])
    return "", f"{local}@{rng.choice(_DOMAINS)}"


def _mobile(rng: random.Random) -> tuple[str, str]:
    num = "1" + rng.choice("3456789") + _n(rng, 3) + str(rng.randint(1, 9)) + _n(rng, 5)
    a, b, c = num[:3], num[3:7], num[7:]
    return "", rng.choice([num, num, f"{a} {b} {c}", f"{a}-{b}-{c}", f"+86 {num}", f"+86-{a}-{b}-{c}",
                           f"0086 {num}", f"(+86){num}", f"+86 {a} {b} {c}"])


def _landline(rng: random.Random) -> tuple[str, str]:
    area = rng.choice(["010", "020", "021", "022", "025", "027", "028", "029", "0571", "0755", "0731", "0532"])
    local = str(rng.randint(2, 8)) + _n(rng, 7 if len(area) == 3 else rng.choice([6, 7]))
    split = f"{local[:-4]} {local[-4:]}"
    number = rng.choice([f"{area}-{local}", f"({area}){local}", f"({area}) {split}", f"{area} {split}",
                         f"{area}-{local}"])
    if rng.random() < 0.3:
        number += rng.choice(["转", " 转 ", "-", " ext. ", "分机"]) + _n(rng, rng.randint(2, 4))
    return "", number


def _nanp(rng: random.Random) -> tuple[str, str, str]:
    return str(rng.randint(2, 9)) + _n(rng, 2), str(rng.randint(2, 9)) + _n(rng, 2), _n(rng, 4)


def _intl(rng: random.Random) -> tuple[str, str]:
    a, b, c = _nanp(rng)
    return "", rng.choice([
        f"+1 {a} {b} {c}", f"+1 ({a}) {b}-{c}", f"+1-{a}-{b}-{c}", f"+44 20 {_n(rng, 4)} {_n(rng, 4)}",
        f"+44 7{_n(rng, 3)} {_n(rng, 6)}", f"+852 {rng.randint(2, 9)}{_n(rng, 3)} {_n(rng, 4)}",
        f"+65 {rng.randint(6, 9)}{_n(rng, 3)} {_n(rng, 4)}", f"+49 30 {_n(rng, 8)}",
        f"+61 2 {_n(rng, 4)} {_n(rng, 4)}", f"+33 1 {_n(rng, 2)} {_n(rng, 2)} {_n(rng, 2)} {_n(rng, 2)}",
        f"+81 3-{_n(rng, 4)}-{_n(rng, 4)}", f"+86 10 {rng.randint(5, 8)}{_n(rng, 3)} {_n(rng, 4)}"])


def _nanp_paren(rng: random.Random) -> tuple[str, str]:
    a, b, c = _nanp(rng)
    return "", f"({a}) {b}-{c}"


def _nanp_dash(rng: random.Random) -> tuple[str, str]:
    a, b, c = _nanp(rng)
    sep = rng.choice("-.")
    return "", f"{a}{sep}{b}{sep}{c}"


def _local8(rng: random.Random) -> tuple[str, str]:
    local = str(rng.randint(3, 8)) + _n(rng, 7)
    return "", rng.choice([local, f"{local[:4]} {local[4:]}"])


def _resident(rng: random.Random) -> tuple[str, str]:
    value = resident_id(rng)
    if rng.random() < 0.15:
        value = f"{value[:6]} {value[6:14]} {value[14:]}"
    return "", value.lower() if rng.random() < 0.3 else value


def _passport(rng: random.Random, labels: Sequence[str]) -> tuple[str, str]:
    return rng.choice(labels), rng.choice([f"E{_n(rng, 8)}", f"EA{_n(rng, 7)}", f"G{_n(rng, 8)}"])


def _passport_zh(rng: random.Random) -> tuple[str, str]:
    return _passport(rng, ["护照号码：", "护照号 ", "护照："])


def _passport_en(rng: random.Random) -> tuple[str, str]:
    return _passport(rng, ["passport number ", "Passport No. ", "passport: "])


def _old_id(rng: random.Random) -> tuple[str, str]:
    label = rng.choice(["老身份证号是", "15位身份证号：", "身份证号码 ", "身份证"])
    return label, f"{rng.choice(_PROVINCES)}{rng.randint(1, 30):02d}{rng.randint(1, 40):02d}" \
                  f"{_date(rng, 1930, 1984):%y%m%d}{_n(rng, 3)}"


def _record_value(rng: random.Random) -> str:
    dashed = f"{_n(rng, 2)}-{_n(rng, 3)}-{_n(rng, 3)}"
    return rng.choice([_n(rng, rng.randint(6, 12)), f"ZY{_date(rng, 2015, 2023):%Y%m%d}{_n(rng, 3)}",
                       f"BL-{_n(rng, 6)}", f"MZ{_n(rng, 11)}", f"A{_n(rng, 7)}", dashed])


def _record_zh(rng: random.Random) -> tuple[str, str]:
    label = rng.choice(["住院号", "病历号", "病案号", "门诊号", "就诊卡号", "登记号", "医保卡号", "患者ID"])
    return label + rng.choice(["：", "", " ", "是", "为", ":"]), _record_value(rng)


def _record_en(rng: random.Random) -> tuple[str, str]:
    label = rng.choice(["MRN", "medical record number", "patient ID", "hospital number", "admission no.",
                        "outpatient number", "chart number", "Patient No."])
    return label + rng.choice([": ", " ", " #", " is "]), _record_value(rng)


def _card(rng: random.Random) -> tuple[str, str]:
    digits = card_number(rng)
    groups = [digits[i:i + 4] for i in range(0, len(digits), 4)]
    return "", rng.choice([digits, digits, " ".join(groups), "-".join(groups)])


def _ipv4(rng: random.Random) -> tuple[str, str]:
    first = rng.choice([10, 36, 58, 114, 172, 192, 202, 221])
    return "", f"{first}.{rng.randint(0, 255)}.{rng.randint(0, 255)}.{rng.randint(1, 254)}"


def _ipv6(rng: random.Random) -> tuple[str, str]:
    g = [rng.choice(["2001", "2408", "240e", "fe80"])] + [f"{rng.randrange(1, 0x10000):x}" for _ in range(7)]
    return "", rng.choice([":".join(g), f"{g[0]}:{g[1]}:{g[2]}::{g[6]}:{g[7]}", f"{g[0]}::{g[7]}"])


def _url(rng: random.Random) -> tuple[str, str]:
    host = rng.choice(["report.example-hosp.cn", "m.health-portal.example.com", "yun.example-lab.cn",
                       "www.example-clinic.org"])
    path = rng.choice(["/report/view", "/api/v2/result", "/h5/consult/detail", "/s", ""])
    keys = rng.sample(["pid", "id", "patient", "token", "uid", "mrn", "name", "phone", "visit"], 2)
    vals = [rng.choice([_n(rng, 8), f"{rng.choice(_PINYIN)}", f"{rng.choice(_PINYIN)}%40163.com", _n(rng, 11),
                        "".join(rng.choice("abcdef0123456789") for _ in range(12))]) for _ in keys]
    scheme = rng.choice(["https://", "http://", "https://"]) if not host.startswith("www.") else rng.choice(["", "https://"])
    return "", f"{scheme}{host}{path}?{keys[0]}={vals[0]}&{keys[1]}={vals[1]}"


# --- non-PHI values ---------------------------------------------------------------------------------
_MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]


def _keep(kind: str, rng: random.Random) -> str:
    r, d = rng.randint, _date(rng, 1990, 2024)
    x = r(10, 400) / 10
    options: dict[str, list[str]] = {
        "dose": [f"{rng.choice([250, 500, 1000])} mg", f"{rng.choice(['0.25', '0.5', '1'])} g bid", f"{r(4, 20)} U/kg",
                 f"{r(1, 2)} g q8h", f"{r(1, 5)}.5 mg/kg/d", f"0.{r(1, 9)}g tid", f"{r(4, 30)} U", f"{r(25, 150)}mg qd",
                 f"{r(100, 999)}0 mg", f"{r(2, 10)} ml", f"{r(2, 3)}50-{r(5, 6)}00-{r(1, 2)}000 mg",
                 f"体重 {r(40, 99)} kg", f"{r(10, 30)}-{r(31, 60)} mg/d"],
        "lab": [f"WBC {x:.1f}×10⁹/L", f"HbA1c {r(50, 120) / 10:.1f}%", f"血糖 {x:.1f} mmol/L",
                f"血压 {r(110, 190)}/{r(60, 110)} mmHg", f"肌酐 {r(50, 600)} μmol/L", f"ALT {r(10, 500)} U/L",
                f"PLT {r(20, 450)}×10⁹/L", f"TSH {x / 5:.2f} mIU/L", f"eGFR {r(15, 120)} mL/min/1.73m²",
                f"尿蛋白定量 {r(1000, 9999)} mg/24h", f"LDL-C {r(15, 60) / 10:.1f} mmol/L"],
        "viral": [f"HBV DNA 1{r(3, 9)}{r(1, 9)}00000000 IU/mL", f"HBV-DNA {r(1, 9)}.{r(1, 9)}×10⁷ IU/ml",
                  f"HCV RNA 1{r(3, 9)}{r(1, 9)}000000 copies/mL", f"HBV DNA 1{r(3, 9)}{r(1, 9)}00000000"],
        "series": [f"血糖 {x:.1f}、{x + 1.3:.1f}、{x + 2.1:.1f} mmol/L",
                   "CK " + ", ".join(f"{r(2, 6)}{r(100, 999)}" for _ in range(4)) + " U/L",
                   f"心率 {r(60, 99)}、{r(80, 120)}、{r(90, 140)} 次/分",
                   f"PLT {r(100, 199)} {r(1000, 1999)} {r(1000, 1999)} ×10⁹/L",
                   f"BP {r(120, 180)}/{r(70, 110)}, {r(120, 180)}/{r(70, 110)} mmHg"],
        "year": [f"{d.year}年", f"{d.year} {_MONTHS[d.month - 1]}", f"{d.year}年{d.month}月", f"since {d.year}"],
        "date": [f"{d:%Y-%m-%d}", f"{d:%Y/%m/%d}", f"{d:%Y.%m.%d}", f"{d:%Y-%m-%d} {r(0, 23):02d}:{r(0, 59):02d}:00",
                 f"{d.year}年{d.month}月{d.day}日", f"{_MONTHS[d.month - 1]} {d.day}, {d.year}",
                 f"{d:%Y%m%d}", f"{d.year} {_MONTHS[d.month - 1]} {d.day}"],
        "time": [f"{r(0, 23):02d}:{r(0, 59):02d}", f"{r(6, 11):02d}:00-{r(12, 18)}:30"],
        "pmid": [f"PMID: {r(1000000, 39999999)}", f"PMID {r(10000000, 39999999)}", f"PMID:{r(1000000, 9999999)}"],
        "doi": [f"doi:10.1056/NEJMoa{r(1000000, 2999999)}", f"https://doi.org/10.1016/S0140-6736({r(10, 23)})"
                f"{r(30000, 32999)}-{r(0, 9)}", f"10.1001/jama.{d.year}.{r(1000, 29999)}"],
        "isbn": [f"ISBN 978-7-117-{_n(rng, 5)}-{r(0, 9)}", f"ISBN 978711{_n(rng, 7)}", f"ISBN 7-117-{_n(rng, 5)}-X"],
        "pages": [f"{d.year};{r(1, 400)}({r(1, 12)}):{r(100, 600)}-{r(601, 999)}",
                  f"pp. {r(1000, 1500)}-{r(1501, 1999)}", f"第 {r(100, 300)}-{r(301, 500)} 页",
                  f"e{r(1000, 9999)}-e{r(10000, 19999)}"],
        "version": [f"v{r(1, 9)}.{r(0, 9)}.{r(0, 20)}", f"{r(1, 9)}.{r(1, 9)}.{r(1, 9)}.{r(1, 9)} 节",
                    f"version {r(10, 20)}.{r(0, 9)}.{r(0, 9)}.{r(10, 99)}", f"ICD-10 E{r(10, 14)}.{r(0, 9)}",
                    f"GB/T 7714-{r(2005, 2015)}"],
        "bad_id": [resident_id(rng, valid=False)],
        "bad_card": [card_number(rng, valid=False, length=16)],
        "decimal": [f"0.9%氯化钠 {r(1, 5)}00 ml", f"{x:.2f} cm", f"{r(1, 9)}.{r(1000, 9999)}"],
        "count": [f"{r(18, 95)}岁", f"第{r(2, 9)}次", f"{r(1, 5)}-{r(6, 14)}天", f"{r(1000, 99999)} 元",
                  f"¥{r(100, 9999)}.00", f"{r(10, 99)} 例", f"n = {r(100, 99999)}"],
        "registry": [f"NCT0{r(1000000, 6999999)}", f"ChiCTR{r(2000000000, 2399999999)}"],
        "plain_url": [f"https://www.example-guidelines.org/diabetes/{d.year}", "https://pubmed.ncbi.nlm.nih.gov/"],
    }
    return rng.choice(options[kind])


KEEP_KINDS = ("dose", "lab", "viral", "series", "year", "date", "time", "pmid", "doi", "isbn", "pages", "version",
              "bad_id", "bad_card", "decimal", "count", "registry", "plain_url")

# --- sentences --------------------------------------------------------------------------------------
_ZH_CONTACT = ["有问题请打{v}找我。", "我的手机：{v}，白天都能接。", "家属联系方式{v}，随时可以联系。",
               "方便的话请回电{v}。"]
_EN_CONTACT = ["You can reach me on {v} after 6 pm.", "My number is {v}.", "Please call {v} if anything changes.",
               "Contact: {v}."]
_ZH_CUED = ["家里座机{v}，晚上有人。", "电话 {v}，找王女士。"]
_EN_CUED = ["Please call me at {v}.", "My cell is {v}."]
_ZH_LABELLED = ["我父亲的{v}，麻烦帮忙看看上次的结果。", "挂号信息：{v}。", "复印病历需要{v}吗？"]
_EN_LABELLED = ["His {v}, in case you need it.", "Registration details: {v}.", "I was given {v} at discharge."]
_PHI: dict[str, list[tuple[str, list[str], Callable[[random.Random], tuple[str, str]]]]] = {
    "EMAIL": [("zh", ["检查报告可以发到我邮箱{v}吗？", "我的邮箱是{v}，麻烦把建议发给我。"], _email),
              ("en", ["Could you send the report to {v}?", "My email is {v}, thanks."], _email)],
    "PHONE": [("zh", _ZH_CONTACT, _mobile), ("zh", _ZH_CONTACT, _landline), ("zh", _ZH_CUED, _local8),
              ("zh", _ZH_CONTACT, _intl), ("en", _EN_CONTACT, _intl), ("en", _EN_CONTACT, _nanp_paren),
              ("en", _EN_CUED, _nanp_dash), ("en", _EN_CONTACT, _mobile)],
    "ID_NUMBER": [("zh", ["我的身份证号{v}，能帮忙查一下吗？", "挂号时填的身份证是{v}。"], _resident),
                  ("en", ["My Chinese resident ID is {v}.", "ID: {v}"], _resident),
                  ("zh", _ZH_LABELLED, _passport_zh), ("en", _EN_LABELLED, _passport_en),
                  ("zh", _ZH_LABELLED, _old_id)],
    "RECORD_NUMBER": [("zh", _ZH_LABELLED, _record_zh), ("en", _EN_LABELLED, _record_en)],
    "BANK_CARD": [("zh", ["退费请打到我的银行卡{v}。", "卡号{v}，户名是我本人。"], _card),
                  ("en", ["The refund can go to card {v}.", "I paid with {v} yesterday."], _card)],
    "IP": [("zh", ["线上问诊一直登不上，显示IP {v} 被限制。", "服务器地址{v}打不开。"], _ipv4),
           ("en", ["The portal blocked my IP {v} again.", "Logged from {v} per the error page."], _ipv4),
           ("en", ["The app shows address {v} and fails.", "It says {v} is not allowed."], _ipv6)],
    "URL": [("zh", ["报告链接：{v}，麻烦看一下。", "我在{v}上传了片子。"], _url),
            ("en", ["Here is the report link: {v}.", "I uploaded the scans at {v} yesterday."], _url)],
}
_ZH_KEEP = ["目前用药及检查：{v}。", "化验单上写着 {v}，请问要紧吗？", "根据 {v}，建议继续观察。", "参考：{v}。",
            "记录：{v}，已复查。"]
_EN_KEEP = ["Current record shows {v}.", "The lab sheet says {v}; is that serious?", "Based on {v}, keep monitoring.",
            "See {v} for details.", "Noted {v} at follow-up."]
_KEEP_LEAD = {"bad_id": ("身份证号 ", "ID number "), "bad_card": ("订单号", "tracking number "),
              "registry": ("注册号 ", "registered as ")}  # (zh, en)
_OPEN = {"zh": ["医生您好，我妈妈最近血糖控制不好，想咨询一下。", "大夫好，我是上周来看过门诊的患者家属。",
                "您好，孩子咳嗽三天了。"],
         "en": ["Hello doctor, my father has had chest tightness for two weeks.", "Hi, I saw you in clinic last month.",
                "Good morning, I have a question about my mother's test results."]}
_ANSWER = {"zh": "\n医生回复：您好，", "en": "\nDoctor: Thanks for the details. "}


class _Text:
    def __init__(self) -> None:
        self.parts: list[str] = []
        self.pos = 0

    def add(self, s: str) -> None:
        self.parts.append(s)
        self.pos += len(s)

    def put(self, template: str, lead: str, value: str, kind: str) -> Item:
        before, after = template.split("{v}")
        self.add(before + lead)
        item = Item(self.pos, self.pos + len(value), kind)
        self.add(value + after + ("" if template.endswith(("。", "？")) else " "))
        return item


def make_cases(n_phi: int = 240, n_keep: int = 240, seed: int = 0) -> list[Case]:
    """Snippets until at least ``n_phi`` PHI and ``n_keep`` non-PHI items are planted (deterministic)."""
    rng = random.Random(seed)
    cases: list[Case] = []
    n_p = n_k = 0
    while n_p < n_phi or n_k < n_keep:
        lang = ("zh", "en")[len(cases) % 2]
        sentences: list[tuple[str, str, str, str]] = []
        for j in range(2):
            kind = PHI_TYPES[(2 * len(cases) + j) % len(PHI_TYPES)]
            templates, gen = rng.choice([(ts, gen) for lg, ts, gen in _PHI[kind] if lg == lang])
            sentences.append((rng.choice(templates), *gen(rng), kind))
            keep = rng.choice(KEEP_KINDS)
            lead = _KEEP_LEAD.get(keep, ("", ""))[lang == "en"]
            sentences.append((rng.choice(_ZH_KEEP if lang == "zh" else _EN_KEEP), lead, _keep(keep, rng), keep))
        # The patient writes both PHI items and one number; the doctor answers with the other number.
        answer = sentences.pop()
        rng.shuffle(sentences)
        text = _Text()
        text.add(rng.choice(_OPEN[lang]) + ("" if lang == "zh" else " "))
        items = [text.put(*sentence) for sentence in sentences]
        text.add(_ANSWER[lang])
        items.append(text.put(*answer))
        phi = tuple(it for it in items if it.kind.isupper())
        keep_items = tuple(it for it in items if it.kind.islower())
        cases.append(Case("".join(text.parts).rstrip(), lang, phi, keep_items))
        n_p, n_k = n_p + len(phi), n_k + len(keep_items)
    return cases


def evaluate(cases: Sequence[Case], detect: Callable[[str], list[tuple[int, int, str]]]) -> dict[str, Any]:
    """Recall per type and overall, precision of the detections, and the share of non-PHI left intact."""
    planted: Counter[str] = Counter()
    found: Counter[str] = Counter()
    true_pos = false_pos = kept = keep_total = 0
    misses: list[str] = []
    wrong: list[str] = []
    for case in cases:
        spans = detect(case.text)
        exact = {(s, e, t) for s, e, t in spans}
        for it in case.phi:
            planted[it.kind] += 1
            if (it.start, it.end, it.kind) in exact:
                found[it.kind] += 1
            else:
                misses.append(f"{it.kind} {case.text[it.start:it.end]!r} in {case.text!r}")
        truth = {(it.start, it.end, it.kind) for it in case.phi}
        for s, e, t in spans:
            if (s, e, t) in truth:
                true_pos += 1
            else:
                false_pos += 1
                wrong.append(f"{t} {case.text[s:e]!r} in {case.text!r}")
        for it in case.keep:
            keep_total += 1
            kept += not any(s < it.end and e > it.start for s, e, _ in spans)
    total = sum(planted.values())
    return {
        "recall_by_type": {t: found[t] / planted[t] for t in PHI_TYPES if planted[t]},
        "planted_by_type": dict(planted),
        "recall": sum(found.values()) / total if total else 1.0,
        "precision": true_pos / (true_pos + false_pos) if true_pos + false_pos else 1.0,
        "keep_rate": kept / keep_total if keep_total else 1.0,
        "phi_items": total,
        "keep_items": keep_total,
        "misses": misses,
        "false_positives": wrong,
    }
