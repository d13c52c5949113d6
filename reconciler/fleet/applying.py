"""`reconcile apply [FILE]` over the targets of a targets file.

Two phases, every target with its own connection, login and lock, held from its plan to its apply:

1. plan: each target plans (a saved plan: is checked for staleness), concurrently, at most
   `--target-parallelism` at a time;
2. once all have planned, one decision covers them all: a saved plan file is applied only when
   every target in it is still current (one stale or unreachable target refuses the whole file);
   a fresh plan is confirmed once (or `--auto-approve`) and applied on every target that planned.
   Each target then applies independently: one that fails does not stop the others.
"""

from __future__ import annotations

import asyncio
import dataclasses
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from reconciler import confirm, loader, lock, pipeline, saved, stale
from reconciler.apply import Report, Result, apply
from reconciler.commands.apply import Choices
from reconciler.commands.console import EXIT_ERROR, color, out, preflight, step_summary
from reconciler.durations import parse_duration
from reconciler.empty_guard import refuse_empty
from reconciler.errors import PlanError, ReconcileError, UsageError
from reconciler.fleet import run
from reconciler.fleet import saved as fleet_saved
from reconciler.fleet.config import Target
from reconciler.fleet.part import Part, exit_code
from reconciler.fleet.plans import plan_status
from reconciler.manifest import Desired
from reconciler.plan import Plan
from reconciler.render import fleet as combined
from reconciler.render import text as render_text
from reconciler.resources import ServerInfo
from reconciler.targets.vault.api import VaultApi


@dataclass
class _Target:
    """One target's progress through both phases."""

    ctx: run.Context
    saved: fleet_saved.SavedTarget | None = None
    plan: Plan | None = None
    server: ServerInfo | None = None
    report: Report | None = None
    error: str = ""
    planned: asyncio.Event = field(default_factory=asyncio.Event)


def apply_command(
    selection: run.Selection,
    opts: pipeline.Options,
    choices: Choices,
    environ: Mapping[str, str],
    *,
    names: tuple[str, ...] = (),
    parallelism: int = run.DEFAULT_PARALLELISM,
) -> int:
    """Plan every target, decide once, apply each; exit 1 if any target failed or nothing was applied."""
    preflight(environ)
    targets, files = _targets(selection, opts, choices, names)
    patience = parse_duration(choices.lock_timeout)
    colored = color(sys.stdout, environ)
    states: list[_Target] = []

    async def go() -> bool:
        slots = asyncio.Semaphore(parallelism)
        decision: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        parsed: dict[Path, loader.Parsed] = {}
        states.extend(_Target(run.context(t, environ, parsed), files.get(t.name)) for t in targets)
        tasks = [asyncio.create_task(_one(s, opts, choices, patience, slots, decision)) for s in states]
        await asyncio.gather(*(s.planned.wait() for s in states))
        go_on = _decide(states, choices, colored)
        decision.set_result(go_on)
        await asyncio.gather(*tasks)
        return go_on

    try:
        approved = asyncio.run(go())
    except KeyboardInterrupt:
        for state in states:
            if state.report is not None:
                state.report.interrupted = True
        _finish(states, choices, colored, environ)
        raise
    if not approved and not any(s.error for s in states) and choices.plan_file is None:
        out(confirm.CANCELLED + "\n")
        return EXIT_ERROR
    return exit_code(_finish(states, choices, colored, environ), changes_exit=False)


def _targets(
    selection: run.Selection, opts: pipeline.Options, choices: Choices, names: tuple[str, ...]
) -> tuple[tuple[Target, ...], dict[str, fleet_saved.SavedTarget]]:
    """The targets to apply: the selection, or those of the saved plan file (which must be in the file)."""
    if choices.plan_file is None:
        return selection.targets, {}
    if opts.replace or not opts.prune:
        raise UsageError("--replace and --no-prune come from the saved plan; do not pass them with FILE")
    if names:
        raise UsageError("--target cannot be used with FILE: the saved plan says which targets it covers")
    files = {s.name: s for s in fleet_saved.read(choices.plan_file)}
    known = {t.name: t for t in selection.fleet.targets}
    unknown = [n for n in files if n not in known]
    if unknown:
        raise UsageError(
            f"{choices.plan_file}: the target {unknown[0]!r} is not in {selection.fleet.path}; nothing was applied"
        )
    return tuple(t for t in selection.fleet.targets if t.name in files), files


async def _one(
    state: _Target,
    opts: pipeline.Options,
    choices: Choices,
    patience: float,
    slots: asyncio.Semaphore,
    decision: asyncio.Future[bool],
) -> None:
    ctx = state.ctx
    try:
        desired = run.load_manifests(ctx)
        if state.saved is not None:
            options = state.saved.options
            opts = dataclasses.replace(opts, prune=options.prune, replace=options.replace)
        vault = await pipeline.logged_in_target(ctx.environ, opts.timeout)
        async with (
            pipeline.connect(vault, opts.parallelism, opts.timeout, ctx.hooks).http as http,
            lock.held_if_set(
                http, desired.state.settings.lock, timeout=patience, say=_saying(ctx), environ=ctx.environ
            ),
        ):
            api = VaultApi(http)
            async with slots:
                state.plan = await _planned(state, api, desired, opts, choices, vault.display_address)
            state.planned.set()
            if not await decision:
                return
            async with slots:
                await _applied(state, api, opts, choices)
    except ReconcileError as exc:
        state.error = run.message(exc)
    finally:
        state.planned.set()


async def _planned(
    state: _Target, api: VaultApi, desired: Desired, opts: pipeline.Options, choices: Choices, address: str
) -> Plan:
    ctx = state.ctx
    computed = await pipeline.plan(api, desired, opts, address, ctx.environ, ctx.hooks)
    if state.saved is not None:
        changed = saved.staleness(state.saved.document, computed.plan, computed.live, desired)
        if changed:
            state.plan = computed.plan
            raise PlanError(
                "stale plan: " + stale.summarize(changed, "; nothing was applied to any target"),
                hint="make a new plan with `reconcile plan --out FILE`",
            )
    refuse_empty(desired.state, computed.plan, allow_empty=choices.allow_empty)
    state.plan, state.server = computed.plan, computed.live.server
    pipeline.check_limits(computed.plan, desired, opts)
    return computed.plan


async def _applied(state: _Target, api: VaultApi, opts: pipeline.Options, choices: Choices) -> None:
    the_plan, server = state.plan, state.server
    assert the_plan is not None  # only targets that planned get here
    assert server is not None
    name = state.ctx.target.name
    state.report = Report(the_plan)

    def progress(result: Result) -> None:
        if not choices.as_json:
            out(f"  {name}: {render_text.result_line(result).strip()}\n")

    await apply(
        the_plan,
        api,
        server,
        parallelism=opts.parallelism,
        force=choices.force,
        report=state.report,
        on_result=progress,
    )


def _saying(ctx: run.Context) -> Callable[[str], None]:
    """Lines about the target's lock, prefixed with its name."""
    return lambda line: run.say(f"{ctx.target.name}: {line}")


def _decide(states: list[_Target], choices: Choices, colored: bool) -> bool:
    """Show every target's plan; say whether to apply (one answer for all targets)."""
    if choices.plan_file is not None:
        bad = [s.ctx.target.name for s in states if s.error]
        for state in states:
            if bad and not state.error:
                state.error = f"nothing was applied: the saved plan cannot be applied to {', '.join(bad)}"
    if not choices.as_json:
        out(_plans_text(states, colored))
    if choices.plan_file is not None:
        return not any(s.error for s in states)
    ready = [s for s in states if s.plan is not None and not s.error]
    if not ready:
        return False
    changes = sum(0 if s.plan.blocked and not choices.force else len(s.plan.changes) for s in ready if s.plan)
    where = f"{len(ready)} target{'s' if len(ready) != 1 else ''} ({', '.join(s.ctx.target.name for s in ready)})"
    # Nobody to ask (no terminal, --format json): a UsageError for the whole run, as for one target.
    return confirm.approved(
        changes,
        where,
        auto_approve=choices.auto_approve,
        saved_plan=False,
        interactive=not choices.as_json,
        stdin=sys.stdin,
        stdout=sys.stdout,
    )


def _plans_text(states: list[_Target], colored: bool) -> str:
    sections = []
    for state in states:
        body = render_text.render_plan(state.plan, colored) if state.plan is not None else ""
        if state.error:
            body += f"Error: {state.error}\n"
        sections.append(f"=== {state.ctx.target.name} ===\n{body}")
    return "\n".join(sections)


def _finish(states: list[_Target], choices: Choices, colored: bool, environ: Mapping[str, str]) -> list[Part]:
    """Report every target: its apply report, or its plan and why nothing was applied."""
    parts = [_part(s) for s in states]
    if choices.as_json:
        out(combined.render_json(parts))
        for part in parts:
            if part.error:
                run.say(f"{part.name}: Error: {part.error}")
    elif any(s.report is not None and (s.report.plan.changes or s.report.plan.failing_checks) for s in states):
        out("\n" + _reports_text(states, colored))
    if not choices.as_json:
        out("\n" + combined.summary_line(parts, combined.APPLY) + "\n")
    step_summary(combined.render_markdown(parts, combined.APPLY), environ)
    return parts


def _reports_text(states: list[_Target], colored: bool) -> str:
    sections = []
    for state in states:
        report = state.report
        if report is not None and (report.plan.changes or report.plan.failing_checks):
            sections.append(f"=== {state.ctx.target.name} ===\n" + render_text.render_report(report, colored))
    return "\n".join(sections)


def _part(state: _Target) -> Part:
    name, address = state.ctx.target.name, state.ctx.address
    report, the_plan = state.report, state.plan
    if report is not None:
        counts = report.counts()
        status = ", ".join(f"{n} {k}" for k, n in counts.items() if n) or "nothing to do"
        return Part(
            name,
            report.plan.target.address,
            lambda r: r.render_report(report),
            changed=bool(report.plan.changes),
            failed=not report.ok or bool(state.error),
            error=state.error,
            status=status,
        )
    if the_plan is not None:
        status = plan_status(the_plan) + ("; nothing applied" if the_plan.changes else "")
        shown = the_plan
        return Part(
            name,
            shown.target.address,
            lambda r: r.render_plan(shown),
            changed=bool(shown.changes),
            failed=bool(state.error),
            error=state.error,
            status=status,
        )
    return Part(name, address, failed=True, error=state.error or "not applied")
