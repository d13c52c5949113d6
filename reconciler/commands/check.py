"""`reconcile check`: the Nomad CSI plugins the manifests declare, optionally waiting for them to pass."""

from __future__ import annotations

import asyncio
import sys
import time
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from reconciler import checks, loader, pipeline, render
from reconciler.commands.console import EXIT_CHANGES, EXIT_OK, announce_retry, out
from reconciler.durations import parse_duration
from reconciler.kinds import csi_live
from reconciler.render import text as render_text
from reconciler.targets.nomad.api import connect as connect_nomad
from reconciler.targets.nomad.settings import NomadTarget

if TYPE_CHECKING:
    from reconciler.fleet.run import Selection


def run(
    manifests: Path,
    environ: Mapping[str, str],
    *,
    nomad_address: str | None,
    wait: str | None,
    fmt: str = "text",
    selection: Selection | None = None,
    parallel: int = 4,
) -> int:
    if selection is not None:  # a targets file: every selected target (reconciler/fleet/)
        from reconciler.fleet import checking

        return checking.check(selection, environ, wait=wait, fmt=fmt, parallelism=parallel)
    as_json = fmt == "json"
    waiting: list[str] = []

    def progress(result: checks.Check) -> None:
        stream = sys.stderr if as_json else sys.stdout  # JSON mode keeps stdout for the document
        if not waiting:
            waiting.append(f"Waiting up to {wait} for the Nomad CSI plugins:\n")
            stream.write(waiting[0])
        stream.write(render_text.check_line(result) + "\n")
        stream.flush()

    patience = parse_duration(wait) if wait is not None else None
    expectations = loader.load(manifests).state.csi_plugins
    if not expectations:
        out(
            render.get("json").render_checks([], [])
            if as_json
            else "No Nomad CSI plugins declared (nomad: csi_plugins:): nothing to check.\n"
        )
        return EXIT_OK
    hooks = pipeline.Hooks(on_retry=announce_retry)
    if patience is None:
        results, unmanaged = asyncio.run(pipeline.nomad_checks(expectations, nomad_address, environ, hooks=hooks))
    else:
        target = NomadTarget.from_env(nomad_address, environ)

        async def wait_then_close() -> tuple[list[checks.Check], csi_live.CsiLive]:
            api = connect_nomad(target, on_retry=announce_retry)
            try:
                return await csi_live.wait_for_checks(api, expectations, time.monotonic() + patience, progress)
            finally:
                await api.aclose()

        results, live = asyncio.run(wait_then_close())
        unmanaged = tuple(live.unmanaged)
    if waiting and not as_json:
        out("\n")
    out(render.get(fmt).render_checks(results, unmanaged))
    return EXIT_OK if all(c.ok for c in results) else EXIT_CHANGES
