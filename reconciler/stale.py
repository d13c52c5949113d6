"""What changed since a plan was saved, entry by entry. Pure.

A saved plan keeps two snapshots: the parsed desired state (not the manifest bytes, so comments and
formatting do not make it stale) and the live state it was computed from. Their digests decide
whether the plan is stale; `deepdiff` finds which entries and fields differ, to say so.

Env values are secrets: a snapshot holds each plugin version's env keys and an HMAC of its values
under a random per-plan salt, never the values, and no unsalted hash that a dictionary could invert.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Iterable
from typing import Any

from deepdiff import DeepDiff
from deepdiff.helper import NotPresent

from reconciler.live import Live
from reconciler.manifest import Desired
from reconciler.render.common import short

Snapshot = dict[str, Any]

SHOWN = 20
"""At most this many differences are listed; the count gives the rest."""


def desired_snapshot(desired: Desired, salt: str) -> Snapshot:
    """The desired state as plain data, keyed by entry, with env values only as a salted HMAC."""
    state = desired.state
    plugins = {}
    for p in state.plugins:
        env = {k: v.get_secret_value() for k, v in sorted((p.env or {}).items())}
        mac = hmac.new(salt.encode(), json.dumps(env, sort_keys=True).encode(), hashlib.sha256).hexdigest()
        plugins[str(p.key)] = {
            "sha256": p.sha256,
            "command": p.command,
            "args": list(p.args),
            "oci_image": p.oci_image,
            "runtime": p.runtime,
            "env": {"keys": sorted(env), "values": mac if env else ""},
        }
    snapshot: Snapshot = {
        "plugins": plugins,
        "runtimes": {f"runtime {r.name}": r.model_dump(exclude={"name"}) for r in state.runtimes},
        "pins": {f"pin {p.type}/{p.name}": {"version": p.version} for p in state.pins},
        "settings": {"settings": state.settings.model_dump(mode="json")},
        "nomad": {f"CSI plugin {c.id}": c.model_dump(exclude={"id"}) for c in state.csi_plugins},
    }
    mounts = getattr(state, "mounts", ())
    if mounts:  # only then: saved plans of manifests without mounts keep their digest
        snapshot["mounts"] = {
            f"{'auth' if m.auth else 'secret'} mount {m.path}": m.model_dump(
                include={"plugin", "plugin_version", "create"}
            )
            for m in mounts
        }
    return snapshot


def live_snapshot(live: Live) -> Snapshot:
    """The live state a plan depends on, keyed by entry."""
    state = live.state
    plugins: dict[str, Any] = {}
    for p in state.plugins:
        if p.builtin:
            plugins[f"{p.type}/{p.name} {p.version} (builtin)"] = {}
            continue
        entry: dict[str, Any] = {"sha256": p.sha256, "oci_image": p.oci_image, "runtime": p.runtime}
        if p.command:  # only the entries the plan needed were read in full
            entry |= {"command": p.command, "args": list(p.args), "declarative": p.declarative}
        plugins[str(p.key)] = entry
    mounts = None
    if live.mounts is not None:
        mounts = {
            f"{'auth' if m.auth else 'secrets'} mount {m.path}": m.model_dump(exclude={"path", "auth"})
            for m in live.mounts
        }
    return {
        "server": {"server": {"kind": live.server.kind, "version": live.server.version}},
        "plugins": plugins,
        "runtimes": {f"runtime {r.name}": r.model_dump(exclude={"name"}) for r in state.runtimes},
        "pins": {f"pin {p.type}/{p.name}": {"version": p.version} for p in state.pins},
        "mounts": mounts,
    }


def digest(snapshot: Snapshot) -> str:
    """sha256 of a snapshot's canonical JSON."""
    return hashlib.sha256(json.dumps(snapshot, sort_keys=True).encode()).hexdigest()


def explain(before: Snapshot, after: Snapshot, where: str) -> list[str]:
    """One line per entry field that differs, e.g. `secret/x v1.0.0: sha256 changed on the server (a -> b)`.

    `where` is "in the manifests" or "on the server".
    """
    before, after = _differing(before, after)
    tree = DeepDiff(before, after, view="tree")
    seen: dict[tuple[str, ...], str] = {}
    for level in (lvl for levels in tree.values() for lvl in levels):
        path = [str(p) for p in level.path(output_format="list")]
        if len(path) < 2:  # a whole section appeared (mounts read now, not then)
            continue
        section, label = path[0], path[1]
        if len(path) == 2:
            gone = isinstance(level.t2, NotPresent)
            if where == "on the server":
                phrase = "deleted on the server" if gone else "registered on the server"
            else:
                phrase = "removed from the manifests" if gone else "added to the manifests"
            seen.setdefault((section, label), f"{label}: {phrase}")
            continue
        field = path[2]
        if field not in before[section].get(label, {}) or field not in after[section].get(label, {}):
            continue  # read in full now and not then (or the reverse): not a change
        old, new = before[section][label][field], after[section][label][field]
        seen.setdefault((section, label, field), _field_line(label, field, old, new, where))
    return [seen[k] for k in sorted(seen)]


def _differing(before: Snapshot, after: Snapshot) -> tuple[Snapshot, Snapshot]:
    """Only the entries that differ: deepdiff over 5,000 equal entries takes seconds, over a few, ms."""
    old: Snapshot = {}
    new: Snapshot = {}
    for section in sorted(before.keys() & after.keys()):
        b, a = before[section], after[section]
        if not isinstance(b, dict) or not isinstance(a, dict):
            continue  # a section read now and not then (mounts): not a change of the server
        labels = {k for k in b.keys() | a.keys() if k not in b or k not in a or b[k] != a[k]}
        old[section] = {k: b[k] for k in labels if k in b}
        new[section] = {k: a[k] for k in labels if k in a}
    return old, new


def _field_line(label: str, field: str, old: Any, new: Any, where: str) -> str:
    if field == "env":
        if old["keys"] != new["keys"]:
            return f"{label}: env changed {where} (keys {short(old['keys'])} -> {short(new['keys'])}; values not shown)"
        return f"{label}: env changed {where} (values not shown)"
    if label == "settings":
        return f"settings.{field} changed {where} ({short(old)} -> {short(new)})"
    return f"{label}: {field} changed {where} ({short(old)} -> {short(new)})"


def summarize(reasons: Iterable[str], tail: str = "") -> str:
    """`first; N more` + `tail` as the first line, then every reason (at most SHOWN) on its own line."""
    items = list(reasons)
    head = items[0] + (f"; {len(items) - 1} more" if len(items) > 1 else "") + tail
    if len(items) == 1:
        return head
    listed = [f"  {r}" for r in items[:SHOWN]]
    if len(items) > SHOWN:
        listed.append(f"  ... and {len(items) - SHOWN} more")
    return head + "\n" + "\n".join(listed)
