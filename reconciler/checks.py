"""Checks: does the live Nomad cluster meet the manifests' CSI plugin expectations? Pure.

Evaluation only: render/ draws the results (text, json, markdown).

Health is counted from the instance maps (`Controllers`, `Nodes`) of a plugin read, never from the
top-level counters, which have drifted before (nomad-csi-plugins-api.md §7.1, §7.3).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from reconciler.resources import CsiPlugin

CheckKind = Literal["nomad_csi_plugin"]


@dataclass(frozen=True, kw_only=True)
class Check:
    """The outcome of one expectation."""

    kind: CheckKind = "nomad_csi_plugin"
    id: str
    """The plugin ID the expectation names."""
    ok: bool
    reason: str = ""
    """Why it fails, for a person (`1 of 3 nodes healthy, need 2`); "" when ok."""


def evaluate(expectations: Sequence[CsiPlugin], live: Mapping[str, dict[str, Any] | None]) -> list[Check]:
    """One check per expectation, by plugin ID. `live` maps an ID to its read; None or absent: missing."""
    checks = []
    for expected in sorted(expectations, key=lambda e: e.id):
        plugin = live.get(expected.id)
        reasons = ["missing"] if plugin is None else _reasons(expected, plugin)
        checks.append(Check(id=expected.id, ok=not reasons, reason="; ".join(reasons)))
    return checks


def unmanaged(expectations: Sequence[CsiPlugin], live_ids: Iterable[str]) -> list[str]:
    """Live CSI plugins that no manifest declares, sorted (information only: nothing is pruned)."""
    declared = {e.id for e in expectations}
    return sorted(set(live_ids) - declared)


def _reasons(expected: CsiPlugin, plugin: Mapping[str, Any]) -> list[str]:
    reasons = []
    provider = str(plugin.get("Provider") or "")
    if expected.provider is not None and provider != expected.provider:
        reasons.append(f"provider is {provider or '(none)'}, want {expected.provider}")
    required = bool(plugin.get("ControllerRequired"))
    if expected.controller_required is not None and required != expected.controller_required:
        reasons.append(f"controller_required is {_bool(required)}, want {_bool(expected.controller_required)}")
    for noun, key, minimum in (
        ("controllers", "Controllers", expected.controllers_healthy),
        ("nodes", "Nodes", expected.nodes_healthy),
    ):
        reason = _count_reason(expected, plugin, noun, key, minimum)
        if reason:
            reasons.append(reason)
    return reasons


def _count_reason(expected: CsiPlugin, plugin: Mapping[str, Any], noun: str, key: str, minimum: int | None) -> str:
    """ "" when enough instances are healthy; the default minimum is every expected one (`…Expected`)."""
    instances = [i for i in (plugin.get(key) or {}).values() if isinstance(i, dict) and i.get("Healthy") is True]
    if expected.provider is not None:
        instances = [i for i in instances if i.get("Provider") == expected.provider]
    counted = [i for i in instances if expected.version is None or i.get("ProviderVersion") == expected.version]
    total = _int(plugin.get(f"{key}Expected"))
    need = total if minimum is None else minimum
    if len(counted) >= need:
        return ""
    at = f" at version {expected.version}" if expected.version is not None else ""
    healthy = f"{len(counted)} of {total} {noun} healthy" if total else f"{len(counted)} {noun} healthy"
    others = sorted({str(i.get("ProviderVersion") or "?") for i in instances if i not in counted})
    other = f" ({len(instances) - len(counted)} healthy at {', '.join(others)})" if others else ""
    return f"{healthy}{at}, need {need}{other}"


def _int(value: object) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def _bool(value: bool) -> str:
    return "true" if value else "false"
