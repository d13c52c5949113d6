"""Running one command over several targets, concurrently.

Each target gets its own environment (`environ.for_target`), connection, login and lock, exactly as
a single-target run would; at most `parallelism` targets work at once (`--target-parallelism`). A
failure in one target becomes that target's `Part` (its error): it never stops the others.
"""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from reconciler import loader, outputs, pipeline
from reconciler.errors import ManifestError, ReconcileError, UsageError
from reconciler.fleet import environ as environs
from reconciler.fleet.config import DEFAULT_FILE, Fleet, Target, load
from reconciler.fleet.part import Part
from reconciler.http.address import display
from reconciler.manifest import Desired
from reconciler.targets.vault.api import VaultApi

DEFAULT_PARALLELISM = 4
"""Targets that run at once unless `--target-parallelism` says otherwise."""


@dataclass(frozen=True)
class Selection:
    """The targets file and the targets a run covers (in the file's order)."""

    fleet: Fleet
    targets: tuple[Target, ...]


def targets_file(config: Path | None, names: Sequence[str], single: Sequence[str]) -> Path | None:
    """The targets file of this run, or None for a single-target run (no file: as before #15).

    `single`: the single-target options given on the command line (`--manifests`, ...), which a
    targets file replaces; giving one with a targets file is an error rather than a guess.
    """
    path = config if config is not None else (DEFAULT_FILE if os.path.lexists(DEFAULT_FILE) else None)
    if path is None:
        if names:
            raise UsageError("--target needs a targets file", hint="create reconcile.yaml, or pass --config FILE")
        return None
    if single:
        raise UsageError(
            f"{single[0]} cannot be used with a targets file ({path}): each target sets its own",
            hint="select targets with --target NAME, or run where there is no reconcile.yaml",
        )
    return path


def resolve(config: Path | None, names: Sequence[str], single: Sequence[str]) -> Selection | None:
    """The targets to run on (the file is loaded: ManifestError on any problem), or None."""
    path = targets_file(config, names, single)
    if path is None:
        return None
    fleet = load(path)
    return Selection(fleet, fleet.select(names))


def only_one(selection: Selection, command: str) -> Target:
    """The one target a command that works on a single target is for (`--target NAME`)."""
    if len(selection.targets) != 1:
        raise UsageError(
            f"{command} works on one target: pass --target NAME",
            hint=f"the targets are: {', '.join(t.name for t in selection.targets)}",
        )
    return selection.targets[0]


@dataclass(frozen=True)
class Context:
    """One target's run: its settings, its environment, and its hooks (retries said with its name)."""

    target: Target
    environ: dict[str, str]
    hooks: pipeline.Hooks
    parsed: dict[Path, loader.Parsed] = field(default_factory=dict)
    """Manifest files parsed in this run, shared by every target's context (`load_manifests`)."""

    @property
    def address(self) -> str:
        """The address this target is reached at, without credentials."""
        return display(self.environ.get("VAULT_ADDR") or self.target.address)


def context(target: Target, environ: Mapping[str, str], parsed: dict[Path, loader.Parsed] | None = None) -> Context:
    """`target`'s context; `parsed`: the run's cache of parsed manifest files (one per run)."""

    def retry(event: object) -> None:
        say(f"{target.name}: {event}")

    hooks = pipeline.Hooks(on_retry=retry)
    return Context(target, environs.for_target(target, environ), hooks, {} if parsed is None else parsed)


def say(line: str) -> None:
    """One line on stderr, whole (lines of concurrent targets never mix within a line)."""
    sys.stderr.write(outputs.scrub(line) + "\n")
    sys.stderr.flush()


def message(exc: ReconcileError) -> str:
    """An error as the single-target command says it: the message, then its hint; no credentials."""
    text = str(exc) if isinstance(exc, ManifestError) else str(exc) + (f"\nHint: {exc.hint}" if exc.hint else "")
    return outputs.scrub(text)


def failed(ctx: Context, exc: ReconcileError, part: Part | None = None) -> Part:
    """The target's part after `exc`: what it had drawn so far (if anything) and the error."""
    if part is None:
        return Part(ctx.target.name, ctx.address, failed=True, error=message(exc))
    return Part(part.name, part.address, part.draw, part.changed, True, message(exc), part.status)


async def each(
    targets: Sequence[Target],
    environ: Mapping[str, str],
    parallelism: int,
    work: Callable[[Context], Awaitable[Part]],
) -> list[Part]:
    """`work` for every target, at most `parallelism` at once; parts in the targets' order."""
    slots = asyncio.Semaphore(parallelism)
    parsed: dict[Path, loader.Parsed] = {}

    async def one(target: Target) -> Part:
        ctx = context(target, environ, parsed)
        async with slots:
            try:
                return await work(ctx)
            except ReconcileError as exc:
                return failed(ctx, exc)

    return list(await asyncio.gather(*(one(t) for t in targets)))


def load_manifests(ctx: Context) -> Desired:
    """The target's manifests: the union of its paths (ManifestError lists every problem). Files
    that several targets share (a base folder) are parsed once per run."""
    return loader.load(ctx.target.manifests, ctx.parsed)


async def compute(ctx: Context, desired: Desired, opts: pipeline.Options) -> pipeline.Computed:
    """The target's plan through the one-target pipeline, on a connection of its own."""
    vault = await pipeline.logged_in_target(ctx.environ, opts.timeout)
    async with pipeline.connect(vault, opts.parallelism, opts.timeout, ctx.hooks).http as http:
        return await pipeline.plan(VaultApi(http), desired, opts, vault.display_address, ctx.environ, ctx.hooks)
