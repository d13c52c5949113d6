"""The `reconcile` command line: connects the stages, chooses a renderer, maps errors to exit codes.

Exit codes: 0 ok; 1 error; 2 changes or drift (`plan --detailed-exitcode`, `drift`); 130 interrupted.
"""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Annotated, TextIO

import typer
from rich.console import Console

from reconciler import __version__, loader
from reconciler.apply import Report, Result, apply
from reconciler.client.vault import VaultApi, VaultTarget, connect
from reconciler.diff import DiffOptions, diff
from reconciler.errors import ManifestError, PlanError, ReconcileError
from reconciler.live import Live, read_live, read_mounts
from reconciler.manifest import Desired
from reconciler.plan import Plan, build_plan, needs_mounts
from reconciler.render import json as render_json
from reconciler.render import text as render_text

EXIT_OK, EXIT_ERROR, EXIT_CHANGES, EXIT_INTERRUPTED = 0, 1, 2, 130

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
MaxDeletesOpt = Annotated[int | None, typer.Option("--max-deletes", min=0, help="Refuse plans deleting more than N.")]


@dataclass(frozen=True)
class Options:
    """What every server-facing command shares."""

    manifests: Path
    address: str | None
    prune: bool
    replace: tuple[str, ...]
    parallelism: int
    max_deletes: int | None


def _color(stream: TextIO, environ: Mapping[str, str]) -> bool:
    return stream.isatty() and "NO_COLOR" not in environ and environ.get("TERM") != "dumb"


def _run(body: Callable[[], int]) -> None:
    """Run a command body; turn expected errors into messages and exit codes (the only place)."""
    err = Console(stderr=True, highlight=False, soft_wrap=True, no_color="NO_COLOR" in os.environ)
    try:
        code = body()
    except ManifestError as exc:
        err.print(str(exc), markup=False)
        code = EXIT_ERROR
    except ReconcileError as exc:
        err.print("[bold red]Error:[/] ", end="")
        err.print(str(exc), markup=False)
        if exc.hint:
            err.print(f"Hint: {exc.hint}", markup=False)
        code = EXIT_ERROR
    except KeyboardInterrupt:
        err.print("Interrupted.", markup=False)
        code = EXIT_INTERRUPTED
    raise typer.Exit(code)


async def _make_plan(api: VaultApi, desired: Desired, opts: Options, address: str) -> tuple[Plan, Live]:
    live = await read_live(api, desired.state)
    changes = diff(desired, live, DiffOptions(prune=opts.prune, replace=opts.replace))
    if needs_mounts(changes, desired.state.settings):
        live = await read_mounts(api, live)
    return build_plan(changes, live, desired.state.settings, address), live


def _check_limits(plan: Plan, desired: Desired, opts: Options) -> None:
    limit = opts.max_deletes if opts.max_deletes is not None else desired.state.settings.max_deletes
    if limit is not None and plan.deletions > limit:
        raise PlanError(
            f"the plan deletes {plan.deletions} objects, more than the limit of {limit}; nothing was applied",
            hint="check the manifests, or raise --max-deletes / settings.max_deletes",
        )


def _prepare(opts: Options) -> tuple[Desired, VaultTarget]:
    desired = loader.load(opts.manifests)
    return desired, VaultTarget.from_env(opts.address)


def _print(text: str) -> None:
    sys.stdout.write(text)
    sys.stdout.flush()


@app.command()
def validate(manifests: ManifestsOpt = Path("manifests")) -> None:
    """Check manifests offline: every problem as path:line: message. Exit 0 valid, 1 invalid."""

    def body() -> int:
        desired = loader.load(manifests)
        s = desired.state
        _print(
            f"{manifests}: valid ({len(s.plugins)} plugin versions, {len(s.runtimes)} runtimes, "
            f"{len(s.pins)} pins, {len(s.csi_plugins)} CSI plugins)\n"
        )
        return EXIT_OK

    _run(body)


@app.command()
def plan(
    manifests: ManifestsOpt = Path("manifests"),
    address: AddressOpt = None,
    output_format: FormatOpt = Format.text,
    detailed_exitcode: Annotated[
        bool, typer.Option("--detailed-exitcode", help="Exit 2 when there are changes.")
    ] = False,
    no_prune: NoPruneOpt = False,
    replace: ReplaceOpt = None,
    parallelism: ParallelismOpt = 8,
    max_deletes: MaxDeletesOpt = None,
) -> None:
    """Show what apply would change. Never writes."""
    opts = Options(manifests, address, not no_prune, tuple(replace or ()), parallelism, max_deletes)

    def body() -> int:
        desired, target = _prepare(opts)

        async def go() -> Plan:
            async with connect(target, parallelism=opts.parallelism).http as http:
                return (await _make_plan(VaultApi(http), desired, opts, target.address))[0]

        the_plan = asyncio.run(go())
        color = _color(sys.stdout, os.environ)
        _print(
            render_json.render_plan(the_plan)
            if output_format is Format.json
            else render_text.render_plan(the_plan, color)
        )
        _check_limits(the_plan, desired, opts)
        return EXIT_CHANGES if detailed_exitcode and the_plan.changes else EXIT_OK

    _run(body)


@app.command("apply")
def apply_command(
    manifests: ManifestsOpt = Path("manifests"),
    address: AddressOpt = None,
    output_format: FormatOpt = Format.text,
    no_prune: NoPruneOpt = False,
    replace: ReplaceOpt = None,
    parallelism: ParallelismOpt = 8,
    max_deletes: MaxDeletesOpt = None,
    force: Annotated[bool, typer.Option("--force", help="Apply even when changes are blocked.")] = False,
) -> None:
    """Compute a fresh plan and apply it: print the plan, each change as it completes, a summary."""
    opts = Options(manifests, address, not no_prune, tuple(replace or ()), parallelism, max_deletes)
    as_json = output_format is Format.json
    color = _color(sys.stdout, os.environ)

    def progress(result: Result) -> None:
        if not as_json:
            _print(render_text.result_line(result, color) + "\n")

    def body() -> int:
        desired, target = _prepare(opts)
        holder: list[Report] = []

        async def go() -> Report:
            async with connect(target, parallelism=opts.parallelism).http as http:
                api = VaultApi(http)
                the_plan, live = await _make_plan(api, desired, opts, target.address)
                if not as_json:
                    _print(render_text.render_plan(the_plan, color))
                _check_limits(the_plan, desired, opts)
                report = Report(the_plan)
                holder.append(report)
                if the_plan.changes and not as_json:
                    _print("\nApplying:\n")
                return await apply(
                    the_plan,
                    api,
                    live.server,
                    parallelism=opts.parallelism,
                    force=force,
                    report=report,
                    on_result=progress,
                )

        try:
            report = asyncio.run(go())
        except KeyboardInterrupt:
            if holder:
                holder[0].interrupted = True
                _print(render_json.render_report(holder[0]) if as_json else "\n" + render_text.render_report(holder[0]))
            raise
        if as_json:
            _print(render_json.render_report(report))
        elif report.plan.changes:
            _print("\n" + render_text.render_report(report, color))
        return EXIT_OK if report.ok else EXIT_ERROR

    _run(body)


@app.command()
def version() -> None:
    """Print the version of reconcile."""
    _print(f"reconcile {__version__}\n")


def main() -> None:
    app()
