"""apply(plan, api) -> Report. The only writer.

Phases run in order; the changes of one phase run concurrently (bounded). After a failure, the
changes in flight finish, nothing new starts, and later phases are not started. Every step is
idempotent (catalog and pin writes are upserts, deletes are checked by reading back), so running
apply again after fixing the cause converges.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum

from reconciler.client.vault import VaultApi
from reconciler.diff import Action, Change, Kind
from reconciler.errors import ApiError, PlanError, ReconcileError
from reconciler.plan import Plan
from reconciler.resources import Pin, Plugin, Runtime, ServerInfo


class Outcome(StrEnum):
    DONE = "done"
    FAILED = "failed"
    SKIPPED = "skipped"
    NOT_STARTED = "not started"
    INTERRUPTED = "interrupted"


@dataclass(frozen=True)
class Result:
    """What happened to one change."""

    change: Change
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
    except asyncio.CancelledError:
        report.interrupted = True
        raise
    return report


async def _run_phase(
    phase: list[Change],
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
    """Executes single changes; `prepare` reads what a phase needs once (mounts for rechecks)."""

    def __init__(self, api: VaultApi, server: ServerInfo) -> None:
        self.api = api
        self.server = server
        self.running: dict[tuple[str, str, str], list[str]] = {}

    async def prepare(self, phase: list[Change]) -> None:
        if any(c.recheck_mounts for c in phase):
            secrets, auth = await asyncio.gather(self.api.list_mounts(auth=False), self.api.list_mounts(auth=True))
            self.running = {}
            for m in (*secrets, *auth):
                key = ("auth" if m.auth else "secret", m.plugin, m.running_plugin_version)
                self.running.setdefault(key, []).append(m.path)

    async def run(self, change: Change) -> Result:
        if change.skipped:
            return Result(change, Outcome.SKIPPED, change.skipped)
        try:
            await self._step(change)
        except ReconcileError as exc:
            hint = f"\nHint: {exc.hint}" if exc.hint else ""
            return Result(change, Outcome.FAILED, f"{exc}{hint}")
        return Result(change, Outcome.DONE)

    async def _step(self, change: Change) -> None:
        match change.kind, change.action:
            case Kind.PLUGIN, Action.CREATE | Action.UPDATE:
                assert isinstance(change.after, Plugin)
                await self.api.register_plugin(change.after)
            case Kind.PLUGIN, Action.DELETE:
                await self._delete_plugin(change)
            case Kind.RUNTIME, Action.CREATE | Action.UPDATE:
                assert isinstance(change.after, Runtime)
                await self.api.register_runtime(change.after)
            case Kind.RUNTIME, Action.DELETE:
                await self._delete_runtime(change)
            case Kind.PIN, Action.CREATE | Action.UPDATE:
                assert isinstance(change.after, Pin)
                await self.api.write_pin(change.after)
            case Kind.PIN, Action.DELETE:
                await self.api.delete_pin(change.type, change.name)
            case Kind.RELOAD, _:
                if self.server.reload_by_name:
                    await self.api.reload_by_name(change.type, change.name)
                else:
                    await self.api.reload_backend(change.name)
            case _:  # pragma: no cover
                raise AssertionError(f"no step for {change.kind}/{change.action}")

    async def _delete_plugin(self, change: Change) -> None:
        key = change.plugin_key
        if change.recheck_mounts:
            users = self.running.get((change.type, change.name, change.version), [])
            if users:
                raise ReconcileError(f"{key} is still running on mounts after the reload: {', '.join(sorted(users))}")
        await self.api.delete_plugin(key)
        # Vault answers a delete with success even when nothing was removed: read it back.
        if await self.api.read_plugin(key) is not None:
            raise ReconcileError(f"DELETE of {key} answered success, but the entry is still in the catalog")

    async def _delete_runtime(self, change: Change) -> None:
        try:
            await self.api.delete_runtime(change.type, change.name)
        except ApiError as exc:
            # Deleting a missing runtime is a 500 (reference §4.4): already gone is done.
            if not any("plugin runtime not found" in m for m in exc.messages):
                raise
