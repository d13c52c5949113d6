"""Credentials in the address (`http://user:pass@host`) on the real OpenBao: they are used to connect
(OpenBao ignores the resulting Basic auth header) and never shown. The leak guard (tests/leaks.py)
greps every run, every file written (`--out`, the job summary) for them; the assertions here check
what the user sees instead."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.cli import SHA_A, SHA_B, reconcile, write
from tests.servers import BaoServer, free_port

KV = f"""
plugins:
  - name: kv-extra
    type: secret
    versions:
      - version: 1.4.2
        sha256: {SHA_A}
        env: {{API_KEY: env-value-never-shown}}
"""
PASSWORD = "s3cretpass"


def with_credentials(address: str, userinfo: str = f"user:{PASSWORD}") -> str:
    return address.replace("http://", f"http://{userinfo}@", 1)


@pytest.fixture
def env(bao: BaoServer, tmp_path: Path) -> dict[str, str]:
    bao.add_plugin_file("kv-extra")
    return {
        "VAULT_ADDR": with_credentials(bao.address),
        "VAULT_TOKEN": bao.token,
        "GITHUB_STEP_SUMMARY": str(tmp_path / "summary.md"),
    }


def catalog(bao: BaoServer) -> set[tuple[str, str, str]]:
    with bao.client() as c:
        detailed = c.get("/v1/sys/plugins/catalog").json()["data"]["detailed"]
    return {(e["type"], e["name"], e["version"]) for e in detailed if not e["builtin"]}


def test_plan_in_every_format_and_the_job_summary_show_the_address_without_credentials(
    bao: BaoServer, env, tmp_path: Path, leaks
) -> None:
    assert PASSWORD in leaks.secrets_for([], env)  # the guard knows the password: a leak would fail the run
    m = write(tmp_path / "m.yaml", KV)
    text = reconcile("plan", "-m", m, env=env)
    assert text.exit_code == 0, text.output
    assert f"reconcile: openbao 2.7.2 at {bao.address}\n" in text.stdout
    as_json = reconcile("plan", "-m", m, "--format", "json", env=env)
    assert json.loads(as_json.stdout)["target"]["address"] == bao.address
    markdown = reconcile("plan", "-m", m, "--format", "markdown", env=env)
    assert f"at `{bao.address}`" in markdown.stdout
    summary = (tmp_path / "summary.md").read_text()
    assert summary.count(f"at `{bao.address}`") == 3


def test_a_saved_plan_stores_the_address_without_credentials_and_applies_with_or_without_them(
    bao: BaoServer, env, tmp_path: Path
) -> None:
    m = write(tmp_path / "m" / "m.yaml", KV)
    out = tmp_path / "plan.json"
    r = reconcile("plan", "-m", m.parent, "--out", out, env=env)
    assert r.exit_code == 0, r.output
    assert json.loads(out.read_text())["target"]["address"] == bao.address
    # Made with credentials, applied without them: the same target.
    r = reconcile("apply", out, "-m", m.parent, env={**env, "VAULT_ADDR": bao.address})
    assert r.exit_code == 0, r.output
    assert catalog(bao) == {("secret", "kv-extra", "v1.4.2")}
    # Made without, applied with other credentials (and the --address option).
    write(m, KV.replace("1.4.2", "1.5.0"))
    assert reconcile("plan", "-m", m.parent, "--out", out, env={**env, "VAULT_ADDR": bao.address}).exit_code == 0
    other = with_credentials(bao.address, "someone:0ther-pass")
    r = reconcile("apply", out, "-m", m.parent, "--address", other, env=env)
    assert r.exit_code == 0, r.output
    assert catalog(bao) == {("secret", "kv-extra", "v1.5.0")}


def test_a_saved_plan_for_another_host_is_stale_and_says_so_without_credentials(
    bao: BaoServer, env, tmp_path: Path
) -> None:
    m = write(tmp_path / "m" / "m.yaml", KV)
    out = tmp_path / "plan.json"
    assert reconcile("plan", "-m", m.parent, "--out", out, env=env).exit_code == 0
    same_server_other_name = with_credentials(bao.address.replace("127.0.0.1", "localhost"))
    r = reconcile("apply", out, "-m", m.parent, env={**env, "VAULT_ADDR": same_server_other_name})
    assert r.exit_code == 1
    localhost = bao.address.replace("127.0.0.1", "localhost")
    assert f"stale plan: target: the plan was made for {bao.address}, not {localhost}; nothing was applied" in r.stderr
    assert catalog(bao) == set()


def test_apply_and_drift_with_credentials_in_the_address(bao: BaoServer, env, tmp_path: Path) -> None:
    m = write(tmp_path / "m.yaml", KV)
    r = reconcile("apply", "-m", m, "--auto-approve", env=env)
    assert r.exit_code == 0, r.output
    assert f"at {bao.address}\n" in r.stdout
    assert "Apply complete: 1 done." in r.stdout
    assert reconcile("drift", "-m", m, env=env).exit_code == 0
    write(m, KV.replace(SHA_A, SHA_B))
    r = reconcile("drift", "-m", m, "--format", "markdown", env=env)
    assert r.exit_code == 2
    assert f"at `{bao.address}`" in r.stdout
    assert f"at `{bao.address}`" in (tmp_path / "summary.md").read_text()


def test_error_messages_never_show_the_credentials(bao: BaoServer, env, tmp_path: Path) -> None:
    m = write(tmp_path / "m.yaml", KV)
    with bao.client() as c:
        c.put("/v1/sys/policy/reader", json={"policy": 'path "sys/plugins/catalog" { capabilities = ["read"] }'})
        weak = c.post("/v1/auth/token/create", json={"policies": ["reader"]}).json()["auth"]["client_token"]
    r = reconcile("apply", "-m", m, "--auto-approve", env={**env, "VAULT_TOKEN": weak})
    assert r.exit_code == 1
    assert "POST /v1/sys/plugins/catalog/secret/kv-extra: 403 permission denied" in r.stdout
    assert catalog(bao) == set()
    unreachable = f"http://127.0.0.1:{free_port()}"
    r = reconcile("plan", "-m", m, "--address", with_credentials(unreachable), env=env)
    assert r.exit_code == 1
    assert f"Error: GET /v1/sys/seal-status: cannot reach {unreachable}" in r.stderr


def test_nomad_address_credentials_are_never_shown(env, tmp_path: Path) -> None:
    m = write(tmp_path / "m.yaml", "nomad:\n  csi_plugins:\n    - id: aws-ebs0\n")
    unreachable = f"http://127.0.0.1:{free_port()}"
    nomad = with_credentials(unreachable, "nomad:n0mad-pass")
    r = reconcile("check", "-m", m, env={"NOMAD_ADDR": nomad, "NOMAD_TOKEN": "nomad-token-secret"})
    assert r.exit_code == 1
    assert f"cannot reach {unreachable}" in r.stderr
    r = reconcile("plan", "-m", m, "--nomad-address", nomad, env=env)
    assert r.exit_code == 1
    assert f"cannot reach {unreachable}" in r.stderr
