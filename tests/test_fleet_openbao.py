"""Several clusters from one repository, end to end on three real dev OpenBao servers (issue #15).

Every run goes through the CLI (tests.cli.reconcile) with a reconcile.yaml naming the three servers
`a`, `b` and `c`; each has a token of its own, given as RECONCILE_<NAME>_VAULT_TOKEN.
"""

from __future__ import annotations

import contextlib
import json
from pathlib import Path

import httpx
import pytest

from tests.auth_backends import approle_credentials, enable_auth, write_role
from tests.cli import SHA_A, SHA_B, reconcile
from tests.fleet_fixtures import Served, token_env, write_targets
from tests.servers import free_port
from tests.test_confirm import PROMPT, Terminal

BASE = f"""\
plugins:
  - name: kv-extra
    type: secret
    versions:
      - version: 1.0.0
        sha256: {SHA_A}
        env: {{API_KEY: fleet-env-secret-value}}
"""
ONLY_B = f"""\
plugins:
  - name: auth-x
    type: auth
    versions:
      - version: 2.0.0
        sha256: {SHA_B}
"""


def catalog(cluster: Served) -> set[tuple[str, str, str]]:
    assert cluster.bao is not None
    with cluster.bao.client() as c:
        detailed = c.get("/v1/sys/plugins/catalog").json()["data"]["detailed"]
    return {(e["type"], e["name"], e["version"]) for e in detailed if not e["builtin"]}


@pytest.fixture
def repo(baos: list[Served], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A repository with reconcile.yaml at its root (the working directory), a shared base and b's own plugin."""
    for cluster in baos:
        assert cluster.bao is not None
        cluster.bao.add_plugin_file("kv-extra")
        cluster.bao.add_plugin_file("auth-x")
    write_targets(tmp_path, baos, {"base": BASE, "b": ONLY_B})
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_plan_shows_one_section_per_target_in_file_order_and_a_combined_summary(baos: list[Served], repo: Path) -> None:
    a, b, c = baos
    r = reconcile("plan", env=token_env(baos))
    assert r.exit_code == 0, r.output
    sections = r.stdout.split("=== ")
    assert [s.splitlines()[0] for s in sections[1:]] == ["a ===", "b ===", "c ==="]
    assert f"reconcile: openbao 2.7.2 at {b.address}" in sections[2]
    assert "+ register auth/auth-x v2.0.0" in sections[2]
    assert "auth-x" not in sections[1] + sections[3]
    assert "Plan: 2 to register, 0 to update, 0 to delete." in sections[2]
    assert r.stdout.endswith("3 targets: 3 with changes (a, b, c).\n")
    assert reconcile("plan", "--detailed-exitcode", env=token_env(baos)).exit_code == 2
    assert catalog(a) == catalog(b) == catalog(c) == set()  # plan never writes


def test_apply_reconciles_every_target_then_the_combined_plan_is_empty(baos: list[Served], repo: Path) -> None:
    a, b, c = baos
    r = reconcile("apply", "--auto-approve", env=token_env(baos))
    assert r.exit_code == 0, r.output
    assert "  b: ok     register auth/auth-x v2.0.0" in r.stdout
    assert r.stdout.endswith("\n\n3 targets: 3 applied (a, b, c).\n")
    assert catalog(a) == catalog(c) == {("secret", "kv-extra", "v1.0.0")}
    assert catalog(b) == {("secret", "kv-extra", "v1.0.0"), ("auth", "auth-x", "v2.0.0")}
    again = reconcile("plan", "--detailed-exitcode", "--format", "json", env=token_env(baos))
    assert again.exit_code == 0, again.output
    document = json.loads(again.stdout)
    assert [t["name"] for t in document["targets"]] == ["a", "b", "c"]
    assert all(t["changes"] == [] and t["error"] is None for t in document["targets"])


def test_an_unreachable_target_fails_alone_and_the_run_exits_1(baos: list[Served], repo: Path) -> None:
    a, _b, c = baos
    env = {**token_env(baos), "RECONCILE_B_VAULT_ADDR": f"http://127.0.0.1:{free_port()}"}
    r = reconcile("apply", "--auto-approve", "--format", "json", env=env)
    assert r.exit_code == 1, r.output
    by_name = {t["name"]: t for t in json.loads(r.stdout)["targets"]}
    assert by_name["b"]["error"].startswith("GET /v1/sys/seal-status: cannot reach http://127.0.0.1:")
    assert by_name["a"]["error"] is None
    assert by_name["a"]["outcome"]["ok"] is True
    assert catalog(a) == catalog(c) == {("secret", "kv-extra", "v1.0.0")}
    assert "b: Error: GET /v1/sys/seal-status: cannot reach" in r.stderr


def test_each_target_logs_in_with_its_own_token(baos: list[Served], repo: Path) -> None:
    _a, _b, _c = baos
    env = {**token_env(baos), "VAULT_TOKEN": "shared-token-that-no-server-knows", "RECONCILE_C_VAULT_TOKEN": ""}
    r = reconcile("plan", "--detailed-exitcode", env=env)
    # a and b use their own tokens; c's own variable is blank, so the shared (wrong) token serves it.
    assert r.exit_code == 1
    assert "=== c ===\nError: GET /v1/sys/plugins/catalog: 403" in r.stdout
    assert "3 targets: 2 with changes (a, b), 1 failed (c)." in r.stdout


def test_a_saved_plan_covers_every_target_and_one_stale_target_refuses_the_whole_file(
    baos: list[Served], repo: Path
) -> None:
    a, b, c = baos
    env = token_env(baos)
    made = reconcile("plan", "--out", "plan.json", "--format", "markdown", env=env)
    assert made.exit_code == 0, made.output
    document = json.loads((repo / "plan.json").read_text())
    assert [t["name"] for t in document["targets"]] == ["a", "b", "c"]
    assert "fleet-env-secret-value" not in (repo / "plan.json").read_text()
    assert b.bao is not None
    with b.bao.client() as client:  # someone changes b after the plan was made
        client.post("/v1/sys/plugins/catalog/secret/other", json={"sha256": SHA_A, "command": "kv-extra"})
    r = reconcile("apply", "plan.json", env=env)
    assert r.exit_code == 1, r.output
    assert "=== b ===" in r.stdout
    assert (
        "stale plan: secret/other (unversioned): registered on the server; nothing was applied to any target"
        in r.stdout
    )
    assert "nothing was applied: the saved plan cannot be applied to b" in r.stdout
    assert catalog(a) == catalog(c) == set()
    # A fresh saved plan applies to every target, without a question.
    assert reconcile("plan", "--out", "plan.json", env=env).exit_code == 0
    applied = reconcile("apply", "plan.json", env=env)
    assert applied.exit_code == 0, applied.output
    assert catalog(a) == catalog(c) == {("secret", "kv-extra", "v1.0.0")}
    assert ("auth", "auth-x", "v2.0.0") in catalog(b)


def test_drift_reports_per_target_and_exits_2_when_one_drifted(baos: list[Served], repo: Path) -> None:
    _a, _b, c = baos
    env = token_env(baos)
    assert reconcile("apply", "--auto-approve", env=env).exit_code == 0
    assert c.bao is not None
    with c.bao.client() as client:
        client.delete("/v1/sys/plugins/catalog/secret/kv-extra", params={"version": "v1.0.0"}).raise_for_status()
    r = reconcile("drift", "--format", "markdown", env=env)
    assert r.exit_code == 2, r.output
    assert "| **c** |" in r.stdout
    assert "✏️ 1 difference" in r.stdout
    assert r.stdout.endswith("3 targets: 1 drifted (c), 2 in sync (a, b).\n")
    only_a = reconcile("drift", "--target", "a", env=env)
    assert only_a.exit_code == 0, only_a.output
    assert "=== c ===" not in only_a.stdout


def test_export_writes_one_folder_per_target(baos: list[Served], repo: Path) -> None:
    env = token_env(baos)
    assert reconcile("apply", "--auto-approve", env=env).exit_code == 0
    r = reconcile("export", "--out", "live", env=env)
    assert r.exit_code == 0, r.output
    assert sorted(p.relative_to(repo / "live").as_posix() for p in (repo / "live").rglob("*.yaml")) == [
        "a/secret.yaml",
        "b/auth.yaml",
        "b/secret.yaml",
        "c/secret.yaml",
    ]
    assert "b: wrote live/b/auth.yaml, live/b/secret.yaml" in r.stderr
    several = reconcile("export", env=env)
    assert several.exit_code == 1
    assert "export of several targets needs --out DIR" in several.stderr
    one = reconcile("export", "--target", "b", env=env)
    assert one.exit_code == 0, one.output
    assert "name: auth-x" in one.stdout


def test_each_target_takes_its_own_lock_and_a_held_lock_stops_only_its_target(baos: list[Served], repo: Path) -> None:
    a, b, c = baos
    (repo / "manifests/base/settings.yaml").write_text("settings:\n  lock: {kv_mount: secret, key: reconcile/lock}\n")
    holder = {"id": "other-run-0000", "who": "someone", "created": "2099-01-01T00:00:00Z", "operation": "apply"}
    assert b.bao is not None
    with b.bao.client() as client:
        client.post("/v1/secret/data/reconcile/lock", json={"data": holder}).raise_for_status()
    r = reconcile("apply", "--auto-approve", env=token_env(baos))
    assert r.exit_code == 1, r.output
    assert "=== b ===\nError:" in r.stdout
    assert "lock" in r.stdout.split("=== b ===")[1].split("===")[0]
    assert catalog(a) == catalog(c) == {("secret", "kv-extra", "v1.0.0")}
    assert catalog(b) == set()
    for cluster in (a, c):  # released after the apply
        assert cluster.bao is not None
        with cluster.bao.client() as client:
            assert client.get("/v1/secret/data/reconcile/lock").status_code == 404


def test_validate_checks_the_file_and_every_target(baos: list[Served], repo: Path) -> None:
    r = reconcile("validate")
    assert r.exit_code == 0, r.output
    assert r.stdout.splitlines() == [
        "reconcile.yaml: 3 targets",
        "a: valid (1 plugin versions, 0 runtimes, 0 pins, 0 mounts, 0 CSI plugins)",
        "b: valid (2 plugin versions, 0 runtimes, 0 pins, 0 mounts, 0 CSI plugins)",
        "c: valid (1 plugin versions, 0 runtimes, 0 pins, 0 mounts, 0 CSI plugins)",
    ]
    (repo / "manifests/c/own.yaml").write_text("plugins:\n  - name: kv-extra\n    type: secret\n")
    (repo / "reconcile.yaml").write_text((repo / "reconcile.yaml").read_text() + "    namespace: 7\n")
    bad = reconcile("validate")
    assert bad.exit_code == 1
    assert "reconcile.yaml:11: targets[2].namespace: expected a string, got a number (quote it: '7')" in bad.stderr
    assert "manifests/c/own.yaml:2: plugins[0].versions: missing required key" in bad.stderr
    assert "2 problems in reconcile.yaml and its targets' manifests" in bad.stderr
    plan = reconcile("plan", env=token_env(baos))
    assert plan.exit_code == 1
    assert "reconcile.yaml:11:" in plan.stderr


def test_a_dev_openbao_answers_each_target_on_its_own_address(baos: list[Served]) -> None:
    # The three servers are distinct processes: a token made on one is unknown to the others.
    a, b, _ = baos
    with httpx.Client() as client:
        mine = client.get(f"{a.address}/v1/auth/token/lookup-self", headers={"X-Vault-Token": a.token})
        other = client.get(f"{b.address}/v1/auth/token/lookup-self", headers={"X-Vault-Token": a.token})
    assert mine.status_code == 200
    assert other.status_code == 403


def test_one_question_on_a_terminal_covers_every_target(baos: list[Served], repo: Path) -> None:
    term = Terminal(["apply"], token_env(baos))
    shown = term.read(until=PROMPT).decode()
    assert "=== a ===" in shown
    assert "=== c ===" in shown
    assert "Apply 4 changes to 3 targets (a, b, c)? Only 'yes' will be accepted: " in shown
    assert all(catalog(cluster) == set() for cluster in baos)  # nothing written while asking
    term.type(b"yes\n")
    code, output = term.finish()
    assert code == 0, output
    assert "3 targets: 3 applied (a, b, c)." in output
    assert all(("secret", "kv-extra", "v1.0.0") in catalog(cluster) for cluster in baos)


def test_no_answer_means_nothing_is_applied_anywhere(baos: list[Served], repo: Path) -> None:
    term = Terminal(["apply"], token_env(baos))
    term.read(until=PROMPT)
    term.type(b"no\n")
    code, output = term.finish()
    assert code == 1, output
    assert "Apply cancelled." in output
    assert all(catalog(cluster) == set() for cluster in baos)
    without = reconcile("apply", env=token_env(baos))  # no terminal to ask on, no --auto-approve
    assert without.exit_code == 1
    assert "Error: apply needs approval, and standard input is not a terminal to ask on" in without.stderr
    assert all(catalog(cluster) == set() for cluster in baos)


def test_the_leak_guard_knows_the_env_values_of_every_targets_manifests(repo: Path, leaks: object) -> None:
    found = leaks.secrets_for([], {})  # type: ignore[attr-defined]
    assert found["fleet-env-secret-value"].startswith("the env value API_KEY in the manifests of reconcile.yaml")


def _accessors(cluster: Served) -> set[str]:
    assert cluster.bao is not None
    with cluster.bao.client() as c:
        r = c.request("LIST", "/v1/auth/token/accessors")
        r.raise_for_status()
    return set(r.json()["data"]["keys"])


def test_each_target_logs_in_with_its_own_approle_and_every_login_token_is_revoked(
    baos: list[Served], tmp_path: Path, monkeypatch: pytest.MonkeyPatch, leaks
) -> None:
    """The `auth:` block of a target plus RECONCILE_<NAME>_VAULT_ROLE_ID / _SECRET_ID: three logins,
    one per server, concurrently inside one run; every token revoked when the run ends."""
    env: dict[str, str] = {"VAULT_MAX_RETRIES": "0"}
    more: dict[str, str] = {}
    mounts: list[str] = []
    with contextlib.ExitStack() as stack:
        for cluster in baos:
            assert cluster.bao is not None
            cluster.bao.add_plugin_file("kv-extra")
            mount = stack.enter_context(enable_auth(cluster.bao, "approle"))
            mounts.append(mount)
            role = {"token_policies": ["reconcile-apply"], "token_ttl": "5m"}
            write_role(cluster.bao, mount, "reconcile-apply", role)
            role_id, secret_id = approle_credentials(cluster.bao, mount, "reconcile-apply")
            leaks.secret(role_id, f"the role ID of {cluster.name}")
            leaks.secret(secret_id, f"the secret ID of {cluster.name}")
            env[f"RECONCILE_{cluster.name.upper()}_VAULT_ROLE_ID"] = role_id
            env[f"RECONCILE_{cluster.name.upper()}_VAULT_SECRET_ID"] = secret_id
            more[cluster.name] = f"auth: {{method: approle, path: {mount}}}"
        write_targets(tmp_path, baos, {"base": BASE}, more)
        monkeypatch.chdir(tmp_path)
        before = {c.name: _accessors(c) for c in baos}
        r = reconcile("apply", "--auto-approve", env=env)
        after = {c.name: _accessors(c) for c in baos}
    assert r.exit_code == 0, r.output
    assert r.stdout.endswith("3 targets: 3 applied (a, b, c).\n")
    for mount, cluster in zip(mounts, baos, strict=True):
        assert r.stderr.count(f"Logged in with approle at auth/{mount} ") == 1
        assert catalog(cluster) == {("secret", "kv-extra", "v1.0.0")}
    assert after == before  # the three login tokens are gone: revoked at the end of the run
