"""Which relation a column, key or predicate stands for, how text names it, and what its values are.

The bundled mapping is ``templates/kg/relations.toml`` (one table per relation id: ``fields``,
``template``, ``zh``, ``en``, ``kind``; see its header). A recipe adds names in
``[options.relations]``: ``name = "<relation id>"`` (a relation of the bundled mapping, or any template
id under ``templates/kg/<lang>/``), or ``name = {zh = "...", en = "...", kind = "list"}`` for a
relation of its own, written by the generic ``attribute`` template. Names match after Unicode NFKC,
lower-casing and removing spaces, ``_`` and ``-``, so ``Cure Way``, ``cure_way`` and ``cure-way`` are
one name.

Kinds say what a column's values are: ``list`` items are entities (nodes that join records sharing
them), ``values`` items are values (literals), ``value`` is one value never split (``85%``,
``1-2个月``), ``text`` is prose.
"""

from __future__ import annotations

import functools
import re
import tomllib
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from curate.text import templates

KINDS = ("list", "values", "value", "text")
_SEPARATORS = re.compile(r"[\s_\-]+")


@dataclass(frozen=True)
class Relation:
    """A relation: its id, the template that writes it, its names in zh and en, and its value kind."""

    id: str
    template: str
    zh: str
    en: str
    kind: str = "list"

    def words(self, lang: str) -> str:
        """The relation's name in running text of ``lang``."""
        return self.zh if lang == "zh" else self.en


def normalise(name: str) -> str:
    """The form names are matched in: NFKC, lower case, without spaces, ``_`` and ``-``."""
    return _SEPARATORS.sub("", unicodedata.normalize("NFKC", str(name)).strip().lower())


def _relation(rid: str, spec: Mapping[str, Any], where: str) -> Relation:
    kind = spec.get("kind", "list")
    if kind not in KINDS:
        raise ValueError(f"{where}: kind of {rid!r} must be one of {', '.join(KINDS)}, got {kind!r}")
    template = spec.get("template") or (rid if templates.exists(f"kg/zh/{rid}") else "attribute")
    return Relation(rid, template, spec.get("zh") or rid, spec.get("en") or rid.replace("_", " "), kind)


@functools.cache
def bundled() -> tuple[dict[str, Relation], dict[str, str]]:
    """The bundled relations by id, and their field names (normalised) to relation ids."""
    path = templates.templates_dir() / "kg" / "relations.toml"
    data = tomllib.loads(path.read_text(encoding="utf-8"))
    by_id = {rid: _relation(rid, spec, str(path)) for rid, spec in data.items()}
    names: dict[str, str] = {}
    for rid, spec in data.items():
        for name in (rid, *spec.get("fields", ())):
            names.setdefault(normalise(name), rid)
    return by_id, names


class Relations:
    """The bundled mapping with a recipe's additions on top (``[options.relations]``)."""

    def __init__(self, extra: Mapping[str, str | Mapping[str, Any]] | None = None):
        by_id, names = bundled()
        self.by_id = dict(by_id)
        self.names = dict(names)
        for name, target in (extra or {}).items():
            if isinstance(target, Mapping):
                rid = normalise(name)
                self.by_id[rid] = _relation(rid, {"template": "attribute", **target, "zh": target.get("zh", name)},
                                            "[options.relations]")
            else:
                rid = str(target)
                if rid not in self.by_id:  # a template id of its own, worded by the relation's name
                    self.by_id[rid] = Relation(rid, rid, "", "", by_id.get(rid, Relation(rid, rid, "", "")).kind)
            self.names[normalise(name)] = rid

    def find(self, *names: str) -> Relation | None:
        """The relation the first matching name stands for, or ``None``."""
        for name in names:
            rid = self.names.get(normalise(name))
            if rid is not None:
                return self.by_id[rid]
        return None

    def kind(self, name: str) -> str | None:
        """The value kind of column ``name``, or ``None`` when it is not mapped."""
        relation = self.find(name)
        return relation.kind if relation else None


@functools.cache
def default() -> Relations:
    """The bundled mapping alone."""
    return Relations()
