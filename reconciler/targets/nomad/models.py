"""The documented shapes of the Nomad answers reconcile reads (nomad-csi-plugins-api.md), as strict
pydantic models (decoded by `reconciler.http.decode`)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class CsiStub(BaseModel):
    """One stub of `GET /v1/plugins?type=csi`. Every other field is kept (`extra`): two lists are
    compared stub by stub, and any change (counters, `ModifyIndex`) means the plugin is read again."""

    model_config = ConfigDict(extra="allow", strict=True, defer_build=True)
    ID: str = Field(min_length=1)
    ModifyIndex: int = 0


class CsiInstance(BaseModel):
    """One controller or node instance of a plugin read (reference §4.2)."""

    model_config = ConfigDict(extra="allow", strict=True, defer_build=True)
    Healthy: bool = False
    Provider: str = ""
    ProviderVersion: str = ""


class CsiPluginRead(BaseModel):
    """`GET /v1/plugin/csi/:id`: the fields the checks read. Health is counted from the instance maps,
    never from the top-level counters (reference §7.1)."""

    model_config = ConfigDict(extra="allow", strict=True, defer_build=True)
    ID: str = Field(min_length=1)
    Provider: str = ""
    ControllerRequired: bool = False
    Controllers: dict[str, CsiInstance] | None = None
    Nodes: dict[str, CsiInstance] | None = None
    ControllersExpected: int = 0
    NodesExpected: int = 0
