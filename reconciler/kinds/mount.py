"""Mounts: which plugin version a secrets or auth mount runs. Declared under `mounts:`.

reconcile manages only the plugin version of declared mounts: it tunes a mount's `plugin_version`
(apply phase "tune mounts", after pins, before reload) and enables a declared mount only when
`create: true`. It never disables a mount and never touches one that no manifest declares: prune
does not apply to mounts, since disabling a mount destroys its data. The reloads that make a tuned
mount run its version, and the in-use rules for deletes, are plan rules (mount_rules.py, safety.py).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Literal

from pydantic import Field, field_validator, model_validator

from reconciler.kinds.base import Action, Change, Defaults, Requirement, Resource
from reconciler.kinds.building import Builder, SourceDocument
from reconciler.kinds.fields import Doc, Name, Text, check_name
from reconciler.resources import Mount, PluginType, ServerInfo, State, normalize_version

if TYPE_CHECKING:
    from reconciler.targets.vault.api import VaultApi

LATEST = "latest"
"""OpenBao 2.7+: the mount runs the highest registered version, resolved at every (re)start."""
PINNED = "pinned"
"""Endpoint of an enable under a Vault pin: sent without a version (Vault refuses one), the pin runs."""
_RESERVED = {"secret": ("sys", "auth", "identity", "cubbyhole"), "auth": ("token",)}
"""First path segments the server keeps for itself (and `auth/`, where auth mounts live)."""


def mount_path(raw: str) -> str:
    """`team-a/kv`, `/team-a/kv/` -> `team-a/kv/`; ValueError for empty, `.`, `..` or `//` segments."""
    parts = raw.strip("/").split("/")
    if not raw.strip("/") or any(p in ("", ".", "..") for p in parts) or any(c.isspace() for c in raw):
        raise ValueError(f"path {raw!r} must be a mount path like 'team-a-kv/' (no spaces, empty, '.' or '..' parts)")
    return "/".join(parts) + "/"


def router_path(mount: Mount) -> str:
    """Where the mount answers: `team-a/` for secrets engines, `auth/ldap/` for auth methods."""
    return ("auth/" if mount.auth else "") + mount.path


def mount_type(mount: Mount) -> str:
    """The plugin type the mount runs: `auth` or `secret`."""
    return PluginType.AUTH if mount.auth else PluginType.SECRET


class MountDoc(Doc):
    """A secrets or auth mount and the plugin version it must run."""

    path: Text = Field(description="Mount path, e.g. 'team-a-kv/' (a trailing '/' is added when missing).")
    type: Literal["secret", "auth"] = Field(description="secret (sys/mounts) or auth (sys/auth).")
    plugin: Name = Field(description="The catalog name of a plugin declared under plugins: with this type.")
    plugin_version: Text = Field(
        description="A version declared for that plugin, or 'latest' (OpenBao 2.7+: the highest registered)."
    )
    create: bool = Field(
        default=False,
        description="Enable the mount when it does not exist (default false: a missing mount is a plan error).",
    )

    @field_validator("path")
    @classmethod
    def _path(cls, value: str) -> str:
        return mount_path(value)

    @field_validator("plugin")
    @classmethod
    def _plugin(cls, value: str) -> str:
        return check_name(value)

    @field_validator("plugin_version")
    @classmethod
    def _version(cls, value: str) -> str:
        if value == LATEST:
            return value
        if not value:
            raise ValueError("plugin_version must be a version declared for the plugin, or 'latest'")
        return normalize_version(value)

    @model_validator(mode="after")
    def _reserved(self) -> MountDoc:
        first = self.path.split("/")[0]
        if first in _RESERVED[self.type]:
            raise ValueError(f"path {self.path!r}: {first}/ is reserved by the server for its own {self.type} mounts")
        return self


class DeclaredMount(Mount):
    """A mount as the manifests declare it: its plugin and version, and whether plan may enable it."""

    create: bool = False


class MountKind(Defaults):
    """`sys/mounts` and `sys/auth`: tuned after pins, before reloads; enabled only with `create: true`."""

    key = "mount"
    plural = "mounts"
    section = "mounts"
    state_field = "mounts"
    create_rank = 3
    compared = ("plugin_version",)
    model = Mount

    def document_field(self) -> tuple[Any, Any]:
        return (list[MountDoc], Field(default_factory=list))

    def build(self, source: SourceDocument, builder: Builder) -> None:
        from reconciler.kinds import Kind

        for i, doc in enumerate(source.document.mounts):
            mount = DeclaredMount(
                path=doc.path,
                plugin=doc.plugin,
                auth=doc.type == "auth",
                plugin_version=doc.plugin_version,
                create=doc.create,
            )
            what = f"mount {doc.type} {doc.path} (one entry per path)"
            builder.add(Kind.MOUNT, self.identity(mount), mount, what, source, ("mounts", i))

    def check(self, builder: Builder, *, complete: bool) -> None:
        from reconciler.kinds import Kind
        from reconciler.resources import Plugin

        if not complete:
            return
        plugins = [p for p in builder.of(Kind.PLUGIN).values() if isinstance(p, Plugin)]
        types: dict[str, set[str]] = {}
        for p in plugins:
            types.setdefault(p.name, set()).add(p.type)
        versions = {(p.type.value, p.name, p.version) for p in plugins}
        for identity, mount in builder.of(Kind.MOUNT).items():
            assert isinstance(mount, DeclaredMount)
            problem = _reference_problem(mount, types, versions)
            if problem:
                builder.problem_at((Kind.MOUNT, identity), (problem[0],), problem[1])

    def identity(self, resource: Resource) -> tuple[str, str]:
        assert isinstance(resource, Mount)
        return (mount_type(resource), resource.path)

    def coordinates(self, resource: Resource) -> tuple[str, str, str]:
        assert isinstance(resource, Mount)
        return (mount_type(resource), resource.path, resource.plugin_version)

    def prunes(self, server: ServerInfo) -> bool:
        return False  # never: disabling a mount destroys its data

    def missing_reason(self) -> str:
        return "declared with create: true, not enabled on the server"

    def update_reason(self, live: Resource, fields: tuple[str, ...]) -> str:
        assert isinstance(live, Mount)
        return f"configured {live.plugin_version or 'without a version'} on the server"

    def requirements(self, state: State, server: ServerInfo) -> list[Requirement]:
        if _has_latest(server):
            return []
        mounts: Sequence[Mount] = getattr(state, "mounts", ())
        return [
            (self.identity(m), f"mount {router_path(m)}", 'plugin_version "latest"', "OpenBao 2.7+")
            for m in mounts
            if m.plugin_version == LATEST
        ]

    def conflict(self, want: Resource, have: Resource | None) -> str | None:
        assert isinstance(want, DeclaredMount)
        where = f"mount {router_path(want)}"
        if have is None:
            if want.create:
                return None
            return f"{where} does not exist on the server; set create: true to enable it"
        assert isinstance(have, Mount)
        if have.plugin != want.plugin:
            return (
                f"{where} is a mount of {have.plugin!r}, not {want.plugin!r}: reconcile never re-mounts "
                "(disabling a mount destroys its data)"
            )
        return None

    async def read(self, api: VaultApi, server: ServerInfo, desired: State, every_entry: bool) -> list[Resource]:
        if not getattr(desired, "mounts", ()):
            return []  # no request at all for manifests without mounts
        return await _every_mount(api)

    async def write(self, api: VaultApi, change: Change, endpoint: str) -> None:
        mount = change.after
        assert isinstance(mount, Mount)
        if change.action is Action.CREATE:
            await api.enable_mount(mount, "" if endpoint == PINNED else mount.plugin_version)
        else:
            await api.tune_mount(mount)

    async def delete(self, api: VaultApi, change: Change) -> None:  # pragma: no cover - never deleted
        raise NotImplementedError("reconcile never disables a mount")

    async def current(self, api: VaultApi, changes: Sequence[Change]) -> list[Resource | None]:
        by_key = {self.identity(m): m for m in await _every_mount(api)}
        return [by_key.get((c.type, c.name)) for c in changes]

    def label(self, change: Change) -> str:
        return f"mount {_shown_path(change)}"

    def verb(self, action: Action) -> str:
        return "enable" if action is Action.CREATE else "tune"

    def subject(self, change: Change) -> str:
        mount = change.after or change.before
        plugin = mount.plugin if isinstance(mount, Mount) else "?"
        text = f"mount {_shown_path(change)} of {change.type}/{plugin}"
        return f"{text} {change.version}" if change.action is Action.CREATE else text

    def view(self, resource: Resource) -> dict[str, Any]:
        assert isinstance(resource, Mount)
        data: dict[str, Any] = {"plugin": resource.plugin, "plugin_version": resource.plugin_version}
        if not isinstance(resource, DeclaredMount):
            data["running_plugin_version"] = resource.running_plugin_version
        return data

    def snapshot(self, resource: Resource, *, salt: str, live: bool) -> tuple[str, dict[str, Any]]:
        assert isinstance(resource, Mount)
        return f"{mount_type(resource)} mount {resource.path}", resource.model_dump(
            mode="json", exclude={"path", "auth"}
        )


async def _every_mount(api: VaultApi) -> list[Resource]:
    """The secrets and the auth mounts, read concurrently."""
    import asyncio  # not at import: `validate` loads the kinds and never runs them

    secrets, auth = await asyncio.gather(api.list_mounts(auth=False), api.list_mounts(auth=True))
    return [*secrets, *auth]


def _shown_path(change: Change) -> str:
    return ("auth/" if change.type == PluginType.AUTH else "") + change.name


def _has_latest(server: ServerInfo) -> bool:
    """`plugin_version: latest` is OpenBao's, from 2.7."""
    if server.kind != "openbao":
        return False
    parts = [int(p) if p.isdigit() else 0 for p in [*server.version.split("."), "0", "0"][:2]]
    return (parts[0], parts[1]) >= (2, 7)


def _reference_problem(
    mount: DeclaredMount, types: dict[str, set[str]], versions: set[tuple[str, str, str]]
) -> tuple[str, str] | None:
    """(field, why) when the mount's plugin or version is not one the manifests declare."""
    kind = mount_type(mount)
    if mount.plugin not in types:
        return ("plugin", f"plugin {kind}/{mount.plugin} is not declared under plugins:")
    if kind not in types[mount.plugin]:
        declared_as = "/".join(sorted(types[mount.plugin]))
        return ("plugin", f"plugin {mount.plugin} is declared as {declared_as}, but the mount has type {kind}")
    if mount.plugin_version != LATEST and (kind, mount.plugin, mount.plugin_version) not in versions:
        why = f"{mount.plugin_version} is not a version of {kind}/{mount.plugin} declared under plugins:"
        return ("plugin_version", why)
    return None


KIND = MountKind()
