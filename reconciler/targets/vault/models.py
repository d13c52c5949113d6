"""The documented shapes of the Vault/OpenBao answers reconcile reads (vault-plugin-api.md), as
strict pydantic models (decoded by `reconciler.http.decode`).

A 2xx answer is trusted only once it validates: never an empty catalog or a missing entry from a
body of the wrong shape. Unknown fields are ignored (servers add fields); the fields reconcile
reads are required or defaulted as the reference says they may be absent.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class _Body(BaseModel):
    model_config = ConfigDict(extra="ignore", strict=True, frozen=True, defer_build=True)


class SealStatus(_Body):
    """`GET sys/seal-status`. `commit_date` is only OpenBao's (checked with `model_fields_set`)."""

    sealed: bool
    version: str
    commit_date: str | None = None


class Health(_Body):
    """`GET sys/health`: only Vault's has `enterprise`."""

    enterprise: bool | None = None


class CatalogEntry(_Body):
    """One `detailed` entry of the catalog list; `sha256` is absent for builtins."""

    type: str
    name: str = Field(min_length=1)
    version: str = ""
    sha256: str = ""
    builtin: bool
    oci_image: str = ""
    runtime: str = ""


class _CatalogData(_Body):
    # Required: every real catalog lists its builtins, so a list without `detailed` is not one.
    detailed: list[CatalogEntry]


class CatalogList(_Body):
    """`GET sys/plugins/catalog`."""

    data: _CatalogData


class EntryData(_Body):
    """One entry read (`GET sys/plugins/catalog/:type/:name`); `args` is null for builtins."""

    name: str
    command: str
    args: list[str] | None = None
    sha256: str
    builtin: bool
    version: str = ""
    declarative: bool = False
    oci_image: str = ""
    """Vault 1.15+, only when set."""
    runtime: str = ""
    """Vault 1.15+, only when set."""


class EntryRead(_Body):
    data: EntryData


class NotFound(_Body):
    """Vault's 404: `{"errors":[]}`. Anything else (a proxy's page) does not confirm a missing entry."""

    errors: list[str]


class PinRow(_Body):
    type: Literal["auth", "database", "secret"]
    name: str = Field(min_length=1)
    version: str


class _PinsData(_Body):
    pinned_versions: list[PinRow]


class PinsList(_Body):
    """`GET sys/plugins/pins` (Vault 1.16+): always a list, `[]` when empty."""

    data: _PinsData


class RuntimeRow(_Body):
    type: Literal["container"] = "container"
    name: str = Field(min_length=1)
    oci_runtime: str = ""
    cgroup_parent: str = ""
    cpu_nanos: int = 0
    memory_bytes: int = 0
    rootless: bool = False


class _RuntimesData(_Body):
    runtimes: list[RuntimeRow] = []  # Vault 1.15 omits the key when there are none


class RuntimesList(_Body):
    """`GET sys/plugins/runtimes/catalog` (Vault 1.15+)."""

    data: _RuntimesData


class MountInfo(_Body):
    type: str
    plugin_version: str = ""
    running_plugin_version: str = ""
    running_sha256: str = ""


class MountsList(_Body):
    """`GET sys/mounts` or `GET sys/auth`: mount path -> its description."""

    data: dict[str, MountInfo]
