"""Answer parsing: a model's free text to an option label, or ``None`` when no answer can be read.

Text is NFKC-normalised first, so full-width letters and punctuation (``答案：Ｂ``, ``（Ｃ）``) read as ASCII.
In order, the first rule that matches decides:

1. an answer marker followed by a label or an option's text: ``Answer: A``, ``答案：B``, ``答案是 C``,
   ``The answer is A) yes``, ``the answer is (c)``, ``Final answer: maybe``. When the text has several
   markers the LAST one wins (reasoning mentions candidates before it concludes);
2. the text is a label, possibly bracketed, alone or followed by punctuation and more text: ``B``, ``(B)``,
   ``b.``, ``C) maybe``, ``A. Because ...`` (the label wins over the text that follows it);
3. the whole text is an option's text, or starts with it followed by punctuation: ``yes``, ``No.``,
   ``Maybe, because ...`` (PubMedQA's one-word options).

Labels are matched case-insensitively, but a lower-case letter counts only when it cannot be an English
word (bracketed, or followed by ``)``/``.``/``:`` or the end), so ``the answer is a bit unclear`` is no
answer. A label that is not one of the item's options is no answer. Unparseable outputs are counted by
the caller, never guessed.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence

DEFAULT_LABELS = ("A", "B", "C", "D", "E")

# "answer", "final answer", "答案", "正确答案", then an optional copula and an optional colon.
_MARKER = r"(?:final\s+answer|correct\s+answer|answer|正确答案|最终答案|答案|选项)"
_COPULA = r"(?:\s*(?:is|would\s+be|should\s+be|为|是|应为|应该是|选)\s*)?"
_LEAD = rf"(?i:{_MARKER}{_COPULA}\s*[:=]?\s*(?:option\s+)?)"  # case-insensitive; labels are not (see doc)
_LABEL = r"(?:\((?P<b>[A-Za-z])\)|\[(?P<s>[A-Za-z])\]|(?P<u>[A-Z])(?![A-Za-z])|(?P<l>[a-z])(?=[).:]|\s*$))"
_MARKED_LABEL = re.compile(_LEAD + _LABEL)
_BARE_LABEL = re.compile(r"^\s*(?:\((?P<b>[A-Za-z])\)|(?P<u>[A-Za-z]))\s*(?:[).:、].*)?$", re.DOTALL)
_TRAILING = " \t\n.。!！,，;；:"


def normalize(text: str) -> str:
    """NFKC-normalised text (full-width letters, digits and punctuation become ASCII)."""
    return unicodedata.normalize("NFKC", text)


def _label_of(match: re.Match) -> str:
    return next(match.group(g) for g in ("b", "s", "u", "l") if match.groupdict().get(g)).upper()


def _option_texts(options: Sequence[dict] | None) -> dict[str, str]:
    return {normalize(o["text"]).strip().rstrip(_TRAILING).lower(): o["label"] for o in options or ()
            if str(o.get("text", "")).strip()}


def _marked(text: str, labels: Sequence[str], texts: dict[str, str]) -> str | None:
    """The label named after the last answer marker (rule 1)."""
    found: list[tuple[int, str]] = []
    for m in _MARKED_LABEL.finditer(text):
        label = _label_of(m)
        if label in labels:
            found.append((m.start(), label))
    if texts:
        words = "|".join(re.escape(t) for t in sorted(texts, key=len, reverse=True))
        for m in re.finditer(rf"{_LEAD}\(?(?P<t>{words})(?![A-Za-z])", text, re.IGNORECASE):
            found.append((m.start(), texts[m.group("t").lower()]))
    return max(found)[1] if found else None


def _bare(text: str, labels: Sequence[str], texts: dict[str, str]) -> str | None:
    """A label or an option text that makes up the whole answer (rules 2 and 3)."""
    m = _BARE_LABEL.match(text)
    if m and (letter := (m.group("b") or m.group("u")).upper()) in labels:
        return letter
    lowered = text.strip().lower()
    for body, label in sorted(texts.items(), key=lambda kv: len(kv[0]), reverse=True):
        if lowered.rstrip(_TRAILING) == body or re.match(rf"{re.escape(body)}\s*[.,;:!。，；：！]", lowered):
            return label
    return None


def parse_answer(text: str | None, options: Sequence[dict] | None = None) -> str | None:
    """The option label that ``text`` answers (see the module doc), or ``None`` when there is none."""
    if not text or not text.strip():
        return None
    labels = tuple(o["label"].upper() for o in options) if options else DEFAULT_LABELS
    texts = _option_texts(options)
    clean = normalize(text).strip()
    return _marked(clean, labels, texts) or _bare(clean, labels, texts)


_NUMBERING = re.compile(r"^\s*(?:[-*•]+|\(?\d{1,2}[.)、:]|[Qq]\d{1,2}[.):]?|问题\s*\d{1,2}[.:、]?)\s*")


def parse_questions(text: str, limit: int) -> list[str]:
    """Verification questions from a plan: one per line, numbering and bullets removed, at most ``limit``."""
    questions = []
    for line in normalize(text or "").splitlines():
        line = _NUMBERING.sub("", line).strip()
        if line and (line.endswith(("?", "？")) or _NUMBERING.match(line) is None) and len(line) > 3:
            questions.append(line)
    # A plan without question marks is still a plan; with them, lines without one are preamble.
    asked = [q for q in questions if q.endswith(("?", "？"))]
    return (asked or questions)[:limit]
