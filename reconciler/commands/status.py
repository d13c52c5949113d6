"""`reconcile status`: each plugin's versions and pin, each mount's versions and a verdict. Read-only."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from reconciler import loader, pipeline, status
from reconciler.commands.console import EXIT_OK, announce_retry, out, preflight, step_summary
from reconciler.manifest import Desired
from reconciler.targets.vault.api import VaultApi
from reconciler.targets.vault.settings import VaultTarget

if TYPE_CHECKING:
    from reconciler.fleet.run import Selection


def inventory(desired: Desired, opts: pipeline.Options, environ: Mapping[str, str]) -> status.Inventory:
    """The plugins and their mounts (status.py) of the target of `opts` and `environ`."""
    target = pipeline.vault_target(opts.address, environ, opts.auth, opts.timeout)
    return asyncio.run(read_inventory(target, desired, opts, pipeline.Hooks(on_retry=announce_retry)))


async def read_inventory(
    target: VaultTarget, desired: Desired, opts: pipeline.Options, hooks: pipeline.Hooks
) -> status.Inventory:
    """The inventory of one target, on a connection of its own (also one of several targets: fleet drift)."""
    async with pipeline.connect(target, opts.parallelism, opts.timeout, hooks).http as http:
        return await status.read_status(VaultApi(http), desired.state, target.display_address)


def run(
    opts: pipeline.Options, environ: Mapping[str, str], *, fmt: str = "text", selection: Selection | None = None
) -> int:
    from reconciler.render import status as render_status

    preflight(environ)
    paths: Path | tuple[Path, ...] = opts.manifests
    if selection is not None:  # a targets file: the one target of --target NAME, in its environment
        from reconciler.fleet import run as fleet

        one = fleet.only_one(selection, "status")
        paths, environ = one.manifests, fleet.context(one, environ).environ
        opts = dataclasses.replace(opts, address=None)
    found = inventory(loader.load(paths), opts, environ)
    out(render_status.render(found, fmt))
    step_summary(render_status.markdown(found), environ)
    return EXIT_OK
