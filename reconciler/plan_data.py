"""A plan as plain, JSON-able data (`format_version` 1). Pure; no renderer.

Shared by the JSON renderer (render/json.py) and saved plans (saved.py): a saved plan is this data
plus its snapshots, and `apply FILE` compares its `changes` with a fresh plan's, so both must come
from one place. Env values appear only as keys (render.common.view redacts them).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict
from typing import Any

from reconciler.checks import Check
from reconciler.plan import FORMAT_VERSION, Plan
from reconciler.plan import Step as Change  # a step reads like its change, plus its verdict
from reconciler.render.common import view


def change_data(change: Change) -> dict[str, Any]:
    """One change: what it does, to what, the redacted before/after, and the plan's verdicts."""
    return {
        "kind": change.kind.value,
        "action": change.action.value,
        "type": change.type,
        "name": change.name,
        "version": change.version,
        "fields": list(change.fields),
        "before": view(change.before),
        "after": view(change.after),
        "reason": change.reason,
        "blocked": change.blocked,
        "skipped": change.skipped,
    }


def checks_data(checks: Sequence[Check]) -> list[dict[str, Any]]:
    """The Nomad CSI checks, in the order given (the plan's: by plugin ID)."""
    return [asdict(c) for c in checks]


def plan_data(plan: Plan) -> dict[str, Any]:
    """The whole plan; its keys and their order are the JSON contract (`notes` only when there are some)."""
    t = plan.target
    data: dict[str, Any] = {
        "format_version": FORMAT_VERSION,
        "target": {"address": t.address, "server": t.server, "version": t.version},
        "changes": [change_data(c) for c in plan.changes],
        "summary": plan.summary,
        "checks": checks_data(plan.checks),
        "unmanaged_csi_plugins": list(plan.unmanaged_csi),
        "unpruned": list(plan.unpruned),
    }
    if plan.notes:
        data["notes"] = list(plan.notes)
    return data
