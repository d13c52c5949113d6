"""`reconcile export`: the live catalog as manifests, so an existing cluster can be adopted.

The property that matters is the round trip: on the same server, `reconcile plan` of what this
writes has no changes. So every entry that plan would compare or prune is exported exactly as the
server has it (and nothing plan never touches: builtins, OpenBao's declarative entries, versions
the API cannot address). Entries left out by `--select` become `settings.ignore` globs, so the
first plan does not prune them. The output is sorted: a re-export of an unchanged catalog is
byte-identical.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from reconciler.errors import UsageError
from reconciler.live import opaque, read_live
from reconciler.manifest import RuntimeDoc
from reconciler.resources import (
    Pin,
    Plugin,
    PluginType,
    Runtime,
    ServerInfo,
    State,
    plugin_sort_key,
)
from reconciler.targets.vault.api import VaultApi

SCHEMA_MODELINE = "# yaml-language-server: $schema=../schema/manifest.schema.json"
"""The modeline of the committed manifests (a `manifests/` folder beside `schema/`)."""

ENV_NOTE = (
    "# env: the server never returns a plugin's env, so none is exported here. Where a plugin needs\n"
    "# env, add it under its version, then run `reconcile apply --replace TYPE/NAME[@VERSION]` once."
)


@dataclass(frozen=True)
class Catalog:
    """What the server has that reconcile manages (builtins and declarative entries left out)."""

    server: ServerInfo
    plugins: tuple[Plugin, ...]
    runtimes: tuple[Runtime, ...] = ()
    pins: tuple[Pin, ...] = ()
    left_out: tuple[str, ...] = ()
    """Entries reconcile never plans for, with the reason (shown as a note)."""


@dataclass(frozen=True)
class Export:
    """The manifests to write: file name -> text, in file name order."""

    header: str
    bodies: dict[str, str]
    plugins: int
    runtimes: int
    pins: int
    ignored: tuple[str, ...] = ()
    left_out: tuple[str, ...] = ()

    @property
    def files(self) -> dict[str, str]:
        """One file per plugin type (and runtimes, settings), each with the header."""
        return {name: f"{self.header}\n\n{body}" for name, body in self.bodies.items()}

    def as_stream(self) -> str:
        """Every file as one multi-document YAML stream (for stdout), the header once."""
        return f"{self.header}\n\n" + "---\n".join(self.bodies.values())


async def read_catalog(api: VaultApi) -> Catalog:
    """Read every entry reconcile would manage, with its command and args, and pins and runtimes."""
    live = await read_live(api, State(), every_entry=True)
    plugins, left_out = [], []
    for plugin in live.state.plugins:
        if plugin.builtin:
            continue
        if opaque(plugin.key):
            left_out.append(f"{plugin.key}: its version is not addressable through the API")
        elif plugin.declarative:
            left_out.append(f"{plugin.key}: declared in the OpenBao server configuration")
        else:
            plugins.append(plugin)
    state = live.state
    return Catalog(live.server, tuple(plugins), state.runtimes, state.pins, tuple(sorted(left_out)))


def build(catalog: Catalog, selectors: Sequence[str], source: str) -> Export:
    """The manifests for `catalog`, restricted to `selectors` ("type/name" globs; none: everything)."""
    for glob in selectors:
        if "/" not in glob:
            raise UsageError(f"--select {glob!r} must have the form 'type/name' (e.g. 'secret/kv-*')")

    def chosen(text: str) -> bool:
        return not selectors or any(fnmatch.fnmatchcase(text, g) for g in selectors)

    plugins = [p for p in catalog.plugins if chosen(f"{p.type}/{p.name}")]
    used_runtimes = {p.runtime for p in plugins if p.runtime}
    runtimes = [r for r in catalog.runtimes if chosen(f"{r.type}/{r.name}") or r.name in used_runtimes]
    names = {(p.type, p.name) for p in plugins}
    pins = [p for p in catalog.pins if (p.type, p.name) in names]
    if selectors and not plugins and not runtimes:
        raise UsageError(
            f"--select {' '.join(selectors)}: no catalog entry matches",
            hint="globs match 'type/name', e.g. 'secret/*' or 'auth/team-*'",
        )
    ignored = sorted(
        {f"{p.type}/{p.name}" for p in catalog.plugins if (p.type, p.name) not in names}
        | {f"{r.type}/{r.name}" for r in catalog.runtimes if r not in runtimes}
    )
    header = f"{SCHEMA_MODELINE}\n# Exported by `reconcile export` from {source}.\n{ENV_NOTE}"
    bodies: dict[str, str] = {}
    for plugin_type in PluginType:
        doc: dict[str, Any] = {}
        typed = [p for p in plugins if p.type is plugin_type]
        if typed:
            doc["plugins"] = _plugin_docs(typed)
        typed_pins = sorted((p for p in pins if p.type is plugin_type), key=lambda p: p.name)
        if typed_pins:
            doc["pins"] = [{"type": str(p.type), "name": p.name, "version": p.version} for p in typed_pins]
        if doc:
            bodies[f"{plugin_type}.yaml"] = _dump(doc)
    if runtimes:
        bodies["runtimes.yaml"] = _dump({"runtimes": [_runtime_doc(r) for r in sorted(runtimes, key=lambda r: r.name)]})
    if ignored:
        bodies["settings.yaml"] = (
            "# Catalog entries not selected for export (--select). Ignoring them keeps the first plan\n"
            "# from pruning them; remove a line once the entries it matches are declared in a manifest.\n"
            + _dump({"settings": {"ignore": ignored}})
        )
    if not bodies:
        bodies["plugins.yaml"] = "# The server's catalog has no entries to manage.\nplugins: []\n"
    ordered = dict(sorted(bodies.items()))
    return Export(header, ordered, len(plugins), len(runtimes), len(pins), tuple(ignored), catalog.left_out)


def _plugin_docs(plugins: Sequence[Plugin]) -> list[dict[str, Any]]:
    by_name: dict[str, list[Plugin]] = {}
    for p in sorted(plugins, key=lambda p: plugin_sort_key(p.key)):
        by_name.setdefault(p.name, []).append(p)
    return [
        {"name": name, "type": str(versions[0].type), "versions": [_version_doc(v) for v in versions]}
        for name, versions in by_name.items()
    ]


def _version_doc(plugin: Plugin) -> dict[str, Any]:
    """Only what differs from the manifest defaults, so the files read like hand-written ones."""
    doc: dict[str, Any] = {}
    if plugin.version:
        doc["version"] = plugin.version
    doc["sha256"] = plugin.sha256
    if plugin.command and plugin.command != plugin.name:
        doc["command"] = plugin.command
    if plugin.args:
        doc["args"] = _Flow(plugin.args)
    if plugin.oci_image:
        doc["oci_image"] = plugin.oci_image
    if plugin.runtime:
        doc["runtime"] = plugin.runtime
    return doc


def _runtime_doc(runtime: Runtime) -> dict[str, Any]:
    defaults = RuntimeDoc(name=runtime.name)
    data = runtime.model_dump()
    return {"name": runtime.name} | {k: v for k, v in data.items() if k != "name" and v != getattr(defaults, k)}


class _Flow(list[str]):
    """A list written in flow style (`args: ["-x", "-y"]`), as people write args."""


class _Dumper(yaml.SafeDumper):
    """Indented block sequences, as in the committed manifests."""

    def increase_indent(self, flow: bool = False, indentless: bool = False) -> None:  # noqa: ARG002
        super().increase_indent(flow, False)  # never indentless: list items sit under their key


_Dumper.add_representer(_Flow, lambda d, data: d.represent_sequence("tag:yaml.org,2002:seq", data, flow_style=True))


def _dump(doc: dict[str, Any]) -> str:
    text: str = yaml.dump(doc, Dumper=_Dumper, sort_keys=False, default_flow_style=False, width=10_000)
    return text


def write(out: Path, files: dict[str, str], *, force: bool) -> list[Path]:
    """Write `files` into the folder `out` (created); refuse to overwrite any file unless `force`."""
    if out.exists() and not out.is_dir():
        raise UsageError(f"--out {out}: exists and is not a folder")
    paths = [out / name for name in files]
    existing = [p for p in paths if p.exists() or p.is_symlink()]
    if existing and not force:
        raise UsageError(
            f"refusing to overwrite {', '.join(str(p) for p in existing)}; nothing was written",
            hint="pass --force to overwrite, or export into an empty folder",
        )
    try:
        out.mkdir(parents=True, exist_ok=True)
        for path, text in zip(paths, files.values(), strict=True):
            path.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise UsageError(f"--out {out}: cannot write: {exc.strerror or exc}") from None
    return paths


def notes(result: Export) -> str:
    """What the user must know about the export (for stderr): counts, env, ignored and left out entries."""
    lines = [
        f"Exported {result.plugins} plugin versions, {result.runtimes} runtimes and {result.pins} pins.",
        "Note: env cannot be read from the server, so the exported manifests declare none. Where a plugin "
        "needs env, add it to its version and run `reconcile apply --replace TYPE/NAME[@VERSION]` once.",
    ]
    if result.ignored:
        lines.append(
            f"Not selected, written as settings.ignore so the first plan does not prune them: "
            f"{', '.join(result.ignored)}"
        )
    lines += [f"Left out (reconcile never changes it): {reason}" for reason in result.left_out]
    return "\n".join(lines) + "\n"
