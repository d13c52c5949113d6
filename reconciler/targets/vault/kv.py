"""One key of a KV version 2 mount, read and written with check-and-set: the store of the apply lock.

Answers are decoded into small models; an answer that does not fit is an error (a lock that
cannot be read is never taken for a free one). Observed on OpenBao 2.x: a create-only write
(`options.cas = 0`) and a write with a stale version both answer 400 "check-and-set parameter did
not match the current version"; a read of a soft-deleted latest version answers 404 with its
metadata; `sys/internal/ui/mounts/<mount>` answers 403 for a missing mount and for one the token
cannot use.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, TypeVar
from urllib.parse import quote

from pydantic import BaseModel, ConfigDict, ValidationError

from reconciler.errors import ApiError, LockError, PermissionDenied
from reconciler.http.client import Http
from reconciler.targets.vault.hints import kv_policy

CAS_MISMATCH = "check-and-set parameter did not match"

M = TypeVar("M", bound=BaseModel)


class _Answer(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True, defer_build=True)


class VersionMeta(_Answer):
    """The metadata KV v2 returns for one version of a key."""

    version: int
    created_time: datetime
    deletion_time: str = ""
    destroyed: bool = False

    @property
    def live(self) -> bool:
        """False when this (latest) version was deleted or destroyed: then it holds nothing."""
        return not self.deletion_time and not self.destroyed


class Secret(_Answer):
    """A read of the key: its data (None when the latest version is deleted) and that version's metadata."""

    data: dict[str, Any] | None
    metadata: VersionMeta


class _Read(_Answer):
    data: Secret


class _Written(_Answer):
    data: VersionMeta


class _MountOptions(_Answer):
    version: str = "1"


class _Mount(_Answer):
    type: str
    options: _MountOptions | None = None


class _MountAnswer(_Answer):
    data: _Mount


class KvKey:
    """`mount`/`key` of a KV v2 mount over one `Http`; every method is one request."""

    def __init__(self, http: Http, mount: str, key: str) -> None:
        self.http = http
        self.mount = mount.strip("/")
        self.key = key.strip("/")
        self.where = f"{self.mount}/{self.key}"
        quoted = quote(self.key, safe="/")
        self._data = f"/v1/{quote(self.mount, safe='/')}/data/{quoted}"
        self._metadata = f"/v1/{quote(self.mount, safe='/')}/metadata/{quoted}"

    async def check_mount(self) -> None:
        """Fail unless `mount` is a KV version 2 mount the token can use."""
        path = f"/v1/sys/internal/ui/mounts/{quote(self.mount, safe='/')}"
        try:
            body = (await self.http.request("GET", path)).body
        except PermissionDenied:
            raise LockError(
                f"lock: cannot use the KV mount {self.mount!r}: it does not exist or the token has no access to it",
                hint=f"enable it (`bao secrets enable -version=2 -path={self.mount} kv`) and give the token "
                + self.policy_hint(),
            ) from None
        mount = self._decode(_MountAnswer, body, "GET", path).data
        version = mount.options.version if mount.options else "1"
        if mount.type not in ("kv", "generic") or version != "2":
            shown = f"{mount.type} version {version}" if mount.type in ("kv", "generic") else mount.type
            raise LockError(
                f"lock: {self.mount!r} is a {shown} mount; the lock needs a KV version 2 mount (check-and-set)",
                hint=f"point settings.lock.kv_mount at a KV version 2 mount, or upgrade this one "
                f"(`bao kv enable-versioning {self.mount}`)",
            )

    async def read(self) -> Secret | None:
        """The latest version, or None when the key does not exist at all."""
        try:
            r = await self.http.request("GET", self._data, allow=(404,))
        except PermissionDenied as exc:
            raise self._denied(exc) from None
        if r.status == 404 and not (isinstance(r.body, dict) and r.body.get("data")):
            return None  # never written, or its metadata was deleted
        return self._decode(_Read, r.body, "GET", self._data).data

    async def write(self, data: dict[str, Any], *, cas: int) -> VersionMeta | None:
        """Write `data` if the key's current version is `cas` (0: if it does not exist); None if not."""
        body = {"options": {"cas": cas}, "data": data}
        try:
            r = await self.http.request("POST", self._data, json_body=body)
        except PermissionDenied as exc:
            raise self._denied(exc) from None
        except ApiError as exc:
            if exc.status == 400 and any(CAS_MISMATCH in m for m in exc.messages):
                return None
            raise
        return self._decode(_Written, r.body, "POST", self._data).data

    async def delete(self) -> None:
        """Delete the key with all its versions and metadata (so the next create-only write succeeds)."""
        try:
            await self.http.request("DELETE", self._metadata)
        except PermissionDenied as exc:
            raise self._denied(exc) from None

    def policy_hint(self) -> str:
        """The policy the lock needs, as docs/ci.md shows it."""
        return kv_policy(self.mount, self.key)

    def _denied(self, exc: PermissionDenied) -> LockError:
        return LockError(f"lock: {exc}", hint=self.policy_hint())

    def _decode(self, model: type[M], body: Any, method: str, path: str) -> M:
        try:
            return model.model_validate(body)
        except ValidationError as exc:
            problem = exc.errors(include_url=False)[0]
            where = ".".join(str(p) for p in problem["loc"]) or "the body"
            raise LockError(
                f"lock: unexpected answer to {method} {path}: {where}: {problem['msg']}",
                hint="is the lock's mount a KV version 2 mount of Vault or OpenBao?",
            ) from None
