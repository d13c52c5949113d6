"""Nomad CSI checks inside plan, drift and apply: every format, exit codes (issue 6), against the
Nomad fake and a real OpenBao, both on 127.0.0.1."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.cli import SHA_A, reconcile, write
from tests.emulator.nomad import NomadFake
from tests.servers import BaoServer, free_port

MANIFEST = f"""
plugins:
  - {{name: kv-extra, type: secret, versions: [{{version: 1.0.0, sha256: {SHA_A}}}]}}
nomad:
  csi_plugins:
    - id: ebs
      provider: ebs.csi.aws.com
      nodes_healthy: 2
"""


@pytest.fixture
def env(bao: BaoServer, served_nomad: tuple[NomadFake, str]) -> dict[str, str]:
    fake, url = served_nomad
    bao.add_plugin_file("kv-extra")
    fake.register_job("ebs-nodes", "ebs", "node", count=2)
    fake.register_job("other-nodes", "hostpath", "node", count=1)
    fake.fingerprint("ebs", "n1", "node")
    fake.fingerprint("hostpath", "n1", "node", provider="hostpath.csi.k8s.io")
    return {"VAULT_ADDR": bao.address, "VAULT_TOKEN": bao.token, "NOMAD_ADDR": url}


def test_failing_check_is_drift_even_when_the_catalog_matches(env, served_nomad, tmp_path: Path) -> None:
    fake, _ = served_nomad
    m = write(tmp_path / "m.yaml", MANIFEST)
    r = reconcile("apply", "--auto-approve", "-m", m, env=env)
    assert r.exit_code == 0, r.output
    assert "  FAIL ebs: 1 of 2 nodes healthy, need 2" in r.stdout
    assert "Nomad: 1 of 1 check failing. (apply does not change Nomad)" in r.stdout
    r = reconcile("plan", "-m", m, "--detailed-exitcode", env=env)
    assert r.exit_code == 2
    assert "Nomad CSI plugins:\n  FAIL ebs: 1 of 2 nodes healthy, need 2\n  unmanaged: hostpath\n" in r.stdout
    assert "No changes: the catalog matches the manifests." in r.stdout
    r = reconcile("drift", "-m", m, env=env)
    assert r.exit_code == 2
    assert "Drift: 1 difference between the cluster and git." in r.stdout
    fake.fingerprint("ebs", "n2", "node")
    r = reconcile("drift", "-m", m, env=env)
    assert r.exit_code == 0, r.output
    assert "  ok   ebs" in r.stdout
    assert "In sync" in r.stdout
    assert reconcile("plan", "-m", m, "--detailed-exitcode", env=env).exit_code == 0


def test_checks_in_json_and_markdown(env, tmp_path: Path) -> None:
    m = write(tmp_path / "m.yaml", MANIFEST)
    data = json.loads(reconcile("plan", "-m", m, "-f", "json", env=env).stdout)
    assert data["checks"] == [
        {"kind": "nomad_csi_plugin", "id": "ebs", "ok": False, "reason": "1 of 2 nodes healthy, need 2"}
    ]
    assert data["unmanaged_csi_plugins"] == ["hostpath"]
    drift = json.loads(reconcile("drift", "-m", m, "-f", "json", env=env).stdout)
    assert drift["drift"]["found"] is True
    assert drift["checks"] == data["checks"]
    md = reconcile("plan", "-m", m, "-f", "markdown", env=env).stdout
    assert "| `ebs` | ❌ 1 of 2 nodes healthy, need 2 |" in md
    assert "Unmanaged: `hostpath`" in md


def test_unreachable_nomad_is_an_error_for_plan(env, tmp_path: Path) -> None:
    m = write(tmp_path / "m.yaml", MANIFEST)
    r = reconcile("plan", "-m", m, "--nomad-address", f"http://127.0.0.1:{free_port()}", env=env)
    assert r.exit_code == 1
    assert "cannot reach http://127.0.0.1:" in r.stderr


def test_no_nomad_section_sends_no_nomad_request(env, served_nomad, tmp_path: Path) -> None:
    fake, _ = served_nomad
    m = write(tmp_path / "m.yaml", MANIFEST.split("nomad:", maxsplit=1)[0])
    assert reconcile("plan", "-m", m, env=env).exit_code == 0
    assert fake.requests == []
