"""Shared vocabulary of the renderers: labels, identities, and redacted resource views."""

from __future__ import annotations

from typing import Any

from reconciler.diff import Action, Change, Kind, Resource
from reconciler.resources import Pin, Plugin, Runtime

SENSITIVE = "(sensitive)"


def verb(change: Change) -> str:
    """The word the text plan uses: register, update, delete, pin, unpin, reload."""
    match change.kind, change.action:
        case Kind.PIN, Action.DELETE:
            return "unpin"
        case Kind.PIN, _:
            return "pin"
        case Kind.RELOAD, _:
            return "reload"
        case _, Action.CREATE:
            return "register"
        case _, Action.UPDATE:
            return "update"
        case _:
            return "delete"


def subject(change: Change) -> str:
    """`secret/kv-extra v1.4.2`, `runtime gvisor`, `secret/kv-extra` (pins and reloads)."""
    if change.kind is Kind.RUNTIME:
        return f"runtime {change.name}"
    base = f"{change.type}/{change.name}"
    if change.kind is Kind.PLUGIN:
        return f"{base} {change.version}" if change.version else f"{base} (unversioned)"
    if change.kind is Kind.PIN:
        return f"{base} {change.version}"
    return base


def view(resource: Resource | None) -> dict[str, Any] | None:
    """A resource as plain JSON-able data, with env values redacted (keys stay visible)."""
    if resource is None:
        return None
    if isinstance(resource, Plugin):
        data: dict[str, Any] = {
            "sha256": resource.sha256,
            "command": resource.command,
            "args": list(resource.args),
            "oci_image": resource.oci_image,
            "runtime": resource.runtime,
        }
        if resource.env is not None:
            data["env"] = dict.fromkeys(sorted(resource.env), SENSITIVE)
        return data
    if isinstance(resource, Runtime):
        return resource.model_dump(exclude={"name", "type"})
    assert isinstance(resource, Pin)
    return {"version": resource.version}


def short(value: Any) -> str:
    """A compact before/after value: hashes shortened to head…tail, lists in JSON style."""
    if isinstance(value, str):
        if len(value) == 64 and all(ch in "0123456789abcdef" for ch in value):
            return f"{value[:8]}…{value[-4:]}"
        return repr(value) if value else '""'
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(short(v) for v in value) + "]"
    return str(value)


def field_changes(change: Change) -> list[tuple[str, str, str]]:
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
