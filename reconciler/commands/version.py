"""`reconcile version`: the version of reconcile (reconciler/__main__.py answers it without imports)."""

from __future__ import annotations

from reconciler import __version__
from reconciler.commands.console import EXIT_OK, out


def run() -> int:
    out(f"reconcile {__version__}\n")
    return EXIT_OK
