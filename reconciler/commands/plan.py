"""`reconcile plan`: what apply would change, and the Nomad CSI checks. Never writes to the server."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from reconciler import outputs, pipeline
from reconciler.commands.console import EXIT_CHANGES, EXIT_OK, announce_retry, emit, preflight
from reconciler.empty_guard import refuse_empty

if TYPE_CHECKING:
    from reconciler.fleet.run import Selection


def run(
    opts: pipeline.Options,
    environ: Mapping[str, str],
    *,
    fmt: str = "text",
    detailed_exitcode: bool = False,
    out_file: Path | None = None,
    allow_empty: bool = False,
    selection: Selection | None = None,
    target_parallelism: int = 4,
) -> int:
    if selection is not None:  # a targets file: every selected target (reconciler/fleet/)
        from reconciler.fleet import plans

        return plans.plan(
            selection,
            opts,
            environ,
            parallelism=target_parallelism,
            fmt=fmt,
            detailed_exitcode=detailed_exitcode,
            out_file=out_file,
            allow_empty=allow_empty,
        )
    preflight(environ, out_file)
    computed = pipeline.compute(opts, environ, pipeline.Hooks(on_retry=announce_retry))
    the_plan = computed.plan
    refuse_empty(computed.desired.state, the_plan, allow_empty=allow_empty)
    if out_file is not None:  # saved first: a failed write is the only message, not one after a plan
        from reconciler import saved  # only here: saved plans bring hashing and deepdiff

        document = saved.to_document(
            the_plan, computed.live, computed.desired, saved.SavedOptions(opts.prune, opts.replace)
        )
        outputs.write_atomic(out_file, json.dumps(document, indent=2) + "\n")
    emit(fmt, lambda r: r.render_plan(the_plan), environ)
    pipeline.check_limits(the_plan, computed.desired, opts)
    return EXIT_CHANGES if detailed_exitcode and the_plan.drifted else EXIT_OK
