"""The manifest builder kinds add their objects to, with `path:line` for every diagnostic.

A `SourceDocument` is one validated YAML document and the line of each key in it; the `Builder`
collects objects per kind, keyed by identity, and reports duplicates naming both places.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Hashable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel

from reconciler.errors import Diagnostic

if TYPE_CHECKING:
    from reconciler.kinds import Kind
    from reconciler.resources import Settings

Path = tuple[str | int, ...]


@dataclass
class SourceDocument:
    """A validated document (a `manifest.Document`) with the line of every key and list item in it."""

    path: str
    document: Any
    lines: dict[Path, int]

    def line(self, at: Path) -> int:
        """The line of `at`, or of its nearest ancestor that has one."""
        while at not in self.lines and at:
            at = at[:-1]
        return self.lines.get(at, 1)


@dataclass
class Builder:
    """Desired objects per kind, where each was declared, and the problems found so far."""

    objects: dict[Kind, dict[Hashable, BaseModel]] = field(default_factory=dict)
    settings: Settings | None = None
    origins: dict[object, str] = field(default_factory=dict)
    """(kind, identity) -> `path:line`; "settings" for the settings block."""
    where: dict[object, tuple[SourceDocument, Path]] = field(default_factory=dict)
    problems: list[Diagnostic] = field(default_factory=list)

    def claim(self, key: object, what: str, source: SourceDocument, at: Path) -> bool:
        """Record where `key` was declared; report a duplicate naming both places."""
        here = f"{source.path}:{source.line(at)}"
        if key in self.origins:
            self.problem(source, at, f"duplicate {what}: already declared at {self.origins[key]}")
            return False
        self.origins[key] = here
        self.where[key] = (source, at)
        return True

    def add(self, kind: Kind, identity: Hashable, obj: BaseModel, what: str, source: SourceDocument, at: Path) -> None:
        """Claim `(kind, identity)` and keep `obj` unless it is a duplicate."""
        if self.claim((kind, identity), what, source, at):
            self.objects.setdefault(kind, {})[identity] = obj

    def of(self, kind: Kind) -> dict[Hashable, BaseModel]:
        """The objects of `kind` declared so far, by identity."""
        return self.objects.get(kind, {})

    def problem(self, source: SourceDocument, at: Path, message: str) -> None:
        self.problems.append(Diagnostic(source.path, source.line(at), message))

    def problem_at(self, key: object, suffix: Path, message: str) -> None:
        """A problem at `suffix` inside the declaration of `key`."""
        source, at = self.where[key]
        self.problem(source, at + suffix, message)


def matching_glob(globs: Sequence[str], text: str) -> str | None:
    """The first of `globs` (`settings.ignore`) that matches `type/name`, or None."""
    return next((g for g in globs if fnmatch.fnmatchcase(text, g)), None)
