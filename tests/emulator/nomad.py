"""A faithful fake Nomad server for the CSI plugin endpoints (`/v1/plugins`, `/v1/plugin/csi/:id`).

Built from /work/shared/reference/nomad-csi-plugins-api.md (Nomad 1.10 - 2.0.5 behaviour): routing,
parameter validation with Nomad's exact messages, ACLs, the `X-Nomad-*` metadata, gzip/deflate
compression and blocking queries on the `csi_plugins` table index.

The state is protected by a `threading.Lock` so tests can mutate it from any thread while the app
runs on another thread's event loop (uvicorn) or in-process (httpx.ASGITransport). Blocked
requests register an `asyncio.Event` together with the loop they run on, and mutations wake them
with `loop.call_soon_threadsafe`: no polling.
"""

from __future__ import annotations

import asyncio
import contextlib
import gzip
import json
import posixpath
import random
import re
import threading
import time
import uuid
import zlib
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal
from urllib.parse import parse_qsl

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

PluginKind = Literal["controller", "node", "monolith"]
PluginPolicy = Literal["deny", "list", "read", "write"]
JobType = Literal["service", "batch", "system"]

JSON_TYPE = "application/json"
TEXT_TYPE = "text/plain; charset=utf-8"

LIST_PATH = "/v1/plugins"
READ_PREFIX = "/v1/plugin/csi/"

_CONTROLLER_CAPABILITIES = (
    "SupportsCreateDelete",
    "SupportsAttachDetach",
    "SupportsListVolumes",
    "SupportsGetCapacity",
    "SupportsCreateDeleteSnapshot",
    "SupportsListSnapshots",
    "SupportsClone",
    "SupportsReadOnlyAttach",
    "SupportsExpand",
    "SupportsListVolumesAttachedNodes",
    "SupportsCondition",
    "SupportsGet",
)


# --------------------------------------------------------------------------------------------
# Go parsing helpers (strconv, time.ParseDuration, path.Clean)


class GoParseError(ValueError):
    """A value Go's parser would reject."""


_GO_TRUE = frozenset({"1", "t", "T", "TRUE", "true", "True"})
_GO_FALSE = frozenset({"0", "f", "F", "FALSE", "false", "False"})
_DIGITS = frozenset("0123456789")
_DURATION_UNITS_NS = {
    "ns": 1,
    "us": 1_000,
    "µs": 1_000,  # U+00B5 micro sign
    "μs": 1_000,  # U+03BC Greek mu
    "ms": 1_000_000,
    "s": 1_000_000_000,
    "m": 60 * 1_000_000_000,
    "h": 3600 * 1_000_000_000,
}
_MAX_INT64 = (1 << 63) - 1


def go_parse_bool(value: str) -> bool:
    """strconv.ParseBool."""
    if value in _GO_TRUE:
        return True
    if value in _GO_FALSE:
        return False
    raise GoParseError(f"invalid bool {value!r}")


def go_parse_int(value: str, bits: int = 64) -> int:
    """strconv.ParseInt(value, 10, bits)."""
    if not re.fullmatch(r"[+-]?[0-9]+", value):
        raise GoParseError(f"invalid int {value!r}")
    number = int(value)
    if not -(1 << (bits - 1)) <= number < (1 << (bits - 1)):
        raise GoParseError(f"int out of range {value!r}")
    return number


def go_parse_uint(value: str, bits: int = 64) -> int:
    """strconv.ParseUint(value, 10, bits)."""
    if not re.fullmatch(r"[0-9]+", value):
        raise GoParseError(f"invalid uint {value!r}")
    number = int(value)
    if number >= 1 << bits:
        raise GoParseError(f"uint out of range {value!r}")
    return number


def go_parse_duration(value: str) -> float:
    """time.ParseDuration, in seconds: `300ms`, `10s`, `1m30s`, `-5s`, `1.5h`; a bare number other
    than `0` is invalid (missing unit)."""
    s = value
    negative = False
    if s and s[0] in "+-":
        negative = s[0] == "-"
        s = s[1:]
    if s == "0":
        return 0.0
    if not s:
        raise GoParseError(f"invalid duration {value!r}")
    total_ns = 0
    while s:
        i = 0
        while i < len(s) and s[i] in _DIGITS:
            i += 1
        whole, s = s[:i], s[i:]
        fraction = ""
        if s.startswith("."):
            s = s[1:]
            i = 0
            while i < len(s) and s[i] in _DIGITS:
                i += 1
            fraction, s = s[:i], s[i:]
        if not whole and not fraction:
            raise GoParseError(f"invalid duration {value!r}")
        i = 0
        while i < len(s) and s[i] != "." and s[i] not in _DIGITS:
            i += 1
        unit, s = s[:i], s[i:]
        if not unit:
            raise GoParseError(f"missing unit in duration {value!r}")
        scale = _DURATION_UNITS_NS.get(unit)
        if scale is None:
            raise GoParseError(f"unknown unit {unit!r} in duration {value!r}")
        part = int(whole or "0") * scale
        if fraction:
            part += int(fraction) * scale // 10 ** len(fraction)
        total_ns += part
        if total_ns > _MAX_INT64 + (1 if negative else 0):
            raise GoParseError(f"invalid duration {value!r}")
    return (-total_ns if negative else total_ns) / 1e9


def go_clean_path(path: str) -> str:
    """net/http's cleanPath: path.Clean, keeping a trailing slash."""
    if not path:
        return "/"
    if not path.startswith("/"):
        path = "/" + path
    cleaned = posixpath.normpath("/" + path.lstrip("/"))
    if path.endswith("/") and cleaned != "/":
        cleaned += "/"
    return cleaned


def rfc3339_nano(ns: int) -> str:
    """Go's time.RFC3339Nano in UTC: trailing zeros of the fraction are dropped."""
    seconds, nanos = divmod(ns, 1_000_000_000)
    text = datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%S")
    fraction = f"{nanos:09d}".rstrip("0")
    return f"{text}.{fraction}Z" if fraction else f"{text}Z"


# --------------------------------------------------------------------------------------------
# State


@dataclass
class _Instance:
    """One CSIInfo entry (one node, one map)."""

    plugin_id: str
    alloc_id: str
    healthy: bool
    health_description: str
    update_time: int  # unix ns
    provider: str
    provider_version: str
    requires_controller: bool
    requires_topologies: bool
    node_id: str
    controller: bool  # True: ControllerInfo (Controllers map); False: NodeInfo (Nodes map)

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "PluginID": self.plugin_id,
            "AllocID": self.alloc_id,
            "Healthy": self.healthy,
            "HealthDescription": self.health_description,
            "UpdateTime": rfc3339_nano(self.update_time),
            "Provider": self.provider,
            "ProviderVersion": self.provider_version,
            "RequiresControllerPlugin": self.requires_controller,
            "RequiresTopologies": self.requires_topologies,
        }
        if self.controller:
            out["ControllerInfo"] = dict.fromkeys(_CONTROLLER_CAPABILITIES, False)
        else:
            out["NodeInfo"] = {
                "ID": self.node_id,
                "MaxVolumes": 0,
                "AccessibleTopology": None,
                "RequiresNodeStageVolume": False,
                "SupportsStats": False,
                "SupportsExpand": False,
                "SupportsCondition": False,
            }
        return out


def _job_descriptions_json(jobs: dict[str, dict[str, int]]) -> dict[str, Any]:
    return {
        ns: {job_id: {"Namespace": ns, "ID": job_id, "Expected": n} for job_id, n in by_id.items()}
        for ns, by_id in jobs.items()
    }


@dataclass
class _Plugin:
    id: str
    create_index: int
    modify_index: int
    create_time: int
    provider: str = ""
    version: str = ""
    controller_required: bool = False
    controllers: dict[str, _Instance] = field(default_factory=dict)
    nodes: dict[str, _Instance] = field(default_factory=dict)
    # namespace -> job id -> expected (Go's JobDescriptions; an emptied namespace map stays)
    controller_jobs: dict[str, dict[str, int]] = field(default_factory=dict)
    node_jobs: dict[str, dict[str, int]] = field(default_factory=dict)

    def counts(self) -> tuple[int, int, int, int]:
        return (
            sum(1 for i in self.controllers.values() if i.healthy),
            sum(n for by_id in self.controller_jobs.values() for n in by_id.values()),
            sum(1 for i in self.nodes.values() if i.healthy),
            sum(n for by_id in self.node_jobs.values() for n in by_id.values()),
        )

    def is_empty(self) -> bool:
        counts = self.counts()
        return not self.controllers and not self.nodes and counts[1] == 0 and counts[3] == 0

    def job_maps(self, kind: PluginKind) -> list[dict[str, dict[str, int]]]:
        maps = []
        if kind in ("controller", "monolith"):
            maps.append(self.controller_jobs)
        if kind in ("node", "monolith"):
            maps.append(self.node_jobs)
        return maps

    def stub(self) -> dict[str, Any]:
        ch, ce, nh, ne = self.counts()
        return {
            "ID": self.id,
            "Provider": self.provider,
            "ControllerRequired": self.controller_required,
            "ControllersHealthy": ch,
            "ControllersExpected": ce,
            "NodesHealthy": nh,
            "NodesExpected": ne,
            "CreateIndex": self.create_index,
            "ModifyIndex": self.modify_index,
        }

    def to_json(self) -> dict[str, Any]:
        ch, ce, nh, ne = self.counts()
        return {
            "ID": self.id,
            "Provider": self.provider,
            "Version": self.version,
            "ControllerRequired": self.controller_required,
            "Controllers": {node: i.to_json() for node, i in self.controllers.items()},
            "Nodes": {node: i.to_json() for node, i in self.nodes.items()},
            "Allocations": None,
            "ControllerJobs": _job_descriptions_json(self.controller_jobs),
            "NodeJobs": _job_descriptions_json(self.node_jobs),
            "ControllersHealthy": ch,
            "ControllersExpected": ce,
            "NodesHealthy": nh,
            "NodesExpected": ne,
            "CreateIndex": self.create_index,
            "ModifyIndex": self.modify_index,
            "CreateTime": self.create_time,
            "ModifyTime": self.create_time,  # set at creation, never updated
        }


@dataclass
class _Job:
    namespace: str
    id: str
    plugin_id: str
    kind: PluginKind
    count: int
    job_type: JobType


@dataclass
class _Token:
    plugin_policy: PluginPolicy | None
    management: bool


@dataclass(eq=False)
class _Waiter:
    loop: asyncio.AbstractEventLoop
    event: asyncio.Event
    plugin_id: str | None  # None: the list (woken by any plugin change)


@dataclass
class _Result:
    status: int
    index: int
    payload: Any  # JSON-able, or an error text when status != 200


class _HTTPError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass
class _Query:
    params: dict[str, list[str]]
    stale: bool = False
    prefix: str = ""
    wait: float | None = None
    index: int = 0

    def first(self, name: str) -> str:
        """Go's url.Values.Get: the first value, or ""."""
        values = self.params.get(name)
        return values[0] if values else ""


def _parse_query(query_string: bytes) -> dict[str, list[str]]:
    """Go's url.ParseQuery: `&`-separated, `+` is a space; pairs with `;` are dropped."""
    params: dict[str, list[str]] = {}
    for chunk in query_string.decode("latin-1").split("&"):
        if not chunk or ";" in chunk:
            continue
        for key, value in parse_qsl(chunk, keep_blank_values=True):
            params.setdefault(key, []).append(value)
    return params


def _default_jitter(wait: float) -> float:
    return random.random() * wait / 16


# --------------------------------------------------------------------------------------------
# The fake


class NomadFake:
    """A Nomad agent that answers the CSI plugin endpoints from an in-memory state store.

    Mutators (`register_job`, `fingerprint`, ...) model the Raft writes that change plugins. Each
    takes the next Raft index; writes that touch the `csi_plugins` table index raise `index`
    (what `X-Nomad-Index` reports), alloc-driven writes (`bump_index=False`) do not.
    """

    def __init__(
        self,
        *,
        acl: bool = False,
        region: str = "global",
        max_wait: float = 300.0,
        jitter: Callable[[float], float] | None = None,
        compression: bool = True,
        response_headers: Mapping[str, str] | None = None,
    ) -> None:
        self.acl = acl
        self.region = region
        self.max_wait = max_wait
        self.jitter: Callable[[float], float] = jitter if jitter is not None else _default_jitter
        self.compression = compression
        self.response_headers = dict(response_headers or {})
        self.requests: list[tuple[str, str]] = []
        self.wakeups = 0  # times a blocked query was woken and re-ran
        self._lock = threading.Lock()
        self._cond = threading.Condition(self._lock)
        self._raft = 0
        self._index = 0
        self._plugins: dict[str, _Plugin] = {}
        self._jobs: dict[tuple[str, str], _Job] = {}
        self._tokens: dict[str, _Token] = {}
        self._anonymous: _Token = _Token(None, management=False)
        self._no_leader_since: float | None = None
        self._waiters: set[_Waiter] = set()
        self._closed = False
        # An ASGI endpoint (not a function) so that Starlette lets every method through.
        self.app = Starlette(routes=[Route("/{path:path}", _Endpoint(self), methods=None)])

    # ---- state inspection ------------------------------------------------------------------

    @property
    def index(self) -> int:
        """The `csi_plugins` table index (`X-Nomad-Index`)."""
        with self._lock:
            return self._index

    @property
    def waiter_count(self) -> int:
        with self._lock:
            return len(self._waiters)

    def wait_for_waiters(self, count: int = 1, timeout: float = 5.0) -> bool:
        """Block the calling thread until at least `count` queries are blocked; False on timeout."""
        with self._cond:
            return self._cond.wait_for(lambda: len(self._waiters) >= count, timeout)

    def wait_for_wakeups(self, count: int, timeout: float = 5.0) -> bool:
        """Block until blocked queries were woken and re-ran at least `count` times in total."""
        with self._cond:
            return self._cond.wait_for(lambda: self.wakeups >= count, timeout)

    def plugin_ids(self) -> list[str]:
        with self._lock:
            return sorted(self._plugins, key=lambda s: s.encode())

    # ---- ACL and cluster switches ----------------------------------------------------------

    def add_token(self, secret: str, plugin_policy: PluginPolicy | None = None, *, management: bool = False) -> None:
        """A token whose policies combine to `plugin { policy = plugin_policy }` (None: no plugin
        rule), or a management token."""
        with self._lock:
            self._tokens[secret] = _Token(plugin_policy, management)

    def remove_token(self, secret: str) -> None:
        with self._lock:
            self._tokens.pop(secret, None)

    def set_anonymous_policy(self, plugin_policy: PluginPolicy | None) -> None:
        """The plugin policy of the `anonymous` token (requests without a token)."""
        with self._lock:
            self._anonymous = _Token(plugin_policy, management=False)

    def set_no_leader(self, value: bool) -> None:
        """No leader: consistent reads get 500 `No cluster leader`; `?stale` reads still work and
        report `X-Nomad-KnownLeader: false` with the milliseconds since the leader was lost."""
        with self._lock:
            if not value:
                self._no_leader_since = None
            elif self._no_leader_since is None:
                self._no_leader_since = time.monotonic()

    def close(self) -> None:
        """Release every blocked query (they answer at once) and stop blocking from now on."""
        with self._lock:
            self._closed = True
            self._wake(None)

    # ---- state writes ----------------------------------------------------------------------

    def bump_index(self) -> int:
        """A write that raises the table index without changing any plugin (a job upsert without
        CSI, a node update): blocked queries are not woken. Returns the new index."""
        with self._lock:
            self._index = self._next_raft()
            return self._index

    def register_job(
        self,
        job_id: str,
        plugin_id: str,
        kind: PluginKind,
        count: int = 1,
        *,
        job_type: JobType = "service",
        namespace: str = "default",
    ) -> None:
        """Register or update a job with one `csi_plugin` task group. Creates the plugin if it is
        missing (empty Provider/Version) and records the job's expected count: `count` for
        service/batch jobs; nothing for a new system job until `set_job_summary`; a re-registered
        system job drops its share to 0. Never deletes a plugin; raises the index."""
        with self._lock:
            raft = self._next_raft()
            changed: set[str] = set()
            key = (namespace, job_id)
            prev = self._jobs.get(key)
            if prev is not None and prev.plugin_id in self._plugins:
                old = self._plugins[prev.plugin_id]
                if prev.job_type != "system":
                    for jobs in old.job_maps(prev.kind):
                        jobs.get(namespace, {}).pop(job_id, None)
                old.modify_index = raft
                changed.add(old.id)
            job = _Job(namespace, job_id, plugin_id, kind, count, job_type)
            self._jobs[key] = job
            plugin = self._plugins.get(plugin_id)
            if plugin is None:
                plugin = _Plugin(plugin_id, raft, raft, time.time_ns())
                self._plugins[plugin_id] = plugin
            for jobs in plugin.job_maps(kind):
                if job_type != "system":
                    jobs.setdefault(namespace, {})[job_id] = count
                elif job_id in jobs.get(namespace, {}):
                    jobs[namespace][job_id] = 0
            plugin.modify_index = raft
            changed.add(plugin_id)
            self._index = raft
            self._wake(changed)

    def set_job_summary(self, job_id: str, running: int, *, namespace: str = "default") -> None:
        """The job summary changed (allocs placed, started or stopped): a system job now expects
        `running` instances (Running + Queued + Starting). Alloc-driven: bumps the plugin's
        ModifyIndex but not the table index, and deletes the plugin if it became empty."""
        with self._lock:
            job = self._jobs[(namespace, job_id)]
            raft = self._next_raft()
            plugin = self._plugins.get(job.plugin_id)
            if plugin is None:
                return
            expected = running if job.job_type == "system" else job.count
            for jobs in plugin.job_maps(job.kind):
                jobs.setdefault(namespace, {})[job_id] = expected
            self._update_or_gc(plugin, raft)
            self._wake({plugin.id})

    def purge_job(self, job_id: str, namespace: str = "default") -> None:
        """`nomad job stop -purge` (or job GC): drop the job's expected counts, delete the plugin if
        it is now empty, raise the index. Instances stay until their nodes stop reporting them."""
        with self._lock:
            job = self._jobs.pop((namespace, job_id), None)
            if job is None:
                raise KeyError(f"job not found: {namespace}/{job_id}")
            plugin = self._plugins.get(job.plugin_id)
            raft = self._next_raft()
            if plugin is None:
                return
            for jobs in plugin.job_maps(job.kind):
                jobs.get(namespace, {}).pop(job_id, None)
            self._update_or_gc(plugin, raft)
            self._index = raft
            self._wake({plugin.id})

    def fingerprint(
        self,
        plugin_id: str,
        node_id: str,
        kind: PluginKind,
        *,
        healthy: bool = True,
        provider: str = "ebs.csi.aws.com",
        version: str = "1.5.0",
        alloc_id: str | None = None,
        requires_controller: bool = False,
        requires_topologies: bool = False,
        health_description: str | None = None,
        bump_index: bool = True,
    ) -> None:
        """A client node reports a plugin instance (a node update).

        A healthy fingerprint creates the plugin if missing, adds or updates the instance and sets
        Provider/Version (last writer wins). An unhealthy one never creates a plugin or a new
        instance, but marks an existing instance unhealthy (and, like Nomad, still overwrites an
        existing plugin's Provider/Version). A controller fingerprint sets ControllerRequired to
        `requires_controller`; instance removal never clears it. `bump_index=False` models the
        alloc-driven updates that leave the table index alone (blocked queries wake, see the same
        index and wait again)."""
        description = health_description or ("healthy" if healthy else "unhealthy")
        with self._lock:
            raft = self._next_raft()
            if bump_index:
                self._index = raft
            plugin = self._plugins.get(plugin_id)
            if plugin is None:
                if not healthy:
                    return
                plugin = _Plugin(plugin_id, raft, raft, time.time_ns())
                self._plugins[plugin_id] = plugin
            plugin.provider = provider
            plugin.version = version
            now = time.time_ns()
            targets: list[tuple[dict[str, _Instance], bool]] = []
            if kind in ("controller", "monolith"):
                plugin.controller_required = requires_controller
                targets.append((plugin.controllers, True))
            if kind in ("node", "monolith"):
                targets.append((plugin.nodes, False))
            shared_alloc = alloc_id
            if shared_alloc is None:
                existing = [m[node_id].alloc_id for m, _ in targets if node_id in m]
                shared_alloc = existing[0] if existing else str(uuid.uuid4())
            for instances, is_controller in targets:
                prev = instances.get(node_id)
                if prev is None and not healthy:
                    continue
                info = _Instance(
                    plugin_id=plugin_id,
                    alloc_id=shared_alloc,
                    healthy=healthy,
                    health_description=description,
                    update_time=now,
                    provider=provider,
                    provider_version=version,
                    requires_controller=requires_controller,
                    requires_topologies=requires_topologies,
                    node_id=node_id,
                    controller=is_controller,
                )
                if prev is not None and _same_info(prev, info):
                    info.update_time = prev.update_time
                instances[node_id] = info
            plugin.modify_index = raft
            self._wake({plugin_id})

    def remove_instance(self, plugin_id: str, node_id: str, kind: PluginKind, *, bump_index: bool = True) -> None:
        """The node stops reporting the plugin (a node update, raises the index) or, with
        `bump_index=False`, the instance's alloc became terminal (alloc-driven). The plugin is
        deleted if it is now empty."""
        with self._lock:
            raft = self._next_raft()
            if bump_index:
                self._index = raft
            plugin = self._plugins.get(plugin_id)
            if plugin is None:
                return
            removed = False
            if kind in ("controller", "monolith"):
                removed |= plugin.controllers.pop(node_id, None) is not None
            if kind in ("node", "monolith"):
                removed |= plugin.nodes.pop(node_id, None) is not None
            if removed:
                self._update_or_gc(plugin, raft)
                self._wake({plugin_id})

    def remove_node(self, node_id: str) -> None:
        """The node is deleted: it leaves every plugin; empty plugins are deleted."""
        with self._lock:
            raft = self._next_raft()
            changed = set()
            for plugin in list(self._plugins.values()):
                if node_id in plugin.controllers or node_id in plugin.nodes:
                    plugin.controllers.pop(node_id, None)
                    plugin.nodes.pop(node_id, None)
                    self._update_or_gc(plugin, raft)
                    changed.add(plugin.id)
            if changed:
                self._index = raft
                self._wake(changed)

    def gc(self, older_than: float = 0.0) -> list[str]:
        """Plugin GC (`nomad system gc` uses a 1 ms threshold): delete the empty plugins created at
        least `older_than` seconds ago. Does not raise the index. Returns the deleted IDs."""
        cutoff = time.time_ns() - int(older_than * 1e9)
        with self._lock:
            doomed = [p.id for p in self._plugins.values() if p.is_empty() and p.create_time <= cutoff]
            for plugin_id in doomed:
                del self._plugins[plugin_id]
            if doomed:
                self._wake(set(doomed))
            return doomed

    # ---- internals (call with the lock held) -----------------------------------------------

    def _next_raft(self) -> int:
        self._raft += 1
        return self._raft

    def _update_or_gc(self, plugin: _Plugin, raft: int) -> None:
        if plugin.is_empty():
            self._plugins.pop(plugin.id, None)
        else:
            plugin.modify_index = raft

    def _wake(self, plugin_ids: set[str] | None) -> None:
        """Wake list waiters, and read waiters of `plugin_ids` (None: everyone)."""
        for waiter in self._waiters:
            if plugin_ids is None or waiter.plugin_id is None or waiter.plugin_id in plugin_ids:
                # RuntimeError: that loop is closed, so nobody is waiting there any more.
                with contextlib.suppress(RuntimeError):
                    waiter.loop.call_soon_threadsafe(waiter.event.set)

    def _list_result(self, prefix: str) -> _Result:
        ids = sorted((i for i in self._plugins if i.startswith(prefix)), key=lambda s: s.encode())
        return _Result(200, self._index, [self._plugins[i].stub() for i in ids])

    def _read_result(self, plugin_id: str) -> _Result:
        plugin = self._plugins.get(plugin_id)
        if plugin is None:
            return _Result(404, 0, "plugin not found")  # the missing path never sets the index
        return _Result(200, self._index, plugin.to_json())

    def _leader_meta(self, stale: bool) -> tuple[int, bool]:
        """(LastContact ms, KnownLeader); raises for a consistent read without a leader."""
        since = self._no_leader_since
        if since is None:
            return 0, True
        if not stale:
            raise _HTTPError(500, "No cluster leader")
        return int((time.monotonic() - since) * 1000), False

    def _authorize(self, secret: str, allowed: frozenset[str]) -> None:
        if not self.acl:
            return
        token = self._tokens.get(secret) if secret else self._anonymous
        if token is None:
            raise _HTTPError(403, "Permission denied")
        if token.management or token.plugin_policy in allowed:
            return
        raise _HTTPError(403, "Permission denied")

    # ---- HTTP --------------------------------------------------------------------------------

    async def _endpoint(self, request: Request) -> Response:
        scope = request.scope
        raw_path = scope.get("raw_path") or scope["path"].encode()
        raw_path = raw_path.split(b"?", 1)[0]  # httpx's ASGITransport puts the query in raw_path
        query_string: bytes = scope.get("query_string", b"")
        recorded = raw_path.decode("latin-1")
        if query_string:
            recorded += "?" + query_string.decode("latin-1")
        with self._lock:
            self.requests.append((request.method, recorded))
        response = await self._route(request, query_string)
        return self._compress(request, response)

    async def _route(self, request: Request, query_string: bytes) -> Response:
        path: str = request.scope["path"]
        cleaned = go_clean_path(path)
        if cleaned != path:
            return _redirect(request, cleaned, query_string)
        if path == LIST_PATH:
            return await self._wrapped(request, self._list, query_string)
        if path == READ_PREFIX.rstrip("/"):
            return _redirect(request, READ_PREFIX, query_string)
        if path.startswith(READ_PREFIX):
            return await self._wrapped(request, self._read, query_string)
        return Response(b"", status_code=404)

    async def _wrapped(
        self,
        request: Request,
        handler: Callable[[Request, dict[str, list[str]]], Awaitable[Response]],
        query_string: bytes,
    ) -> Response:
        params = _parse_query(query_string)
        try:
            response = await handler(request, params)
        except _HTTPError as err:
            response = Response(err.message.encode(), status_code=err.status, media_type=TEXT_TYPE)
        for name, value in self.response_headers.items():
            response.headers[name] = value
        return response

    def _render(self, obj: Any, params: dict[str, list[str]]) -> bytes:
        pretty = params.get("pretty")
        if pretty is not None and pretty[0] != "0":
            return (json.dumps(obj, indent=4, ensure_ascii=False) + "\n").encode()
        return json.dumps(obj, separators=(",", ":"), ensure_ascii=False).encode()

    def _parse(self, params: dict[str, list[str]]) -> _Query:
        """Nomad's `parse`: stale, prefix, namespace, per_page, filter, reverse, wait, index."""
        q = _Query(params)
        if "stale" in params:
            value = params["stale"][0]
            try:
                q.stale = True if value == "" else go_parse_bool(value)
            except GoParseError:
                raise _HTTPError(400, "Expect `true` or `false` for `stale` query string parameter") from None
        q.prefix = q.first("prefix")
        per_page = q.first("per_page")
        if per_page:
            try:
                go_parse_int(per_page, 32)
            except GoParseError:
                raise _HTTPError(400, "Expect a number for `per_page` query string parameter") from None
        wait = q.first("wait")
        if wait:
            try:
                q.wait = go_parse_duration(wait)
            except GoParseError:
                raise _HTTPError(400, "Invalid wait time") from None
        index = q.first("index")
        if index:
            try:
                q.index = go_parse_uint(index)
            except GoParseError:
                raise _HTTPError(400, "Invalid index") from None
        return q

    def _check_rpc(self, request: Request, q: _Query, allowed: frozenset[str]) -> tuple[int, bool]:
        """Forwarding (region, leader), then the ACL. Returns (LastContact, KnownLeader)."""
        region = q.first("region")
        if region and region != self.region:
            raise _HTTPError(500, "No path to region")
        with self._lock:
            meta = self._leader_meta(q.stale)
            self._authorize(_token_from(request), allowed)
        return meta

    async def _list(self, request: Request, params: dict[str, list[str]]) -> Response:
        if request.method != "GET":
            raise _HTTPError(405, "Invalid method")
        types = params.get("type")
        if types is None:
            return Response(self._render([], params), media_type=JSON_TYPE)
        if types[0] != "csi":
            return Response(b"")
        q = self._parse(params)
        last_contact, known_leader = self._check_rpc(request, q, frozenset({"list", "read"}))
        result = await self._blocking(None, q, lambda: self._list_result(q.prefix))
        return self._result_response(result, params, last_contact, known_leader)

    async def _read(self, request: Request, params: dict[str, list[str]]) -> Response:
        if request.method != "GET":
            raise _HTTPError(405, "Invalid method")
        tokens = request.scope["path"][len(READ_PREFIX) :].split("/")
        if len(tokens) > 2:
            raise _HTTPError(404, "resource not found")
        plugin_id = tokens[0]
        q = self._parse(params)
        last_contact, known_leader = self._check_rpc(request, q, frozenset({"read"}))
        if plugin_id == "":
            raise _HTTPError(500, "missing plugin ID")
        result = await self._blocking(plugin_id, q, lambda: self._read_result(plugin_id))
        return self._result_response(result, params, last_contact, known_leader)

    def _result_response(
        self, result: _Result, params: dict[str, list[str]], last_contact: int, known_leader: bool
    ) -> Response:
        headers = {
            "X-Nomad-Index": str(result.index),
            "X-Nomad-LastContact": str(last_contact),
            "X-Nomad-KnownLeader": "true" if known_leader else "false",
        }
        if result.status != 200:
            return Response(
                str(result.payload).encode(), status_code=result.status, headers=headers, media_type=TEXT_TYPE
            )
        return Response(self._render(result.payload, params), headers=headers, media_type=JSON_TYPE)

    async def _blocking(self, plugin_id: str | None, q: _Query, run: Callable[[], _Result]) -> _Result:
        """Nomad's blockingRPC: with index=N>0, re-run the query on every change it watches until
        the result's index is above N, or the wait (capped at max_wait, plus jitter) runs out."""
        if q.index == 0:
            with self._lock:
                return run()
        wait = q.wait if q.wait is not None and q.wait > 0 else self.max_wait
        wait = min(wait, self.max_wait)
        wait += self.jitter(wait)
        deadline = time.monotonic() + wait
        waiter = _Waiter(asyncio.get_running_loop(), asyncio.Event(), plugin_id)
        with self._cond:
            # Run and register atomically: a change after this run is bound to wake the waiter.
            result = run()
            if result.index > q.index or self._closed:
                return result
            self._waiters.add(waiter)
            self._cond.notify_all()
        try:
            while True:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return result  # timeout: the result of the last run, as Nomad does
                try:
                    await asyncio.wait_for(waiter.event.wait(), remaining)
                except TimeoutError:
                    continue
                waiter.event.clear()
                with self._cond:
                    self.wakeups += 1
                    self._cond.notify_all()
                    result = run()
                    if result.index > q.index or self._closed:
                        return result
        finally:
            with self._cond:
                self._waiters.discard(waiter)
                self._cond.notify_all()

    def _compress(self, request: Request, response: Response) -> Response:
        """gorilla's CompressHandler: the first Accept-Encoding item that is exactly gzip or
        deflate; every body is compressed (errors and empty bodies too); Vary always."""
        if not self.compression:
            return response
        response.headers.append("Vary", "Accept-Encoding")
        encoding = ""
        for item in request.headers.get("accept-encoding", "").split(","):
            if item.strip() in ("gzip", "deflate"):
                encoding = item.strip()
                break
        if not encoding or request.headers.get("upgrade"):
            return response
        body = bytes(response.body)
        if encoding == "gzip":
            compressed = gzip.compress(body)
        else:
            deflater = zlib.compressobj(wbits=-zlib.MAX_WBITS)  # Go's compress/flate: raw deflate
            compressed = deflater.compress(body) + deflater.flush()
        response.body = compressed
        response.headers["Content-Encoding"] = encoding
        response.headers["Content-Length"] = str(len(compressed))
        return response


class _Endpoint:
    """The whole fake as one ASGI endpoint: Nomad's mux does its own routing."""

    def __init__(self, fake: NomadFake) -> None:
        self._fake = fake

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        response = await self._fake._endpoint(Request(scope, receive))
        await response(scope, receive, send)


def _same_info(a: _Instance, b: _Instance) -> bool:
    return (
        a.alloc_id,
        a.healthy,
        a.health_description,
        a.provider,
        a.provider_version,
        a.requires_controller,
        a.requires_topologies,
    ) == (
        b.alloc_id,
        b.healthy,
        b.health_description,
        b.provider,
        b.provider_version,
        b.requires_controller,
        b.requires_topologies,
    )


def _token_from(request: Request) -> str:
    """Nomad's parseToken: X-Nomad-Token (trimmed), else `Authorization: Bearer <first word>`."""
    header = request.headers.get("x-nomad-token", "")
    if header:
        return header.strip()
    auth = request.headers.get("authorization", "")
    parts = auth.split(" ")
    if len(parts) > 1 and parts[0].lower() == "bearer":
        value = " ".join(parts[1:]).strip()
        return value.split(" ")[0].strip()
    return ""


def _redirect(request: Request, path: str, query_string: bytes) -> Response:
    """net/http's ServeMux redirect (301), keeping the query."""
    location = path + ("?" + query_string.decode("latin-1") if query_string else "")
    headers = {"Location": location}
    if request.method == "GET":
        body = f'<a href="{location}">Moved Permanently</a>.\n\n'.encode()
        return Response(body, status_code=301, headers=headers, media_type="text/html; charset=utf-8")
    return Response(b"", status_code=301, headers=headers)
