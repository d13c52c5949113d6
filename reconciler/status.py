"""`reconcile status`: a read-only inventory of the plugins and the mounts that run them (issue 14).

Per plugin: the versions registered (declared in the manifests or not), declared versions missing
from the catalog, and the pin. Per mount of a plugin: the configured `plugin_version`, the
`running_plugin_version` and `running_sha256`, and a verdict. `drift` reports the same mismatches.

`running_plugin_version` alone is not trusted: after a failed reload it still names the version
that ran before, while nothing runs (docs/plugin-behaviour.md). So every mount of an external plugin
is also read once at its root: the server itself answers 404 `backend is nil` for such a mount.

`inventory` is pure; `read_status` does the reads (GET only: catalog list, pins, mounts, one read
per external mount).
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING

from reconciler.kinds.mount import LATEST, DeclaredMount, mount_type, router_path
from reconciler.mount_rules import highest
from reconciler.plan import Target
from reconciler.resources import TYPE_ORDER, Mount, Pin, Plugin, PluginType, State, version_sort_key

if TYPE_CHECKING:
    from reconciler.targets.vault.api import VaultApi


class Verdict(StrEnum):
    """What a mount's state means, the first that applies in this order."""

    NOT_ENABLED = "not enabled"
    """Declared in the manifests, missing on the server."""
    PLUGIN_MISSING = "plugin missing from the catalog"
    """No catalog entry of that name and type: the mount cannot start again (OpenBao #3707)."""
    NOT_RUNNING = "not running"
    """The server says no backend serves the mount (a reload failed); running_plugin_version is stale."""
    NEEDS_RELOAD = "needs reload"
    """It runs another version than its pin or configuration says; the next reload moves it."""
    DIFFERS = "differs from the manifests"
    """Configured with another version than the manifests declare (plan tunes it)."""
    NOT_DECLARED = "runs a version not in the manifests"
    """The version it runs is not declared for its plugin (or the plugin is not declared at all)."""
    OK = "ok"


DRIFT = (Verdict.PLUGIN_MISSING, Verdict.NOT_RUNNING, Verdict.NEEDS_RELOAD, Verdict.NOT_DECLARED)
"""The verdicts `drift` reports as mounts that differ; the others are plan changes or plan errors."""


@dataclass(frozen=True)
class MountStatus:
    """One mount of a plugin, as the server has it, and what the manifests and pins want of it."""

    path: str
    """Router path: `team-a/`, `auth/ldap/`."""
    type: str
    plugin: str
    plugin_version: str
    """Configured (`latest` stays literal); "" when not enabled."""
    running_plugin_version: str
    running_sha256: str
    declared: str | None
    """The version the manifests declare for this mount; None for an undeclared mount."""
    pinned: str | None
    expected: str
    """The version it should run: the pin, else its configured version (`latest` resolved)."""
    verdict: Verdict
    detail: str


@dataclass(frozen=True)
class VersionStatus:
    """One version of a plugin: registered on the server, declared in the manifests, or both."""

    version: str
    sha256: str
    registered: bool
    declared: bool


@dataclass(frozen=True)
class PluginStatus:
    type: str
    name: str
    versions: tuple[VersionStatus, ...]
    pinned: str | None
    mounts: tuple[MountStatus, ...]


@dataclass(frozen=True)
class Inventory:
    """The whole status: every external or declared plugin, and the mounts of each."""

    target: Target
    plugins: tuple[PluginStatus, ...]

    @property
    def mounts(self) -> list[MountStatus]:
        return [m for p in self.plugins for m in p.mounts]

    @property
    def mismatches(self) -> list[MountStatus]:
        """What `drift` reports: mounts that do not run what they should, or a declared version."""
        return [m for m in self.mounts if m.verdict in DRIFT]

    def counts(self) -> dict[str, int]:
        """Mounts per verdict, every verdict listed."""
        counts = {v.value: 0 for v in Verdict}
        for m in self.mounts:
            counts[m.verdict.value] += 1
        return counts


@dataclass(frozen=True)
class _Facts:
    catalog: dict[tuple[str, str], dict[str, Plugin]]
    declared: dict[tuple[str, str], dict[str, Plugin]]
    pins: dict[tuple[str, str], str]
    nil: frozenset[str]


def inventory(
    desired: State,
    target: Target,
    catalog: Sequence[Plugin],
    pins: Sequence[Pin],
    mounts: Sequence[Mount],
    not_running: frozenset[str] = frozenset(),
) -> Inventory:
    """The inventory from what was read; `not_running`: router paths the server says have no backend."""
    facts = _Facts(_by_plugin(p for p in catalog if not p.builtin), _by_plugin(desired.plugins), {}, not_running)
    facts.pins.update({(p.type.value, p.name): p.version for p in pins})
    builtins = {(p.type.value, p.name) for p in catalog if p.builtin}
    declared_mounts: dict[tuple[str, str], DeclaredMount] = {
        (mount_type(m), m.path): m for m in getattr(desired, "mounts", ())
    }
    live = {(mount_type(m), m.path): m for m in mounts}
    rows: dict[tuple[str, str], list[MountStatus]] = {}
    for key in sorted(live.keys() | declared_mounts.keys()):
        mount = live.get(key) or declared_mounts[key]
        plugin = (mount_type(mount), mount.plugin)
        builtin = plugin in builtins or _builtin_running(mount)
        if builtin and key not in declared_mounts and plugin not in facts.catalog:
            continue  # builtin and core mounts (kv, token, sys...) are not plugins reconcile manages
        rows.setdefault(plugin, []).append(_mount_status(mount, declared_mounts.get(key), key in live, facts))
    names = sorted(rows.keys() | facts.catalog.keys() | facts.declared.keys(), key=_plugin_order)
    plugins = tuple(_plugin_status(t, n, facts, tuple(rows.get((t, n), ()))) for t, n in names)
    return Inventory(target=target, plugins=plugins)


def _plugin_order(plugin: tuple[str, str]) -> tuple[int, str]:
    return (TYPE_ORDER[PluginType(plugin[0])], plugin[1])


def _by_plugin(plugins: Iterable[Plugin]) -> dict[tuple[str, str], dict[str, Plugin]]:
    found: dict[tuple[str, str], dict[str, Plugin]] = {}
    for p in plugins:
        found.setdefault((p.type.value, p.name), {})[p.version] = p
    return found


def _builtin_running(mount: Mount) -> bool:
    """A mount the server runs itself (sys, token, kv...): a builtin running version, no sha256."""
    return "+builtin" in mount.running_plugin_version and not mount.running_sha256


def _plugin_status(plugin_type: str, name: str, facts: _Facts, mounts: tuple[MountStatus, ...]) -> PluginStatus:
    registered = facts.catalog.get((plugin_type, name), {})
    declared = facts.declared.get((plugin_type, name), {})
    versions = tuple(
        VersionStatus(
            version=v,
            sha256=(registered.get(v) or declared[v]).sha256,
            registered=v in registered,
            declared=v in declared,
        )
        for v in sorted(registered.keys() | declared.keys(), key=version_sort_key)
    )
    return PluginStatus(plugin_type, name, versions, facts.pins.get((plugin_type, name)), mounts)


def _mount_status(mount: Mount, declared: DeclaredMount | None, enabled: bool, facts: _Facts) -> MountStatus:
    plugin = (mount_type(mount), mount.plugin)
    pin = facts.pins.get(plugin)
    registered = facts.catalog.get(plugin, {})
    configured = mount.plugin_version if enabled else ""
    expected = pin or (highest(registered) if configured == LATEST else configured)
    verdict, detail = _verdict(mount, declared, enabled, expected, facts)
    return MountStatus(
        path=router_path(mount),
        type=plugin[0],
        plugin=mount.plugin,
        plugin_version=configured,
        running_plugin_version=mount.running_plugin_version if enabled else "",
        running_sha256=mount.running_sha256 if enabled else "",
        declared=declared.plugin_version if declared else None,
        pinned=pin,
        expected=expected,
        verdict=verdict,
        detail=detail,
    )


def _verdict(
    mount: Mount, declared: DeclaredMount | None, enabled: bool, expected: str, facts: _Facts
) -> tuple[Verdict, str]:
    plugin = (mount_type(mount), mount.plugin)
    running = mount.running_plugin_version or "unversioned"
    declared_versions = facts.declared.get(plugin, {})
    if not enabled:
        return Verdict.NOT_ENABLED, "declared in the manifests, not enabled on the server"
    if plugin not in facts.catalog:
        return Verdict.PLUGIN_MISSING, f"no {plugin[0]} plugin {mount.plugin!r} in the catalog: it cannot start again"
    if router_path(mount) in facts.nil:
        return Verdict.NOT_RUNNING, f"no backend serves it (a reload failed); sys/mounts still says {running}"
    if expected and mount.running_plugin_version != expected:
        why = "pinned to" if facts.pins.get(plugin) else "configured"
        return Verdict.NEEDS_RELOAD, f"runs {running}, {why} {expected}"
    if declared and declared.plugin_version not in (mount.plugin_version, facts.pins.get(plugin)):
        configured = mount.plugin_version or "without a version"
        return Verdict.DIFFERS, f"configured {configured}, manifests say {declared.plugin_version}"
    if mount.running_plugin_version not in declared_versions:
        if not declared_versions:
            return Verdict.NOT_DECLARED, f"runs {running}; {plugin[0]}/{mount.plugin} is not in the manifests"
        return Verdict.NOT_DECLARED, f"runs {running}, not declared for {plugin[0]}/{mount.plugin}"
    return Verdict.OK, f"runs {running}"


async def read_status(api: VaultApi, desired: State, address: str) -> Inventory:
    """Read what the inventory needs (GET only) and build it."""
    server = await api.server_info()
    entries, pins, secrets, auth = await asyncio.gather(
        api.list_catalog(),
        api.list_pins() if server.pins else _nothing(),
        api.list_mounts(auth=False),
        api.list_mounts(auth=True),
    )
    catalog = [
        Plugin(type=PluginType(e.type), name=e.name, version=e.version, sha256=e.sha256.lower(), builtin=e.builtin)
        for e in entries
        if e.type in PluginType.__members__.values()
    ]
    mounts = [*secrets, *auth]
    target = Target(address=address, server=server.kind, version=server.version)
    probed = [m for m in mounts if m.running_sha256]  # external plugins: only they can lose their process
    missing = await asyncio.gather(*(api.backend_missing(router_path(m)) for m in probed))
    nil = frozenset(router_path(m) for m, gone in zip(probed, missing, strict=True) if gone)
    return inventory(desired, target, catalog, pins, mounts, nil)


async def _nothing() -> list[Pin]:
    return []
