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
    exit_code: int
    """What the single-target command would exit with: 0, 1 (error) or 2 (changes, drift, failing checks)."""
    draw: Callable[[Renderer], str] | None = None
    """Its single-target output in any format (None: it failed before it had any)."""
    error: str = ""
    """Why it failed, as the single-target command would say it (message and hint; no secrets)."""
    status: str = ""
    """One line for the combined summary table, e.g. `1 to register, 0 to update, 0 to delete`."""


def exit_code(parts: Sequence[Part]) -> int:
    """Combined: 1 if any target errored; else 2 if any has changes, drift or failing checks; else 0."""
    codes = {p.exit_code for p in parts}
    if codes - {EXIT_OK, EXIT_CHANGES}:
        return EXIT_ERROR
    return EXIT_CHANGES if EXIT_CHANGES in codes else EXIT_OK
