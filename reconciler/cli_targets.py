"""The command-line options of a targets file (reconcile.yaml: several clusters, issue #15).

Shared by the commands in cli.py: `--config FILE`, `--target NAME` (repeatable) and
`--target-parallelism N`, and the choice between a run over the targets of the file and the
single-target run of before (no targets file).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    from reconciler.fleet.run import Selection

ConfigOpt = Annotated[
    Path | None,
    typer.Option("--config", metavar="FILE", help="Targets file (several clusters); default ./reconcile.yaml if any."),
]
TargetOpt = Annotated[
    list[str] | None, typer.Option("--target", metavar="NAME", help="Only this target of the targets file. Repeatable.")
]
TargetParallelismOpt = Annotated[
    int, typer.Option("--target-parallelism", min=1, max=64, help="Targets worked on at once (targets file).")
]

_SINGLE = ("manifests", "address", "nomad_address")
"""The options a targets file replaces: each target sets its own."""


def single(ctx: typer.Context) -> list[str]:
    """The single-target options given on the command line (an error with a targets file)."""
    sources = {n: ctx.get_parameter_source(n) for n in _SINGLE if n in ctx.params}
    return ["--" + n.replace("_", "-") for n, s in sources.items() if s and s.name in ("COMMANDLINE", "ENVIRONMENT")]


def selection(ctx: typer.Context, config: Path | None, names: list[str] | None) -> Selection | None:
    """The targets this run covers; None for a single-target run (no targets file)."""
    from reconciler.fleet.run import resolve

    return resolve(config, names or (), single(ctx))


def targets_file(ctx: typer.Context, config: Path | None, names: list[str] | None) -> Path | None:
    """The targets file, not yet read (`validate` reports its problems with the manifests')."""
    from reconciler.fleet.run import targets_file as find

    return find(config, names or (), single(ctx))
