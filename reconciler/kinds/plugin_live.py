"""Reading the plugin catalog with as few requests as the plan needs.

One `GET sys/plugins/catalog` gives every entry's identity and sha256; the fields the list lacks
(command, args, OpenBao's `declarative`) are read concurrently, only for the entries the plan
must compare or might delete.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import TYPE_CHECKING

from reconciler.kinds.building import matching_glob
from reconciler.resources import Plugin, PluginKey, PluginType, ServerInfo, State

if TYPE_CHECKING:
    from reconciler.targets.vault.api import VaultApi
    from reconciler.targets.vault.models import CatalogEntry, EntryData


async def read_catalog(api: VaultApi, server: ServerInfo, desired: State, every_entry: bool) -> tuple[Plugin, ...]:
    """The catalog; `every_entry` reads the details of every non-builtin, addressable entry (export)."""
    from reconciler.kinds.plugin import opaque

    listed = [_from_list(entry) for entry in await api.list_catalog() if entry.type in PluginType.__members__.values()]
    wanted = (
        [p for p in listed if not p.builtin and not opaque(p.key)]
        if every_entry
        else _entries_to_read(listed, desired, server)
    )
    details = await _gather_limited(api, [p.key for p in wanted])
    by_key = {p.key: _merge(p, d) for p, d in zip(wanted, details, strict=True) if d is not None}
    return tuple(by_key.get(p.key, p) for p in listed)


async def read_entries(api: VaultApi, keys: Sequence[PluginKey]) -> list[Plugin | None]:
    """The entries `keys` name as the server has them now (None: missing)."""
    details = await _gather_limited(api, keys)
    return [None if d is None else _from_read(k, d) for k, d in zip(keys, details, strict=True)]


async def _gather_limited(api: VaultApi, keys: Sequence[PluginKey]) -> list[EntryData | None]:
    """Read `keys` through as many workers as requests may be in flight.

    Not one task per entry: thousands of waiting tasks keep their frames and retry state alive
    together, and make httpcore's pool do about twice the bookkeeping per request (measured in
    docs/performance.md: reading 5,000 entries takes 19% less time and 21 MB less memory).
    """
    results: list[EntryData | None] = [None] * len(keys)
    queue = iter(enumerate(keys))

    async def worker() -> None:
        for i, key in queue:
            results[i] = await api.read_plugin(key)

    await asyncio.gather(*(worker() for _ in range(min(api.http.parallelism, len(keys)))))
    return results


def _from_list(entry: CatalogEntry) -> Plugin:
    return Plugin(
        type=PluginType(entry.type),
        name=entry.name,
        version=entry.version,
        sha256=entry.sha256.lower(),
        oci_image=entry.oci_image,
        runtime=entry.runtime,
        builtin=entry.builtin,
    )


def _from_read(key: PluginKey, data: EntryData) -> Plugin:
    return Plugin(
        type=key.type,
        name=key.name,
        version=key.version,
        sha256=data.sha256.lower(),
        command=data.command,
        args=tuple(data.args or ()),
        oci_image=data.oci_image,
        runtime=data.runtime,
    )


def _entries_to_read(listed: list[Plugin], desired: State, server: ServerInfo) -> list[Plugin]:
    """Declared entries (to compare command and args) and, on OpenBao, prune candidates (declarative?)."""
    declared = {p.key for p in desired.plugins}
    ignore = desired.settings.ignore
    wanted = []
    for plugin in listed:
        if plugin.builtin:
            continue
        if plugin.key in declared or (
            server.kind == "openbao"
            and desired.settings.prune
            and matching_glob(ignore, f"{plugin.type}/{plugin.name}") is None
        ):
            wanted.append(plugin)
    return wanted


def _merge(listed: Plugin, data: EntryData) -> Plugin:
    return listed.model_copy(
        update={
            "command": data.command,
            "args": tuple(data.args or ()),
            "declarative": data.declarative,
            "sha256": (data.sha256 or listed.sha256).lower(),
        }
    )
