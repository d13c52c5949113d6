"""Everything that can go wrong on the wire, as `reconciler.errors` exceptions.

`FAILURES` maps every httpx exception class (and OSError) to what the user is told; a test walks
httpx's exception tree and fails when a class is missing. Messages name the server by its display
address and never quote a header: httpx's own text is shown only for errors that cannot contain one.
"""

from __future__ import annotations

import html
import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

import httpx

from reconciler.errors import ConnectionFailed, NoAnswer, ReconcileError, UnexpectedResponse

Kind = Literal["unreachable", "no_answer", "send", "response", "internal"]

EXCERPT = 200
"""Characters of a non-JSON error body shown in a message."""


@dataclass(frozen=True)
class Failure:
    """How one exception class is reported. `detail`: append the exception's own first line."""

    kind: Kind
    text: str
    retry: bool = False
    detail: bool = False


_TIMEOUT = Failure("no_answer", "no answer within {timeout} s", retry=True)
FAILURES: dict[type[BaseException], Failure] = {
    httpx.HTTPError: Failure("unreachable", "the request failed", retry=True),
    httpx.RequestError: Failure("unreachable", "the request failed", retry=True),
    httpx.TransportError: Failure("unreachable", "the connection failed", retry=True),
    httpx.TimeoutException: _TIMEOUT,
    httpx.ConnectTimeout: Failure("unreachable", "no connection within {timeout} s", retry=True),
    httpx.ReadTimeout: _TIMEOUT,
    httpx.WriteTimeout: Failure("no_answer", "the request could not be sent within {timeout} s", retry=True),
    httpx.PoolTimeout: Failure("no_answer", "no free connection within {timeout} s", retry=True),
    httpx.NetworkError: Failure("unreachable", "the connection failed", retry=True, detail=True),
    httpx.ConnectError: Failure("unreachable", "", retry=True, detail=True),  # the OS says it best
    httpx.ReadError: Failure("unreachable", "the connection broke while reading the answer", retry=True, detail=True),
    httpx.WriteError: Failure("unreachable", "the connection broke while sending", retry=True, detail=True),
    httpx.CloseError: Failure("unreachable", "the connection did not close cleanly", retry=True, detail=True),
    # A proxy's own message may quote its address with credentials: not shown.
    httpx.ProxyError: Failure("unreachable", "the proxy (HTTPS_PROXY, HTTP_PROXY, ALL_PROXY) failed"),
    httpx.UnsupportedProtocol: Failure("send", "the address or proxy uses a scheme other than http or https"),
    httpx.ProtocolError: Failure("response", "the answer is not valid HTTP", retry=True, detail=True),
    # h11 quotes the offending header value (a credential): never shown.
    httpx.LocalProtocolError: Failure("send", "the request is not valid HTTP (a header value is not allowed)"),
    httpx.RemoteProtocolError: Failure("response", "the answer is not valid HTTP", retry=True, detail=True),
    httpx.DecodingError: Failure("response", "the body cannot be decoded (its Content-Encoding is broken)"),
    httpx.TooManyRedirects: Failure("response", "too many redirects"),
    httpx.HTTPStatusError: Failure("response", "an error status"),
    httpx.InvalidURL: Failure("send", "the address is not a valid URL"),
    httpx.StreamError: Failure("internal", "the body was read twice or after it was closed"),
    httpx.StreamConsumed: Failure("internal", "the body was read twice or after it was closed"),
    httpx.StreamClosed: Failure("internal", "the body was read twice or after it was closed"),
    httpx.ResponseNotRead: Failure("internal", "the body was used before it was read"),
    httpx.RequestNotRead: Failure("internal", "the request body was used before it was read"),
    OSError: Failure("unreachable", "", retry=True, detail=True),
}

_UNKNOWN = Failure("internal", "unexpected failure")


def _none(*_args: object) -> str:
    return ""


@dataclass(frozen=True)
class Hints:
    """A target's own words for what went wrong (its options, variables and policies): the HTTP
    layer names no product. Each target has one (`reconciler/targets/*/hints.py`)."""

    unreachable: str = "check the address and that the server is running"
    no_answer: str = "the server accepted the connection but did not answer: check it is healthy, or allow more time"
    redirect: str = "address the server directly"
    """A redirect to another origin (a standby node, a login page)."""
    denied: Callable[[str, str, list[str]], str] = field(default=_none)
    """(method, path, the server's messages) of a 403 -> what the credentials lack."""
    hopeless: Callable[[int, bytes], str] = field(default=_none)
    """(status, body) of an error answer -> why retrying it is pointless, as a hint; "" otherwise.
    A retryable status (429/502/503) with a hint is not retried (a sealed Vault's 503)."""


def failure_of(exc: BaseException) -> Failure | None:
    """The entry for the most specific class of `exc` in FAILURES, or None when it is not ours to map."""
    for cls in type(exc).__mro__:
        if cls in FAILURES:
            return FAILURES[cls]
    return None


def retryable(exc: BaseException) -> bool:
    found = failure_of(exc)
    return found is not None and found.retry


def to_error(exc: BaseException, request: httpx.Request, path: str, server: str, hints: Hints) -> ReconcileError:
    """The ReconcileError for an exception raised while sending `request` (to `server`, displayed)."""
    found = failure_of(exc) or _UNKNOWN
    text = reason(exc, request)
    where = f"{request.method} {path}"
    match found.kind:
        case "no_answer":
            return NoAnswer(f"{where}: {text} from {server}", hint=hints.no_answer)
        case "unreachable":
            return ConnectionFailed(f"{where}: cannot reach {server}: {text}", hint=hints.unreachable)
        case "response":
            return UnexpectedResponse(server, request.method, path, text)
        case "send":
            return ReconcileError(f"{where}: cannot send to {server}: {text}", hint=hints.unreachable)
        case _:
            return ReconcileError(
                f"{where}: internal error of the HTTP client (to {server}): {text} ({type(exc).__name__})"
            )


def reason(exc: BaseException, request: httpx.Request) -> str:
    """What went wrong, in a few words (for messages and retry announcements)."""
    found = failure_of(exc) or _UNKNOWN
    text = found.text.format(timeout=_timeout_of(request, exc))
    if not found.detail:
        return text
    return f"{text}: {_first_line(exc)}" if text else _first_line(exc)


def _timeout_of(request: httpx.Request, exc: BaseException) -> str:
    timeouts = request.extensions.get("timeout") or {}
    kinds: dict[type[BaseException], str] = {
        httpx.ConnectTimeout: "connect",
        httpx.WriteTimeout: "write",
        httpx.PoolTimeout: "pool",
    }
    key = kinds.get(type(exc), "read")
    seconds = timeouts.get(key)
    return f"{seconds:g}" if isinstance(seconds, int | float) else "the timeout"


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return excerpt(text.splitlines()[0])


def excerpt(text: str, limit: int = EXCERPT) -> str:
    """`text` on one line, at most `limit` characters."""
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1].rstrip() + "…"


_TAGS = re.compile(r"<(script|style)\b.*?</\1\s*>|<[^>]*>", re.IGNORECASE | re.DOTALL)


def server_messages(body: bytes, reason: str) -> list[str]:
    """The server's own messages from an error body: a JSON `errors` list, else a short excerpt
    of whatever came (HTML reduced to its text), else the reason phrase."""
    text = body.decode("utf-8", errors="replace").strip()
    try:
        decoded = json.loads(text) if text else None
    except ValueError:
        decoded = None
    if isinstance(decoded, dict) and isinstance(decoded.get("errors"), list):
        found = [e if isinstance(e, str) else json.dumps(e) for e in decoded["errors"]]
        return [m[:2000] for m in found if m.strip()] or _reason(reason)  # ApiError squashes multierrors
    if decoded is not None or not text:
        return _reason(reason)
    if text.startswith("<"):
        text = html.unescape(_TAGS.sub(" ", text))
    return [excerpt(text)] if text.strip() else _reason(reason)


def _reason(reason: str) -> list[str]:
    return [reason] if reason else []
