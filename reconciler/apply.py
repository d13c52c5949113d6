"""apply(plan, api) -> Report. The only writer.

Phases run in order; the changes of one phase run concurrently (bounded). After a failure, the
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

from reconciler.client.models import EntryData
from reconciler.client.vault import VaultApi
from reconciler.diff import COMPARED_FIELDS, Action, Change, Kind, Resource
from reconciler.errors import ApiError, PlanError, ReconcileError
from reconciler.plan import Plan
from reconciler.resources import Pin, Plugin, PluginKey, PluginType, Runtime, ServerInfo

OTHER_WRITER = "changed by another writer during apply"
_CHECKED = (Kind.PLUGIN, Kind.RUNTIME, Kind.PIN)


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
        await _verify(runner, report, on_result)
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
            if change.kind in _CHECKED and change.action in (Action.UPDATE, Action.DELETE):
                await self._check_unchanged(change)
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
            raise ReconcileError(
                f"DELETE of {key} answered success, but the entry is still in the catalog "
                "(another writer may have registered it again)"
            )

    async def _delete_runtime(self, change: Change) -> None:
        try:
            await self.api.delete_runtime(change.type, change.name)
        except ApiError as exc:
            # Deleting a missing runtime is a 500 (reference §4.4): already gone is done.
            if not any("plugin runtime not found" in m for m in exc.messages):
                raise

    async def current(self, change: Change) -> Resource | None:
        """The entry `change` is about, as the server has it now (one request)."""
        match change.kind:
            case Kind.PLUGIN:
                key = change.plugin_key
                data = await self.api.read_plugin(key)
                return None if data is None else _plugin_from_read(key, data)
            case Kind.RUNTIME:
                return next((r for r in await self.api.list_runtimes() if r.name == change.name), None)
            case _:
                return next(
                    (p for p in await self.api.list_pins() if (p.type, p.name) == (change.type, change.name)), None
                )

    async def _check_unchanged(self, change: Change) -> None:
        """Refuse to update or delete an entry that is no longer what the plan saw."""
        now = await self.current(change)
        differs = _difference(change.before, now, _fields_seen(change))
        if differs:
            raise ReconcileError(
                f"{_label(change)} changed since the plan was made ({differs}); not written: "
                "another writer may be changing the catalog",
                hint="run plan again; set settings.lock so that applies cannot overlap",
            )


def _plugin_from_read(key: PluginKey, data: EntryData) -> Plugin:
    return Plugin(
        type=key.type,
        name=key.name,
        version=key.version,
        sha256=data.sha256.lower(),
        command=data.command,
        args=tuple(data.args or ()),
        oci_image=data.oci_image,
        runtime=data.runtime,
    )


def _fields_seen(change: Change) -> tuple[str, ...]:
    """The fields of `before` the plan read. Vault's prune candidates come from the list alone,
    without command and args (live.py reads entries only where the plan compares them)."""
    if change.kind is Kind.RUNTIME:
        return tuple(Runtime.model_fields)
    if change.kind is Kind.PIN:
        return ("version",)
    if isinstance(change.before, Plugin) and not change.before.command:
        return ("sha256", "oci_image", "runtime")
    return COMPARED_FIELDS


def _difference(expected: Resource | None, now: Resource | None, fields: tuple[str, ...]) -> str:
    """What differs between two versions of one entry, or "" when they agree on `fields`."""
    if expected is None or now is None:
        return "" if expected is now else ("it is now missing" if now is None else "it now exists")
    differ = [f for f in fields if getattr(expected, f) != getattr(now, f)]
    return f"{', '.join(differ)} now differ{'s' if len(differ) == 1 else ''}" if differ else ""


def _label(change: Change) -> str:
    if change.kind is Kind.PLUGIN:
        return str(change.plugin_key)
    if change.kind is Kind.PIN:
        return f"the pin of {change.type}/{change.name}"
    return f"runtime {change.type}/{change.name}"


async def _verify(runner: _Runner, report: Report, on_result: Callable[[Result], None] | None) -> None:
    """Re-read every entry apply wrote or deleted; a change another writer undid becomes a failure.

    Plugins are read one by one through as many workers as requests may be in flight; pins and
    runtimes with one list each, however many changed.
    """
    done = [(i, r.change) for i, r in sorted(report.results.items()) if r.outcome is Outcome.DONE]
    done = [(i, c) for i, c in done if c.kind in _CHECKED]
    plugins = iter([(i, c) for i, c in done if c.kind is Kind.PLUGIN])
    now: dict[int, Resource | None] = {}

    async def read_plugins() -> None:
        for i, change in plugins:
            now[i] = await runner.current(change)

    async def read_listed(kind: Kind) -> None:
        changes = [(i, c) for i, c in done if c.kind is kind]
        if changes:
            found = await (runner.api.list_pins() if kind is Kind.PIN else runner.api.list_runtimes())
            by_key: dict[object, Resource] = {r.key: r for r in found}
            for i, c in changes:
                now[i] = by_key.get((PluginType(c.type), c.name) if kind is Kind.PIN else (c.type, c.name))

    workers = min(runner.api.http.parallelism, sum(1 for _, c in done if c.kind is Kind.PLUGIN))
    await asyncio.gather(read_listed(Kind.PIN), read_listed(Kind.RUNTIME), *(read_plugins() for _ in range(workers)))
    for i, change in done:
        fields = COMPARED_FIELDS if change.kind is Kind.PLUGIN else _fields_seen(change)
        differs = _difference(change.after, now[i], fields)
        if differs:
            result = Result(change, Outcome.FAILED, f"{OTHER_WRITER}: {_label(change)}: {differs}")
            report.results[i] = result
            if on_result:
                on_result(result)
