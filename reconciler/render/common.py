"""Shared vocabulary of the renderers: labels, identities, and redacted resource views."""

from __future__ import annotations

from typing import Any

from reconciler.kinds import Change, Kind
from reconciler.kinds.base import Resource
from reconciler.plan import Step


def verb(change: Change | Step) -> str:
    """The word the text plan uses: register, update, delete, pin, unpin, reload."""
    return change.kind.spec.verb(change.action)


def subject(change: Change | Step) -> str:
    """`secret/kv-extra v1.4.2`, `runtime gvisor`, `secret/kv-extra` (pins and reloads)."""
    return change.kind.spec.subject(change.change if isinstance(change, Step) else change)


def view(resource: Resource | None) -> dict[str, Any] | None:
    """A resource as plain JSON-able data, with env values redacted (keys stay visible)."""
    if resource is None:
        return None
    kind = next(k for k in Kind if k.spec.model is not None and isinstance(resource, k.spec.model))
    return kind.spec.view(resource)


def short(value: Any) -> str:
    """A compact before/after value: hashes shortened to head…tail, lists in JSON style."""
    if isinstance(value, str):
        if len(value) == 64 and all(ch in "0123456789abcdef" for ch in value):
            return f"{value[:8]}…{value[-4:]}"
        return repr(value) if value else '""'
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(short(v) for v in value) + "]"
    return str(value)


def field_changes(change: Change | Step) -> list[tuple[str, str, str]]:
    """(field, before, after) for each changed field of an update."""
    before = view(change.before) or {}
    after = view(change.after) or {}
    return [(f, short(before.get(f, "")), short(after.get(f, ""))) for f in change.fields]


def unpruned_line(entries: tuple[str, ...], listed: int = 0) -> str:
    """`3 unmanaged entries, not pruned because prune is off` (and the first `listed` of them)."""
    n = len(entries)
    text = f"{n} unmanaged {'entry' if n == 1 else 'entries'}, not pruned because prune is off"
    if not listed:
        return text + "."
    shown = ", ".join(entries[:listed]) + (f" and {n - listed} more" if n > listed else "")
    return f"{text}: {shown}."
