"""Frozen models shared by the desired state (from manifests) and the live state (from the server).

Every stage after the loader speaks in these types. Identity is a key tuple (reconciler/kinds says
which, per kind); everything else is compared field by field in `diff`.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Literal, NamedTuple

import semver
from pydantic import BaseModel, ConfigDict, SecretStr


class PluginType(StrEnum):
    """The catalog's plugin types, in the order Vault sorts them."""

    AUTH = "auth"
    DATABASE = "database"
    SECRET = "secret"


TYPE_ORDER = {PluginType.AUTH: 0, PluginType.DATABASE: 1, PluginType.SECRET: 2}


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class PluginKey(NamedTuple):
    """A catalog entry's identity. `version` is normalised (`v1.2.3`) or "" for the unversioned entry."""

    type: PluginType
    name: str
    version: str

    def __str__(self) -> str:
        return f"{self.type}/{self.name}" + (f" {self.version}" if self.version else " (unversioned)")


class Plugin(_Frozen):
    """One catalog entry: a (type, name, version) and how to run it."""

    type: PluginType
    name: str
    version: str = ""
    """Normalised `vX.Y.Z[-pre][+build]`, or "" for the unversioned entry."""
    sha256: str = ""
    """Lower-case hex digest of the binary (or OCI image)."""
    command: str = ""
    """Command relative to the server's plugin directory (entrypoint for OCI plugins)."""
    args: tuple[str, ...] = ()
    env: dict[str, SecretStr] | None = None
    """Environment for the plugin process. None when unknown: the API never returns it."""
    oci_image: str = ""
    runtime: str = ""
    builtin: bool = False
    """Synthesised by the server; never written, changed or pruned."""
    declarative: bool = False
    """OpenBao: declared in server configuration; writing over it breaks the next unseal."""

    @property
    def key(self) -> PluginKey:
        return PluginKey(self.type, self.name, self.version)


class Runtime(_Frozen):
    """A container plugin runtime (Vault 1.15+)."""

    type: Literal["container"] = "container"
    name: str
    oci_runtime: str = "runsc"
    cgroup_parent: str = ""
    cpu_nanos: int = 0
    memory_bytes: int = 0
    rootless: bool = False

    @property
    def key(self) -> tuple[str, str]:
        return (self.type, self.name)


class Pin(_Frozen):
    """The version a plugin is pinned to (Vault 1.16+)."""

    type: PluginType
    name: str
    version: str

    @property
    def key(self) -> tuple[PluginType, str]:
        return (self.type, self.name)


class Mount(_Frozen):
    """A secrets or auth mount that runs a plugin, as `sys/mounts` and `sys/auth` show it."""

    path: str
    plugin: str
    """The plugin name (the mount's `type`)."""
    auth: bool = False
    plugin_version: str = ""
    running_plugin_version: str = ""
    running_sha256: str = ""


class CsiPlugin(_Frozen):
    """A Nomad CSI plugin the cluster must run healthy."""

    id: str
    provider: str | None = None
    version: str | None = None
    controllers_healthy: int | None = None
    nodes_healthy: int | None = None
    controller_required: bool | None = None


class LockSettings(_Frozen):
    """Where `apply` takes its lock: one key of a KV version 2 mount (`settings.lock`)."""

    kv_mount: str
    key: str = "reconcile/lock"
    ttl: str = "15m"
    """A duration (`15m`, `1h30m`): an older lock is taken over, with a warning."""


class Settings(_Frozen):
    """Run-wide settings from the manifests' `settings:` block."""

    prune: bool = True
    """Delete live entries that no manifest declares (never builtin or ignored ones)."""
    ignore: tuple[str, ...] = ()
    """`type/name` globs that reconcile never plans for."""
    reload: Literal["none", "changed"] = "none"
    max_deletes: int | None = None
    lock: LockSettings | None = None
    """Opt-in: `apply` holds this lock while it reads and writes, so applies cannot overlap."""


class ServerInfo(_Frozen):
    """Which product answers at the address, and what it supports."""

    kind: Literal["vault", "openbao"]
    version: str
    pins: bool = False
    runtimes: bool = False
    reload_by_name: bool = False


class State(_Frozen):
    """What the manifests want, or what the server has: the objects of each kind, and settings.

    Each kind (reconciler/kinds) names its attribute (`state_field`); `kinds.keyed` gives them by
    identity. Kinds registered after these four keep their objects as extra attributes.
    """

    model_config = ConfigDict(frozen=True, extra="allow")

    plugins: tuple[Plugin, ...] = ()
    runtimes: tuple[Runtime, ...] = ()
    pins: tuple[Pin, ...] = ()
    csi_plugins: tuple[CsiPlugin, ...] = ()
    settings: Settings = Settings()


def normalize_version(raw: str) -> str:
    """`1.4.2` and `v1.4.2` -> `v1.4.2`; "" stays "". Raises ValueError for anything else."""
    if raw == "":
        return ""
    text = raw[1:] if raw.startswith("v") else raw
    try:
        if not text.isprintable():  # semver's pattern ends in `$`, which lets "1.0.0\n" through
            raise ValueError
        parsed = semver.Version.parse(text)
    except ValueError:
        raise ValueError(
            f"version {raw!r} is not a valid semantic version (MAJOR.MINOR.PATCH[-PRERELEASE][+BUILD])"
        ) from None
    if parsed.build and "builtin" in parsed.build.split("."):
        raise ValueError(f"version {raw!r} uses the reserved build metadata 'builtin'")
    return "v" + str(parsed)


def version_sort_key(version: str) -> tuple[int, semver.Version, str]:
    """Semver order with the unversioned entry first; unparsable versions (opaque live ones) last."""
    if version == "":
        return (0, semver.Version(0), "")
    try:
        return (1, semver.Version.parse(version.removeprefix("v")), version)
    except ValueError:
        return (2, semver.Version(0), version)


def plugin_sort_key(key: PluginKey) -> tuple[int, str, tuple[int, semver.Version, str]]:
    """Deterministic order of catalog entries: type, name, then version."""
    return (TYPE_ORDER[key.type], key.name, version_sort_key(key.version))
