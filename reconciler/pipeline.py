"""One target's pipeline: load -> validate -> read live -> diff -> (read mounts) -> plan, plus the
Nomad CSI checks, read concurrently with the Vault side.

The CLI commands (`reconciler/commands/`) and the benchmark (`bench/stages.py`) both run it; what
differs between them goes through `Hooks` (retry announcements, a per-request callback, a clock
per stage). The environment is passed in (`environ`), never read here.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from reconciler import checks, loader, unmanaged
from reconciler.diff import changes as diff_changes
from reconciler.errors import PlanError
from reconciler.http.client import RetryEvent
from reconciler.kinds import csi
from reconciler.live import Live, read_live, read_mounts
from reconciler.manifest import Desired
from reconciler.plan import Plan, build_plan, needs_mounts
from reconciler.resources import CsiPlugin
from reconciler.targets.nomad.api import connect as connect_nomad
from reconciler.targets.nomad.settings import NomadTarget
from reconciler.targets.vault import login
from reconciler.targets.vault.api import VaultApi
from reconciler.targets.vault.api import connect as connect_vault
from reconciler.targets.vault.login.inputs import Flags
from reconciler.targets.vault.settings import VaultTarget
from reconciler.validate import validate

STAGES = ("load", "read live", "validate", "diff", "read mounts", "plan")
"""The stages `Hooks.on_stage` names, in order (validation needs the server, so it follows the read)."""


@dataclass(frozen=True)
class Options:
    """What every server-facing command shares."""

    manifests: Path
    address: str | None
    prune: bool = True
    replace: tuple[str, ...] = ()
    parallelism: int = 8
    max_deletes: int | None = None
    nomad_address: str | None = None
    timeout: float | None = None
    """--timeout: seconds per request, for Vault and Nomad (None: their *_CLIENT_TIMEOUT, or 30)."""
    auth: Flags = dataclasses.field(default_factory=Flags)
    """--auth-method, --auth-path, --auth-role."""


@dataclass(frozen=True)
class Hooks:
    """What a caller may observe; none of them changes what is sent."""

    on_retry: Callable[[RetryEvent], None] | None = None
    """Every retry, before its pause (the CLI says it on stderr)."""
    on_request: Callable[[str, str], None] | None = None
    """(method, path) of every request sent to the Vault target, retries included (the benchmark counts)."""
    on_stage: Callable[[str], None] | None = None
    """Called as each of `STAGES` ends (the benchmark's clock)."""

    def stage(self, name: str) -> None:
        if self.on_stage is not None:
            self.on_stage(name)


@dataclass(frozen=True)
class Computed:
    """A fresh plan and everything it was computed from."""

    desired: Desired
    live: Live
    plan: Plan


def load(manifests: Path, hooks: Hooks | None = None) -> Desired:
    """The manifests, validated offline (ManifestError lists every problem)."""
    desired = loader.load(manifests)
    (hooks or Hooks()).stage("load")
    return desired


def vault_target(
    address: str | None, environ: Mapping[str, str], auth: Flags | None = None, timeout: float | None = None
) -> VaultTarget:
    """The Vault/OpenBao target from `--address`, the `--auth-*` flags and the VAULT_*/BAO_* variables of
    `environ`, with its token: a static one, or one logged in for this run (revoked when it ends)."""
    return login.authenticate(VaultTarget.from_env(address, environ, auth=auth), timeout)


async def logged_in_target(environ: Mapping[str, str], timeout: float | None = None) -> VaultTarget:
    """`vault_target` from inside a running event loop, for one of several targets (reconciler/fleet/):
    the address and any login come from that target's `environ`."""
    return await login.log_in(VaultTarget.from_env(None, environ), timeout)


def connect(target: VaultTarget, parallelism: int, timeout: float | None, hooks: Hooks | None = None) -> VaultApi:
    """The run's one client to the Vault/OpenBao target."""
    hooks = hooks or Hooks()
    return connect_vault(
        target, parallelism=parallelism, timeout=timeout, on_retry=hooks.on_retry, on_request=hooks.on_request
    )


async def vault_plan(
    api: VaultApi, desired: Desired, opts: Options, address: str, hooks: Hooks | None = None
) -> Computed:
    """Read live -> validate -> diff -> (read mounts) -> plan, against one Vault/OpenBao target."""
    hooks = hooks or Hooks()
    live = await read_live(api, desired.state)
    hooks.stage("read live")
    valid = validate(desired, live, opts.replace)
    hooks.stage("validate")
    found = diff_changes(desired, live, valid, prune=opts.prune)
    hooks.stage("diff")
    if needs_mounts(found, desired.state.settings, live):
        live = await read_mounts(api, live)
    hooks.stage("read mounts")
    the_plan = build_plan(found, live, desired.state.settings, address, desired.state)
    if not (opts.prune and desired.state.settings.prune):
        the_plan = dataclasses.replace(the_plan, unpruned=unmanaged.left_by_prune(desired, live))
    hooks.stage("plan")
    return Computed(desired, live, the_plan)


async def nomad_checks(
    expectations: Sequence[CsiPlugin],
    nomad_address: str | None,
    environ: Mapping[str, str],
    timeout: float | None = None,
    hooks: Hooks | None = None,
) -> tuple[list[checks.Check], tuple[str, ...]]:
    """The Nomad CSI checks; no Nomad request at all when the manifests declare none."""
    if not expectations:
        return [], ()
    on_retry = (hooks or Hooks()).on_retry
    api = connect_nomad(NomadTarget.from_env(nomad_address, environ), timeout=timeout, on_retry=on_retry)
    try:
        return await csi.KIND.checks(api, expectations)
    finally:
        await api.aclose()


async def plan(
    api: VaultApi,
    desired: Desired,
    opts: Options,
    address: str,
    environ: Mapping[str, str],
    hooks: Hooks | None = None,
) -> Computed:
    """The Vault plan and the Nomad checks, read concurrently."""
    computed, (results, unmanaged_csi) = await asyncio.gather(
        vault_plan(api, desired, opts, address, hooks),
        nomad_checks(desired.state.csi_plugins, opts.nomad_address, environ, opts.timeout, hooks),
    )
    if not results:
        return computed
    the_plan = dataclasses.replace(computed.plan, checks=tuple(results), unmanaged_csi=unmanaged_csi)
    return dataclasses.replace(computed, plan=the_plan)


def compute(opts: Options, environ: Mapping[str, str], hooks: Hooks | None = None) -> Computed:
    """The whole pipeline for one target, from the manifests' path to a plan."""
    desired = load(opts.manifests, hooks)
    target = vault_target(opts.address, environ, opts.auth, opts.timeout)

    async def go() -> Computed:
        async with connect(target, opts.parallelism, opts.timeout, hooks).http as http:
            return await plan(VaultApi(http), desired, opts, target.display_address, environ, hooks)

    return asyncio.run(go())


def check_limits(the_plan: Plan, desired: Desired, opts: Options) -> None:
    """PlanError when the plan deletes more than --max-deletes (or settings.max_deletes) allows."""
    limit = opts.max_deletes if opts.max_deletes is not None else desired.state.settings.max_deletes
    if limit is not None and the_plan.deletions > limit:
        raise PlanError(
            f"the plan deletes {the_plan.deletions} objects, more than the limit of {limit}; nothing was applied",
            hint="check the manifests, or raise --max-deletes / settings.max_deletes",
        )
