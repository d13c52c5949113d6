"""The real test plugin on the real OpenBao 2.7.2, through its HTTP API only (docs/plugin-behaviour.md).

Each test asserts what the server really did: which version and process answers a read through the
mount, what sys/mounts says, what a failed reload answers, and that no plugin process is left.
"""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from testplugin.build import build, file_name
from tests.plugin_fixtures import BROKEN_VERSION, PLUGIN_NAME, TestPlugin, plugin_processes, wait_exited
from tests.servers import run_bao

ROOT = Path(__file__).resolve().parent.parent
V1, V2 = "v1.0.0", "v1.1.0"


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_run_plugin_writes_one_file_per_version_and_prints_name_version_sha256(tmp_path: Path) -> None:
    done = subprocess.run(
        ["bash", "run", "plugin", str(tmp_path), V1, "--broken", BROKEN_VERSION],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    lines = [line.split() for line in done.stdout.splitlines()]
    assert [(name, version) for name, version, _ in lines] == [
        (file_name(V1), V1),
        (file_name(BROKEN_VERSION), BROKEN_VERSION),
    ]
    for name, _, sha in lines:
        assert _sha256(tmp_path / name) == sha
    assert "v1.2.0 is built broken" in done.stderr
    # The version is compiled in; the broken build exits at once without a handshake.
    assert (
        subprocess.run([tmp_path / file_name(V1), "--version"], capture_output=True, text=True, check=True).stdout
        == "v1.0.0\n"
    )
    broken = subprocess.run(
        [tmp_path / file_name(BROKEN_VERSION)], capture_output=True, text=True, timeout=10, check=False
    )
    assert (broken.returncode, broken.stdout) == (1, "")


def test_run_plugin_defaults_to_two_versions_and_refuses_a_bad_version(tmp_path: Path) -> None:
    default = subprocess.run(
        ["bash", "run", "plugin", str(tmp_path)], cwd=ROOT, capture_output=True, text=True, timeout=600, check=False
    )
    assert default.returncode == 0, default.stderr
    assert [line.split()[1] for line in default.stdout.splitlines()] == [V1, V2]
    bad = subprocess.run(
        ["bash", "run", "plugin", str(tmp_path / "x"), "1.0"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert (bad.returncode, bad.stdout) == (1, "")
    assert bad.stderr == "Error: '1.0' is not a plugin version like v1.0.0\n"
    assert not (tmp_path / "x").exists()


def test_each_version_registers_with_its_own_sha256_and_reports_its_version(test_plugin: TestPlugin) -> None:
    assert test_plugin.files[V1].sha256 != test_plugin.files[V2].sha256
    assert test_plugin.register(V1).status_code == 204
    assert test_plugin.register(V2).status_code == 204
    detailed = test_plugin.http.get("/v1/sys/plugins/catalog").json()["data"]["detailed"]
    ours = sorted((e["version"], e["sha256"]) for e in detailed if e["name"] == PLUGIN_NAME)
    assert ours == [(V1, test_plugin.files[V1].sha256), (V2, test_plugin.files[V2].sha256)]
    entry = test_plugin.http.get(f"/v1/sys/plugins/catalog/secret/{PLUGIN_NAME}", params={"version": V1}).json()["data"]
    assert (entry["command"], entry["args"], entry["builtin"]) == (file_name(V1), [], False)
    # The registration probe asks the plugin its version: v1.0.0's file cannot pose as v1.1.0.
    body = {"sha256": test_plugin.files[V1].sha256, "command": file_name(V1), "version": V2}
    r = test_plugin.http.post("/v1/sys/plugins/catalog/secret/liar", json=body)
    assert r.status_code == 400
    assert r.json()["errors"] == [
        "plugin version mismatch: liar reported version (v1.0.0) did not match requested version (v1.1.0)"
    ]


def test_upgrade_needs_tune_and_reload_then_rollback(test_plugin: TestPlugin) -> None:
    sha = {v: test_plugin.files[v].sha256 for v in (V1, V2)}
    assert test_plugin.register(V1).status_code == 204
    assert test_plugin.register(V2).status_code == 204
    assert test_plugin.enable("up", V1).status_code == 204
    assert test_plugin.versions("up") == {"plugin_version": V1, "running_plugin_version": V1, "running_sha256": sha[V1]}
    version, pid1 = test_plugin.serving("up")
    assert version == V1
    assert test_plugin.read("up").json()["data"] == {"version": V1, "pid": pid1}
    assert plugin_processes(test_plugin.bao.plugin_dir)[pid1].endswith("/" + file_name(V1))
    nothing = test_plugin.http.get("/v1/up/other")
    assert (nothing.status_code, nothing.json()) == (404, {"errors": []})

    # A tune changes only the mount entry: the v1.0.0 process keeps serving.
    assert test_plugin.tune("up", V2).status_code == 204
    assert test_plugin.versions("up") == {"plugin_version": V2, "running_plugin_version": V1, "running_sha256": sha[V1]}
    assert test_plugin.http.get("/v1/sys/mounts/up/tune").json()["data"]["plugin_version"] == V2
    assert test_plugin.serving("up") == (V1, pid1)

    r = test_plugin.reload(mounts=["up"])
    assert r.status_code == 200
    assert r.json()["data"]["reload_id"] == r.json()["request_id"]
    assert test_plugin.versions("up") == {"plugin_version": V2, "running_plugin_version": V2, "running_sha256": sha[V2]}
    version, pid2 = test_plugin.serving("up")
    assert (version, pid2 != pid1) == (V2, True)
    assert wait_exited({pid1}) == set()

    # Rollback, with the `plugin` form of the reload.
    assert test_plugin.tune("up", V1).status_code == 204
    assert test_plugin.reload(plugin=PLUGIN_NAME).status_code == 200
    assert test_plugin.versions("up") == {"plugin_version": V1, "running_plugin_version": V1, "running_sha256": sha[V1]}
    version, pid3 = test_plugin.serving("up")
    assert version == V1
    assert wait_exited({pid2}) == set()

    assert test_plugin.http.delete("/v1/sys/mounts/up").status_code == 204
    assert wait_exited({pid3}) == set()
    assert plugin_processes(test_plugin.bao.plugin_dir) == {}


def test_tune_and_enable_refuse_versions_not_in_the_catalog(test_plugin: TestPlugin) -> None:
    assert test_plugin.register(V1).status_code == 204
    r = test_plugin.enable("absent", V2)
    assert r.status_code == 400
    assert r.json()["errors"] == [f"plugin not found in the catalog: {PLUGIN_NAME}, version={V2}"]
    assert test_plugin.enable("m", V1).status_code == 204
    r = test_plugin.tune("m", V2)
    assert (r.status_code, r.json()["errors"]) == (
        400,
        [f"plugin not found in the catalog: {PLUGIN_NAME}, version={V2}"],
    )
    for bad in ("Latest", ""):
        r = test_plugin.tune("m", bad)
        assert (r.status_code, r.json()["errors"]) == (
            400,
            [f'version "{bad}" is not a valid semantic version: malformed version: {bad}'],
        )
    # Without the leading "v" the version is accepted and stored normalised.
    assert test_plugin.enable("nov", "1.0.0").status_code == 204
    assert test_plugin.versions("nov")["plugin_version"] == V1
    assert test_plugin.versions("m")["plugin_version"] == V1


def test_latest_runs_the_highest_registered_version_resolved_at_mount_and_reload(test_plugin: TestPlugin) -> None:
    sha = {v: test_plugin.files[v].sha256 for v in (V1, V2)}
    assert test_plugin.register(V2).status_code == 204  # registration order does not matter
    assert test_plugin.register(V1).status_code == 204
    assert test_plugin.enable("lat", "latest").status_code == 204
    assert test_plugin.versions("lat") == {
        "plugin_version": "latest",
        "running_plugin_version": V2,
        "running_sha256": sha[V2],
    }
    assert test_plugin.http.get("/v1/sys/mounts/lat/tune").json()["data"]["plugin_version"] == "latest"
    assert test_plugin.serving("lat")[0] == V2

    # A mount without a version is pinned to the highest version at enable time, not kept unversioned.
    assert test_plugin.enable("unv", None).status_code == 204
    assert test_plugin.versions("unv") == {
        "plugin_version": V2,
        "running_plugin_version": V2,
        "running_sha256": sha[V2],
    }

    # Tuning an existing v1.0.0 mount to latest moves it at the next reload.
    assert test_plugin.enable("old", V1).status_code == 204
    assert test_plugin.tune("old", "latest").status_code == 204
    assert test_plugin.versions("old") == {
        "plugin_version": "latest",
        "running_plugin_version": V1,
        "running_sha256": sha[V1],
    }
    assert test_plugin.serving("old")[0] == V1
    assert test_plugin.reload(mounts=["old"]).status_code == 200
    assert test_plugin.versions("old") == {
        "plugin_version": "latest",
        "running_plugin_version": V2,
        "running_sha256": sha[V2],
    }
    assert test_plugin.serving("old")[0] == V2


def test_broken_version_fails_the_reload_leaves_the_mount_without_backend_and_converges_after_the_fix(
    test_plugin: TestPlugin,
) -> None:
    sha2 = test_plugin.files[V2].sha256
    assert test_plugin.register(V2).status_code == 204
    # Registration only logs that the version could not be determined: the broken file registers.
    assert test_plugin.register(BROKEN_VERSION).status_code == 204
    assert test_plugin.enable("brk", V2).status_code == 204
    _, pid = test_plugin.serving("brk")

    assert test_plugin.tune("brk", BROKEN_VERSION).status_code == 204
    r = test_plugin.reload(mounts=["brk"])
    assert r.status_code == 400
    [error] = r.json()["errors"]
    assert error.startswith(
        '1 error occurred:\n\t* cannot reload plugin on "brk/": invalid backend version: 2 errors occurred:\n\t* Unrecognized remote plugin message: \nFailed to read any lines from plugin\'s stdout'
    )
    assert f"Path: {test_plugin.bao.plugin_dir / file_name(BROKEN_VERSION)}" in error
    # The old process is gone, the mount serves nothing, and sys/mounts still names the old version.
    assert wait_exited({pid}) == set()
    assert test_plugin.versions("brk") == {
        "plugin_version": BROKEN_VERSION,
        "running_plugin_version": V2,
        "running_sha256": sha2,
    }
    for _ in range(2):  # no lazy respawn on the next request either
        r = test_plugin.read("brk")
        assert (r.status_code, r.json()) == (
            404,
            {"errors": ['no handler for route "brk/version". route entry found, but backend is nil.']},
        )

    assert test_plugin.tune("brk", V2).status_code == 204
    assert test_plugin.reload(mounts=["brk"]).status_code == 200
    assert test_plugin.versions("brk") == {"plugin_version": V2, "running_plugin_version": V2, "running_sha256": sha2}
    assert test_plugin.serving("brk")[0] == V2

    # Enabling a mount on the broken version fails at once and creates nothing.
    r = test_plugin.enable("never", BROKEN_VERSION)
    assert r.status_code == 400
    assert r.json()["errors"][0].startswith(
        "invalid backend version: 2 errors occurred:\n\t* Unrecognized remote plugin message: "
    )
    r = test_plugin.http.get("/v1/sys/mounts/never")
    assert (r.status_code, r.json()) == (400, {"errors": ["No secret engine mount at never/"]})


def test_reload_by_plugin_stops_at_the_first_failing_mount_reload_by_mounts_goes_on(test_plugin: TestPlugin) -> None:
    for version in (V1, V2, BROKEN_VERSION):
        assert test_plugin.register(version).status_code == 204
    assert test_plugin.enable("first", V2).status_code == 204  # mount-table order: first, then second
    assert test_plugin.enable("second", V1).status_code == 204
    assert test_plugin.tune("first", BROKEN_VERSION).status_code == 204
    assert test_plugin.tune("second", V2).status_code == 204
    _, second_pid = test_plugin.serving("second")

    r = test_plugin.reload(plugin=PLUGIN_NAME)
    assert r.status_code == 400
    # No "cannot reload plugin on" prefix and no mount named in the `plugin` form.
    assert r.json()["errors"][0].startswith("invalid backend version: 2 errors occurred:")
    assert test_plugin.read("first").status_code == 404
    assert test_plugin.serving("second") == (V1, second_pid)  # never reached
    assert test_plugin.versions("second")["running_plugin_version"] == V1

    r = test_plugin.reload(mounts=["first", "second/"])
    assert r.status_code == 400
    assert r.json()["errors"][0].startswith(
        '1 error occurred:\n\t* cannot reload plugin on "first/": invalid backend version'
    )
    assert test_plugin.serving("second")[0] == V2
    assert test_plugin.versions("second")["running_plugin_version"] == V2


def test_deleting_a_version_a_mount_runs_is_allowed_and_breaks_its_next_reload(test_plugin: TestPlugin) -> None:
    assert test_plugin.register(V1).status_code == 204
    assert test_plugin.enable("inuse", V1).status_code == 204
    r = test_plugin.http.delete(f"/v1/sys/plugins/catalog/secret/{PLUGIN_NAME}", params={"version": V1})
    assert r.status_code == 204  # no in-use check on the server
    assert test_plugin.serving("inuse")[0] == V1  # the running process is untouched
    r = test_plugin.reload(mounts=["inuse"])
    assert r.status_code == 400
    assert r.json()["errors"] == [
        f'1 error occurred:\n\t* cannot reload plugin on "inuse/": plugin not found in the catalog: {PLUGIN_NAME}, version={V1}\n\n'
    ]
    assert test_plugin.read("inuse").status_code == 404
    assert test_plugin.versions("inuse")["running_plugin_version"] == V1


def test_a_killed_plugin_is_respawned_by_a_later_request(test_plugin: TestPlugin) -> None:
    assert test_plugin.register(V1).status_code == 204
    assert test_plugin.enable("crash", V1).status_code == 204
    _, pid = test_plugin.serving("crash")
    os.kill(pid, signal.SIGKILL)
    assert wait_exited({pid}) == set()
    # Until the host notices the death, requests fail with 500 Unavailable; then one respawns it.
    deadline = time.monotonic() + 10
    while (r := test_plugin.read("crash")).status_code != 200 and time.monotonic() < deadline:
        assert r.status_code == 500, r.text
        # `connection error: … connection refused`, or, when the request was already on the dead
        # connection, `error reading from server: … connection reset by peer` (both seen on 2.7.2)
        assert r.json()["errors"][0].startswith("rpc error: code = Unavailable desc = ")
        time.sleep(0.05)  # polling the server's recovery, bounded by the deadline
    assert r.status_code == 200, r.text
    assert r.json()["data"]["version"] == V1
    assert r.json()["data"]["pid"] != pid


@pytest.mark.parametrize("stop", ["terminate", "kill"])
def test_no_plugin_process_outlives_the_server(stop: str) -> None:
    """Stopping the server ends its plugins; if the server is killed, the plugins notice and exit."""
    with run_bao() as bao:
        helper = TestPlugin(bao, {p.version: p for p in build(bao.plugin_dir, [V1])})
        assert helper.register(V1).status_code == 204
        for path in ("one", "two"):
            assert helper.enable(path, V1).status_code == 204
        pids = set(plugin_processes(bao.plugin_dir))
        assert len(pids) == 2
        helper.http.close()
        if stop == "kill":
            bao.process.kill()
            bao.process.wait()
        # leaving the block terminates the server (a no-op when it was killed)
    assert wait_exited(pids) == set()
    assert plugin_processes(bao.plugin_dir) == {}
