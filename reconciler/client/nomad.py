"""The Nomad CSI plugins API (`shared/reference/nomad-csi-plugins-api.md`): the list and the read,
both usable as blocking queries."""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

import httpx
from pydantic import SecretStr

from reconciler.client import address as addresses
from reconciler.client.http import Http, Response, Retry, Tls
from reconciler.errors import ApiError, UsageError

DEFAULT_ADDRESS = "http://127.0.0.1:4646"
LIST_PATH = "/v1/plugins"
TIMEOUT_MARGIN = 10.0
"""Seconds a blocking query's HTTP timeout allows beyond its wait and Nomad's jitter (wait/16)."""


@dataclass(frozen=True)
class NomadTarget:
    """Where and how to reach Nomad, from `--nomad-address` and the NOMAD_* environment."""

    address: str
    token: SecretStr | None = None
    namespace: str = ""
    """Sent as `?namespace=`: Nomad has no namespace header (reference §2.3)."""
    region: str = ""
    """Sent as `?region=`."""
    tls: Tls = field(default_factory=Tls)

    @property
    def display_address(self) -> str:
        """The address without credentials: the only form that is printed or stored."""
        return addresses.display(self.address)

    @classmethod
    def from_env(cls, address: str | None, environ: Mapping[str, str] | None = None) -> NomadTarget:
        env = os.environ if environ is None else environ
        addr = address or env.get("NOMAD_ADDR") or DEFAULT_ADDRESS
        if not addr.startswith(("http://", "https://")):
            raise UsageError(f"Nomad address {addr!r} must start with http:// or https://")
        raw = env.get("NOMAD_TOKEN", "").strip()
        tls = Tls.from_env(env, "NOMAD")
        return cls(
            address=addr.rstrip("/"),
            token=SecretStr(raw) if raw else None,
            namespace=env.get("NOMAD_NAMESPACE", ""),
            region=env.get("NOMAD_REGION", ""),
            tls=tls,
        )


def connect(
    target: NomadTarget,
    *,
    parallelism: int = 8,
    transport: httpx.AsyncBaseTransport | None = None,
    retry: Retry | None = None,
) -> NomadApi:
    headers = {}
    if target.token is not None:
        headers["X-Nomad-Token"] = target.token.get_secret_value()
    http = Http(
        target.address,
        headers=headers,
        tls=target.tls,
        parallelism=parallelism,
        transport=transport,
        retry=retry,
        error_style="nomad",
    )
    params = {k: v for k, v in (("namespace", target.namespace), ("region", target.region)) if v}
    return NomadApi(http, params)


@dataclass(frozen=True)
class Listing:
    """`GET /v1/plugins?type=csi`: the plugin stubs in ID order, and `X-Nomad-Index`."""

    stubs: tuple[dict[str, Any], ...]
    index: int


def read_path(plugin_id: str) -> str:
    return f"/v1/plugin/csi/{quote(plugin_id, safe='')}"


def go_duration(seconds: float) -> str:
    """A blocking `wait` in whole milliseconds, at least 1: Nomad reads `0` as 300 s (§2.6)."""
    return f"{max(1, math.ceil(seconds * 1000))}ms"


class NomadApi:
    """Typed calls over one `Http`. `index`/`wait` make a call a blocking query (reference §2.6)."""

    def __init__(self, http: Http, params: Mapping[str, str] | None = None) -> None:
        self.http = http
        self.params = dict(params or {})
        """Sent with every request: `namespace`, `region`."""

    async def aclose(self) -> None:
        await self.http.aclose()

    async def list_csi_plugins(self, *, index: int = 0, wait: float = 0.0) -> Listing:
        """Every CSI plugin. Always sends `type=csi`: without it Nomad answers `[]` (§3.1)."""
        r = await self._get(LIST_PATH, {"type": "csi"}, index, wait)
        if not isinstance(r.body, list):
            raise ApiError("GET", LIST_PATH, r.status, [f"expected a JSON list of plugins, got {_kind(r.body)}"])
        return Listing(tuple(s for s in r.body if isinstance(s, dict)), _index(r))

    async def read_csi_plugin(self, plugin_id: str, *, index: int = 0, wait: float = 0.0) -> dict[str, Any] | None:
        """One plugin with its `Controllers` and `Nodes` maps, or None when Nomad has no such plugin."""
        path = read_path(plugin_id)
        r = await self._get(path, {}, index, wait, allow=(404,))
        if r.status == 404:
            return None
        if not isinstance(r.body, dict):
            raise ApiError("GET", path, r.status, [f"expected a JSON object, got {_kind(r.body)}"])
        return r.body

    async def _get(
        self, path: str, params: dict[str, str], index: int, wait: float, allow: tuple[int, ...] = ()
    ) -> Response:
        query = {**params, **self.params}
        timeout = None
        if index > 0:
            query |= {"index": str(index), "wait": go_duration(wait)}
            timeout = wait + wait / 16 + TIMEOUT_MARGIN
        return await self.http.request("GET", path, params=query, allow=allow, timeout=timeout)


def _index(r: Response) -> int:
    raw = r.headers.get("X-Nomad-Index", "")
    return int(raw) if raw.isdigit() else 0


def _kind(body: object) -> str:
    return "an empty body" if body is None else type(body).__name__
