"""Container plugin runtimes (Vault 1.15+). Declared under `runtimes:`."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Literal

from pydantic import Field, field_validator

from reconciler.errors import ApiError
from reconciler.kinds.base import Action, Change, Defaults, Requirement, Resource
from reconciler.kinds.building import Builder, SourceDocument
from reconciler.kinds.fields import Doc, Name, Text, check_name
from reconciler.resources import Runtime, ServerInfo, State

if TYPE_CHECKING:
    from reconciler.targets.vault.api import VaultApi


class RuntimeDoc(Doc):
    """A container plugin runtime (Vault 1.15+)."""

    name: Name
    type: Literal["container"] = "container"
    oci_runtime: Text = "runsc"
    cgroup_parent: Text = ""
    cpu_nanos: int = Field(default=0, ge=0)
    memory_bytes: int = Field(default=0, ge=0)
    rootless: bool = False

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        return check_name(value)


class RuntimeKind(Defaults):
    """`sys/plugins/runtimes/catalog`: registered first, deleted last (plugins reference them)."""

    key = "runtime"
    section = "runtimes"
    state_field = "runtimes"
    create_rank = 0
    delete_rank = 6
    compared = tuple(Runtime.model_fields)
    model = Runtime

    def document_field(self) -> tuple[Any, Any]:
        return (list[RuntimeDoc], Field(default_factory=list))

    def build(self, source: SourceDocument, builder: Builder) -> None:
        from reconciler.kinds import Kind

        for i, r in enumerate(source.document.runtimes):
            builder.add(Kind.RUNTIME, r.name, Runtime(**r.model_dump()), f"runtime {r.name!r}", source, ("runtimes", i))

    def identity(self, resource: Resource) -> str:
        assert isinstance(resource, Runtime)
        return resource.name

    def coordinates(self, resource: Resource) -> tuple[str, str, str]:
        assert isinstance(resource, Runtime)
        return (resource.type, resource.name, "")

    def prunes(self, server: ServerInfo) -> bool:
        return server.runtimes

    def requirements(self, state: State, server: ServerInfo) -> list[Requirement]:
        if server.runtimes:
            return []
        return [(r.name, f"runtime {r.name}", "plugin runtimes", "Vault 1.15+") for r in state.runtimes]

    async def read(self, api: VaultApi, server: ServerInfo, desired: State, every_entry: bool) -> list[Resource]:
        return list(await api.list_runtimes()) if server.runtimes else []

    async def write(self, api: VaultApi, change: Change, endpoint: str) -> None:
        assert isinstance(change.after, Runtime)
        await api.register_runtime(change.after)

    async def delete(self, api: VaultApi, change: Change) -> None:
        try:
            await api.delete_runtime(change.type, change.name)
        except ApiError as exc:
            # Deleting a missing runtime is a 500 (reference §4.4): already gone is done.
            if not any("plugin runtime not found" in m for m in exc.messages):
                raise

    async def current(self, api: VaultApi, changes: Sequence[Change]) -> list[Resource | None]:
        by_key: dict[tuple[str, str], Runtime] = {(r.type, r.name): r for r in await api.list_runtimes()}
        return [by_key.get((c.type, c.name)) for c in changes]

    def label(self, change: Change) -> str:
        return f"runtime {change.type}/{change.name}"

    def verb(self, action: Action) -> str:
        return {Action.CREATE: "register", Action.UPDATE: "update"}.get(action, "delete")

    def subject(self, change: Change) -> str:
        return f"runtime {change.name}"

    def view(self, resource: Resource) -> dict[str, Any]:
        assert isinstance(resource, Runtime)
        return resource.model_dump(exclude={"name", "type"})


KIND = RuntimeKind()
