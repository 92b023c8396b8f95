"""Cleaning the values of entity tables: what scrapers leave in them, and several items in one string.

Real Chinese medical KG dumps are crawls, and their values carry the page around them. ``ValueRules``
(a recipe's ``[options.values]``; these defaults) removes, in order:

- ``remove``: scraper tags and arrows (``[详细]``, ``[更多]``, ``查看详情>>``, ``>>``, ``»``);
- truncation marks (``...``, ``…``, ``。。。``) at the end of a value or item: a list cut off by the
  crawler keeps its complete items, and ``cleaned`` says the list was cut (the text then ends it with
  等 / etc.); prose is cut back to its last whole sentence;
- dashes that start or end an item (``——5000元``), and dash runs inside a number range
  (``2000——5000`` reads ``2000-5000``);
- bracket debris: a closing bracket with no opening one (``] 头痛``), an opening one with no closing
  one, empty brackets, and brackets around a whole item (``（2000-5000元）``);
- spaces between Chinese characters inside one item (``盗 汗``), null values (``暂无``, ``nan``), empty
  and repeated items, and a one-character fragment left after the last separator (``多汗；配``).

A string holding several items is split on ``、，,;；|`` (and on spaces when it is Chinese, where
spaces separate items, never words); the items of a JSON list are each one item.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

CJK = "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
_TRUNCATION = re.compile(r"\s*(?:\.{2,}|…+|。{2,}|，{2,})\s*$")
_DASHES = "—–－~～"
_EDGE_DASH = re.compile(rf"^[\s{_DASHES}-]+|[\s{_DASHES}-]+$")
_RANGE = re.compile(rf"(\d(?:\.\d+)?\s*[%％]?)\s*(?:[{_DASHES}]+|-{{2,}}|\s-\s)\s*(?=\d)")
_CJK_SPACE = re.compile(rf"(?<=[{CJK}])\s+(?=[{CJK}])")
_PAIRS = {"(": ")", "（": "）", "[": "]", "【": "】", "《": "》", "「": "」"}
_CLOSERS = {v: k for k, v in _PAIRS.items()}
_EMPTY_BRACKETS = re.compile(r"[(（]\s*[)）]|\[\s*\]|【\s*】|《\s*》")
_SPLIT = re.compile(r"\s*[、，,;；|]\s*")
_SPLIT_ZH = re.compile(r"[\s、，,;；|]+")
_SENTENCE_END = re.compile(r"[。！？!?]")


@dataclass(frozen=True)
class ValueRules:
    """What value cleaning removes (regular expressions) and which values mean "no value"."""

    remove: tuple[str, ...] = (r"\[\s*(?:详细|详情|更多|查看|展开|全部)[^\]]{0,4}\]",
                               r"【\s*(?:详细|详情|更多|查看)[^】]{0,4}】",
                               r"(?:查看|点击)?(?:详细|详情|更多|全部)\s*(?:>>|》|»|→)",
                               r">{2,}|<{2,}|»|«|→\s*$")
    # "疾病百科" is the crawled site's root category (medical.json's category lists), not a category.
    null: tuple[str, ...] = ("暂无", "暂无数据", "不详", "未知", "无数据", "待补充", "null", "none", "nan", "n/a",
                             "na", "-", "--", "/", "无资料", "疾病百科")

    def __post_init__(self) -> None:
        object.__setattr__(self, "remove", tuple(self.remove))
        object.__setattr__(self, "null", tuple(self.null))
        try:
            compiled = re.compile("|".join(f"(?:{p})" for p in self.remove)) if self.remove else None
        except re.error as err:
            raise ValueError(f"values.remove: invalid regular expression: {err}") from None
        object.__setattr__(self, "_remove", compiled)
        object.__setattr__(self, "_null", frozenset(n.casefold() for n in self.null))

    def strip(self, value: str) -> str:
        """``value`` without the ``remove`` patterns."""
        pattern = self._remove  # type: ignore[attr-defined]
        return pattern.sub(" ", value) if pattern is not None else value

    def is_null(self, value: str) -> bool:
        """Whether ``value`` means "no value"."""
        return value.casefold() in self._null  # type: ignore[attr-defined]


def _brackets(item: str) -> str:
    """Drop unmatched and empty brackets, and brackets around the whole item."""
    item = _EMPTY_BRACKETS.sub("", item)
    stack: list[int] = []
    drop: set[int] = set()
    for i, ch in enumerate(item):
        if ch in _PAIRS:
            stack.append(i)
        elif ch in _CLOSERS:
            if stack and item[stack[-1]] == _CLOSERS[ch]:
                stack.pop()
            else:
                drop.add(i)
    drop.update(stack)
    if drop:
        item = "".join(ch for i, ch in enumerate(item) if i not in drop)
    while len(item) > 2 and item[0] in _PAIRS and item[-1] == _PAIRS[item[0]] and \
            _balanced(item[1:-1]):
        item = item[1:-1].strip()
    # A bracketed range or amount after a word ("约（2000-5000元）") reads without its brackets.
    return re.sub(r"[(（]\s*(\d[\d.,\-%％]*\s*[^\d\s()（）]{0,3})\s*[)）]$", r"\1", item)


def _balanced(s: str) -> bool:
    depth = 0
    for ch in s:
        if ch in _PAIRS:
            depth += 1
        elif ch in _CLOSERS:
            depth -= 1
            if depth < 0:
                return False
    return depth == 0


def clean_item(item: str, rules: ValueRules) -> tuple[str, bool]:
    """One item cleaned, and whether it ended in a truncation mark."""
    item = " ".join(rules.strip(item).split())
    cut = bool(_TRUNCATION.search(item))
    item = _TRUNCATION.sub("", item)
    item = _RANGE.sub(r"\1-", item)
    item = _EDGE_DASH.sub("", _brackets(item)).strip()
    item = _CJK_SPACE.sub("", item)
    item = _brackets(item).strip(" ，,;；、:：")
    return ("" if rules.is_null(item) else item), cut


def clean_text(value: str, rules: ValueRules) -> str:
    """Prose cleaned: debris removed, a cut-off tail cut back to the last whole sentence."""
    text = " ".join(rules.strip(value).split())
    if _TRUNCATION.search(text):
        text = _TRUNCATION.sub("", text)
        ends = [m.end() for m in _SENTENCE_END.finditer(text)]
        if ends and ends[-1] >= len(text) // 2:
            text = text[:ends[-1]]
    text = _RANGE.sub(r"\1-", text)
    text = _EMPTY_BRACKETS.sub("", text).strip()
    return "" if rules.is_null(text) else text


def split(value: str, zh: bool) -> list[str]:
    """Several items packed in one string, split."""
    return [i for i in (_SPLIT_ZH if zh else _SPLIT).split(value) if i]


def cleaned(items: Iterable[str], rules: ValueRules, *, from_string: bool) -> tuple[list[str], bool]:
    """Items cleaned, empty and repeated ones dropped; and whether the list was cut off by a crawler.

    With ``from_string`` (the items were split out of one string), a last item of one character after
    longer items is a fragment of a cut-off value (``多汗；配``) and is dropped as well.
    """
    out: list[str] = []
    cut = False
    raw = list(items)
    for n, item in enumerate(raw):
        text, truncated = clean_item(item, rules)
        cut = cut or (truncated and n == len(raw) - 1) or (not text and truncated)
        if text and text not in out:
            out.append(text)
    if from_string and len(out) > 1 and len(out[-1]) == 1 and re.match(f"[{CJK}]", out[-1]) \
            and all(len(i) > 1 for i in out[:-1]):
        out.pop()
        cut = True
    return out, cut
