"""diff(desired, live) -> changes. Pure: no I/O, same input, same output.

Desired and live objects are keyed by (kind, identity) and paired: missing live -> create, differing
compared fields -> update, live only -> delete when prune is on and the kind does not protect the
object (builtin, declarative, opaque, ignored). Kind rules live in reconciler/kinds; validation
(validate.py) runs first, and diff assumes its input is valid.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from reconciler.kinds import Action, Change, Kind, keyed
from reconciler.kinds.base import Resource, changed_fields
from reconciler.live import Live
from reconciler.manifest import Desired, ignored
from reconciler.validate import Key, Valid, validate

__all__ = ["Action", "Change", "DiffOptions", "Kind", "Resource", "changes", "diff"]


@dataclass(frozen=True)
class DiffOptions:
    """Options that change what diff plans."""

    prune: bool = True
    replace: Sequence[str] = ()
    """`TYPE/NAME[@VERSION]` selectors: re-register even when nothing readable differs."""


def diff(desired: Desired, live: Live, options: DiffOptions | None = None) -> list[Change]:
    """Validate, then the changes that make `live` match `desired`, unordered (plan.py orders them)."""
    options = options or DiffOptions()
    valid = validate(desired, live, options.replace)
    return changes(desired, live, valid, prune=options.prune)


def changes(desired: Desired, live: Live, valid: Valid, *, prune: bool = True) -> list[Change]:
    """The changes for validated input, kind by kind in registry order."""
    settings = desired.state.settings
    is_ignored = ignored(settings)
    found: list[Change] = []
    for kind in Kind:
        spec = kind.spec
        if not spec.diffed:
            continue
        want = keyed(desired.state, kind)
        have = {i: o for i, o in keyed(live.state, kind).items() if not spec.hidden(o)}
        for identity, obj in want.items():
            change = _pair(kind, obj, have.get(identity), (kind, identity) in valid.forced)
            if change:
                found.append(change)
        if prune and settings.prune and spec.prunes(live.server):
            for identity, obj in have.items():
                if identity not in want and spec.protected(obj, is_ignored) is None:
                    found.append(
                        _change(kind, Action.DELETE, obj, before=obj, reason="not declared in any manifest (prune)")
                    )
    return found


def _pair(kind: Kind, want: Resource, have: Resource | None, forced: bool) -> Change | None:
    spec = kind.spec
    if have is None:
        return _change(kind, Action.CREATE, want, after=want, reason=spec.missing_reason())
    fields = changed_fields(spec, want, have)
    if not fields and not forced:
        return None
    reason = spec.update_reason(have, fields)
    return _change(kind, Action.UPDATE, want, before=have, after=want, fields=fields, reason=reason)


def _change(kind: Kind, action: Action, obj: Resource, **rest: object) -> Change:
    t, name, version = kind.spec.coordinates(obj)
    return Change(kind, action, t, name, version, **rest)  # type: ignore[arg-type]


__all__ += ["Key"]
