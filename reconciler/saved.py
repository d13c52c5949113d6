"""Saved plans (`plan --out FILE`, `apply FILE`). Pure: (de)serialisation and staleness checks.

A saved plan is the JSON plan plus what it was computed from: snapshots of the parsed desired
state and of the live state, with their digests (stale.py). `apply FILE` recomputes the plan and
refuses when either input, or the resulting changes, differ, saying what changed. Env values are
never in the file; apply takes them from the manifests, which is why their digest must match.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Any

from reconciler import saved_schema, stale
from reconciler.http.address import display
from reconciler.live import Live
from reconciler.manifest import Desired
from reconciler.plan import Plan
from reconciler.plan_data import plan_data


@dataclass(frozen=True)
class SavedOptions:
    """The plan options a saved plan must be re-planned with."""

    prune: bool
    replace: tuple[str, ...]


def to_document(plan: Plan, live: Live, desired: Desired, options: SavedOptions) -> dict[str, Any]:
    """The plan and the snapshots it was computed from (env values only as a salted HMAC)."""
    data = plan_data(plan)
    salt = secrets.token_hex(16)
    wanted, have = stale.desired_snapshot(desired, salt), stale.live_snapshot(live)
    data["saved"] = {
        "manifests_digest": stale.digest(wanted),
        "live_fingerprint": stale.digest(have),
        "options": {"prune": options.prune, "replace": list(options.replace)},
        "salt": salt,
        "desired": wanted,
        "live": have,
    }
    return data


def parse(text: str, source: str) -> tuple[dict[str, Any], SavedOptions]:
    """Read a saved plan file's text; refuse anything that is not one (schema: `saved_schema`)."""
    document, data = saved_schema.validate(text, source)
    options = document.saved.options
    return data, SavedOptions(prune=options.prune, replace=tuple(options.replace))


def staleness(saved: dict[str, Any], plan: Plan, live: Live, desired: Desired) -> list[str]:
    """What changed since the saved plan was made, per entry (empty: it still describes what apply does)."""
    reasons = []
    meta = saved["saved"]
    saved_address = display(str(saved.get("target", {}).get("address")))
    if saved_address != display(plan.target.address):  # credentials are never part of the identity
        reasons.append(f"target: the plan was made for {saved_address}, not {plan.target.address}")
    wanted = stale.desired_snapshot(desired, str(meta.get("salt", "")))
    if meta.get("manifests_digest") != stale.digest(wanted):
        before = meta.get("desired")
        found = stale.explain(before, wanted, "in the manifests") if isinstance(before, dict) else []
        reasons += found or ["the manifests changed since the plan was made"]
    have = stale.live_snapshot(live)
    if meta.get("live_fingerprint") != stale.digest(have):
        before = meta.get("live")
        found = stale.explain(before, have, "on the server") if isinstance(before, dict) else []
        # Declaring other entries makes the plan read other entries in full: not a live change.
        if found or not reasons:
            reasons += found or ["the server's catalog changed since the plan was made"]
    if not reasons and saved.get("changes") != plan_data(plan)["changes"]:
        reasons.append("re-planning gives different changes")
    return reasons
