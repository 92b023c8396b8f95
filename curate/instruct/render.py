"""MCQ records rendered into chat turns through the templates in ``templates/instruct/``.

Each family (``mcq``, ``pubmedqa``) has, per language, several prompt phrasings ``prompt_<n>.j2`` and one
``answer.j2``. The phrasing of a record is chosen by a hash of its id and the build seed, so it is the
same in every build with that seed and spread evenly over the phrasings. The answer names the correct
labels and option texts, followed by the dataset's explanation when it has one (MedMCQA's ``exp``, an
exam's 解析, PubMedQA's long answer).
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Mapping
from typing import Any

from curate.benchmarks import mcq
from curate.text import normalise as text
from curate.text import templates

ROOT = "instruct"


@functools.cache
def phrasings(family: str, lang: str) -> tuple[str, ...]:
    """The prompt template ids of a family and language, in name order."""
    found = sorted((templates.templates_dir() / ROOT / family / lang).glob("prompt_*.j2"))
    if not found:
        raise FileNotFoundError(f"no prompt templates in templates/{ROOT}/{family}/{lang}/ (prompt_<n>.j2)")
    return tuple(f"{ROOT}/{family}/{lang}/{p.stem}" for p in found)


def choose(record_id: str, seed: int, count: int) -> int:
    """A deterministic, evenly spread choice in ``range(count)`` from a record id and a seed."""
    digest = hashlib.sha256(f"{seed}:{record_id}".encode()).digest()
    return int.from_bytes(digest[:8], "little") % count


def family_of(item: Mapping[str, Any]) -> str:
    """Which template family renders an MCQ item."""
    return "pubmedqa" if item.get("dataset") == "pubmedqa" else "mcq"


def mcq_messages(item: Mapping[str, Any], seed: int) -> tuple[list[dict[str, str]], str, str]:
    """``(messages, prompt template id, lang)`` for one MCQ record with an answer."""
    family = family_of(item)
    options = list(item["options"])
    lang = "en" if family == "pubmedqa" else text.detect_lang(" ".join([item["question"],
                                                                     *(o["text"] for o in options)]))
    meta = item.get("meta") or {}
    explanation = item.get("explanation") or (meta.get("long_answer") if family == "pubmedqa" else "") or ""
    context = {"question": item["question"], "context": item.get("context") or "", "options": options,
               "answer": item["answer"], "answer_texts": mcq.answer_texts(item), "multi": len(item["answer"]) > 1,
               "explanation": explanation}
    ids = phrasings(family, lang)
    prompt_id = ids[choose(item["id"], seed, len(ids))]
    user = templates.render(prompt_id, **context)
    assistant = templates.render(f"{ROOT}/{family}/{lang}/answer", **context)
    return [{"role": "user", "content": user}, {"role": "assistant", "content": assistant}], prompt_id, lang
