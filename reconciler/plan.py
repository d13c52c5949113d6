"""build_plan(changes, live, settings) -> Plan. Pure.

Orders changes into fixed phases, adds reloads (`reload: changed`), and marks unsafe changes as
blocked using the live mounts, pins and catalog. The plan is the contract: apply runs exactly
these steps, phase by phase.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace

from reconciler.checks import Check
from reconciler.diff import Action, Change, Kind
from reconciler.live import Live
from reconciler.resources import TYPE_ORDER, Mount, PluginType, Settings, version_sort_key

FORMAT_VERSION = 1

PHASES: tuple[tuple[Kind, tuple[Action, ...]], ...] = (
    (Kind.RUNTIME, (Action.CREATE, Action.UPDATE)),
    (Kind.PLUGIN, (Action.CREATE, Action.UPDATE)),
    (Kind.PIN, (Action.CREATE, Action.UPDATE)),
    (Kind.RELOAD, (Action.RELOAD,)),
    (Kind.PIN, (Action.DELETE,)),
    (Kind.PLUGIN, (Action.DELETE,)),
    (Kind.RUNTIME, (Action.DELETE,)),
)
"""Apply order: register runtimes, register plugins, pin, reload, unpin, delete plugins, delete runtimes."""

PHASE_NAMES = (
    "register runtimes",
    "register plugins",
    "pin",
    "reload",
    "unpin",
    "delete plugins",
    "delete runtimes",
)


@dataclass(frozen=True)
class Target:
    """The server a plan was computed against."""

    address: str
    server: str
    version: str


@dataclass(frozen=True)
class Plan:
    """An ordered list of changes, in apply order."""

    target: Target
    changes: tuple[Change, ...]
    checks: tuple[Check, ...] = ()
    """Nomad CSI plugin checks (information for apply; drift when failing)."""
    unmanaged_csi: tuple[str, ...] = ()
    """Live CSI plugins no manifest declares (information only)."""
    unpruned: tuple[str, ...] = ()
    """With prune off: live entries no manifest declares, left in place (information only)."""

    @property
    def failing_checks(self) -> list[Check]:
        return [c for c in self.checks if not c.ok]

    @property
    def drifted(self) -> bool:
        """Changes to make, or expectations not met: what `--detailed-exitcode` and `drift` report."""
        return bool(self.changes) or bool(self.failing_checks)

    @property
    def summary(self) -> dict[str, int]:
        counts = Counter(c.action.value for c in self.changes)
        return {a.value: counts.get(a.value, 0) for a in Action}

    @property
    def deletions(self) -> int:
        return sum(1 for c in self.changes if c.action is Action.DELETE)

    @property
    def blocked(self) -> list[Change]:
        return [c for c in self.changes if c.blocked]

    def phases(self) -> list[list[Change]]:
        """Changes grouped by phase, in apply order (empty phases left out)."""
        groups: list[list[Change]] = [[] for _ in PHASES]
        for change in self.changes:
            groups[phase_of(change)].append(change)
        return [g for g in groups if g]


def phase_of(change: Change) -> int:
    for index, (kind, actions) in enumerate(PHASES):
        if change.kind is kind and change.action in actions:
            return index
    raise ValueError(f"no phase for {change.kind}/{change.action}")  # pragma: no cover


def sort_key(change: Change) -> tuple[int, int, str, tuple[object, ...]]:
    type_rank = TYPE_ORDER.get(PluginType(change.type), 0) if change.type in PluginType.__members__.values() else 0
    return (phase_of(change), type_rank, change.name, version_sort_key(change.version))


def needs_mounts(changes: Iterable[Change], settings: Settings, live: Live) -> bool:
    """Mounts are read only when a plan deletes plugin versions or may reload."""
    if settings.reload == "changed" and live.state.pins:
        return True  # a mount may still run a version other than its pin (an earlier reload failed)
    for c in changes:
        if c.kind is Kind.PLUGIN and c.action is Action.DELETE:
            return True
        if settings.reload == "changed" and (
            c.kind is Kind.PIN or (c.kind is Kind.PLUGIN and c.action is Action.UPDATE)
        ):
            return True
    return False


def build_plan(changes: Sequence[Change], live: Live, settings: Settings, address: str) -> Plan:
    """Order the changes, add reloads and safety verdicts."""
    mounts = live.mounts or ()
    all_changes = list(changes)
    if settings.reload == "changed":
        all_changes += _reloads(changes, mounts, live)
    checked = [_safety(c, all_changes, live, mounts) for c in all_changes]
    target = Target(address=address, server=live.server.kind, version=live.server.version)
    return Plan(target=target, changes=tuple(sorted(checked, key=sort_key)))


def _serves(mount: Mount, plugin_type: str, name: str) -> bool:
    """Does the mount run this plugin? Database plugins are not visible in sys/mounts."""
    return mount.plugin == name and mount.auth == (plugin_type == PluginType.AUTH) and plugin_type != "database"


def _runs(mount: Mount, version: str) -> bool:
    if version:
        return mount.running_plugin_version == version
    return mount.running_plugin_version == "" and mount.running_sha256 != ""


def _reloads(changes: Sequence[Change], mounts: Sequence[Mount], live: Live) -> list[Change]:
    reasons: dict[tuple[str, str], str] = {}
    for c in changes:
        if c.kind is Kind.PIN and c.action in (Action.CREATE, Action.UPDATE):
            reasons.setdefault((c.type, c.name), f"pin moved to {c.version}")
        elif c.kind is Kind.PLUGIN and c.action is Action.UPDATE:
            users = [m.path for m in mounts if _serves(m, c.type, c.name) and _runs(m, c.version)]
            if users:
                shown = c.version or "the unversioned entry"
                reasons.setdefault((c.type, c.name), f"{shown} re-registered while mounts run it: {', '.join(users)}")
    for (plugin_type, name), pinned in _pins_after(changes, live).items():
        stale = [m.path for m in mounts if _serves(m, plugin_type, name) and m.running_plugin_version != pinned]
        if stale:
            reasons.setdefault(
                (plugin_type, name), f"mounts still run another version than the pin {pinned}: {', '.join(stale)}"
            )
    server = live.server
    reloads = []
    for (plugin_type, name), reason in sorted(reasons.items()):
        skipped = None
        if not server.reload_by_name and plugin_type == PluginType.DATABASE:
            skipped = (
                f"{server.kind} {server.version} can only reload auth and secret plugins "
                "(sys/plugins/reload/backend); reload the database connections yourself"
            )
        reloads.append(Change(Kind.RELOAD, Action.RELOAD, plugin_type, name, reason=reason, skipped=skipped))
    return reloads


def _safety(change: Change, changes: Sequence[Change], live: Live, mounts: Sequence[Mount]) -> Change:
    if change.action is not Action.DELETE:
        return change
    if change.kind is Kind.PLUGIN:
        return _plugin_delete_safety(change, changes, live, mounts)
    if change.kind is Kind.RUNTIME:
        return _runtime_delete_safety(change, changes, live)
    return change


def _plugin_delete_safety(change: Change, changes: Sequence[Change], live: Live, mounts: Sequence[Mount]) -> Change:
    t, name, version = change.type, change.name, change.version
    pins_after = _pins_after(changes, live)
    pinned = pins_after.get((t, name))
    live_pin = next((p for p in live.state.pins if p.type == t and p.name == name), None)
    if live_pin is not None and live_pin.version == version and pinned == version:
        return replace(change, blocked=f"{version} is pinned and the plan keeps that pin")
    users = sorted(
        m.path
        for m in mounts
        if _serves(m, t, name) and (_runs(m, version) or ((pinned or m.plugin_version) == version and version))
    )
    if not users:
        return change
    repinned = pinned is not None and pinned != version
    reloaded = any(c.kind is Kind.RELOAD and c.type == t and c.name == name and not c.skipped for c in changes)
    if repinned and reloaded:
        return replace(change, recheck_mounts=True)
    shown = version or "the unversioned entry"
    return replace(change, blocked=f"{shown} is in use by mounts: {', '.join(users)}")


def _pins_after(changes: Sequence[Change], live: Live) -> dict[tuple[str, str], str]:
    pins = {(p.type.value, p.name): p.version for p in live.state.pins}
    for c in changes:
        if c.kind is Kind.PIN:
            if c.action is Action.DELETE:
                pins.pop((c.type, c.name), None)
            else:
                pins[(c.type, c.name)] = c.version
    return pins


def _runtime_delete_safety(change: Change, changes: Sequence[Change], live: Live) -> Change:
    deleted = {c.plugin_key for c in changes if c.kind is Kind.PLUGIN and c.action is Action.DELETE}
    written = {c.plugin_key: c.after for c in changes if c.kind is Kind.PLUGIN and c.after is not None}
    users = []
    for plugin in live.state.plugins:
        if plugin.key in deleted:
            continue
        after = written.get(plugin.key, plugin)
        if getattr(after, "runtime", "") == change.name:
            users.append(str(plugin.key))
    users += [str(k) for k, p in written.items() if getattr(p, "runtime", "") == change.name and str(k) not in users]
    if users:
        return replace(change, blocked=f"runtime {change.name} is referenced by {', '.join(sorted(users))}")
    return change
