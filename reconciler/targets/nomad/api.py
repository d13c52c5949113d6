"""The Nomad CSI plugins API (`shared/reference/nomad-csi-plugins-api.md`): the list and the read,
both usable as blocking queries."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from urllib.parse import quote

import httpx

from reconciler.errors import UnexpectedResponse
from reconciler.http.client import Http, Response, Retry, RetryEvent
from reconciler.http.decode import parse, parse_list
from reconciler.targets.nomad.auth import NomadToken
from reconciler.targets.nomad.hints import NOMAD
from reconciler.targets.nomad.models import CsiPluginRead, CsiStub
from reconciler.targets.nomad.settings import NomadTarget

LIST_PATH = "/v1/plugins"
TIMEOUT_MARGIN = 10.0
"""Seconds a blocking query's HTTP timeout allows beyond its wait and Nomad's jitter (wait/16)."""


def connect(
    target: NomadTarget,
    *,
    parallelism: int = 8,
    transport: httpx.AsyncBaseTransport | None = None,
    retry: Retry | None = None,
    timeout: float | None = None,
    on_retry: Callable[[RetryEvent], None] | None = None,
) -> NomadApi:
    """A client for `target`; `timeout` (from --timeout) overrides the target's."""
    http = Http(
        target.address,
        auth=NomadToken(target.token),
        tls=target.tls,
        parallelism=parallelism,
        transport=transport,
        retry=retry or target.retry,
        timeout=target.timeout if timeout is None else timeout,
        on_retry=on_retry,
        hints=NOMAD,
    )
    params = {k: v for k, v in (("namespace", target.namespace), ("region", target.region)) if v}
    return NomadApi(http, params)


@dataclass(frozen=True)
class Listing:
    """`GET /v1/plugins?type=csi`: the plugin stubs in ID order, and `X-Nomad-Index`."""

    stubs: tuple[CsiStub, ...]
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
        http.hints = NOMAD  # failures are worded for Nomad, whoever built the Http
        self.params = dict(params or {})
        """Sent with every request: `namespace`, `region`."""

    async def aclose(self) -> None:
        await self.http.aclose()

    async def list_csi_plugins(self, *, index: int = 0, wait: float = 0.0) -> Listing:
        """Every CSI plugin. Always sends `type=csi`: without it Nomad answers `[]` (§3.1)."""
        r = await self._get(LIST_PATH, {"type": "csi"}, index, wait)
        return Listing(tuple(parse_list(CsiStub, r)), _index(r))

    async def read_csi_plugin(self, plugin_id: str, *, index: int = 0, wait: float = 0.0) -> CsiPluginRead | None:
        """One plugin with its `Controllers` and `Nodes` maps, or None when Nomad has no such plugin."""
        path = read_path(plugin_id)
        r = await self._get(path, {}, index, wait, allow=(404,))
        if r.status == 404:
            if "not found" not in str(r.body):  # Nomad's 404 says `plugin not found`; a proxy's page does not
                raise UnexpectedResponse(r.server, r.method, r.path, "a 404 that is not Nomad's `plugin not found`")
            return None
        plugin = parse(CsiPluginRead, r)
        if plugin_id != plugin.ID:
            raise UnexpectedResponse(r.server, r.method, r.path, f"ID: expected {plugin_id!r}, got {plugin.ID!r}")
        return plugin

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
