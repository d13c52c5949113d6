"""`reconcile force-unlock`: remove the apply lock of a run that is gone, only when LOCK_ID holds it."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from pathlib import Path

from reconciler import loader, lock, pipeline
from reconciler.commands.console import EXIT_OK, announce_retry, out
from reconciler.errors import UsageError


def run(lock_id: str, manifests: Path, address: str | None, environ: Mapping[str, str]) -> int:
    settings = loader.load(manifests).state.settings.lock
    if settings is None:
        raise UsageError("the manifests configure no lock (settings.lock)")
    target = pipeline.vault_target(address, environ)

    async def go() -> lock.Holder:
        async with pipeline.connect(target, 1, None, pipeline.Hooks(on_retry=announce_retry)).http as http:
            return await lock.force_unlock(http, settings, lock_id)

    holder = asyncio.run(go())
    out(f"Removed the lock {settings.kv_mount}/{settings.key} held by {holder.describe()}\n")
    return EXIT_OK
