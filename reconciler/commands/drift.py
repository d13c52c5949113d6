"""`reconcile drift`: how the cluster differs from git (and failing Nomad checks), grouped by cause."""

from __future__ import annotations

from collections.abc import Mapping

from reconciler import drift, pipeline
from reconciler.commands.console import EXIT_CHANGES, EXIT_OK, announce_retry, emit, preflight


def run(opts: pipeline.Options, environ: Mapping[str, str], *, fmt: str = "text") -> int:
    preflight(environ)
    found = drift.detect(pipeline.compute(opts, environ, pipeline.Hooks(on_retry=announce_retry)).plan)
    emit(fmt, lambda r: r.render_drift(found), environ)
    return EXIT_CHANGES if found.found else EXIT_OK
