"""Live entries that no manifest declares and that prune would delete, were it on. Pure.

With prune off (`--no-prune`, `settings.prune: false`) they are left alone, which is easy to
mistake for "in sync": plan says how many there are, drift lists them, as information.
"""

from __future__ import annotations

from reconciler.diff import Action, DiffOptions, Kind, diff
from reconciler.live import Live
from reconciler.manifest import Desired
from reconciler.render.common import subject


def left_by_prune(desired: Desired, live: Live) -> tuple[str, ...]:
    """What prune would delete (same rules: never builtin, declarative, opaque or ignored entries)."""
    settings = desired.state.settings.model_copy(update={"prune": True})
    pruning = Desired(desired.state.model_copy(update={"settings": settings}), desired.origins)
    deletes = [c for c in diff(pruning, live, DiffOptions(prune=True)) if c.action is Action.DELETE]
    return tuple(("pin " if c.kind is Kind.PIN else "") + subject(c) for c in deletes)
