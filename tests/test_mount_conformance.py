"""Mount behaviour with the real test plugin, run on the real OpenBao 2.7.2 and on the emulator.

Each scenario runs twice with the same helper (`TestPlugin`): against the dev server with the built
plugin files, and against the openbao-flavor emulator holding copies of the same files (the broken
one marked as such). What the server did is recorded in docs/plugin-behaviour.md; the emulator must
answer the same, so that the Vault-only tests that run on it (pins, reload by name) can be trusted.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pytest

from testplugin.build import Plugin
from tests.emulator.fixtures import ssl_context
from tests.emulator.vault import VaultEmulator
from tests.plugin_fixtures import BROKEN_VERSION, PLUGIN_NAME, TestPlugin

NO_HANDSHAKE = "invalid backend version: 2 errors occurred:\n\t* Unrecognized remote plugin message: \n"


@dataclass
class _Served:
    """What `TestPlugin` needs of a server: a client with the root token."""

    address: str
    token: str

    def client(self) -> httpx.Client:
        return httpx.Client(base_url=self.address, headers={"X-Vault-Token": self.token}, verify=ssl_context())


@pytest.fixture(params=["openbao", "emulator"])
def plugin(request: pytest.FixtureRequest, test_plugin_files: dict[str, Plugin]) -> Iterator[TestPlugin]:
    """The plugin's files in a server (nothing registered): the real OpenBao, or the emulator."""
    if request.param == "openbao":
        yield request.getfixturevalue("test_plugin")
        return
    emulator: VaultEmulator = request.getfixturevalue("openbao_emulator")
    assert emulator.plugin_dir is not None
    for built in test_plugin_files.values():
        shutil.copy2(built.path, emulator.plugin_dir / built.name)
    emulator.mark_broken(test_plugin_files[BROKEN_VERSION].name)
    switch, base_url = request.getfixturevalue("emulator_host")
    switch.target = emulator.app
    helper = TestPlugin(_Served(base_url, emulator.root_token), test_plugin_files)  # type: ignore[arg-type]
    try:
        yield helper
    finally:
        helper.http.close()
        switch.target = None


def registered(plugin: TestPlugin, *versions: str) -> None:
    for version in versions:
        assert plugin.register(version).status_code == 204


def errors(response: httpx.Response) -> list[str]:
    return list(response.json()["errors"])


def test_tune_changes_the_entry_and_a_reload_of_the_mount_moves_the_process(plugin: TestPlugin) -> None:
    registered(plugin, "v1.0.0", "v1.1.0")
    assert plugin.enable("up", "v1.0.0").status_code == 204
    v100 = plugin.files["v1.0.0"].sha256
    assert plugin.versions("up") == {
        "plugin_version": "v1.0.0",
        "running_plugin_version": "v1.0.0",
        "running_sha256": v100,
    }
    version, pid = plugin.serving("up")
    assert version == "v1.0.0"

    assert plugin.tune("up", "v1.1.0").status_code == 204
    assert plugin.versions("up")["running_plugin_version"] == "v1.0.0"  # only the entry changed
    assert plugin.http.get("/v1/sys/mounts/up/tune").json()["data"]["plugin_version"] == "v1.1.0"
    assert plugin.serving("up") == ("v1.0.0", pid)

    reload = plugin.reload(mounts=["up"])
    assert reload.status_code == 200
    assert reload.json()["data"]["reload_id"] == reload.json()["request_id"]
    v110 = plugin.files["v1.1.0"].sha256
    assert plugin.versions("up") == {
        "plugin_version": "v1.1.0",
        "running_plugin_version": "v1.1.0",
        "running_sha256": v110,
    }
    version, new_pid = plugin.serving("up")
    assert (version, new_pid != pid) == ("v1.1.0", True)

    # Rollback by plugin name: same outcome.
    assert plugin.tune("up", "1.0.0").status_code == 204  # stored normalised
    assert plugin.reload(plugin=PLUGIN_NAME).status_code == 200
    assert plugin.serving("up")[0] == "v1.0.0"


def test_enable_and_tune_versions(plugin: TestPlugin) -> None:
    registered(plugin, "v1.1.0", "v1.0.0")
    assert plugin.enable("picked", None).status_code == 204  # no version: the highest, written into the mount
    assert plugin.versions("picked")["plugin_version"] == "v1.1.0"
    assert plugin.enable("plain", "1.0.0").status_code == 204
    assert plugin.versions("plain")["plugin_version"] == "v1.0.0"
    missing = plugin.enable("nope", "v9.9.9")
    assert (missing.status_code, errors(missing)) == (
        400,
        [f"plugin not found in the catalog: {PLUGIN_NAME}, version=v9.9.9"],
    )
    tuned = plugin.tune("plain", "v9.9.9")
    assert (tuned.status_code, errors(tuned)) == (
        400,
        [f"plugin not found in the catalog: {PLUGIN_NAME}, version=v9.9.9"],
    )
    for bad in ("Latest", "banana"):
        answer = plugin.tune("plain", bad)
        expected = [f'version "{bad}" is not a valid semantic version: malformed version: {bad}']
        assert (answer.status_code, errors(answer)) == (400, expected), bad
    assert plugin.versions("plain")["plugin_version"] == "v1.0.0"


def test_latest_resolves_to_the_highest_version_at_every_start(plugin: TestPlugin) -> None:
    registered(plugin, "v1.1.0", "v1.0.0")
    assert plugin.enable("newest", "latest").status_code == 204
    assert plugin.versions("newest")["plugin_version"] == "latest"
    assert plugin.versions("newest")["running_plugin_version"] == "v1.1.0"
    assert plugin.http.get("/v1/sys/mounts/newest/tune").json()["data"]["plugin_version"] == "latest"

    assert plugin.enable("old", "v1.0.0").status_code == 204
    assert plugin.tune("old", "latest").status_code == 204
    assert plugin.serving("old")[0] == "v1.0.0"  # until a reload
    assert plugin.reload(mounts=["old"]).status_code == 200
    assert plugin.versions("old")["running_plugin_version"] == "v1.1.0"


def test_a_failed_reload_leaves_a_stale_running_version_and_no_backend(plugin: TestPlugin) -> None:
    registered(plugin, "v1.1.0", BROKEN_VERSION)
    assert plugin.enable("brk", "v1.1.0").status_code == 204
    assert plugin.tune("brk", BROKEN_VERSION).status_code == 204
    failed = plugin.reload(mounts=["brk"])
    assert failed.status_code == 400
    (message,) = errors(failed)
    assert message.startswith('1 error occurred:\n\t* cannot reload plugin on "brk/": ' + NO_HANDSHAKE)
    assert plugin.versions("brk")["running_plugin_version"] == "v1.1.0"  # stale: nothing runs
    read = plugin.read("brk")
    assert (read.status_code, errors(read)) == (
        404,
        ['no handler for route "brk/version". route entry found, but backend is nil.'],
    )
    root = plugin.http.get("/v1/brk")
    assert errors(root) == ['no handler for route "brk/". route entry found, but backend is nil.']
    assert plugin.http.get("/v1/brk").status_code == 404  # no lazy respawn

    assert plugin.tune("brk", "v1.1.0").status_code == 204
    assert plugin.reload(mounts=["brk"]).status_code == 200
    assert plugin.serving("brk")[0] == "v1.1.0"
    assert plugin.http.get("/v1/brk").json() == {"errors": []}  # the plugin answers its root itself


def test_reload_by_name_stops_at_the_first_failure_by_mounts_tries_all(plugin: TestPlugin) -> None:
    registered(plugin, "v1.0.0", "v1.1.0", BROKEN_VERSION)
    for path in ("a", "b"):
        assert plugin.enable(path, "v1.0.0").status_code == 204
    assert plugin.tune("a", BROKEN_VERSION).status_code == 204
    assert plugin.tune("b", "v1.1.0").status_code == 204

    by_name = plugin.reload(plugin=PLUGIN_NAME)
    assert by_name.status_code == 400
    assert errors(by_name)[0].startswith(NO_HANDSHAKE)  # no "cannot reload plugin on" wrapper
    assert plugin.versions("b")["running_plugin_version"] == "v1.0.0"  # not reached

    by_mounts = plugin.reload(mounts=["a", "b"])
    assert by_mounts.status_code == 400
    (message,) = errors(by_mounts)
    assert message.startswith('1 error occurred:\n\t* cannot reload plugin on "a/": ')
    assert plugin.serving("b")[0] == "v1.1.0"  # reloaded despite a's failure


def test_enabling_a_broken_version_fails_and_leaves_no_mount(plugin: TestPlugin) -> None:
    registered(plugin, BROKEN_VERSION)
    enabled = plugin.enable("never", BROKEN_VERSION)
    assert enabled.status_code == 400
    assert errors(enabled)[0].startswith(NO_HANDSHAKE)
    assert errors(plugin.http.get("/v1/sys/mounts/never")) == ["No secret engine mount at never/"]


def test_deleting_a_running_version_breaks_the_next_reload(plugin: TestPlugin) -> None:
    registered(plugin, "v1.0.0")
    assert plugin.enable("inuse", "v1.0.0").status_code == 204
    deleted = plugin.http.delete(f"/v1/sys/plugins/catalog/secret/{PLUGIN_NAME}", params={"version": "v1.0.0"})
    assert deleted.status_code == 204  # no in-use check
    assert plugin.serving("inuse")[0] == "v1.0.0"  # the running process keeps serving
    failed = plugin.reload(mounts=["inuse"])
    assert (failed.status_code, errors(failed)) == (
        400,
        [
            '1 error occurred:\n\t* cannot reload plugin on "inuse/": plugin not found in the catalog: '
            f"{PLUGIN_NAME}, version=v1.0.0\n\n"
        ],
    )
    assert plugin.read("inuse").status_code == 404
    assert plugin.versions("inuse")["running_plugin_version"] == "v1.0.0"
