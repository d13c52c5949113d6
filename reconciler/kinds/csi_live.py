"""Live CSI plugins: what Nomad has for the declared plugins, read with as few requests as possible,
and the wait for the checks to pass with Nomad's blocking queries.

One list (`GET /v1/plugins?type=csi`) shows which plugins exist and their stubs; only declared
plugins the list shows are read, concurrently. While waiting, a blocking list query stands in for
every plugin: it returns as soon as the `csi_plugins` table index rises, and a plugin is read
again only when its stub changed (its `ModifyIndex` moves on every write to it).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

from reconciler.checks import Check
from reconciler.kinds.csi import evaluate, unmanaged
from reconciler.resources import CsiPlugin
from reconciler.targets.nomad.api import Listing, NomadApi
from reconciler.targets.nomad.models import CsiPluginRead, CsiStub

POLL_WAIT = 5.0
"""Seconds each blocking query may wait. Some health changes do not raise Nomad's index
(alloc-driven updates, reference §2.6): a query blocked on the current index misses them until its
wait runs out, so this bounds how late such a change is seen."""
MIN_WAIT = 0.01
"""Below this much time left, stop instead of sending a (nearly) zero wait."""


@dataclass(frozen=True)
class CsiLive:
    """The declared plugins as Nomad has them."""

    plugins: Mapping[str, CsiPluginRead | None]
    """Declared ID -> its read (`GET /v1/plugin/csi/:id`), or None when Nomad has no such plugin."""
    unmanaged: tuple[str, ...]
    """Listed plugins that no manifest declares, sorted."""
    index: int
    """`X-Nomad-Index` of the list (0 on a cluster that never wrote a plugin)."""
    stubs: Mapping[str, CsiStub] = field(default_factory=dict)
    """Every listed plugin's stub, by ID: what the next list is compared with."""


async def read_csi(api: NomadApi, expectations: Sequence[CsiPlugin]) -> CsiLive:
    """One list, then concurrent reads of the declared plugins it shows (the others are missing)."""
    return await _refresh(api, expectations, await api.list_csi_plugins(), None)


async def wait_for_checks(
    api: NomadApi,
    expectations: Sequence[CsiPlugin],
    deadline: float,
    on_progress: Callable[[Check], None],
    clock: Callable[[], float] = time.monotonic,
    poll: float = POLL_WAIT,
) -> tuple[list[Check], CsiLive]:
    """Read, then wait until every check passes or `clock()` reaches `deadline`.

    Each round is one blocking list query (`wait` at most `poll`, never beyond the deadline) plus
    reads of the declared plugins whose stub changed. `on_progress` gets the failing checks first,
    then every check whose state (ok, reason) changed since the round before. Returns the last
    checks and live state.
    """
    live = await read_csi(api, expectations)
    checks = evaluate(expectations, live.plugins)
    for check in checks:
        if not check.ok:
            on_progress(check)  # where the wait starts
    while not all(c.ok for c in checks):
        remaining = deadline - clock()
        if remaining < MIN_WAIT:
            break
        listing = await api.list_csi_plugins(index=_block_index(live), wait=min(poll, remaining))
        live = await _refresh(api, expectations, listing, live)
        before = {c.id: c for c in checks}
        checks = evaluate(expectations, live.plugins)
        for check in checks:
            if check != before.get(check.id):
                on_progress(check)
    return checks, live


async def _refresh(
    api: NomadApi, expectations: Sequence[CsiPlugin], listing: Listing, previous: CsiLive | None
) -> CsiLive:
    stubs = {s.ID: s for s in listing.stubs}
    declared = sorted({e.id for e in expectations})
    known: dict[str, CsiPluginRead | None] = dict(previous.plugins) if previous else {}
    old_stubs = previous.stubs if previous else {}
    changed = [i for i in declared if i in stubs and (known.get(i) is None or stubs[i] != old_stubs.get(i))]
    reads = await asyncio.gather(*(api.read_csi_plugin(i) for i in changed))
    known.update(zip(changed, reads, strict=True))
    plugins = {i: known.get(i) if i in stubs else None for i in declared}
    index = listing.index or (previous.index if previous else 0)  # keep the last good index
    return CsiLive(plugins, tuple(unmanaged(expectations, stubs)), index, stubs)


def _block_index(live: CsiLive) -> int:
    """The index to block on, never 0: `index=0` does not block, and a loop on it would spin (§2.6).

    Index 0 with plugins listed means the header was lost on the way: block on the highest
    `ModifyIndex` then, which at worst waits out each `wait`.
    """
    fallback = max((s.ModifyIndex for s in live.stubs.values()), default=0)
    return max(live.index or fallback, 1)
