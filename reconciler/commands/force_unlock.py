"""`reconcile force-unlock`: remove the apply lock of a run that is gone, only when LOCK_ID holds it."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from reconciler import loader, lock, pipeline
from reconciler.commands.console import EXIT_OK, announce_retry, out
from reconciler.errors import UsageError
from reconciler.targets.vault.login.inputs import Flags

if TYPE_CHECKING:
    from reconciler.fleet.run import Selection


def run(
    lock_id: str,
    manifests: Path,
    address: str | None,
    environ: Mapping[str, str],
    selection: Selection | None = None,
    auth: Flags | None = None,
) -> int:
    paths: Path | tuple[Path, ...] = manifests
    if selection is not None:  # a targets file: the one target of --target NAME, in its environment
        from reconciler.fleet import run as fleet

        one = fleet.only_one(selection, "force-unlock")
        paths, address, environ = one.manifests, None, fleet.context(one, environ).environ
    settings = loader.load(paths).state.settings.lock
    if settings is None:
        raise UsageError("the manifests configure no lock (settings.lock)")
    target = pipeline.vault_target(address, environ, auth)

    async def go() -> lock.Holder:
        async with pipeline.connect(target, 1, None, pipeline.Hooks(on_retry=announce_retry)).http as http:
            return await lock.force_unlock(http, settings, lock_id)

    holder = asyncio.run(go())
    out(f"Removed the lock {settings.kv_mount}/{settings.key} held by {holder.describe()}\n")
    return EXIT_OK
