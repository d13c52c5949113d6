"""TLS against a real OpenBao started with -dev-tls: verified by default, VAULT_CACERT trusts its
CA, VAULT_SKIP_VERIFY turns checks off."""

from __future__ import annotations

import ssl
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.cli import reconcile, write
from tests.servers import bao_binary, free_port


@pytest.fixture(scope="module")
def tls_bao(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    base = tmp_path_factory.mktemp("tls")
    (base / "plugins").mkdir()
    port = free_port(pair=True)
    proc = subprocess.Popen(
        [
            bao_binary(),
            "server",
            "-dev-tls",
            f"-dev-tls-cert-dir={base}",
            "-dev-root-token-id=root",
            f"-dev-listen-address=127.0.0.1:{port}",
            f"-dev-plugin-dir={base / 'plugins'}",
            "-dev-no-store-token",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env={"HOME": str(base), "PATH": "/usr/bin:/bin"},
    )
    address = f"https://127.0.0.1:{port}"
    ca = base / "vault-ca.pem"
    try:
        deadline = time.monotonic() + 30
        while True:
            assert proc.poll() is None, "bao -dev-tls exited"
            assert time.monotonic() < deadline, "bao -dev-tls did not start"
            try:
                if (
                    ca.exists()
                    and httpx.get(
                        f"{address}/v1/sys/seal-status", verify=ssl.create_default_context(cafile=str(ca))
                    ).is_success
                ):
                    break
            except httpx.TransportError:
                pass
            time.sleep(0.05)  # polling a starting process
        yield address, ca
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def test_tls_is_verified_by_default(tls_bao, tmp_path: Path) -> None:
    address, _ = tls_bao
    r = reconcile(
        "plan", "-m", write(tmp_path / "m.yaml", "plugins: []\n"), "--address", address, env={"VAULT_TOKEN": "root"}
    )
    assert r.exit_code == 1
    assert "CERTIFICATE_VERIFY_FAILED" in r.stderr


def test_vault_cacert_trusts_the_servers_ca(tls_bao, tmp_path: Path) -> None:
    address, ca = tls_bao
    env = {"VAULT_TOKEN": "root", "VAULT_CACERT": str(ca), "VAULT_ADDR": address}
    r = reconcile("plan", "-m", write(tmp_path / "m.yaml", "plugins: []\n"), env=env)
    assert r.exit_code == 0, r.output
    assert f"reconcile: openbao 2.7.2 at {address}" in r.stdout


def test_skip_verify(tls_bao, tmp_path: Path) -> None:
    address, _ = tls_bao
    env = {"VAULT_TOKEN": "root", "VAULT_SKIP_VERIFY": "true", "VAULT_ADDR": address}
    assert reconcile("plan", "-m", write(tmp_path / "m.yaml", "plugins: []\n"), env=env).exit_code == 0
