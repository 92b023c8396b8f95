"""Jinja templates: wording lives in ``templates/``, rendered in a sandbox with strict undefined.

Template ids are paths under the templates directory without ``.j2``: ``qa/en``, ``exams/zh/fill``.
The directory is ``$CURATE_TEMPLATES`` when set, else the repository's ``templates/`` (editable
install), else the copy packaged in the wheel.

Filters available to templates:

- ``join_list(lang)``: natural list joining: ``发热、咳嗽和乏力`` / ``fever, cough and fatigue``;
- ``strip_end``: drop trailing sentence punctuation so a template can add its own.
"""

from __future__ import annotations

import functools
import os
from pathlib import Path
from typing import Any

import jinja2
from jinja2.sandbox import ImmutableSandboxedEnvironment

import curate


@functools.cache
def templates_dir() -> Path:
    """Where templates are read from (see module doc)."""
    if env := os.environ.get("CURATE_TEMPLATES"):
        return Path(env)
    package = Path(curate.__file__).parent
    for candidate in (package.parent / "templates", package / "_templates"):
        if candidate.is_dir():
            return candidate
    raise FileNotFoundError("templates directory not found; set CURATE_TEMPLATES")


def join_list(items: list[str], lang: str = "en") -> str:
    """Join items as a natural-language list in ``lang``."""
    items = [str(i) for i in items if str(i)]
    if len(items) <= 1:
        return "".join(items)
    if lang == "zh":
        return "、".join(items[:-1]) + "和" + items[-1]
    return ", ".join(items[:-1]) + " and " + items[-1]


def strip_end(text: str) -> str:
    """Remove trailing sentence punctuation and spaces."""
    return str(text).rstrip(" \t\n.。!！?？;；:：,，")


@functools.cache
def environment() -> ImmutableSandboxedEnvironment:
    """The shared sandboxed environment (undefined variables are errors)."""
    env = ImmutableSandboxedEnvironment(
        loader=jinja2.FileSystemLoader(str(templates_dir())),
        undefined=jinja2.StrictUndefined,
        autoescape=False,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=False,
    )
    env.filters["join_list"] = join_list
    env.filters["strip_end"] = strip_end
    return env


def render(template_id: str, **context: Any) -> str:
    """Render template ``<id>.j2`` with ``context``; surrounding whitespace is stripped."""
    return environment().get_template(f"{template_id}.j2").render(**context).strip()


@functools.cache
def literal_fragments() -> tuple[str, ...]:
    """The literal text of every template (what a rendered document shares with all its siblings)."""
    from jinja2 import nodes

    env = environment()
    fragments: list[str] = []
    for path in sorted(templates_dir().rglob("*.j2")):
        tree = env.parse(path.read_text(encoding="utf-8"))
        fragments += [n.data for n in tree.find_all(nodes.TemplateData) if n.data.strip()]
    return tuple(fragments)


def exists(template_id: str) -> bool:
    """Whether template ``<id>.j2`` exists."""
    return (templates_dir() / f"{template_id}.j2").is_file()
