"""`check` and `export` over the targets of a targets file.

`check`: each target's Nomad CSI checks (its manifests' `nomad:` section, its `nomad_address`),
combined like plans; with `--wait`, every target waits at the same time, up to the same deadline.
`export --out DIR`: each target's live catalog into `DIR/<target>/`.
"""

from __future__ import annotations

import asyncio
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TextIO

from reconciler import checks, pipeline
from reconciler import export as exporting
from reconciler.commands.console import EXIT_ERROR, EXIT_OK, out
from reconciler.durations import parse_duration
from reconciler.errors import ReconcileError, UsageError
from reconciler.fleet import run
from reconciler.fleet.part import Part, exit_code
from reconciler.fleet.plans import emit
from reconciler.kinds import csi_live
from reconciler.render import fleet as combined
from reconciler.render import text as render_text
from reconciler.resources import CsiPlugin
from reconciler.targets.nomad.api import connect as connect_nomad
from reconciler.targets.nomad.settings import NomadTarget
from reconciler.targets.vault.api import VaultApi


def check(
    selection: run.Selection,
    environ: Mapping[str, str],
    *,
    wait: str | None = None,
    fmt: str = "text",
    parallelism: int = run.DEFAULT_PARALLELISM,
) -> int:
    """The Nomad CSI checks of every selected target: exit 2 when any fails, 1 when any errored."""
    patience = parse_duration(wait) if wait is not None else None
    deadline = time.monotonic() + patience if patience is not None else None
    stream = sys.stderr if fmt == "json" else sys.stdout  # JSON keeps stdout for the document

    async def work(ctx: run.Context) -> Part:
        expectations = run.load_manifests(ctx).state.csi_plugins
        if not expectations:
            return Part(ctx.target.name, ctx.address, lambda r: r.render_checks([], []), status="nothing to check")
        if deadline is None:
            results, unmanaged = await pipeline.nomad_checks(expectations, None, ctx.environ, hooks=ctx.hooks)
        else:
            results, unmanaged = await _wait(ctx, expectations, deadline, stream)
        failing = sum(1 for c in results if not c.ok)
        status = f"{failing} of {len(results)} failing" if failing else f"all {len(results)} pass"
        nomad = NomadTarget.from_env(None, ctx.environ).display_address
        return Part(ctx.target.name, nomad, lambda r: r.render_checks(results, unmanaged), bool(failing), status=status)

    # Waiting targets must all wait at once: each holds its slot for the whole wait otherwise.
    width = len(selection.targets) if deadline is not None else parallelism
    parts = asyncio.run(run.each(selection.targets, environ, width, work))
    emit(parts, combined.CHECK, fmt, environ)
    return exit_code(parts, changes_exit=True)


async def _wait(
    ctx: run.Context, expectations: Sequence[CsiPlugin], deadline: float, stream: TextIO
) -> tuple[list[checks.Check], tuple[str, ...]]:
    def progress(result: checks.Check) -> None:
        line = f"  {ctx.target.name}: {render_text.check_line(result).strip()}\n"
        stream.write(line)
        stream.flush()

    api = connect_nomad(NomadTarget.from_env(None, ctx.environ), on_retry=ctx.hooks.on_retry)
    try:
        results, live = await csi_live.wait_for_checks(api, expectations, deadline, progress)
    finally:
        await api.aclose()
    return results, tuple(live.unmanaged)


def export(
    selection: run.Selection,
    environ: Mapping[str, str],
    *,
    out_dir: Path | None,
    select: Sequence[str] = (),
    force: bool = False,
    parallelism: int = 8,
    timeout: float | None = None,
    target_parallelism: int = run.DEFAULT_PARALLELISM,
) -> int:
    """Each target's live catalog as manifests in `DIR/<target>/` (stdout only for a single target)."""
    if out_dir is None and len(selection.targets) > 1:
        raise UsageError(
            "export of several targets needs --out DIR (one folder per target: DIR/<target>/)",
            hint="pass --out DIR, or one --target NAME to print its catalog",
        )
    if out_dir is not None and out_dir.exists() and not out_dir.is_dir():
        raise UsageError(f"--out {out_dir}: exists and is not a folder")
    results: dict[str, exporting.Export] = {}

    async def work(ctx: run.Context) -> Part:
        vault = await pipeline.logged_in_target(ctx.environ, timeout)
        async with pipeline.connect(vault, parallelism, timeout, ctx.hooks).http as http:
            catalog = await exporting.read_catalog(VaultApi(http))
        source = f"{catalog.server.kind} {catalog.server.version} at {vault.display_address}"
        results[ctx.target.name] = exporting.build(catalog, tuple(select), source)
        return Part(ctx.target.name, vault.display_address)

    parts = asyncio.run(run.each(selection.targets, environ, target_parallelism, work))
    failed = False
    for part in parts:
        result = results.get(part.name)
        if result is None:
            run.say(f"{part.name}: Error: {part.error}")
            failed = True
            continue
        if out_dir is None:
            out(result.as_stream())
        else:
            try:
                written = exporting.write(out_dir / part.name, result.files, force=force)
            except ReconcileError as exc:
                run.say(f"{part.name}: Error: {run.message(exc)}")
                failed = True
                continue
            run.say(f"{part.name}: wrote {', '.join(str(p) for p in written)}")
        for line in exporting.notes(result).splitlines():
            run.say(f"{part.name}: {line}")
    return EXIT_ERROR if failed else EXIT_OK
