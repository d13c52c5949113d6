"""Validation: desired state x server capabilities (and live state) -> every diagnostic at once.

Runs before diff, which then assumes valid input. Four groups, reported in this order, each
with all of its diagnostics: features the server lacks (PlanError), `--replace` selectors that
are malformed or match nothing (UsageError), changes that would be written over what the
server's own configuration declares (PlanError), and declared objects that cannot be reconciled
with what the server has, such as a mount that does not exist and may not be created (PlanError).
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from dataclasses import dataclass

from reconciler.errors import PlanError, UsageError
from reconciler.kinds import Kind, keyed
from reconciler.kinds.base import changed_fields
from reconciler.live import Live
from reconciler.manifest import Desired
from reconciler.resources import Plugin, ServerInfo, normalize_version

Key = tuple[Kind, Hashable]
"""(kind, identity): how desired and live objects are keyed."""


@dataclass(frozen=True)
class Valid:
    """What validation resolved for diff: the objects `--replace` re-registers."""

    forced: frozenset[Key] = frozenset()


def validate(desired: Desired, live: Live, replace: Sequence[str] = ()) -> Valid:
    """Every problem of `desired` against `live`, raised as one error per group; else what diff needs."""
    unsupported = unsupported_features(desired, live.server)
    if unsupported:
        raise PlanError(
            "\n".join(unsupported),
            hint="remove them from the manifests, or point reconcile at a Vault server that has them",
        )
    forced = replace_selection(replace, desired.state.plugins)
    refused = refused_overwrites(desired, live, forced)
    if refused:
        raise PlanError(
            "\n".join(refused),
            hint="remove these entries from the manifests or from the server's configuration",
        )
    conflicting = conflicts(desired, live)
    if conflicting:
        raise PlanError("\n".join(conflicting), hint="change the manifests (or the server) as each line says")
    return Valid(forced=forced)


def unsupported_features(desired: Desired, server: ServerInfo) -> list[str]:
    """`path:line: what: feature need version, but the server is ...`, sorted."""
    label = f"{'OpenBao' if server.kind == 'openbao' else 'Vault'} {server.version}"
    lines = [
        f"{desired.origins.get((kind, identity), '?')}: {what}: {feature} need {needs}, but the server is {label}"
        for kind in Kind
        for identity, what, feature, needs in kind.spec.requirements(desired.state, server)
    ]
    return sorted(lines)


def replace_selection(selectors: Sequence[str], plugins: Sequence[Plugin]) -> frozenset[Key]:
    """The declared plugin versions `--replace TYPE/NAME[@VERSION]` selects; UsageError for a bad one."""
    chosen: set[Key] = set()
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
            (Kind.PLUGIN, p.key)
            for p in plugins
            if p.type == plugin_type and p.name == name and (wanted_version is None or p.version == wanted_version)
        }
        if not matched:
            raise UsageError(f"--replace {selector!r} matches no plugin declared in the manifests")
        chosen |= matched
    return frozenset(chosen)


def refused_overwrites(desired: Desired, live: Live, forced: frozenset[Key]) -> list[str]:
    """Changes diff would make to live objects that must not be written (OpenBao declarative entries)."""
    problems = []
    for kind in Kind:
        spec = kind.spec
        if not spec.diffed:
            continue
        have_by_id = {i: o for i, o in keyed(live.state, kind).items() if not spec.hidden(o)}
        for identity, want in keyed(desired.state, kind).items():
            have = have_by_id.get(identity)
            if have is None:
                continue
            refusal = spec.refuse_overwrite(have)
            if refusal and (changed_fields(spec, want, have) or (kind, identity) in forced):
                problems.append(f"{desired.origins.get((kind, identity), '?')}: {identity} {refusal}")
    return problems


def conflicts(desired: Desired, live: Live) -> list[str]:
    """`path:line: why` for each declared object the server's state rules out (kinds' `conflict`)."""
    problems = []
    for kind in Kind:
        if not kind.spec.diffed:
            continue
        have_by_id = keyed(live.state, kind)
        for identity, want in keyed(desired.state, kind).items():
            why = kind.spec.conflict(want, have_by_id.get(identity))
            if why:
                problems.append(f"{desired.origins.get((kind, identity), '?')}: {why}")
    return sorted(problems)
