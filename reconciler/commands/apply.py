"""`reconcile apply [FILE]`: a fresh plan (or a saved one, checked for staleness), confirmed, then
applied under the lock (settings.lock), each change reported as it completes."""

from __future__ import annotations

import asyncio
import dataclasses
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from reconciler import confirm, lock, pipeline, render
from reconciler.apply import Report, Result, apply
from reconciler.commands.console import (
    EXIT_ERROR,
    EXIT_OK,
    announce_retry,
    color,
    out,
    preflight,
    say,
    step_summary,
)
from reconciler.durations import parse_duration
from reconciler.empty_guard import refuse_empty
from reconciler.errors import PlanError, UsageError
from reconciler.plan import Plan
from reconciler.render import text as render_text
from reconciler.targets.vault.api import VaultApi

if TYPE_CHECKING:
    from reconciler.fleet.run import Selection


@dataclass(frozen=True)
class Choices:
    """What only apply is told on the command line."""

    plan_file: Path | None = None
    as_json: bool = False
    force: bool = False
    auto_approve: bool = False
    lock_timeout: str = "0s"
    allow_empty: bool = False


def run(
    opts: pipeline.Options,
    choices: Choices,
    environ: Mapping[str, str],
    selection: Selection | None = None,
    names: tuple[str, ...] = (),
    target_parallelism: int = 4,
) -> int:
    if selection is not None:  # a targets file: plan all, decide once, apply each (reconciler/fleet/)
        from reconciler.fleet import applying

        return applying.apply_command(selection, opts, choices, environ, names=names, parallelism=target_parallelism)
    as_json = choices.as_json
    colored = color(sys.stdout, environ)

    def progress(result: Result) -> None:
        if not as_json:
            out(render_text.result_line(result, colored) + "\n")

    saved_doc = None
    preflight(environ)
    if choices.plan_file is not None:
        if opts.replace or not opts.prune:
            raise UsageError("--replace and --no-prune come from the saved plan; do not pass them with FILE")
        saved_doc, opts = _read_saved(choices.plan_file, opts)
    patience = parse_duration(choices.lock_timeout)
    desired = pipeline.load(opts.manifests)
    target = pipeline.vault_target(opts.address, environ, opts.auth, opts.timeout)
    hooks = pipeline.Hooks(on_retry=announce_retry)
    report_box: list[Report] = []

    def approved(the_plan: Plan, shown_address: str, saved_plan: bool) -> bool:
        changes = 0 if the_plan.blocked and not choices.force else len(the_plan.changes)  # apply refuses those
        return confirm.approved(
            changes,
            shown_address,
            auto_approve=choices.auto_approve,
            saved_plan=saved_plan,
            interactive=not as_json,
            stdin=sys.stdin,
            stdout=sys.stdout,
        )

    async def go() -> Report | None:
        async with (
            pipeline.connect(target, opts.parallelism, opts.timeout, hooks).http as http,
            lock.held_if_set(http, desired.state.settings.lock, timeout=patience, say=say, environ=environ),
        ):
            api = VaultApi(http)
            computed = await pipeline.plan(api, desired, opts, target.display_address, environ, hooks)
            if saved_doc is not None:
                _refuse_stale(saved_doc, computed)
            refuse_empty(desired.state, computed.plan, allow_empty=choices.allow_empty)
            if not as_json:
                out(render_text.render_plan(computed.plan, colored))
            pipeline.check_limits(computed.plan, desired, opts)
            if not approved(computed.plan, target.display_address, saved_doc is not None):
                return None
            report = Report(computed.plan)
            report_box.append(report)
            if computed.plan.changes and not as_json:
                out("\nApplying:\n")
            return await apply(
                computed.plan,
                api,
                computed.live.server,
                parallelism=opts.parallelism,
                force=choices.force,
                report=report,
                on_result=progress,
            )

    try:
        report = asyncio.run(go())
    except KeyboardInterrupt:
        if report_box:
            report_box[0].interrupted = True
            _finish(report_box[0], as_json, colored, environ)
        raise
    if report is None:
        out(confirm.CANCELLED + "\n")
        return EXIT_ERROR
    _finish(report, as_json, colored, environ)
    return EXIT_OK if report.ok else EXIT_ERROR


def _read_saved(plan_file: Path, opts: pipeline.Options) -> tuple[dict[str, Any], pipeline.Options]:
    """A saved plan and the options it must be re-planned with."""
    from reconciler import saved, saved_schema  # only for saved plans: hashing, deepdiff

    saved_doc, saved_opts = saved.parse(saved_schema.read_text(plan_file), str(plan_file))
    return saved_doc, dataclasses.replace(opts, prune=saved_opts.prune, replace=saved_opts.replace)


def _refuse_stale(saved_doc: dict[str, Any], computed: pipeline.Computed) -> None:
    """PlanError, saying what changed, when the saved plan no longer describes what apply would do."""
    from reconciler import saved, stale

    changed = saved.staleness(saved_doc, computed.plan, computed.live, computed.desired)
    if changed:
        raise PlanError(
            "stale plan: " + stale.summarize(changed, "; nothing was applied"),
            hint="make a new plan with `reconcile plan --out FILE`",
        )


def _finish(report: Report, as_json: bool, colored: bool, environ: Mapping[str, str]) -> None:
    if as_json:
        out(render.get("json").render_report(report))
    elif report.plan.changes or report.plan.failing_checks:
        out("\n" + render.get("text", color=colored).render_report(report))
    step_summary(render.get("markdown").render_report(report), environ)
