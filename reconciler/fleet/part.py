"""One target's share of a combined run: plain data for the combined renderers (render/fleet.py)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from reconciler.render import Renderer

EXIT_OK, EXIT_ERROR, EXIT_CHANGES = 0, 1, 2


@dataclass(frozen=True)
class Part:
    """What one target's command produced, as the single-target command would have shown it."""

    name: str
    """The target's name in the targets file."""
    address: str
    """Its address, without credentials."""
    draw: Callable[[Renderer], str] | None = None
    """Its single-target output in any format (None: it failed before it had any)."""
    changed: bool = False
    """Changes planned or applied, drift found, or checks failing (what exit code 2 reports)."""
    failed: bool = False
    """What makes the single-target command exit 1: an error, or an apply that did not complete."""
    error: str = ""
    """Why it failed, as the single-target command would say it (message and hint; no secrets)."""
    status: str = ""
    """One line for the combined summary table, e.g. `1 to register, 0 to update, 0 to delete`."""


def exit_code(parts: Sequence[Part], *, changes_exit: bool) -> int:
    """Combined: 1 if any target failed; else 2 if `changes_exit` (the command reports changes with
    2: `plan --detailed-exitcode`, `drift`, `check`) and any target has changes, drift or failing
    checks; else 0."""
    if any(p.failed for p in parts):
        return EXIT_ERROR
    return EXIT_CHANGES if changes_exit and any(p.changed for p in parts) else EXIT_OK
