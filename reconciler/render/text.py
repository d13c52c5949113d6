"""Text output in the style of `terraform plan`: one line per change, then a summary.

Also the progress lines printed while a command runs (`result_line` during apply, `check_line`
while `check --wait` waits) and the Nomad CSI checks, wherever they appear.
"""

from __future__ import annotations

from collections.abc import Sequence

from reconciler.apply import Outcome, Report, Result
from reconciler.checks import Check
from reconciler.drift import Drift
from reconciler.kinds import Action, Kind
from reconciler.plan import Plan
from reconciler.plan import Step as Change  # a step reads like its change, plus its verdict
from reconciler.render.common import field_changes, subject, unpruned_line, verb
from reconciler.render.status import drift_lines
from reconciler.resources import Pin

UNPRUNED_LISTED = 50
"""`drift` lists this many unmanaged entries (with prune off) by name; the count gives the rest."""

_SIGNS = {Action.CREATE: "+", Action.UPDATE: "~", Action.DELETE: "-", Action.RELOAD: "*"}
_COLORS = {"+": "32", "~": "33", "-": "31", "*": "36", "!": "1;31", "ok": "32", "x": "1;31"}


def _paint(text: str, code: str, color: bool) -> str:
    return f"\x1b[{code}m{text}\x1b[0m" if color else text


def header(plan: Plan) -> str:
    t = plan.target
    return f"reconcile: {t.server} {t.version} at {t.address}"


def _details(change: Change) -> list[str]:
    match change.kind, change.action:
        case Kind.RELOAD, _:
            return [change.reason]
        case Kind.PIN, Action.UPDATE:
            before = change.before
            return [f"was {before.version}"] if isinstance(before, Pin) else []
        case Kind.PIN, _:
            return []
        case _, Action.UPDATE if not change.fields:
            return ["forced by --replace"]
        case _, Action.UPDATE:
            return [f"{f}: {b} -> {a}" for f, b, a in field_changes(change)]
    return []


def change_line(change: Change, color: bool = False) -> str:
    sign = _SIGNS[change.action]
    details = _details(change)
    text = f"  {_paint(sign, _COLORS[sign], color)} {verb(change)} {subject(change)}"
    text += f"  ({'; '.join(details)})" if details else ""
    if change.skipped:
        text += f"\n      skipped: {change.skipped}"
    if change.blocked:
        text += "\n      " + _paint(f"! blocked: {change.blocked}", _COLORS["!"], color)
    return text


def summary_line(plan: Plan) -> str:
    if not plan.changes:
        return "No changes: the catalog matches the manifests."
    s = plan.summary
    text = f"Plan: {s['create']} to register, {s['update']} to update, {s['delete']} to delete"
    if s["reload"]:
        text += f", {s['reload']} to reload"
    return text + "."


def check_line(check: Check) -> str:
    """`  ok   aws-ebs0` or `  FAIL aws-ebs0: 1 of 3 nodes healthy, need 2`."""
    return f"  ok   {check.id}" if check.ok else f"  FAIL {check.id}: {check.reason}"


def checks_summary(checks: Sequence[Check]) -> str:
    """`All 3 checks pass.` or `1 of 3 checks failing.`"""
    failing = sum(1 for c in checks if not c.ok)
    noun = "check" if len(checks) == 1 else "checks"
    if not failing:
        return f"All {len(checks)} {noun} pass{'es' if len(checks) == 1 else ''}."
    return f"{failing} of {len(checks)} {noun} failing."


def checks_lines(plan: Plan) -> list[str]:
    """The Nomad CSI checks block of a plan or drift (empty when the manifests declare none)."""
    if not plan.checks:
        return []
    lines = ["Nomad CSI plugins:", *(check_line(c) for c in plan.checks)]
    if plan.unmanaged_csi:
        lines.append(f"  unmanaged: {', '.join(plan.unmanaged_csi)}")
    return [*lines, checks_summary(plan.checks), ""]


def render_checks(checks: Sequence[Check], unmanaged: Sequence[str]) -> str:
    """`reconcile check`: one line per check, the unmanaged CSI plugins, the summary."""
    lines = [check_line(c) for c in checks]
    if unmanaged:
        lines.append(f"Unmanaged CSI plugins: {', '.join(unmanaged)}")
    lines.append(checks_summary(checks))
    return "\n".join(lines) + "\n"


def render_plan(plan: Plan, color: bool = False) -> str:
    lines = [header(plan), ""]
    lines += [change_line(c, color) for c in plan.changes]
    if plan.changes:
        lines.append("")
    if plan.notes:
        lines += [*(f"Note: {n}" for n in plan.notes), ""]
    lines += checks_lines(plan)
    lines.append(summary_line(plan))
    if plan.unpruned:
        lines.append(unpruned_line(plan.unpruned) + " `reconcile drift` lists them.")
    if plan.blocked:
        n = len(plan.blocked)
        lines.append(
            _paint(
                f"{n} change{'s are' if n > 1 else ' is'} blocked: apply refuses this plan unless --force.",
                _COLORS["!"],
                color,
            )
        )
    return "\n".join(lines) + "\n"


def result_line(result: Result, color: bool = False) -> str:
    c = result.change
    match result.outcome:
        case Outcome.DONE:
            mark = _paint("ok", _COLORS["ok"], color)
        case Outcome.SKIPPED:
            mark = "skipped"
        case Outcome.FAILED:
            mark = _paint("FAILED", _COLORS["x"], color)
        case _:
            mark = result.outcome.value
    return f"  {mark:<6} {verb(c)} {subject(c)}"


def render_report(report: Report, color: bool = False) -> str:
    failing = report.plan.failing_checks
    note = f"Nomad: {checks_summary(report.plan.checks)} (apply does not change Nomad)\n" if failing else ""
    return _report_body(report, color) + note


def _report_body(report: Report, color: bool) -> str:
    counts = report.counts()
    results = report.ordered()
    if report.ok:
        if not results:
            return "Apply complete: nothing to do.\n"
        skipped = f", {counts['skipped']} skipped" if counts["skipped"] else ""
        return f"Apply complete: {counts['done']} done{skipped}.\n"
    lines = []
    failed = [r for r in results if r.outcome is Outcome.FAILED]
    if failed:
        lines.append(_paint("Failed:", _COLORS["x"], color))
        for r in failed:
            lines.append(f"  {verb(r.change)} {subject(r.change)}")
            lines += [f"      {ln}" for ln in r.error.splitlines()]
    unstarted = [r for r in results if r.outcome in (Outcome.NOT_STARTED, Outcome.INTERRUPTED)]
    if unstarted:
        lines.append("Not started:" if not report.interrupted else "Not started or interrupted:")
        lines += [f"  {r.outcome.value}: {verb(r.change)} {subject(r.change)}" for r in unstarted]
    word = "interrupted" if report.interrupted else "failed"
    parts = [f"{counts['done']} done", f"{counts['failed']} failed", f"{counts['not started']} not started"]
    if counts["interrupted"]:
        parts.append(f"{counts['interrupted']} interrupted")
    if counts["skipped"]:
        parts.append(f"{counts['skipped']} skipped")
    lines.append(f"Apply {word}: {', '.join(parts)}.")
    if not report.interrupted:
        lines.append("Fix the cause and run apply again: completed steps are not repeated.")
    return "\n".join(lines) + "\n"


def render_drift(found: Drift, color: bool = False) -> str:
    lines = [header(found.plan), ""]
    lines += checks_lines(found.plan)
    if found.plan.unpruned:
        lines += [unpruned_line(found.plan.unpruned, listed=UNPRUNED_LISTED), ""]
    if not found.found:
        return "\n".join([*lines, "In sync: the cluster matches git."]) + "\n"
    for cause, changes in found.groups.items():
        if changes:
            lines.append(f"{cause.value.capitalize()} ({len(changes)}):")
            lines += [change_line(c, color) for c in changes]
            lines.append("")
    lines += drift_lines(found.mounts)
    total = sum(len(c) for c in found.groups.values()) + len(found.plan.failing_checks) + len(found.mounts)
    lines.append(f"Drift: {total} difference{'s' if total != 1 else ''} between the cluster and git.")
    return "\n".join(lines) + "\n"


class TextRenderer:
    """The `text` format (render.Renderer); `color` adds ANSI colours for a terminal."""

    def __init__(self, *, color: bool = False) -> None:
        self.color = color

    def render_plan(self, plan: Plan) -> str:
        return render_plan(plan, self.color)

    def render_drift(self, drift: Drift) -> str:
        return render_drift(drift, self.color)

    def render_report(self, report: Report) -> str:
        return render_report(report, self.color)

    def render_checks(self, checks: Sequence[Check], unmanaged: Sequence[str]) -> str:
        return render_checks(checks, unmanaged)
