"""The real test plugin (testplugin/) in the real dev OpenBao: built once, placed in its plugin directory.

`test_plugin` gives a test the built files of v1.0.0 and v1.1.0 and a broken v1.2.0 (it exits at once),
already in `bao.plugin_dir`, and a few HTTP helpers. Mounts of the plugin are disabled after the test,
before the `bao` fixture empties the catalog. Observed server behaviour: docs/plugin-behaviour.md.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from testplugin.build import Plugin, build
from tests.servers import BaoServer

PLUGIN_NAME = "test-plugin"  # the catalog name the tests register the files under
GOOD_VERSIONS = ("v1.0.0", "v1.1.0")
BROKEN_VERSION = "v1.2.0"


def plugin_processes(plugin_dir: Path) -> dict[int, str]:
    """Running processes started from a file in `plugin_dir` (OpenBao puts the absolute path in argv[0])."""
    prefix = str(plugin_dir) + os.sep
    found: dict[int, str] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            argv0 = Path(f"/proc/{entry}/cmdline").read_bytes().split(b"\0")[0].decode(errors="replace")
        except OSError:  # exited while we looked
            continue
        if argv0.startswith(prefix):
            found[int(entry)] = argv0
    return found


def wait_exited(pids: set[int], timeout: float = 5.0) -> set[int]:
    """Poll until none of `pids` is alive (or the timeout); return the ones still alive."""
    deadline = time.monotonic() + timeout
    alive = set(pids)
    while alive and time.monotonic() < deadline:
        alive = {pid for pid in alive if Path(f"/proc/{pid}").exists() and not _zombie(pid)}
        if alive:
            time.sleep(0.02)  # polling a process table, not waiting for luck
    return alive


def _zombie(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
    except (OSError, IndexError):
        return False


@dataclass
class TestPlugin:
    """The built versions of the plugin in a running OpenBao, with helpers for its HTTP API."""

    __test__ = False  # not a pytest test class

    bao: BaoServer
    files: dict[str, Plugin]
    http: httpx.Client = field(init=False)

    def __post_init__(self) -> None:
        self.http = self.bao.client()

    def register(self, version: str, name: str = PLUGIN_NAME) -> httpx.Response:
        """POST the catalog entry of `version` with the printed sha256 and file name."""
        plugin = self.files[version]
        body = {"sha256": plugin.sha256, "command": plugin.name, "version": version}
        return self.http.post(f"/v1/sys/plugins/catalog/secret/{name}", json=body)

    def enable(self, path: str, version: str | None, name: str = PLUGIN_NAME) -> httpx.Response:
        """Enable a secrets mount of the plugin (`config.plugin_version`, the enable form)."""
        config = {} if version is None else {"plugin_version": version}
        return self.http.post(f"/v1/sys/mounts/{path}", json={"type": name, "config": config})

    def tune(self, path: str, version: str) -> httpx.Response:
        """Tune the mount's `plugin_version` (top level, the tune form)."""
        return self.http.post(f"/v1/sys/mounts/{path}/tune", json={"plugin_version": version})

    def reload(self, **body: Any) -> httpx.Response:
        """PUT sys/plugins/reload/backend with `mounts=[...]` or `plugin=...`."""
        return self.http.put("/v1/sys/plugins/reload/backend", json=body)

    def versions(self, path: str) -> dict[str, str]:
        """The mount's plugin_version, running_plugin_version and running_sha256 from sys/mounts."""
        entry = self.http.get("/v1/sys/mounts").raise_for_status().json()["data"][path.rstrip("/") + "/"]
        return {k: entry[k] for k in ("plugin_version", "running_plugin_version", "running_sha256")}

    def read(self, path: str) -> httpx.Response:
        """GET <mount>/version through the plugin."""
        return self.http.get(f"/v1/{path}/version")

    def serving(self, path: str) -> tuple[str, int]:
        """The (version, pid) of the process that answers reads on the mount."""
        r = self.read(path)
        assert r.status_code == 200, r.text
        data = r.json()["data"]
        return data["version"], data["pid"]

    def cleanup(self) -> None:
        """Disable every mount of an external plugin (even one no longer in the catalog), then close the client."""
        names = {PLUGIN_NAME, *(e["name"] for e in self._external_entries())}
        mounts = self.http.get("/v1/sys/mounts").raise_for_status().json()["data"]
        for path, entry in mounts.items():
            if entry["type"] in names or entry.get("running_sha256"):
                self.http.delete(f"/v1/sys/mounts/{path}").raise_for_status()
        self.http.close()

    def _external_entries(self) -> list[dict[str, Any]]:
        detailed = self.http.get("/v1/sys/plugins/catalog").raise_for_status().json()["data"]["detailed"]
        return [e for e in detailed if not e["builtin"]]


@pytest.fixture(scope="session")
def test_plugin_files(bao_server: BaoServer) -> dict[str, Plugin]:
    """The plugin built (cached on disk, locked across workers) into this worker's OpenBao plugin directory.

    Placed after the server is up: a dev server registers whatever it finds there at start-up.
    """
    built = build(bao_server.plugin_dir, GOOD_VERSIONS, broken=[BROKEN_VERSION])
    return {p.version: p for p in built}


@pytest.fixture
def test_plugin(bao: BaoServer, test_plugin_files: dict[str, Plugin]) -> Iterator[TestPlugin]:
    """The plugin files in the real OpenBao (nothing registered yet); its mounts are disabled afterwards."""
    helper = TestPlugin(bao, test_plugin_files)
    try:
        yield helper
    finally:
        helper.cleanup()
