"""The scrub step: PHI/PII in consultation text replaced by typed placeholders, counted per type.

Types, in priority order. Candidates of every enabled type are collected first; then a candidate of
an earlier type wins any overlap with a later one, and within one type the longest, then the
leftmost, wins. So a URL swallows the e-mail or phone in its query, an e-mail the digits of its
local part, a checksum-valid resident id the label of a record number.

1. ``URL``: ``http(s)://`` or ``www.`` addresses that carry a query string (``?k=v``); the whole
   address goes, since queries carry patient ids, tokens and names. Trailing punctuation stays, and
   the address ends at the first non-ASCII character (Chinese prose often follows with no space).
2. ``EMAIL``: ``local@domain.tld`` (ASCII).
3. ``ID_NUMBER``: 18-character Chinese resident ids (GB 11643-1999) whose province code exists,
   whose birth date (YYYYMMDD, 1900-2099) is a real day and whose ISO 7064 MOD 11-2 check
   character is right; also when written 6-8-4 with single spaces. After an identity label
   (身份证, ID card, resident ID) also the 15-digit ids issued before 1999 (province, 19YYMMDD);
   after a passport label (护照, passport) a passport-style id (one or two letters, 7-8 digits).
4. ``RECORD_NUMBER``: the value after a record label (住院号, 病历号, 病案号, 门诊号, 就诊卡号,
   登记号, 医保卡号, MRN, medical record number, patient ID, admission/hospital/chart number ...):
   letters, digits and dashes with at least four digits. The label stays in the text. English labels
   must start a word; all labels are matched case-insensitively.
5. ``BANK_CARD``: 13-19 digits, contiguous or in groups of 3-6 split by one kind of separator
   (space or dash), starting with an issuer digit 2-6 and passing Luhn.
6. ``PHONE``: Chinese mobiles ``1[3-9]x xxxx xxxx`` (optional ``+86``/``0086``/``(+86)``, space or
   dash groups); landlines with area code ``010``/``02x``/``0[3-9]xx`` (optionally in parentheses)
   and a 7-8 digit local number starting 2-9, with an optional extension (转, 分机, ext, x, -);
   international ``+CC ...`` with 8-15 digits in all and North American ``(617) 555-0198``, both
   with an optional extension; and, only
   shortly after a phone word (电话, 手机, 座机, call, phone, tel, cell, mobile, fax, reach),
   ``617-555-0198`` and 8-digit local numbers that are not a YYYYMMDD date.
7. ``IP``: IPv4 with octets 0-255 and no leading zeros, where a quad of single digits counts only
   just after an IP word (IP, address, server, 地址, 服务器 ...); IPv6 (validated by ``ipaddress``)
   in full eight-group form or compressed with ``::``, with at least one group of 3-4 hex digits.

Deliberately left alone:

- numbers that do not stand alone: inside a word or code (``e1002``, ``NCT04280705``, DOIs), after
  a decimal point, dash or slash (``0.25``, ``2019-2023``, ``150/95``), followed by ``.5`` or ``-3``;
- numbers followed by a unit (``mg``, ``g``, ``U``, ``IU``, ``mmol``, ``copies``, ``%``, ``×``,
  ``次``, ``岁``, ``元`` ...): quantities, such as a viral load written out in full;
- mobile-shaped numbers ending in six zeros (``13800000000``): round quantities, not subscribers;
- dates and years (``2023-05-14``, ``20230514``, ``2019年``), times, PMIDs and other 7-10 digit
  runs (no rule takes bare runs of that length), ISBNs (``978``/``979`` start with 9, not an issuer
  digit), page ranges, versions and section numbers (dotted quads of single digits, or a dotted quad
  after ``version``/``v``/``版本``/``section``/``§``/``第``);
- 18-digit numbers failing the id checksum, and 18-digit numbers shaped like an id (province code and
  date in place) are never re-read as cards, so a mistyped id is not counted as a card;
- 13-19 digit numbers failing Luhn or starting with 0, 1, 7, 8 or 9; URLs without a query string;
- dotted quads with a leading-zero part (``192.168.001.010``, ``2023.05.14.01``): dates and versions;
- record-like numbers without a label, and names, addresses and ages (no named-entity model here).

``\\d`` matches any decimal digit, full-width ones included, so the step also works on text that
``clean`` has not folded.
"""

from __future__ import annotations

import bisect
import datetime
import ipaddress
import re
import string
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field

import pyarrow as pa

from curate.core.step import Context, Out

TYPES = ("URL", "EMAIL", "ID_NUMBER", "RECORD_NUMBER", "BANK_CARD", "PHONE", "IP")  # priority order
DEFAULT_PLACEHOLDERS = {t: f"<{t}>" for t in TYPES}

Span = tuple[int, int, str]


@dataclass(frozen=True)
class ScrubConfig:
    """Which PHI types are replaced (all by default), and the placeholder of each."""

    types: tuple[str, ...] = TYPES
    placeholders: dict[str, str] = field(default_factory=lambda: dict(DEFAULT_PLACEHOLDERS))

    def __post_init__(self) -> None:
        if isinstance(self.types, str):
            raise ValueError(f"scrub.types must be a list of types, not {self.types!r}")
        unknown = sorted((set(self.types) | set(self.placeholders)) - set(TYPES))
        if unknown:
            raise ValueError(f"scrub: unknown PHI type(s) {', '.join(unknown)}; known: {', '.join(TYPES)}")
        # Priority order, whatever order the recipe lists them in; partial placeholder overrides.
        object.__setattr__(self, "types", tuple(t for t in TYPES if t in self.types))
        object.__setattr__(self, "placeholders", {**DEFAULT_PLACEHOLDERS, **self.placeholders})


_HINT = re.compile(r"[\d@]|://|www\.", re.I)

_PROVINCES = frozenset({11, 12, 13, 14, 15, 21, 22, 23, 31, 32, 33, 34, 35, 36, 37, 41, 42, 43, 44, 45, 46,
                        50, 51, 52, 53, 54, 61, 62, 63, 64, 65, 71, 81, 82, 83})
_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)


def _digits(s: str) -> str:
    return "".join(str(int(c)) for c in s if c.isdecimal())  # int() folds full-width digits


def _real_date(yyyymmdd: str) -> bool:
    year, month, day = int(yyyymmdd[:4]), int(yyyymmdd[4:6]), int(yyyymmdd[6:8])
    if not 1900 <= year <= 2099:
        return False
    try:
        datetime.date(year, month, day)
    except ValueError:
        return False
    return True


def _id_shaped(s: str) -> bool:
    return len(s) == 18 and int(s[:2]) in _PROVINCES and _real_date(s[6:14])


def resident_id_check(first17: str) -> str:
    """GB 11643 check character (ISO 7064 MOD 11-2) of the first 17 digits of a resident id."""
    return "10X98765432"[sum(int(c) * w for c, w in zip(first17, _ID_WEIGHTS, strict=True)) % 11]


def valid_resident_id(s: str) -> bool:
    """True for an 18-character resident id with a real province, birth date and check character."""
    s = s.replace(" ", "").upper()
    if len(s) != 18 or not s[:17].isdecimal() or not (s[17].isdecimal() or s[17] == "X"):
        return False
    body = _digits(s[:17])
    return _id_shaped(body + "0") and resident_id_check(body) == (s[17] if s[17] == "X" else _digits(s[17]))


def luhn_ok(digits: str) -> bool:
    """True when a digit string passes the Luhn check."""
    total = 0
    for i, c in enumerate(reversed(digits)):
        d = int(c) * (2 if i % 2 else 1)
        total += d - 9 if d > 9 else d
    return total % 10 == 0


# A finder gets the text and its lower-cased twin (same length) and yields candidate spans.
Finder = Callable[[str, str], Iterator[tuple[int, int]]]
Valid = Callable[[str, re.Match], bool]


def _finder(pattern: str, valid: Valid | None = None, gate: Callable[[str], bool] | None = None,
            flags: int = 0) -> Finder:
    regex = re.compile(pattern, flags)

    def find(text: str, _: str) -> Iterator[tuple[int, int]]:
        if gate is None or gate(text):
            for m in regex.finditer(text):
                if valid is None or valid(text, m):
                    yield m.span()

    return find


def _labelled(labels: Callable[[str], Iterator[tuple[int, int]]], value: str, valid: Valid | None = None) -> Finder:
    # Scanning the lower-cased text for lower-case labels (``labels`` gives their spans there) is several
    # times faster than re.I; the value (group "v") is then matched only where a label ends.
    value_re = re.compile(value, re.I)

    def find(text: str, low: str) -> Iterator[tuple[int, int]]:
        for i, end in labels(low):
            if i and low[i].isascii() and low[i].isalpha() and low[i - 1].isascii() and low[i - 1].isalpha():
                continue  # an English label starts a word ("hotel" is no "tel")
            v = value_re.match(text, end)
            if v and (valid is None or valid(text, v)):
                yield v.span("v")

    return find


def _any_of(*patterns: str) -> Callable[[str], Iterator[tuple[int, int]]]:
    """The spans one scan with the alternation of ``patterns`` finds (leftmost first; at one position the
    first pattern that matches), from one search per pattern: each starts with a literal, which ``re``
    finds with a fast string search, where an alternation is tried at every position of the text."""
    regexes = [re.compile(p) for p in patterns]
    return lambda low: _leftmost((m.start(), k, m.end()) for k, r in enumerate(regexes) for m in r.finditer(low))


def _leftmost(found: Iterable[tuple[int, int, int]]) -> Iterator[tuple[int, int]]:
    """``(start, end)`` of the spans ``(start, rank, end)`` that one left-to-right scan keeps: by start, then
    rank, each that begins where the last kept one ended or later."""
    last = 0
    for start, _, end in sorted(found):
        if start >= last:
            yield start, end
            last = end


# Characters that must not come just before a PHI number: it would then continue a word, a decimal,
# a range, a path or an e-mail address. Patterns consume their first character before this
# lookbehind (or start with a lookahead) so that `re` can skip quickly to plausible starts.
_L = r"[\dA-Za-z_.\-/@+]"
_RIGHT = r"(?![\dA-Za-z_@]|[.,:\-/]\d)"
# A number followed by a unit is a quantity (dose, lab value, count, price), never an identifier.
_UNIT = (r"(?!\s?(?:(?:[mµμnu]?g|kg|m?[lL]|dL|[mµμnu]?mol|mmHg|m?I?U|cm|mm|copies|cells|bpm)(?![A-Za-z])"
         r"|[%‰×次岁元片粒支克毫升个例拷倍]))")
_SEP = r"\s*(?:[:：#]|是|为|(?<![A-Za-z])(?:is|was)(?![A-Za-z]))?\s*[:：#]?\s*"

# --- URL and e-mail -------------------------------------------------------------------------------
_URL = re.compile(r"(?:h(?<![A-Za-z0-9@.]h)ttps?://|w(?<![A-Za-z0-9@.]w)ww\.)[A-Za-z0-9\-._~:/#\[\]@!$&'()*+,;=%]*"
                  r"\?[A-Za-z0-9\-._~:/?#\[\]@!$&'()*+,;=%]+", re.I)


def _urls(text: str, _: str) -> Iterator[tuple[int, int]]:
    if "?" not in text:
        return
    for m in _URL.finditer(text):
        url = m.group()
        # Sentence punctuation after an address is not part of it; a ")" only when unbalanced.
        while url and (url[-1] in ".,;:!?'" or (url[-1] == ")" and url.count("(") < url.count(")"))):
            url = url[:-1]
        query = url.partition("?")[2]
        if query and query.strip("?&=#"):
            yield m.start(), m.start() + len(url)


_EMAIL = (r"[A-Za-z0-9](?<![A-Za-z0-9._%+\-][A-Za-z0-9])(?:[A-Za-z0-9._%+\-]*[A-Za-z0-9_])?"
          r"@(?:[A-Za-z0-9](?:[A-Za-z0-9\-]*[A-Za-z0-9])?\.)+[A-Za-z]{2,24}(?![A-Za-z0-9\-])")

# --- identity documents and labelled record numbers ------------------------------------------------
_RESIDENT = r"\d(?<![\dA-Za-z_]\d)\d{5}( ?)\d{8}\1\d{3}[\dXx](?![\dA-Za-z_])"
_ID_LABELS = _any_of(r"身份证号?码?", r"id card(?: (?:number|no\.?|#))?", r"resident id(?: number)?")
_OLD_ID = rf"{_SEP}(?P<v>\d{{15}})(?![\dA-Za-z_])"
_PASSPORT_LABELS = _any_of(r"护照号?码?", r"passport(?: (?:number|no\.?|#))?")
_PASSPORT = rf"{_SEP}(?P<v>[A-Za-z]{{1,2}}\d{{7,8}})(?![\dA-Za-z_])"
_RECORD_WORDS = r"patient|hospital|admission|inpatient|outpatient|chart|case|record"
# Record labels: "住院号", "病历号码", "患者ID", "MRN", "medical record no.", "patient ID" and the like. Each
# ends in a rare string ("号", "id", "mrn", a space and "id", "number", "no" or "#"): that end is found by a
# literal search and the label's head read back from just before it (the head's pattern, searched in the
# ``reach`` characters before; None: no head). One alternation of every label tried at every position of
# the text took half of the scrubber's time.
_RECORD_PARTS = (
    (re.compile(r"号码?"), re.compile(r"(?:住院|病[历案]|门诊|就诊卡?|登记|检查|影像|[医社]保卡|id)\Z"), 3),
    (re.compile(r"(?:患者|病人)id码?"), None, 0),
    (re.compile(r"mrn码?"), None, 0),
    (re.compile(r" (?:number|no\.?|#)码?"), re.compile(rf"(?:medical record|{_RECORD_WORDS})\Z"), 14),
    (re.compile(r" id码?"), re.compile(rf"(?:{_RECORD_WORDS})\Z"), 10),
)


def _record_labels(low: str) -> Iterator[tuple[int, int]]:
    """Spans of the record-number labels in lower-cased text, in order, none overlapping (the first of
    two that do is kept, as one scan of the text would)."""
    found = []
    for tail, head, reach in _RECORD_PARTS:
        for m in tail.finditer(low):
            start = m.start()
            if head is not None:
                h = head.search(low, max(0, start - reach), start)
                if h is None:
                    continue
                start = h.start()
            found.append((start, 0, m.end()))
    return _leftmost(found)


_RECORD = rf"{_SEP}(?P<v>[A-Za-z]{{0,4}}-?\d[\dA-Za-z\-]{{2,24}})(?![\dA-Za-z_\-])"


def _old_id_ok(_: str, m: re.Match) -> bool:
    v = _digits(m.group("v"))
    return int(v[:2]) in _PROVINCES and _real_date("19" + v[6:12])


def _record_ok(_: str, m: re.Match) -> bool:
    return sum(c.isdecimal() for c in m.group("v")) >= 4 and not m.group("v").endswith("-")


# --- bank cards ------------------------------------------------------------------------------------
_CARD = re.compile(rf"\d(?<!{_L}\d)\d{{3,5}}(?:(?P<sep>[ \-])\d{{3,6}}(?:(?P=sep)\d{{3,6}}){{1,4}}|\d{{9,15}})"
                   rf"{_RIGHT}{_UNIT}")


def _card_ok(digits: str) -> bool:
    return (13 <= len(digits) <= 19 and digits[0] in "23456" and luhn_ok(digits)
            and not _id_shaped(digits))  # an id-shaped number is judged as an id only


def _cards(text: str, _: str) -> Iterator[tuple[int, int]]:
    for m in _CARD.finditer(text):
        sep = m.group("sep")
        groups = m.group().split(sep) if sep else [m.group()]
        # The last group may be a separate number ("... 7890 2023年"): retry without it.
        for k in range(len(groups), 2 if sep else 0, -1):
            if _card_ok(_digits("".join(groups[:k]))):
                yield m.start(), m.start() + len((sep or "").join(groups[:k]))
                break


# --- phones ----------------------------------------------------------------------------------------
_MOBILE = (rf"(?=[(+01])(?<!{_L})(?:(?:\(\s?)?(?:\+|00)86(?:\s?\))?[ \-]?)?1[3-9]\d(?P<s>[ \-]?)\d{{4}}(?P=s)\d{{4}}"
           rf"{_RIGHT}{_UNIT}")
_AREA = r"0(?:10|2\d|[3-9]\d{2})"
_LANDLINE = (rf"(?=[(0])(?<!{_L})(?:\({_AREA}\)\s?|{_AREA}[ \-]?)[2-9]\d{{2,3}}[ \-]?\d{{4}}"
             rf"(?:\s?(?:转|分机|ext\.?|x|-)\s?\d{{1,5}})?{_RIGHT}{_UNIT}")
_EXT = r"(?:\s?(?:ext\.?|x|转|分机)\s?\d{1,5})?"
_INTL = rf"\+(?<!{_L}\+)[1-9]\d{{0,2}}(?:[ .\-]?(?:\(\d{{1,4}}\)|\d{{1,5}})){{2,6}}{_EXT}{_RIGHT}{_UNIT}"
_NANP = rf"\((?<!{_L}\()\s?[2-9]\d{{2}}\s?\)\s?[2-9]\d{{2}}[ \-.]\d{{4}}{_EXT}{_RIGHT}{_UNIT}"
# Dashed 3-3-4 and 8-digit local numbers look like dose steps or dates; only a phone word makes them phones.
_PHONE_CUES = _any_of(*"电话 手机 座机 联系方式 传真 call phone tel cell mobile fax reach".split())
_CUED = (rf"[^\d\n]{{0,16}}?(?P<v>(?<!{_L})(?:[2-9]\d{{2}}(?P<s>[\-.])[2-9]\d{{2}}(?P=s)\d{{4}}"
         rf"|[2-9]\d{{3}}[ \-]?\d{{4}})){_RIGHT}{_UNIT}")


def _mobile_ok(_: str, m: re.Match) -> bool:
    return not _digits(m.group()).endswith("000000")


def _intl_ok(_: str, m: re.Match) -> bool:
    return 8 <= len(_digits(re.split(r"\s?(?:ext|x|转|分机)", m.group(), flags=re.I)[0])) <= 15


def _cued_ok(_: str, m: re.Match) -> bool:
    digits = _digits(m.group("v"))
    return len(digits) == 10 or not _real_date(digits)


# --- IP addresses ----------------------------------------------------------------------------------
_IPV4 = r"\d(?<![\dA-Za-z_.\-/:]\d)\d{0,2}\.(?:\d{1,3}\.){2}\d{1,3}(?![\dA-Za-z_]|\.\d)"
_VERSION_CUE = re.compile(r"(?:(?<![A-Za-z])(?:version|ver\.?|v|release|section)|版本|§|第|章|节)\s*$", re.I)
_IP_CUE = re.compile(r"(?:(?<![A-Za-z])(?:IP|IPv4|address|host|server|DNS|gateway)|地址|服务器|网关)\W{0,3}$", re.I)
_IPV6 = r"(?<![0-9A-Za-z_:.])(?:[0-9A-Fa-f]{0,4}:){2,7}[0-9A-Fa-f]{0,4}(?![0-9A-Za-z_:])"


def _ipv4_ok(text: str, m: re.Match) -> bool:
    octets = m.group().split(".")
    if any((len(o) > 1 and o[0] == "0") or int(o) > 255 for o in octets):
        return False
    # 1.2.3.4-like quads are section or version numbers unless an IP word comes just before; any quad
    # after a version word is a version.
    before = text[max(0, m.start() - 12):m.start()]
    if max(len(o) for o in octets) == 1 and not _IP_CUE.search(before):
        return False
    return not _VERSION_CUE.search(before)


def _ipv6_ok(_: str, m: re.Match) -> bool:
    s = m.group()
    groups = [g for g in s.split(":") if g]
    if not ("::" in s or s.count(":") == 7) or len(groups) < 2 or max(len(g) for g in groups) < 3:
        return False
    try:
        ipaddress.IPv6Address(s)
    except ValueError:
        return False
    return True


_FINDERS: dict[str, tuple[Finder, ...]] = {
    "URL": (_urls,),
    "EMAIL": (_finder(_EMAIL, gate=lambda t: "@" in t),),
    "ID_NUMBER": (_finder(_RESIDENT, lambda _, m: valid_resident_id(m.group())),
                  _labelled(_ID_LABELS, _OLD_ID, _old_id_ok), _labelled(_PASSPORT_LABELS, _PASSPORT)),
    "RECORD_NUMBER": (_labelled(_record_labels, _RECORD, _record_ok),),
    "BANK_CARD": (_cards,),
    "PHONE": (_finder(_MOBILE, _mobile_ok), _finder(_LANDLINE, flags=re.I),
              _finder(_INTL, _intl_ok, lambda t: "+" in t), _finder(_NANP, gate=lambda t: "(" in t),
              _labelled(_PHONE_CUES, _CUED, _cued_ok)),
    "IP": (_finder(_IPV4, _ipv4_ok), _finder(_IPV6, _ipv6_ok, lambda t: "::" in t or t.count(":") >= 7)),
}
_ASCII_LOWER = str.maketrans(string.ascii_uppercase, string.ascii_lowercase)


def detect(text: str, cfg: ScrubConfig) -> list[Span]:
    """Non-overlapping PHI spans ``(start, end, type)`` in text order, overlaps resolved by priority."""
    if not _HINT.search(text):
        return []
    rank = {t: i for i, t in enumerate(TYPES)}
    low = text.lower()
    if len(low) != len(text):  # a few characters lower-case to two; the labels need ASCII folding only
        low = text.translate(_ASCII_LOWER)
    found = [(s, e, kind) for kind in cfg.types for find in _FINDERS[kind] for s, e in find(text, low) if e > s]
    found.sort(key=lambda c: (rank[c[2]], c[0] - c[1], c[0]))
    starts: list[int] = []
    taken: list[Span] = []
    for start, end, kind in found:
        i = bisect.bisect_left(starts, start)
        if (i and taken[i - 1][1] > start) or (i < len(taken) and taken[i][0] < end):
            continue
        starts.insert(i, start)
        taken.insert(i, (start, end, kind))
    return taken


def scrub_text(text: str, cfg: ScrubConfig) -> tuple[str, Counter[str]]:
    """Replace PHI in ``text`` by typed placeholders; return the new text and the count per type."""
    counts: Counter[str] = Counter()
    parts: list[str] = []
    last = 0
    for start, end, kind in detect(text, cfg):
        parts += [text[last:start], cfg.placeholders[kind]]
        counts[kind] += 1
        last = end
    if not counts:
        return text, counts
    parts.append(text[last:])
    return "".join(parts), counts


def scrub(table: pa.Table, cfg: ScrubConfig, ctx: Context) -> Out:
    """Scrub one batch of documents (a step); one ``modify`` row per changed record, nothing dropped."""
    ledger = ctx.ledger()
    bodies: list[str | None] = []
    for id_, body in zip(table["id"].to_pylist(), table["text"].to_pylist(), strict=True):
        if body:
            body, counts = scrub_text(body, cfg)
            if counts:
                ledger.modify(id_, "phi", ",".join(f"{k}={n}" for k, n in sorted(counts.items())))
        bodies.append(body)
    kept = table.set_column(table.schema.get_field_index("text"), "text", pa.array(bodies, pa.string()))
    return Out(kept, ledger.table())
