"""Several clusters for the targets-file tests (issue #15), loaded as a pytest plugin by conftest.py.

* `bao_fleet`      - (session) three real dev OpenBao servers per test worker: the worker's `bao_server`
                     and two more, started concurrently
* `baos`           - those three with empty catalogs at the start (and the end) of the test
* `emulator_fleet` - a factory: `emulator_fleet(n)` serves n fresh OpenBao-flavoured emulators from one
                     uvicorn on n ports of 127.0.0.1 (one thread, however many targets), each with a root
                     token of its own; yields `Served` clusters
* `targets_file`   - writes reconcile.yaml (and each target's manifests) for a list of clusters
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import textwrap
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.emulator.vault import VaultEmulator
from tests.emulator.vault_state import Flavor
from tests.servers import BaoServer, run_bao


@dataclass
class Served:
    """One cluster of a test fleet: its name in the targets file, address, token, and (emulators) the emulator."""

    name: str
    address: str
    token: str
    emulator: VaultEmulator | None = None
    bao: BaoServer | None = None


@pytest.fixture(scope="session")
def bao_fleet(bao_server: BaoServer) -> Iterator[list[BaoServer]]:
    """Three real OpenBao servers: the worker's own and two more, started at the same time."""
    with contextlib.ExitStack() as stack, ThreadPoolExecutor(2) as pool:
        more = list(pool.map(lambda _: stack.enter_context(run_bao()), range(2)))
        yield [bao_server, *more]


@pytest.fixture
def baos(bao_fleet: list[BaoServer]) -> Iterator[list[Served]]:
    """The three real servers with builtins-only catalogs, as targets `a`, `b`, `c`, each with a
    token of its own (a root-policy token made for this test: a mixed-up token fails the test)."""
    served = []
    for name, server in zip("abc", bao_fleet, strict=True):
        server.reset_catalog()
        with server.client() as c:
            made = c.post("/v1/auth/token/create", json={"policies": ["root"], "ttl": "10m"})
            made.raise_for_status()
            served.append(Served(name, server.address, str(made.json()["auth"]["client_token"]), bao=server))
    yield served
    for server in bao_fleet:
        server.reset_catalog()


class Gate:
    """Holds each target's first request (`GET /v1/sys/seal-status`) until `expect` of them are held at
    once (or `patience` seconds pass), and records the most ever held at once: how many targets a run
    really works on concurrently, without timing anything."""

    def __init__(self, expect: int, patience: float = 5.0) -> None:
        self.expect = expect
        self.patience = patience
        self.held = 0
        self.most = 0
        self._open: asyncio.Event | None = None

    async def hold(self) -> None:
        if self._open is None or self._open.is_set():
            self._open = asyncio.Event()
        wave = self._open
        self.held += 1
        self.most = max(self.most, self.held)
        try:
            if self.held >= self.expect:
                wave.set()
            else:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(wave.wait(), self.patience)
        finally:
            self.held -= 1


class _PortSwitch:
    """An ASGI app that hands each request to the emulator listening on the request's local port."""

    def __init__(self, gate: Gate | None) -> None:
        self.apps: dict[int, Any] = {}
        self.gate = gate

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if self.gate is not None and scope.get("path") == "/v1/sys/seal-status":
            await self.gate.hold()
        await self.apps[scope["server"][1]](scope, receive, send)


@contextlib.contextmanager
def serve_emulators(emulators: Sequence[VaultEmulator], gate: Gate | None = None) -> Iterator[list[str]]:
    """Serve each emulator on a port of its own, all from one uvicorn thread; yield their addresses."""
    import uvicorn

    switch = _PortSwitch(gate)
    sockets = []
    for emulator in emulators:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", 0))
        switch.apps[sock.getsockname()[1]] = emulator.app
        sockets.append(sock)
    config = uvicorn.Config(switch, log_level="warning", lifespan="off")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": sockets}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.01)  # polling a starting thread, not waiting for luck
    try:
        yield [f"http://127.0.0.1:{s.getsockname()[1]}" for s in sockets]
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        for sock in sockets:
            sock.close()


@pytest.fixture
def emulator_fleet(tmp_path: Path) -> Iterator[Callable[..., list[Served]]]:
    """`emulator_fleet(n, gate=None)`: n served OpenBao emulators named t01..tNN, each with its own root token."""
    stack = contextlib.ExitStack()

    def make(n: int, flavor: Flavor = "openbao", gate: Gate | None = None) -> list[Served]:
        emulators = []
        for i in range(1, n + 1):
            plugin_dir = tmp_path / f"plugins-{i:02d}"
            plugin_dir.mkdir()
            emulators.append(
                VaultEmulator(flavor=flavor, plugin_dir=plugin_dir, root_token=f"emulator-root-{i:02d}-4f1c")
            )
        addresses = stack.enter_context(serve_emulators(emulators, gate))
        return [
            Served(f"t{i:02d}", address, e.root_token, emulator=e)
            for i, (address, e) in enumerate(zip(addresses, emulators, strict=True), start=1)
        ]

    with stack:
        yield make


def write_targets(
    root: Path, clusters: Sequence[Served], manifests: dict[str, str], more: dict[str, str] | None = None
) -> Path:
    """reconcile.yaml in `root` with one target per cluster: manifests/base (shared) and manifests/<name>.

    `manifests` maps a folder under manifests/ ("base", or a target's name) to the YAML it holds;
    a target's own folder always exists (empty of plugins when not given). `more` maps a target's
    name to more of its keys (e.g. `nomad_address: http://...`).
    """
    lines = ["targets:"]
    for cluster in clusters:
        own = root / "manifests" / cluster.name
        own.mkdir(parents=True, exist_ok=True)
        (own / "own.yaml").write_text(textwrap.dedent(manifests.get(cluster.name, "plugins: []\n")))
        lines += [
            f"  - name: {cluster.name}",
            f"    address: {cluster.address}",
            f"    manifests: [manifests/base, manifests/{cluster.name}]",
        ]
        if more and cluster.name in more:
            lines.append(f"    {more[cluster.name]}")
    base = root / "manifests" / "base"
    base.mkdir(parents=True, exist_ok=True)
    (base / "base.yaml").write_text(textwrap.dedent(manifests.get("base", "plugins: []\n")))
    path = root / "reconcile.yaml"
    path.write_text("\n".join(lines) + "\n")
    return path


def token_env(clusters: Sequence[Served]) -> dict[str, str]:
    """Each cluster's token as RECONCILE_<NAME>_VAULT_TOKEN, and no retries (failures are quick)."""
    env = {f"RECONCILE_{c.name.upper().replace('-', '_')}_VAULT_TOKEN": c.token for c in clusters}
    env["VAULT_MAX_RETRIES"] = "0"
    return env
