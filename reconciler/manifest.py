"""The manifest document schema (a contract: users and other tools write these files) and its
conversion to the desired `State`, with the checks that span documents.

A document is a mapping with one list per declared kind (`plugins`, `runtimes`, `pins`, the
`nomad` block; see reconciler/kinds) plus `settings`; lists from all documents merge. `Document`
is built from the kind registry, and its field docs become the JSON Schema `reconcile schema` prints.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import BaseModel, Field, create_model, field_validator

from reconciler.errors import Diagnostic
from reconciler.kinds import Kind
from reconciler.kinds.building import Builder, Path, SourceDocument, matching_glob
from reconciler.kinds.csi import CsiPluginDoc, NomadDoc
from reconciler.kinds.fields import Doc as _Doc
from reconciler.kinds.fields import Text
from reconciler.kinds.pin import PinDoc
from reconciler.kinds.plugin import PluginDoc, PluginVersionDoc
from reconciler.kinds.runtime import RuntimeDoc
from reconciler.resources import Settings, State

__all__ = [
    "CsiPluginDoc",
    "Desired",
    "Document",
    "NomadDoc",
    "Path",
    "PinDoc",
    "PluginDoc",
    "PluginVersionDoc",
    "RuntimeDoc",
    "SourceDocument",
    "build_state",
    "ignored",
    "json_schema",
]


class LockDoc(_Doc):
    """Where `apply` takes its lock: a key of a KV version 2 mount, written with check-and-set."""

    kv_mount: str = Field(description="Path of a KV version 2 mount, e.g. 'secret' (required).")
    key: str = Field(default="reconcile/lock", description="Key of the lock inside the mount.")
    ttl: str = Field(
        default="15m", description="A lock older than this (30s, 15m, 1h30m) is taken over, with a warning."
    )

    @field_validator("kv_mount", "key")
    @classmethod
    def _path(cls, value: str) -> str:
        if not value.strip("/") or any(ord(ch) < 32 or ord(ch) == 127 for ch in value):
            raise ValueError(f"{value!r} must be a non-empty path without control characters")
        return value.strip("/")

    @field_validator("ttl")
    @classmethod
    def _ttl(cls, value: str) -> str:
        from reconciler.durations import parse_duration
        from reconciler.errors import UsageError

        try:
            seconds = parse_duration(value)
        except UsageError as exc:
            raise ValueError(f"{exc} ({exc.hint})") from None
        if seconds <= 0:
            raise ValueError(f"ttl {value!r} must be a positive duration")
        return value


class SettingsDoc(_Doc):
    """Run-wide settings; at most one `settings` block across all documents."""

    prune: bool = Field(default=True, description="Delete catalog entries that no manifest declares.")
    ignore: list[Text] = Field(default_factory=list, description="'type/name' globs that reconcile never plans for.")
    reload: Literal["none", "changed"] = Field(
        default="none",
        description="Reload plugins whose pin changed or whose in-use version was re-registered.",
    )
    max_deletes: int | None = Field(default=None, ge=0, description="Refuse plans with more deletions than this.")
    lock: LockDoc | None = Field(default=None, description="Opt-in: the lock `apply` holds so applies cannot overlap.")

    @field_validator("ignore")
    @classmethod
    def _globs(cls, value: list[str]) -> list[str]:
        for glob in value:
            if "/" not in glob:
                raise ValueError(f"ignore glob {glob!r} must have the form 'type/name' (e.g. 'secret/legacy-*')")
        return value


def _document_model() -> type[BaseModel]:
    """One YAML document: a list (or block) per kind that has a manifest section, and `settings`."""
    fields: dict[str, Any] = {k.spec.section: k.spec.document_field() for k in Kind if k.spec.section}
    fields["settings"] = (SettingsDoc | None, None)
    return create_model("Document", __base__=_Doc, __doc__="One YAML document of a manifest file.", **fields)


Document = _document_model()


@dataclass
class Desired:
    """The desired state and where each of its parts was declared (for later messages)."""

    state: State
    origins: dict[object, str] = field(default_factory=dict)
    """(kind, identity) -> `path:line` of its declaration; "settings" for the settings block."""


def build_state(sources: Sequence[SourceDocument], *, complete: bool = True) -> tuple[Desired, list[Diagnostic]]:
    """Merge documents into one desired State, reporting every cross-document problem.

    `complete=False` says some documents were left out (invalid): "X is not declared" checks are
    skipped then, as X may be declared in one of those.
    """
    builder = Builder()
    for source in sources:
        for kind in Kind:
            kind.spec.build(source, builder)
        settings = source.document.settings
        if settings is not None and builder.claim(
            "settings", "settings block (at most one across all documents)", source, ("settings",)
        ):
            builder.settings = Settings(**settings.model_dump())
    for kind in Kind:
        kind.spec.check(builder, complete=complete)
    objects = {k.spec.state_field: tuple(builder.of(k).values()) for k in Kind if k.spec.state_field and builder.of(k)}
    state = State(**objects, settings=builder.settings or Settings())
    return Desired(state=state, origins=builder.origins), builder.problems


def ignored(settings: Settings) -> Callable[[str], bool]:
    """A predicate on `type/name` for the settings' ignore globs."""
    return lambda text: matching_glob(settings.ignore, text) is not None


def json_schema() -> dict[str, Any]:
    """The JSON Schema of one manifest document."""
    schema = Document.model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "reconcile manifest"
    return schema
