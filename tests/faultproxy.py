"""A local HTTP proxy for tests: forwards to a real server (the dev OpenBao) with httpx, unless told
to answer a method and path itself (a given status, body and headers, a streamed huge body) or to
hang. Served with `tests.servers.serve_asgi`; records every request it gets.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx

from tests.servers import read_body, serve_asgi

_HOP_BY_HOP = {"content-length", "content-encoding", "transfer-encoding", "connection", "keep-alive"}


@dataclass
class Fault:
    """What the proxy answers instead of the server. `times`: only the first N matches (None: all)."""

    status: int = 200
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=lambda: {"Content-Type": "application/json"})
    times: int | None = None
    skip: int = 0
    """Forward the first `skip` matching requests untouched."""
    hang: bool = False
    stream_mib: int = 0
    """Stream this many MiB of JSON-looking bytes, without Content-Length."""


@dataclass
class FaultProxy:
    upstream: str
    faults: dict[tuple[str, str], Fault] = field(default_factory=dict)
    seen: list[str] = field(default_factory=list)
    """`METHOD /path` of every request received, in order."""
    closed: bool = False

    def fail(self, method: str, path: str, fault: Fault) -> None:
        self.faults[(method, path)] = fault

    def _fault_for(self, method: str, path: str) -> Fault | None:
        fault = self.faults.get((method, path))
        if fault is None or fault.times == 0:
            return None
        if fault.skip:
            fault.skip -= 1
            return None
        if fault.times is not None:
            fault.times -= 1
        return fault

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        body = await read_body(receive)
        method, path = scope["method"], scope["path"]
        self.seen.append(f"{method} {path}")
        fault = self._fault_for(method, path)
        if fault is None:
            await self._forward(scope, body, send)
            return
        while fault.hang and not self.closed:
            await asyncio.sleep(0.05)  # holds the request open until the test ends
        headers = [(k.lower().encode(), v.encode()) for k, v in fault.headers.items()]
        if fault.stream_mib:
            await send({"type": "http.response.start", "status": fault.status, "headers": headers})
            await send({"type": "http.response.body", "body": b'{"data": "', "more_body": True})
            chunk = b"x" * (1024 * 1024)
            with contextlib.suppress(Exception):  # the client stops reading at its cap
                for _ in range(fault.stream_mib):
                    await send({"type": "http.response.body", "body": chunk, "more_body": True})
                await send({"type": "http.response.body", "body": b'"}'})
            return
        headers.append((b"content-length", str(len(fault.body)).encode()))
        await send({"type": "http.response.start", "status": fault.status, "headers": headers})
        await send({"type": "http.response.body", "body": fault.body})

    async def _forward(self, scope: dict[str, Any], body: bytes, send: Any) -> None:
        headers = [(k, v) for k, v in scope["headers"] if k.decode().lower() not in _HOP_BY_HOP | {"host"}]
        url = self.upstream + scope["path"] + (("?" + scope["query_string"].decode()) if scope["query_string"] else "")
        async with httpx.AsyncClient() as client:
            r = await client.request(scope["method"], url, headers=headers, content=body)
        out = [(k.encode(), v.encode()) for k, v in r.headers.items() if k.lower() not in _HOP_BY_HOP]
        out.append((b"content-length", str(len(r.content)).encode()))
        await send({"type": "http.response.start", "status": r.status_code, "headers": out})
        await send({"type": "http.response.body", "body": r.content})


@contextlib.contextmanager
def fault_proxy(upstream: str) -> Iterator[tuple[FaultProxy, str]]:
    """A FaultProxy in front of `upstream`, served on 127.0.0.1: (proxy, its address)."""
    proxy = FaultProxy(upstream)
    with serve_asgi(proxy) as address:
        try:
            yield proxy, address
        finally:
            proxy.closed = True  # releases hanging requests before the server stops


@dataclass
class Recorder:
    """An ASGI app that records every request and answers 200 `{}` (the "evil" other origin)."""

    seen: list[tuple[str, str, dict[str, str], bytes]] = field(default_factory=list)

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        body = await read_body(receive)
        headers = {k.decode(): v.decode() for k, v in scope["headers"]}
        self.seen.append((scope["method"], scope["path"], headers, body))
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"2")]})
        await send({"type": "http.response.body", "body": b"{}"})
