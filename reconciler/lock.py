"""The apply lock (`settings.lock`): one key of a KV version 2 mount in the target itself, so it
holds across CI systems and machines.

Taking it is a create-only write (`options.cas = 0`); a lock older than `ttl` is taken over with a
write that names its current version, so of two takers only one wins. Releasing reads the lock,
and deletes the key with all its versions (`DELETE <mount>/metadata/<key>`) only when it still
holds our ID: a soft delete or destroy would leave the key's version behind, and a create-only
write would then fail forever. The read and the delete are two requests; only a takeover (after
`ttl`) can come in between, and a lock older than `ttl` is fair game by definition.
"""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from datetime import UTC, datetime

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from tenacity import (
    AsyncRetrying,
    RetryCallState,
    retry_if_exception_type,
    stop_before_delay,
    wait_exponential,
    wait_random,
)

from reconciler.durations import parse_duration
from reconciler.errors import LockError, ReconcileError, UsageError
from reconciler.http import address
from reconciler.http.client import Http
from reconciler.resources import LockSettings
from reconciler.targets.vault.kv import KvKey, Secret

ROUNDS = 5
"""Read-then-write rounds in one attempt before giving up: the lock changed under us each time."""
MAX_POLL = 5.0
"""Longest pause between two attempts while waiting (--lock-timeout)."""


class Holder(BaseModel):
    """Who holds the lock: what a lock key contains."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    id: str = Field(min_length=1)
    host: str
    pid: int
    since: str
    """UTC start time, ISO 8601."""
    run_url: str = ""
    """The CI run that holds it (GitHub Actions, GitLab CI), when there is one."""

    def describe(self) -> str:
        """`ID x (host h, pid 1, since t, run URL)`: everything a user needs to find the holder."""
        run = f", run {self.run_url}" if self.run_url else ""
        return f"ID {self.id} (host {self.host}, pid {self.pid}, since {self.since}{run})"


def run_url(environ: Mapping[str, str]) -> str:
    """The URL of the CI run, without credentials: GitHub Actions, then GitLab CI, else ""."""
    server, repo, run = (environ.get(k, "") for k in ("GITHUB_SERVER_URL", "GITHUB_REPOSITORY", "GITHUB_RUN_ID"))
    if server and repo and run:
        return address.display(f"{server.rstrip('/')}/{repo}/actions/runs/{run}")
    return address.display(environ.get("CI_JOB_URL", ""))


def new_holder(environ: Mapping[str, str], now: datetime) -> Holder:
    """A fresh holder for this process."""
    since = now.astimezone(UTC).isoformat(timespec="seconds")
    return Holder(
        id=uuid.uuid4().hex, host=socket.gethostname(), pid=os.getpid(), since=since, run_url=run_url(environ)
    )


class _Held(Exception):
    def __init__(self, holder: Holder) -> None:
        self.holder = holder


def _now() -> datetime:
    return datetime.now(UTC)


class Lock:
    """Take and release one lock; `say` prints a line on stderr (waits, takeovers, warnings)."""

    def __init__(
        self,
        kv: KvKey,
        ttl: str,
        holder: Holder,
        say: Callable[[str], None],
        clock: Callable[[], datetime] = _now,
    ) -> None:
        self.kv, self.holder, self.say, self.clock = kv, holder, say, clock
        self.ttl_text = ttl
        self.ttl = parse_duration(ttl)
        self.version = 0

    async def acquire(self, timeout: float) -> None:
        """Take the lock, waiting up to `timeout` seconds (polling with backoff) while another run holds it."""
        await self.kv.check_mount()
        announced: list[bool] = []

        def announce(state: RetryCallState) -> None:
            if not announced:
                announced.append(True)
                held = state.outcome.exception() if state.outcome else None
                who = held.holder.describe() if isinstance(held, _Held) else "another run"
                self.say(f"Waiting up to {timeout:g}s for the lock {self.kv.where}, held by {who}")

        retrying = AsyncRetrying(
            retry=retry_if_exception_type(_Held),
            stop=stop_before_delay(timeout),
            wait=wait_exponential(multiplier=0.25, max=MAX_POLL) + wait_random(0, 0.25),
            before_sleep=announce,
            reraise=True,
        )
        try:
            async for attempt in retrying:
                with attempt:
                    await self._attempt()
        except _Held as held:
            raise LockError(
                f"lock {self.kv.where} is held by another run: {held.holder.describe()}; nothing was applied",
                hint="wait for it to finish (--lock-timeout 10m waits for it), or, if that run is gone, "
                f"remove its lock with `reconcile force-unlock {held.holder.id}`",
            ) from None
        self.say(f"Lock {self.kv.where} taken: ID {self.holder.id}")

    async def _attempt(self) -> None:
        """One try: create the key, or take over a deleted or stale lock; `_Held` if another run has it."""
        data = self.holder.model_dump()
        for _ in range(ROUNDS):
            if (written := await self.kv.write(data, cas=0)) is not None:
                self.version = written.version
                return
            current = await self.kv.read()
            if current is None:
                continue  # released between our write and our read
            other = holder_of(current, self.kv.where) if current.metadata.live else None
            if other is not None:
                age = (self.clock() - current.metadata.created_time).total_seconds()
                if age < self.ttl:
                    raise _Held(other)
            written = await self.kv.write(data, cas=current.metadata.version)
            if written is None:
                continue  # another run took it first
            self.version = written.version
            if other is not None:
                self.say(
                    f"Warning: took over the lock {self.kv.where} from {other.describe()}: "
                    f"it is older than the ttl of {self.ttl_text}"
                )
            return
        raise LockError(f"lock {self.kv.where} changed on every attempt to take it", hint="run apply again")

    async def release(self) -> None:
        """Delete the lock if it is still ours; warn (and leave it) when another run took it over."""
        current = await self.kv.read()
        mine = current is not None and current.data is not None and current.data.get("id") == self.holder.id
        if current is None or not mine:
            self.say(f"Warning: the lock {self.kv.where} is no longer ours (taken over after its ttl?); left as is")
            return
        await self.kv.delete()


def holder_of(current: Secret, where: str) -> Holder:
    """Decode a lock's data; anything else is an error, never a free lock."""
    try:
        return Holder.model_validate(current.data)
    except ValidationError:
        raise LockError(
            f"the lock key {where} holds something reconcile did not write",
            hint=f"check what wrote it; remove it with `bao kv metadata delete {where}` if it is not a lock",
        ) from None


def _lock_of(http: Http, settings: LockSettings) -> KvKey:
    return KvKey(http, settings.kv_mount, settings.key)


@asynccontextmanager
async def held(
    http: Http,
    settings: LockSettings,
    *,
    timeout: float,
    say: Callable[[str], None],
    environ: Mapping[str, str],
) -> AsyncIterator[Holder]:
    """Hold the lock for the body; release it after, also on failure, Ctrl-C and cancellation.
    `environ` names the CI run that holds it (`run_url`)."""
    lock = Lock(_lock_of(http, settings), settings.ttl, new_holder(environ, _now()), say)
    await lock.acquire(timeout)
    try:
        yield lock.holder
    except BaseException:
        try:
            await lock.release()
        except ReconcileError as exc:  # keep the error that stopped the body
            say(f"Warning: could not release the lock: {exc}; run `reconcile force-unlock {lock.holder.id}`")
        raise
    await lock.release()


@asynccontextmanager
async def held_if_set(
    http: Http,
    settings: LockSettings | None,
    *,
    timeout: float,
    say: Callable[[str], None],
    environ: Mapping[str, str],
) -> AsyncIterator[None]:
    """`held` when the manifests configure a lock (settings.lock); else the body runs unlocked, and a
    --lock-timeout (`timeout`) is a usage error: there is nothing to wait for."""
    if settings is None:
        if timeout:
            raise UsageError("--lock-timeout needs a lock: set settings.lock in the manifests")
        yield
        return
    async with held(http, settings, timeout=timeout, say=say, environ=environ):
        yield


async def force_unlock(http: Http, settings: LockSettings, lock_id: str) -> Holder:
    """Remove the lock if `lock_id` is its holder's ID; refuse otherwise."""
    kv = _lock_of(http, settings)
    await kv.check_mount()
    current = await kv.read()
    if current is None or current.data is None:
        raise LockError(f"no lock is held at {kv.where}", hint="there is nothing to unlock")
    holder = holder_of(current, kv.where)
    if holder.id != lock_id:
        raise LockError(
            f"refusing to unlock: the lock {kv.where} is held by {holder.describe()}, not by {lock_id!r}",
            hint="pass the ID of the current holder, as the error of the waiting apply shows it",
        )
    await kv.delete()
    return holder
