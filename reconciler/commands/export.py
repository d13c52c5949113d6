"""`reconcile export`: the live catalog as manifests (YAML on stdout, or files). Never writes to the server."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from reconciler import export as exporting
from reconciler import pipeline
from reconciler.commands.console import EXIT_OK, announce_retry, out
from reconciler.targets.vault.api import VaultApi
from reconciler.targets.vault.login.inputs import Flags

if TYPE_CHECKING:
    from reconciler.fleet.run import Selection


def run(
    environ: Mapping[str, str],
    *,
    address: str | None,
    out_dir: Path | None,
    select: Sequence[str] = (),
    force: bool = False,
    parallelism: int = 8,
    timeout: float | None = None,
    selection: Selection | None = None,
    target_parallelism: int = 4,
    auth: Flags | None = None,
) -> int:
    if selection is not None:  # a targets file: DIR/<target>/ per selected target (reconciler/fleet/)
        from reconciler.fleet import checking

        return checking.export(
            selection,
            environ,
            out_dir=out_dir,
            select=select,
            force=force,
            parallelism=parallelism,
            timeout=timeout,
            target_parallelism=target_parallelism,
        )
    target = pipeline.vault_target(address, environ, auth, timeout)
    hooks = pipeline.Hooks(on_retry=announce_retry)

    async def go() -> exporting.Catalog:
        async with pipeline.connect(target, parallelism, timeout, hooks).http as http:
            return await exporting.read_catalog(VaultApi(http))

    catalog = asyncio.run(go())
    source = f"{catalog.server.kind} {catalog.server.version} at {target.display_address}"
    result = exporting.build(catalog, tuple(select), source)
    if out_dir is None:
        out(result.as_stream())
    else:
        written = exporting.write(out_dir, result.files, force=force)
        sys.stderr.write(f"Wrote {', '.join(str(p) for p in written)}\n")
    sys.stderr.write(exporting.notes(result))
    return EXIT_OK
