"""diff(desired, live) -> changes. Pure: no I/O, same input, same output.

Pairs desired and live objects by key. Live objects that no manifest declares are deleted only
when prune is on, and never when builtin, declarative (OpenBao server config), opaque or ignored.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from reconciler.errors import PlanError, UsageError
from reconciler.live import Live, opaque
from reconciler.manifest import Desired, ignored
from reconciler.resources import Pin, Plugin, PluginKey, Runtime, ServerInfo, normalize_version

COMPARED_FIELDS = ("sha256", "command", "args", "oci_image", "runtime")


class Kind(StrEnum):
    RUNTIME = "runtime"
    PLUGIN = "plugin"
    PIN = "pin"
    RELOAD = "reload"


class Action(StrEnum):
    CREATE = "create"
    UPDATE = "update"
    DELETE = "delete"
    RELOAD = "reload"


Resource = Plugin | Runtime | Pin


@dataclass(frozen=True)
class Change:
    """One step of a plan: what to do to which object, and why."""

    kind: Kind
    action: Action
    type: str
    """Plugin type (`auth`, `database`, `secret`), or `container` for a runtime."""
    name: str
    version: str = ""
    """Plugin version ("" = unversioned). A pin: the version pinned after the change (a delete: the one it had)."""
    before: Resource | None = None
    after: Resource | None = None
    fields: tuple[str, ...] = ()
    """The fields that differ (updates)."""
    reason: str = ""
    """Why this change is planned; for display only."""
    blocked: str | None = None
    """Why applying this change is unsafe; apply refuses a plan with blocked changes unless --force."""
    skipped: str | None = None
    """Why apply will not perform this change (a reload the server cannot do)."""
    recheck_mounts: bool = False
    """A delete of a version mounts run before a reload in the same plan: apply re-reads mounts first."""

    @property
    def plugin_key(self) -> PluginKey:
        resource = self.after or self.before
        assert isinstance(resource, Plugin)
        return resource.key


@dataclass(frozen=True)
class DiffOptions:
    """Options that change what diff plans."""

    prune: bool = True
    replace: Sequence[str] = ()
    """`TYPE/NAME[@VERSION]` selectors: re-register even when nothing readable differs."""


@dataclass
class _Problems:
    items: list[str] = field(default_factory=list)


def diff(desired: Desired, live: Live, options: DiffOptions | None = None) -> list[Change]:
    """The changes that make `live` match `desired`, unordered (plan.py orders them)."""
    options = options or DiffOptions()
    state = desired.state
    check_support(desired, live.server)
    prune = options.prune and state.settings.prune
    is_ignored = ignored(state.settings)
    forced = _replace_selection(options.replace, state.plugins)
    changes: list[Change] = []
    problems: list[str] = []
    changes += _plugin_changes(desired, live, prune, forced, problems)
    changes += _runtime_changes(state.runtimes, live.state.runtimes, prune and live.server.runtimes, is_ignored)
    changes += _pin_changes(state.pins, live.state.pins, prune and live.server.pins, is_ignored)
    if problems:
        raise PlanError(
            "\n".join(problems),
            hint="remove these entries from the manifests or from the server's configuration",
        )
    return changes


def check_support(desired: Desired, server: ServerInfo) -> None:
    """Fail before any write when the manifests use what the server does not have."""
    state = desired.state
    label = f"{'OpenBao' if server.kind == 'openbao' else 'Vault'} {server.version}"
    uses: list[tuple[object, str, str, str]] = []  # (origin key, what, feature, needs)
    if not server.pins:
        uses += [(("pin", p.key), f"pin {p.type}/{p.name}", "pins", "Vault 1.16+") for p in state.pins]
    if not server.runtimes:
        uses += [(("runtime", r.name), f"runtime {r.name}", "plugin runtimes", "Vault 1.15+") for r in state.runtimes]
        uses += [
            (p.key, str(p.key), "container plugins (oci_image, runtime)", "Vault 1.15+")
            for p in state.plugins
            if p.oci_image or p.runtime
        ]
    if uses:
        lines = [
            f"{desired.origins.get(key, '?')}: {what}: {feature} need {needs}, but the server is {label}"
            for key, what, feature, needs in uses
        ]
        raise PlanError(
            "\n".join(sorted(lines)),
            hint="remove them from the manifests, or point reconcile at a Vault server that has them",
        )


def _replace_selection(selectors: Sequence[str], plugins: Sequence[Plugin]) -> set[PluginKey]:
    chosen: set[PluginKey] = set()
    for selector in selectors:
        name_part, _, version = selector.partition("@")
        plugin_type, slash, name = name_part.partition("/")
        if not slash or not name:
            raise UsageError(f"--replace {selector!r}: expected TYPE/NAME or TYPE/NAME@VERSION")
        try:
            wanted_version = normalize_version(version) if version else None
        except ValueError as exc:
            raise UsageError(f"--replace {selector!r}: {exc}") from None
        matched = {
            p.key
            for p in plugins
            if p.type == plugin_type and p.name == name and (wanted_version is None or p.version == wanted_version)
        }
        if not matched:
            raise UsageError(f"--replace {selector!r} matches no plugin declared in the manifests")
        chosen |= matched
    return chosen


def _plugin_changes(
    desired: Desired, live: Live, prune: bool, forced: set[PluginKey], problems: list[str]
) -> list[Change]:
    state = desired.state
    live_by_key = {p.key: p for p in live.state.plugins if not p.builtin}
    declared = {p.key for p in state.plugins}
    is_ignored = ignored(state.settings)
    changes = []
    for want in state.plugins:
        have = live_by_key.get(want.key)
        change = _plugin_change(want, have, want.key in forced)
        if change and have is not None and have.declarative:
            where = desired.origins.get(want.key, "?")
            problems.append(
                f"{where}: {want.key} is declared in the OpenBao server configuration (declarative); "
                "writing over it would make the server fail its next unseal"
            )
            continue
        if change:
            changes.append(change)
    if prune:
        for key, have in live_by_key.items():
            if key in declared or have.declarative or opaque(key) or is_ignored(f"{key.type}/{key.name}"):
                continue
            changes.append(
                Change(
                    Kind.PLUGIN,
                    Action.DELETE,
                    key.type,
                    key.name,
                    key.version,
                    before=have,
                    reason="not declared in any manifest (prune)",
                )
            )
    return changes


def _plugin_change(want: Plugin, have: Plugin | None, forced: bool) -> Change | None:
    key = want.key
    if have is None:
        return Change(
            Kind.PLUGIN,
            Action.CREATE,
            key.type,
            key.name,
            key.version,
            after=want,
            reason="declared in the manifests, missing on the server",
        )
    fields = tuple(f for f in COMPARED_FIELDS if getattr(want, f) != getattr(have, f))
    if not fields and not forced:
        return None
    reason = "differs from the manifests" if fields else "re-register requested with --replace"
    return Change(
        Kind.PLUGIN,
        Action.UPDATE,
        key.type,
        key.name,
        key.version,
        before=have,
        after=want,
        fields=fields,
        reason=reason,
    )


def _runtime_changes(desired: Sequence[Runtime], live: Sequence[Runtime], prune: bool, is_ignored: Any) -> list[Change]:
    return _keyed_changes(Kind.RUNTIME, desired, live, tuple(Runtime.model_fields), prune, is_ignored)


def _pin_changes(desired: Sequence[Pin], live: Sequence[Pin], prune: bool, is_ignored: Any) -> list[Change]:
    return _keyed_changes(Kind.PIN, desired, live, ("version",), prune, is_ignored)


def _keyed_changes(
    kind: Kind,
    desired: Sequence[Runtime | Pin],
    live: Sequence[Runtime | Pin],
    compared: tuple[str, ...],
    prune: bool,
    is_ignored: Any,
) -> list[Change]:
    """Create, update and (with prune) delete for runtimes and pins, paired by key."""

    def version(r: Runtime | Pin) -> str:
        return r.version if isinstance(r, Pin) else ""

    live_by_key: dict[object, Runtime | Pin] = {r.key: r for r in live}
    missing = "not pinned on the server" if kind is Kind.PIN else "missing on the server"
    changes = []
    for want in desired:
        have = live_by_key.get(want.key)
        if have is None:
            changes.append(
                Change(
                    kind,
                    Action.CREATE,
                    want.type,
                    want.name,
                    version(want),
                    after=want,
                    reason=f"declared in the manifests, {missing}",
                )
            )
            continue
        fields = tuple(f for f in compared if getattr(want, f) != getattr(have, f))
        if fields:
            reason = f"pinned to {version(have)} on the server" if kind is Kind.PIN else "differs from the manifests"
            changes.append(
                Change(
                    kind,
                    Action.UPDATE,
                    want.type,
                    want.name,
                    version(want),
                    before=have,
                    after=want,
                    fields=fields,
                    reason=reason,
                )
            )
    if prune:
        declared = {r.key for r in desired}
        for have in live:
            if have.key not in declared and not is_ignored(f"{have.type}/{have.name}"):
                changes.append(
                    Change(
                        kind,
                        Action.DELETE,
                        have.type,
                        have.name,
                        version(have),
                        before=have,
                        reason="not declared in any manifest (prune)",
                    )
                )
    return changes
