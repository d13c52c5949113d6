"""Plan rules for declared mounts (issue 14). Pure: functions over the plan's changes and live state.

A tune changes only the mount entry; the running process keeps its version until a reload
(docs/plugin-behaviour.md). So plan:
- works out which version every mount will run once the plan ran (`targets`): a Vault pin wins,
  else the mount's configured version as the plan leaves it, where `latest` resolves to the highest
  version the catalog will then hold (including a broken one: OpenBao does the same);
- reloads the declared mounts that will not run that version (or not its declared build) after
  the "tune mounts" phase (`reloads`); `reload/backend` with just those mounts, by name on Vault 1.16+;
- on Vault, where a pin decides what every mount runs and a tune of `plugin_version` is refused
  while the plugin is pinned, drops tunes of pinned plugins, enables pinned mounts without a
  version, and notes each declared version that differs from the pin (`under_pins`).
Undeclared mounts are never tuned or reloaded by these rules.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from reconciler.kinds import Action, Change, Kind
from reconciler.kinds.mount import LATEST, PINNED, DeclaredMount, mount_type, router_path
from reconciler.kinds.reload import BY_NAME, ReloadMounts
from reconciler.live import Live
from reconciler.resources import Mount, Plugin, State, version_sort_key

PluginId = tuple[str, str]
"""(type, name) of a plugin."""
MountKey = tuple[str, str]
"""(type, path) of a mount: `("secret", "team-a/")`; the mount kind's identity."""


@dataclass(frozen=True)
class PinnedMounts:
    """The changes after the pin rules, the notes for the plan, and the enables to send without a version."""

    changes: list[Change]
    notes: tuple[str, ...]
    unversioned_enables: frozenset[MountKey]


def key(mount: Mount) -> MountKey:
    return (mount_type(mount), mount.path)


def declared_mounts(desired: State | None) -> tuple[DeclaredMount, ...]:
    """The mounts the manifests declare (none without desired state)."""
    return tuple(getattr(desired, "mounts", ()) or ())


def catalog_after(changes: Sequence[Change], live: Live) -> dict[PluginId, set[str]]:
    """The versions of each plugin the catalog will hold once the plan ran."""
    versions: dict[PluginId, set[str]] = {}
    for p in live.state.plugins:
        versions.setdefault((p.type.value, p.name), set()).add(p.version)
    for c in changes:
        if c.kind is Kind.PLUGIN and c.action is Action.DELETE:
            versions.get((c.type, c.name), set()).discard(c.version)
        elif c.kind is Kind.PLUGIN:
            versions.setdefault((c.type, c.name), set()).add(c.version)
    return versions


def highest(versions: Iterable[str]) -> str:
    """The highest semantic version (what `latest` resolves to), "" when there is none."""
    found = [v for v in versions if v and version_sort_key(v)[0] == 1]
    return max(found, key=version_sort_key) if found else ""


def targets(
    changes: Sequence[Change],
    mounts: Sequence[Mount],
    pinned: Mapping[PluginId, str],
    catalog: dict[PluginId, set[str]],
) -> dict[MountKey, str]:
    """The version each mount runs after its next (re)start, once the plan ran."""
    tuned = {(c.type, c.name): c.version for c in changes if c.kind is Kind.MOUNT and c.action is Action.UPDATE}
    found = {}
    for m in mounts:
        plugin = (mount_type(m), m.plugin)
        configured = tuned.get(key(m), m.plugin_version)
        if plugin in pinned:
            found[key(m)] = pinned[plugin]
        elif configured == LATEST:
            found[key(m)] = highest(catalog.get(plugin, ()))
        else:
            found[key(m)] = configured
    return found


def under_pins(
    changes: Sequence[Change], declared: Sequence[DeclaredMount], pinned: Mapping[PluginId, str]
) -> PinnedMounts:
    """Vault pins decide what mounts run, and Vault refuses a mount version while a pin is in effect."""
    if not pinned:
        return PinnedMounts(list(changes), (), frozenset())
    kept: list[Change] = []
    unversioned: set[MountKey] = set()
    for c in changes:
        pin = pinned.get((c.type, getattr(c.after, "plugin", ""))) if c.kind is Kind.MOUNT else None
        if pin is None:
            kept.append(c)
        elif c.action is Action.CREATE:
            assert isinstance(c.after, DeclaredMount)
            after = c.after.model_copy(update={"plugin_version": pin})
            kept.append(Change(c.kind, c.action, c.type, c.name, pin, after=after, reason=f"{c.reason}; pinned"))
            unversioned.add((c.type, c.name))
        # a tune of a pinned plugin is left out: the pin decides, and Vault would refuse it
    notes = [
        f"mount {router_path(m)} declares {m.plugin_version}, but {mount_type(m)}/{m.plugin} is pinned to {pin}: "
        f"the pin decides what it runs (Vault refuses a mount version while a pin is in effect); "
        f"declare {pin} or remove the pin"
        for m in declared
        if (pin := pinned.get((mount_type(m), m.plugin))) is not None and m.plugin_version != pin
    ]
    return PinnedMounts(kept, tuple(notes), frozenset(unversioned))


def reloads(
    changes: Sequence[Change],
    declared: Sequence[DeclaredMount],
    mounts: Sequence[Mount],
    running: Mapping[MountKey, str],
    builds: Mapping[tuple[str, str, str], str],
) -> list[Change]:
    """Reloads of the declared mounts the plan tunes, and of those that do not run their target
    version (or its declared build).

    `running`: each mount's target (`targets`); `builds`: (type, name, version) -> declared sha256.
    A tuned mount is reloaded even when `running_plugin_version` already shows its target: after a
    failed reload that field is stale and nothing runs (docs/plugin-behaviour.md). Mounts the plan
    enables start on their version and need none.
    """
    tuned = {(c.type, c.name) for c in changes if c.kind is Kind.MOUNT and c.action is Action.UPDATE}
    live = {key(m): m for m in mounts}
    moves: dict[PluginId, list[tuple[str, str]]] = {}
    for d in declared:
        m = live.get(key(d))
        if m is None:
            continue
        target = running[key(m)]
        sha = builds.get((mount_type(m), m.plugin, target), "")
        if m.running_plugin_version != target:
            why = f"{m.running_plugin_version or 'unversioned'} -> {target}"
        elif key(m) in tuned:
            why = f"tuned, restart on {target}"
        elif sha and m.running_sha256 and m.running_sha256 != sha:
            why = f"{target} sha256 {_short(m.running_sha256)} -> {_short(sha)}"
        else:
            continue
        moves.setdefault((mount_type(m), m.plugin), []).append((router_path(m), why))
    return [
        Change(
            Kind.RELOAD,
            Action.RELOAD,
            t,
            name,
            after=ReloadMounts(mounts=tuple(path for path, _ in sorted(moved))),
            reason="declared mounts must run their version: " + _listed([f"{p} {w}" for p, w in sorted(moved)]),
        )
        for (t, name), moved in sorted(moves.items())
    ]


def builds(desired: State | None) -> dict[tuple[str, str, str], str]:
    """(type, name, version) -> sha256 of every declared plugin version."""
    plugins: Sequence[Plugin] = desired.plugins if desired is not None else ()
    return {(p.type.value, p.name, p.version): p.sha256 for p in plugins}


def merge(plugin_wide: Sequence[Change], mount_driven: Sequence[Change]) -> list[Change]:
    """One reload per plugin: a plugin-wide reload covers the declared mounts too (reasons joined)."""
    merged = {(c.type, c.name): c for c in mount_driven}
    for c in plugin_wide:
        other = merged.get((c.type, c.name))
        reason = f"{c.reason}; {other.reason}" if other else c.reason
        merged[(c.type, c.name)] = Change(Kind.RELOAD, Action.RELOAD, c.type, c.name, reason=reason)
    return [merged[k] for k in sorted(merged)]


def covered(reload_changes: Iterable[Change], mounts: Sequence[Mount], endpoint: str) -> set[MountKey]:
    """The mounts the given (not skipped) reloads restart."""
    found: set[MountKey] = set()
    for c in reload_changes:
        only = c.after.mounts if isinstance(c.after, ReloadMounts) and endpoint != BY_NAME else None
        for m in mounts:
            if (mount_type(m), m.plugin) == (c.type, c.name) and (only is None or router_path(m) in only):
                found.add(key(m))
    return found


def endpoint_of(change: Change, reload_endpoint: str, unversioned: frozenset[MountKey]) -> str:
    """The API variant apply calls for `change` (reloads: by name or backend; pinned enables)."""
    if change.kind is Kind.RELOAD:
        return reload_endpoint
    if change.kind is Kind.MOUNT and (change.type, change.name) in unversioned:
        return PINNED
    return ""


SHOWN = 5
"""A reload's reason names this many mounts (its `after.mounts` lists them all)."""


def _listed(items: list[str]) -> str:
    more = len(items) - SHOWN
    return ", ".join(items[:SHOWN]) + (f" and {more} more" if more > 0 else "")


def _short(sha: str) -> str:
    return f"{sha[:8]}…{sha[-4:]}"
