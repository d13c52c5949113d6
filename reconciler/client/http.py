"""The HTTP seam: one pooled `httpx.AsyncClient`, bounded concurrency, retries, and the single place
where httpx errors become `reconciler.errors` exceptions.
"""

from __future__ import annotations

import asyncio
import json
import ssl
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import httpx
from pydantic import SecretStr
from tenacity import (
    AsyncRetrying,
    retry_if_exception_type,
    stop_after_attempt,
    wait_exponential,
    wait_random,
)

from reconciler.errors import ApiError, ConnectionFailed, PermissionDenied, UsageError

RETRY_STATUSES = frozenset({429, 502, 503})
DEFAULT_TIMEOUT = 30.0

ErrorStyle = Literal["vault", "nomad"]
"""Which server's wording the hints use (addresses, tokens, policies)."""


@dataclass(frozen=True)
class Tls:
    """TLS settings; verification is on unless `skip_verify`."""

    ca_cert: str = ""
    ca_path: str = ""
    client_cert: str = ""
    client_key: str = ""
    skip_verify: bool = False

    @classmethod
    def from_env(cls, env: Mapping[str, str], prefix: str) -> Tls:
        """`VAULT_CACERT`, `VAULT_CAPATH`, `VAULT_CLIENT_CERT`, `VAULT_CLIENT_KEY`, `VAULT_SKIP_VERIFY` (or NOMAD_*)."""
        return cls(
            ca_cert=env.get(f"{prefix}_CACERT", ""),
            ca_path=env.get(f"{prefix}_CAPATH", ""),
            client_cert=env.get(f"{prefix}_CLIENT_CERT", ""),
            client_key=env.get(f"{prefix}_CLIENT_KEY", ""),
            skip_verify=truthy(env.get(f"{prefix}_SKIP_VERIFY")),
        )

    def context(self) -> ssl.SSLContext:
        ctx = ssl.create_default_context(cafile=self.ca_cert or None, capath=self.ca_path or None)
        if self.client_cert:
            ctx.load_cert_chain(self.client_cert, self.client_key or None)
        if self.skip_verify:
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
        return ctx


@dataclass(frozen=True)
class Retry:
    """Retry policy for 429/502/503 and connection errors: exponential backoff with jitter."""

    attempts: int = 4
    initial: float = 0.2
    maximum: float = 5.0


@dataclass(frozen=True)
class Response:
    """A response the caller accepted: its status and decoded JSON body (None when empty)."""

    status: int
    body: Any
    headers: Mapping[str, str] = field(default_factory=dict)


class _Retryable(Exception):
    def __init__(self, response: httpx.Response) -> None:
        self.response = response


def truthy(value: str | None) -> bool:
    return (value or "").strip().lower() in ("1", "true", "yes", "on", "t", "y")


class Http:
    """One HTTP client for a whole run. `parallelism` bounds requests in flight."""

    def __init__(
        self,
        base_url: str,
        *,
        headers: Mapping[str, str] | None = None,
        tls: Tls | None = None,
        parallelism: int = 8,
        retry: Retry | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        timeout: float = DEFAULT_TIMEOUT,
        error_style: ErrorStyle = "vault",
    ) -> None:
        if parallelism < 1:
            raise UsageError("--parallelism must be at least 1")
        self.base_url = base_url.rstrip("/")
        verify: ssl.SSLContext | bool = (tls or Tls()).context() if base_url.startswith("https") else True
        self._client = httpx.AsyncClient(
            base_url=self.base_url,
            headers=dict(headers or {}),
            verify=verify,
            transport=transport,
            timeout=timeout,
            follow_redirects=True,
            limits=httpx.Limits(max_connections=parallelism, max_keepalive_connections=parallelism),
        )
        self.parallelism = parallelism
        self._slots = asyncio.Semaphore(parallelism)
        self.retry = retry or Retry()
        self.error_style = error_style
        self.sent: Counter[str] = Counter()
        """Requests sent, by method (retries included)."""

    async def aclose(self) -> None:
        await self._client.aclose()

    async def __aenter__(self) -> Http:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, str] | None = None,
        json_body: Any = None,
        allow: tuple[int, ...] = (),
        headers: Mapping[str, str] | None = None,
        timeout: float | None = None,
    ) -> Response:
        """Send with retries; return 2xx and `allow`ed statuses, raise `ApiError` for the rest.

        `timeout` overrides the client's for this request (blocking queries outlast it).
        """
        request = self._client.build_request(
            method,
            path,
            params=params,
            json=json_body,
            headers=dict(headers or {}),
            timeout=httpx.USE_CLIENT_DEFAULT if timeout is None else timeout,
        )
        response = await self._send_with_retries(request, path)
        body = _decode(response)
        if response.is_success or response.status_code in allow:
            return Response(response.status_code, body, response.headers)
        raise self._error(method, path, response, body)

    async def _send_with_retries(self, request: httpx.Request, path: str) -> httpx.Response:
        retrying = AsyncRetrying(
            retry=retry_if_exception_type((_Retryable, httpx.TransportError)),
            stop=stop_after_attempt(self.retry.attempts),
            wait=wait_exponential(multiplier=self.retry.initial, max=self.retry.maximum)
            + wait_random(0, self.retry.initial),
            reraise=True,
        )
        try:
            async for attempt in retrying:
                with attempt:
                    response = await self._send(request)
                    if response.status_code in RETRY_STATUSES and not _is_sealed(response):
                        raise _Retryable(response)
                    return response
        except _Retryable as exc:
            return exc.response
        except httpx.TransportError as exc:
            raise ConnectionFailed(
                f"{request.method} {path}: cannot reach {self.base_url}: {_describe(exc)}",
                hint=_CONNECT_HINTS[self.error_style],
            ) from exc
        raise AssertionError("unreachable")  # pragma: no cover

    async def _send(self, request: httpx.Request) -> httpx.Response:
        async with self._slots:
            self.sent[request.method] += 1
            return await self._client.send(request)

    def _error(self, method: str, path: str, response: httpx.Response, body: Any) -> ApiError:
        messages = _messages(response, body)
        status = response.status_code
        if status == 403:
            hint = (
                _nomad_permission_hint(messages)
                if self.error_style == "nomad"
                else _permission_hint(method, path, messages)
            )
            return PermissionDenied(method, path, status, messages, hint=hint)
        hint = ""
        if status == 503 and _is_sealed(response):
            hint = "the server is sealed: unseal it, then run again"
        return ApiError(method, path, status, messages, hint=hint)


_CONNECT_HINTS: dict[ErrorStyle, str] = {
    "vault": "check the address (--address, VAULT_ADDR) and that the server is running",
    "nomad": "check the address (--nomad-address, NOMAD_ADDR) and that the Nomad agent is running",
}


def _decode(response: httpx.Response) -> Any:
    if not response.content:
        return None
    try:
        return response.json()
    except (json.JSONDecodeError, UnicodeDecodeError):
        return response.text


def _messages(response: httpx.Response, body: Any) -> list[str]:
    if isinstance(body, dict) and isinstance(body.get("errors"), list):
        return [str(e) for e in body["errors"]]
    if isinstance(body, str):
        return [body]
    return [response.reason_phrase] if response.reason_phrase else []


def _is_sealed(response: httpx.Response) -> bool:
    return response.status_code == 503 and b"is sealed" in response.content


def _describe(exc: httpx.TransportError) -> str:
    text = str(exc) or type(exc).__name__
    return text.splitlines()[0]


def _permission_hint(method: str, path: str, messages: list[str]) -> str:
    """Which policy capability the request needs (reference §8).

    A bare `permission denied` means no valid token; the multierror form means a missing capability.
    """
    if messages == ["permission denied"]:
        return "the token is missing, unknown or expired: set VAULT_TOKEN (or BAO_TOKEN, or ~/.vault-token)"
    policy_path = path.removeprefix("/v1/")
    capability = {"GET": "read", "LIST": "list", "DELETE": "delete"}.get(method, "update")
    sudo = policy_path.startswith(("sys/plugins/catalog/", "sys/plugins/runtimes/catalog/", "sys/auth/"))
    needed = f'"{capability}"' + (', "sudo"' if sudo else "")
    return f'the token needs capabilities [{needed}] on path "{policy_path}"'


def _nomad_permission_hint(messages: list[str]) -> str:
    """Nomad's CSI plugin endpoints need a `plugin` policy of `read` (nomad-csi-plugins-api.md §6)."""
    if messages == ["ACL token not found"]:
        return "the token is unknown or expired: set NOMAD_TOKEN to a valid token"
    return (
        'set NOMAD_TOKEN to a token whose policy has `plugin { policy = "read" }` '
        '("list" allows only the list; "write" allows neither list nor read)'
    )


def read_token_file(home: Path) -> SecretStr | None:
    path = home / ".vault-token"
    try:
        text = path.read_text().strip()
    except OSError:
        return None
    return SecretStr(text) if text else None
