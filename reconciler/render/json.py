"""JSON output (a contract, `format_version` 1): plans and apply reports."""

from __future__ import annotations

import json
from dataclasses import asdict
from typing import Any

from reconciler.apply import Report
from reconciler.drift import Drift
from reconciler.plan import FORMAT_VERSION, Plan
from reconciler.plan import Step as Change  # a step reads like its change, plus its verdict
from reconciler.render.common import view


def change_data(change: Change) -> dict[str, Any]:
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


def plan_data(plan: Plan) -> dict[str, Any]:
    t = plan.target
    return {
        "format_version": FORMAT_VERSION,
        "target": {"address": t.address, "server": t.server, "version": t.version},
        "changes": [change_data(c) for c in plan.changes],
        "summary": plan.summary,
        "checks": [asdict(c) for c in plan.checks],
        "unmanaged_csi_plugins": list(plan.unmanaged_csi),
        "unpruned": list(plan.unpruned),
    }


def render_plan(plan: Plan) -> str:
    return json.dumps(plan_data(plan), indent=2) + "\n"


def render_report(report: Report) -> str:
    data = plan_data(report.plan)
    data["results"] = [
        {**change_data(r.change), "outcome": r.outcome.value, "error": r.error or None} for r in report.ordered()
    ]
    data["outcome"] = {"ok": report.ok, "interrupted": report.interrupted, **report.counts()}
    return json.dumps(data, indent=2) + "\n"


def render_drift(found: Drift) -> str:
    data = plan_data(found.plan)
    data["drift"] = {
        "found": found.found,
        "groups": {cause.name.lower(): [change_data(c) for c in changes] for cause, changes in found.groups.items()},
    }
    return json.dumps(data, indent=2) + "\n"
