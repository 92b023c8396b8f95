"""Front and back matter inside pages: blocks that are not running text wherever they stand.

A paper's first page and a book's title page carry blocks that no reader of the body wants:

- contact: e-mail addresses, phone and fax numbers, ``Correspondence``/``通讯作者`` lines;
- dates of the publication process: ``Received ... Accepted``, ``Academic Editor``, ``收稿日期``;
- copyright and licence notes: ``©``, ``Copyright``, ``Creative Commons``, ``open access``, ``版权``, and the
  grant of a licence at any length (``Permission is granted to copy ...``, ``... is licensed under ...``);
- affiliations: short blocks whose lines name departments, universities, hospitals, institutes,
  often after a footnote number (also when an abbreviation such as ``St.`` makes one read like a sentence:
  no lowercase word but ``of``, ``and``, ``in``...), author lists (names with affiliation numbers), and a
  journal's label of the article's kind (``Research Article``);
- repository and project boilerplate: URLs of code hosts, ``项目主页``, ``Full list of author
  information``, ``freely available online``;
- reference lists without a heading of their own (a page that goes on with the references of the
  page before): blocks of entries that begin ``[12]`` or ``12.`` and carry a year, a volume and pages, and
  runs of such entries one or two blocks each, Chinese ones too (``［12］``, ``12．``; a year and a volume,
  pages, a publisher or a GB/T 7714 type mark such as ``［M］``).

Footnotes: blocks in the lower quarter of a page, set smaller than the page's paragraphs, that
begin with a note mark (``1``, ``*``, ``†``, ``①``).

``mark`` sets such blocks' kind to ``front_matter``, ``references`` or ``footnote`` (counted under
``text_removed_front_matter``, ``text_removed_back_matter`` and ``text_removed_footnote``). A block that reads as prose
(``tables.prose``) is never front matter, so body text that mentions a department stays.
"""

from __future__ import annotations

import re

from curate.readers.pdf.layout import BODY, FOOTNOTE, FRONT, REFERENCES, Block
from curate.readers.pdf.tables import prose

_ADDRESS = re.compile(r"[\w.+-]+@[\w-]+\.[a-z]{2,}|\b(?:tel|phone|fax)\s*[.:：]?\s*[+(]?\d|电话\s*[:：]\s*\d", re.I)
_CONTACT = re.compile(r"\b(?:tel|phone|fax|e-?mail)\s*[.:：]|correspond(?:ence|ing author)"
                      r"|通讯作者\s*[:：]|联系电话\s*[:：]|电子邮箱\s*[:：]", re.I)
_PROCESS = re.compile(r"contributed equally to this|equal(?:ly)? contribut\w+ (?:as|to this)"
                      r"|\b(?:received|accepted|revised|published online)\s*:?\s*\d{1,2}\s+\w+\s+\d{4}"
                      r"|\b(?:received|accepted)\s*:?\s*\w+\s+\d{1,2},?\s+\d{4}|academic editor\s*:"
                      r"|收稿日期|修回日期|接受日期", re.I)
_LICENCE = re.compile(r"©|\bcopyright\b|creative commons|open access article|licensee\b|all rights reserved"
                      r"|版权所有", re.I)
_LICENCE_TERMS = re.compile(r"licen[cs]|rights reserved|open access|permits|distributed under", re.I)
# The grant of a licence itself (GNU FDL, MIT/BSD, Creative Commons wording): a note at any length.
_LICENCE_GRANT = re.compile(r"permission is (?:hereby )?granted,?(?: free of charge,?)? to (?:copy|use|make|reproduce|"
                            r"distribute|any person)|(?:is|are) (?:made available|licensed|distributed|released) "
                            r"under (?:the terms of )?(?:the |an? )?[\w .,()-]{0,60}licen[cs]e", re.I)
_PUBLISHER = re.compile(r"\bdoi:\s*10\.\d+/|\barticle id \d+|publishing corporation|\bvolume \d+, (?:issue|article)",
                        re.I)
_BOILERPLATE = re.compile(r"github\.com|gitlab\.com|项目主页|新书下载|full list of author information"
                          r"|freely available online|this article is available from|unlocked scheme", re.I)
_INSTITUTION = re.compile(r"(?<![A-Za-z])(?:department|university|hospital|institute|college|school of|faculty|centre|"
                          r"center|laboratory|clinic)\b|大学|医院|研究所|学院", re.I)
# A journal's label of the article's kind, alone on its first page.
_ARTICLE_TYPE = re.compile(r"(?:(?:original|research|review|brief|clinical|case|short|systematic review|mini[- ]review)"
                           r"\s+(?:article|report|research|communication|paper|study)|editorial|commentary|"
                           r"letter to the editor)s?", re.I)
_FUNCTION_WORDS = frozenset("a an and at de del della der des di die do du e et for in la le of on the to und y"
                            .split())
_WORD = re.compile(r"[^\W\d_][\w’'.-]*")
_AUTHOR = re.compile(r"^[A-Z][\w'’-]+(?: [A-Z][\w.'’-]*){0,3}[\d,*†‡]*$")
_REFERENCE = re.compile(r"^\s*(?:\[\d{1,3}\]|\d{1,3}\.)\s+\S")
# An entry of a list set one per block: also the full-width forms (``［12］``, ``12．``) that a Chinese numbered
# list uses too, which is why ``_reference_page`` asks each entry for a year and a source.
_ENTRY = re.compile(r"^\s*(?:(?:\[\d{1,3}\]|\d{1,3}\.)\s+|(?:［\d{1,3}］|\d{1,3}．)\s*)\S")
_CITED = re.compile(r"\b(?:19|20)\d\d\b.*?\d+\s*[:(]|\d+\s*[-–]\s*\d+|doi|et al", re.I)
# What an entry names besides its year: a volume and issue, volume and pages, ``vol.``/``pp.``, a DOI, "et al", a
# publisher (出版社) or a document type (GB/T 7714: [M] a book, [J] a journal article); not a bare range of
# numbers, which a finding has too ("95% CI 40-50").
_YEAR = re.compile(r"\b(?:19|20)\d\d\b")
_SOURCE = re.compile(r"\d+\s*[(（]\s*\d+\s*[)）]|\d+\s*[:：]\s*\d+\s*[-–‒]\s*\d+|\b(?:vol|pp)\.\s*\d|doi|et al|出版社|"
                     r"[［\[][A-Z]{1,2}(?:/OL)?[］\]]", re.I)


# Substrings one of which every pattern above needs: a cheap test before the regular expressions.
_TRIGGERS = ("@", "tel", "fax", "phone", "mail", "correspond", "receiv", "accept", "revis", "publish", "editor",
             "©", "copyright", "licen", "rights", "git", "author", "available", "doi", "article id", "volume",
             "corporation", "equal", "收稿", "修回", "接受日期", "通讯", "电话", "邮箱", "版权", "项目主页", "下载")
_TRIGGER = re.compile("|".join(map(re.escape, _TRIGGERS)))  # any of them in a text: one scan, not one per word


def _affiliation(text: str) -> bool:
    """An affiliation: two institution words or more, and no lowercase word but a function word (``Division
    of Population Health Sciences, Department of Psychology, Royal College of Surgeons in Ireland, 123
    St. Stephen's Green, Dublin 2, Ireland``), however much its abbreviations look like sentence ends."""
    if len(text) > 400 or len(_INSTITUTION.findall(text)) < 2:
        return False
    return all(w[0].isupper() or w.lower() in _FUNCTION_WORDS for w in _WORD.findall(text))


def _authors(b: Block) -> bool:
    parts = [re.sub(r"^\d+\s*", "", p.strip()) for p in " ".join(b.lines).replace(" and ", ", ").split(",")]
    parts = [p for p in parts if p]
    return len(parts) >= 3 and sum(1 for p in parts if _AUTHOR.match(p) or p.isdigit()) >= 0.8 * len(parts)


_OPENS = frozenset("0123456789[［")  # what an entry's first line opens with


def _year_and_source(text: str) -> bool:
    """Whether a reference entry's text names a year and a source."""
    return _YEAR.search(text) is not None and _SOURCE.search(text) is not None


def _reference_page(body: list[Block]) -> int:
    """Mark runs of reference entries set one per block or a few (a list that goes on from the page before
    without its heading): an entry is a block that opens like one with the blocks right under it up to the
    next (an entry's lines may be blocks of their own), and most entries of a run name a year and a source.
    A run of three entries or more is references when it holds half of the page's body blocks or more, or
    when it opens the page's text (nothing but a line or two before it that is not prose: a running head)."""
    rest = [b for b in body if b.kind == BODY]
    opening = [b.lines[0].lstrip()[:1] in _OPENS for b in rest]
    if sum(opening) < 3:
        return 0  # the common page: fewer than three blocks that open with a number or a bracket
    runs: list[tuple[int, list[list[Block]]]] = []  # (body blocks before the run, its entries)
    current: list[list[Block]] | None = None
    for i, b in enumerate(rest):
        if current is None and not opening[i]:
            continue
        if opening[i] and _ENTRY.match(" ".join(b.lines[:2])):  # the number may be a line of its own ("29.")
            if current is None:
                current = []
                runs.append((i, current))
            current.append([b])
        elif current is not None and 0 <= b.y0 - current[-1][-1].y1 <= 1.5 * current[-1][-1].pitch \
                and not b.text.strip().isdigit():  # right under it; a page number or footer is the page's
            current[-1].append(b)
        else:
            current = None
    marked = 0
    for before, entries in runs:
        if len(entries) < 3:
            continue
        held = sum(map(len, entries))
        if 2 * held < len(rest) and (before > 2 or any(prose(b) for b in rest[:before])):
            continue  # neither half of the page nor its opening
        cited = sum(1 for g in entries if _year_and_source(" ".join(line for b in g for line in b.lines)))
        if cited < 3 or 3 * cited < 2 * len(entries):
            continue
        for b in (b for g in entries for b in g):
            b.kind = REFERENCES
        marked += held
    return marked


def _references(b: Block) -> bool:
    if not _REFERENCE.match(b.lines[0]):
        return False
    entries = [line for line in b.lines if _REFERENCE.match(line)]
    return len(entries) >= 2 and len(entries) * 3 >= len(b.lines) and \
        sum(1 for line in entries if _CITED.search(line)) * 2 >= len(entries)


_NOTE_MARK = re.compile(r"^\s*(?:\d{1,2}(?![.)\d．、）:：])|[*†‡§¶]+|[①-⑳]|[¹²³⁴⁵⁶⁷⁸⁹])\s?\S")  # not "2." (a list)


def _footnotes(blocks: list[Block], height: float) -> int:
    """Mark footnotes: small type at the foot of the page, after a note mark."""
    pitches = sorted(b.pitch for b in blocks if b.kind == BODY and len(b.lines) >= 2)
    singles = sorted(b.height for b in blocks if b.kind == BODY and len(b.lines) == 1)
    if len(pitches) < 2 or not singles or not height:
        return 0
    body, single = pitches[len(pitches) // 2], singles[len(singles) // 2]  # like is compared with like
    marked = 0
    for b in blocks:
        small = b.pitch < 0.85 * body if len(b.lines) >= 2 else b.height < 0.85 * single
        # above the bottom band, where running footers and page numbers stand
        if b.kind == BODY and 0.75 * height <= b.y0 < 0.9 * height and small and _NOTE_MARK.match(b.lines[0]):
            b.kind = FOOTNOTE
            marked += 1
    return marked


def mark(blocks: list[Block], page: int, height: float = 0.0) -> int:
    """Mark front matter, headless reference lists and footnotes on one page (0-based); return blocks
    marked."""
    marked = _footnotes(blocks, height)
    body = [b for b in blocks if b.kind == BODY]
    # past the first pages, only a block with a trigger word or a reference entry can be marked: the
    # words are looked for in the page's text first (most pages have none), then block by block
    triggered = page < 2 or _TRIGGER.search(" ".join(line for b in body for line in b.lines).lower()) is not None
    for b in body:
        if page >= 2 and not _REFERENCE.match(b.lines[0]) and \
                (not triggered or _TRIGGER.search(" ".join(b.lines).lower()) is None):
            continue  # the common block: no word that front matter is made of
        text = " ".join(b.lines)
        if _references(b):
            b.kind = REFERENCES
        elif len(text) < 400 and (_ADDRESS.search(text) or _PROCESS.search(text) or _BOILERPLATE.search(text)
                                  or _PUBLISHER.search(text)
                                  or (_LICENCE.search(text) and _LICENCE_TERMS.search(text))):
            b.kind = FRONT  # an address, a date of the publication process, a licence or a repository note
        elif len(text) < 1500 and _LICENCE_GRANT.search(text):
            b.kind = FRONT  # a licence's grant, long as it may be ("Permission is granted to copy ...")
        elif page < 2 and _affiliation(text):
            b.kind = FRONT  # an affiliation that reads like a sentence ("123 St. Stephen's Green")
        elif prose(b):
            continue
        elif _CONTACT.search(text) or _LICENCE.search(text) or (page < 2 and len(b.lines) <= 30 and (
                _authors(b) or len(_INSTITUTION.findall(text)) >= 2)):
            b.kind = FRONT  # contact words, a licence note, authors or affiliations on the first pages
        else:
            continue
        marked += 1
    marked += _reference_page(body)
    if marked and page < 2:
        marked += _grow_front(blocks)
    if page < 2 and height:  # after the growth: the label over a title must not take the title with it
        for b in blocks:  # at the page's top: lower down, "Case report" is the heading of a case's account
            if b.kind == BODY and len(b.lines) == 1 and b.y1 < 0.25 * height and \
                    _ARTICLE_TYPE.fullmatch(b.lines[0].strip()):
                b.kind = FRONT  # the journal's "Research Article" label
                marked += 1
    return marked


def _grow_front(blocks: list[Block]) -> int:
    """Short blocks right under front matter go with it (an affiliation's or a phone number's last line)."""
    grown = 0
    changed = True
    while changed:
        changed = False
        fronts = [b for b in blocks if b.kind == FRONT]
        for b in blocks:
            if b.kind != BODY or len(b.lines) > 3 or len(b.text) > 120 or prose(b):
                continue
            if any(0 <= b.y0 - f.y1 <= 1.5 * f.pitch and min(b.x1, f.x1) > max(b.x0, f.x0)
                   and b.pitch <= 1.15 * f.pitch for f in fronts):  # not a larger heading that follows
                b.kind = FRONT
                grown += 1
                changed = True
    return grown
