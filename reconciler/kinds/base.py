"""What every resource kind shares: the `Change` diff emits, and the `ResourceKind` protocol.

A kind is one module (plugin.py, runtime.py, ...) holding one object that implements
`ResourceKind`; the registry in `reconciler.kinds` lists them. Everything that differs between
kinds (identity, compared fields, prune protection, phase, API calls, display) lives in the kind;
diff, plan, apply and the renderers only call these hooks.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING, Any, ClassVar, Protocol

from pydantic import BaseModel

if TYPE_CHECKING:
    from reconciler.kinds import Kind
    from reconciler.kinds.building import Builder, SourceDocument
    from reconciler.resources import ServerInfo, State
    from reconciler.targets.vault.api import VaultApi

Resource = BaseModel
"""A desired or live object of some kind: a frozen pydantic model (Plugin, Runtime, Pin, ...)."""

Identity = Hashable
"""What pairs a desired object with its live counterpart, unique within its kind."""


class Action(StrEnum):
    CREATE = "create"
    UPDATE = "update"
    DELETE = "delete"
    RELOAD = "reload"


@dataclass(frozen=True)
class Change:
    """One difference between desired and live state: what differs on which object, and why.

    Plan-time verdicts (blocked, skipped, which endpoint) are not here: plan.py wraps each change
    in a `Step` that carries them.
    """

    kind: Kind
    action: Action
    type: str
    """Plugin type (`auth`, `database`, `secret`), or `container` for a runtime."""
    name: str
    version: str = ""
    """Plugin version ("" = unversioned). A pin: the version pinned after the change (a delete: the one it had)."""
    before: Resource | None = None
    after: Resource | None = None
    fields: tuple[str, ...] = ()
    """The fields that differ (updates)."""
    reason: str = ""
    """Why this change is planned; for display only."""

    @property
    def plugin_key(self) -> Any:
        """The catalog key of a plugin change (`PluginKey`)."""
        resource = self.after or self.before
        return resource.key  # type: ignore[union-attr]


Requirement = tuple[Identity, str, str, str]
"""(identity, what, feature, needs): a desired object uses a feature the server may lack."""


class ResourceKind(Protocol):
    """The unit of extension: everything reconcile knows about one kind of object."""

    key: str
    """Registry key and the JSON `kind` value (`plugin`, `runtime`, `pin`, `reload`, `nomad_csi_plugin`)."""
    section: str | None
    """The manifest document key this kind is declared under (`plugins`), or None (derived kinds)."""
    state_field: str | None
    """The `State` attribute holding this kind's objects, or None (derived kinds)."""
    diffed: bool
    """False for kinds that are only checked (Nomad CSI) or derived by plan (reload)."""
    checked: bool
    """apply re-reads the entry before an update/delete and verifies every write afterwards."""
    create_rank: int | None
    """Apply phase of creates and updates (lower runs first); None: never created."""
    delete_rank: int | None
    """Apply phase of deletes; None: never deleted."""
    compared: tuple[str, ...]
    """Fields compared between desired and live (an update lists those that differ)."""
    model: type[BaseModel] | None
    """The object model, for renderers that hold an object without its change (None: no objects)."""

    def document_field(self) -> tuple[Any, Any]:
        """(annotation, default or pydantic Field) of `section` in the manifest `Document` model."""
        ...

    def build(self, source: SourceDocument, builder: Builder) -> None:
        """Add the objects `source` declares to `builder` (claiming each, for `path:line` diagnostics)."""
        ...

    def check(self, builder: Builder, *, complete: bool) -> None:
        """Cross-document checks once every document is in (references, ignore globs)."""
        ...

    def identity(self, resource: Resource) -> Identity: ...

    def coordinates(self, resource: Resource) -> tuple[str, str, str]:
        """(type, name, version) a change on `resource` shows."""
        ...

    def hidden(self, live: Resource) -> bool:
        """Live objects that are never compared with the manifests (builtin plugins)."""
        ...

    def protected(self, live: Resource, is_ignored: Callable[[str], bool]) -> str | None:
        """Why prune must keep this live object (builtin, declarative, opaque, ignored), or None."""
        ...

    def prunes(self, server: ServerInfo) -> bool:
        """Whether this kind is pruned at all against `server` (pins only where the server has them)."""
        ...

    def missing_reason(self) -> str: ...

    def update_reason(self, live: Resource, fields: tuple[str, ...]) -> str: ...

    def requirements(self, state: State, server: ServerInfo) -> list[Requirement]:
        """Desired objects that use a feature `server` lacks."""
        ...

    def refuse_overwrite(self, live: Resource) -> str | None:
        """Why no change may be written over this live object (OpenBao declarative entries), or None."""
        ...

    async def read(self, api: VaultApi, server: ServerInfo, desired: State, every_entry: bool) -> list[Resource]:
        """The live objects a plan against `desired` needs (`every_entry`: in full, for export)."""
        ...

    async def write(self, api: VaultApi, change: Change, endpoint: str) -> None:
        """Create or update (reload: run) `change`; `endpoint` is the plan's choice of API variant."""
        ...

    async def delete(self, api: VaultApi, change: Change) -> None: ...

    async def current(self, api: VaultApi, changes: Sequence[Change]) -> list[Resource | None]:
        """The objects `changes` are about, as the server has them now."""
        ...

    def fields_seen(self, change: Change) -> tuple[str, ...]:
        """The fields of `change.before` the plan read (compared again before writing)."""
        ...

    def label(self, change: Change) -> str:
        """How messages name the object: `secret/kv v1.0.0`, `the pin of secret/kv`."""
        ...

    def verb(self, action: Action) -> str:
        """The word the text plan uses: register, update, delete, pin, unpin, reload."""
        ...

    def subject(self, change: Change) -> str:
        """`secret/kv-extra v1.4.2`, `runtime gvisor`, `secret/kv-extra` (pins and reloads)."""
        ...

    def view(self, resource: Resource) -> dict[str, Any]:
        """The object as plain JSON-able data, secrets redacted."""
        ...


class Defaults:
    """Neutral answers for the optional hooks of `ResourceKind`; kinds override what applies."""

    section: ClassVar[str | None] = None
    state_field: ClassVar[str | None] = None
    diffed: ClassVar[bool] = True
    checked: ClassVar[bool] = True
    create_rank: ClassVar[int | None] = None
    delete_rank: ClassVar[int | None] = None
    compared: ClassVar[tuple[str, ...]] = ()
    model: ClassVar[type[BaseModel] | None] = None
    """The resource model, for renderers that hold an object without its change."""

    def document_field(self) -> tuple[Any, Any]:
        raise NotImplementedError  # pragma: no cover - only kinds with a section are asked

    def build(self, source: SourceDocument, builder: Builder) -> None:
        return None

    def check(self, builder: Builder, *, complete: bool) -> None:
        return None

    def hidden(self, live: Resource) -> bool:
        return False

    def protected(self, live: Resource, is_ignored: Callable[[str], bool]) -> str | None:
        kind_type, name, _ = self.coordinates(live)
        return "ignored" if is_ignored(f"{kind_type}/{name}") else None

    def coordinates(self, resource: Resource) -> tuple[str, str, str]:
        raise NotImplementedError  # pragma: no cover

    def prunes(self, server: ServerInfo) -> bool:
        return True

    def missing_reason(self) -> str:
        return "declared in the manifests, missing on the server"

    def update_reason(self, live: Resource, fields: tuple[str, ...]) -> str:
        return "differs from the manifests"

    def requirements(self, state: State, server: ServerInfo) -> list[Requirement]:
        return []

    def refuse_overwrite(self, live: Resource) -> str | None:
        return None

    def fields_seen(self, change: Change) -> tuple[str, ...]:
        return self.compared


def changed_fields(kind: ResourceKind, want: Resource, have: Resource) -> tuple[str, ...]:
    """The compared fields of `kind` on which two objects of it differ."""
    return tuple(f for f in kind.compared if getattr(want, f) != getattr(have, f))
