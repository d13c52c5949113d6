"""Drift: the plan seen as "how the server differs from git". Pure; shares the plan's diff.

`plan --detailed-exitcode` and `drift` both report drift when the plan has changes (or, with
Nomad expectations, failing checks). `drift` also reports the mounts `status` finds not running
what they should (status.py): those are drift even when the plan has nothing to change.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING

from reconciler.kinds import Action, Kind
from reconciler.plan import Plan
from reconciler.plan import Step as Change  # a step reads like its change

if TYPE_CHECKING:
    from reconciler.status import MountStatus


class Cause(StrEnum):
    """Why a change is needed, from the cluster's point of view."""

    CHANGED = "changed outside git"
    MISSING = "missing live"
    UNMANAGED = "unmanaged live"


@dataclass(frozen=True)
class Drift:
    """The plan's changes grouped by cause (reloads follow from the others and are not drift)."""

    plan: Plan
    groups: dict[Cause, tuple[Change, ...]]
    mounts: tuple[MountStatus, ...] = ()
    """Mounts that do not run what they should (status.DRIFT verdicts)."""

    @property
    def found(self) -> bool:
        return self.plan.drifted or bool(self.mounts)


def cause_of(change: Change) -> Cause | None:
    match change.action:
        case Action.CREATE:
            return Cause.MISSING
        case Action.UPDATE:
            return Cause.CHANGED
        case Action.DELETE:
            return Cause.UNMANAGED
    return None


def detect(plan: Plan, mounts: Sequence[MountStatus] = ()) -> Drift:
    groups: dict[Cause, list[Change]] = {cause: [] for cause in Cause}
    for change in plan.changes:
        cause = cause_of(change)
        if cause is not None and change.kind is not Kind.RELOAD:
            groups[cause].append(change)
    return Drift(plan=plan, groups={k: tuple(v) for k, v in groups.items()}, mounts=tuple(mounts))
