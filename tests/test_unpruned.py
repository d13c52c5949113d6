"""With prune off, live entries no manifest declares are reported as information, not silence."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.cli import SHA_A, SHA_B, reconcile, write
from tests.servers import BaoServer

KV = f"""
plugins:
  - name: kv-extra
    type: secret
    versions:
      - version: 1.4.2
        sha256: {SHA_A}
settings:
  prune: {{prune}}
  ignore: ["secret/legacy-*"]
"""


@pytest.fixture
def env(bao: BaoServer) -> dict[str, str]:
    for command in ("kv-extra", "stray", "legacy-x"):
        bao.add_plugin_file(command)
    env = {"VAULT_ADDR": bao.address, "VAULT_TOKEN": bao.token}
    with bao.client() as c:
        for path, body in [
            ("secret/kv-extra", {"sha256": SHA_A, "command": "kv-extra", "version": "v1.4.2"}),
            ("secret/stray", {"sha256": SHA_B, "command": "stray"}),
            ("auth/stray", {"sha256": SHA_B, "command": "stray", "version": "v0.1.0"}),
            ("secret/legacy-x", {"sha256": SHA_B, "command": "legacy-x"}),  # ignored: never listed
        ]:
            c.post(f"/v1/sys/plugins/catalog/{path}", json=body).raise_for_status()
    return env


def test_drift_lists_unmanaged_entries_when_prune_is_off_and_exits_0(env, tmp_path: Path) -> None:
    m = write(tmp_path / "m.yaml", KV.format(prune="false"))
    r = reconcile("drift", "-m", m, env=env)
    assert r.exit_code == 0, r.output
    assert (
        "2 unmanaged entries, not pruned because prune is off: auth/stray v0.1.0, secret/stray (unversioned)."
        in r.stdout
    )
    assert "In sync: the cluster matches git." in r.stdout
    assert "legacy-x" not in r.stdout
    data = json.loads(reconcile("drift", "-m", m, "--format", "json", env=env).stdout)
    assert data["unpruned"] == ["auth/stray v0.1.0", "secret/stray (unversioned)"]
    assert data["drift"]["found"] is False
    md = reconcile("drift", "-m", m, "--format", "markdown", env=env).stdout
    assert "2 unmanaged entries, not pruned because prune is off: `auth/stray v0.1.0`" in md


def test_plan_no_prune_says_how_many_it_left(env, tmp_path: Path) -> None:
    m = write(tmp_path / "m.yaml", KV.format(prune="true"))
    r = reconcile("plan", "-m", m, "--no-prune", "--detailed-exitcode", env=env)
    assert r.exit_code == 0, r.output
    assert "No changes: the catalog matches the manifests." in r.stdout
    assert "2 unmanaged entries, not pruned because prune is off. `reconcile drift` lists them." in r.stdout


def test_with_prune_on_they_are_deletions_not_information(env, tmp_path: Path) -> None:
    m = write(tmp_path / "m.yaml", KV.format(prune="true"))
    r = reconcile("drift", "-m", m, env=env)
    assert r.exit_code == 2
    assert "Unmanaged live (2):" in r.stdout
    assert "not pruned because prune is off" not in r.stdout
    assert json.loads(reconcile("plan", "-m", m, "--format", "json", env=env).stdout)["unpruned"] == []
