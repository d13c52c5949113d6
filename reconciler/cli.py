"""The `reconcile` command line: connects the stages, chooses a renderer, maps errors to exit codes.

Exit codes: 0 ok; 1 error; 2 changes or drift (`plan --detailed-exitcode`, `drift`); 130 interrupted
(Ctrl-C), 143 terminated (SIGTERM).
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import dataclasses
import json
import os
import sys
import time
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, TextIO, TypeVar

import typer
import typer.core
from rich.console import Console

from reconciler import (
    __version__,
    checks,
    confirm,
    drift,
    loader,
    lock,
    manifest,
    nomad_live,
    outputs,
    render,
    saved,
    saved_schema,
    signals,
    stale,
    unmanaged,
)
from reconciler import export as exporting
from reconciler.apply import Report, Result, apply
from reconciler.client.http import Http, RetryEvent
from reconciler.client.nomad import NomadTarget
from reconciler.client.nomad import connect as connect_nomad
from reconciler.client.vault import VaultApi, VaultTarget, connect
from reconciler.diff import DiffOptions, diff
from reconciler.empty_guard import refuse_empty
from reconciler.errors import ManifestError, PlanError, ReconcileError, UsageError
from reconciler.live import Live, read_live, read_mounts
from reconciler.login.inputs import Flags as AuthFlags
from reconciler.login.session import Session
from reconciler.manifest import Desired
from reconciler.plan import Plan, build_plan, needs_mounts
from reconciler.render import text as render_text
from reconciler.resources import CsiPlugin

EXIT_OK, EXIT_ERROR, EXIT_CHANGES = 0, 1, 2  # 130/143 (interrupted) come from signals.py


def _plain_flags(params: list[Any]) -> list[Any]:
    """Flags take no value, so help shows no type for them (typer 0.29 would show `<bool>`)."""
    for param in params:
        if isinstance(param, typer.core.TyperOption) and param.is_flag and param.metavar is None:
            param.metavar = ""
    return params


class _Command(typer.core.TyperCommand):
    def get_params(self, ctx: Any) -> list[Any]:
        return _plain_flags(super().get_params(ctx))


class _Group(typer.core.TyperGroup):
    def get_params(self, ctx: Any) -> list[Any]:
        return _plain_flags(super().get_params(ctx))


_F = TypeVar("_F", bound=Callable[..., Any])


class _App(typer.Typer):
    """Every command is a `_Command` (help without `<bool>`), wherever it is declared."""

    def command(self, *args: Any, **kwargs: Any) -> Callable[[_F], _F]:
        kwargs.setdefault("cls", _Command)
        return super().command(*args, **kwargs)


app = _App(
    name="reconcile",
    help="Declarative GitOps for Vault and OpenBao plugin catalogs.",
    cls=_Group,
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _show_version(value: bool) -> None:
    if value:
        _print(f"reconcile {__version__}\n")
        raise typer.Exit(EXIT_OK)


@app.callback()
def _main(
    _version: Annotated[
        bool,
        typer.Option("--version", is_eager=True, callback=_show_version, help="Print the version and exit."),
    ] = False,
) -> None:
    """Declarative GitOps for Vault and OpenBao plugin catalogs."""


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
    str | None, typer.Option("--address", metavar="URL", help="Server address; default $VAULT_ADDR, then $BAO_ADDR.")
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
AuthMethodOpt = Annotated[
    str | None,
    typer.Option(
        "--auth-method",
        metavar="METHOD",
        help="How to log in: token (default), approle, jwt or kubernetes; default $VAULT_AUTH_METHOD.",
    ),
]
AuthPathOpt = Annotated[
    str | None,
    typer.Option(
        "--auth-path", metavar="MOUNT", help="The auth method's mount path; default $VAULT_AUTH_PATH, then its name."
    ),
]
AuthRoleOpt = Annotated[
    str | None,
    typer.Option(
        "--auth-role", metavar="ROLE", help="The role to log in as (jwt, kubernetes); default $VAULT_AUTH_ROLE."
    ),
]
AllowEmptyOpt = Annotated[
    bool,
    typer.Option("--allow-empty", help="Let manifests that declare no plugin, runtime or pin prune the catalog."),
]


@dataclass(frozen=True)
class Options:
    """What every server-facing command shares."""

    manifests: Path
    address: str | None
    prune: bool = True
    replace: tuple[str, ...] = ()
    parallelism: int = 8
    max_deletes: int | None = None
    nomad_address: str | None = None
    timeout: float | None = None
    """--timeout: seconds per request, for Vault and Nomad (None: their *_CLIENT_TIMEOUT, or 30)."""
    auth: AuthFlags = dataclasses.field(default_factory=AuthFlags)
    """--auth-method, --auth-path, --auth-role."""


@dataclass(frozen=True)
class Computed:
    """A fresh plan and everything it was computed from."""

    desired: Desired
    live: Live
    plan: Plan


def _color(stream: TextIO, environ: Mapping[str, str]) -> bool:
    return stream.isatty() and "NO_COLOR" not in environ and environ.get("TERM") != "dumb"


_SESSION: contextvars.ContextVar[Session] = contextvars.ContextVar("session")
"""The login session of the command being run (`_run`)."""


def _run(body: Callable[[], int]) -> None:
    """Run a command body; turn expected errors into messages and exit codes (the only place)."""
    err = Console(stderr=True, highlight=False, soft_wrap=True, no_color="NO_COLOR" in os.environ)
    try:
        code = signals.call_with_sigterm_as_interrupt(lambda: _with_session(body))
    except ManifestError as exc:
        err.print(outputs.scrub(str(exc)), markup=False)
        code = EXIT_ERROR
    except ReconcileError as exc:
        err.print("[bold red]Error:[/] ", end="")
        err.print(outputs.scrub(str(exc)), markup=False)  # scrub: no message may show address credentials
        if exc.hint:
            err.print(f"Hint: {outputs.scrub(exc.hint)}", markup=False)
        code = EXIT_ERROR
    except KeyboardInterrupt:
        err.print("Terminated." if signals.terminated() else "Interrupted.", markup=False)
        code = signals.interrupted_exit_code()
    raise typer.Exit(code)


def _with_session(body: Callable[[], int]) -> int:
    """`body()` with a login session: tokens it logged in for are revoked however it ends."""
    session = Session(say=_say, on_retry=_announce_retry)
    reset = _SESSION.set(session)
    try:
        return body()
    finally:
        _SESSION.reset(reset)
        session.close()


def _target(address: str | None, auth: AuthFlags, timeout: float | None) -> VaultTarget:
    """The Vault/OpenBao target with its token: a static one, or one logged in for this run."""
    return _SESSION.get().authenticate(VaultTarget.from_env(address, auth=auth), timeout)


def _announce_retry(event: RetryEvent) -> None:
    """Every retry is said on stderr, so a slow run shows why it is slow."""
    sys.stderr.write(f"{event}\n")
    sys.stderr.flush()


def _print(text: str) -> None:
    sys.stdout.write(text)
    sys.stdout.flush()


def _emit(fmt: Format, draw: Callable[[render.Renderer], str]) -> None:
    """Print what `draw` renders in the chosen format; always append its markdown to the job summary."""
    markdown = draw(render.get(Format.markdown))
    _print(markdown if fmt is Format.markdown else draw(render.get(fmt, color=_color(sys.stdout, os.environ))))
    _step_summary(markdown)


def _step_summary(markdown: str) -> None:
    """Append to the GitHub Actions job summary when running there."""
    outputs.append_summary(outputs.summary_path(os.environ), markdown)


def _preflight(out: Path | None = None) -> None:
    """Files the command will write are checked before any work: a bad path never half-runs it."""
    outputs.summary_path(os.environ)
    if out is not None:
        outputs.check_out(out)


async def _vault_plan(api: VaultApi, desired: Desired, opts: Options, address: str) -> Computed:
    live = await read_live(api, desired.state)
    changes = diff(desired, live, DiffOptions(prune=opts.prune, replace=opts.replace))
    if needs_mounts(changes, desired.state.settings, live):
        live = await read_mounts(api, live)
    the_plan = build_plan(changes, live, desired.state.settings, address)
    if not (opts.prune and desired.state.settings.prune):
        the_plan = dataclasses.replace(the_plan, unpruned=unmanaged.left_by_prune(desired, live))
    return Computed(desired, live, the_plan)


async def _nomad_checks(
    expectations: Sequence[CsiPlugin], nomad_address: str | None, timeout: float | None = None
) -> tuple[list[checks.Check], tuple[str, ...]]:
    """The Nomad CSI checks; no Nomad request at all when the manifests declare none."""
    if not expectations:
        return [], ()
    api = connect_nomad(NomadTarget.from_env(nomad_address), timeout=timeout, on_retry=_announce_retry)
    try:
        live = await nomad_live.read_csi(api, expectations)
    finally:
        await api.aclose()
    return checks.evaluate(expectations, live.plugins), tuple(live.unmanaged)


async def _plan(api: VaultApi, desired: Desired, opts: Options, address: str) -> Computed:
    """The Vault plan and the Nomad checks, read concurrently."""
    computed, (results, unmanaged) = await asyncio.gather(
        _vault_plan(api, desired, opts, address),
        _nomad_checks(desired.state.csi_plugins, opts.nomad_address, opts.timeout),
    )
    if not results:
        return computed
    the_plan = dataclasses.replace(computed.plan, checks=tuple(results), unmanaged_csi=unmanaged)
    return dataclasses.replace(computed, plan=the_plan)


def _connect(target: VaultTarget, parallelism: int, timeout: float | None) -> VaultApi:
    """The run's one client to the Vault/OpenBao target; retries are announced on stderr."""
    return connect(target, parallelism=parallelism, timeout=timeout, on_retry=_announce_retry)


def _compute(opts: Options) -> Computed:
    desired = loader.load(opts.manifests)
    target = _target(opts.address, opts.auth, opts.timeout)

    async def go() -> Computed:
        async with _connect(target, opts.parallelism, opts.timeout).http as http:
            return await _plan(VaultApi(http), desired, opts, target.display_address)

    return asyncio.run(go())


def _check_limits(plan: Plan, desired: Desired, opts: Options) -> None:
    limit = opts.max_deletes if opts.max_deletes is not None else desired.state.settings.max_deletes
    if limit is not None and plan.deletions > limit:
        raise PlanError(
            f"the plan deletes {plan.deletions} objects, more than the limit of {limit}; nothing was applied",
            hint="check the manifests, or raise --max-deletes / settings.max_deletes",
        )


@app.command()
def validate(manifests: ManifestsOpt = Path("manifests")) -> None:
    """Check manifests offline: every problem as path:line: message. Exit 0 valid, 1 invalid."""

    def body() -> int:
        s = loader.load(manifests).state
        _print(
            f"{manifests}: valid ({len(s.plugins)} plugin versions, {len(s.runtimes)} runtimes, "
            f"{len(s.pins)} pins, {len(s.csi_plugins)} CSI plugins)\n"
        )
        return EXIT_OK

    _run(body)


@app.command()
def schema() -> None:
    """Print the JSON Schema of a manifest document (for editors and other tools)."""
    _print(json.dumps(manifest.json_schema(), indent=2) + "\n")


@app.command()
def plan(
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
    auth_method: AuthMethodOpt = None,
    auth_path: AuthPathOpt = None,
    auth_role: AuthRoleOpt = None,
) -> None:
    """Show what apply would change, and the Nomad CSI checks. Never writes to the server."""
    auth = AuthFlags(auth_method, auth_path, auth_role)
    opts = Options(
        manifests, address, not no_prune, tuple(replace or ()), parallelism, max_deletes, nomad_address, timeout, auth
    )

    def body() -> int:
        _preflight(out)
        computed = _compute(opts)
        the_plan = computed.plan
        refuse_empty(computed.desired.state, the_plan, allow_empty=allow_empty)
        if out is not None:  # saved first: a failed write is the only message, not one after a plan
            document = saved.to_document(
                the_plan, computed.live, computed.desired, saved.SavedOptions(opts.prune, opts.replace)
            )
            outputs.write_atomic(out, json.dumps(document, indent=2) + "\n")
        _emit(output_format, lambda r: r.render_plan(the_plan))
        _check_limits(the_plan, computed.desired, opts)
        return EXIT_CHANGES if detailed_exitcode and the_plan.drifted else EXIT_OK

    _run(body)


@app.command("drift")
def drift_command(
    manifests: ManifestsOpt = Path("manifests"),
    address: AddressOpt = None,
    output_format: FormatOpt = Format.text,
    parallelism: ParallelismOpt = 8,
    nomad_address: NomadAddressOpt = None,
    timeout: TimeoutOpt = None,
    auth_method: AuthMethodOpt = None,
    auth_path: AuthPathOpt = None,
    auth_role: AuthRoleOpt = None,
) -> None:
    """Report how the cluster differs from git (and failing Nomad checks). Exit 0 in sync, 2 drift, 1 error."""

    def body() -> int:
        auth = AuthFlags(auth_method, auth_path, auth_role)
        opts = Options(
            manifests, address, parallelism=parallelism, nomad_address=nomad_address, timeout=timeout, auth=auth
        )
        _preflight()
        found = drift.detect(_compute(opts).plan)
        _emit(output_format, lambda r: r.render_drift(found))
        return EXIT_CHANGES if found.found else EXIT_OK

    _run(body)


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
    auth_method: AuthMethodOpt = None,
    auth_path: AuthPathOpt = None,
    auth_role: AuthRoleOpt = None,
) -> None:
    """Write the live catalog as manifests (YAML on stdout, or files with --out). Never writes to the server."""

    def body() -> int:
        target = _target(address, AuthFlags(auth_method, auth_path, auth_role), timeout)

        async def go() -> exporting.Catalog:
            async with _connect(target, parallelism, timeout).http as http:
                return await exporting.read_catalog(VaultApi(http))

        catalog = asyncio.run(go())
        source = f"{catalog.server.kind} {catalog.server.version} at {target.display_address}"
        result = exporting.build(catalog, tuple(select or ()), source)
        if out is None:
            _print(result.as_stream())
        else:
            written = exporting.write(out, result.files, force=force)
            sys.stderr.write(f"Wrote {', '.join(str(p) for p in written)}\n")
        sys.stderr.write(exporting.notes(result))
        return EXIT_OK

    _run(body)


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
    auth_method: AuthMethodOpt = None,
    auth_path: AuthPathOpt = None,
    auth_role: AuthRoleOpt = None,
) -> None:
    """Compute a fresh plan (or check a saved one) and apply it, reporting each change as it completes."""
    as_json = output_format is ApplyFormat.json
    color = _color(sys.stdout, os.environ)

    def progress(result: Result) -> None:
        if not as_json:
            _print(render_text.result_line(result, color) + "\n")

    def body() -> int:
        auth = AuthFlags(auth_method, auth_path, auth_role)
        opts = Options(
            manifests,
            address,
            not no_prune,
            tuple(replace or ()),
            parallelism,
            max_deletes,
            nomad_address,
            timeout,
            auth,
        )
        saved_doc = None
        _preflight()
        if plan_file is not None:
            if replace or no_prune:
                raise UsageError("--replace and --no-prune come from the saved plan; do not pass them with FILE")
            saved_doc, opts = _read_saved(plan_file, opts)
        patience = nomad_live.parse_duration(lock_timeout)
        desired = loader.load(opts.manifests)
        target = _target(opts.address, opts.auth, opts.timeout)
        report_box: list[Report] = []

        def approved(the_plan: Plan, shown_address: str, saved_plan: bool) -> bool:
            changes = 0 if the_plan.blocked and not force else len(the_plan.changes)  # apply refuses those
            return confirm.approved(
                changes,
                shown_address,
                auto_approve=auto_approve,
                saved_plan=saved_plan,
                interactive=not as_json,
                stdin=sys.stdin,
                stdout=sys.stdout,
            )

        async def go() -> Report | None:
            async with (
                _connect(target, opts.parallelism, opts.timeout).http as http,
                _locked(http, desired, patience),
            ):
                api = VaultApi(http)
                computed = await _plan(api, desired, opts, target.display_address)
                if saved_doc is not None:
                    changed = saved.staleness(saved_doc, computed.plan, computed.live, desired)
                    if changed:
                        raise PlanError(
                            "stale plan: " + stale.summarize(changed, "; nothing was applied"),
                            hint="make a new plan with `reconcile plan --out FILE`",
                        )
                refuse_empty(desired.state, computed.plan, allow_empty=allow_empty)
                if not as_json:
                    _print(render_text.render_plan(computed.plan, color))
                _check_limits(computed.plan, desired, opts)
                if not approved(computed.plan, target.display_address, saved_doc is not None):
                    return None
                report = Report(computed.plan)
                report_box.append(report)
                if computed.plan.changes and not as_json:
                    _print("\nApplying:\n")
                return await apply(
                    computed.plan,
                    api,
                    computed.live.server,
                    parallelism=opts.parallelism,
                    force=force,
                    report=report,
                    on_result=progress,
                )

        try:
            report = asyncio.run(go())
        except KeyboardInterrupt:
            if report_box:
                report_box[0].interrupted = True
                _finish(report_box[0], as_json, color)
            raise
        if report is None:
            _print(confirm.CANCELLED + "\n")
            return EXIT_ERROR
        _finish(report, as_json, color)
        return EXIT_OK if report.ok else EXIT_ERROR

    _run(body)


def _read_saved(plan_file: Path, opts: Options) -> tuple[dict[str, Any], Options]:
    """A saved plan and the options it must be re-planned with."""
    saved_doc, saved_opts = saved.parse(saved_schema.read_text(plan_file), str(plan_file))
    return saved_doc, dataclasses.replace(opts, prune=saved_opts.prune, replace=saved_opts.replace)


@contextlib.asynccontextmanager
async def _locked(http: Http, desired: Desired, patience: float) -> AsyncIterator[None]:
    """Hold the manifests' lock (settings.lock) while the body runs, when they configure one."""
    settings = desired.state.settings.lock
    if settings is None:
        if patience:
            raise UsageError("--lock-timeout needs a lock: set settings.lock in the manifests")
        yield
        return
    async with lock.held(http, settings, timeout=patience, say=_say):
        yield


def _say(line: str) -> None:
    sys.stderr.write(line + "\n")
    sys.stderr.flush()


def _finish(report: Report, as_json: bool, color: bool) -> None:
    if as_json:
        _print(render.get(Format.json).render_report(report))
    elif report.plan.changes or report.plan.failing_checks:
        _print("\n" + render.get(Format.text, color=color).render_report(report))
    _step_summary(render.get(Format.markdown).render_report(report))


@app.command("force-unlock")
def force_unlock(
    lock_id: Annotated[str, typer.Argument(metavar="LOCK_ID", help="The ID of the lock's current holder.")],
    manifests: ManifestsOpt = Path("manifests"),
    address: AddressOpt = None,
    auth_method: AuthMethodOpt = None,
    auth_path: AuthPathOpt = None,
    auth_role: AuthRoleOpt = None,
) -> None:
    """Remove the apply lock (settings.lock) of a run that is gone; refuses when LOCK_ID is not its holder."""

    def body() -> int:
        settings = loader.load(manifests).state.settings.lock
        if settings is None:
            raise UsageError("the manifests configure no lock (settings.lock)")
        target = _target(address, AuthFlags(auth_method, auth_path, auth_role), None)

        async def go() -> lock.Holder:
            async with _connect(target, 1, None).http as http:
                return await lock.force_unlock(http, settings, lock_id)

        holder = asyncio.run(go())
        _print(f"Removed the lock {settings.kv_mount}/{settings.key} held by {holder.describe()}\n")
        return EXIT_OK

    _run(body)


@app.command()
def version() -> None:
    """Print the version of reconcile."""
    _print(f"reconcile {__version__}\n")


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
    as_json = output_format is ApplyFormat.json
    waiting: list[str] = []

    def progress(result: checks.Check) -> None:
        stream = sys.stderr if as_json else sys.stdout  # JSON mode keeps stdout for the document
        if not waiting:
            waiting.append(f"Waiting up to {wait} for the Nomad CSI plugins:\n")
            stream.write(waiting[0])
        stream.write(render_text.check_line(result) + "\n")
        stream.flush()

    def body() -> int:
        patience = nomad_live.parse_duration(wait) if wait is not None else None
        expectations = loader.load(manifests).state.csi_plugins
        if not expectations:
            _print(
                render.get(Format.json).render_checks([], [])
                if as_json
                else "No Nomad CSI plugins declared (nomad: csi_plugins:): nothing to check.\n"
            )
            return EXIT_OK
        if patience is None:
            results, unmanaged = asyncio.run(_nomad_checks(expectations, nomad_address))
        else:
            target = NomadTarget.from_env(nomad_address)

            async def wait_then_close() -> tuple[list[checks.Check], nomad_live.CsiLive]:
                api = connect_nomad(target, on_retry=_announce_retry)
                try:
                    return await nomad_live.wait_for_checks(api, expectations, time.monotonic() + patience, progress)
                finally:
                    await api.aclose()

            results, live = asyncio.run(wait_then_close())
            unmanaged = tuple(live.unmanaged)
        if waiting and not as_json:
            _print("\n")
        _print(render.get(output_format).render_checks(results, unmanaged))
        return EXIT_OK if all(c.ok for c in results) else EXIT_CHANGES

    _run(body)


def main() -> None:
    """Console entry point. Usage errors exit 1, not click's 2, which means "changes" here."""
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
