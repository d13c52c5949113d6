"""reconcile, stage by stage: the CLI's own pipeline (`reconciler.pipeline`), with a clock per stage.

load manifests -> read live (server detection, catalog list, entry reads) -> validate -> diff ->
read mounts (only when the plan needs them) -> plan -> render the plan (as the CLI prints it) ->
apply (with the CLI's per-change progress lines) -> render the report. Output goes to a buffer
instead of a terminal.
"""

from __future__ import annotations

import asyncio
import io
import os
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from bench.counting import as_dict, classify
from reconciler import pipeline
from reconciler.apply import Report, Result, apply
from reconciler.render import text as render_text
from reconciler.targets.vault.api import VaultApi

STAGES = (*pipeline.STAGES, "render", "apply")


@dataclass
class Timed:
    """Seconds per stage, requests by kind (`Hooks.on_request`) and by method (`Http.sent`)."""

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

    def count(method: str, path: str) -> None:
        timed.counts[classify(method, path)] += 1

    hooks = pipeline.Hooks(on_request=count, on_stage=clock.lap)
    opts = pipeline.Options(manifests, address, parallelism=parallelism)
    desired = pipeline.load(manifests, hooks)
    target = pipeline.vault_target(address, os.environ)
    async with pipeline.connect(target, parallelism, None, hooks).http as http:
        api = VaultApi(http)
        computed = await pipeline.plan(api, desired, opts, target.display_address, os.environ, hooks)
        plan = computed.plan
        out.write(render_text.render_plan(plan, False))
        clock.lap("render")
        timed.changes = len(plan.changes)
        if mode == "apply":

            def progress(result: Result) -> None:
                out.write(render_text.result_line(result, False) + "\n")

            report = await apply(
                plan, api, computed.live.server, parallelism=parallelism, report=Report(plan), on_result=progress
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
