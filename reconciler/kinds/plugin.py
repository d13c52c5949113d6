"""Plugin versions: one catalog entry per (type, name, version). Declared under `plugins:`."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import Field, SecretStr, field_validator

from reconciler.errors import ReconcileError
from reconciler.kinds.base import Action, Change, Defaults, Requirement, Resource
from reconciler.kinds.building import Builder, SourceDocument, matching_glob
from reconciler.kinds.fields import SHA256_RE, Doc, Name, Plain, Text, check_name, plain
from reconciler.resources import Plugin, PluginKey, PluginType, ServerInfo, State, normalize_version

if TYPE_CHECKING:
    from reconciler.targets.vault.api import VaultApi


class PluginVersionDoc(Doc):
    """One registered version of a plugin."""

    version: Annotated[str | None, Plain] = Field(
        default=None,
        description="Semantic version; 'v' is prefixed when missing. Omit for the unversioned entry.",
    )
    sha256: Text = Field(description="SHA-256 of the plugin binary (or OCI image digest): 64 hex characters, any case.")
    command: Annotated[str | None, Plain] = Field(
        default=None, description="Command relative to the plugin directory; default: the plugin name."
    )
    args: list[str] = Field(default_factory=list, description="Arguments passed to the plugin.")
    env: dict[str, str] = Field(
        default_factory=dict, description="Environment for the plugin; values are secrets and never printed."
    )
    oci_image: Text = Field(default="", description="OCI image for container plugins (Vault 1.15+).")
    runtime: Text = Field(default="", description="Name of a declared container runtime (Vault 1.15+).")

    @field_validator("version")
    @classmethod
    def _version(cls, value: str | None) -> str | None:
        if value is not None:
            normalize_version(value)
        return value

    @field_validator("sha256")
    @classmethod
    def _sha256(cls, value: str) -> str:
        if not SHA256_RE.fullmatch(value):
            raise ValueError(f"sha256 must be 64 hexadecimal characters, got {len(value)} characters {value[:16]!r}")
        return value

    @field_validator("command")
    @classmethod
    def _command(cls, value: str | None) -> str | None:
        if value is not None and (not value.strip() or ".." in value.split("/") or value.startswith("/")):
            raise ValueError(f"command {value!r} must be a file name relative to the server's plugin directory")
        return value

    @field_validator("env")
    @classmethod
    def _env(cls, value: dict[str, str]) -> dict[str, str]:
        for key in value:
            if not key or "=" in key:
                raise ValueError(f"env key {key!r} must be non-empty and contain no '='")
            try:
                plain(key)
            except ValueError as exc:
                raise ValueError(f"env key {key!r}: {exc}") from None
        return value


class PluginDoc(Doc):
    """A plugin and the versions of it the catalog must hold."""

    name: Name = Field(description="The catalog name.")
    type: Literal["auth", "database", "secret"] = Field(description="Plugin type.")
    versions: list[PluginVersionDoc] = Field(min_length=1, description="At least one version.")

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        return check_name(value)


def opaque(key: PluginKey) -> bool:
    """Live versions the API cannot address (unnormalised declarative ones) are never touched."""
    return bool(key.version) and not key.version.startswith("v")


class PluginKind(Defaults):
    """Catalog entries (`sys/plugins/catalog`)."""

    key = "plugin"
    section = "plugins"
    state_field = "plugins"
    create_rank = 1
    delete_rank = 5
    compared = ("sha256", "command", "args", "oci_image", "runtime")
    model = Plugin

    def document_field(self) -> tuple[Any, Any]:
        return (list[PluginDoc], Field(default_factory=list))

    def build(self, source: SourceDocument, builder: Builder) -> None:
        from reconciler.kinds import Kind

        for i, p in enumerate(source.document.plugins):
            for j, v in enumerate(p.versions):
                plugin = Plugin(
                    type=PluginType(p.type),
                    name=p.name,
                    version=normalize_version(v.version or ""),
                    sha256=v.sha256.lower(),
                    command=v.command if v.command is not None else p.name,
                    args=tuple(v.args),
                    env={k: SecretStr(val) for k, val in v.env.items()},
                    oci_image=v.oci_image,
                    runtime=v.runtime,
                )
                at = ("plugins", i, "versions", j)
                builder.add(Kind.PLUGIN, plugin.key, plugin, f"plugin {plugin.key}", source, at)

    def check(self, builder: Builder, *, complete: bool) -> None:
        from reconciler.kinds import Kind
        from reconciler.resources import Settings

        settings = builder.settings or Settings()
        runtimes = builder.of(Kind.RUNTIME)
        reported: set[tuple[PluginType, str]] = set()
        for key, plugin in builder.of(Kind.PLUGIN).items():
            assert isinstance(plugin, Plugin)
            if complete and plugin.runtime and plugin.runtime not in runtimes:
                message = f"runtime {plugin.runtime!r} is not declared under runtimes:"
                builder.problem_at((Kind.PLUGIN, key), ("runtime",), message)
            glob = matching_glob(settings.ignore, f"{plugin.type}/{plugin.name}")
            if glob and (plugin.type, plugin.name) not in reported:
                reported.add((plugin.type, plugin.name))
                source, at = builder.where[(Kind.PLUGIN, key)]
                message = f"plugin {plugin.type}/{plugin.name} is declared but matches ignore glob {glob!r}"
                builder.problem(source, (*at[:2], "name"), message)

    def identity(self, resource: Resource) -> PluginKey:
        assert isinstance(resource, Plugin)
        return resource.key

    def coordinates(self, resource: Resource) -> tuple[str, str, str]:
        assert isinstance(resource, Plugin)
        return (resource.type, resource.name, resource.version)

    def hidden(self, live: Resource) -> bool:
        return isinstance(live, Plugin) and live.builtin

    def protected(self, live: Resource, is_ignored: Callable[[str], bool]) -> str | None:
        assert isinstance(live, Plugin)
        if live.declarative:
            return "declarative"
        if opaque(live.key):
            return "opaque"
        return "ignored" if is_ignored(f"{live.type}/{live.name}") else None

    def update_reason(self, live: Resource, fields: tuple[str, ...]) -> str:
        return "differs from the manifests" if fields else "re-register requested with --replace"

    def requirements(self, state: State, server: ServerInfo) -> list[Requirement]:
        if server.runtimes:
            return []
        feature = "container plugins (oci_image, runtime)"
        return [(p.key, str(p.key), feature, "Vault 1.15+") for p in state.plugins if p.oci_image or p.runtime]

    def refuse_overwrite(self, live: Resource) -> str | None:
        if isinstance(live, Plugin) and live.declarative:
            return (
                "is declared in the OpenBao server configuration (declarative); "
                "writing over it would make the server fail its next unseal"
            )
        return None

    async def read(self, api: VaultApi, server: ServerInfo, desired: State, every_entry: bool) -> list[Resource]:
        from reconciler.kinds.plugin_live import read_catalog

        return list(await read_catalog(api, server, desired, every_entry))

    async def write(self, api: VaultApi, change: Change, endpoint: str) -> None:
        assert isinstance(change.after, Plugin)
        await api.register_plugin(change.after)

    async def delete(self, api: VaultApi, change: Change) -> None:
        key = change.plugin_key
        await api.delete_plugin(key)
        # Vault answers a delete with success even when nothing was removed: read it back.
        if await api.read_plugin(key) is not None:
            raise ReconcileError(
                f"DELETE of {key} answered success, but the entry is still in the catalog "
                "(another writer may have registered it again)"
            )

    async def current(self, api: VaultApi, changes: Sequence[Change]) -> list[Resource | None]:
        from reconciler.kinds.plugin_live import read_entries

        return list(await read_entries(api, [c.plugin_key for c in changes]))

    def fields_seen(self, change: Change) -> tuple[str, ...]:
        # Vault's prune candidates come from the list alone, without command and args (the
        # catalog read fetches entries in full only where the plan compares them).
        if isinstance(change.before, Plugin) and not change.before.command:
            return ("sha256", "oci_image", "runtime")
        return self.compared

    def label(self, change: Change) -> str:
        return str(change.plugin_key)

    def verb(self, action: Action) -> str:
        return {Action.CREATE: "register", Action.UPDATE: "update"}.get(action, "delete")

    def subject(self, change: Change) -> str:
        base = f"{change.type}/{change.name}"
        return f"{base} {change.version}" if change.version else f"{base} (unversioned)"

    def view(self, resource: Resource) -> dict[str, Any]:
        assert isinstance(resource, Plugin)
        data: dict[str, Any] = {
            "sha256": resource.sha256,
            "command": resource.command,
            "args": list(resource.args),
            "oci_image": resource.oci_image,
            "runtime": resource.runtime,
        }
        if resource.env is not None:
            data["env"] = dict.fromkeys(sorted(resource.env), "(sensitive)")
        return data


KIND = PluginKind()
