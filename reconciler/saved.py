"""Saved plans (`plan --out FILE`, `apply FILE`). Pure: (de)serialisation and staleness checks.

A saved plan is the JSON plan plus what it was computed from: a digest of the manifest files and
a fingerprint of the live state. `apply FILE` recomputes the plan and refuses when either input,
or the resulting changes, differ. Env values are never in the file; apply takes them from the
manifests, which is why their digest must match.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from reconciler import saved_schema
from reconciler.client.address import display
from reconciler.live import Live
from reconciler.plan import Plan
from reconciler.render.json import plan_data


@dataclass(frozen=True)
class SavedOptions:
    """The plan options a saved plan must be re-planned with."""

    prune: bool
    replace: tuple[str, ...]


def digest_of(files: Sequence[tuple[str, bytes]]) -> str:
    """sha256 over the manifest files' relative names and contents, in sorted order."""
    h = hashlib.sha256()
    for name, content in sorted(files):
        h.update(name.encode() + b"\0" + hashlib.sha256(content).digest())
    return h.hexdigest()


def fingerprint(live: Live) -> str:
    """sha256 of everything in the live state that a plan depends on."""
    state = live.state
    data = {
        "server": [live.server.kind, live.server.version],
        "plugins": sorted(
            [p.type, p.name, p.version, p.sha256, p.command, list(p.args), p.oci_image, p.runtime, p.declarative]
            for p in state.plugins
            if not p.builtin
        ),
        "builtins": sorted([p.type, p.name, p.version] for p in state.plugins if p.builtin),
        "pins": sorted([p.type, p.name, p.version] for p in state.pins),
        "runtimes": sorted([r.model_dump() for r in state.runtimes], key=lambda r: str(r["name"])),
        "mounts": None if live.mounts is None else sorted(m.model_dump_json() for m in live.mounts),
    }
    return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()


def to_document(plan: Plan, live: Live, manifests_digest: str, options: SavedOptions) -> dict[str, Any]:
    data = plan_data(plan)
    data["saved"] = {
        "manifests_digest": manifests_digest,
        "live_fingerprint": fingerprint(live),
        "options": {"prune": options.prune, "replace": list(options.replace)},
    }
    return data


def parse(text: str, source: str) -> tuple[dict[str, Any], SavedOptions]:
    """Read a saved plan file's text; refuse anything that is not one (schema: `saved_schema`)."""
    document, data = saved_schema.validate(text, source)
    options = document.saved.options
    return data, SavedOptions(prune=options.prune, replace=tuple(options.replace))


def staleness(saved: dict[str, Any], plan: Plan, live: Live, manifests_digest: str) -> list[str]:
    """Why the saved plan no longer describes what apply would do (empty: it still does)."""
    reasons = []
    meta = saved["saved"]
    saved_address = str(saved.get("target", {}).get("address"))
    if display(saved_address) != display(plan.target.address):  # credentials are never part of the identity
        reasons.append(f"it was made for {saved_address}, not {plan.target.address}")
    if meta.get("manifests_digest") != manifests_digest:
        reasons.append("the manifests changed since the plan was made")
    if meta.get("live_fingerprint") != fingerprint(live):
        reasons.append("the server's catalog changed since the plan was made")
    if not reasons and saved.get("changes") != plan_data(plan)["changes"]:
        reasons.append("re-planning gives different changes")
    return reasons
