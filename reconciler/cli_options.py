"""Building blocks of the command line (typer): the app (its help shows flags without `<bool>`),
the output formats, and the options several commands share. cli.py declares the commands.
"""

from __future__ import annotations

from collections.abc import Callable
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer
import typer.core

if TYPE_CHECKING:
    from reconciler.pipeline import Options


def _plain_flags(params: list[Any]) -> list[Any]:
    """Flags take no value, so help shows no type for them (typer 0.29 would show `<bool>`)."""
    for param in params:
        if isinstance(param, typer.core.TyperOption) and param.is_flag and param.metavar is None:
            param.metavar = ""
    return params


class Command(typer.core.TyperCommand):
    def get_params(self, ctx: Any) -> list[Any]:
        return _plain_flags(super().get_params(ctx))


class Group(typer.core.TyperGroup):
    def get_params(self, ctx: Any) -> list[Any]:
        return _plain_flags(super().get_params(ctx))


_F = TypeVar("_F", bound=Callable[..., Any])


class App(typer.Typer):
    """Every command is a `Command` (help without `<bool>`), wherever it is declared."""

    def command(self, *args: Any, **kwargs: Any) -> Callable[[_F], _F]:
        kwargs.setdefault("cls", Command)
        return super().command(*args, **kwargs)


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
WaitOpt = Annotated[
    str | None,
    typer.Option("--wait", metavar="DURATION", help="Wait up to DURATION (30s, 5m, 1m30s) for every check."),
]
ShortFormatOpt = Annotated[ApplyFormat, typer.Option("--format", "-f", help="Output format.")]


def show_version(value: bool) -> None:
    """`--version`: print it and exit (reconciler/__main__.py answers the plain forms without typer)."""
    if value:
        from reconciler.commands import version as command

        command.run()
        raise typer.Exit(0)


def options(
    manifests: Path,
    address: str | None,
    prune: bool = True,
    replace: list[str] | None = None,
    parallelism: int = 8,
    max_deletes: int | None = None,
    nomad_address: str | None = None,
    timeout: float | None = None,
    auth: tuple[str | None, str | None, str | None] = (None, None, None),
) -> Options:
    """The pipeline options of a server-facing command."""
    from reconciler.pipeline import Options
    from reconciler.targets.vault.login.inputs import Flags

    return Options(
        manifests, address, prune, tuple(replace or ()), parallelism, max_deletes, nomad_address, timeout, Flags(*auth)
    )


app = App(
    name="reconcile",
    help="Declarative GitOps for Vault and OpenBao plugin catalogs.",
    cls=Group,
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


@app.callback()
def _main(
    _version: Annotated[
        bool,
        typer.Option("--version", is_eager=True, callback=show_version, help="Print the version and exit."),
    ] = False,
) -> None:
    """Declarative GitOps for Vault and OpenBao plugin catalogs."""
