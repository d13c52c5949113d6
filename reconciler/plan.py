"""build_plan(changes, live, settings) -> Plan. Pure.

Diff says what differs; the plan says what to do. Each change becomes a `Step` with its apply
phase (the kind's rank), its verdict (blocked, skipped, recheck the mounts) and, for reloads, the
endpoint to call; reloads are added here (`reload: changed`, and for declared mounts that must move
to their version). The rules are plain functions over the whole plan (safety.py, mount_rules.py).
The plan is the contract: apply runs exactly these steps, phase by phase.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from reconciler import mount_rules, safety
from reconciler.checks import Check
from reconciler.kinds import Action, Change, Kind, phase_of
from reconciler.live import Live
from reconciler.resources import TYPE_ORDER, PluginType, Settings, State, version_sort_key

FORMAT_VERSION = 1


@dataclass(frozen=True)
class Target:
    """The server a plan was computed against."""

    address: str
    server: str
    version: str


@dataclass(frozen=True)
class Step:
    """One change and what plan decided about it. Reads like its change (kind, action, name...)."""

    change: Change
    phase: int
    """The kind's phase rank for this action: lower phases run first."""
    blocked: str | None = None
    """Why applying this change is unsafe; apply refuses a plan with blocked steps unless --force."""
    skipped: str | None = None
    """Why apply will not perform this change (a reload the server cannot do)."""
    recheck_mounts: bool = False
    """A delete of a version mounts run before a reload in the same plan: apply re-reads mounts first."""
    endpoint: str = ""
    """The API variant apply calls (reloads: `by_name` or `backend`; `pinned` enables); "" for the kind's only one."""

    @property
    def kind(self) -> Kind:
        return self.change.kind

    @property
    def action(self) -> Action:
        return self.change.action

    @property
    def type(self) -> str:
        return self.change.type

    @property
    def name(self) -> str:
        return self.change.name

    @property
    def version(self) -> str:
        return self.change.version

    @property
    def before(self) -> Any:
        return self.change.before

    @property
    def after(self) -> Any:
        return self.change.after

    @property
    def fields(self) -> tuple[str, ...]:
        return self.change.fields

    @property
    def reason(self) -> str:
        return self.change.reason

    @property
    def plugin_key(self) -> Any:
        return self.change.plugin_key


@dataclass(frozen=True)
class Plan:
    """An ordered list of steps, in apply order."""

    target: Target
    steps: tuple[Step, ...]
    checks: tuple[Check, ...] = ()
    """Nomad CSI plugin checks (information for apply; drift when failing)."""
    unmanaged_csi: tuple[str, ...] = ()
    """Live CSI plugins no manifest declares (information only)."""
    unpruned: tuple[str, ...] = ()
    """With prune off: live entries no manifest declares, left in place (information only)."""
    notes: tuple[str, ...] = ()
    """What the plan cannot change but the reader should know (a declared mount version a Vault pin overrides)."""

    @property
    def changes(self) -> tuple[Step, ...]:
        """The steps, under the name the JSON output gives them."""
        return self.steps

    @property
    def failing_checks(self) -> list[Check]:
        return [c for c in self.checks if not c.ok]

    @property
    def drifted(self) -> bool:
        """Changes to make, or expectations not met: what `--detailed-exitcode` and `drift` report."""
        return bool(self.steps) or bool(self.failing_checks)

    @property
    def summary(self) -> dict[str, int]:
        counts = Counter(s.action.value for s in self.steps)
        return {a.value: counts.get(a.value, 0) for a in Action}

    @property
    def deletions(self) -> int:
        return sum(1 for s in self.steps if s.action is Action.DELETE)

    @property
    def blocked(self) -> list[Step]:
        return [s for s in self.steps if s.blocked]

    def phases(self) -> list[list[Step]]:
        """Steps grouped by phase, in apply order (empty phases left out)."""
        groups: dict[int, list[Step]] = {}
        for step in self.steps:
            groups.setdefault(step.phase, []).append(step)
        return [groups[p] for p in sorted(groups)]


def sort_key(step: Step) -> tuple[int, int, str, tuple[object, ...]]:
    """Phase, then plugin type, then name, then semver."""
    type_rank = TYPE_ORDER.get(PluginType(step.type), 0) if step.type in PluginType.__members__.values() else 0
    return (step.phase, type_rank, step.name, version_sort_key(step.version))


def needs_mounts(changes: Iterable[Change], settings: Settings, live: Live) -> bool:
    """Mounts are read only when a plan deletes plugin versions or may reload (declared mounts may)."""
    if getattr(live.state, "mounts", ()):
        return True  # read already, for the declared mounts
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


def build_plan(
    changes: Sequence[Change], live: Live, settings: Settings, address: str, desired: State | None = None
) -> Plan:
    """Wrap the changes in steps: add reloads, decide verdicts and endpoints, order by phase.

    `desired` brings the declared mounts (mount_rules.py); without it, no mount is reloaded for them.
    """
    mounts = live.mounts or ()
    declared = mount_rules.declared_mounts(desired)
    pinned = safety.pins_after(changes, live)
    adjusted = mount_rules.under_pins(changes, declared, pinned)
    every = adjusted.changes
    targets = mount_rules.targets(every, mounts, pinned, mount_rules.catalog_after(every, live))
    plugin_wide = safety.reloads(every, mounts, pinned) if settings.reload == "changed" else []
    every += mount_rules.merge(
        plugin_wide, mount_rules.reloads(every, declared, mounts, targets, mount_rules.builds(desired))
    )
    skipped = safety.skipped_reloads(every, live.server)
    endpoint = safety.reload_endpoint(live.server)
    restarting = [c for i, c in enumerate(every) if c.kind is Kind.RELOAD and i not in skipped]
    moves = safety.Moves(targets, mount_rules.covered(restarting, mounts, endpoint))
    verdicts = safety.delete_verdicts(every, live, mounts, skipped, moves)
    steps = [
        Step(
            change=c,
            phase=phase_of(c.kind, c.action),
            blocked=verdicts.blocked.get(i),
            skipped=verdicts.skipped.get(i),
            recheck_mounts=i in verdicts.recheck,
            endpoint=mount_rules.endpoint_of(c, endpoint, adjusted.unversioned_enables),
        )
        for i, c in enumerate(every)
    ]
    target = Target(address=address, server=live.server.kind, version=live.server.version)
    return Plan(target=target, steps=tuple(sorted(steps, key=sort_key)), notes=adjusted.notes)
