"""Validation errors of the manifest model, in the manifest's own words: `path:line: message` with
"did you mean" for unknown keys, a hint to quote values YAML reads as numbers, and never an env
value (they are secrets). Used by loader.py; the wording common to every YAML file reconcile reads
(the targets file too) is `yamlread.friendly`.
"""

from __future__ import annotations

import typing
from typing import Any, Protocol

from pydantic import BaseModel, ValidationError

from reconciler import manifest
from reconciler.errors import Diagnostic
from reconciler.yamlread import dotted, friendly, line_for


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
        line = line_for(loc, conv.lines)
        where = dotted(loc)
        message = friendly(err, _shown(loc, conv) if where else None, _vocabulary(loc), under_env(loc))
        out.append(Diagnostic(name, line, f"{where}: {message}" if where else message))
    return out


def _shown(loc: manifest.Path, conv: Converted) -> str | None:
    """The raw text of the value at `loc` for a message, or None where it must not be shown."""
    return None if under_env(loc) else conv.raw.get(loc)
