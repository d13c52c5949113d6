"""`reconcile status`: each plugin's versions and pin, each mount's versions and a verdict. Read-only."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping

from reconciler import pipeline, status
from reconciler.commands.console import EXIT_OK, announce_retry, out, preflight, step_summary
from reconciler.manifest import Desired
from reconciler.targets.vault.api import VaultApi
from reconciler.targets.vault.settings import VaultTarget


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


def run(opts: pipeline.Options, environ: Mapping[str, str], *, fmt: str = "text") -> int:
    from reconciler.render import status as render_status

    preflight(environ)
    found = inventory(pipeline.load(opts.manifests), opts, environ)
    out(render_status.render(found, fmt))
    step_summary(render_status.markdown(found), environ)
    return EXIT_OK
