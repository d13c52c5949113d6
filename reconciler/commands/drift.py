"""`reconcile drift`: how the cluster differs from git (and failing Nomad checks), grouped by cause."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

from reconciler import drift, pipeline
from reconciler.commands.console import EXIT_CHANGES, EXIT_OK, announce_retry, emit, preflight

if TYPE_CHECKING:
    from reconciler.fleet.run import Selection


def run(
    opts: pipeline.Options,
    environ: Mapping[str, str],
    *,
    fmt: str = "text",
    selection: Selection | None = None,
    parallel: int = 4,
) -> int:
    if selection is not None:  # a targets file: every selected target (reconciler/fleet/)
        from reconciler.fleet import plans

        return plans.drift_command(selection, opts, environ, parallelism=parallel, fmt=fmt)
    preflight(environ)
    from reconciler.commands.status import inventory

    computed = pipeline.compute(opts, environ, pipeline.Hooks(on_retry=announce_retry))
    found = drift.detect(computed.plan, inventory(computed.desired, opts, environ).mismatches)
    emit(fmt, lambda r: r.render_drift(found), environ)
    return EXIT_CHANGES if found.found else EXIT_OK
