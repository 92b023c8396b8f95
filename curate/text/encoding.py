"""Which encoding raw bytes are in: binary data, UTF-8, GB18030 (Chinese) or a Western code page.

A file is binary when a noticeable share of its bytes are NULs or other control characters; a few
stray NULs in a text file do not make it binary (the lines holding them are reported by the reader).
Text is UTF-8 unless more of its lines fit one legacy encoding than fit UTF-8; lines that fit
nothing are reported one by one, unless they are half the file or more (then nothing is text). The
legacy encoding is scored: GB18030 only when the text it decodes to looks Chinese (at least half of its non-ASCII
characters are GB2312 characters), else Windows-1252 / Latin-1 when the
text is mostly ASCII (Western European text), else nothing fits. The same rule decodes a single line
that is not in its file's encoding (``decode_line``), so one pasted GBK or Latin-1 line is read, not lost.
"""

from __future__ import annotations

import codecs

# Control bytes that do not occur in text (tab, LF, VT, FF, CR and ESC excepted).
_CONTROL = bytes(b for b in range(32) if b not in b"\t\n\x0b\x0c\r\x1b") + b"\x7f"
_CONTROL_TABLE = bytes.maketrans(_CONTROL, b"\x00" * len(_CONTROL))
WESTERN = ("cp1252", "latin-1")
_HIGH = bytes(range(128, 256))
_VOTES = 256  # lines with non-ASCII bytes that vote on a file's encoding
_SIGNS = set("°µ±×÷·–—‘’‚“”„€£¥§©®™²³¹½¼¾¿¡«»…•†‰")


class EncodingUnknown(ValueError):
    """Bytes that are binary or in no encoding this module knows; ``reason`` is the ledger reason."""

    def __init__(self, message: str, reason: str):
        super().__init__(message)
        self.reason = reason


def control_bytes(data: bytes) -> int:
    """NULs and other control bytes in ``data`` that plain text does not hold."""
    return data.translate(_CONTROL_TABLE).count(0)


def is_binary(head: bytes) -> bool:
    """Whether ``head`` is binary data: more than 2% control bytes, and more than a stray few (or a
    head under 1 KB)."""
    n = control_bytes(head)
    return n * 50 > len(head) and (n > 4 or len(head) < 1024)


def _strict(data: bytes, encoding: str, final: bool = True) -> str | None:
    try:
        return codecs.getincrementaldecoder(encoding)("strict").decode(data, final=final)
    except UnicodeDecodeError:
        return None


def high_bytes(data: bytes) -> int:
    """Bytes of ``data`` outside ASCII."""
    return len(data) - len(data.translate(None, _HIGH))


def chinese_like(text: str) -> bool:
    """Whether the non-ASCII characters of ``text`` look like Chinese: at least half of them in GB2312
    (simplified text with some traditional characters passes; Latin-1 or Shift-JIS read as GB18030
    gives almost only characters outside it)."""
    wide = len(text) - len(text.encode("ascii", "ignore"))
    if not wide:
        return True
    rare = text.encode("gb2312", "replace").count(b"?") - text.count("?")
    return rare <= 0.5 * wide


def western_like(text: str) -> bool:
    """Whether the non-ASCII characters of ``text`` look like Western European text: letters inside
    words (``fièvre``, ``Übelkeit``) or common signs (``°``, ``µ``, ``±``, quotes, dashes)."""
    wide = [i for i, ch in enumerate(text) if ord(ch) > 127]
    fitting = sum(1 for i in wide if text[i] in _SIGNS or (text[i].isalpha() and any(
        0 <= j < len(text) and text[j].isascii() and text[j].isalpha() for j in (i - 1, i + 1))))
    return fitting >= 0.8 * len(wide)


def legacy_encoding(data: bytes, final: bool = True) -> str | None:
    """The legacy encoding of non-UTF-8 bytes: ``gb18030`` for Chinese-looking text, a Western code
    page for mostly-ASCII text, else ``None``."""
    text = _strict(data, "gb18030", final)
    if text is not None and chinese_like(text):
        return "gb18030"
    if high_bytes(data) <= 0.3 * len(data):
        for encoding in WESTERN:
            if (text := _strict(data, encoding, final)) is not None and western_like(text):
                return encoding
    return None


def guess(head: bytes, cut: bool = True) -> str:
    """The encoding of a file from its first bytes (``cut``: they may end inside a character)."""
    if head.startswith(codecs.BOM_UTF8):
        return "utf-8-sig"
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "utf-16"
    if is_binary(head):
        raise EncodingUnknown("binary data (NUL bytes and other control bytes), not a text file", "binary_file")
    if _strict(head, "utf-8", final=not cut) is not None:
        return "utf-8"
    lines = head.split(b"\n")
    votes: dict[str, int] = {}
    for i, line in enumerate(lines):
        if line.isascii():
            continue
        if sum(votes.values()) >= _VOTES:
            break
        last = cut and i == len(lines) - 1
        encoding = "utf-8" if _strict(line, "utf-8", final=not last) is not None else legacy_encoding(line, not last)
        votes[encoding or ""] = votes.get(encoding or "", 0) + 1
    utf8 = votes.pop("utf-8", 0)
    legacy = max(sorted(k for k in votes if k), key=lambda k: votes[k], default=None)
    if legacy is not None and votes[legacy] > utf8:
        return legacy
    bad = votes.get("", 0)
    if sum(1 for line in lines if line.strip()) >= 2 * bad:  # half UTF-8 or ASCII: bad lines reported one by one
        return "utf-8"
    raise EncodingUnknown("neither UTF-8, GB18030 nor Western (Windows-1252) text", "undecodable")


def decode_line(raw: bytes, encoding: str) -> str:
    """One line in its file's ``encoding``, or in the encoding its own bytes show when it is not (a GBK
    or Latin-1 line in a UTF-8 file, a UTF-8 line in a GB18030 file); ``UnicodeDecodeError`` if none."""
    if encoding == "gb18030" and high_bytes(raw) >= 4:
        try:  # GB18030 decodes most UTF-8 too, as garbage: valid UTF-8 of some length is UTF-8
            return raw.decode("utf-8")
        except UnicodeDecodeError:
            pass
    try:
        return raw.decode(encoding)
    except UnicodeDecodeError:
        for other in ("utf-8", legacy_encoding(raw)):
            if other and other != encoding and (text := _strict(raw, other)) is not None:
                return text
        raise
