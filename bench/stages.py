"""reconcile, stage by stage, exactly as `reconciler/cli.py` wires plan and apply, with a clock per stage.

load manifests -> read live (server detection, catalog list, entry reads) -> diff -> read mounts (only
when the plan needs them) -> plan -> render the plan (as the CLI prints it) -> apply (with the CLI's
per-change progress lines) -> render the report. Output goes to a buffer instead of a terminal.
"""

from __future__ import annotations

import asyncio
import io
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import httpx  # noqa: TID251 - only the type of the counting hook's argument

from bench.counting import as_dict, classify
from reconciler import loader
from reconciler.apply import Report, Result, apply
from reconciler.client.vault import VaultApi, VaultTarget, connect
from reconciler.diff import DiffOptions, diff
from reconciler.live import read_live, read_mounts
from reconciler.plan import build_plan, needs_mounts
from reconciler.render import text as render_text

STAGES = ("load", "read live", "diff", "read mounts", "plan", "render", "apply")


@dataclass
class Timed:
    """Seconds per stage, requests by kind (from an httpx event hook) and by method (`Http.sent`)."""

    stages: dict[str, float] = field(default_factory=dict)
    counts: Counter[str] = field(default_factory=Counter)
    sent: dict[str, int] = field(default_factory=dict)
    changes: int = 0
    ok: bool = True


class _Clock:
    def __init__(self, timed: Timed) -> None:
        self.timed = timed
        self.last = time.perf_counter()

    def lap(self, stage: str) -> None:
        now = time.perf_counter()
        self.timed.stages[stage] = self.timed.stages.get(stage, 0.0) + now - self.last
        self.last = now


async def _pipeline(manifests: Path, address: str, mode: str, parallelism: int, timed: Timed) -> None:
    out = io.StringIO()
    clock = _Clock(timed)
    desired = loader.load(manifests)
    target = VaultTarget.from_env(address)
    clock.lap("load")
    async with connect(target, parallelism=parallelism).http as http:

        async def count(request: httpx.Request) -> None:
            timed.counts[classify(request.method, request.url.path)] += 1

        # Counting only: the same hook httpx offers every client; it does not change what is sent.
        http._client.event_hooks["request"].append(count)
        api = VaultApi(http)
        live = await read_live(api, desired.state)
        clock.lap("read live")
        changes = diff(desired, live, DiffOptions(prune=True, replace=()))
        clock.lap("diff")
        if needs_mounts(changes, desired.state.settings, live):
            live = await read_mounts(api, live)
        clock.lap("read mounts")
        plan = build_plan(changes, live, desired.state.settings, target.address)
        clock.lap("plan")
        out.write(render_text.render_plan(plan, False))
        clock.lap("render")
        timed.changes = len(plan.changes)
        if mode == "apply":

            def progress(result: Result) -> None:
                out.write(render_text.result_line(result, False) + "\n")

            report = await apply(
                plan, api, live.server, parallelism=parallelism, report=Report(plan), on_result=progress
            )
            out.write(render_text.render_report(report, False))
            timed.ok = report.ok
            clock.lap("apply")
        timed.sent = dict(http.sent)


def run(manifests: Path, address: str, mode: str, parallelism: int = 8) -> Timed:
    """One plan (`mode="plan"`) or apply; the token comes from VAULT_TOKEN, as for the CLI."""
    timed = Timed()
    asyncio.run(_pipeline(manifests, address, mode, parallelism, timed))
    return timed


def counts_of(timed: Timed) -> dict[str, int]:
    return as_dict(timed.counts)
