"""apply(plan, api) -> Report. The only writer; it runs the plan's steps and decides nothing.

Phases run in order; the steps of one phase run concurrently (bounded); each step calls its
kind's write or delete (reconciler/kinds) with the endpoint plan chose. After a failure, the
changes in flight finish, nothing new starts, and later phases are not started. Every step is
idempotent (catalog and pin writes are upserts, deletes are checked by reading back), so running
apply again after fixing the cause converges.

Another writer (a second apply, a person) may change the catalog while apply runs. Each update and
delete first re-reads its entry and goes ahead only if it is still what the plan saw; after the
last phase, every entry apply wrote or deleted is read again and compared with the plan. This
narrows the window without closing it: only the lock (`settings.lock`, lock.py) does.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING

from reconciler.errors import PlanError, ReconcileError
from reconciler.kinds import Action, Change, Kind
from reconciler.kinds.base import Resource
from reconciler.plan import Plan, Step
from reconciler.resources import ServerInfo

if TYPE_CHECKING:
    from reconciler.targets.vault.api import VaultApi

OTHER_WRITER = "changed by another writer during apply"


class Outcome(StrEnum):
    DONE = "done"
    FAILED = "failed"
    SKIPPED = "skipped"
    NOT_STARTED = "not started"
    INTERRUPTED = "interrupted"


@dataclass(frozen=True)
class Result:
    """What happened to one step."""

    change: Step
    outcome: Outcome
    error: str = ""


@dataclass
class Report:
    """Filled in as apply runs, so an interrupted apply can still be reported."""

    plan: Plan
    results: dict[int, Result] = field(default_factory=dict)
    """Plan index -> result, for the changes that started or were skipped."""
    interrupted: bool = False
    in_flight: set[int] = field(default_factory=set)
    """Plan indexes of the changes being sent right now."""

    def ordered(self) -> list[Result]:
        """One result per plan change, in plan order; unstarted ones are `not started`."""
        return [
            self.results.get(i, Result(c, Outcome.INTERRUPTED if i in self.in_flight else Outcome.NOT_STARTED))
            for i, c in enumerate(self.plan.changes)
        ]

    @property
    def ok(self) -> bool:
        return not self.interrupted and all(r.outcome in (Outcome.DONE, Outcome.SKIPPED) for r in self.ordered())

    def counts(self) -> dict[str, int]:
        out = {o.value: 0 for o in Outcome}
        for r in self.ordered():
            out[r.outcome.value] += 1
        return out


async def apply(
    plan: Plan,
    api: VaultApi,
    server: ServerInfo,
    *,
    parallelism: int = 8,
    force: bool = False,
    report: Report | None = None,
    on_result: Callable[[Result], None] | None = None,
) -> Report:
    """Run the plan. Refuses a plan with blocked changes unless `force`."""
    if plan.blocked and not force:
        raise PlanError(
            f"{len(plan.blocked)} change(s) are blocked; nothing was applied",
            hint="fix the causes shown in the plan, or pass --force to apply anyway",
        )
    report = report or Report(plan)
    index = {id(c): i for i, c in enumerate(plan.changes)}
    runner = _Runner(api, server)
    try:
        for phase in plan.phases():
            ok = await _run_phase(phase, runner, parallelism, report, index, on_result)
            if not ok:
                break
        await _verify(runner, report, on_result)
    except asyncio.CancelledError:
        report.interrupted = True
        raise
    return report


async def _run_phase(
    phase: list[Step],
    runner: _Runner,
    parallelism: int,
    report: Report,
    index: dict[int, int],
    on_result: Callable[[Result], None] | None,
) -> bool:
    pending = deque(phase)
    failed = False
    await runner.prepare(phase)

    async def worker() -> None:
        nonlocal failed
        while pending and not failed:
            change = pending.popleft()
            i = index[id(change)]
            report.in_flight.add(i)
            result = await runner.run(change)
            report.in_flight.discard(i)
            report.results[i] = result
            if result.outcome is Outcome.FAILED:
                failed = True
            if on_result:
                on_result(result)

    await asyncio.gather(*(worker() for _ in range(min(parallelism, len(phase)))))
    return not failed


class _Runner:
    """Executes single steps; `prepare` reads what a phase needs once (mounts for rechecks)."""

    def __init__(self, api: VaultApi, server: ServerInfo) -> None:
        self.api = api
        self.server = server
        self.running: dict[tuple[str, str, str], list[str]] = {}

    async def prepare(self, phase: list[Step]) -> None:
        if any(s.recheck_mounts for s in phase):
            secrets, auth = await asyncio.gather(self.api.list_mounts(auth=False), self.api.list_mounts(auth=True))
            self.running = {}
            for m in (*secrets, *auth):
                key = ("auth" if m.auth else "secret", m.plugin, m.running_plugin_version)
                self.running.setdefault(key, []).append(m.path)

    async def run(self, step: Step) -> Result:
        if step.skipped:
            return Result(step, Outcome.SKIPPED, step.skipped)
        change, spec = step.change, step.kind.spec
        try:
            if spec.checked and change.action in (Action.UPDATE, Action.DELETE):
                await self._check_unchanged(change)
            if change.action is Action.DELETE:
                if step.recheck_mounts:
                    self._still_running(change)
                await spec.delete(self.api, change)
            else:
                await spec.write(self.api, change, step.endpoint)
        except ReconcileError as exc:
            hint = f"\nHint: {exc.hint}" if exc.hint else ""
            return Result(step, Outcome.FAILED, f"{exc}{hint}")
        return Result(step, Outcome.DONE)

    def _still_running(self, change: Change) -> None:
        users = self.running.get((change.type, change.name, change.version), [])
        if users:
            label = change.kind.spec.label(change)
            raise ReconcileError(f"{label} is still running on mounts after the reload: {', '.join(sorted(users))}")

    async def _check_unchanged(self, change: Change) -> None:
        """Refuse to update or delete an entry that is no longer what the plan saw."""
        spec = change.kind.spec
        (now,) = await spec.current(self.api, [change])
        differs = _difference(change.before, now, spec.fields_seen(change))
        if differs:
            raise ReconcileError(
                f"{spec.label(change)} changed since the plan was made ({differs}); not written: "
                "another writer may be changing the catalog",
                hint="run plan again; set settings.lock so that applies cannot overlap",
            )


def _difference(expected: Resource | None, now: Resource | None, fields: tuple[str, ...]) -> str:
    """What differs between two versions of one entry, or "" when they agree on `fields`."""
    if expected is None or now is None:
        return "" if expected is now else ("it is now missing" if now is None else "it now exists")
    differ = [f for f in fields if getattr(expected, f) != getattr(now, f)]
    return f"{', '.join(differ)} now differ{'s' if len(differ) == 1 else ''}" if differ else ""


async def _verify(runner: _Runner, report: Report, on_result: Callable[[Result], None] | None) -> None:
    """Re-read every entry apply wrote or deleted; a change another writer undid becomes a failure.

    Each kind reads its entries back at once (plugins one by one through as many workers as
    requests may be in flight; pins and runtimes with one list each, however many changed).
    """
    done = [(i, r.change) for i, r in sorted(report.results.items()) if r.outcome is Outcome.DONE]
    done = [(i, s) for i, s in done if s.kind.spec.checked]
    by_kind: dict[Kind, list[tuple[int, Step]]] = {}
    for i, step in done:
        by_kind.setdefault(step.kind, []).append((i, step))
    kinds = list(by_kind)
    found = await asyncio.gather(*(k.spec.current(runner.api, [s.change for _, s in by_kind[k]]) for k in kinds))
    now: dict[int, Resource | None] = {}
    for kind, objects in zip(kinds, found, strict=True):
        now |= {i: obj for (i, _), obj in zip(by_kind[kind], objects, strict=True)}
    for i, step in done:
        differs = _difference(step.after, now[i], step.kind.spec.compared)
        if differs:
            result = Result(step, Outcome.FAILED, f"{OTHER_WRITER}: {step.kind.spec.label(step.change)}: {differs}")
            report.results[i] = result
            if on_result:
                on_result(result)
