"""Markdown for pull-request comments and step summaries. Fits GitHub's 65,536-character limit:
past it, per-change details are left out (the summary stays) and the text says how many."""

from __future__ import annotations

import json
from collections.abc import Sequence

from reconciler.apply import Outcome, Report
from reconciler.checks import Check
from reconciler.drift import Cause, Drift
from reconciler.plan import Plan
from reconciler.plan import Step as Change  # a step reads like its change, plus its verdict
from reconciler.render.common import field_changes, subject, unpruned_line, verb, view
from reconciler.render.status import mount_rows

GITHUB_LIMIT = 65_536
_RESERVE = 400  # room for the truncation note and closing text

_ICONS = {"create": "➕", "update": "✏️", "delete": "🗑️", "reload": "🔄"}


def _heading(title: str, plan: Plan) -> list[str]:
    t = plan.target
    return [f"### {title}", "", f"Target: **{t.server} {t.version}** at `{t.address}`", ""]


def _summary_table(plan: Plan) -> list[str]:
    s = plan.summary
    rows = ["| action | count |", "|---|---:|"]
    rows += [f"| {_ICONS[a]} {a} | {n} |" for a, n in s.items() if n]
    if plan.blocked:
        rows.append(f"| ⛔ blocked | {len(plan.blocked)} |")
    return [*rows, ""]


def _code(value: str) -> str:
    return "`" + value.replace("`", "'") + "`"


def _plain(value: object) -> str:
    return value if isinstance(value, str) else json.dumps(value)


def _details(change: Change) -> str:
    title = f"{_ICONS[change.action.value]} <b>{verb(change)}</b> <code>{subject(change)}</code>"
    lines = []
    if change.blocked:
        lines.append(f"⛔ **blocked:** {change.blocked}")
    if change.skipped:
        lines.append(f"⏭️ skipped: {change.skipped}")
    if change.reason:
        lines.append(f"Reason: {change.reason}")
    changed = field_changes(change)
    if changed:
        lines += ["", "| field | before | after |", "|---|---|---|"]
        lines += [f"| {f} | {_code(b)} | {_code(a)} |" for f, b, a in changed]
    elif change.after is not None and change.before is None:
        after = view(change.after) or {}
        shown = {k: v for k, v in after.items() if v not in ("", [], {})}
        lines += ["", "| field | value |", "|---|---|"] + [f"| {k} | {_code(_plain(v))} |" for k, v in shown.items()]
    body = "\n".join(lines)
    return f"<details><summary>{title}</summary>\n\n{body}\n\n</details>\n"


def _fit(head: list[str], items: Sequence[str], tail: list[str], limit: int) -> str:
    text = "\n".join(head)
    budget = limit - len(text) - len("\n".join(tail)) - _RESERVE
    kept: list[str] = []
    for item in items:
        if len(item) + 1 > budget:
            break
        kept.append(item)
        budget -= len(item) + 1
    left_out = len(items) - len(kept)
    parts = [text, *kept]
    if left_out:
        parts.append(
            f"\n> ⚠️ {left_out} of {len(items)} changes are not shown: the comment would exceed "
            f"GitHub's {GITHUB_LIMIT:,} characters. Run `reconcile plan` to see all of them.\n"
        )
    return "\n".join([*parts, *tail]) + "\n"


def _ordered(changes: Sequence[Change]) -> list[Change]:
    """Blocked changes first, then plan order."""
    return [c for c in changes if c.blocked] + [c for c in changes if not c.blocked]


def _checks_table(checks: Sequence[Check], unmanaged: Sequence[str]) -> list[str]:
    rows = ["#### Nomad CSI plugins", "", "| plugin | status |", "|---|---|"]
    rows += [f"| `{c.id}` | {'✅ ok' if c.ok else '❌ ' + c.reason} |" for c in checks]
    if unmanaged:
        rows += ["", "Unmanaged: " + ", ".join(f"`{i}`" for i in unmanaged)]
    return [*rows, ""]


def _checks(plan: Plan) -> list[str]:
    return _checks_table(plan.checks, plan.unmanaged_csi) if plan.checks else []


def render_checks(checks: Sequence[Check], unmanaged: Sequence[str]) -> str:
    """`reconcile check` as markdown: the checks table and the failing count."""
    failing = sum(1 for c in checks if not c.ok)
    status = f"❌ {failing} of {len(checks)} failing" if failing else f"✅ all {len(checks)} pass"
    return "\n".join([*_checks_table(checks, unmanaged), status]) + "\n"


def render_plan(plan: Plan, limit: int = GITHUB_LIMIT) -> str:
    head = _heading("reconcile plan", plan) + _checks(plan)
    head += [line for note in plan.notes for line in (f"ℹ️ {note}", "")]
    if plan.unpruned:
        head += ["ℹ️ " + unpruned_line(plan.unpruned), ""]
    if not plan.changes:
        return "\n".join([*head, "✅ No changes: the catalog matches the manifests."]) + "\n"
    head += _summary_table(plan)
    if plan.blocked:
        head += [f"⛔ **{len(plan.blocked)} blocked change(s)**: apply refuses this plan unless `--force`.", ""]
    items = [_details(c) for c in _ordered(plan.changes)]
    return _fit(head, items, [], limit)


def render_drift(drift: Drift, limit: int = GITHUB_LIMIT) -> str:
    head = _heading("reconcile drift", drift.plan) + _checks(drift.plan)
    if drift.plan.unpruned:
        head += ["ℹ️ " + unpruned_line(tuple(f"`{e}`" for e in drift.plan.unpruned), listed=50), ""]
    if not drift.found:
        return "\n".join([*head, "✅ In sync: the cluster matches git."]) + "\n"
    head += ["| cause | count |", "|---|---:|"]
    head += [f"| {cause.value} | {len(changes)} |" for cause, changes in drift.groups.items() if changes]
    if drift.mounts:
        head.append(f"| mounts not running what they should | {len(drift.mounts)} |")
    head.append("")
    if drift.mounts:
        head += ["#### Mounts", "", *mount_rows(drift.mounts), ""]
    items: list[str] = []
    for cause in Cause:
        changes = drift.groups[cause]
        if changes:
            items.append(f"#### {cause.value} ({len(changes)})\n")
            items += [_details(c) for c in _ordered(changes)]
    return _fit(head, items, [], limit)


def render_report(report: Report, limit: int = GITHUB_LIMIT) -> str:
    head = _heading("reconcile apply", report.plan) + _checks(report.plan)
    counts = report.counts()
    status = "✅ Apply complete" if report.ok else ("⚠️ Apply interrupted" if report.interrupted else "❌ Apply failed")
    head += [
        f"{status}: " + ", ".join(f"{n} {k}" for k, n in counts.items() if n)
        if report.plan.changes
        else "✅ No changes: the catalog matches the manifests.",
        "",
    ]
    rows = []
    for r in report.ordered():
        error = f" — {r.error.splitlines()[0]}" if r.outcome is Outcome.FAILED and r.error else ""
        rows.append(f"- **{r.outcome.value}** {verb(r.change)} `{subject(r.change)}`{error}")
    return _fit(head, rows, [], limit)


class MarkdownRenderer:
    """The `markdown` format (render.Renderer), cut to `limit` characters (GitHub's by default)."""

    def __init__(self, *, limit: int = GITHUB_LIMIT) -> None:
        self.limit = limit

    def render_plan(self, plan: Plan) -> str:
        return render_plan(plan, self.limit)

    def render_drift(self, drift: Drift) -> str:
        return render_drift(drift, self.limit)

    def render_report(self, report: Report) -> str:
        return render_report(report, self.limit)

    def render_checks(self, checks: Sequence[Check], unmanaged: Sequence[str]) -> str:
        return render_checks(checks, unmanaged)
