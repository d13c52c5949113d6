"""Manifests that declare nothing never empty the catalog by accident. Pure.

A folder that was not checked out, a build step that wrote an empty file, a wrong `--manifests`:
each looks like "the catalog should be empty", and prune would delete everything. So when the
manifests declare no plugin version, runtime or pin, a plan that deletes anything is refused
unless `--allow-empty` says that emptying is really meant.
"""

from __future__ import annotations

from reconciler.errors import PlanError
from reconciler.plan import Plan
from reconciler.resources import State


def declares_nothing(state: State) -> bool:
    """No plugin version, runtime or pin: nothing that would keep a catalog entry alive."""
    return not (state.plugins or state.runtimes or state.pins)


def refuse_empty(desired: State, plan: Plan, *, allow_empty: bool) -> None:
    """Raise PlanError when `plan` would prune from manifests that declare nothing."""
    if allow_empty or not declares_nothing(desired) or plan.deletions == 0:
        return
    noun = "object" if plan.deletions == 1 else "objects"
    raise PlanError(
        "the manifests declare no plugin version, runtime or pin, yet the plan would delete "
        f"{plan.deletions} {noun} from the catalog: refusing to prune from empty manifests; nothing was changed",
        hint=(
            "check that --manifests points at the right files; to keep the catalog as it is, set "
            "`settings.prune: false` (or pass --no-prune); to really empty it, pass --allow-empty"
        ),
    )
