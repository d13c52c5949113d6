"""The documented shapes of the answers reconcile reads (vault-plugin-api.md,
nomad-csi-plugins-api.md), as strict pydantic models.

A 2xx answer is trusted only once it validates: a body that is empty, `null`, `{}`, or has a field
of the wrong type is an `UnexpectedResponse`, never an empty catalog or a missing entry. Unknown
fields are ignored (servers add fields); the fields reconcile reads are required or defaulted as
the reference says they may be absent.
"""

from __future__ import annotations

from typing import Literal, NoReturn, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from reconciler.errors import UnexpectedResponse
from reconciler.http.client import Response

M = TypeVar("M", bound=BaseModel)
SHOWN_PROBLEMS = 3


class _Body(BaseModel):
    model_config = ConfigDict(extra="ignore", strict=True, frozen=True)


# -- Vault / OpenBao ---------------------------------------------------------------------------
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


# -- Nomad -------------------------------------------------------------------------------------
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


def parse(model: type[M], response: Response) -> M:
    """`response`'s body as `model`, or UnexpectedResponse saying what was wrong."""
    if response.body is None and not response.size:
        _fail(response, "the body is empty (expected a JSON object)")
    try:
        return model.model_validate(response.body)
    except ValidationError as exc:
        _fail(response, describe(exc, response.body))


def parse_list(model: type[M], response: Response) -> list[M]:
    """A JSON array of `model` (Nomad's lists)."""
    if not isinstance(response.body, list):
        _fail(response, f"expected a JSON array, got {json_type(response.body)}")
    items = []
    for i, item in enumerate(response.body):
        try:
            items.append(model.model_validate(item))
        except ValidationError as exc:
            _fail(response, describe(exc, item, prefix=f"[{i}]"))
    return items


def _fail(response: Response, problem: str) -> NoReturn:
    raise UnexpectedResponse(
        response.server,
        response.method,
        response.path,
        problem,
        hint="something between reconcile and the server (a proxy, a load balancer) may have answered "
        "instead of it, or the address points to another service",
    )


def describe(exc: ValidationError, body: object, prefix: str = "") -> str:
    """The first few validation problems as `where: what` (`data.detailed[0].name: input should be ...`)."""
    problems = []
    for error in exc.errors()[:SHOWN_PROBLEMS]:
        where = (prefix + "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in error["loc"])).lstrip(".")
        if error["type"] == "missing":
            what = "missing"
        else:
            what = f"{error['msg'][0].lower()}{error['msg'][1:]}, got {json_type(error.get('input'))}"
        if not error["loc"]:
            what = f"expected a JSON object, got {json_type(body)}"
        problems.append(f"{where}: {what}" if where else what)
    more = exc.error_count() - SHOWN_PROBLEMS
    return "; ".join(problems) + (f"; and {more} more" if more > 0 else "")


def json_type(value: object) -> str:
    """The JSON name of a decoded value's type."""
    match value:
        case None:
            return "null"
        case bool():
            return "a boolean"
        case int() | float():
            return "a number"
        case str():
            return "a string"
        case list():
            return "an array"
        case dict():
            return "an object"
    return type(value).__name__
