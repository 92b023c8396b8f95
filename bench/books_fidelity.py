"""Books: text fidelity against the source a PDF was typeset from, for curate, pymupdf4llm and raw text.

    python bench/books_fidelity.py [--data ../shared/realdata] [--only NAME] [--show 5]

Ground truth (the body a perfect extractor gives; tables, figures, captions, footnotes and back
matter excluded):

- a LaTeX book (``main.tex`` and the ``content/*.tex`` it inputs; ``appendix.tex`` is back matter):
  paragraphs of the chapters with ``table``/``longtable``/``tabular``/``figure`` environments,
  ``\\caption``, ``\\footnote`` and ``\\includegraphics`` removed, formatting commands unwrapped,
  ``\\ref`` printed as the book numbers it (``如图2-6所示``: figures and tables within their chapter,
  sections), a link (``\\hyperlink``, ``\\href``) as its text, inputs that ``main.tex`` comments out or
  places after ``\\appendix`` left out;
  headings (``\\chapter`` ... ``\\subsubsection``) are allowed in the output but not required;
- a JATS XML file (``*-content.xml``): the abstract and the body paragraphs; titles allowed;
- a full-text file (``*-fulltext.txt``, everything on the pages in reading order): from the abstract
  to the acknowledgements or references, lines that repeat (running heads) and bare page numbers
  dropped; the lines before the abstract are allowed (title, not required).

Sentences are cut at ``。！？；`` and at ``. ! ?`` before a space, then normalised: NFKC, case
folded, only letters and digits kept (whitespace, punctuation and symbols removed); citation
numbers (``[12]``, and numbers glued to the end of a word: ``Jadad11``, ``al.16``) are removed on
both sides, as extractors differ in whether they keep them. Sentences of fewer than 6 characters are not counted.
Vulgar fractions (``¼ ½ ¾``) count as symbols, as ``=`` does: some publishers' math fonts map the
glyph drawn as ``=`` to ``¼`` (``P ¼ 0.03``), and a reference text extracted from such a PDF carries
the ``¼`` that an extractor reading the glyph gives as ``=``.

- sentence recall: share of the source's body sentences found in the output (as a substring of
  the normalised output);
- digit recall: the same over the source sentences that contain a digit;
- precision: share of the output's sentences found in the source (body and allowed text; an
  output sentence also counts as found when it does with its digits removed, since LaTeX writes
  numbers of figures, tables and sections that its source does not spell out).

Extractors, in the same run: ``curate`` (the books reader with its default options),
``pymupdf4llm`` (``to_markdown``) and ``raw`` (``page.get_text()`` of every page).
"""

from __future__ import annotations

import argparse
import html
import re
import sys
import time
import unicodedata
from dataclasses import dataclass
from pathlib import Path

import pymupdf

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

MIN_CHARS = 6
_SENTENCE = re.compile(r"(?<=[。！？；])|(?<=[.!?])\s+|\n\s*\n")
_CITATION = re.compile(r"[\[［]\s*\d{1,4}(?:\s*[-–—,，、]\s*\d{1,4})*\s*[\]］]")
# a footnote or citation number glued to a word or a sentence end ("Jadad11 score", "et al.16 The")
_GLUED = re.compile(r"(?:(?<=[A-Za-z]{3})|(?<=[A-Za-z]{2}[.,;)]))\d{1,3}(?:[,–e-]\d{1,3})*(?=[\s.,;:)]|$)")


_FRACTION = re.compile("[\u00bc-\u00be\u2150-\u215f\u2189]")


def norm(s: str) -> str:
    """NFKC, case folded, citation numbers and vulgar fractions out, letters and digits only."""
    s = unicodedata.normalize("NFKC", _GLUED.sub("", _CITATION.sub("", _FRACTION.sub("", s)))).casefold()
    return "".join(ch for ch in s if unicodedata.category(ch)[0] in "LN")


def sentences(text: str) -> list[str]:
    """Sentences of a text (raw, not normalised)."""
    return [s.strip() for s in _SENTENCE.split(text) if s and s.strip()]


@dataclass
class Reference:
    """A source's body text (required) and the text allowed besides (headings, titles)."""

    body: list[str]
    allowed: list[str]
    source: str = ""  # body and allowed text in reading order, for precision


# LaTeX --------------------------------------------------------------------------------------

_DROP_ENVS = ("table", "longtable", "tabular", "figure", "tabularx", "sidewaystable", "equation*")
_GREEK = {"alpha": "α", "beta": "β", "gamma": "γ", "delta": "δ", "kappa": "κ", "mu": "μ", "pm": "±",
          "times": "×", "geq": "≥", "leq": "≤", "ge": "≥", "le": "≤", "sim": "~", "rightarrow": "→",
          "Leftrightarrow": "⇔", "cdots": "…", "ldots": "…", "lambda": "λ", "theta": "θ", "omega": "ω",
          "textgreater": ">", "textless": "<", "AA": "Å", "prime": "′", "epsilon": "ε", "sigma": "σ"}
_HEADING = re.compile(r"\\(?:part|chapter|section|subsection|subsubsection|paragraph)\*?\{")


def _braced(s: str, i: int) -> int:
    """Index after the group that opens at ``s[i] == '{'``."""
    depth = 0
    for j in range(i, len(s)):
        if s[j] == "{":
            depth += 1
        elif s[j] == "}":
            depth -= 1
            if depth == 0:
                return j + 1
    return len(s)


def _drop_command(s: str, name: str) -> str:
    out, i = [], 0
    pattern = re.compile(r"\\" + name + r"\*?(?:\[[^\]]*\])?\{")
    while m := pattern.search(s, i):
        out.append(s[i:m.start()])
        i = _braced(s, m.end() - 1)
    return "".join(out) + s[i:]


def _link_text(s: str) -> str:
    """``\\hyperlink{target}{text}`` and ``\\href{url}{text}`` as the page prints them: their text only."""
    out, i = [], 0
    pattern = re.compile(r"\\(?:hyperlink|href)\s*\{")
    while m := pattern.search(s, i):
        out.append(s[i:m.start()])
        i = _braced(s, m.end() - 1)  # past the target
        while i < len(s) and s[i].isspace():
            i += 1
        if i < len(s) and s[i] == "{":
            end = _braced(s, i)
            out.append(s[i + 1:end - 1])
            i = end
    return "".join(out) + s[i:]


def _unwrap(s: str) -> str:
    s = re.sub(r"\\(" + "|".join(_GREEK) + r")(?![A-Za-z])", lambda m: _GREEK[m.group(1)], s)
    s = re.sub(r"\\(?:begin|end)\{[^}]*\}", "", s)
    s = re.sub(r"\\[A-Za-z]+\*?(?:\[[^\]]*\])?", "", s)  # other commands: keep their arguments' text
    return s.replace("{", "").replace("}", "").replace("$", "").replace("~", " ").replace("\\", "")


_NUMBERED = re.compile(
    r"\\(?:(?P<unit>chapter|section|subsection|subsubsection)(?P<star>\*?)\s*[\[{]"
    r"|begin\{(?P<open>figure|table|longtable|sidewaystable|sidewaysfigure|equation)\}"
    r"|end\{(?P<close>figure|table|longtable|sidewaystable|sidewaysfigure|equation)\}"
    r"|caption(?P<cstar>\*?)(?=\s*[\[{])|label\{(?P<label>[^}]*)\}|(?P<appendix>appendix)(?![A-Za-z]))")
_UNITS = ("chapter", "section", "subsection", "subsubsection")


def _uncommented(s: str) -> str:
    return re.sub(r"(?<!\\)%.*", "", s)


def label_numbers(texts: list[str]) -> dict[str, str]:
    """What ``\\ref`` prints for each ``\\label`` of a book's files (in document order), as a book class
    numbers them: chapters count through the book (letters after ``\\appendix``), sections within their
    chapter, figures, tables and equations within their chapter; a label names the caption or equation it
    follows inside its float, else the last numbered heading. Separators differ between classes
    (``2-1``, ``2.1``); the scores compare letters and digits only, so they do not matter."""
    units, floats, numbers, labels = [0, 0, 0, 0], {"figure": 0, "table": 0, "equation": 0}, {}, {}
    appendix, inside, current = False, "", ""
    for text in texts:
        for m in _NUMBERED.finditer(text):
            if m["unit"] and not m["star"]:
                level = _UNITS.index(m["unit"])
                units[level] += 1
                units[level + 1:] = [0] * (3 - level)
                if level == 0:
                    floats = dict.fromkeys(floats, 0)
                chapter = chr(ord("A") + units[0] - 1) if appendix else str(units[0])
                current = ".".join([chapter, *map(str, units[1:level + 1])])
            elif m["open"]:
                inside = "equation" if m["open"] == "equation" else "table" if "table" in m["open"] else "figure"
                if inside == "equation":
                    floats["equation"] += 1
                    numbers["equation"] = f"{current.split('.')[0]}.{floats['equation']}"
            elif m["close"]:
                inside = ""
            elif m["cstar"] == "" and inside in ("figure", "table"):
                floats[inside] += 1
                numbers[inside] = f"{current.split('.')[0]}-{floats[inside]}"
            elif m["label"] is not None:
                labels[m["label"]] = numbers.get(inside, current) if inside else current
            elif m["appendix"]:
                appendix, units[0] = True, 0
    return labels


def latex_reference(main: Path) -> Reference:
    """Body sentences and headings of a LaTeX book: the files ``main.tex`` inputs before ``\\appendix``
    (and none named ``appendix``), with ``\\ref`` printed as the book prints it."""
    body: list[str] = []
    allowed: list[str] = []
    order: list[str] = []
    top = _uncommented(main.read_text(encoding="utf-8"))
    backs, texts, after_appendix, marked = [], [], False, False
    for m in re.finditer(r"\\(?:input|include)\{([^}]+)\}|\\appendix(?![A-Za-z])", top):
        if not m[1]:
            after_appendix = True
            continue
        path = main.parent / (m[1] if m[1].endswith(".tex") else m[1] + ".tex")
        if path.is_file():
            text = _uncommented(path.read_text(encoding="utf-8"))
            if after_appendix and not marked:  # chapters are lettered from here on
                text, marked = "\\appendix\n" + text, True
            backs.append(after_appendix or "appendix" in path.stem)
            texts.append(text)
    labels = label_numbers(texts)
    for back, s in zip(backs, texts, strict=True):
        if back:
            continue
        s = re.sub(r"\\(?:auto|eq|c|C)?ref\{([^}]*)\}", lambda m: labels.get(m[1], ""), s)
        for env in _DROP_ENVS:
            s = re.sub(r"\\begin\{" + re.escape(env) + r"\}.*?\\end\{" + re.escape(env) + r"\}", "\n\n", s, flags=re.S)
        for cmd in ("caption", "footnote", "includegraphics", "label", "captionsetup", "hypertarget", "pageref"):
            s = _drop_command(s, cmd)
        s = _link_text(s)
        while m := _HEADING.search(s):
            end = _braced(s, m.end() - 1)
            allowed.append(_unwrap(s[m.end():end - 1]))
            s = s[:m.start()] + "\n\n" + allowed[-1] + "\n\n" + s[end:]
        order.append(_unwrap(s))
        body += [x for x in sentences(_unwrap(s)) if x not in allowed]
    return Reference(body, allowed, "\n\n".join(order))


# JATS and full text -------------------------------------------------------------------------

def _xml_text(fragment: str) -> str:
    return html.unescape(re.sub(r"<[^>]+>", " ", fragment))


_JATS_FLOATS = re.compile(r"<(fig|fig-group|table-wrap|table-wrap-group|fn-group|fn|disp-formula)\b[^>]*?"
                          r"(?:/>|>.*?</\1>)", re.S)
_JATS_P = r"<p(?:\s[^>]*)?>(.*?)</p>"


def jats_reference(path: Path) -> Reference:
    """Abstract and body paragraphs of a JATS file (figures, tables, their captions and footnotes left out);
    titles allowed."""
    s = _JATS_FLOATS.sub(" ", path.read_text(encoding="utf-8"))
    parts = [m for tag in ("abstract", "body") for m in re.findall(rf"<{tag}(?:\s[^>]*)?>(.*?)</{tag}>", s, re.S)]
    body = [sent for part in parts for p in re.findall(_JATS_P, part, re.S) for sent in sentences(_xml_text(p))]
    allowed = [_xml_text(t) for t in re.findall(r"<(?:article-)?title(?:\s[^>]*)?>(.*?)</(?:article-)?title>", s, re.S)]
    back = s.find("<back")
    front = s[s.find("<article-title"):back if back >= 0 else len(s)]
    order = [_xml_text(text) for _, text in re.findall(r"<(article-title|title|p)(?:\s[^>]*)?>(.*?)</\1>", front, re.S)]
    return Reference(body, allowed, "\n\n".join(order))


_END = re.compile(r"^(?:acknowledge?ments?|references|bibliography|conflicts? of interest|funding)\s*$", re.I)
_START = re.compile(r"^(?:abstract|background|objectives?|summary|introduction)\b", re.I)


def fulltext_reference(path: Path) -> Reference:
    """A page-order full text: abstract to acknowledgements, running heads and page numbers dropped."""
    lines = path.read_text(encoding="utf-8").splitlines()
    start = next((i for i, line in enumerate(lines) if _START.match(line.strip())), 0)
    end = next((i for i, line in enumerate(lines) if i > start and _END.match(line.strip())), len(lines))
    counts: dict[str, int] = {}
    for line in lines:
        counts[line.strip()] = counts.get(line.strip(), 0) + 1
    kept = [line for line in lines[start:end] if not re.fullmatch(r"\d{1,4}", line.strip())
            and not (counts[line.strip()] >= 3 and len(line.strip()) < 60)]
    return Reference(sentences(" ".join(kept)), lines[:start], "\n".join(lines[:start] + kept))


def reference_for(pdf: Path) -> Reference | None:
    """The ground truth that lies beside a PDF, if any."""
    if (pdf.parent / "main.tex").is_file() and pdf.name == "main.pdf":
        return latex_reference(pdf.parent / "main.tex")
    for suffix, fn in (("-content.xml", jats_reference), ("-fulltext.txt", fulltext_reference)):
        side = pdf.with_name(pdf.stem + suffix)
        if side.is_file():
            return fn(side)
    return None


# extractors and scores ----------------------------------------------------------------------

def curate_text(pdf: Path) -> str:
    """The books reader's records, joined."""
    from curate.core.ledger import Ledger
    from curate.readers import FileRef, books

    return "\n\n".join(r["text"] for r in books.read_whole(FileRef(pdf, pdf.name, "books"), books.Config(),
                                                           Ledger("books", "read")))


def pymupdf4llm_text(pdf: Path) -> str:
    """``pymupdf4llm.to_markdown`` of the whole file."""
    import pymupdf4llm

    return pymupdf4llm.to_markdown(str(pdf), show_progress=False)


def raw_text(pdf: Path) -> str:
    """``page.get_text()`` of every page."""
    with pymupdf.open(pdf) as doc:
        return "\n".join(page.get_text() for page in doc)


EXTRACTORS = {"curate": curate_text, "pymupdf4llm": pymupdf4llm_text, "raw get_text": raw_text}


def score(ref: Reference, output: str, show: int = 0) -> dict[str, float]:
    """Sentence recall, digit recall and precision of ``output`` against ``ref``."""
    out_norm = norm(output)
    body = [(s, n) for s in ref.body if len(n := norm(s)) >= MIN_CHARS]
    digits = [(s, n) for s, n in body if any(ch.isdigit() for ch in n)]
    found = [n in out_norm for _, n in body]
    found_digits = [n in out_norm for _, n in digits]
    source = norm(ref.source) if ref.source else "".join(n for _, n in body) + "".join(norm(a) for a in ref.allowed)
    source_nodigit = re.sub(r"\d", "", source)
    out_sentences = [(s, n) for s in sentences(output) if len(n := norm(s)) >= MIN_CHARS]
    precise = [n in source or re.sub(r"\d", "", n) in source_nodigit for _, n in out_sentences]
    if show:
        missed = [s for (s, _), ok in zip(body, found, strict=True) if not ok][:show]
        extra = [s for (s, _), ok in zip(out_sentences, precise, strict=True) if not ok][:show]
        print("    missed:", *(f"      {m[:110]!r}" for m in missed), sep="\n")
        print("    not in source:", *(f"      {m[:110]!r}" for m in extra), sep="\n")
    return {"sentences": len(body), "recall": sum(found) / max(1, len(body)),
            "digit_sentences": len(digits), "digit_recall": sum(found_digits) / max(1, len(digits)),
            "output_sentences": len(out_sentences), "precision": sum(precise) / max(1, len(out_sentences))}


def books_in(data: Path) -> list[Path]:
    """PDFs under ``data`` that have a ground truth beside them."""
    return [p for p in sorted(data.rglob("*.pdf")) if reference_for(p) is not None]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "realdata")
    parser.add_argument("--only", default="", help="substring of the PDF paths to score")
    parser.add_argument("--extractors", default=",".join(EXTRACTORS))
    parser.add_argument("--show", type=int, default=0, help="print this many missed and extra sentences")
    args = parser.parse_args()
    rows = []
    for pdf in books_in(args.data):
        if args.only not in str(pdf):
            continue
        ref = reference_for(pdf)
        name = pdf.parent.name if pdf.name == "main.pdf" else pdf.stem
        for extractor in args.extractors.split(","):
            t = time.perf_counter()
            text = EXTRACTORS[extractor](pdf)
            seconds = time.perf_counter() - t
            print(f"{name} / {extractor} ({seconds:.1f} s)")
            rows.append((name, extractor, score(ref, text, args.show if extractor == "curate" else 0)))
    print("\n| book | extractor | sentences | sentence recall | digit recall | precision |")
    print("|---|---|---:|---:|---:|---:|")
    for name, extractor, s in rows:
        print(f"| {name} | {extractor} | {s['sentences']:,} ({s['digit_sentences']:,} with digits) | "
              f"{s['recall']:.3f} | {s['digit_recall']:.3f} | {s['precision']:.3f} |")


if __name__ == "__main__":
    main()
