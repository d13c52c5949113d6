"""Validation errors of the manifest model, in the manifest's own words: `path:line: message` with
"did you mean" for unknown keys, a hint to quote values YAML reads as numbers, and never an env
value (they are secrets). Used by loader.py.
"""

from __future__ import annotations

import datetime
import difflib
import typing
from typing import Any, Protocol

from pydantic import BaseModel, ValidationError

from reconciler import manifest
from reconciler.errors import Diagnostic


class Converted(Protocol):
    """What the loader's converter learned about one document (loader._Converter)."""

    failed: set[manifest.Path]
    """Places whose value the converter refused (and already reported)."""
    partial: set[manifest.Path]
    """Mappings that lost keys to an error already reported (a bad merge)."""
    lines: dict[manifest.Path, int]
    raw: dict[manifest.Path, str]
    """The source text of scalar values, by place (for "quote it: '1.10'")."""


def under_env(at: manifest.Path) -> bool:
    """Is `at` a plugin version's env or inside it? Its values are secrets: never in a message."""
    return len(at) >= 5 and at[0] == "plugins" and at[2] == "versions" and at[4] == "env"


def _model_at(loc: manifest.Path) -> type[BaseModel] | None:
    """The schema model of the mapping at `loc` in a document (None inside a plain dict)."""
    model: type[BaseModel] = manifest.Document
    for part in loc:
        if isinstance(part, int):
            continue
        field = model.model_fields.get(part)
        if field is None:
            return None
        found = _model_in(field.annotation)
        if found is None:
            return None
        model = found
    return model


def _model_in(annotation: Any) -> type[BaseModel] | None:
    """The model in `X`, `list[X]` or `X | None`."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in typing.get_args(annotation):
        found = _model_in(arg)
        if found is not None:
            return found
    return None


def _vocabulary(loc: manifest.Path) -> list[str]:
    """The keys allowed where the unknown key at `loc` was found."""
    model = _model_at(loc[:-1])
    return sorted(model.model_fields) if model is not None else []


def diagnostics(name: str, exc: ValidationError, conv: Converted) -> list[Diagnostic]:
    """Every validation error of one document as `path:line: message`, in the manifest's own words."""
    out = []
    for err in exc.errors(include_url=False):
        loc = tuple(err["loc"])
        if any(loc[:n] in conv.failed for n in range(len(loc) + 1)):
            continue  # the converter already said why this value is missing
        if err["type"] == "missing" and loc[:-1] in conv.partial:
            continue  # probably in the merge ('<<') already reported
        line = _line_for(loc, conv.lines)
        where = _dotted(loc)
        out.append(
            Diagnostic(name, line, f"{where}: {_friendly(err, _shown(loc, conv))}" if where else _friendly(err, None))
        )
    return out


def _shown(loc: manifest.Path, conv: Converted) -> str | None:
    """The raw text of the value at `loc` for a message, or None where it must not be shown."""
    return None if under_env(loc) else conv.raw.get(loc)


def _line_for(loc: manifest.Path, lines: dict[manifest.Path, int]) -> int:
    while loc and loc not in lines:
        loc = loc[:-1]
    return lines.get(loc, 1)


def _dotted(loc: manifest.Path) -> str:
    text = ""
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else part)
    return text


_TYPE_NAMES = {
    bool: "a boolean",
    int: "a number",
    float: "a decimal number",
    str: "a string",
    list: "a list",
    dict: "a mapping",
    type(None): "nothing (null)",
    datetime.date: "a date",
    datetime.datetime: "a date and time",
    bytes: "binary data",
}
_QUOTABLE = ("a number", "a decimal number", "a boolean", "a date", "a date and time")


def _quote_hint(got: str, loc: manifest.Path, raw: str | None) -> str:
    if got not in _QUOTABLE:
        return ""
    if under_env(loc):
        return " (quote the value)"  # not "quote it: '8200'": env values are secrets
    return f" (quote it: '{raw}')" if raw is not None else ""


def _friendly(err: Any, raw: str | None) -> str:
    kind = err["type"]
    got = _TYPE_NAMES.get(type(err.get("input")), type(err.get("input")).__name__)
    if kind == "missing":
        return "missing required key"
    if kind == "extra_forbidden":
        key = str(err["loc"][-1])
        close = difflib.get_close_matches(key, _vocabulary(tuple(err["loc"])), n=1)
        return "unknown key" + (f" (did you mean {close[0]!r}?)" if close else "")
    if kind == "string_type":
        return f"expected a string, got {got}{_quote_hint(got, tuple(err['loc']), raw)}"
    if kind in ("int_type", "int_from_float"):
        return f"expected a whole number, got {got}"
    if kind == "bool_type":
        return f"expected true or false, got {got}"
    if kind == "list_type":
        return f"expected a list, got {got}"
    if kind in ("dict_type", "model_type"):
        return f"expected a mapping, got {got}"
    if kind == "literal_error":
        return f"must be one of {err['ctx']['expected']}, got {err['input']!r}"
    if kind in ("too_short", "string_too_short"):
        return "must not be empty"
    if kind == "string_too_long":
        return f"must be at most {err['ctx']['max_length']} characters long"
    if kind == "greater_than_equal":
        return f"must be >= {err['ctx']['ge']}"
    if kind == "value_error":
        return str(err["ctx"]["error"])
    return str(err["msg"])
