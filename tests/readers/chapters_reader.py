"""A two-phase reader for testing ``parts``/``finish``: chapters (``# title`` lines) that cross parts."""

from dataclasses import dataclass

from curate.text import parts as text_parts
from curate.text.textio import iter_lines

SUFFIXES = (".chapters",)


@dataclass(frozen=True)
class Config:
    pass


def parts(path, cfg, part_bytes):
    return text_parts.line_cuts(path, part_bytes)


def read(ref, cfg, ledger):
    """Pieces: one per line, with its number (the first phase sees only its part)."""
    for n, line in iter_lines(ref.path, part=ref.part):
        if line.startswith("!"):
            ledger.quarantine(ref.id(f"L{n}"), "bad_line", f"line {n}")
            continue
        yield n, line
    return {"lines": 1}


def finish(ref, cfg, ledger, pieces):
    """Records: one per chapter, assembled from the pieces of every part in order."""
    title, body, count = None, [], 0
    for n, line in pieces:
        if line.startswith("# "):
            if title is not None:
                count += 1
                yield {"id": ref.id(title), "source": ref.source, "text": "\n".join(body), "lang": "en", "meta": {}}
            title, body = line[2:], []
        else:
            body.append(f"{n}:{line}")
    if title is not None:
        count += 1
        yield {"id": ref.id(title), "source": ref.source, "text": "\n".join(body), "lang": "en", "meta": {}}
    return {"chapters": count}
