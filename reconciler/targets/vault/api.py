"""The Vault/OpenBao plugin-management API (`shared/reference/vault-plugin-api.md`): one method per
request, every answer decoded into a model (`models.py`)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from urllib.parse import quote

import httpx

from reconciler.errors import ApiError
from reconciler.http.client import Http, Retry, RetryEvent
from reconciler.http.decode import parse
from reconciler.resources import Mount, Pin, Plugin, PluginKey, PluginType, Runtime, ServerInfo
from reconciler.targets.vault.auth import VaultToken
from reconciler.targets.vault.hints import VAULT
from reconciler.targets.vault.models import (
    CatalogEntry,
    CatalogList,
    EntryData,
    EntryRead,
    Health,
    MountsList,
    NotFound,
    PinsList,
    RuntimesList,
    SealStatus,
)
from reconciler.targets.vault.settings import VaultTarget


def connect(
    target: VaultTarget,
    *,
    parallelism: int = 8,
    transport: httpx.AsyncBaseTransport | None = None,
    retry: Retry | None = None,
    timeout: float | None = None,
    on_retry: Callable[[RetryEvent], None] | None = None,
    on_request: Callable[[str, str], None] | None = None,
) -> VaultApi:
    """A client for `target`; `timeout` (from --timeout) overrides the target's."""
    http = Http(
        target.address,
        headers={"X-Vault-Namespace": target.namespace} if target.namespace else {},
        auth=VaultToken(target.token),
        tls=target.tls,
        parallelism=parallelism,
        transport=transport,
        retry=retry or target.retry,
        timeout=target.timeout if timeout is None else timeout,
        on_retry=on_retry,
        on_request=on_request,
        hints=VAULT,
    )
    return VaultApi(http)


def _entry_path(t: str, name: str) -> str:
    return f"/v1/sys/plugins/catalog/{t}/{quote(name, safe='')}"


def _version_params(version: str) -> dict[str, str]:
    return {"version": version} if version else {}


class VaultApi:
    """Typed calls over one `Http`; each method is one request (reads of missing objects return None)."""

    def __init__(self, http: Http) -> None:
        self.http = http
        http.hints = VAULT  # failures are worded for Vault, whoever built the Http

    async def aclose(self) -> None:
        await self.http.aclose()

    # -- server --------------------------------------------------------------------------------
    async def server_info(self) -> ServerInfo:
        """Which product and version answers (reference §7.1), without needing a token."""
        status = parse(SealStatus, await self.http.request("GET", "/v1/sys/seal-status"))
        version = status.version.split("+")[0]
        if status.sealed:
            raise ApiError(
                "GET", "/v1/sys/seal-status", 503, ["the server is sealed"], hint="unseal it, then run again"
            )
        if "commit_date" in status.model_fields_set:
            kind = "openbao"
        elif version.startswith("1."):
            kind = "vault"
        else:  # Vault 2.x or OpenBao < 2.6: only Vault's health has `enterprise`
            answer = await self.http.request("GET", "/v1/sys/health", allow=(429, 472, 473, 501, 503))
            kind = "vault" if "enterprise" in parse(Health, answer).model_fields_set else "openbao"
        return _features(kind, version)

    # -- catalog -------------------------------------------------------------------------------
    async def list_catalog(self) -> list[CatalogEntry]:
        """The `detailed` list: every entry, builtin and external, versioned or not."""
        return parse(CatalogList, await self.http.request("GET", "/v1/sys/plugins/catalog")).data.detailed

    async def read_plugin(self, key: PluginKey) -> EntryData | None:
        """One entry, or None when the server says 404 with its own error body (only that confirms
        an entry is gone: a 200 of the wrong shape is an UnexpectedResponse)."""
        r = await self.http.request(
            "GET", _entry_path(key.type, key.name), params=_version_params(key.version), allow=(404,)
        )
        if r.status == 404:
            parse(NotFound, r)
            return None
        return parse(EntryRead, r).data

    async def register_plugin(self, plugin: Plugin) -> None:
        body: dict[str, Any] = {"sha256": plugin.sha256, "command": plugin.command, "args": list(plugin.args)}
        if plugin.version:
            body["version"] = plugin.version
        if plugin.env:
            body["env"] = [f"{k}={v.get_secret_value()}" for k, v in plugin.env.items()]
        if plugin.oci_image:
            body["oci_image"] = plugin.oci_image
        if plugin.runtime:
            body["runtime"] = plugin.runtime
        await self.http.request("POST", _entry_path(plugin.type, plugin.name), json_body=body)

    async def delete_plugin(self, key: PluginKey) -> None:
        # DELETE parameters must be in the query string: a body is ignored (reference §1.1).
        await self.http.request("DELETE", _entry_path(key.type, key.name), params=_version_params(key.version))

    # -- pins (Vault 1.16+) --------------------------------------------------------------------
    async def list_pins(self) -> list[Pin]:
        rows = parse(PinsList, await self.http.request("GET", "/v1/sys/plugins/pins")).data.pinned_versions
        return [Pin(type=PluginType(r.type), name=r.name, version=r.version) for r in rows]

    async def write_pin(self, pin: Pin) -> None:
        await self.http.request(
            "POST", f"/v1/sys/plugins/pins/{pin.type}/{pin.name}", json_body={"version": pin.version}
        )

    async def delete_pin(self, plugin_type: str, name: str) -> None:
        await self.http.request("DELETE", f"/v1/sys/plugins/pins/{plugin_type}/{name}")

    # -- runtimes (Vault 1.15+) ----------------------------------------------------------------
    async def list_runtimes(self) -> list[Runtime]:
        answer = await self.http.request("GET", "/v1/sys/plugins/runtimes/catalog")
        return [Runtime(**row.model_dump()) for row in parse(RuntimesList, answer).data.runtimes]

    async def register_runtime(self, runtime: Runtime) -> None:
        body = runtime.model_dump(exclude={"type", "name"})
        await self.http.request(
            "POST", f"/v1/sys/plugins/runtimes/catalog/{runtime.type}/{runtime.name}", json_body=body
        )

    async def delete_runtime(self, runtime_type: str, name: str) -> None:
        await self.http.request("DELETE", f"/v1/sys/plugins/runtimes/catalog/{runtime_type}/{name}")

    # -- mounts and reload ---------------------------------------------------------------------
    async def list_mounts(self, *, auth: bool) -> list[Mount]:
        path = "/v1/sys/auth" if auth else "/v1/sys/mounts"
        data = parse(MountsList, await self.http.request("GET", path)).data
        return [
            Mount(
                path=mount_path,
                plugin=info.type,
                auth=auth,
                plugin_version=info.plugin_version,
                running_plugin_version=info.running_plugin_version,
                running_sha256=info.running_sha256,
            )
            for mount_path, info in sorted(data.items())
        ]

    async def reload_by_name(self, plugin_type: str, name: str) -> None:
        """Vault 1.16+: reload every mount of the plugin, cluster-wide (202 is success)."""
        await self.http.request("POST", f"/v1/sys/plugins/reload/{plugin_type}/{name}", json_body={"scope": "global"})

    async def reload_backend(self, name: str) -> None:
        await self.http.request("PUT", "/v1/sys/plugins/reload/backend", json_body={"plugin": name})


def _features(kind: str, version: str) -> ServerInfo:
    if kind == "openbao":
        return ServerInfo(kind="openbao", version=version)
    parts = [int(p) if p.isdigit() else 0 for p in [*version.split("."), "0", "0"][:2]]
    major_minor = (parts[0], parts[1])

    def at_least(mm: tuple[int, int]) -> bool:
        return major_minor >= mm

    return ServerInfo(
        kind="vault",
        version=version,
        runtimes=at_least((1, 15)),
        pins=at_least((1, 16)),
        reload_by_name=at_least((1, 16)),
    )
