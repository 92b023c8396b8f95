"""HTML and Markdown articles to running text, keeping what a reader of the article would read.

HTML goes through trafilatura, the main-content extractor of web-corpus pipelines: it keeps the
article (headings, paragraphs, list items as ``- item``) and leaves out navigation, menus, bylines,
footers, scripts, styles, tables and comment sections. Markdown is parsed by markdown-it-py
(CommonMark plus GFM tables and strikethrough) and walked token by token: headings, paragraphs, quotes,
list items and code keep their text; images, tables, link targets, raw HTML tags and emphasis markers go.
Both return ``(title, text)``: the HTML title (site suffix removed by trafilatura) or first heading, the
Markdown front-matter ``title`` or first heading.

libxml2 stops building the tree at 256 levels of nesting and drops everything after that point, so a
page nested deeper than ``MAX_DEPTH`` (generated or hostile markup) is first flattened: tags below that
depth are removed and their text is kept, and the rest of the page is parsed as usual.
"""

from __future__ import annotations

import re
from configparser import ConfigParser
from functools import cache

import trafilatura
from markdown_it import MarkdownIt
from markdown_it.token import Token
from trafilatura.settings import use_config
from trafilatura.utils import load_html


@cache
def _config() -> ConfigParser:
    config = use_config()
    # Short patient-information pages are common; under trafilatura's default of 250 characters it
    # falls back to the whole page's text, menus included.
    config.set("DEFAULT", "MIN_EXTRACTED_SIZE", "1")
    config.set("DEFAULT", "EXTRACTION_TIMEOUT", "0")  # no SIGALRM inside worker processes
    return config


MAX_DEPTH = 200  # below libxml2's 256, leaving room for the levels trafilatura's cleaning adds
_HTML_TAG = re.compile(r"<(/?)([A-Za-z][\w:-]*)(?:\s[^>]*)?>")
_VOID = frozenset("area base br col embed hr img input link meta param source track wbr".split())


def _flattened(html: str, limit: int = MAX_DEPTH) -> str:
    """``html`` with the tags nested deeper than ``limit`` removed (their text kept); unchanged when none are."""
    depth, deepest, tags = 0, 0, []
    for m in _HTML_TAG.finditer(html):
        name = m.group(2).lower()
        if name in _VOID or m.group(0).endswith("/>"):
            tags.append((m, True))
            continue
        if m.group(1):
            keep = depth <= limit
            depth = max(0, depth - 1)
        else:
            depth += 1
            keep = depth <= limit
        deepest = max(deepest, depth)
        tags.append((m, keep))
    if deepest <= limit:
        return html
    out, at = [], 0
    for m, keep in tags:
        out.append(html[at:m.start()] + (m.group(0) if keep else " "))
        at = m.end()
    out.append(html[at:])
    return "".join(out)


def html_to_text(html: str) -> tuple[str, str]:
    """Main article text of an HTML page and its title."""
    tree = load_html(_flattened(html))
    if tree is None:
        return "", ""
    page_title = " ".join((tree.findtext(".//title") or "").split())
    doc = trafilatura.bare_extraction(tree, with_metadata=True, include_tables=False, include_comments=False,
                                      include_images=False, include_links=False, include_formatting=False,
                                      deduplicate=False, config=_config(),
                                      # the date is not used; its extensive search compiles dateparser's
                                      # patterns for every locale, seconds per worker on a page without one
                                      date_extraction_params={"extensive_search": False})
    if doc is None:
        return page_title, ""
    lines = (" ".join(line.split()) for line in (doc.text or "").split("\n"))
    body = "\n".join(line for line in lines if line)
    title = " ".join((doc.title or "").split())
    # trafilatura may take its title from a heading outside the article (a menu, a help pop-up); one that
    # is neither in the text nor in <title> is not the article's
    if not title or (title not in body and title not in page_title):
        title = page_title
    return title, body


_FRONT_MATTER = re.compile(r"\A---[ \t]*\n(.*?)\n(?:---|\.\.\.)[ \t]*(?:\n|\Z)", re.S)
_FRONT_TITLE = re.compile(r"^title:\s*(.+?)\s*$", re.M)
_TAG = re.compile(r"<!--.*?-->|</?[A-Za-z][^>]*>", re.S)
_SKIPPED_INLINE = {"image", "html_inline"}


@cache
def _parser() -> MarkdownIt:
    return MarkdownIt("commonmark").enable(["table", "strikethrough"])


def _inline_text(token: Token) -> str:
    """Text of an inline token: words, code and link labels; images and raw tags left out."""
    parts = []
    for child in token.children or ():
        if child.type in ("text", "code_inline"):
            parts.append(child.content)
        elif child.type in ("softbreak", "hardbreak"):
            parts.append(" " if child.type == "softbreak" else "\n")
    return "".join(parts).strip()


def _blocks(tokens: list[Token]) -> tuple[list[str], str]:
    """Paragraph-level blocks (list items of one list joined by line breaks) and the first heading."""
    blocks: list[str] = []
    lists: list[list] = []  # per open list: [ordered?, next number, item lines]
    title, skip_depth, prefix, heading = "", 0, "", False
    for tok in tokens:
        if tok.type in ("heading_open", "heading_close"):
            heading = tok.type == "heading_open"
        elif tok.type in ("table_open", "table_close"):
            skip_depth += 1 if tok.type == "table_open" else -1
        elif skip_depth:
            continue
        elif tok.type in ("bullet_list_open", "ordered_list_open"):
            lists.append([tok.type == "ordered_list_open", int(tok.attrs.get("start", 1) or 1), []])
        elif tok.type in ("bullet_list_close", "ordered_list_close"):
            lines = lists.pop()[2]
            (lists[-1][2].extend if lists else lambda x: blocks.append("\n".join(x)))(lines)
        elif tok.type == "list_item_open":
            ordered, number, _ = lists[-1]
            prefix = f"{number}. " if ordered else "- "
            lists[-1][1] += 1
        elif tok.type in ("inline", "fence", "code_block", "html_block"):
            text = (_inline_text(tok) if tok.type == "inline" else
                    _TAG.sub("", tok.content).strip() if tok.type == "html_block" else tok.content.rstrip("\n"))
            if not text:
                continue
            if heading:
                title = title or text
            if lists:
                indent = "  " * (len(lists) - 1)
                lists[-1][2].append(f"{indent}{prefix or '  '}{text}")
                prefix = ""  # a second paragraph of the same item is indented, not marked again
            else:
                blocks.append(text)
    return blocks, title


def markdown_to_text(markdown: str) -> tuple[str, str]:
    """Readable text of a Markdown document and its front-matter title (else its first heading)."""
    title = ""
    front = _FRONT_MATTER.match(markdown)
    if front:
        match = _FRONT_TITLE.search(front.group(1))
        title = match.group(1).strip("'\"") if match else ""
        markdown = markdown[front.end():]
    blocks, heading = _blocks(_parser().parse(markdown))
    return title or heading, "\n\n".join(blocks)
