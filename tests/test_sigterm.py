"""SIGTERM (what CI sends on cancel) is Ctrl-C: the same report of done / in flight / not started,
exit 143, and the next apply converges. Real process, real signal, real OpenBao behind a proxy that
holds one registration, so the signal arrives at a known point (no sleeps)."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import httpx
import pytest

from reconciler import loader
from reconciler.commands import validate as validate_command
from tests.cli import SHA_A, reconcile, write
from tests.servers import BaoServer, read_body, serve_asgi

RECONCILE = str(Path(sys.executable).parent / "reconcile")
Receive = Callable[[], Any]
Send = Callable[[dict[str, Any]], Any]


class HoldingProxy:
    """Forwards to OpenBao, except the `hold`-th catalog registration: held until `release`, then a 502."""

    def __init__(self, upstream: str, hold: int) -> None:
        self.upstream = upstream
        self.hold = hold
        self.registrations = 0
        self.holding = threading.Event()
        self.release = threading.Event()

    async def __call__(self, scope: dict[str, Any], receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        body = await read_body(receive)
        method, path = scope["method"], scope["path"]
        if method == "POST" and path.startswith("/v1/sys/plugins/catalog/"):
            self.registrations += 1
            if self.registrations == self.hold:
                self.holding.set()
                while not self.release.is_set():  # waiting for the test, not for luck
                    await asyncio.sleep(0.01)
                await self._answer(send, 502, b'{"errors": ["held by the test proxy"]}')
                return
        query = scope["query_string"].decode()
        headers = {k.decode(): v.decode() for k, v in scope["headers"] if k.lower() not in (b"host", b"content-length")}
        async with httpx.AsyncClient(base_url=self.upstream) as client:
            r = await client.request(method, path + (f"?{query}" if query else ""), content=body, headers=headers)
        await self._answer(send, r.status_code, r.content)

    @staticmethod
    async def _answer(send: Send, status: int, body: bytes) -> None:
        await send(
            {"type": "http.response.start", "status": status, "headers": [(b"content-type", b"application/json")]}
        )
        await send({"type": "http.response.body", "body": body})


def test_sigterm_during_apply_reports_exits_143_and_the_next_apply_converges(
    bao: BaoServer, tmp_path: Path, leaks
) -> None:
    names = [f"p{i:02d}" for i in range(5)]
    for name in names:
        bao.add_plugin_file(name)
    text = "plugins:\n" + "".join(
        f"  - {{name: {n}, type: secret, versions: [{{version: 1.0.0, sha256: {SHA_A}}}]}}\n" for n in names
    )
    m = write(tmp_path / "m.yaml", text)
    proxy = HoldingProxy(bao.address, hold=2)
    with serve_asgi(proxy) as url:
        env = {"VAULT_ADDR": url, "VAULT_TOKEN": bao.token, "PATH": "/usr/bin:/bin", "NO_COLOR": "1"}
        args = ["apply", "-m", str(m), "--parallelism", "1", "--auto-approve"]
        proc = subprocess.Popen([RECONCILE, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
        try:
            assert proc.stdout is not None
            seen = []
            for line in proc.stdout:
                seen.append(line)
                if line.startswith("  ok "):
                    break
            assert proxy.holding.wait(timeout=30), "".join(seen)  # p01's registration is in flight
            proc.send_signal(signal.SIGTERM)
            rest, err = proc.communicate(timeout=60)
        finally:
            proxy.release.set()
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    output = "".join(seen) + rest
    leaks.check_streams(args, env, stdout=output, stderr=err)
    assert proc.returncode == 143, output + err
    assert err == "Terminated.\n"
    assert "  ok     register secret/p00 v1.0.0\n" in output
    assert "Not started or interrupted:\n" in output
    assert "  interrupted: register secret/p01 v1.0.0\n" in output
    assert "  not started: register secret/p04 v1.0.0\n" in output
    assert "Apply interrupted: 1 done, 0 failed, 3 not started, 1 interrupted." in output
    direct = {"VAULT_ADDR": bao.address, "VAULT_TOKEN": bao.token}
    r = reconcile("apply", "-m", m, "--auto-approve", env=direct)
    assert r.exit_code == 0, r.output
    assert "Apply complete: 4 done." in r.stdout
    assert reconcile("plan", "-m", m, "--detailed-exitcode", env=direct).exit_code == 0


def test_sigterm_outside_asyncio_exits_143_without_a_traceback(tmp_path: Path, monkeypatch) -> None:
    m = write(tmp_path / "m.yaml", "plugins: []\n")
    real_load = loader.load

    def load_then_terminated(path: Path) -> Any:
        os.kill(os.getpid(), signal.SIGTERM)  # delivered here, while loading (synchronous code)
        return real_load(path)

    # Only the command's view of the loader: the leak guard loads the manifests too, before the run.
    monkeypatch.setattr(validate_command, "loader", SimpleNamespace(load=load_then_terminated))
    before = signal.getsignal(signal.SIGTERM)
    r = reconcile("validate", "-m", m)
    assert (r.exit_code, r.stdout, r.stderr) == (143, "", "Terminated.\n")
    assert signal.getsignal(signal.SIGTERM) is before  # the handler is removed after the command


@pytest.mark.parametrize(("sig", "code", "said"), [(signal.SIGINT, 130, "Interrupted.\n")])
def test_ctrl_c_keeps_exit_130(tmp_path: Path, monkeypatch, sig: int, code: int, said: str) -> None:
    m = write(tmp_path / "m.yaml", "plugins: []\n")
    real_load = loader.load

    def load_then_signal(path: Path) -> Any:
        os.kill(os.getpid(), sig)
        return real_load(path)

    monkeypatch.setattr(validate_command, "loader", SimpleNamespace(load=load_then_signal))
    r = reconcile("validate", "-m", m)
    assert (r.exit_code, r.stderr) == (code, said)
