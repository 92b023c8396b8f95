"""Knowledge points: an exam question and its answer restated as a declarative statement of the fact.

This module reads the shape of a question and cuts it into the pieces a template needs; the wording
that joins them ("except", "but … is not", "的说法是错误的") lives in
``templates/exams/<lang>/<pattern>.j2``. Each question gets a form first (``Point.form``: ``negative``,
``correct``, ``cloze``, ``positive``, ``superlative``, ``all``, or ``fallback``) and a pattern (the
template) within it. Chinese stems are read by ``knowledge_zh``; English ones here, first match wins:

- ``negative*``: EXCEPT / NOT / false-statement questions. The marked answer is the false option, so
  the other options are stated as true and the answer as not true;
- ``statement``: "Which statement is true?": the answer, a full statement, is stated about the subject;
- ``cloze``: blanks (``____``, ``( )``) are filled with the answer;
- ``which`` / ``replace`` / ``what``: the wh-phrase is replaced by the answer (``superlative`` when the
  stem asks for the most common / best / first-line one);
- "All of the above" answers: the other options are the facts, stated in the stem's own shape;
- ``fallback``: the question's point restated with the answer, without the option list.

The sentences of a clinical vignette before the question come back as ``lead`` and are kept as
context. Multi-select answers are passed as lists; templates join them with ``join_list``. Options
such as "All of the above" are never stated as facts, and an answer naming other options by letter
("A，B，C均可") stands for those options (``resolve_letters``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from curate.text.templates import join_list, strip_end


@dataclass(frozen=True)
class Point:
    """A rewrite decision: the template pattern, its slots, the vignette kept as context, and the form."""

    pattern: str
    slots: dict[str, Any] = field(default_factory=dict)
    lead: str = ""
    form: str = ""


BLANK = re.compile(r"_{2,}|[(（][ \t　]*[)）]|\[\s*\]")
# Answering instructions carry no fact: "(Select 2.)", "（多选）", "【多选题】".
_INSTRUCTION = re.compile(r"\s*(?:\((?:select|choose|pick|mark)\b[^)]*\)"
                          r"|[（【\[](?:多选题?|单选题?|多项选择题?)[）】\]])\s*$", re.I)
_CJK = "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\u3000-\u303f\uff00-\uffef"
_CJK_GAP = re.compile(f"(?<=[{_CJK}])[ \t\u3000]+(?=[{_CJK}])")


def tighten(text: str) -> str:
    """Remove spaces between Chinese characters and punctuation (Chinese uses none)."""
    return _CJK_GAP.sub("", text)


def tidy(items: list[str]) -> list[str]:
    """Option texts without closing punctuation."""
    return [strip_end(i) for i in items]


_ALL_EN = re.compile(r"^(?:all|both)\s+(?:of\s+)?(?:the\s+)?(?:above|these|options)\b|^[A-H](?:\s*(?:,|and|&)\s*[A-H])+"
                     r"\s*(?:are\s+)?(?:all\s+)?(?:correct|true)?$", re.I)
_NONE_EN = re.compile(r"^none\s+of\s+(?:the\s+)?(?:above|these|options)\b", re.I)
_LETTER_REFS = re.compile(r"^\s*([A-H](?:\s*(?:[、，,和及与&]|and)\s*[A-H])+)\s*(?:都|均|皆|are|all)?\s*"
                          r"(?:是|对|正确|可以|可|有|correct|true)?\s*[。.]?$", re.I)


def resolve_letters(answers: list[str], options: dict[str, str]) -> list[str]:
    """An answer that names other options by letter ("A，B，C均可", "A and C") as those options' texts."""
    if len(answers) == 1 and (m := _LETTER_REFS.match(answers[0])):
        labels = re.findall(r"[A-H]", m.group(1))
        if all(label in options for label in labels):
            return [options[label] for label in labels]
    return answers


def is_all_of_the_above(text: str) -> bool:
    """Whether an option says "all/none of the above" rather than stating a fact."""
    from curate.readers import knowledge_zh

    return bool(_ALL_EN.match(text) or _NONE_EN.match(text) or knowledge_zh._ALL.match(text)
                or knowledge_zh._NONE.match(text))


def _cap(s: str) -> str:
    """Capitalise a sentence start, leaving mixed-case words (pH, mRNA) and non-ASCII letters alone."""
    word = s.split(" ", 1)[0]
    if s[:1].isascii() and s[:1].islower() and word[1:] == word[1:].lower():
        return s[:1].upper() + s[1:]
    return s


_FUNCTION_WORDS = {"The", "A", "An", "It", "Its", "This", "These", "Those", "There", "In", "Most", "All",
                   "Both", "Each", "Some", "Patients", "They", "He", "She"}


def _decap(s: str) -> str:
    """Lower-case a sentence start that moves mid-sentence, when it is a plain function word."""
    word = s.split(" ", 1)[0]
    return s[:1].lower() + s[1:] if word in _FUNCTION_WORDS else s


def _mid(items: list[str]) -> list[str]:
    """Option texts placed mid-sentence, lower-cased only where that is safe for every item.

    Title-cased phrases of three or more words ("Irreversible blockade of ...") are not names; shorter
    ones may be (Graves disease, Escherichia coli), so a list keeps its capitals unless all its items
    are long phrases, which keeps the list consistent.
    """
    items = tidy(items)

    def phrase(s: str) -> bool:
        words = s.split()
        return len(words) >= 3 and words[0].isalpha() and words[0][:1].isupper() and words[0][1:].islower()

    if items and all(phrase(s) for s in items):
        return [s[:1].lower() + s[1:] for s in items]
    return items


def fill_blanks(sentence: str, answers: list[str], lang: str) -> str:
    """Fill each blank with an answer: one each when counts match, else the split or joined answer."""
    blanks = BLANK.findall(sentence)
    parts = re.split(r"\s*[,，、;；]\s*", answers[0]) if len(answers) == 1 else []
    if len(answers) == len(blanks):
        fills = answers
    elif len(blanks) > 1 and len(parts) == len(blanks):
        fills = parts
    else:
        fills = [join_list(answers, lang)] * len(blanks)
    it = iter(fills)
    return BLANK.sub(lambda _: next(it), sentence)


# ---------------------------------------------------------------------------------------------- en

_EN_BOUNDARY = re.compile(r"(?<=[.!?])\s+(?=[\"'(]?[A-Z0-9])")
_FOLLOWING = r"^which(?:\s+one)?\s+of\s+the\s+following"
_EN_VERDICT = (r"(?:\s+statements?)?(?:\s+(?:about|regarding|concerning|on)\s+(?P<t1>.+?))?\s+(?:is|are)\s+"
               r"(?:{})(?:\s+(?:about|regarding|concerning|of|for|in)\s+(?P<t2>.+))?$")
_EN_TRUE = re.compile(_FOLLOWING + _EN_VERDICT.format("true|correct|accurate"), re.I)
_EN_FALSE = re.compile(_FOLLOWING + _EN_VERDICT.format("false|incorrect|untrue|inaccurate|wrong|not true|"
                                                       "not correct"), re.I)
_MODALS = {"would", "will", "can", "could", "should", "may", "might", "must"}
_COPULAS = {"is", "are", "was", "were"}
_AUX = _COPULAS | {"has", "have", "does", "do", "did"} | _MODALS
_ADV = {"best", "most", "least", "more", "less", "primarily", "likely", "directly", "typically", "usually",
        "commonly", "also", "mainly", "first", "often", "probably"}
_DETERMINERS = {"this", "the", "his", "her", "a", "an", "these", "those", "such", "their", "its", "that"}
_PRONOUNS = {"he", "she", "it", "they", "you", "we", "patients"}
_EN_NOT = re.compile(_FOLLOWING + r"(?:\s+[\w-]+){0,3}?\s+(?P<aux>is|are|was|were|does|do|"
                     + "|".join(sorted(_MODALS)) + r")\s+not\s+(?P<vp>.+)$", re.I)
_EN_WH_END = re.compile(r"^(?P<head>.+?)\s+(?:(?:which|what)\s+of\s+the\s+following(?:\s+[\w-]+){0,2}"
                        r"|which\s+[\w-]+)$", re.I)
_EN_WHAT = re.compile(r"^(?:what|which)\s+(?P<verb>is|are|was|were)\s+(?P<np>(?:the|a|an|this|his|her|its|"
                      r"their)\s.+)$", re.I)


def _conj3(words: list[str]) -> list[str]:
    """Third-person singular of the first verb after any adverbs ("most likely have" -> "has")."""
    words = list(words)
    i = next((i for i, w in enumerate(words) if w.lower() not in _ADV), None)
    if i is None:
        return words
    w = words[i]
    irregular = {"have": "has", "do": "does", "be": "is", "go": "goes"}
    if w in irregular:
        words[i] = irregular[w]
    elif re.search(r"(?:s|sh|ch|x|z|o)$", w):
        words[i] = w + "es"
    elif re.search(r"[^aeiou]y$", w):
        words[i] = w[:-1] + "ies"
    else:
        words[i] = w + "s"
    return words


def _en_topic(q: str) -> str:
    q = re.sub(r"\s*\b(?:NOT|EXCEPT)\b", "", q)
    q = re.sub(r"\s*,?\s*\bexcept\b", "", q, flags=re.I)
    return _cap(strip_end(re.sub(r"^(?:which|what)(?:\s+one)?\s+of\s+the\s+following", "the following", q,
                                 flags=re.I)))


def _en_negative(q: str, answers: list[str], others: list[str]) -> Point | None:
    if m := _EN_FALSE.match(q):
        return Point("negative_statement", {"topic": m["t1"] or m["t2"] or "", "answers": tidy(answers),
                                            "others": tidy(others)})
    if re.search(r"\bexcept\b", q, re.I):
        lead = re.sub(r"[\s,;:]*\bexcept\b[\s,;:]*(?:which|one)?", " ", q, flags=re.I).strip(" ,;:")
        if re.match(r"(?:all|each|any|every)\s+of\s+the\s+following\b", lead, re.I):
            return Point("negative_except", {"lead": _cap(lead), "answers": _mid(answers),
                                             "others": _mid(others)})
    elif (m := _EN_NOT.match(q)) and others:
        # A singular question ("is", "does", a modal) reads "Each of <others> is/causes ..."; a plural
        # one ("are NOT ketone bodies") keeps its verb with the others as a plural subject.
        aux, vp = m["aux"].lower(), m["vp"].split()
        each = aux not in ("are", "were", "do")
        predicate = _conj3(vp) if aux == "does" else vp if aux == "do" else [aux, *vp]
        others = _mid(others)
        return Point("negative_which", {"others": [_cap(others[0]), *others[1:]], "answers": _mid(answers),
                                        "predicate": " ".join(predicate), "each": each})
    elif not re.search(r"\bNOT\b", q):
        return None
    return Point("negative", {"topic": _en_topic(q), "answers": _mid(answers), "others": _mid(others)})


def _en_object(aux: str, after: list[str], answers: list[str]) -> Point | None:
    """Inverted questions: "Which of the following does this patient most likely have?"."""
    n = 2 if after[0].lower() in _DETERMINERS and len(after) > 2 else 1
    while n < len(after) and after[n - 1].endswith(("'s", "’s")):
        n += 1
    subject, vp = after[:n], after[n:]
    if aux in _COPULAS and not re.fullmatch(r"for|of|to|with|from|in|on|at|by|as", vp[-1] if vp else ""):
        # "is his most likely diagnosis" -> "His most likely diagnosis is <answer>."
        return Point("what", {"subject": _cap(" ".join(after)), "verb": aux, "answers": _mid(answers)})
    if not vp or aux == "did":  # a past tense would need irregular verb forms
        return None
    if aux == "does":
        vp = _conj3(vp)
    elif aux != "do":
        vp = [aux, *vp]
    return Point("replace", {"head": _cap(" ".join([*subject, *vp])), "answers": _mid(answers)})


def _en_which(rest: str, answers: list[str]) -> Point | None:
    words = rest.split()
    k = next((i for i, w in enumerate(words[:4]) if w.lower() in _AUX | _ADV), None)
    if k is None and words and re.fullmatch(r"[a-z]+[^s]s", words[0]):  # "causes", "explains"
        k = 0
    if k is None:
        return None
    head, after = words[k].lower(), words[k + 1:]
    # "is the most common cause" is a predicate; "is this patient at risk for" and "does the patient
    # have" are inverted questions whose subject follows the verb.
    starts = _PRONOUNS | (_DETERMINERS - {"the", "a", "an"} if head in _COPULAS else _DETERMINERS)
    if head in _AUX and after and after[0].lower() in starts:
        return _en_object(head, after, answers)
    predicate = words[k:]
    if len(answers) > 1 and head in ("is", "was", "has"):
        predicate[0] = {"is": "are", "was": "were", "has": "have"}[head]
    answers = _mid(answers)
    return Point("which", {"answers": [_cap(answers[0]), *answers[1:]], "predicate": " ".join(predicate)})


_EN_SUPERLATIVE = re.compile(r"\b(?:most|best|first[- ]line|primarily|mainly|main|major|least|greatest|preferred|"
                             r"initial)\b", re.I)


def _en(q: str, answers: list[str], others: list[str]) -> Point:
    others = [o for o in others if not is_all_of_the_above(o)]
    if len(answers) == 1 and _ALL_EN.match(answers[0]) and others:
        point = _en(q, others, [])
        return Point(point.pattern, point.slots, form="all") if point.form != "fallback" else point
    if len(answers) == 1 and (_ALL_EN.match(answers[0]) or _NONE_EN.match(answers[0])):
        return Point("fallback", {"topic": _en_topic(q), "answers": _mid(answers)}, form="fallback")
    if point := _en_negative(q, answers, others):
        # With every option marked, there is no true option left to state.
        if not others:
            return Point("fallback", {"topic": _cap(q), "answers": _mid(answers)}, form="fallback")
        return Point(point.pattern, point.slots, form="negative")
    if m := _EN_TRUE.match(q):
        topic = m["t1"] or m["t2"] or ""
        statements = tidy(answers)
        statements[0] = _decap(statements[0]) if topic else _cap(statements[0])
        return Point("statement", {"topic": topic, "statements": statements}, form="correct")
    if BLANK.search(q):
        return Point("cloze", {"sentence": _cap(strip_end(fill_blanks(q, _mid(answers), "en")))}, form="cloze")
    form = "superlative" if _EN_SUPERLATIVE.search(q) else "positive"
    m = re.match(_FOLLOWING + r"\s+(?P<rest>.+)$", q, re.I)
    if m and (point := _en_which(m["rest"], answers)):
        return Point(point.pattern, point.slots, form=form)
    if m := _EN_WH_END.match(q):
        return Point("replace", {"head": _cap(m["head"]), "answers": _mid(answers)}, form=form)
    if m := _EN_WHAT.match(q):
        return Point("what", {"subject": _cap(m["np"]), "verb": m["verb"].lower(), "answers": _mid(answers)},
                     form=form)
    return Point("fallback", {"topic": _en_topic(q), "answers": _mid(answers)}, form="fallback")


def _split_en(question: str) -> tuple[str, str]:
    parts = _EN_BOUNDARY.split(question.strip())
    return " ".join(parts[:-1]), parts[-1].strip().rstrip("?:;,. ").strip()


def rewrite(question: str, answers: list[str], others: list[str], lang: str) -> Point:
    """Choose the form and pattern for a question and fill their slots; answers and others are option texts."""
    from curate.readers import knowledge_zh  # it builds on this module's pieces

    question = _INSTRUCTION.sub("", question)
    if lang == "zh":
        if point := knowledge_zh.numbered(question, answers):
            return point
        lead, core, end = knowledge_zh.split(question)
        return Point(**{**vars(knowledge_zh.rewrite(lead, core, end, answers, others)), "lead": lead})
    lead, core = _split_en(question)
    return Point(**{**vars(_en(core, answers, others)), "lead": lead})


_ZH_LETTER_NOTE = re.compile(r"[，,。；;\s]*(?:(?:故|所以|因此|因而)\s*(?:本题)?(?:正确)?(?:答案)?"
                             r"|本题(?:正确)?(?:答案)?|(?:正确)?答案)"
                             r"\s*(?:应?选|为|是)?\s*[:：]?\s*[A-H]{1,5}\s*项?\s*[。.]?\s*$")
_EN_LETTER_NOTE = re.compile(r"\s*(?:(?:hence|thus|therefore|so),?\s+)?(?:the\s+)?(?:correct\s+)?"
                             r"(?:answer|option|choice)\s*(?:is)?\s*[:：]?\s*\(?[A-H]\)?\s*\.?\s*$", re.I)


def clean_explanation(explanation: str, lang: str) -> str:
    """Drop a closing "故选B。" / "The answer is C." note: option letters mean nothing in a corpus."""
    pattern = _ZH_LETTER_NOTE if lang == "zh" else _EN_LETTER_NOTE
    return pattern.sub("", explanation).strip(" ，,；;")
