"""Recipe schemas: typed models of recipe tables, checked before any work starts (pydantic v2).

A recipe table is checked against a pydantic model whose leaves are strict (a string where a list is
expected, ``42`` where a name is expected, ``"heavy"`` where a number is expected are errors, never
coerced; an integer is accepted for a float) and whose tables forbid unknown keys. ``from_dataclass``
derives the model of an options dataclass from its field types, so a new option is checked the day it
is added; ``rules`` add ranges and enums per field. ``problems`` turns every error into one line with
the key path, what was expected and what was found (``sources[2].options.question_fields: expected a
list of strings, got the string "question"``), an unknown key with its closest known names; ``check``
raises them all at once as a ``SchemaError`` that names the recipe file.
"""

from __future__ import annotations

import dataclasses
import datetime
import difflib
import functools
import types
import typing
from collections.abc import Iterable, Mapping, Sequence
from typing import Annotated, Any, Literal, Union, get_args, get_origin

import annotated_types as at
from pydantic import (
    AfterValidator,
    AllowInfNan,
    BaseModel,
    ConfigDict,
    Strict,
    StrictBool,
    StrictInt,
    StrictStr,
    ValidationError,
    create_model,
    model_validator,
)

from curate.core.config import RecipeError

Float = Annotated[float, Strict(), AllowInfNan(False)]  # an int is accepted; inf and nan are not
Str, Int, Bool = StrictStr, StrictInt, StrictBool
Strs = list[StrictStr]


def _folder_name(value: str) -> str:
    if not value or value in (".", "..") or any(c in value for c in "/\\") or not value.isprintable():
        raise ValueError(f"{value!r} is not a plain name: it names a folder under --out, so it may not be "
                         "empty, '.', '..', or hold a slash or a control character")
    return value


Name = Annotated[StrictStr, AfterValidator(_folder_name)]  # a build's or a source's name: one folder under --out


class SchemaError(RecipeError):
    """A recipe whose values do not match its schema: one line per problem."""

    def __init__(self, lines: list[str]) -> None:
        super().__init__("\n".join(lines))
        self.lines = lines


class Table(BaseModel):
    """A recipe table: unknown keys are errors."""

    model_config = ConfigDict(extra="forbid", arbitrary_types_allowed=False)


def at_least(n: float) -> at.Ge:
    """A range rule: ``>= n``."""
    return at.Ge(n)


def above(n: float) -> at.Gt:
    """A range rule: ``> n``."""
    return at.Gt(n)


def at_most(n: float) -> at.Le:
    """A range rule: ``<= n``."""
    return at.Le(n)


def fraction(upper_open: bool = False) -> tuple:
    """A range rule: in [0, 1] (or [0, 1))."""
    return (at.Ge(0), at.Lt(1) if upper_open else at.Le(1))


def one_of(values: typing.Iterable[str]) -> Any:
    """An enum rule: one of ``values``."""
    return Literal[tuple(values)]  # type: ignore[valid-type]


def _is_union(tp: Any) -> bool:
    return get_origin(tp) in (Union, types.UnionType)


def _non_none(tp: Any) -> list[Any]:
    return [a for a in get_args(tp) if a is not type(None)]


def strict(tp: Any) -> Any:
    """The strict pydantic type for a dataclass field type (tuples as TOML lists, dataclasses as tables)."""
    origin, args = get_origin(tp), get_args(tp)
    if tp is Any or tp is object:
        return Any
    if dataclasses.is_dataclass(tp):
        return from_dataclass(tp)
    simple = {str: Str, int: Int, bool: Bool, float: Float, dict: dict[str, Any], tuple: list[Any], list: list[Any]}
    if tp in simple:
        return simple[tp]
    if _is_union(tp):
        return Union[tuple(strict(a) for a in args)]  # noqa: UP007 - built from a runtime tuple
    if origin is Annotated:
        return Annotated[(strict(args[0]), *tp.__metadata__)]
    if origin is tuple and len(args) == 2 and args[1] is Ellipsis:
        return list[strict(args[0])]  # type: ignore[misc]
    if origin is tuple:  # a fixed-length pair or triple: a TOML list of these items
        return Annotated[tuple[tuple(strict(a) for a in args)], Strict(False)]
    if origin in (list, Sequence, Iterable):
        return list[strict(args[0])] if args else list[Any]  # type: ignore[misc]
    if origin in (dict, Mapping):
        return dict[strict(args[0]), strict(args[1])] if args else dict[str, Any]  # type: ignore[misc]
    return tp  # Literal and pydantic types as they are


def _apply(tp: Any, rule: Any) -> Any:
    """``tp`` with ``rule``: constraint metadata (kept off ``None``), or a replacement type."""
    metas = rule if isinstance(rule, tuple) else (rule,)
    if not all(isinstance(m, at.BaseMetadata) for m in metas):
        return rule
    if _is_union(tp) and type(None) in get_args(tp):
        inner = _non_none(tp)
        return Union[(*(Annotated[(a, *metas)] for a in inner), None)]
    return Annotated[(tp, *metas)]


@functools.cache
def _dataclass_model(cls: type, rules: tuple[tuple[str, Any], ...], name: str) -> type[Table]:
    hints = typing.get_type_hints(cls, include_extras=True)
    given = dict(rules)
    if unknown := set(given) - {f.name for f in dataclasses.fields(cls)}:
        raise TypeError(f"schema rules for {cls.__name__} name unknown fields {sorted(unknown)}")
    fields: dict[str, Any] = {}
    for f in dataclasses.fields(cls):
        tp = strict(hints[f.name])
        if f.name in given:
            tp = _apply(tp, given[f.name])
        required = f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
        fields[f.name] = (tp, ... if required else None)
    return create_model(name, __base__=Table, __validators__={"_constructs": _constructs(cls)}, **fields)


def _constructs(cls: type) -> Any:
    """A check that the dataclass accepts the values: its own cross-field rules (``__post_init__``)."""

    # Path fields are left to their defaults here: they are resolved against the recipe's folder only when
    # the options are built (``make_config``), which checks them again with the real paths.
    names = {f.name for f in dataclasses.fields(cls) if not f.metadata.get("path")}

    def constructs(self: Table) -> Table:  # a model that extends the table (with more keys) passes only its own
        values = {k: tuple(v) if isinstance(v, list) else v for k, v in self.model_dump(exclude_unset=True).items()
                  if k in names}
        try:
            cls(**values)
        except (TypeError, ValueError) as err:
            raise ValueError(str(err)) from None
        return self

    return model_validator(mode="after")(constructs)


def from_dataclass(cls: type, rules: Mapping[str, Any] | None = None, name: str | None = None) -> type[Table]:
    """The model of an options dataclass: its fields' types made strict, plus ``rules`` (ranges, enums)."""
    return _dataclass_model(cls, tuple(sorted((rules or {}).items(), key=lambda kv: kv[0])), name or cls.__name__)


# --- messages ------------------------------------------------------------------------------------------

_PLURAL = {"a string": "strings", "an integer": "integers", "a number": "numbers", "true or false": "booleans",
           "a table": "tables", "anything": "values"}


def describe(tp: Any, plural: bool = False) -> str:
    """What a type accepts, in recipe words (``a list of strings``, ``an integer >= 1``)."""
    origin, args = get_origin(tp), get_args(tp)
    if origin is Annotated:
        bounds = [f"{sym} {getattr(m, attr)}" for m in tp.__metadata__ for attr, sym in
                  (("ge", ">="), ("gt", ">"), ("le", "<="), ("lt", "<")) if isinstance(m, at.BaseMetadata)
                  and hasattr(m, attr)]
        text = describe(args[0], plural)
        return f"{text} {' and '.join(bounds)}" if bounds else text
    if _is_union(tp):
        members = _non_none(tp)
        return " or ".join(describe(m, plural) for m in members)
    if origin is Literal:
        text = "one of " + ", ".join(repr(a) for a in args)
        return f"values, each {text}" if plural else text
    if origin is list:
        text = f"a list of {describe(args[0], True)}" if args and args[0] is not Any else "a list"
    elif origin is tuple:
        text = f"a list [{', '.join(describe(a) for a in args)}]"
    elif origin is dict or (isinstance(tp, type) and issubclass(tp, BaseModel)):
        text = "a table"
    else:
        text = {str: "a string", int: "an integer", bool: "true or false", float: "a number"}.get(tp, "anything")
    if plural:
        return _PLURAL.get(text, text.removeprefix("a ").removeprefix("an ") + "s")
    return text


def shown(value: Any) -> str:
    """A found value, in recipe words (``the string "question"``, ``the integer 42``)."""
    if isinstance(value, str):
        return f'the string "{value if len(value) <= 60 else value[:57] + "..."}"'
    if isinstance(value, bool):
        return f"the boolean {str(value).lower()}"
    if isinstance(value, int):
        return f"the integer {value}"
    if isinstance(value, float):
        return f"the number {value:g}"
    if isinstance(value, list):
        return f"a list of {len(value)} item{'s' if len(value) != 1 else ''}"
    if isinstance(value, Mapping):
        return "a table"
    if isinstance(value, datetime.date | datetime.time):
        return f"the date/time {value.isoformat()}"
    return f"{value!r}"


def _unwrap(tp: Any) -> Any:
    while get_origin(tp) is Annotated:
        tp = get_args(tp)[0]
    if _is_union(tp) and len(_non_none(tp)) == 1:
        return _unwrap(_non_none(tp)[0])
    return tp


def _member(tp: Any, value: Any) -> Any:
    """The member of union ``tp`` that has the shape of ``value`` (a table, a list), or None."""
    for member in map(_unwrap, _non_none(tp)):
        table = get_origin(member) is dict or (isinstance(member, type) and issubclass(member, BaseModel))
        if (isinstance(value, Mapping) and table) or (isinstance(value, list) and get_origin(member) in (list, tuple)):
            return member
    return None


def _field_type(model: type[BaseModel], name: str) -> Any:
    field = model.model_fields.get(name)
    if field is None:
        return None
    return Annotated[(field.annotation, *field.metadata)] if field.metadata else field.annotation


def _walk(model: type[BaseModel], loc: tuple, data: Any) -> tuple[list, Any, Any, bool]:
    """The recipe path of an error location, the type there, the table model that holds it, and
    whether the error is a union member's mismatch (reported at the union when no member fits)."""
    tp: Any = model
    path: list = []
    owner: Any = model
    parts = list(loc)
    while parts:
        tp = _unwrap(tp)
        if _is_union(tp):  # the next part is pydantic's member tag
            member = _member(tp, _at(data, path))
            if member is None or len(parts) < 2:
                return path, tp, owner, True
            tp, parts = member, parts[1:]
            continue
        part = parts.pop(0)
        path.append(part)
        if isinstance(tp, type) and issubclass(tp, BaseModel):
            owner, tp = tp, _field_type(tp, part)
        elif get_origin(tp) in (list, tuple) and isinstance(part, int):
            args = get_args(tp)
            tp = args[0] if get_origin(tp) is list else (args[part] if part < len(args) else None)
        elif get_origin(tp) is dict:
            tp = get_args(tp)[1]
        else:
            tp = None
    return path, tp, owner, False


def _at(data: Any, path: list) -> Any:
    for part in path:
        try:
            data = data[part]
        except (KeyError, IndexError, TypeError):
            return None
    return data


def key_path(parts: typing.Iterable[Any]) -> str:
    """``sources[2].options.question_fields`` from its parts."""
    out = ""
    for part in parts:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _line(err: Any, model: type[BaseModel], data: Any, prefix: list) -> tuple[str, str, list, bool]:
    path, tp, owner, shallow = _walk(model, tuple(err["loc"]), data)
    return (*_message(err, path, tp, owner, data, prefix), path, shallow)


def _message(err: Any, path: list, tp: Any, owner: Any, data: Any, prefix: list) -> tuple[str, str]:
    where = key_path([*prefix, *path])
    kind = err["type"]
    if kind == "extra_forbidden":
        known = list(owner.model_fields) if isinstance(owner, type) and issubclass(owner, BaseModel) else []
        close = difflib.get_close_matches(str(path[-1]), known, n=3, cutoff=0.6)
        hint = f"did you mean {' or '.join(repr(c) for c in close)}?" if close else f"known keys: {', '.join(known)}"
        what = "table" if isinstance(_at(data, path), Mapping) else "key"
        return where, f"unknown {what} {str(path[-1])!r}; {hint}"
    if kind == "missing":
        return where, "required key is missing"
    if kind == "too_short":
        return where, f"needs at least {err['ctx']['min_length']} entry, got none"
    if kind in ("value_error", "assertion_error"):
        return where, str(err["ctx"]["error"]) if "ctx" in err else err["msg"]
    value = _at(data, path)
    hint = closest(value, get_args(_unwrap(tp))) if kind == "literal_error" and isinstance(value, str) else ""
    return where, f"expected {describe(tp) if tp is not None else err['msg']}, got {shown(value)}{hint}"


def problems(model: type[BaseModel], data: Any, prefix: list | tuple = ()) -> list[str]:
    """Every way ``data`` misses ``model``, one ``key.path: message`` per problem (none: valid)."""
    try:
        model.model_validate(data)
    except ValidationError as err:
        found = [_line(e, model, data, list(prefix)) for e in err.errors(include_url=False)]
        deep = [path for _, _, path, shallow in found if not shallow]
        # A union member's mismatch is dropped when another member fits the value's shape deeper down.
        lines = dict.fromkeys((where, message) for where, message, path, shallow in found
                              if not (shallow and any(p[:len(path)] == path and len(p) > len(path) for p in deep)))
        return [f"{where}: {message}" if where else message for where, message in lines]
    return []


def check(model: type[BaseModel], data: Any, where: str) -> None:
    """Raise a ``SchemaError`` naming ``where`` (the recipe file) when ``data`` misses ``model``."""
    if found := problems(model, data):
        raise SchemaError([f"{where}: {line}" for line in found])


def closest(name: str, known: typing.Iterable[str]) -> str:
    """`` (did you mean 'x'?)`` for the known names closest to ``name``, or an empty string."""
    close = difflib.get_close_matches(name, [str(k) for k in known], n=3, cutoff=0.6)
    return f" (did you mean {' or '.join(repr(c) for c in close)}?)" if close else ""
