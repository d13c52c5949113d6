"""`reconcile status` (and the mounts block of `drift`) as text, JSON or markdown. Pure.

JSON is a contract like the plan's (`format_version` 1): `target`, `plugins` (each with `versions`,
`pinned` and `mounts`), and `summary`: the number of mounts per verdict.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict
from typing import Any

from reconciler.errors import UsageError
from reconciler.plan import FORMAT_VERSION
from reconciler.render.common import short
from reconciler.status import Inventory, MountStatus, PluginStatus, Verdict, VersionStatus

_ICONS = {
    Verdict.OK: "✅",
    Verdict.NEEDS_RELOAD: "🔄",
    Verdict.DIFFERS: "✏️",
    Verdict.NOT_DECLARED: "⚠️",
    Verdict.NOT_RUNNING: "❌",
    Verdict.PLUGIN_MISSING: "❌",
    Verdict.NOT_ENABLED: "➕",
}


def render(inventory: Inventory, fmt: str) -> str:
    """The inventory in `fmt` (text, json or markdown)."""
    match fmt:
        case "text":
            return text(inventory)
        case "json":
            return json.dumps(data(inventory), indent=2) + "\n"
        case "markdown":
            return markdown(inventory)
    raise UsageError(f"unknown output format {fmt!r}", hint="use one of: text, json, markdown")


# -- text ------------------------------------------------------------------------------------
def mount_line(mount: MountStatus, width: int = 0) -> str:
    """`    needs reload  up/  runs v1.0.0, configured v1.1.0`."""
    return f"    {mount.verdict.value:<{width}}  {mount.path}  {mount.detail}"


def _version_text(v: VersionStatus) -> str:
    where = {(True, True): "declared", (True, False): "not in the manifests"}.get(
        (v.registered, v.declared), "declared, not registered"
    )
    return f"{v.version or '(unversioned)'} ({where})"


def _plugin_lines(p: PluginStatus, width: int) -> list[str]:
    lines = [f"{p.type}/{p.name}"]
    lines.append("  versions: " + (", ".join(_version_text(v) for v in p.versions) or "none"))
    if p.pinned:
        lines.append(f"  pinned: {p.pinned}")
    if p.mounts:
        lines.append("  mounts:")
        lines += [mount_line(m, width) for m in p.mounts]
    return lines


def summary_line(inventory: Inventory) -> str:
    n, p = len(inventory.mounts), len(inventory.plugins)
    plugins = f"{p} plugin{'s' if p != 1 else ''}"
    if not n:
        return f"{plugins}, no mounts of them."
    parts = ", ".join(f"{count} {verdict}" for verdict, count in inventory.counts().items() if count)
    return f"{plugins}, {n} mount{'s' if n != 1 else ''}: {parts}."


def text(inventory: Inventory) -> str:
    t = inventory.target
    lines = [f"reconcile: {t.server} {t.version} at {t.address}", ""]
    width = max((len(m.verdict.value) for m in inventory.mounts), default=0)
    for p in inventory.plugins:
        lines += [*_plugin_lines(p, width), ""]
    lines.append(summary_line(inventory))
    return "\n".join(lines) + "\n"


def drift_lines(mounts: Sequence[MountStatus]) -> list[str]:
    """The mounts block of `drift`: mounts that do not run what they should."""
    if not mounts:
        return []
    lines = [f"  {m.verdict.value}: {m.path} ({m.type}/{m.plugin}) {m.detail}" for m in mounts]
    return [f"Mounts not running what they should ({len(mounts)}):", *lines, ""]


# -- JSON ------------------------------------------------------------------------------------
def mount_data(mount: MountStatus) -> dict[str, Any]:
    data = asdict(mount)
    data["verdict"] = mount.verdict.value
    return data


def data(inventory: Inventory) -> dict[str, Any]:
    t = inventory.target
    return {
        "format_version": FORMAT_VERSION,
        "target": {"address": t.address, "server": t.server, "version": t.version},
        "plugins": [
            {
                "type": p.type,
                "name": p.name,
                "versions": [asdict(v) for v in p.versions],
                "pinned": p.pinned,
                "mounts": [mount_data(m) for m in p.mounts],
            }
            for p in inventory.plugins
        ],
        "summary": inventory.counts(),
    }


# -- markdown --------------------------------------------------------------------------------
def mount_rows(mounts: Sequence[MountStatus]) -> list[str]:
    rows = ["| mount | plugin | configured | running | verdict |", "|---|---|---|---|---|"]
    for m in mounts:
        running = m.running_plugin_version or "—"
        if m.running_sha256:
            running += f" (`{short(m.running_sha256)}`)"
        verdict = f"{_ICONS[m.verdict]} {m.verdict.value}: {m.detail}"
        rows.append(f"| `{m.path}` | {m.type}/{m.plugin} | {m.plugin_version or '—'} | {running} | {verdict} |")
    return rows


def markdown(inventory: Inventory) -> str:
    t = inventory.target
    lines = ["### reconcile status", "", f"Target: **{t.server} {t.version}** at `{t.address}`", ""]
    lines += ["| plugin | versions | pinned |", "|---|---|---|"]
    for p in inventory.plugins:
        versions = ", ".join(_version_text(v) for v in p.versions) or "none"
        lines.append(f"| {p.type}/{p.name} | {versions} | {p.pinned or '—'} |")
    lines.append("")
    if inventory.mounts:
        lines += ["#### Mounts", "", *mount_rows(inventory.mounts), ""]
    lines.append(summary_line(inventory))
    return "\n".join(lines) + "\n"
