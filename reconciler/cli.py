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
from pathlib import Path
from typing import Annotated

import typer

from reconciler import signals
from reconciler.cli_options import (
    AddressOpt,
    AllowEmptyOpt,
    ApplyFormat,
    AuthMethodOpt,
    AuthPathOpt,
    AuthRoleOpt,
    Format,
    FormatOpt,
    ManifestsOpt,
    MaxDeletesOpt,
    NomadAddressOpt,
    NoPruneOpt,
    ParallelismOpt,
    ReplaceOpt,
    ShortFormatOpt,
    TimeoutOpt,
    WaitOpt,
    app,
    options,
)
from reconciler.cli_targets import ConfigOpt, TargetOpt, TargetParallelismOpt, selection, targets_file
from reconciler.commands.console import EXIT_ERROR, EXIT_OK, guarded


def _dispatch(body: Callable[[], int]) -> None:
    """Run a command's body: errors become messages and exit codes in `commands.console.guarded`."""
    raise typer.Exit(guarded(body, os.environ))


@app.command()
def validate(
    ctx: typer.Context, manifests: ManifestsOpt = Path("manifests"), config: ConfigOpt = None, target: TargetOpt = None
) -> None:
    """Check manifests offline: every problem as path:line: message. Exit 0 valid, 1 invalid."""

    def body() -> int:
        from reconciler.commands import validate as command

        return command.run(manifests, targets_file(ctx, config, target), tuple(target or ()))

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
    auth_method: AuthMethodOpt = None,
    auth_path: AuthPathOpt = None,
    auth_role: AuthRoleOpt = None,
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

        opts = options(
            manifests,
            address,
            not no_prune,
            replace,
            parallelism,
            max_deletes,
            nomad_address,
            timeout,
            (auth_method, auth_path, auth_role),
        )
        return command.run(
            opts,
            os.environ,
            fmt=output_format,
            detailed_exitcode=detailed_exitcode,
            out_file=out,
            allow_empty=allow_empty,
            selection=selection(ctx, config, target),
            target_parallelism=target_parallelism,
        )

    _dispatch(body)


@app.command("drift")
def drift_command(
    ctx: typer.Context,
    manifests: ManifestsOpt = Path("manifests"),
    address: AddressOpt = None,
    auth_method: AuthMethodOpt = None,
    auth_path: AuthPathOpt = None,
    auth_role: AuthRoleOpt = None,
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

        opts = options(
            manifests,
            address,
            parallelism=parallelism,
            nomad_address=nomad_address,
            timeout=timeout,
            auth=(auth_method, auth_path, auth_role),
        )
        return command.run(
            opts, os.environ, fmt=output_format, selection=selection(ctx, config, target), parallel=target_parallelism
        )

    _dispatch(body)


@app.command("status")
def status_command(
    ctx: typer.Context,
    manifests: ManifestsOpt = Path("manifests"),
    address: AddressOpt = None,
    auth_method: AuthMethodOpt = None,
    auth_path: AuthPathOpt = None,
    auth_role: AuthRoleOpt = None,
    output_format: FormatOpt = Format.text,
    parallelism: ParallelismOpt = 8,
    timeout: TimeoutOpt = None,
    config: ConfigOpt = None,
    target: TargetOpt = None,
) -> None:
    """Inventory: each plugin's versions and pin, each mount's versions and a verdict. Read-only; exit 0."""

    def body() -> int:
        from reconciler.commands import status as command

        opts = options(
            manifests, address, parallelism=parallelism, timeout=timeout, auth=(auth_method, auth_path, auth_role)
        )
        return command.run(opts, os.environ, fmt=output_format, selection=selection(ctx, config, target))

    _dispatch(body)


@app.command("export")
def export_command(
    ctx: typer.Context,
    address: AddressOpt = None,
    auth_method: AuthMethodOpt = None,
    auth_path: AuthPathOpt = None,
    auth_role: AuthRoleOpt = None,
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
    config: ConfigOpt = None,
    target: TargetOpt = None,
    target_parallelism: TargetParallelismOpt = 4,
) -> None:
    """Write the live catalog as manifests (YAML on stdout, or files with --out). Never writes to the server."""

    def body() -> int:
        from reconciler.commands import export as command
        from reconciler.targets.vault.login.inputs import Flags

        return command.run(
            os.environ,
            address=address,
            out_dir=out,
            select=tuple(select or ()),
            force=force,
            parallelism=parallelism,
            timeout=timeout,
            auth=Flags(auth_method, auth_path, auth_role),
            selection=selection(ctx, config, target),
            target_parallelism=target_parallelism,
        )

    _dispatch(body)


@app.command("apply")
def apply_command(
    ctx: typer.Context,
    plan_file: Annotated[
        Path | None, typer.Argument(metavar="[FILE]", help="A plan saved with `plan --out`; applied exactly.")
    ] = None,
    manifests: ManifestsOpt = Path("manifests"),
    address: AddressOpt = None,
    auth_method: AuthMethodOpt = None,
    auth_path: AuthPathOpt = None,
    auth_role: AuthRoleOpt = None,
    output_format: ShortFormatOpt = ApplyFormat.text,
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
    config: ConfigOpt = None,
    target: TargetOpt = None,
    target_parallelism: TargetParallelismOpt = 4,
) -> None:
    """Compute a fresh plan (or check a saved one) and apply it, reporting each change as it completes."""

    def body() -> int:
        from reconciler.commands import apply as command

        opts = options(
            manifests,
            address,
            not no_prune,
            replace,
            parallelism,
            max_deletes,
            nomad_address,
            timeout,
            (auth_method, auth_path, auth_role),
        )
        choices = command.Choices(
            plan_file=plan_file,
            as_json=output_format is ApplyFormat.json,
            force=force,
            auto_approve=auto_approve,
            lock_timeout=lock_timeout,
            allow_empty=allow_empty,
        )
        found = selection(ctx, config, None if plan_file else target)
        return command.run(opts, choices, os.environ, found, tuple(target or ()), target_parallelism)

    _dispatch(body)


@app.command("force-unlock")
def force_unlock(
    ctx: typer.Context,
    lock_id: Annotated[str, typer.Argument(metavar="LOCK_ID", help="The ID of the lock's current holder.")],
    manifests: ManifestsOpt = Path("manifests"),
    address: AddressOpt = None,
    auth_method: AuthMethodOpt = None,
    auth_path: AuthPathOpt = None,
    auth_role: AuthRoleOpt = None,
    config: ConfigOpt = None,
    target: TargetOpt = None,
) -> None:
    """Remove the apply lock (settings.lock) of a run that is gone; refuses when LOCK_ID is not its holder."""

    def body() -> int:
        from reconciler.commands import force_unlock as command
        from reconciler.targets.vault.login.inputs import Flags

        return command.run(
            lock_id,
            manifests,
            address,
            os.environ,
            selection(ctx, config, target),
            Flags(auth_method, auth_path, auth_role),
        )

    _dispatch(body)


@app.command("targets")
def targets_command(
    config: ConfigOpt = None,
    target: TargetOpt = None,
    output_format: ShortFormatOpt = ApplyFormat.text,
) -> None:
    """List the targets of the targets file (json: for a CI matrix, one job per target)."""

    def body() -> int:
        from reconciler.fleet import plans

        return plans.targets(config, tuple(target or ()), os.environ, fmt=output_format)

    _dispatch(body)


@app.command()
def version() -> None:
    """Print the version of reconcile."""
    from reconciler.commands import version as command

    command.run()


@app.command()
def check(
    ctx: typer.Context,
    manifests: ManifestsOpt = Path("manifests"),
    nomad_address: NomadAddressOpt = None,
    wait: WaitOpt = None,
    output_format: ShortFormatOpt = ApplyFormat.text,
    config: ConfigOpt = None,
    target: TargetOpt = None,
    target_parallelism: TargetParallelismOpt = 4,
) -> None:
    """Check the Nomad CSI plugins the manifests declare. Exit 0 all pass, 2 some failing, 1 error."""

    def body() -> int:
        from reconciler.commands import check as command

        return command.run(
            manifests,
            os.environ,
            nomad_address=nomad_address,
            wait=wait,
            fmt=output_format,
            selection=selection(ctx, config, target),
            parallel=target_parallelism,
        )

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
