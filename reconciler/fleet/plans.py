"""`plan`, `drift`, `validate` and `targets` over the targets of a targets file.

Each target runs the one-target pipeline on a connection of its own (run.py); the output is one
combined document (render/fleet.py) and one combined exit code (part.py).
"""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from reconciler import drift, loader, outputs, pipeline, saved
from reconciler.commands.console import EXIT_OK, color, out, preflight, step_summary
from reconciler.empty_guard import refuse_empty
from reconciler.errors import ManifestError, PlanError, UsageError
from reconciler.fleet import config, run
from reconciler.fleet import environ as environs
from reconciler.fleet import saved as fleet_saved
from reconciler.fleet.part import Part, exit_code
from reconciler.kinds import census
from reconciler.plan import FORMAT_VERSION, Plan
from reconciler.render import fleet as combined


def plan_status(the_plan: Plan) -> str:
    """`1 to register, 0 to update, 0 to delete` (and failing checks, blocked changes)."""
    s = the_plan.summary
    parts = [f"{s['create']} to register, {s['update']} to update, {s['delete']} to delete"] if the_plan.changes else []
    if s["reload"]:
        parts.append(f"{s['reload']} to reload")
    if the_plan.blocked:
        parts.append(f"{len(the_plan.blocked)} blocked")
    if the_plan.failing_checks:
        parts.append(f"{len(the_plan.failing_checks)} of {len(the_plan.checks)} checks failing")
    return ", ".join(parts) or "no changes"


def emit(parts: list[Part], words: combined.Words, fmt: str, environ: Mapping[str, str]) -> None:
    """Print the combined output; append its markdown to the job summary; say failures on stderr
    where the output itself is for machines or reviewers (json, markdown)."""
    markdown = combined.render_markdown(parts, words)
    if fmt == "markdown":
        out(markdown)
    elif fmt == "json":
        out(combined.render_json(parts))
    else:
        out(combined.render_text(parts, words, color(sys.stdout, environ)))
    if fmt != "text":
        for part in parts:
            if part.error:
                run.say(f"{part.name}: Error: {part.error}")
    step_summary(markdown, environ)


def plan(
    selection: run.Selection,
    opts: pipeline.Options,
    environ: Mapping[str, str],
    *,
    parallelism: int = run.DEFAULT_PARALLELISM,
    fmt: str = "text",
    detailed_exitcode: bool = False,
    out_file: Path | None = None,
    allow_empty: bool = False,
) -> int:
    """`reconcile plan` on every selected target; `--out` saves one file covering all of them."""
    preflight(environ, out_file)
    documents: dict[str, dict[str, Any]] = {}

    async def work(ctx: run.Context) -> Part:
        desired = run.load_manifests(ctx)
        computed = await run.compute(ctx, desired, opts)
        the_plan = computed.plan
        refuse_empty(desired.state, the_plan, allow_empty=allow_empty)
        if out_file is not None:
            options = saved.SavedOptions(opts.prune, opts.replace)
            documents[ctx.target.name] = saved.to_document(the_plan, computed.live, desired, options)
        part = Part(
            ctx.target.name,
            the_plan.target.address,
            lambda r: r.render_plan(the_plan),
            changed=the_plan.drifted,
            status=plan_status(the_plan),
        )
        try:
            pipeline.check_limits(the_plan, desired, opts)
        except PlanError as exc:
            return run.failed(ctx, exc, part)
        return part

    parts = asyncio.run(run.each(selection.targets, environ, parallelism, work))
    if out_file is not None:
        _save(out_file, [(t.name, documents.get(t.name)) for t in selection.targets])
    emit(parts, combined.PLAN, fmt, environ)
    return exit_code(parts, changes_exit=detailed_exitcode)


def _save(out_file: Path, elements: list[tuple[str, dict[str, Any] | None]]) -> None:
    """Write the combined saved plan only when it covers every selected target."""
    missing = [name for name, doc in elements if doc is None]
    if missing:
        run.say(f"The plan was not saved to {out_file}: no plan for {', '.join(missing)}.")
        return
    whole = [(name, doc) for name, doc in elements if doc is not None]
    outputs.write_atomic(out_file, json.dumps(fleet_saved.to_document(whole), indent=2) + "\n")


def drift_command(
    selection: run.Selection,
    opts: pipeline.Options,
    environ: Mapping[str, str],
    *,
    parallelism: int = run.DEFAULT_PARALLELISM,
    fmt: str = "text",
) -> int:
    """`reconcile drift` on every selected target: exit 2 when any drifted, 1 when any failed."""
    preflight(environ)

    async def work(ctx: run.Context) -> Part:
        from reconciler.commands.status import read_inventory

        desired = run.load_manifests(ctx)
        computed = await run.compute(ctx, desired, opts)
        vault = await pipeline.logged_in_target(ctx.environ, opts.timeout)  # the same login as the plan's
        found = drift.detect(computed.plan, (await read_inventory(vault, desired, opts, ctx.hooks)).mismatches)
        total = sum(len(c) for c in found.groups.values()) + len(found.mounts) + len(computed.plan.failing_checks)
        status = f"{total} difference{'s' if total != 1 else ''}" if found.found else "in sync"
        return Part(
            ctx.target.name, computed.plan.target.address, lambda r: r.render_drift(found), found.found, status=status
        )

    parts = asyncio.run(run.each(selection.targets, environ, parallelism, work))
    emit(parts, combined.DRIFT, fmt, environ)
    return exit_code(parts, changes_exit=True)


def validate(config_path: Path, names: list[str]) -> int:
    """The targets file and every selected target's manifests, offline; every problem at once."""
    fleet, problems = config.read(config_path)
    lines = []
    parsed: dict[Path, loader.Parsed] = {}  # files that targets share are read once
    if problems:  # read every target's manifests that can be read, to show their problems too
        for paths in fleet.readable:
            try:
                loader.load(paths, parsed)
            except ManifestError as exc:
                problems += exc.diagnostics
    for target in () if problems else fleet.select(names):
        try:
            s = loader.load(target.manifests, parsed).state
        except ManifestError as exc:
            problems += exc.diagnostics
            continue
        lines.append(f"{target.name}: valid ({census(s)})\n")
    if problems:
        raise ManifestError(problems, what=f"{config_path} and its targets' manifests")
    out(f"{config_path}: {len(fleet.targets)} targets\n" + "".join(lines))
    return EXIT_OK


def targets(config_path: Path | None, names: tuple[str, ...], environ: Mapping[str, str], *, fmt: str = "text") -> int:
    """`reconcile targets`: the targets of the file, for people and for a CI matrix (json)."""
    selection = run.resolve(config_path, names, ())
    if selection is None:
        raise UsageError("no targets file: there is no reconcile.yaml here", hint="create it, or pass --config FILE")
    rows = [_target_data(t, environ) for t in selection.targets]
    if fmt == "json":
        document = {"format_version": FORMAT_VERSION, "config": str(selection.fleet.path), "targets": rows}
        out(json.dumps(document, indent=2) + "\n")
        return EXIT_OK
    lines = [f"{selection.fleet.path}: {len(rows)} target{'s' if len(rows) != 1 else ''}"]
    for row in rows:
        lines.append(f"  {row['name']}  {row['address']}  manifests: {', '.join(row['manifests'])}")
        extras = [f"namespace {row['namespace']!r}"] if row["namespace"] is not None else []
        if row["auth"]:
            extras.append("auth " + ", ".join(f"{k} {v}" for k, v in row["auth"].items() if v))
        if row["nomad_address"]:
            extras.append(f"nomad {row['nomad_address']}")
        if row["overrides"]:
            extras.append("set for it: " + ", ".join(row["overrides"]))
        lines += [f"    {extra}" for extra in extras]
    out("\n".join(lines) + "\n")
    return EXIT_OK


def _target_data(target: config.Target, environ: Mapping[str, str]) -> dict[str, Any]:
    auth = target.auth
    return {
        "name": target.name,
        "address": target.address,
        "namespace": target.namespace,
        "manifests": [str(p) for p in target.manifests],
        "auth": {"method": auth.method, "path": auth.path, "role": auth.role, "audience": auth.audience}
        if auth
        else None,
        "nomad_address": target.nomad_address,
        "env_prefix": target.env_prefix,
        "overrides": environs.own_variables(target, environ),
    }
