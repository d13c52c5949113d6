"""End to end through the CLI against the Vault emulator served on 127.0.0.1: pins, runtimes,
reloads, plan-time safety and interrupted applies (issue 4)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.cli import SHA_A, SHA_B, reconcile, write
from tests.emulator.vault import VaultEmulator

V1 = "v1.0.0"
V2 = "v2.0.0"


def manifest(
    *versions: str, pin: str | None = None, runtime: bool = False, reload: str = "changed", extra: str = ""
) -> str:
    lines = ["plugins:", "  - name: kv-extra", "    type: secret", "    versions:"]
    for v in versions:
        lines += [f"      - version: {v}", f"        sha256: {SHA_A}"]
        if runtime:
            lines += ["        oci_image: ghcr.io/example/kv-extra", "        runtime: gvisor"]
    if runtime:
        lines += ["runtimes:", "  - name: gvisor", "    cpu_nanos: 1000"]
    if pin:
        lines += ["pins:", f"  - {{type: secret, name: kv-extra, version: {pin}}}"]
    lines += ["settings:", f"  reload: {reload}"]
    return "\n".join(lines) + "\n" + extra


@pytest.fixture
def vault(served_vault) -> tuple[VaultEmulator, dict[str, str]]:
    emulator, url = served_vault
    return emulator, {"VAULT_ADDR": url, "VAULT_TOKEN": "root"}


def steps(output: str) -> list[str]:
    return [line.strip() for line in output.splitlines() if line.startswith(("  + ", "  ~ ", "  - ", "  * "))]


def test_plan_header_names_vault_and_every_phase_runs_in_order(vault, tmp_path: Path) -> None:
    emu, env = vault
    emu.register_plugin("secret", "kv-extra", version=V1, sha256=SHA_A)
    emu.register_plugin("secret", "old", version=V1, sha256=SHA_A)
    emu.add_pin("secret", "kv-extra", V1)
    emu.add_pin("secret", "old", V1)
    emu.add_runtime("stale")
    emu.add_mount("kv/", "kv-extra")
    m = write(tmp_path / "m.yaml", manifest(V2, pin=V2, runtime=True))
    r = reconcile("apply", "--auto-approve", "-m", m, env=env)
    assert r.exit_code == 0, r.output
    assert r.stdout.startswith(f"reconcile: vault 1.17.6 at {env['VAULT_ADDR']}")
    assert steps(r.stdout) == [
        "+ register runtime gvisor",
        "+ register secret/kv-extra v2.0.0",
        "~ pin secret/kv-extra v2.0.0  (was v1.0.0)",
        "* reload secret/kv-extra  (pin moved to v2.0.0)",
        "- unpin secret/old v1.0.0",
        "- delete secret/kv-extra v1.0.0",
        "- delete secret/old v1.0.0",
        "- delete runtime stale",
    ]
    writes = [(method, path) for method, path in emu.requests if method in ("POST", "PUT", "DELETE")]
    # Phase by phase; the two plugin deletes share a phase and run concurrently, in either order.
    assert writes[:5] == [
        ("POST", "/v1/sys/plugins/runtimes/catalog/container/gvisor"),
        ("POST", "/v1/sys/plugins/catalog/secret/kv-extra"),
        ("POST", "/v1/sys/plugins/pins/secret/kv-extra"),
        ("POST", "/v1/sys/plugins/reload/secret/kv-extra"),
        ("DELETE", "/v1/sys/plugins/pins/secret/old"),
    ]
    assert sorted(writes[5:7]) == [
        ("DELETE", "/v1/sys/plugins/catalog/secret/kv-extra?version=v1.0.0"),
        ("DELETE", "/v1/sys/plugins/catalog/secret/old?version=v1.0.0"),
    ]
    assert writes[7:] == [("DELETE", "/v1/sys/plugins/runtimes/catalog/container/stale")]
    assert emu.mount("kv/").running_plugin_version == V2
    assert emu.pins == {("secret", "kv-extra"): V2}
    assert set(emu.runtimes) == {"gvisor"}
    again = reconcile("plan", "-m", m, "--detailed-exitcode", env=env)
    assert again.exit_code == 0, again.output
    assert "No changes" in again.stdout


def test_pin_move_reloads_and_deletes_the_old_version_once_no_mount_runs_it(vault, tmp_path: Path) -> None:
    emu, env = vault
    emu.register_plugin("secret", "kv-extra", version=V1, sha256=SHA_A)
    emu.register_plugin("secret", "kv-extra", version=V2, sha256=SHA_A)
    emu.add_pin("secret", "kv-extra", V1)
    emu.add_mount("team-a/", "kv-extra")
    assert emu.mount("team-a/").running_plugin_version == V1
    m = write(tmp_path / "m.yaml", manifest(V2, pin=V2))
    r = reconcile("apply", "--auto-approve", "-m", m, env=env)
    assert r.exit_code == 0, r.output
    assert emu.mount("team-a/").running_plugin_version == V2
    assert ("secret", "kv-extra", V1) not in emu.catalog


def test_delete_of_a_version_still_running_after_the_reload_fails_naming_mounts(vault, tmp_path: Path) -> None:
    emu, env = vault
    emu.register_plugin("secret", "kv-extra", version=V1, sha256=SHA_A)
    emu.register_plugin("secret", "kv-extra", version=V2, sha256=SHA_A)
    emu.add_pin("secret", "kv-extra", V1)
    emu.add_mount("team-a/", "kv-extra")
    # The reload answers success but restarts nothing (as on a node where it does not take).
    emu.inject_fault("POST", r"/sys/plugins/reload/", 200, times=1)
    r = reconcile("apply", "--auto-approve", "-m", write(tmp_path / "m.yaml", manifest(V2, pin=V2)), env=env)
    assert r.exit_code == 1
    assert "secret/kv-extra v1.0.0 is still running on mounts after the reload: team-a/" in r.stdout
    assert ("secret", "kv-extra", V1) in emu.catalog


def test_unpin_then_delete(vault, tmp_path: Path) -> None:
    emu, env = vault
    emu.register_plugin("secret", "kv-extra", version=V1, sha256=SHA_A)
    emu.register_plugin("secret", "kv-extra", version=V2, sha256=SHA_A)
    emu.add_pin("secret", "kv-extra", V1)
    r = reconcile("apply", "--auto-approve", "-m", write(tmp_path / "m.yaml", manifest(V2)), env=env)
    assert r.exit_code == 0, r.output
    assert steps(r.stdout) == ["- unpin secret/kv-extra v1.0.0", "- delete secret/kv-extra v1.0.0"]
    assert emu.pins == {}
    assert ("secret", "kv-extra", V1) not in emu.catalog


def test_runtime_referenced_by_a_remaining_plugin_is_blocked(vault, tmp_path: Path) -> None:
    emu, env = vault
    emu.add_runtime("gvisor")
    emu.register_plugin("secret", "legacy", version=V1, sha256=SHA_A, oci_image="ghcr.io/x/legacy", runtime="gvisor")
    m = write(tmp_path / "m.yaml", manifest(V1, extra='  ignore: ["secret/legacy"]\n'))
    r = reconcile("plan", "-m", m, env=env)
    assert r.exit_code == 0
    assert "! blocked: runtime gvisor is referenced by secret/legacy v1.0.0" in r.stdout
    r = reconcile("apply", "--auto-approve", "-m", m, env=env)
    assert r.exit_code == 1
    assert "1 change(s) are blocked; nothing was applied" in r.stderr
    assert "gvisor" in emu.runtimes


def test_version_in_use_by_a_mount_is_blocked_and_force_overrides(vault, tmp_path: Path) -> None:
    emu, env = vault
    emu.register_plugin("secret", "kv-extra", version=V1, sha256=SHA_A)
    emu.register_plugin("secret", "kv-extra", version=V2, sha256=SHA_A)
    emu.add_mount("team-a/", "kv-extra", plugin_version=V1)
    emu.add_mount("team-b/", "kv-extra", plugin_version=V1)
    m = write(tmp_path / "m.yaml", manifest(V2, reload="none"))
    r = reconcile("plan", "-m", m, "-f", "json", env=env)
    (change,) = json.loads(r.stdout)["changes"]
    assert change["blocked"] == "v1.0.0 is in use by mounts: team-a/, team-b/"
    r = reconcile("apply", "--auto-approve", "-m", m, env=env)
    assert r.exit_code == 1
    assert ("secret", "kv-extra", V1) in emu.catalog
    assert not [w for w in emu.requests if w[0] == "DELETE"]
    r = reconcile("apply", "--auto-approve", "-m", m, "--force", env=env)
    assert r.exit_code == 0, r.output
    assert ("secret", "kv-extra", V1) not in emu.catalog


def test_max_deletes_shows_the_plan_and_writes_nothing(vault, tmp_path: Path) -> None:
    emu, env = vault
    for i in range(3):
        emu.register_plugin("auth", f"old-{i}", version=V1, sha256=SHA_A)
    emu.register_plugin("secret", "kv-extra", version=V1, sha256=SHA_A)  # declared: the manifests are not empty
    m = write(tmp_path / "m.yaml", manifest(V1, reload="none"))
    r = reconcile("plan", "-m", m, "--max-deletes", "2", env=env)
    assert r.exit_code == 1
    assert "Plan: 0 to register, 0 to update, 3 to delete." in r.stdout
    assert "the plan deletes 3 objects, more than the limit of 2" in r.stderr
    write(m, manifest(V1, reload="none", extra="  max_deletes: 2\n"))
    r = reconcile("apply", "--auto-approve", "-m", m, env=env)
    assert r.exit_code == 1
    assert "more than the limit of 2; nothing was applied" in r.stderr
    assert len(emu.catalog) == 4
    assert reconcile("apply", "--auto-approve", "-m", m, "--max-deletes", "3", env=env).exit_code == 0
    assert set(emu.catalog) == {("secret", "kv-extra", V1)}


def test_reload_only_for_changed_pins_and_reregistered_versions_in_use(vault, tmp_path: Path) -> None:
    emu, env = vault
    for name in ("used", "idle", "pinned"):
        emu.register_plugin("secret", name, version=V1, sha256=SHA_A)
    emu.add_mount("u/", "used")
    emu.add_pin("secret", "pinned", V1)
    text = "plugins:\n" + "".join(
        f"  - {{name: {n}, type: secret, versions: [{{version: 1.0.0, sha256: {SHA_B}}}]}}\n"
        for n in ("used", "idle", "pinned")
    )
    text += "pins:\n  - {type: secret, name: pinned, version: 1.0.0}\nsettings: {reload: changed}\n"
    r = reconcile("apply", "--auto-approve", "-m", write(tmp_path / "m.yaml", text), env=env)
    assert r.exit_code == 0, r.output
    reloads = [s for s in steps(r.stdout) if s.startswith("* reload")]
    assert reloads == ["* reload secret/used  (v1.0.0 re-registered while mounts run it: u/)"]
    assert ("POST", "/v1/sys/plugins/reload/secret/used") in emu.requests
    assert emu.mount("u/").running_sha256 == SHA_B


def test_without_reload_changed_nothing_is_reloaded(vault, tmp_path: Path) -> None:
    emu, env = vault
    emu.register_plugin("secret", "kv-extra", version=V1, sha256=SHA_A)
    emu.add_mount("u/", "kv-extra")
    r = reconcile(
        "apply", "--auto-approve", "-m", write(tmp_path / "m.yaml", manifest(V1, pin=V1, reload="none")), env=env
    )
    assert r.exit_code == 0, r.output
    assert steps(r.stdout) == ["+ pin secret/kv-extra v1.0.0"]
    assert not [p for _, p in emu.requests if "/reload/" in p]


PHASE_FAULTS = [
    ("register runtimes", "POST", r"/runtimes/catalog/container/"),
    ("register plugins", "POST", r"/plugins/catalog/secret/"),
    ("pin", "POST", r"/plugins/pins/"),
    ("reload", "POST", r"/plugins/reload/"),
    ("unpin", "DELETE", r"/plugins/pins/"),
    ("delete plugins", "DELETE", r"/plugins/catalog/"),
    ("delete runtimes", "DELETE", r"/runtimes/catalog/"),
]


@pytest.mark.parametrize(("phase", "method", "path"), PHASE_FAULTS, ids=[p[0] for p in PHASE_FAULTS])
def test_apply_failing_at_each_phase_stops_there_and_the_next_apply_converges(
    vault, tmp_path: Path, phase: str, method: str, path: str
) -> None:
    emu, env = vault
    emu.register_plugin("secret", "kv-extra", version=V1, sha256=SHA_A)
    emu.register_plugin("secret", "old", version=V1, sha256=SHA_A)
    emu.add_pin("secret", "kv-extra", V1)
    emu.add_pin("secret", "old", V1)
    emu.add_runtime("stale")
    emu.add_mount("kv/", "kv-extra")
    m = write(tmp_path / "m.yaml", manifest(V2, pin=V2, runtime=True))
    emu.inject_fault(method, path, 500, ["1 error occurred:\n\t* injected storage failure\n\n"])
    r = reconcile("apply", "--auto-approve", "-m", m, "--parallelism", "1", env=env)
    assert r.exit_code == 1, r.output
    assert "500 injected storage failure" in r.stdout
    assert "Apply failed:" in r.stdout
    later = [
        s
        for s in ("unpin", "delete runtimes")
        if PHASE_FAULTS.index(next(p for p in PHASE_FAULTS if p[0] == s)) > PHASE_FAULTS.index((phase, method, path))
    ]
    for name in later:
        assert f"not started: {'unpin' if name == 'unpin' else 'delete'}" in r.stdout
    r = reconcile("apply", "--auto-approve", "-m", m, env=env)
    assert r.exit_code == 0, r.output
    assert reconcile("plan", "-m", m, "--detailed-exitcode", env=env).exit_code == 0
    assert emu.mount("kv/").running_plugin_version == V2
    assert set(emu.catalog) == {("secret", "kv-extra", V2)}
    assert set(emu.runtimes) == {"gvisor"}


def test_older_vault_without_pins_gets_a_clear_error(tmp_path: Path) -> None:
    from tests.servers import serve_asgi

    emu = VaultEmulator(flavor="vault", version="1.15.6")
    with serve_asgi(emu.app) as url:
        m = write(tmp_path / "m.yaml", manifest(V1, pin=V1))
        r = reconcile("plan", "-m", m, env={"VAULT_ADDR": url, "VAULT_TOKEN": "root"})
    assert r.exit_code == 1
    assert "pin secret/kv-extra: pins need Vault 1.16+, but the server is Vault 1.15.6" in r.stderr


def test_sealed_server_gets_a_clear_message(vault, tmp_path: Path) -> None:
    emu, env = vault
    emu.seal()
    r = reconcile("plan", "-m", write(tmp_path / "m.yaml", manifest(V1)), env=env)
    assert r.exit_code == 1
    assert "the server is sealed" in r.stderr
    assert "unseal it" in r.stderr


def test_declarative_openbao_entries_are_never_written_or_pruned(served_openbao, tmp_path: Path) -> None:
    emu, url = served_openbao
    env = {"VAULT_ADDR": url, "VAULT_TOKEN": "root"}
    emu.add_declarative_plugin("secret", "decl", "v1.0.0", sha256=SHA_A)
    r = reconcile("plan", "-m", write(tmp_path / "m.yaml", "plugins: []\n"), env=env)
    assert "No changes" in r.stdout, r.output
    text = f"plugins:\n  - {{name: decl, type: secret, versions: [{{version: 1.0.0, sha256: {SHA_B}}}]}}\n"
    m = write(tmp_path / "m.yaml", text)
    r = reconcile("apply", "--auto-approve", "-m", m, env=env)
    assert r.exit_code == 1
    assert f"{m}:2: secret/decl v1.0.0 is declared in the OpenBao server configuration (declarative)" in r.stderr
    assert not [w for w in emu.requests if w[0] in ("POST", "DELETE")]
