"""Nomad CSI plugins: a check-only kind. Declared under `nomad.csi_plugins:`; never written.

Plan reads them from Nomad (csi_live.py, typed by targets/nomad/models.py) and evaluates each
expectation into a `Check` (checks.py), not a change. Evaluation is pure.

Health is counted from the instance maps (`Controllers`, `Nodes`) of a plugin read, never from the
top-level counters, which have drifted before (nomad-csi-plugins-api.md §7.1, §7.3).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Annotated, Any

from pydantic import Field

from reconciler.checks import Check
from reconciler.kinds.base import Defaults, Resource
from reconciler.kinds.building import Builder, SourceDocument
from reconciler.kinds.fields import Doc, Name, Plain
from reconciler.resources import CsiPlugin

if TYPE_CHECKING:
    from reconciler.targets.nomad.api import NomadApi
    from reconciler.targets.nomad.models import CsiInstance, CsiPluginRead


class CsiPluginDoc(Doc):
    """A Nomad CSI plugin that must be running and healthy."""

    id: Name
    provider: Annotated[str | None, Plain] = None
    version: Annotated[str | None, Plain] = None
    controllers_healthy: int | None = Field(default=None, ge=0)
    nodes_healthy: int | None = Field(default=None, ge=0)
    controller_required: bool | None = None


class NomadDoc(Doc):
    """Expectations of the Nomad cluster."""

    csi_plugins: list[CsiPluginDoc] = Field(default_factory=list)


class CsiKind(Defaults):
    """Expectations of a Nomad cluster's CSI plugins (`GET /v1/plugins?type=csi`)."""

    key = "nomad_csi_plugin"
    section = "nomad"
    state_field = "csi_plugins"
    diffed = False
    checked = False
    model = CsiPlugin

    def document_field(self) -> tuple[Any, Any]:
        return (NomadDoc | None, None)

    def build(self, source: SourceDocument, builder: Builder) -> None:
        from reconciler.kinds import Kind

        nomad = source.document.nomad
        if nomad is None:
            return
        for i, c in enumerate(nomad.csi_plugins):
            at = ("nomad", "csi_plugins", i)
            builder.add(Kind.CSI, c.id, CsiPlugin(**c.model_dump()), f"CSI plugin {c.id!r}", source, at)

    def identity(self, resource: Resource) -> str:
        assert isinstance(resource, CsiPlugin)
        return resource.id

    def coordinates(self, resource: Resource) -> tuple[str, str, str]:
        assert isinstance(resource, CsiPlugin)
        return ("csi", resource.id, resource.version or "")

    def view(self, resource: Resource) -> dict[str, Any]:
        return resource.model_dump(exclude={"id"})

    async def checks(self, api: NomadApi, expectations: Sequence[CsiPlugin]) -> tuple[list[Check], tuple[str, ...]]:
        """Read what Nomad has for `expectations` and evaluate them; also the undeclared plugins."""
        from reconciler.kinds.csi_live import read_csi  # the Nomad client, only when there is something to check

        live = await read_csi(api, expectations)
        return evaluate(expectations, live.plugins), live.unmanaged


KIND = CsiKind()


def evaluate(expectations: Sequence[CsiPlugin], live: Mapping[str, CsiPluginRead | None]) -> list[Check]:
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


def _reasons(expected: CsiPlugin, plugin: CsiPluginRead) -> list[str]:
    reasons = []
    if expected.provider is not None and plugin.Provider != expected.provider:
        reasons.append(f"provider is {plugin.Provider or '(none)'}, want {expected.provider}")
    required = plugin.ControllerRequired
    if expected.controller_required is not None and required != expected.controller_required:
        reasons.append(f"controller_required is {_bool(required)}, want {_bool(expected.controller_required)}")
    for noun, instances, total, minimum in (
        ("controllers", plugin.Controllers, plugin.ControllersExpected, expected.controllers_healthy),
        ("nodes", plugin.Nodes, plugin.NodesExpected, expected.nodes_healthy),
    ):
        reason = _count_reason(expected, noun, instances or {}, total, minimum)
        if reason:
            reasons.append(reason)
    return reasons


def _count_reason(
    expected: CsiPlugin, noun: str, instances: Mapping[str, CsiInstance], total: int, minimum: int | None
) -> str:
    """ "" when enough instances are healthy; the default minimum is every expected one (`…Expected`)."""
    healthy = [i for i in instances.values() if i.Healthy]
    if expected.provider is not None:
        healthy = [i for i in healthy if i.Provider == expected.provider]
    counted = [i for i in healthy if expected.version is None or i.ProviderVersion == expected.version]
    need = total if minimum is None else minimum
    if len(counted) >= need:
        return ""
    at = f" at version {expected.version}" if expected.version is not None else ""
    shown = f"{len(counted)} of {total} {noun} healthy" if total else f"{len(counted)} {noun} healthy"
    others = sorted({i.ProviderVersion or "?" for i in healthy if i not in counted})
    other = f" ({len(healthy) - len(counted)} healthy at {', '.join(others)})" if others else ""
    return f"{shown}{at}, need {need}{other}"


def _bool(value: bool) -> str:
    return "true" if value else "false"
