"""Configuration plumbing shared by every recipe: TOML files, option dataclasses, ``KEY=VALUE``.

Each step and reader has one frozen dataclass of options whose field defaults are its one defaults
table; ``make_config`` fills it from a recipe table (unknown keys are errors, lists become tuples,
path options resolve against the recipe's directory). ``load_toml`` is the one recipe-file reader
and ``parse_overrides`` the one ``KEY=VALUE`` parser (``--set``): values are TOML (numbers, booleans,
lists, quoted strings), anything else a bare string.
"""

from __future__ import annotations

import dataclasses
import os
import tomllib
from collections.abc import Iterable
from dataclasses import field
from pathlib import Path
from typing import Annotated, Any, TypeVar

from annotated_types import Ge, Gt, Interval

_T = TypeVar("_T")

# Range constraints a config field's annotation carries (checked when a recipe is validated), e.g.
# ``min_chars: NonNegative[int] | None``.
NonNegative = Annotated[_T, Ge(0)]
Positive = Annotated[_T, Gt(0)]
Fraction = Annotated[float, Interval(ge=0, le=1)]


class RecipeError(ValueError):
    """A recipe is missing, malformed or names unknown options."""


def path_option(default: str | None = None) -> Any:
    """An option that is a file path (resolved against the recipe's directory)."""
    return field(default=default, metadata={"path": True})


def resolve(base: Path, value: str) -> str:
    """``value`` as an absolute, normalised path, relative ones taken from ``base``; URLs as they are."""
    if "://" in value:
        return value
    p = Path(value).expanduser()
    return os.path.normpath(p if p.is_absolute() else (base / p).absolute())


def make_config(cls: type, values: dict[str, Any], base: Path | None, where: str) -> Any:
    """Instantiate config dataclass ``cls`` from recipe values (lists become tuples)."""
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(values) - set(fields))
    if unknown:
        raise RecipeError(f"{where}: unknown option(s) {', '.join(unknown)}; known: {', '.join(fields)}")
    kwargs = {}
    for key, value in values.items():
        if isinstance(value, list):
            value = tuple(value)
        if fields[key].metadata.get("path") and isinstance(value, str) and base is not None:
            value = resolve(base, value)
        elif fields[key].metadata.get("path") and isinstance(value, dict) and base is not None:  # name -> path
            value = {k: resolve(base, v) if isinstance(v, str) else v for k, v in value.items()}
        kwargs[key] = value
    try:
        return cls(**kwargs)
    except (TypeError, ValueError) as err:  # the dataclass's own cross-field rules: one line, not a traceback
        raise RecipeError(f"{where}: {err}") from None


def load_toml(path: Path) -> dict[str, Any]:
    """Parse a recipe file, with errors that name it."""
    try:
        return tomllib.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise RecipeError(f"recipe {path} not found") from None
    except tomllib.TOMLDecodeError as err:
        raise RecipeError(f"recipe {path}: invalid TOML: {err}") from None
    except UnicodeDecodeError as err:
        raise RecipeError(f"recipe {path}: not a UTF-8 text file (byte {err.start}); a recipe is TOML text: "
                          "check the path") from None
    except IsADirectoryError:
        raise RecipeError(f"recipe {path} is a folder; name the recipe's .toml file") from None


def is_instruct(data: dict[str, Any]) -> bool:
    """Whether a parsed recipe is an instruction recipe (``kind = "instruct"``), told without importing the
    instruction package (a corpus build never loads it)."""
    return data.get("kind") == "instruct"


def parse_overrides(items: Iterable[str] | dict[str, Any] | None) -> dict[str, Any]:
    """``KEY=VALUE`` strings as a dict (TOML values, else the bare string); a dict passes through."""
    if items is None:
        return {}
    if isinstance(items, dict):
        return dict(items)
    out: dict[str, Any] = {}
    for item in items:
        key, sep, raw = item.partition("=")
        if not sep:
            raise RecipeError(f"override {item!r}: expected KEY=VALUE")
        try:
            out[key.strip()] = tomllib.loads(f"v = {raw}")["v"]
        except tomllib.TOMLDecodeError:
            out[key.strip()] = raw
    return out
