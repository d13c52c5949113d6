"""Saved plans of several targets (`plan --out FILE` with a targets file, then `apply FILE`).

`{"format_version": 1, "targets": [{"name": ..., <that target's saved plan>}, ...]}`: each element
is exactly a single-target saved plan (saved.py) plus its `name`, and is validated as one.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from reconciler import saved, saved_schema
from reconciler.errors import UsageError
from reconciler.plan import FORMAT_VERSION

_HINT = "make a new one with `reconcile plan --out FILE`"


@dataclass(frozen=True)
class SavedTarget:
    """One target's saved plan, as `saved.parse` reads a single-target file."""

    name: str
    document: dict[str, Any]
    options: saved.SavedOptions


def to_document(elements: Sequence[tuple[str, dict[str, Any]]]) -> dict[str, Any]:
    """The combined file: each (name, single-target saved plan), in the targets file's order."""
    return {"format_version": FORMAT_VERSION, "targets": [{"name": n, **doc} for n, doc in elements]}


def is_combined(text: str) -> bool:
    """Does this saved plan's text hold several targets (without validating it)?"""
    try:
        data = json.loads(text)
    except (ValueError, RecursionError):
        return False
    return isinstance(data, dict) and "targets" in data and "saved" not in data


def parse(text: str, source: Path) -> list[SavedTarget]:
    """Every target's saved plan; any problem is `FILE: not a valid saved plan: ...` (UsageError)."""
    try:
        data = json.loads(text)
    except (ValueError, RecursionError) as exc:
        raise _bad(source, f"invalid JSON: {exc}") from None
    if not isinstance(data, dict) or not isinstance(data.get("targets"), list):
        raise _bad(source, "expected a JSON object with a list `targets`")
    version = data.get("format_version")
    if type(version) is not int or version != FORMAT_VERSION:
        raise _bad(source, f"format_version: expected the integer {FORMAT_VERSION}")
    names: list[str] = []
    for index, element in enumerate(data["targets"]):
        name = element.get("name") if isinstance(element, dict) else None
        if not isinstance(name, str) or not name:
            raise _bad(source, f"targets[{index}].name: expected the target's name")
        if name in names:
            raise _bad(source, f"targets[{index}]: the target {name!r} is in the file twice")
        names.append(name)
    found: list[SavedTarget] = []
    for index, (name, element) in enumerate(zip(names, data["targets"], strict=True)):
        rest = {k: v for k, v in element.items() if k != "name"}
        document, options = saved.parse(json.dumps(rest), f"{source}: targets[{index}] ({name})")
        found.append(SavedTarget(name, document, options))
    if not found:
        raise _bad(source, "targets: the file covers no target")
    return found


def read(path: Path) -> list[SavedTarget]:
    """A combined saved plan file (size, type and encoding checked as for any saved plan)."""
    text = saved_schema.read_text(path)
    if not is_combined(text):
        raise UsageError(
            f"{path}: a saved plan of one target, not of the targets file",
            hint="apply it where there is no reconcile.yaml, or make a new plan of the targets",
        )
    return parse(text, path)


def _bad(path: Path, why: str) -> UsageError:
    return UsageError(f"{path}: not a valid saved plan: {why}", hint=_HINT)
