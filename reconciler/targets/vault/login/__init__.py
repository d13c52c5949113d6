"""Logging in to Vault/OpenBao: `inputs` reads and checks what users give (no network), `session`
logs in once per run and revokes the token at its end."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from contextvars import ContextVar
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from reconciler.http.client import RetryEvent
    from reconciler.targets.vault.login.session import Session
    from reconciler.targets.vault.settings import VaultTarget

_Scope = tuple[
    list["Session"], dict[tuple[str, str], "VaultTarget"], Callable[[str], None], "Callable[[RetryEvent], None] | None"
]
_SCOPE: ContextVar[_Scope | None] = ContextVar("login_scope", default=None)


@contextlib.contextmanager
def scope(say: Callable[[str], None], on_retry: Callable[[RetryEvent], None] | None = None) -> Iterator[None]:
    """A run: the logins done inside it are revoked when it ends, however it ends (errors, signals)."""
    sessions: list[Session] = []
    reset = _SCOPE.set((sessions, {}, say, on_retry))
    try:
        yield
    finally:
        _SCOPE.reset(reset)
        for session in sessions:
            session.close()


def authenticate(target: VaultTarget, timeout: float | None = None) -> VaultTarget:
    """`target` with its token: the static one as is, or one logged in for the current `scope`
    (once per scope: a second call for the same server and login reuses the token)."""
    if target.login is None:
        return target
    import asyncio  # only when logging in

    return asyncio.run(log_in(target, timeout))  # the loop's task sees this context's scope


async def log_in(target: VaultTarget, timeout: float | None = None) -> VaultTarget:
    """`authenticate` inside a running event loop (a run over several targets logs in concurrently)."""
    if target.login is None:
        return target
    found = _SCOPE.get()
    if found is None:  # pragma: no cover - every command runs in a scope (commands.console.guarded)
        raise RuntimeError("a login needs a login scope")
    key = (target.address, target.login.describe())
    if key not in found[1]:
        found[1][key] = await _session(found).log_in(target, timeout)
    return found[1][key]


def _session(found: _Scope) -> Session:
    sessions, _, say, on_retry = found
    if not sessions:
        from reconciler.targets.vault.login.session import Session  # only when logging in

        sessions.append(Session(say=say, on_retry=on_retry))
    return sessions[0]
