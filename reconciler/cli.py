"""The `reconcile` command line: typer parses it, and each command dispatches to its module in
`reconciler/commands/` (imported only when that command runs).

Exit codes: 0 ok; 1 error; 2 changes or drift (`plan --detailed-exitcode`, `drift`); 130 interrupted
(Ctrl-C), 143 terminated (SIGTERM). `reconciler/__main__.py` is the console entry point: it
answers `version` without importing this module.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from reconciler import signals
from reconciler.commands.console import EXIT_ERROR, EXIT_OK, guarded

if TYPE_CHECKING:
    from reconciler.fleet.run import Selection
    from reconciler.pipeline import Options

app = typer.Typer(
    name="reconcile",
    help="Declarative GitOps for Vault and OpenBao plugin catalogs.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_show_locals=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


class Format(StrEnum):
    text = "text"
    json = "json"
    markdown = "markdown"


class ApplyFormat(StrEnum):
    text = "text"
    json = "json"


ManifestsOpt = Annotated[
    Path, typer.Option("--manifests", "-m", help="Manifest file or folder (searched recursively).")
]
AddressOpt = Annotated[
    str | None, typer.Option("--address", help="Server address; default $VAULT_ADDR, then $BAO_ADDR.")
]
FormatOpt = Annotated[Format, typer.Option("--format", "-f", help="Output format.")]
NoPruneOpt = Annotated[bool, typer.Option("--no-prune", help="Never delete entries that no manifest declares.")]
ReplaceOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--replace",
        metavar="TYPE/NAME[@VERSION]",
        help="Re-register even if nothing readable differs (env changes). Repeatable.",
    ),
]
ParallelismOpt = Annotated[int, typer.Option("--parallelism", min=1, max=64, help="Concurrent requests.")]
NomadAddressOpt = Annotated[
    str | None,
    typer.Option(
        "--nomad-address", metavar="URL", help="Nomad address; default $NOMAD_ADDR, then http://127.0.0.1:4646."
    ),
]
TimeoutOpt = Annotated[
    float | None,
    typer.Option(
        "--timeout",
        metavar="SECONDS",
        min=0.001,
        help="Seconds to wait for each answer; default $VAULT_CLIENT_TIMEOUT (or $BAO_, $NOMAD_), then 30.",
    ),
]
MaxDeletesOpt = Annotated[
    int | None, typer.Option("--max-deletes", min=0, help="Refuse plans that delete more than N objects.")
]
AllowEmptyOpt = Annotated[
    bool,
    typer.Option("--allow-empty", help="Let manifests that declare no plugin, runtime or pin prune the catalog."),
]


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


def _single(ctx: typer.Context) -> list[str]:
    """The single-target options given on the command line (a targets file replaces them)."""
    names = ("manifests", "address", "nomad_address")
    sources = {n: ctx.get_parameter_source(n) for n in names if n in ctx.params}
    return ["--" + n.replace("_", "-") for n, s in sources.items() if s and s.name in ("COMMANDLINE", "ENVIRONMENT")]


def _selection(ctx: typer.Context, config: Path | None, names: list[str] | None) -> Selection | None:
    """The targets of the targets file this run covers; None for a single-target run (no file)."""
    from reconciler.fleet.run import resolve

    return resolve(config, names or (), _single(ctx))


def _dispatch(body: Callable[[], int]) -> None:
    """Run a command's body: errors become messages and exit codes in `commands.console.guarded`."""
    raise typer.Exit(guarded(body, os.environ))


def _options(
    manifests: Path,
    address: str | None,
    prune: bool = True,
    replace: list[str] | None = None,
    parallelism: int = 8,
    max_deletes: int | None = None,
    nomad_address: str | None = None,
    timeout: float | None = None,
) -> Options:
    from reconciler.pipeline import Options

    return Options(manifests, address, prune, tuple(replace or ()), parallelism, max_deletes, nomad_address, timeout)


@app.command()
def validate(
    ctx: typer.Context, manifests: ManifestsOpt = Path("manifests"), config: ConfigOpt = None, target: TargetOpt = None
) -> None:
    """Check manifests offline: every problem as path:line: message. Exit 0 valid, 1 invalid."""

    def body() -> int:
        from reconciler.commands import validate as command
        from reconciler.fleet import plans, run

        path = run.targets_file(config, target or (), _single(ctx))
        return command.run(manifests) if path is None else plans.validate(path, target or [])

    _dispatch(body)


@app.command()
def schema() -> None:
    """Print the JSON Schema of a manifest document (for editors and other tools)."""
    from reconciler.commands import schema as command

    command.run()


@app.command()
def plan(
    ctx: typer.Context,
    manifests: ManifestsOpt = Path("manifests"),
    address: AddressOpt = None,
    output_format: FormatOpt = Format.text,
    detailed_exitcode: Annotated[
        bool, typer.Option("--detailed-exitcode", help="Exit 2 when there are changes.")
    ] = False,
    out: Annotated[Path | None, typer.Option("--out", help="Also save the plan to FILE for `apply FILE`.")] = None,
    no_prune: NoPruneOpt = False,
    replace: ReplaceOpt = None,
    parallelism: ParallelismOpt = 8,
    max_deletes: MaxDeletesOpt = None,
    nomad_address: NomadAddressOpt = None,
    timeout: TimeoutOpt = None,
    allow_empty: AllowEmptyOpt = False,
    config: ConfigOpt = None,
    target: TargetOpt = None,
    target_parallelism: TargetParallelismOpt = 4,
) -> None:
    """Show what apply would change, and the Nomad CSI checks. Never writes to the server."""

    def body() -> int:
        from reconciler.commands import plan as command

        opts = _options(manifests, address, not no_prune, replace, parallelism, max_deletes, nomad_address, timeout)
        selection = _selection(ctx, config, target)
        if selection is not None:
            from reconciler.fleet import plans

            return plans.plan(
                selection,
                opts,
                os.environ,
                parallelism=target_parallelism,
                fmt=output_format,
                detailed_exitcode=detailed_exitcode,
                out_file=out,
                allow_empty=allow_empty,
            )
        return command.run(
            opts,
            os.environ,
            fmt=output_format,
            detailed_exitcode=detailed_exitcode,
            out_file=out,
            allow_empty=allow_empty,
        )

    _dispatch(body)


@app.command("drift")
def drift_command(
    ctx: typer.Context,
    manifests: ManifestsOpt = Path("manifests"),
    address: AddressOpt = None,
    output_format: FormatOpt = Format.text,
    parallelism: ParallelismOpt = 8,
    nomad_address: NomadAddressOpt = None,
    timeout: TimeoutOpt = None,
    config: ConfigOpt = None,
    target: TargetOpt = None,
    target_parallelism: TargetParallelismOpt = 4,
) -> None:
    """Report how the cluster differs from git (and failing Nomad checks). Exit 0 in sync, 2 drift, 1 error."""

    def body() -> int:
        from reconciler.commands import drift as command

        opts = _options(manifests, address, parallelism=parallelism, nomad_address=nomad_address, timeout=timeout)
        selection = _selection(ctx, config, target)
        if selection is not None:
            from reconciler.fleet import plans

            return plans.drift_command(selection, opts, os.environ, parallelism=target_parallelism, fmt=output_format)
        return command.run(opts, os.environ, fmt=output_format)

    _dispatch(body)


@app.command("export")
def export_command(
    address: AddressOpt = None,
    out: Annotated[
        Path | None, typer.Option("--out", metavar="DIR", help="Write one file per plugin type into DIR.")
    ] = None,
    select: Annotated[
        list[str] | None,
        typer.Option("--select", metavar="TYPE/NAME", help="Export only entries matching this glob. Repeatable."),
    ] = None,
    force: Annotated[bool, typer.Option("--force", help="Overwrite existing files in DIR.")] = False,
    parallelism: ParallelismOpt = 8,
    timeout: TimeoutOpt = None,
) -> None:
    """Write the live catalog as manifests (YAML on stdout, or files with --out). Never writes to the server."""

    def body() -> int:
        from reconciler.commands import export as command

        return command.run(
            os.environ,
            address=address,
            out_dir=out,
            select=tuple(select or ()),
            force=force,
            parallelism=parallelism,
            timeout=timeout,
        )

    _dispatch(body)


@app.command("apply")
def apply_command(
    plan_file: Annotated[
        Path | None, typer.Argument(metavar="[FILE]", help="A plan saved with `plan --out`; applied exactly.")
    ] = None,
    manifests: ManifestsOpt = Path("manifests"),
    address: AddressOpt = None,
    output_format: Annotated[ApplyFormat, typer.Option("--format", "-f", help="Output format.")] = ApplyFormat.text,
    no_prune: NoPruneOpt = False,
    replace: ReplaceOpt = None,
    parallelism: ParallelismOpt = 8,
    max_deletes: MaxDeletesOpt = None,
    force: Annotated[bool, typer.Option("--force", help="Apply even when changes are blocked.")] = False,
    nomad_address: NomadAddressOpt = None,
    auto_approve: Annotated[
        bool, typer.Option("--auto-approve", help="Apply a fresh plan without asking for confirmation.")
    ] = False,
    timeout: TimeoutOpt = None,
    lock_timeout: Annotated[
        str,
        typer.Option(
            "--lock-timeout", metavar="DURATION", help="Wait up to DURATION (30s, 5m) for the lock (settings.lock)."
        ),
    ] = "0s",
    allow_empty: AllowEmptyOpt = False,
) -> None:
    """Compute a fresh plan (or check a saved one) and apply it, reporting each change as it completes."""

    def body() -> int:
        from reconciler.commands import apply as command

        opts = _options(manifests, address, not no_prune, replace, parallelism, max_deletes, nomad_address, timeout)
        choices = command.Choices(
            plan_file=plan_file,
            as_json=output_format is ApplyFormat.json,
            force=force,
            auto_approve=auto_approve,
            lock_timeout=lock_timeout,
            allow_empty=allow_empty,
        )
        return command.run(opts, choices, os.environ)

    _dispatch(body)


@app.command("force-unlock")
def force_unlock(
    lock_id: Annotated[str, typer.Argument(metavar="LOCK_ID", help="The ID of the lock's current holder.")],
    manifests: ManifestsOpt = Path("manifests"),
    address: AddressOpt = None,
) -> None:
    """Remove the apply lock (settings.lock) of a run that is gone; refuses when LOCK_ID is not its holder."""

    def body() -> int:
        from reconciler.commands import force_unlock as command

        return command.run(lock_id, manifests, address, os.environ)

    _dispatch(body)


@app.command()
def version() -> None:
    """Print the version of reconcile."""
    from reconciler.commands import version as command

    command.run()


@app.command()
def check(
    manifests: ManifestsOpt = Path("manifests"),
    nomad_address: Annotated[
        str | None,
        typer.Option(
            "--nomad-address", metavar="URL", help="Nomad address; default $NOMAD_ADDR, then http://127.0.0.1:4646."
        ),
    ] = None,
    wait: Annotated[
        str | None,
        typer.Option("--wait", metavar="DURATION", help="Wait up to DURATION (30s, 5m, 1m30s) for every check."),
    ] = None,
    output_format: Annotated[ApplyFormat, typer.Option("--format", "-f", help="Output format.")] = ApplyFormat.text,
) -> None:
    """Check the Nomad CSI plugins the manifests declare. Exit 0 all pass, 2 some failing, 1 error."""

    def body() -> int:
        from reconciler.commands import check as command

        return command.run(manifests, os.environ, nomad_address=nomad_address, wait=wait, fmt=output_format)

    _dispatch(body)


def main() -> None:
    """Run the command line. Usage errors exit 1, not click's 2, which means "changes" here."""
    try:
        with signals.terminate_as_interrupt():
            code = app(standalone_mode=False)
    except typer.Abort:  # Ctrl-C (or SIGTERM) outside a command body, e.g. while parsing options
        code = signals.interrupted_exit_code()
    except typer.TyperException as exc:  # bad options and arguments (click's UsageError)
        show = getattr(exc, "show", None)
        if callable(show):
            show()
        code = EXIT_ERROR
    sys.exit(code if isinstance(code, int) else EXIT_OK)
