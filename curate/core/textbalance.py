"""Text accounting: characters in = characters out + characters removed, per source.

Readers that cut text out of a record (books above all) return statistics with flat numeric keys:

- ``text_in``: characters extracted from the input (for books: every text block of every page,
  after glyph mapping and compatibility folding, before anything is removed);
- ``text_out``: characters in the records the reader wrote;
- ``text_removed_<reason>``: characters removed for one reason (``table``, ``figure``, ``caption``,
  ``running_head``, ``page_number``, ``line_number``, ``footnote``, ``front_matter``, ``back_matter``,
  ``contents``, ``unmapped_glyph``, ``hyphen``, ``citation_marker``, ``empty_section``: the titles of
  a section with no text under them, ...).

A *character* is a code point that is not whitespace by Python's ``str.isspace`` (Unicode
White_Space plus the ASCII separators U+001C-U+001F): spaces and line breaks are layout, and
joining lines or columns changes them without losing text.

``check`` proves from a finished build's files that a source balances: ``text_in`` equals
``text_out`` plus all removals, and ``text_out`` equals the characters actually present in the
read step's output shards (recounted, not taken from the statistics).
"""

from __future__ import annotations

from pathlib import Path

IN, OUT, REMOVED = "text_in", "text_out", "text_removed_"
_WHITESPACE = r"[\s\x1c-\x1f]"  # Python's str.isspace, as a Rust regex


def characters(text: str) -> int:
    """Number of characters in ``text`` (code points that are not whitespace)."""
    return len("".join(text.split()))  # str.split() cuts at exactly the str.isspace code points


def removed(stats: dict) -> dict[str, int]:
    """Characters removed per reason, from a source's statistics."""
    return {k[len(REMOVED):]: int(v) for k, v in sorted(stats.items()) if k.startswith(REMOVED)}


def recount(paths: list[Path]) -> int:
    """Characters in the ``text`` column of record shards."""
    import polars as pl  # here: readers import this module in every worker, for ``characters``

    total = 0
    for path in paths:
        frame = pl.read_parquet(path, columns=["text"])
        total += int(frame.select((pl.col("text").str.len_chars()
                                   - pl.col("text").str.count_matches(_WHITESPACE)).sum()).item() or 0)
    return total


def check(name: str, stats: dict, read_shards: list[Path]) -> tuple[str | None, list[str]]:
    """(summary line or None when the source does not account text, problems) for one source."""
    if IN not in stats:
        return None, []
    problems = []
    text_in, text_out = int(stats[IN]), int(stats.get(OUT, 0))
    cut = removed(stats)
    if text_in != text_out + sum(cut.values()):
        problems.append(f"{name}: text {text_in:,} characters in != {text_out:,} out + "
                        f"{sum(cut.values()):,} removed")
    actual = recount(read_shards)
    if actual != text_out:
        problems.append(f"{name}: read records hold {actual:,} characters, the reader reported {text_out:,}")
    reasons = ", ".join(f"{k} {v:,}" for k, v in cut.items() if v)
    status = "MISMATCH" if problems else "ok"
    return (f"  {name:<14} text in {text_in:>11,}  out {actual:>11,}  removed {sum(cut.values()):>10,}"
            f" ({reasons or 'none'})  {status}"), problems


def audit(root: Path, flow: dict, manifest: dict) -> tuple[list[str], list[str]]:
    """Lines and problems of the text balance of every source of a build that accounts text."""
    lines, problems = [], []
    for name, source_flow in flow.items():
        stats = manifest.get("sources", {}).get(name, {}).get("stats", {})
        read = next((p["shards"] for p in source_flow.get("passes", []) if p["pass"] == "read"), [])
        line, found = check(name, stats, [root / p for p in read])
        if line is not None:
            lines.append(line)
            problems += found
    return lines, problems
