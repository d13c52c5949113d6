"""Pinned plugin versions (Vault 1.16+). Declared under `pins:`."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Literal

from pydantic import Field, field_validator

from reconciler.kinds.base import Action, Change, Defaults, Requirement, Resource
from reconciler.kinds.building import Builder, SourceDocument
from reconciler.kinds.fields import Doc, Name, Text
from reconciler.resources import Pin, PluginKey, PluginType, ServerInfo, State, normalize_version

if TYPE_CHECKING:
    from reconciler.targets.vault.api import VaultApi


class PinDoc(Doc):
    """Pins a plugin to one of its declared versions (Vault 1.16+)."""

    type: Literal["auth", "database", "secret"]
    name: Name
    version: Text

    @field_validator("version")
    @classmethod
    def _version(cls, value: str) -> str:
        if not normalize_version(value):
            raise ValueError("a pin needs a version: the unversioned entry cannot be pinned")
        return value


class PinKind(Defaults):
    """`sys/plugins/pins`: pinned after plugins are registered, unpinned before they are deleted."""

    key = "pin"
    section = "pins"
    state_field = "pins"
    create_rank = 2
    delete_rank = 4
    compared = ("version",)
    model = Pin

    def document_field(self) -> tuple[Any, Any]:
        return (list[PinDoc], Field(default_factory=list))

    def build(self, source: SourceDocument, builder: Builder) -> None:
        from reconciler.kinds import Kind

        for i, doc in enumerate(source.document.pins):
            pin = Pin(type=PluginType(doc.type), name=doc.name, version=normalize_version(doc.version))
            label = f"pin for {pin.type}/{pin.name} (one pin per plugin)"
            builder.add(Kind.PIN, pin.key, pin, label, source, ("pins", i))

    def check(self, builder: Builder, *, complete: bool) -> None:
        from reconciler.kinds import Kind

        if not complete:
            return
        plugins = builder.of(Kind.PLUGIN)
        for key, pin in builder.of(Kind.PIN).items():
            assert isinstance(pin, Pin)
            if PluginKey(pin.type, pin.name, pin.version) not in plugins:
                message = f"pin {pin.type}/{pin.name} {pin.version}: no such plugin version is declared under plugins:"
                builder.problem_at((Kind.PIN, key), ("version",), message)

    def identity(self, resource: Resource) -> tuple[PluginType, str]:
        assert isinstance(resource, Pin)
        return resource.key

    def coordinates(self, resource: Resource) -> tuple[str, str, str]:
        assert isinstance(resource, Pin)
        return (resource.type, resource.name, resource.version)

    def prunes(self, server: ServerInfo) -> bool:
        return server.pins

    def missing_reason(self) -> str:
        return "declared in the manifests, not pinned on the server"

    def update_reason(self, live: Resource, fields: tuple[str, ...]) -> str:
        assert isinstance(live, Pin)
        return f"pinned to {live.version} on the server"

    def requirements(self, state: State, server: ServerInfo) -> list[Requirement]:
        if server.pins:
            return []
        return [(p.key, f"pin {p.type}/{p.name}", "pins", "Vault 1.16+") for p in state.pins]

    async def read(self, api: VaultApi, server: ServerInfo, desired: State, every_entry: bool) -> list[Resource]:
        return list(await api.list_pins()) if server.pins else []

    async def write(self, api: VaultApi, change: Change, endpoint: str) -> None:
        assert isinstance(change.after, Pin)
        await api.write_pin(change.after)

    async def delete(self, api: VaultApi, change: Change) -> None:
        await api.delete_pin(change.type, change.name)

    async def current(self, api: VaultApi, changes: Sequence[Change]) -> list[Resource | None]:
        by_key = {(p.type.value, p.name): p for p in await api.list_pins()}
        return [by_key.get((c.type, c.name)) for c in changes]

    def label(self, change: Change) -> str:
        return f"the pin of {change.type}/{change.name}"

    def verb(self, action: Action) -> str:
        return "unpin" if action is Action.DELETE else "pin"

    def subject(self, change: Change) -> str:
        return f"{change.type}/{change.name} {change.version}"

    def view(self, resource: Resource) -> dict[str, Any]:
        assert isinstance(resource, Pin)
        return {"version": resource.version}


KIND = PinKind()
