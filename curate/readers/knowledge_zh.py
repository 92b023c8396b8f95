"""Chinese exam stems: their form, and the pieces the ``templates/exams/zh`` templates join.

A stem's form is decided first, in this order; each form has its templates:

- ``all``: the answer is "以上都是" / "以上均正确" / "A、B、C均可": the other options are the facts, in
  the stem's own shape (``all_of``); "以上都不是" after "下列哪项是X" gives "A和B都不是X" (``none_of``), and
  after "以下不对的是" the other options as correct statements (``statement``);
- ``negative``: 错误的是 / 不正确 / 不合理 (``negative``: the other options are the correct statements,
  the answer's is not), 除外 (``negative_except``), 下列哪项不是/不属于… (``negative_which``), X不包括…
  (``negative_include``);
- ``correct``: 下列说法正确的是 / 合理的是: the answer is the statement (``statement``, about a topic or
  after a clause), or, when the stem names what is judged with a wh-word or a noun of its own, the
  stem completed (``cleft``);
- ``cloze``: blanks （ ） / ____ inside the stem, filled with the answer (``cloze``);
- ``positive`` and ``superlative`` (最常见/主要/首选…): a wh-word replaced by the answer, the category
  noun it asked about dropped (``which``), a "下列…的是" stem completed (``cleft``), an open stem the
  answer completes (``subject``, ``superlative``; 是 between a noun phrase and a noun answer, 为
  between a symbol and a value), a why-question answered with its reason (``reason``);
- ``fallback``: a question that none of these fit (a yes/no question), counted.

Where the answer overlaps the words around its slot ("（ ）神经损伤" + "尺神经", "由（ ）决定" + "Y染色体
决定"), the repeated words are written once. Options such as "以上都对" are never stated as facts, and
"下列"/"以下" never stay in a statement whose option list is gone.
"""

from __future__ import annotations

import re

from curate.readers.knowledge import BLANK, Point, tidy
from curate.text.templates import join_list, strip_end

LIST_LEAD = r"(?:下列|以下|下面|下述|如下)"
WH = (r"(?:哪一?(?:类型|种类|方面|项|种|个|类|些|条|组|位|型|者|一)|(?<!为)什么|何(?:种|者|类|型|时|处)|谁|多少"
      r"|(?<!下列)(?<!以下)(?<!下面)几(?![率乎何丁])(?:种|个|条|对|次|代|类|项|位|组)?)")
_NOUN = (r"(?:药物|药|检查|疾病|病因|因素|细胞|症状|表现|体征|方法|措施|治疗|部位|器官|激素|细菌|病原体|结构|原因|"
         r"情况|指标|类型|选项)?")
_NEG_VERBS = {"不是": "是", "不属于": "属于", "不包括": "包括", "不包含": "包含", "不符合": "符合", "不出现": "出现",
              "不会": "会", "不能": "能", "不宜": "宜", "不应": "应", "不引起": "引起", "不伴有": "伴有", "不含": "含",
              "没有": "有", "无": "有"}
_NEG = "|".join(sorted(_NEG_VERBS, key=len, reverse=True))
_VERDICTS = {"不正确": "不正确", "错误": "是错误的", "不恰当": "不恰当", "不妥当": "不妥当", "不妥": "不妥",
             "不准确": "不准确", "有误": "有误", "不对": "不对", "不合理": "不合理", "不确切": "不确切",
             "不科学": "不科学", "不符合": "不符合"}
_FALSE = re.compile(rf"(?P<v>{'|'.join(sorted(_VERDICTS, key=len, reverse=True))})(?:的(?:一项|一个|选项|是)?|的是)?$")
_TRUE = re.compile(r"(?:正确|恰当|准确|合理|科学|符合[^，,]{0,10})(?:的(?:一项|一个|选项|有|是)?|的是)?$")
_TOPIC_HEAD = re.compile(rf"^(?:(?:{LIST_LEAD}|关于|有关|对于|对|相关|针对|就|其中|是|选项|各项)[，,\s]*)+")
_ABOUT = re.compile(rf"^(?:{LIST_LEAD})?(?:关于|有关|对于)")
_TOPIC_TAIL = re.compile(rf"(?:[，,：:；;\s]|{LIST_LEAD}|各项|选项|说法|叙述|描述|表述|论述|观点|提法|做法|操作|结论|"
                         rf"理解|认识|几点|几种|有关|相关|关于|其中|其|中|的|是|{WH})+$")
_GENERIC_WORDS = {"分析", "判断", "推断", "推测", "叙述", "说法", "描述", "表述"}
# What a correct-statement stem judges: generic words ("下列叙述正确的是") make it a statement about a topic.
_GENERIC = re.compile(rf"(?:^|{LIST_LEAD}|[，,])(?:[^，,]*的)?(?:叙述|说法|描述|表述|论述|观点|提法|选项|各项|分析|"
                      rf"判断|推测|推断|结论|理解|认识)?中?[，,]?$")
_OPEN_END = re.compile(r"(?:是|为|有|包括|属于|在|于|选用|首选|采用|应用|可见|见于|表现为|主要是|指|称为|叫做?)$")
_SUPERLATIVE = re.compile(r"最|首选|首先|主要|首要")
_ALL = re.compile(r"^(?:以上|上述|前述)(?:各项|选项|答案|几项|说法|结论)?(?:都|均|全|皆)(?![不非没无])"
                  r"(?:是|对|正确|可以|可|有|属于|包括|符合)?|^(?:全部|都)(?:是|对|正确)$"
                  r"|^[A-H](?:\s*[、，,和及与]\s*[A-H])+\s*(?:都|均|皆)")
_NONE = re.compile(r"^(?:以上|上述)(?:各项|选项|答案|说法|结论)?(?:都|均|全|皆)(?:不|非|没有|无)")
# Noun phrases that need 是 before a noun answer ("X的首选药物" + 是 + "阿司匹林"); verbs and adverbs that
# start an answer join without it ("四格表的自由度" + "一定等于1").
_NOUN_END = re.compile(r"(?:方法|药物|药|原因|病因|因素|部位|表现|症状|体征|检查|指标|治疗|疾病|类型|细胞|器官|激素|"
                       r"结构|特点|特征|作用|机制|途径|标准|依据|措施|方式|并发症|病原体|物质|成分|功能|时间|时期|阶段|"
                       r"名称|单位|数值|概率|范围|比例|含义|意义|目的|结果|条件|原则|顺序|种类|来源|产物|场所|位置|"
                       r"基础|前提|关键|核心|内容|本质|实质|标志|自由度|数目|数量|频率|比值|均数|方差|指数|系数)$")
_VERB_START = re.compile(r"^(?:一定|可|可以|能|不|没有|是|为|有|等于|大于|小于|在|由|与|随|应|需|必须|需要|只|仅|都|均|"
                         r"常|多|主要|通常|一般|可能|会|将|已|被|使|对|向|从|用|以|属于|包括|表现为|指|呈|具有|引起|"
                         r"导致|增加|减少|降低|升高|相同|不同|无|较)")
# One-character overlaps worth merging: noun suffixes that never double in a term ("人人群" is a slip).
_SUFFIX_CHARS = set("人物病症素酶体型法性期率类种者剂药菌群区部位式")


def overlap_join(before: str, fill: str, after: str) -> str:
    """``before + fill + after``, writing once the words ``fill`` repeats from either side."""
    for k in range(min(6, len(fill), len(after)), 0, -1):
        if fill.endswith(after[:k]) and (k > 1 or after[0] in _SUFFIX_CHARS) and re.match(r"[\u4e00-\u9fff]", after):
            after = after[k:]
            break
    for k in range(min(6, len(fill), len(before)), 1, -1):
        if fill.startswith(before[-k:]) and re.match(r"[\u4e00-\u9fff]", fill):
            before = before[:-k]
            break
    return before + fill + after


def fill_blanks(sentence: str, answers: list[str]) -> str:
    """Fill each blank with an answer (one each when the counts match, else the answer list)."""
    blanks = BLANK.findall(sentence)
    parts = re.split(r"\s*[,，、;；]\s*", answers[0]) if len(answers) == 1 else []
    fills = (answers if len(answers) == len(blanks) else parts if len(blanks) > 1 and len(parts) == len(blanks)
             else [join_list(answers, "zh")] * len(blanks))
    pieces = BLANK.split(sentence)
    out = pieces[0]
    for fill, after in zip(fills, pieces[1:], strict=True):
        joined = overlap_join(out, fill, after)
        out = joined
    return out


def _topic(s: str) -> str:
    s = _TOPIC_HEAD.sub("", s.strip())
    s = _TOPIC_TAIL.sub("", s)
    if re.search(rf"[，,]\s*{LIST_LEAD}", s):  # "X后，下列变化": what follows the list is not the topic
        s = re.sub(rf"[，,]\s*{LIST_LEAD}?[^，,。]{{0,6}}(?:中|里)?$", "", s)
    s = _TOPIC_HEAD.sub("", _TOPIC_TAIL.sub("", s))
    return "" if s in _GENERIC_WORDS else s


_CLAUSE = re.compile(r"[，,；;。：:]|是|存在|进行|发现|表明|认为|研究|可以|能够|导致|引起|属于|具有|[且并而]$"
                     r"|^(?:据|由此|因此|根据|依据|结合|从|如果|若|当|在)")


def _is_phrase(topic: str) -> bool:
    """Whether a topic is a noun phrase ("关于X，…" reads well) rather than a clause."""
    return bool(topic) and len(topic) <= 16 and not _CLAUSE.search(topic)


def _about(before: str) -> tuple[str, str]:
    """``(topic, clause)`` of what a stem is about: a noun phrase for "关于X，", and a clause before it
    (or instead of it) for "X，"."""
    last = [m for m in re.finditer(r"关于|有关|对于", before)]
    if last and last[-1].start() > 0:  # "自性就是…，下列关于自性的说法": the topic is after the last 关于
        clause = re.sub(rf"^(?:关于|有关|对于)|[，,\s]*(?:{LIST_LEAD})?$", "", before[: last[-1].start()]).strip("，, ")
        topic = _topic(before[last[-1].start():])
        if topic:
            return topic, clause
    topic = _topic(before)
    if topic and (_ABOUT.match(before.strip()) or _is_phrase(topic)):
        return topic, ""
    return "", topic


def _short(items: list[str]) -> bool:
    return all(len(i) <= 16 and not re.search(r"[，,；;。：:]", i) for i in items)


def _facts(items: list[str]) -> list[str]:
    """Options that state something: "以上都对" and the like are not facts."""
    return [i for i in tidy(items) if not (_ALL.match(i) or _NONE.match(i))]


def _unlisted(head: str) -> str:
    """A head without its "下列" ("下列病毒病" -> "病毒病中，")."""
    m = re.match(rf"^(?P<pre>.*?)(?:在)?{LIST_LEAD}(?:各项|选项|各种|几种|各)?(?P<cat>[^，,]*?)(?P<end>中?[，,]?)$",
                 head)
    if not m:
        return head
    cat = m["cat"]
    if not cat or re.fullmatch(r"(?:陈述|说法|叙述|描述|选项|各项|几项|情况)", cat):
        return m["pre"]
    return f"{m['pre']}{'在' if head.lstrip().startswith('在') else ''}{cat}{'中' if not cat.endswith('中') else ''}，"


def _unlist_all(s: str) -> str:
    """``s`` without "下列/以下" at its start or after a comma: the option list is not in the text."""
    return re.sub(rf"(^|[，,的了对从用])\s*(?:在)?{LIST_LEAD}(?:几种|各种|各项|几项|关于|有关)?", r"\1", s)


def _negative(core: str, answers: list[str], others: list[str]) -> Point | None:
    if m := _FALSE.search(core):
        topic, clause = _about(core[: m.start()])
        return Point("negative", {"topic": topic, "clause": clause, "answers": answers, "others": others,
                                  "verdict": _VERDICTS[m["v"]]}, form="negative")
    if m := re.match(rf"^(?P<list>{LIST_LEAD}(?:各项|选项)?中?)?[，,]?(?P<rest>.+?)[，,；;：:\s]*除外$", core):
        if m["list"] and _short(others):
            return Point("negative_except", {"rest": m["rest"], "answers": answers, "others": others},
                         form="negative")
        topic, clause = _about(m["rest"])
        return Point("negative", {"topic": topic, "clause": clause, "verdict": "不符合", "answers": answers,
                                  "others": others}, form="negative")
    wh_list = rf"(?:(?:{LIST_LEAD}(?:各项|选项)?中?)?{WH}|{LIST_LEAD}(?:各项|选项)?中?[，,]?)"
    if m := re.search(rf"{wh_list}{_NOUN}(?P<neg>{_NEG})(?P<post>.*?)(?:的是|的)?$", core):
        lead = _unlisted(core[: m.start()]) if core[: m.start()] else ""
        return Point("negative_which", {"lead": lead, "post": m["post"], "neg": m["neg"],
                                        "pos": _NEG_VERBS[m["neg"]], "answers": answers, "others": others,
                                        "long": not _short([*others, *answers])}, form="negative")
    m = re.search(rf"(?P<neg>{_NEG})(?P<post>.*)$", core)
    asked = rf"(?:{LIST_LEAD})?(?:各项|选项)?中?{WH}{_NOUN}|的是|[，,：:]"
    if m and m.start() > 0 and not re.sub(asked, "", m["post"]):
        return Point("negative_include", {"subject": core[: m.start()], "neg": m["neg"],
                                          "pos": _NEG_VERBS[m["neg"]], "answers": answers, "others": others,
                                          "long": not _short([*others, *answers])}, form="negative")
    return None


def _link(stem: str, answer: str) -> str:
    """What joins a stem and the answer that completes it: 是 after a noun phrase, 为 between a symbol and
    a value ("标准差s" + "为" + "5"), else nothing."""
    if _OPEN_END.search(stem) or stem.endswith(("的", "之", "和", "与", "及")) or _VERB_START.match(answer):
        return ""
    if re.search(r"[A-Za-z0-9$)）]$", stem) and re.match(r"[A-Za-z0-9$(（\\]", answer):
        return "为"
    return ("为" if stem.endswith(("治疗", "措施", "方法")) else "是") if _NOUN_END.search(stem) else ""


def _which(core: str, answers: list[str], form: str, open_end: bool = False) -> Point | None:
    answer = join_list(answers, "zh")
    if m := re.match(rf"^(?:在)?{LIST_LEAD}(?:各项|选项|各种|几种)?中?[，,]?(?P<pred>.+?的)是$", core):
        return Point("cleft", {"sentence": overlap_join(m["pred"] + "是", answer, "")}, form=form)
    m = re.search(rf"{WH}(?P<noun>{_NOUN})", core)
    if not m or (open_end and re.search(r"[，,；;]", core[m.end():])):
        return None  # "…妻子到底需要什么，应该学一点（ ）": the blank, not the wh-word, is the question
    head, tail = _unlisted(core[: m.start()]), core[m.end():]
    wh = m.group(0)
    if wh.startswith("几") and len(wh) > 1 and wh[1] not in answer:
        answer += wh[1]  # "几条" answered "8" reads "8条"
    tail = _drop_category(tail, answer)
    if head.endswith("是") and not tail:
        return Point("which", {"sentence": overlap_join(head, answer, "")}, form=form)
    return Point("which", {"sentence": overlap_join(head, answer, tail)}, form=form)


_PREDICATE = re.compile(r"是|为|不|可|能|会|在|由|与|被|对|有|含|属于|具有|最|常|主要|没有|参与|引起|导致|需要|用于|"
                        r"适|发生|出现|提示|携带|易|较|更|比|[，,]")


def _drop_category(tail: str, answer: str) -> str:
    """The tail without the category noun the wh-word asked about ("哪种[传染病]不需要隔离" answered
    "钩虫病"): a noun the answer ends with, or a short noun right before the predicate."""
    for k in range(min(4, len(tail)), 1, -1):
        if tail[:k] in answer and re.match(r"[\u4e00-\u9fff]{2}", tail[:k]):
            return tail[k:]
    m = _PREDICATE.search(tail)
    noun = tail[: m.start()] if m else ""
    if m and 0 < len(noun) <= 6 and re.fullmatch(r"[\u4e00-\u9fffA-Za-z0-9]+", noun) and not noun.endswith("的"):
        place = re.search(r"[中上里内]$", noun)  # "哪些人群中被表现": the localiser stays
        return (place.group(0) if place and len(noun) > 1 else "") + tail[m.start():]
    return tail


def rewrite(lead: str, core: str, end: str, answers: list[str], others: list[str]) -> Point:
    """The form and slots of a Chinese stem (without its vignette ``lead``); ``end``: the punctuation
    the stem ended with before its blank (``，``, ``：`` or nothing)."""
    answers, facts = tidy(answers), _facts(others)
    if len(answers) == 1 and _ALL.match(answers[0]) and facts:  # "以上都是": the other options are the facts
        positive = _positive(core, end, facts, "all")
        return Point("all_of", positive.slots, form="all") if positive.pattern != "fallback" else positive
    if len(answers) == 1 and _NONE.match(answers[0]) and facts and (m := _FALSE.search(core)):
        topic, clause = _about(core[: m.start()])  # "以下不对的是" answered "以上均不对": every option holds
        return Point("statement", {"topic": topic, "clause": clause, "statements": facts}, form="all")
    if len(answers) == 1 and _NONE.match(answers[0]) and facts and (point := _none_of(core, facts)):
        return point
    if len(answers) == 1 and (_ALL.match(answers[0]) or _NONE.match(answers[0])):
        return Point("fallback", {"topic": core, "answers": answers}, form="fallback")
    if point := _negative(core, answers, facts):
        return point if facts else Point("fallback", {"topic": core, "answers": answers}, form="fallback")
    if m := _TRUE.search(core):
        return _correct(core[: m.start()], core, answers)
    if BLANK.search(core):
        return Point("cloze", {"sentence": strip_end(fill_blanks(core, answers))}, form="cloze")
    return _positive(core, end, answers, "superlative" if _SUPERLATIVE.search(core) else "positive")


def _none_of(core: str, facts: list[str]) -> Point | None:
    """"下列哪项是维生素" answered "以上都不是": "铁和锌都不是维生素", when a verb follows the wh-word."""
    m = re.search(rf"{WH}(?P<noun>{_NOUN})", core)
    if not m:
        return None
    tail = _drop_category(core[m.end():], "")
    if not re.match(r"(?:是|属于|能|可以|可|会|有|为|引起|导致|包括)", tail):
        return None
    sentence = f"{_unlisted(core[: m.start()])}{join_list(facts, 'zh')}都不{tail}"
    return Point("none_of", {"sentence": sentence}, form="all")


def _correct(before: str, core: str, answers: list[str]) -> Point:
    """A "which is correct" stem: a statement about its topic, or the stem completed when it judges a
    named thing ("以下何种检验假设是正确的", "实验材料选择合理的是")."""
    answer = join_list(answers, "zh")
    if w := re.search(WH, before):
        pre = re.sub(rf"[，,\s]*(?:{LIST_LEAD})?(?:各项|选项)?中?$", "", before[: w.start()])
        noun = before[w.end():].strip("，, ")
        noun = noun[:-1] if noun.endswith("是") else noun
        lead = f"{_unlisted(pre).rstrip('，, ')}，" if pre else ""
        return Point("cleft", {"sentence": overlap_join(f"{lead}正确的{noun}是", answer, "")}, form="correct")
    if not _GENERIC.search(before):
        stem = _unlist_all(core).rstrip("：:，, ")
        stem = stem if stem.endswith("是") else stem + ("的是" if not stem.endswith("的") else "是")
        return Point("cleft", {"sentence": overlap_join(stem, answer, "")}, form="correct")
    topic, clause = _about(before)
    return Point("statement", {"topic": topic, "clause": clause, "statements": answers}, form="correct")


def _positive(core: str, end: str, answers: list[str], form: str) -> Point:
    """A stem the answer completes: a wh-word or "下列…的是" replaced, or an open stem continued."""
    if point := _which(core, answers, form, open_end=end == "open"):
        return point
    answer = join_list(answers, "zh")
    core = _unlist_all(core)
    if m := re.search(r"(?:为什么|为何|何以)", core):  # a why-question's answer is the reason
        reason = answer if re.match(r"因为|由于|是因为|是由于", answer) else f"是因为{answer}"
        return Point("reason", {"sentence": f"{core[: m.start()]}{core[m.end():]}，{reason}"}, form=form)
    if re.search(r"[吗呢]$", core) or (not end and re.search(r"(?:如何|怎样|怎么)", core)):
        return Point("fallback", {"topic": core, "answers": answers}, form="fallback")
    # "试计算标准差s": a value follows, not an instruction
    core = re.sub(r"(^|[，,])\s*(?:试|请)(?:计算|求|问|判断|推测)(?:出)?", r"\1", core)
    if end == "，":
        sep = "，"
    elif end == "：" and not (_OPEN_END.search(core) or _VERB_START.match(answer) or _NOUN_END.search(core)):
        sep = "："
    else:
        sep = _link(core, answer)
    return Point("superlative" if form == "superlative" else "subject",
                 {"sentence": overlap_join(core + sep, answer, "")}, form=form)


_MARK = r"[（(]\s*(\d{1,2})\s*[)）]|([①-⑳])"
_CIRCLED = "①②③④⑤⑥⑦⑧⑨⑩⑪⑫⑬⑭⑮⑯⑰⑱⑲⑳"


def _number(m: re.Match) -> int:
    return int(m.group(1)) if m.group(1) else _CIRCLED.index(m.group(2)) + 1


def numbered(question: str, answers: list[str]) -> Point | None:
    """A stem listing numbered statements ("（1）…（2）…") answered by their numbers ("（1）（3）", "①③"):
    the statements the answer names, after the stem's question (``numbered``)."""
    if len(answers) != 1:
        return None
    if re.fullmatch(r"[一二三四五六七八九十两\d]+\s*[项个种条]", answers[0]) and len(re.findall(_MARK, question)) > 1:
        # "正确的有几项" answered "三项" names no statement: nothing to state but the count
        return Point("fallback", {"topic": question.strip(), "answers": answers}, form="fallback")
    if re.sub(rf"{_MARK}|[\s、，,；;和及与或都均是正确对]", "", answers[0]):
        return None
    refs = [_number(m) for m in re.finditer(_MARK, answers[0])]
    marks = list(re.finditer(_MARK, question))
    if not refs or len(marks) < 2 or [_number(m) for m in marks] != list(range(1, len(marks) + 1)):
        return None
    items: dict[int, str] = {}
    rest = ""
    for i, m in enumerate(marks):
        end = marks[i + 1].start() if i + 1 < len(marks) else len(question)
        body = question[m.end():end]
        if i + 1 == len(marks):  # the last statement ends where the question resumes
            cut = re.search(r"。|其中|以上|上述|据此", body)
            body, rest = (body[: cut.start()], body[cut.start():].lstrip("。")) if cut else (body, "")
        items[i + 1] = body.strip(" ；;，,。")
    if not all(r in items for r in refs):
        return None
    intro = _unlist_all((question[: marks[0].start()] + rest).strip()).rstrip("：:，,；; ")
    intro = re.sub(r"[(（]\s*[)）]", "", intro)
    return Point("numbered", {"sentence": f"{intro}：{'；'.join(items[r] for r in refs)}"}, form="all")


def split(question: str) -> tuple[str, str, str]:
    """Vignette, question core without its trailing blank or punctuation, and how it ended: the
    punctuation before its blank (``，``, ``：``), ``open`` for a blank alone, or nothing."""
    s, end = question.strip(), ""
    while True:  # "是（ ）：" and "是：（ ）" both end open
        t = re.sub(r"(?:[(（][ \t　]*[)）]|_{2,})\s*$", "", s).rstrip()
        t2 = t.rstrip("？?：:。.，, \t　")
        tail = t[len(t2):]
        if "，" in tail or "," in tail:
            end = "，"
        elif ("：" in tail or ":" in tail) and end in ("", "open"):
            end = "："
        elif t != s and not end:
            end = "open"
        if t2 == s:
            break
        s = t2
    m = re.match(r"^(.*[。！？!?；;])(.+)$", s, re.S)
    return (m.group(1), m.group(2), end) if m else ("", s, end)
