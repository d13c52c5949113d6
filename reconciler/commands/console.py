"""What every command shares: writing to stdout and stderr, colours, the GitHub job summary, and
the single place where errors become messages and exit codes.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from reconciler import outputs, signals
from reconciler.errors import ManifestError, ReconcileError

if TYPE_CHECKING:
    from rich.console import Console

    from reconciler.http.client import RetryEvent
    from reconciler.render import Renderer

EXIT_OK, EXIT_ERROR, EXIT_CHANGES = 0, 1, 2  # 130/143 (interrupted) come from signals.py


def guarded(body: Callable[[], int], environ: Mapping[str, str]) -> int:
    """Run a command body; turn expected errors into messages and exit codes (the only place)."""
    try:
        return signals.call_with_sigterm_as_interrupt(body)
    except ManifestError as exc:
        _error_console(environ).print(outputs.scrub(str(exc)), markup=False)
        return EXIT_ERROR
    except ReconcileError as exc:
        err = _error_console(environ)
        err.print("[bold red]Error:[/] ", end="")
        err.print(outputs.scrub(str(exc)), markup=False)  # scrub: no message may show address credentials
        if exc.hint:
            err.print(f"Hint: {outputs.scrub(exc.hint)}", markup=False)
        return EXIT_ERROR
    except KeyboardInterrupt:
        _error_console(environ).print("Terminated." if signals.terminated() else "Interrupted.", markup=False)
        return signals.interrupted_exit_code()


def _error_console(environ: Mapping[str, str]) -> Console:
    from rich.console import Console  # only when there is an error to show

    return Console(stderr=True, highlight=False, soft_wrap=True, no_color="NO_COLOR" in environ)


def color(stream: TextIO, environ: Mapping[str, str]) -> bool:
    """ANSI colours: only on a terminal, unless NO_COLOR is set or TERM is dumb."""
    return stream.isatty() and "NO_COLOR" not in environ and environ.get("TERM") != "dumb"


def announce_retry(event: RetryEvent) -> None:
    """Every retry is said on stderr, so a slow run shows why it is slow."""
    say(str(event))


def say(line: str) -> None:
    """One line on stderr."""
    sys.stderr.write(line + "\n")
    sys.stderr.flush()


def out(text: str) -> None:
    """Text on stdout, flushed (progress lines must show as they happen)."""
    sys.stdout.write(text)
    sys.stdout.flush()


def emit(fmt: str, draw: Callable[[Renderer], str], environ: Mapping[str, str]) -> None:
    """Print what `draw` renders in the chosen format; always append its markdown to the job summary."""
    from reconciler import render

    markdown = draw(render.get("markdown"))
    out(markdown if fmt == "markdown" else draw(render.get(fmt, color=color(sys.stdout, environ))))
    step_summary(markdown, environ)


def step_summary(markdown: str, environ: Mapping[str, str]) -> None:
    """Append to the GitHub Actions job summary when running there."""
    outputs.append_summary(outputs.summary_path(environ), markdown)


def preflight(environ: Mapping[str, str], out_file: Path | None = None) -> None:
    """Files the command will write are checked before any work: a bad path never half-runs it."""
    outputs.summary_path(environ)
    if out_file is not None:
        outputs.check_out(out_file)
