"""Mounts end to end through the CLI, on the real OpenBao 2.7.2 with the real test plugin (issue 14):
upgrade, rollback, a failed reload and its fix, `latest`, `create`, and `status`."""

from __future__ import annotations

import json
from pathlib import Path

from tests.cli import reconcile, write
from tests.plugin_fixtures import BROKEN_VERSION, PLUGIN_NAME, TestPlugin

P = f"secret/{PLUGIN_NAME}"


def manifest(plugin: TestPlugin, versions: tuple[str, ...], mount: str, *, create: bool = True) -> str:
    lines = ["plugins:", f"  - name: {PLUGIN_NAME}", "    type: secret", "    versions:"]
    for v in versions:
        built = plugin.files[v]
        lines += [f"      - version: {v}", f"        sha256: {built.sha256}", f"        command: {built.name}"]
    lines += ["mounts:", "  - path: up", "    type: secret", f"    plugin: {PLUGIN_NAME}"]
    lines += [f"    plugin_version: {mount}", f"    create: {'true' if create else 'false'}"]
    return "\n".join(lines) + "\n"


def env_of(plugin: TestPlugin) -> dict[str, str]:
    return {"VAULT_ADDR": plugin.bao.address, "VAULT_TOKEN": plugin.bao.token}


def steps(output: str) -> list[str]:
    return [line.strip() for line in output.splitlines() if line.startswith(("  + ", "  ~ ", "  - ", "  * "))]


def registered(plugin: TestPlugin) -> set[str]:
    detailed = plugin.http.get("/v1/sys/plugins/catalog").json()["data"]["detailed"]
    return {e["version"] for e in detailed if e["name"] == PLUGIN_NAME}


def apply(plugin: TestPlugin, m: Path, *versions: str, mount: str, create: bool = True) -> None:
    write(m, manifest(plugin, versions, mount, create=create))
    r = reconcile("apply", "--auto-approve", "-m", m, env=env_of(plugin))
    assert r.exit_code == 0, r.output


def in_sync(plugin: TestPlugin, m: Path) -> None:
    r = reconcile("plan", "--detailed-exitcode", "-m", m, env=env_of(plugin))
    assert r.exit_code == 0, r.output
    assert "No changes" in r.stdout


def test_upgrade_registers_tunes_reloads_then_deletes_the_old_version(test_plugin: TestPlugin, tmp_path: Path) -> None:
    m = tmp_path / "m.yaml"
    write(m, manifest(test_plugin, ("v1.0.0",), "v1.0.0"))
    first = reconcile("apply", "--auto-approve", "-m", m, env=env_of(test_plugin))
    assert first.exit_code == 0, first.output
    assert steps(first.stdout) == [f"+ register {P} v1.0.0", f"+ enable mount up/ of {P} v1.0.0"]
    version, pid = test_plugin.serving("up")
    assert version == "v1.0.0"

    write(m, manifest(test_plugin, ("v1.1.0",), "v1.1.0"))
    r = reconcile("apply", "--auto-approve", "-m", m, env=env_of(test_plugin))
    assert r.exit_code == 0, r.output
    assert steps(r.stdout) == [
        f"+ register {P} v1.1.0",
        f"~ tune mount up/ of {P}  (plugin_version: 'v1.0.0' -> 'v1.1.0')",
        f"* reload {P}  (declared mounts must run their version: up/ v1.0.0 -> v1.1.0)",
        f"- delete {P} v1.0.0",
    ]
    assert "Apply complete: 4 done." in r.stdout
    version, new_pid = test_plugin.serving("up")
    assert (version, new_pid != pid) == ("v1.1.0", True)  # a read through the mount: the new process
    assert registered(test_plugin) == {"v1.1.0"}
    in_sync(test_plugin, m)


def test_rollback_moves_the_mount_back_before_deleting_the_newer_version(
    test_plugin: TestPlugin, tmp_path: Path
) -> None:
    m = tmp_path / "m.yaml"
    apply(test_plugin, m, "v1.1.0", mount="v1.1.0")
    write(m, manifest(test_plugin, ("v1.0.0",), "v1.0.0"))
    r = reconcile("apply", "--auto-approve", "-m", m, env=env_of(test_plugin))
    assert r.exit_code == 0, r.output
    assert steps(r.stdout)[-1] == f"- delete {P} v1.1.0"
    assert test_plugin.serving("up")[0] == "v1.0.0"
    assert registered(test_plugin) == {"v1.0.0"}
    in_sync(test_plugin, m)


def test_a_failed_reload_is_reported_keeps_the_old_version_and_converges_after_the_fix(
    test_plugin: TestPlugin, tmp_path: Path
) -> None:
    m = tmp_path / "m.yaml"
    env = env_of(test_plugin)
    apply(test_plugin, m, "v1.1.0", mount="v1.1.0")
    write(m, manifest(test_plugin, (BROKEN_VERSION,), BROKEN_VERSION))
    r = reconcile("apply", "--auto-approve", "-m", m, env=env)
    assert r.exit_code == 1
    assert f"  FAILED reload {P}" in r.stdout
    assert 'cannot reload plugin on "up/": invalid backend version:; Unrecognized remote plugin message' in r.stdout
    assert f"  not started: delete {P} v1.1.0" in r.stdout
    assert "Apply failed: 2 done, 1 failed, 1 not started." in r.stdout
    assert registered(test_plugin) == {"v1.1.0", BROKEN_VERSION}  # the version that ran is kept
    assert test_plugin.read("up").status_code == 404  # nothing serves the mount

    status = reconcile("status", "-m", m, env=env)
    assert status.exit_code == 0, status.output
    assert "not running  up/  no backend serves it (a reload failed); sys/mounts still says v1.1.0" in status.stdout
    drift = reconcile("drift", "-m", m, env=env)
    assert drift.exit_code == 2
    assert f"  not running: up/ ({P}) no backend serves it" in drift.stdout
    again = reconcile("plan", "-m", m, env=env)  # running_plugin_version is stale: plan retries the reload
    assert steps(again.stdout) == [
        f"* reload {P}  (declared mounts must run their version: up/ v1.1.0 -> v1.2.0)",
        f"- delete {P} v1.1.0",  # only once a read-back shows the mount moved
    ]
    assert "blocked" not in again.stdout

    write(m, manifest(test_plugin, ("v1.1.0",), "v1.1.0"))  # the fix: back to the version that works
    fixed = reconcile("apply", "--auto-approve", "-m", m, env=env)
    assert fixed.exit_code == 0, fixed.output
    assert steps(fixed.stdout) == [
        f"~ tune mount up/ of {P}  (plugin_version: 'v1.2.0' -> 'v1.1.0')",
        f"* reload {P}  (declared mounts must run their version: up/ tuned, restart on v1.1.0)",
        f"- delete {P} v1.2.0",
    ]
    assert test_plugin.serving("up")[0] == "v1.1.0"
    in_sync(test_plugin, m)
    assert "1 ok." in reconcile("status", "-m", m, env=env).stdout


def test_latest_runs_the_highest_declared_version(test_plugin: TestPlugin, tmp_path: Path) -> None:
    m = tmp_path / "m.yaml"
    apply(test_plugin, m, "v1.0.0", mount="latest")
    assert test_plugin.versions("up")["plugin_version"] == "latest"
    assert test_plugin.serving("up")[0] == "v1.0.0"
    write(m, manifest(test_plugin, ("v1.0.0", "v1.1.0"), "latest"))
    r = reconcile("apply", "--auto-approve", "-m", m, env=env_of(test_plugin))
    assert r.exit_code == 0, r.output
    assert steps(r.stdout) == [
        f"+ register {P} v1.1.0",
        f"* reload {P}  (declared mounts must run their version: up/ v1.0.0 -> v1.1.0)",
    ]
    assert test_plugin.serving("up")[0] == "v1.1.0"
    in_sync(test_plugin, m)


def test_a_missing_mount_without_create_is_a_plan_error(test_plugin: TestPlugin, tmp_path: Path) -> None:
    m = write(tmp_path / "m.yaml", manifest(test_plugin, ("v1.0.0",), "v1.0.0", create=False))
    r = reconcile("apply", "--auto-approve", "-m", m, env=env_of(test_plugin))
    assert r.exit_code == 1
    assert f"{m}:9: mount up/ does not exist on the server; set create: true to enable it" in r.stderr
    assert registered(test_plugin) == set()  # nothing written


def test_undeclared_mounts_are_never_tuned_and_keep_their_version(test_plugin: TestPlugin, tmp_path: Path) -> None:
    m = tmp_path / "m.yaml"
    apply(test_plugin, m, "v1.0.0", mount="v1.0.0")
    assert test_plugin.enable("other", "v1.0.0").status_code == 204
    write(m, manifest(test_plugin, ("v1.1.0",), "v1.1.0"))
    r = reconcile("apply", "--auto-approve", "-m", m, env=env_of(test_plugin))
    assert r.exit_code == 1
    assert "! blocked: v1.0.0 is in use by mounts: other/" in r.stdout
    assert "tune mount other/" not in r.stdout
    assert test_plugin.versions("other")["plugin_version"] == "v1.0.0"


def test_status_lists_versions_and_a_verdict_per_mount(test_plugin: TestPlugin, tmp_path: Path) -> None:
    m = tmp_path / "m.yaml"
    env = env_of(test_plugin)
    apply(test_plugin, m, "v1.0.0", "v1.1.0", mount="v1.1.0")
    assert test_plugin.enable("stale", "v1.0.0").status_code == 204
    assert test_plugin.tune("stale", "v1.1.0").status_code == 204  # not reloaded
    assert test_plugin.register("v1.0.0", name="gone").status_code == 204
    assert test_plugin.enable("orphan", "v1.0.0", name="gone").status_code == 204
    deleted = test_plugin.http.delete("/v1/sys/plugins/catalog/secret/gone", params={"version": "v1.0.0"})
    assert deleted.status_code == 204

    r = reconcile("status", "-m", m, "--format", "json", env=env)
    assert r.exit_code == 0, r.output
    doc = json.loads(r.stdout)
    verdicts = {mount["path"]: mount["verdict"] for p in doc["plugins"] for mount in p["mounts"]}
    assert verdicts == {
        "up/": "ok",
        "stale/": "needs reload",
        "orphan/": "plugin missing from the catalog",
    }
    (tp,) = [p for p in doc["plugins"] if p["name"] == PLUGIN_NAME]
    assert [(v["version"], v["registered"], v["declared"]) for v in tp["versions"]] == [
        ("v1.0.0", True, True),
        ("v1.1.0", True, True),
    ]
    up = tp["mounts"][-1]
    assert up["running_sha256"] == test_plugin.files["v1.1.0"].sha256
    assert doc["summary"]["ok"] == 1

    text = reconcile("status", "-m", m, env=env).stdout
    assert "needs reload                     stale/  runs v1.0.0, configured v1.1.0" in text
    markdown = reconcile("status", "-m", m, "--format", "markdown", env=env).stdout
    assert "| `orphan/` | secret/gone | v1.0.0 |" in markdown
    drift = reconcile("drift", "-m", m, env=env)
    assert drift.exit_code == 2
    assert "Mounts not running what they should (2):" in drift.stdout
