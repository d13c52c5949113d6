"""The HTTP seam: one pooled `httpx.AsyncClient`, bounded concurrency, retries, and the single place
where httpx errors become `reconciler.errors` exceptions (mapped by `failures.py`).

Bodies are streamed and capped (`MAX_BODY`); a 2xx body must be JSON (or empty). Redirects are
never followed by httpx: a same-origin 307/308 (a server's answer to a non-canonical path) is resent
to the new path with the same method, headers and body; any other redirect is refused, so
credentials and request bodies (a registration's env values) are never sent to another origin.
"""

from __future__ import annotations

import asyncio
import functools
import json
import ssl
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import httpx
from tenacity import (
    AsyncRetrying,
    RetryCallState,
    retry_if_exception,
    stop_after_attempt,
    wait_exponential,
    wait_random,
)

from reconciler.errors import ApiError, PermissionDenied, RedirectRefused, UnexpectedResponse, UsageError
from reconciler.http import failures
from reconciler.http.address import display
from reconciler.http.failures import Hints
from reconciler.http.tls import Tls, deferred_default

__all__ = ["DEFAULT_TIMEOUT", "Hints", "Http", "Response", "Retry", "RetryEvent"]

RETRY_STATUSES = frozenset({429, 502, 503})
DEFAULT_TIMEOUT = 30.0
MAX_BODY = 32 * 1024 * 1024
"""Bytes of a (decoded) body read at most: a bigger answer is an error, not a memory spike."""
MAX_REDIRECTS = 3


@dataclass(frozen=True)
class Retry:
    """Retry policy for 429/502/503 and connection errors: exponential backoff with jitter.

    `attempts` counts the first try: 2 retries are 3 attempts.
    """

    attempts: int = 4
    initial: float = 0.2
    maximum: float = 5.0


@dataclass(frozen=True)
class RetryEvent:
    """One retry about to happen, for the caller to announce (the client never prints)."""

    method: str
    path: str
    reason: str
    attempt: int
    """The attempt about to be made (2 for the first retry)."""
    attempts: int
    delay: float

    def __str__(self) -> str:
        return (
            f"retrying {self.method} {self.path}: {self.reason} "
            f"(attempt {self.attempt} of {self.attempts}, next in {self.delay:.1f} s)"
        )


@dataclass(frozen=True)
class Response:
    """A response the caller accepted: its status and decoded JSON body (None when empty).

    `server`, `method` and `path` say where it came from, for messages about its shape.
    """

    status: int
    body: Any
    headers: Mapping[str, str] = field(default_factory=dict)
    server: str = ""
    method: str = ""
    path: str = ""
    size: int = 0
    """Bytes of the body: tells an empty body from a JSON `null`."""


@dataclass(frozen=True)
class _Reply:
    response: httpx.Response
    content: bytes


class _Retryable(Exception):
    def __init__(self, reply: _Reply) -> None:
        self.reply = reply


@functools.cache
def _shared_default() -> ssl.SSLContext:
    """The default SSL context of https targets, built once per process: building one reads the CA
    bundle (~30 ms of CPU), once per target in a run over several targets (reconcile.yaml)."""
    return Tls().context()


def _ssl_context(tls: Tls) -> ssl.SSLContext:
    """The context for an https target: the shared default one when no TLS variable is set."""
    return _shared_default() if tls == Tls() else tls.context()


class Http:
    """One HTTP client for a whole run. `parallelism` bounds requests in flight; `auth` adds the
    credentials to every request (and may log in first); `hints` words failures for the target."""

    def __init__(
        self,
        base_url: str,
        *,
        headers: Mapping[str, str] | None = None,
        auth: httpx.Auth | None = None,
        tls: Tls | None = None,
        parallelism: int = 8,
        retry: Retry | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        timeout: float = DEFAULT_TIMEOUT,
        hints: Hints | None = None,
        on_retry: Callable[[RetryEvent], None] | None = None,
        max_body: int = MAX_BODY,
        on_request: Callable[[str, str], None] | None = None,
    ) -> None:
        if parallelism < 1:
            raise ValueError("parallelism must be at least 1")
        for name, value in (headers or {}).items():
            if not all(0x20 <= ord(c) <= 0x7E for c in value):  # the value itself is never shown
                raise UsageError(f"the {name} header would contain characters that are not printable ASCII")
        self.base_url = base_url.rstrip("/")
        self.display = display(self.base_url)
        """The address without credentials: the only form used in messages."""
        https = self.base_url.lower().startswith("https")
        verify = _ssl_context(tls or Tls()) if https else deferred_default()
        self._client = httpx.AsyncClient(
            base_url=self.base_url,
            headers=dict(headers or {}),
            auth=auth,
            verify=verify,
            transport=transport,
            timeout=timeout,
            follow_redirects=False,
            # Two connections beyond the request slots: a request cancelled mid-flight (Ctrl-C, SIGTERM)
            # can hold its pooled connection until the pool notices, and the lock release that follows
            # must still get one.
            limits=httpx.Limits(max_connections=parallelism + 2, max_keepalive_connections=parallelism),
        )
        self.parallelism = parallelism
        self._slots = asyncio.Semaphore(parallelism)
        self.retry = retry or Retry()
        self.hints = hints or Hints()
        """The target's words for failures (set by the target's API client)."""
        self.on_retry = on_retry
        self.on_request = on_request
        """Called with (method, URL path) as each request is sent, retries and redirects included."""
        self.max_body = max_body
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

        A 2xx body must be JSON or empty (else `UnexpectedResponse`). `timeout` overrides the
        client's for this request (blocking queries outlast it).
        """
        request = self._client.build_request(
            method,
            path,
            params=params,
            json=json_body,
            headers=dict(headers or {}),
            timeout=httpx.USE_CLIENT_DEFAULT if timeout is None else timeout,
        )
        reply = await self._send_with_retries(request, path)
        for _ in range(MAX_REDIRECTS):
            if not reply.response.is_redirect:
                break
            request = self._follow(request, reply, path)
            reply = await self._send_with_retries(request, path)
        else:
            if reply.response.is_redirect:
                raise RedirectRefused(f"{method} {path}: more than {MAX_REDIRECTS} redirects from {self.display}")
        status = reply.response.status_code
        if reply.response.is_success or status in allow:
            body = self._decode(reply, method, path, strict=reply.response.is_success)
            size = len(reply.content.strip())
            return Response(status, body, reply.response.headers, self.display, method, path, size)
        raise self._error(method, path, reply)

    async def _send_with_retries(self, request: httpx.Request, path: str) -> _Reply:
        retrying = AsyncRetrying(
            retry=retry_if_exception(lambda e: isinstance(e, _Retryable) or failures.retryable(e)),
            stop=stop_after_attempt(self.retry.attempts),
            wait=wait_exponential(multiplier=self.retry.initial, max=self.retry.maximum)
            + wait_random(0, self.retry.initial),
            before_sleep=lambda state: self._announce(request, path, state),
            reraise=True,
        )
        try:
            async for attempt in retrying:
                with attempt:
                    reply = await self._send(request, path)
                    status = reply.response.status_code
                    if status in RETRY_STATUSES and not self.hints.hopeless(status, reply.content):
                        raise _Retryable(reply)
                    return reply
        except _Retryable as exc:
            return exc.reply
        except (httpx.HTTPError, httpx.InvalidURL, httpx.StreamError, OSError) as exc:
            raise failures.to_error(exc, request, path, self.display, self.hints) from exc
        raise AssertionError("unreachable")  # pragma: no cover

    def _announce(self, request: httpx.Request, path: str, state: RetryCallState) -> None:
        if self.on_retry is None or state.outcome is None:
            return
        exc = state.outcome.exception()
        if isinstance(exc, _Retryable):
            reason = f"{exc.reply.response.status_code} {exc.reply.response.reason_phrase}".strip()
        else:
            reason = failures.reason(exc, request) if exc is not None else "failed"
        delay = state.next_action.sleep if state.next_action else 0.0
        self.on_retry(
            RetryEvent(request.method, path, reason, state.attempt_number + 1, self.retry.attempts, float(delay))
        )

    async def _send(self, request: httpx.Request, path: str) -> _Reply:
        async with self._slots:
            self.sent[request.method] += 1
            if self.on_request is not None:
                self.on_request(request.method, request.url.path)
            response = await self._client.send(request, stream=True)
            try:
                return _Reply(response, await self._read_capped(response, request.method, path))
            finally:
                await response.aclose()

    async def _read_capped(self, response: httpx.Response, method: str, path: str) -> bytes:
        """The (decoded) body, refusing to read past `max_body` bytes."""
        declared = response.headers.get("Content-Length", "")
        chunks: list[bytes] = []
        size = int(declared) if declared.isdigit() else 0
        if size <= self.max_body:
            size = 0
            async for chunk in response.aiter_bytes():
                size += len(chunk)
                if size > self.max_body:
                    break
                chunks.append(chunk)
        if size > self.max_body:
            raise UnexpectedResponse(
                self.display,
                method,
                path,
                f"the body is larger than {self.max_body // (1024 * 1024)} MiB; stopped reading it",
                hint="check that the address points to the server itself, not to something in front of it",
            )
        return b"".join(chunks)

    def _follow(self, request: httpx.Request, reply: _Reply, path: str) -> httpx.Request:
        """The request to resend for a same-origin 307/308; RedirectRefused for any other redirect."""
        status = reply.response.status_code
        location = reply.response.headers.get("Location", "")
        try:
            target = request.url.join(location)
        except httpx.InvalidURL:
            target = None
        where = f"{request.method} {path}: {self.display} answered {status} {reply.response.reason_phrase}".rstrip()
        if target is None:
            raise RedirectRefused(f"{where}, redirecting to an address that does not parse; not followed")
        if _origin(target) != _origin(request.url):
            raise RedirectRefused(
                f"{where}, redirecting to another server, {_shown(target)}; not followed: "
                f"the token and the request were not sent there",
                hint=self.hints.redirect,
            )
        if status not in (307, 308):
            raise RedirectRefused(
                f"{where}, redirecting to {_shown(target)}; not followed: only 307 and 308 keep the method and body",
                hint="check the address: it should point to the server's API, not to a page in front of it",
            )
        return httpx.Request(
            request.method, target, headers=request.headers, content=request.content, extensions=request.extensions
        )

    def _decode(self, reply: _Reply, method: str, path: str, *, strict: bool) -> Any:
        """JSON of the body (None when empty). Not JSON: an error for 2xx, the text for an allowed error status."""
        if not reply.content.strip():
            return None
        try:
            return json.loads(reply.content)
        except (ValueError, UnicodeDecodeError):
            if not strict:
                return reply.content.decode("utf-8", errors="replace")
            kind = reply.response.headers.get("Content-Type", "") or "no Content-Type"
            raise UnexpectedResponse(
                self.display,
                method,
                path,
                f"the body is not JSON ({kind}, {len(reply.content)} bytes)",
                hint="something between reconcile and the server (a proxy, a load balancer) may have answered "
                "instead of it, or the address points to another service",
            ) from None

    def _error(self, method: str, path: str, reply: _Reply) -> ApiError:
        messages = failures.server_messages(reply.content, reply.response.reason_phrase)
        status = reply.response.status_code
        if status == 403:
            return PermissionDenied(method, path, status, messages, hint=self.hints.denied(method, path, messages))
        return ApiError(method, path, status, messages, hint=self.hints.hopeless(status, reply.content))


def _origin(url: httpx.URL) -> tuple[str, str, int | None]:
    default = {"http": 80, "https": 443}.get(url.scheme)
    return (url.scheme, url.host, url.port or default)


def _shown(url: httpx.URL) -> str:
    """A redirect target as it may be printed: no credentials, no query string."""
    host = f"[{url.host}]" if ":" in url.host else url.host
    port = f":{url.port}" if url.port else ""
    return failures.excerpt(f"{url.scheme}://{host}{port}{url.path}")
