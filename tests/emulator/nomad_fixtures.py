"""Fixtures for the fake Nomad server (tests/emulator/nomad.py)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import pytest

from tests.emulator.nomad import NomadFake
from tests.servers import serve_asgi


@contextlib.contextmanager
def serve_nomad(fake: NomadFake) -> Iterator[str]:
    """Serve `fake` with uvicorn on 127.0.0.1; yield its base URL.

    Blocked queries are released before the server stops, so shutdown never waits for them.
    """
    with serve_asgi(fake.app) as base_url:
        try:
            yield base_url
        finally:
            fake.close()


@pytest.fixture
def nomad_fake() -> NomadFake:
    """A fresh fake Nomad (ACLs off, region `global`, index 0, no plugins)."""
    return NomadFake()


@pytest.fixture
def served_nomad(nomad_fake: NomadFake) -> Iterator[tuple[NomadFake, str]]:
    """`nomad_fake` served over HTTP: (fake, base URL)."""
    with serve_nomad(nomad_fake) as base_url:
        yield nomad_fake, base_url
