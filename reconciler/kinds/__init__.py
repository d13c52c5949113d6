"""Resource kinds, the unit of extension, and their registry.

A kind is one module here holding one object that implements `base.ResourceKind`: its manifest
document model and how it builds desired objects (`build`, `check`), its identity and compared
fields, what prune must keep, its apply phase, how it reads, writes and deletes through the Vault
API, and how renderers describe it. Adding a kind is its module plus one line in `Kind` below.

    base.py         Change, Action, the ResourceKind protocol, neutral defaults
    building.py     the manifest builder kinds add their objects to (path:line diagnostics)
    fields.py       building blocks of the manifest document models
    plugin.py       plugin versions (catalog entries); plugin_live.py reads the catalog
    runtime.py      container runtimes          pin.py     pinned versions
    reload.py       reloads (derived by plan)
    csi.py          Nomad CSI plugins: check-only, evaluated into checks; csi_live.py reads them
                    from Nomad (typed models) and waits with blocking queries
"""

from __future__ import annotations

from collections.abc import Hashable
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from reconciler.kinds import csi, pin, plugin, reload, runtime
from reconciler.kinds.base import Action, Change, ResourceKind

if TYPE_CHECKING:
    from pydantic import BaseModel

    from reconciler.resources import State

__all__ = ["Action", "Change", "Kind", "ResourceKind", "keyed", "phase_of", "select"]


class Kind(StrEnum):
    """The registry: one line per kind. Its order is the order diff compares kinds in."""

    spec: ResourceKind

    PLUGIN = plugin.KIND
    RUNTIME = runtime.KIND
    PIN = pin.KIND
    RELOAD = reload.KIND
    CSI = csi.KIND

    def __new__(cls, spec: ResourceKind) -> Kind:
        member = str.__new__(cls, spec.key)
        member._value_ = spec.key
        member.spec = spec
        return member


def select(state: State, kind: Kind) -> tuple[BaseModel, ...]:
    """The objects of `kind` in `state` (none for derived kinds)."""
    field = kind.spec.state_field
    found: Any = getattr(state, field, ()) if field else ()
    return tuple(found)


def keyed(state: State, kind: Kind) -> dict[Hashable, BaseModel]:
    """The objects of `kind` in `state`, by identity."""
    return {kind.spec.identity(obj): obj for obj in select(state, kind)}


def phase_of(kind: Kind, action: Action) -> int:
    """The apply phase rank of `action` on `kind` (lower runs first)."""
    rank = kind.spec.delete_rank if action is Action.DELETE else kind.spec.create_rank
    if rank is None:  # pragma: no cover - diff never emits such a change
        raise ValueError(f"no phase for {kind}/{action}")
    return rank
