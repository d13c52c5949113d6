"""Live state: what the server has, read with as few requests as the plan needs.

Every kind reads its own objects (kinds/*.py `read`), concurrently; the plugin catalog reads the
details of an entry only where the plan compares it or may delete it (kinds/plugin_live.py).
Mounts are read separately, and only for plans that delete versions or may reload.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import TYPE_CHECKING

from reconciler.kinds import Kind
from reconciler.kinds.plugin import opaque
from reconciler.resources import Mount, ServerInfo, State

if TYPE_CHECKING:
    from reconciler.targets.vault.api import VaultApi

__all__ = ["Live", "opaque", "read_live", "read_mounts"]


@dataclass(frozen=True)
class Live:
    """The server's identity and objects. `mounts` is None until read (only plans that need them)."""

    server: ServerInfo
    state: State
    mounts: tuple[Mount, ...] | None = None


async def read_live(api: VaultApi, desired: State, *, every_entry: bool = False) -> Live:
    """The live state a plan against `desired` needs; `every_entry` reads the details of every
    non-builtin entry (command, args, declarative), as `export` needs."""
    server = await api.server_info()
    kinds = [k for k in Kind if k.spec.diffed and k.spec.state_field]
    found = await asyncio.gather(*(k.spec.read(api, server, desired, every_entry) for k in kinds))
    objects = {k.spec.state_field: tuple(objs) for k, objs in zip(kinds, found, strict=True) if k.spec.state_field}
    return Live(server=server, state=State(**objects))


async def read_mounts(api: VaultApi, live: Live) -> Live:
    """Add the secrets and auth mounts (for the in-use checks and reloads)."""
    secrets, auth = await asyncio.gather(api.list_mounts(auth=False), api.list_mounts(auth=True))
    return Live(server=live.server, state=live.state, mounts=(*secrets, *auth))
