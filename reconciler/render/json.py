"""JSON output (a contract, `format_version` 1): plans, drift, apply reports and Nomad CSI checks.

The plain data comes from plan_data.py, which saved plans share; this module only adds what each
command reports on top of the plan, and serialises.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from reconciler.apply import Report
from reconciler.checks import Check
from reconciler.drift import Drift
from reconciler.plan import FORMAT_VERSION, Plan
from reconciler.plan_data import change_data, checks_data, plan_data


def _dump(data: dict[str, Any]) -> str:
    return json.dumps(data, indent=2) + "\n"


def render_plan(plan: Plan) -> str:
    """The plan document."""
    return _dump(plan_data(plan))


def render_report(report: Report) -> str:
    """The plan document, plus each change's outcome (`results`) and the totals (`outcome`)."""
    data = plan_data(report.plan)
    data["results"] = [
        {**change_data(r.change), "outcome": r.outcome.value, "error": r.error or None} for r in report.ordered()
    ]
    data["outcome"] = {"ok": report.ok, "interrupted": report.interrupted, **report.counts()}
    return _dump(data)


def render_drift(found: Drift) -> str:
    """The plan document, plus the changes grouped by cause (`drift`)."""
    data = plan_data(found.plan)
    data["drift"] = {
        "found": found.found,
        "groups": {cause.name.lower(): [change_data(c) for c in changes] for cause, changes in found.groups.items()},
    }
    if found.mounts:
        from reconciler.render.status import mount_data  # only drift with mounts needs the status views

        data["drift"]["mounts"] = [mount_data(m) for m in found.mounts]
    return _dump(data)


def render_checks(checks: Sequence[Check], unmanaged: Sequence[str]) -> str:
    """`reconcile check`: `checks` in ID order, then `unmanaged_csi_plugins` (the plan's key too)."""
    return _dump(
        {"format_version": FORMAT_VERSION, "checks": checks_data(checks), "unmanaged_csi_plugins": list(unmanaged)}
    )


class JsonRenderer:
    """The `json` format (render.Renderer)."""

    def render_plan(self, plan: Plan) -> str:
        return render_plan(plan)

    def render_drift(self, drift: Drift) -> str:
        return render_drift(drift)

    def render_report(self, report: Report) -> str:
        return render_report(report)

    def render_checks(self, checks: Sequence[Check], unmanaged: Sequence[str]) -> str:
        return render_checks(checks, unmanaged)
