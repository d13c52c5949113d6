"""Nomad CSI plugins: a check-only kind. Declared under `nomad.csi_plugins:`; never written.

Plan reads them from Nomad and turns each expectation into a check (checks.py), not a change.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import Field

from reconciler.kinds.base import Defaults, Resource
from reconciler.kinds.building import Builder, SourceDocument
from reconciler.kinds.fields import Doc, Name, Plain
from reconciler.resources import CsiPlugin


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

    def snapshot(self, resource: Resource, *, salt: str, live: bool) -> tuple[str, dict[str, Any]]:
        assert isinstance(resource, CsiPlugin)
        return f"CSI plugin {resource.id}", resource.model_dump(mode="json", exclude={"id"})


KIND = CsiKind()
