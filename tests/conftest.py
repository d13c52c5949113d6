"""Shared fixtures: one real dev OpenBao per test worker, and a fenced environment for every test."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests import leaks as leak_guard
from tests.servers import BaoServer, run_bao

pytest_plugins = [
    "tests.emulator.fixtures",
    "tests.emulator.nomad_fixtures",
    "tests.plugin_fixtures",
    "tests.fleet_fixtures",
]

_FENCED_PREFIXES = ("VAULT_", "BAO_", "NOMAD_", "GITHUB_", "RECONCILE_", "ACTIONS_")


@pytest.fixture(autouse=True)
def _fence_environment(monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory) -> None:
    """No test sees the developer's Vault/Nomad settings or ~/.vault-token."""
    import os

    for name in list(os.environ):
        if name.startswith(_FENCED_PREFIXES):
            monkeypatch.delenv(name)
    monkeypatch.setenv("HOME", str(tmp_path_factory.mktemp("home")))
    monkeypatch.setenv("NO_COLOR", "1")


@pytest.fixture(autouse=True)
def leaks(_fence_environment: None, tmp_path: Path) -> Iterator[leak_guard.Guard]:
    """The leak guard of this test (tests/leaks.py): every `tests.cli.reconcile()` run is checked.

    Register secrets it cannot find by itself with `leaks.secret("...")`.
    """
    guard = leak_guard.Guard(roots=[tmp_path, Path(os.environ["HOME"])])
    with leak_guard.installed(guard):
        yield guard


@pytest.fixture(scope="session")
def bao_server() -> Iterator[BaoServer]:
    """A real `bao server -dev`, started once per test worker."""
    with run_bao() as server:
        yield server


@pytest.fixture
def bao(bao_server: BaoServer) -> Iterator[BaoServer]:
    """The real OpenBao with an empty (builtins only) catalog at the start of the test."""
    bao_server.reset_catalog()
    yield bao_server
    bao_server.reset_catalog()
