"""The console entry point (`reconcile`, `python -m reconciler`), written for start-up time.

`reconcile version` and `reconcile --version` are answered from `reconciler/__init__.py` alone;
`reconcile validate` in its plain forms (`-m PATH`, `--manifests PATH`, `--manifests=PATH`) runs
without the command-line parser. Everything else (and anything unusual about those two, such as
`--help`) goes to `reconciler/cli.py`, which imports typer, then only the command it runs.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

EXIT_ERROR = 1


def main(argv: Sequence[str] | None = None) -> None:
    args = list(sys.argv[1:] if argv is None else argv)
    if args in (["version"], ["--version"]):
        from reconciler import __version__

        _write_or_exit(f"reconcile {__version__}\n")
        sys.exit(0)
    manifests = _plain_validate(args)
    if manifests is not None:
        sys.exit(_validate(manifests))
    from reconciler.cli import main as cli_main

    cli_main()


def _plain_validate(args: list[str]) -> str | None:
    """The manifests path of `validate [-m PATH | --manifests PATH | --manifests=PATH]`, else None.

    None too when the working directory has a targets file: the CLI validates its targets then (or
    refuses --manifests beside it).
    """
    if not args or args[0] != "validate":
        return None
    import os

    from reconciler.fleet import DEFAULT_FILE

    if os.path.lexists(DEFAULT_FILE):
        return None
    rest = args[1:]
    if not rest:
        return "manifests"
    if len(rest) == 2 and rest[0] in ("-m", "--manifests"):
        value = rest[1]
    elif len(rest) == 1 and rest[0].startswith("--manifests="):
        value = rest[0].removeprefix("--manifests=")
    else:
        return None
    return value if value and not value.startswith("-") else None


def _validate(manifests: str) -> int:
    import os
    from pathlib import Path

    from reconciler import signals
    from reconciler.commands import console

    try:
        with signals.terminate_as_interrupt():
            from reconciler.commands import validate

            return console.guarded(lambda: validate.run(Path(manifests)), os.environ)
    except KeyboardInterrupt:  # before the command body (while importing): as the parser reports it
        sys.stderr.write("\n")
        return signals.interrupted_exit_code()
    except BrokenPipeError:
        _silence_stdout()
        return EXIT_ERROR


def _write_or_exit(text: str) -> None:
    """Write to stdout; a reader that is gone (`| head -0`) is exit 1 without a traceback, as in the CLI."""
    try:
        sys.stdout.write(text)
        sys.stdout.flush()
    except BrokenPipeError:
        _silence_stdout()
        sys.exit(EXIT_ERROR)


def _silence_stdout() -> None:
    """Point stdout at /dev/null, so the interpreter's last flush does not fail again at exit."""
    import os

    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    os.close(devnull)


if __name__ == "__main__":
    main()
