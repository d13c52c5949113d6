"""The Nomad CSI plugins API (`shared/reference/nomad-csi-plugins-api.md`): the list and the read,
both usable as blocking queries."""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

import httpx
from pydantic import SecretStr

from reconciler.errors import UnexpectedResponse
from reconciler.http import address as addresses
from reconciler.http import settings
from reconciler.http.client import DEFAULT_TIMEOUT, Http, Response, Retry, RetryEvent, Tls
from reconciler.http.settings import Setting
from reconciler.targets.vault.models import CsiPluginRead, CsiStub, parse, parse_list

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

    timeout: float = DEFAULT_TIMEOUT
    """Seconds per request (NOMAD_CLIENT_TIMEOUT); blocking queries add their wait to it."""
    retry: Retry = field(default_factory=Retry)
    """NOMAD_MAX_RETRIES retries after the first attempt; unset: 3 retries."""

    @classmethod
    def from_env(cls, address: str | None, environ: Mapping[str, str] | None = None) -> NomadTarget:
        """Read and check every setting; a bad one is a UsageError naming its variable or option."""
        env = os.environ if environ is None else environ
        given = Setting(address, "--nomad-address") if address and address.strip() else None
        found = given or settings.pick(env, "NOMAD_ADDR") or Setting(DEFAULT_ADDRESS, "the default address")
        timeout = settings.pick(env, "NOMAD_CLIENT_TIMEOUT")
        retries = settings.pick(env, "NOMAD_MAX_RETRIES")
        return cls(
            address=settings.address(found),
            token=settings.token(settings.pick(env, "NOMAD_TOKEN")),
            namespace=env.get("NOMAD_NAMESPACE", "").strip(),
            region=env.get("NOMAD_REGION", "").strip(),
            tls=Tls.from_env(env, "NOMAD"),
            timeout=settings.timeout(timeout) if timeout else DEFAULT_TIMEOUT,
            retry=Retry(attempts=settings.retries(retries) + 1) if retries else Retry(),
        )


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
    headers = {}
    if target.token is not None:
        headers["X-Nomad-Token"] = target.token.get_secret_value()
    http = Http(
        target.address,
        headers=headers,
        tls=target.tls,
        parallelism=parallelism,
        transport=transport,
        retry=retry or target.retry,
        timeout=target.timeout if timeout is None else timeout,
        on_retry=on_retry,
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
        parse_list(CsiStub, r)  # checked; the stubs stay as sent, to compare with the next list
        return Listing(tuple(r.body), _index(r))

    async def read_csi_plugin(self, plugin_id: str, *, index: int = 0, wait: float = 0.0) -> dict[str, Any] | None:
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
        body: dict[str, Any] = r.body
        return body

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
