"""Fixtures for the Vault/OpenBao emulator (loaded as a pytest plugin by tests/conftest.py).

* `vault_emulator`   - a fresh `VaultEmulator(flavor="vault")` (function scope)
* `served_vault`     - that emulator served on 127.0.0.1: `(emulator, base_url)`
* `openbao_emulator` - a fresh `VaultEmulator(flavor="openbao")` with a temporary plugin directory
* `served_openbao`   - that emulator served on 127.0.0.1: `(emulator, base_url)`
* `emulator_host`    - (session) one served `AppSwitch` per worker; point `.target` at an app
* `plugin_server`    - parametrised over ["openbao", "emulator"]: the real dev OpenBao (`bao` fixture)
                       or the served openbao-flavor emulator, as a `PluginServer`
"""

from __future__ import annotations

import itertools
import ssl
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.emulator.vault import VaultEmulator
from tests.servers import serve_asgi

PLUGIN_STUB = "#!/bin/sh\nexit 1\n"
_policy_numbers = itertools.count(1)


@cache
def ssl_context() -> ssl.SSLContext:
    """One shared context: building httpx's default one costs ~60 ms per client."""
    return ssl.create_default_context()


class AppSwitch:
    """An ASGI app forwarding to `target`: one uvicorn per worker serves a fresh emulator per test."""

    def __init__(self) -> None:
        self.target: Any = None

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        assert self.target is not None, "no emulator is being served"
        await self.target(scope, receive, send)


@dataclass
class PluginServer:
    """A server under test: where it listens, its root token and its plugin directory.

    `add_plugin_file(command)` creates the executable that registration needs; `limited_token(policy)`
    returns a token restricted to `policy` (path glob -> capabilities, Vault policy style).
    """

    kind: str  # "openbao" (the real dev server) or "emulator"
    base_url: str
    token: str
    plugin_dir: Path
    limited_token: Callable[[dict[str, set[str]]], str]
    emulator: VaultEmulator | None = None

    def add_plugin_file(self, command: str) -> Path:
        path = self.plugin_dir / command
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(PLUGIN_STUB)
        path.chmod(0o755)
        return path

    def client(self, token: str | None = None) -> httpx.Client:
        """A client with `token` (default: root) in X-Vault-Token; pass "" for no token."""
        token = self.token if token is None else token
        headers = {"X-Vault-Token": token} if token else {}
        return httpx.Client(base_url=self.base_url, headers=headers, timeout=10.0, verify=ssl_context())


@pytest.fixture
def vault_emulator() -> VaultEmulator:
    """A fresh Vault 1.17 CE emulator (no plugin directory: any command is accepted)."""
    return VaultEmulator(flavor="vault")


@pytest.fixture
def served_vault(vault_emulator: VaultEmulator) -> Iterator[tuple[VaultEmulator, str]]:
    """The `vault_emulator` served on 127.0.0.1: yields (emulator, base_url)."""
    with serve_asgi(vault_emulator.app) as base_url:
        yield vault_emulator, base_url


@pytest.fixture
def openbao_emulator(tmp_path: Path) -> VaultEmulator:
    """A fresh OpenBao 2.7.2 emulator with an empty plugin directory."""
    plugin_dir = tmp_path / "plugins"
    plugin_dir.mkdir()
    return VaultEmulator(flavor="openbao", plugin_dir=plugin_dir)


@pytest.fixture
def served_openbao(openbao_emulator: VaultEmulator) -> Iterator[tuple[VaultEmulator, str]]:
    """The `openbao_emulator` served on 127.0.0.1: yields (emulator, base_url)."""
    with serve_asgi(openbao_emulator.app) as base_url:
        yield openbao_emulator, base_url


def _hcl_policy(policy: dict[str, set[str]]) -> str:
    return "\n".join(
        f'path "{path}" {{ capabilities = [{", ".join(f"{c!r}" for c in sorted(caps))}] }}'.replace("'", '"')
        for path, caps in policy.items()
    )


@pytest.fixture(scope="session")
def emulator_host() -> Iterator[tuple[AppSwitch, str]]:
    """One served `AppSwitch` per test worker: set `.target` to an emulator's app to serve it."""
    switch = AppSwitch()
    with serve_asgi(switch) as base_url:
        yield switch, base_url


@pytest.fixture(params=["openbao", "emulator"])
def plugin_server(request: pytest.FixtureRequest) -> Iterator[PluginServer]:
    """The same catalog behaviours, against the real dev OpenBao and against the emulator."""
    if request.param == "openbao":
        bao = request.getfixturevalue("bao")

        def bao_token(policy: dict[str, set[str]]) -> str:
            name = f"conformance-{next(_policy_numbers)}"
            headers = {"X-Vault-Token": bao.token}
            with httpx.Client(base_url=bao.address, headers=headers, verify=ssl_context()) as c:
                c.put(f"/v1/sys/policies/acl/{name}", json={"policy": _hcl_policy(policy)}).raise_for_status()
                created = c.post("/v1/auth/token/create", json={"policies": [name], "no_default_policy": True})
                created.raise_for_status()
                return str(created.json()["auth"]["client_token"])

        yield PluginServer("openbao", bao.address, bao.token, bao.plugin_dir, bao_token)
        return

    emulator: VaultEmulator = request.getfixturevalue("openbao_emulator")
    tokens = itertools.count(1)

    def emulator_token(policy: dict[str, set[str]]) -> str:
        token = f"s.limited{next(tokens)}"
        emulator.add_token(token, policy)
        return token

    assert emulator.plugin_dir is not None
    switch, base_url = request.getfixturevalue("emulator_host")
    switch.target = emulator.app
    try:
        yield PluginServer("emulator", base_url, emulator.root_token, emulator.plugin_dir, emulator_token, emulator)
    finally:
        switch.target = None
