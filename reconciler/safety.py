"""Plan-time rules: plain functions over the whole plan's changes, each computed once.

They decide which reloads to add (`settings.reload: changed`), which the server cannot do
(skipped), which endpoint a reload uses, and which deletes are unsafe (blocked) or safe only if
apply re-reads the mounts first (recheck). plan.py turns their answers into steps.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from reconciler.kinds import Action, Change, Kind
from reconciler.kinds.reload import BACKEND, BY_NAME
from reconciler.live import Live
from reconciler.resources import Mount, PluginType, ServerInfo

PluginId = tuple[str, str]
"""(type, name): what pins and reloads are about."""


@dataclass(frozen=True)
class Moves:
    """Where the plan leaves the mounts: the version each will run, and the ones its reloads restart."""

    targets: Mapping[tuple[str, str], str]
    """(type, path) -> the version the mount runs after its next (re)start."""
    restarted: set[tuple[str, str]]
    """(type, path) of the mounts a reload of the plan restarts."""


def _type(mount: Mount) -> str:
    return PluginType.AUTH if mount.auth else PluginType.SECRET


def _key(mount: Mount) -> tuple[str, str]:
    return (_type(mount), mount.path)


@dataclass(frozen=True)
class Verdicts:
    """Per change index: why it is blocked or skipped, and the deletes apply must recheck."""

    blocked: dict[int, str]
    skipped: dict[int, str]
    recheck: frozenset[int]


def serves(mount: Mount, plugin_type: str, name: str) -> bool:
    """Does the mount run this plugin? Database plugins are not visible in sys/mounts."""
    return mount.plugin == name and mount.auth == (plugin_type == PluginType.AUTH) and plugin_type != "database"


def runs(mount: Mount, version: str) -> bool:
    """Does the mount run this version now (the unversioned entry: no version, but a sha256)?"""
    if version:
        return mount.running_plugin_version == version
    return mount.running_plugin_version == "" and mount.running_sha256 != ""


def pins_after(changes: Sequence[Change], live: Live) -> dict[PluginId, str]:
    """The pins the server will have once the plan ran."""
    pins = {(p.type.value, p.name): p.version for p in live.state.pins}
    for c in changes:
        if c.kind is Kind.PIN:
            if c.action is Action.DELETE:
                pins.pop((c.type, c.name), None)
            else:
                pins[(c.type, c.name)] = c.version
    return pins


def reloads(changes: Sequence[Change], mounts: Sequence[Mount], pinned: dict[PluginId, str]) -> list[Change]:
    """Reloads for moved pins, re-registered versions in use, and mounts not running their pin."""
    reasons: dict[PluginId, str] = {}
    for c in changes:
        if c.kind is Kind.PIN and c.action in (Action.CREATE, Action.UPDATE):
            reasons.setdefault((c.type, c.name), f"pin moved to {c.version}")
        elif c.kind is Kind.PLUGIN and c.action is Action.UPDATE:
            users = [m.path for m in mounts if serves(m, c.type, c.name) and runs(m, c.version)]
            if users:
                shown = c.version or "the unversioned entry"
                reasons.setdefault((c.type, c.name), f"{shown} re-registered while mounts run it: {', '.join(users)}")
    for (plugin_type, name), version in pinned.items():
        stale = [m.path for m in mounts if serves(m, plugin_type, name) and m.running_plugin_version != version]
        if stale:
            reasons.setdefault(
                (plugin_type, name), f"mounts still run another version than the pin {version}: {', '.join(stale)}"
            )
    return [Change(Kind.RELOAD, Action.RELOAD, t, name, reason=why) for (t, name), why in sorted(reasons.items())]


def reload_endpoint(server: ServerInfo) -> str:
    """Reload by type and name where the server can, else through `reload/backend`."""
    return BY_NAME if server.reload_by_name else BACKEND


def skipped_reloads(changes: Sequence[Change], server: ServerInfo) -> dict[int, str]:
    """Reloads the server cannot do: database plugins without reload by name."""
    if server.reload_by_name:
        return {}
    why = (
        f"{server.kind} {server.version} can only reload auth and secret plugins "
        "(sys/plugins/reload/backend); reload the database connections yourself"
    )
    return {i: why for i, c in enumerate(changes) if c.kind is Kind.RELOAD and c.type == PluginType.DATABASE}


def delete_verdicts(
    changes: Sequence[Change],
    live: Live,
    mounts: Sequence[Mount],
    skipped: dict[int, str],
    moves: Moves | None = None,
) -> Verdicts:
    """Blocked and recheck verdicts of every delete, from facts gathered once for the whole plan.

    `moves` says which version each mount will run and which mounts the plan's reloads restart
    (mount_rules.py); by default, its pin or configured version, and every mount of a reloaded plugin.
    """
    pinned = pins_after(changes, live)
    live_pins = {(p.type.value, p.name): p.version for p in live.state.pins}
    if moves is None:
        reloaded = {(c.type, c.name) for i, c in enumerate(changes) if c.kind is Kind.RELOAD and i not in skipped}
        moves = Moves(
            targets={_key(m): pinned.get((_type(m), m.plugin)) or m.plugin_version for m in mounts},
            restarted={_key(m) for m in mounts if (_type(m), m.plugin) in reloaded},
        )
    blocked: dict[int, str] = {}
    recheck: set[int] = set()
    for i, c in enumerate(changes):
        if c.action is not Action.DELETE:
            continue
        if c.kind is Kind.PLUGIN:
            verdict = _plugin_delete(c, pinned, live_pins, moves, mounts)
            if verdict is True:
                recheck.add(i)
            elif verdict:
                blocked[i] = verdict
    blocked |= referenced_runtimes(changes, live)
    return Verdicts(blocked=blocked, skipped=skipped, recheck=frozenset(recheck))


def _plugin_delete(
    change: Change,
    pinned: dict[PluginId, str],
    live_pins: dict[PluginId, str],
    moves: Moves,
    mounts: Sequence[Mount],
) -> str | bool:
    """A reason to block, True to recheck the mounts in apply, or "" (safe).

    A mount uses a version when it runs it now or will run it after its next (re)start. The delete
    is safe only if the same plan moves every such mount: its target is another version and a
    reload of the plan restarts it; apply then re-reads the mounts before deleting.
    """
    t, name, version = change.type, change.name, change.version
    pin = pinned.get((t, name))
    if live_pins.get((t, name)) == version and pin == version:
        return f"{version} is pinned and the plan keeps that pin"
    users = [
        m
        for m in mounts
        if serves(m, t, name) and (runs(m, version) or (version and moves.targets.get(_key(m)) == version))
    ]
    if not users:
        return ""
    stuck = [m for m in users if moves.targets.get(_key(m)) == version or _key(m) not in moves.restarted]
    if not stuck:
        return True
    shown = version or "the unversioned entry"
    return f"{shown} is in use by mounts: {', '.join(sorted(m.path for m in stuck))}"


def referenced_runtimes(changes: Sequence[Change], live: Live) -> dict[int, str]:
    """Runtime deletes that plugins still reference after the plan."""
    deleted = {c.plugin_key for c in changes if c.kind is Kind.PLUGIN and c.action is Action.DELETE}
    written = {c.plugin_key: c.after for c in changes if c.kind is Kind.PLUGIN and c.after is not None}
    uses: dict[str, list[str]] = {}
    for plugin in live.state.plugins:
        if plugin.key not in deleted:
            runtime = getattr(written.get(plugin.key, plugin), "runtime", "")
            uses.setdefault(runtime, []).append(str(plugin.key))
    for key, after in written.items():
        runtime = getattr(after, "runtime", "")
        if str(key) not in uses.get(runtime, []):
            uses.setdefault(runtime, []).append(str(key))
    blocked = {}
    for i, c in enumerate(changes):
        if c.kind is Kind.RUNTIME and c.action is Action.DELETE and uses.get(c.name):
            blocked[i] = f"runtime {c.name} is referenced by {', '.join(sorted(uses[c.name]))}"
    return blocked
