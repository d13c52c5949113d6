"""Live state: what the server has, read with as few requests as the plan needs.

One `GET sys/plugins/catalog` gives every entry's identity and sha256; the fields the list lacks
(command, args, OpenBao's `declarative`) are read concurrently, only for the entries the plan
must compare or might delete. Pins and runtimes are read only where the server has them.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from reconciler.client.models import CatalogEntry, EntryData
from reconciler.client.vault import VaultApi
from reconciler.manifest import ignored
from reconciler.resources import Mount, Pin, Plugin, PluginKey, PluginType, Runtime, ServerInfo, State


@dataclass(frozen=True)
class Live:
    """The server's identity and catalog. `mounts` is None until read (only plans that need them)."""

    server: ServerInfo
    state: State
    mounts: tuple[Mount, ...] | None = None


async def read_live(api: VaultApi, desired: State, *, every_entry: bool = False) -> Live:
    """The live state a plan against `desired` needs; `every_entry` reads the details of every
    non-builtin entry (command, args, declarative), as `export` needs."""
    server = await api.server_info()
    detailed, pins, runtimes = await asyncio.gather(
        api.list_catalog(),
        api.list_pins() if server.pins else _no_pins(),
        api.list_runtimes() if server.runtimes else _no_runtimes(),
    )
    listed = [_from_list(entry) for entry in detailed if _known_type(entry)]
    wanted = (
        [p for p in listed if not p.builtin and not opaque(p.key)]
        if every_entry
        else _entries_to_read(listed, desired, server)
    )
    details = await _read_entries(api, wanted)
    by_key = {p.key: _merge(p, d) for p, d in zip(wanted, details, strict=True) if d is not None}
    plugins = tuple(by_key.get(p.key, p) for p in listed)
    state = State(plugins=plugins, pins=tuple(pins), runtimes=tuple(runtimes))
    return Live(server=server, state=state)


async def _read_entries(api: VaultApi, wanted: list[Plugin]) -> list[EntryData | None]:
    """Read `wanted` through as many workers as requests may be in flight.

    Not one task per entry: thousands of waiting tasks keep their frames and retry state alive
    together, and make httpcore's pool do about twice the bookkeeping per request (measured in
    docs/performance.md: reading 5,000 entries takes 19% less time and 21 MB less memory).
    """
    results: list[EntryData | None] = [None] * len(wanted)
    queue = iter(enumerate(wanted))

    async def worker() -> None:
        for i, plugin in queue:
            results[i] = await api.read_plugin(plugin.key)

    await asyncio.gather(*(worker() for _ in range(min(api.http.parallelism, len(wanted)))))
    return results


async def read_mounts(api: VaultApi, live: Live) -> Live:
    """Add the secrets and auth mounts (for the in-use checks and reloads)."""
    secrets, auth = await asyncio.gather(api.list_mounts(auth=False), api.list_mounts(auth=True))
    return Live(server=live.server, state=live.state, mounts=(*secrets, *auth))


async def _no_pins() -> list[Pin]:
    return []


async def _no_runtimes() -> list[Runtime]:
    return []


def _known_type(entry: CatalogEntry) -> bool:
    return entry.type in PluginType.__members__.values()


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


def _entries_to_read(listed: list[Plugin], desired: State, server: ServerInfo) -> list[Plugin]:
    """Declared entries (to compare command and args) and, on OpenBao, prune candidates (declarative?)."""
    declared = {p.key for p in desired.plugins}
    is_ignored = ignored(desired.settings)
    wanted = []
    for plugin in listed:
        if plugin.builtin:
            continue
        if plugin.key in declared or (
            server.kind == "openbao" and desired.settings.prune and not is_ignored(f"{plugin.type}/{plugin.name}")
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


def opaque(key: PluginKey) -> bool:
    """Live versions the API cannot address (unnormalised declarative ones) are never touched."""
    return bool(key.version) and not key.version.startswith("v")
