"""The documented shapes of the Nomad answers reconcile reads (nomad-csi-plugins-api.md), as strict
pydantic models (decoded by `reconciler.http.decode`)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class CsiStub(BaseModel):
    """One stub of `GET /v1/plugins?type=csi`; other fields are kept for comparison."""

    model_config = ConfigDict(extra="allow", strict=True)
    ID: str = Field(min_length=1)
    ModifyIndex: int = 0


class CsiInstance(BaseModel):
    model_config = ConfigDict(extra="allow", strict=True)
    Healthy: bool = False
    Provider: str = ""
    ProviderVersion: str = ""


class CsiPluginRead(BaseModel):
    """`GET /v1/plugin/csi/:id`: the fields the checks read."""

    model_config = ConfigDict(extra="allow", strict=True)
    ID: str = Field(min_length=1)
    Provider: str = ""
    ControllerRequired: bool = False
    Controllers: dict[str, CsiInstance] | None = None
    Nodes: dict[str, CsiInstance] | None = None
    ControllersExpected: int = 0
    NodesExpected: int = 0
