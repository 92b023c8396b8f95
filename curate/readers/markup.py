"""HTML and Markdown to running text, keeping what a reader of the article would read.

HTML: ``<script>``, ``<style>``, navigation, headers, footers, forms and tables are dropped; block
elements become line breaks; entities are decoded. Markdown: front matter, images, tables, link
targets, HTML tags and emphasis markers are removed; headings and list items keep their text.
Both return ``(title, text)``.
"""

from __future__ import annotations

import re
from html.parser import HTMLParser

_SKIP = {"script", "style", "noscript", "nav", "header", "footer", "aside", "form", "svg", "table",
         "template", "iframe", "button", "select"}
_BLOCK = {"p", "div", "section", "article", "main", "h1", "h2", "h3", "h4", "h5", "h6", "li", "ul",
          "ol", "br", "blockquote", "pre", "dd", "dt", "figcaption", "tr", "hr"}
_VOID = {"br", "hr", "img", "meta", "link", "input", "area", "base", "col", "embed", "source", "wbr"}


class _TextExtractor(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.skip_depth = 0
        self.title = ""
        self.h1 = ""
        self._in: str | None = None

    def handle_starttag(self, tag: str, attrs: list) -> None:
        if tag in _SKIP and tag not in _VOID:
            self.skip_depth += 1
        elif tag in ("title", "h1"):
            self._in = tag
        if tag in _BLOCK:
            self.parts.append("\n")
        if tag == "li" and not self.skip_depth:
            self.parts.append("- ")

    def handle_endtag(self, tag: str) -> None:
        if tag in _SKIP and tag not in _VOID and self.skip_depth:
            self.skip_depth -= 1
        if tag == self._in:
            self._in = None
        if tag in _BLOCK:
            self.parts.append("\n")

    def handle_data(self, data: str) -> None:
        if self._in == "title":
            self.title += data
            return
        if self.skip_depth:
            return
        if self._in == "h1":
            self.h1 += data
        self.parts.append(data)


def html_to_text(html: str) -> tuple[str, str]:
    """Visible article text of an HTML page and its title."""
    parser = _TextExtractor()
    parser.feed(html)
    parser.close()
    lines = (" ".join(line.split()) for line in "".join(parser.parts).split("\n"))
    body = "\n".join(line for line in lines if line and line != "-")
    title = " ".join((parser.h1 or parser.title).split())
    return title, body


_FRONT_MATTER = re.compile(r"\A---\s*\n.*?\n---\s*\n", re.S)
_FENCE = re.compile(r"^(```|~~~)")
_IMAGE = re.compile(r"!\[[^\]]*\]\([^)]*\)")
_LINK = re.compile(r"\[([^\]]+)\]\([^)]*\)")
_REF_DEF = re.compile(r"^\s*\[[^\]]+\]:\s*\S+.*$")
_TAG = re.compile(r"</?[A-Za-z][^>]*>")
_EMPHASIS = re.compile(r"(\*\*|__|\*|~~)(?=\S)(.+?)(?<=\S)\1")
_CODE = re.compile(r"`([^`]+)`")
_HEADING = re.compile(r"^\s{0,3}#{1,6}\s+(.*?)\s*#*\s*$")
_TABLE_RULE = re.compile(r"^\s*\|?\s*:?-{3,}:?\s*(\|\s*:?-{3,}:?\s*)*\|?\s*$")
_LIST = re.compile(r"^(\s*)([*+-]|\d+[.)])\s+")


def markdown_to_text(markdown: str) -> tuple[str, str]:
    """Readable text of a Markdown document and its first heading (or front-matter title)."""
    title = ""
    front = _FRONT_MATTER.match(markdown)
    if front:
        match = re.search(r"^title:\s*(.+)$", front.group(0), re.M)
        title = match.group(1).strip().strip("'\"") if match else ""
        markdown = markdown[front.end():]
    lines = markdown.splitlines()
    out: list[str] = []
    for i, line in enumerate(lines):
        if _FENCE.match(line.strip()):
            continue
        is_table_row = line.strip().startswith("|") or (
            i + 1 < len(lines) and _TABLE_RULE.match(lines[i + 1]) and "|" in line)
        if _TABLE_RULE.match(line) or is_table_row or _REF_DEF.match(line):
            continue
        line = _IMAGE.sub("", line)
        line = _LINK.sub(r"\1", line)
        line = _TAG.sub("", line)
        line = _CODE.sub(r"\1", line)
        for _ in range(2):  # nested emphasis such as ***bold italic***
            line = _EMPHASIS.sub(r"\2", line)
        line = re.sub(r"^\s*>\s?", "", line)
        heading = _HEADING.match(line)
        if heading:
            line = heading.group(1)
            title = title or line
        line = _LIST.sub(r"\1- ", line)
        out.append(line.rstrip())
    return title, re.sub(r"\n{3,}", "\n\n", "\n".join(out)).strip()
