"""Twenty targets at once, on OpenBao emulators served from one uvicorn (issue #15): concurrency bounded by
--target-parallelism, a failure in one target that spares the other nineteen, saved plans, and the markdown
comment of a big fleet within GitHub's limit."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from tests.cli import SHA_A, SHA_B, reconcile
from tests.emulator.nomad import NomadFake
from tests.emulator.nomad_fixtures import serve_nomad
from tests.fleet_fixtures import Gate, Served, token_env, write_targets

KV = f"""\
plugins:
  - name: kv-extra
    type: secret
    versions:
      - version: 1.0.0
        sha256: {SHA_A}
"""

Fleet = Callable[..., list[Served]]


def _repo(clusters: list[Served], root: Path, monkeypatch: pytest.MonkeyPatch, **manifests: str) -> None:
    for cluster in clusters:
        assert cluster.emulator is not None
        assert cluster.emulator.plugin_dir is not None
        (cluster.emulator.plugin_dir / "kv-extra").write_text("#!/bin/sh\nexit 1\n")
        (cluster.emulator.plugin_dir / "kv-extra").chmod(0o755)
    write_targets(root, clusters, {"base": KV, **manifests})
    monkeypatch.chdir(root)


@pytest.mark.parametrize(("option", "expected"), [((), 4), (("--target-parallelism", "7"), 7)])
def test_twenty_targets_are_planned_at_most_n_at_a_time(
    emulator_fleet: Fleet, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, option: tuple[str, ...], expected: int
) -> None:
    gate = Gate(expect=expected)
    clusters = emulator_fleet(20, gate=gate)
    _repo(clusters, tmp_path, monkeypatch)
    r = reconcile("plan", "--detailed-exitcode", *option, env=token_env(clusters))
    assert r.exit_code == 2, r.output
    assert gate.most == expected  # the gate lets a wave through only when `expected` targets wait at once
    names = [line.strip("= ") for line in r.stdout.splitlines() if line.startswith("=== ")]
    assert names == [f"t{i:02d}" for i in range(1, 21)]  # the file's order, whatever order they finished in
    assert r.stdout.endswith(
        "20 targets: 20 with changes (t01, t02, t03, t04, t05, t06, t07, t08, t09, t10 and 10 more).\n"
    )


def test_a_failing_target_does_not_stop_the_other_nineteen(
    emulator_fleet: Fleet, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    clusters = emulator_fleet(20)
    _repo(clusters, tmp_path, monkeypatch)
    broken = clusters[6].emulator
    assert broken is not None
    broken.inject_fault("GET", r"^/v1/sys/plugins/catalog$", 500, ["internal error"], times=100)
    r = reconcile("apply", "--auto-approve", "--format", "json", env=token_env(clusters))
    assert r.exit_code == 1, r.output
    document = json.loads(r.stdout)
    failed = [t["name"] for t in document["targets"] if t["error"]]
    assert failed == ["t07"]
    assert document["targets"][6] == {
        "name": "t07",
        "target": {"address": clusters[6].address},
        "error": "GET /v1/sys/plugins/catalog: 500 internal error",
    }
    for cluster in clusters:
        assert cluster.emulator is not None
        registered = ("secret", "kv-extra", "v1.0.0") in cluster.emulator.catalog
        assert registered is (cluster.name != "t07")
    assert "t07: Error: GET /v1/sys/plugins/catalog: 500 internal error" in r.stderr


def test_a_saved_plan_of_twenty_targets_is_refused_whole_when_one_is_stale(
    emulator_fleet: Fleet, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    clusters = emulator_fleet(20)
    _repo(clusters, tmp_path, monkeypatch)
    env = token_env(clusters)
    assert reconcile("plan", "--out", "plan.json", env=env).exit_code == 0
    stale = clusters[19].emulator
    assert stale is not None
    stale.register_plugin("secret", "kv-extra", version="v1.0.0", sha256=SHA_B, command="kv-extra")
    r = reconcile("apply", "plan.json", "--format", "json", env=env)
    assert r.exit_code == 1, r.output
    errors = {t["name"]: t["error"] for t in json.loads(r.stdout)["targets"]}
    assert errors["t20"].startswith("stale plan: secret/kv-extra v1.0.0: registered on the server; nothing was")
    assert all(errors[c.name] == "nothing was applied: the saved plan cannot be applied to t20" for c in clusters[:19])
    assert all(c.emulator is not None and not c.emulator.catalog for c in clusters[:19])


def test_the_markdown_of_twenty_big_plans_stays_under_githubs_limit(
    emulator_fleet: Fleet, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    clusters = emulator_fleet(20)
    many = "plugins:\n" + "".join(
        f"  - name: kv-{i:03d}\n    type: secret\n    versions:\n      - version: 1.0.{i}\n        sha256: {SHA_A}\n"
        f"        command: kv-extra\n        args: ['-some-fairly-long-argument-{i:03d}']\n"
        for i in range(120)
    )
    _repo(clusters, tmp_path, monkeypatch, base=many)
    r = reconcile("plan", "--format", "markdown", env=token_env(clusters))
    assert r.exit_code == 0, r.output
    assert len(r.stdout) < 65_536
    assert r.stdout.startswith("### reconcile plan: 20 targets\n\n| target | address | result |\n")
    assert r.stdout.count("<details><summary><b>t") == 20  # every target keeps its section
    assert "| **t20** |" in r.stdout
    assert "✏️ 120 to register, 0 to update, 0 to delete" in r.stdout
    assert "changes are not shown: the comment would exceed GitHub's 65,536 characters" in r.stdout
    summary = tmp_path / "summary.md"
    env = {**token_env(clusters), "GITHUB_STEP_SUMMARY": str(summary)}
    assert reconcile("plan", env=env).exit_code == 0
    assert summary.read_text() == r.stdout + "\n"  # the job summary gets the same combined markdown


def test_check_runs_each_targets_nomad_checks_against_its_own_nomad(
    emulator_fleet: Fleet, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    healthy, empty = NomadFake(), NomadFake()
    healthy.register_job("ebs-nodes", "aws-ebs0", "node", count=1)
    healthy.fingerprint("aws-ebs0", "n0", "node")
    clusters = emulator_fleet(3)
    with serve_nomad(healthy) as good_url, serve_nomad(empty) as empty_url:
        nomad = "nomad:\n  csi_plugins:\n    - id: aws-ebs0\n"
        for cluster in clusters:
            assert cluster.emulator is not None
        write_targets(
            tmp_path,
            clusters,
            {"t01": nomad, "t02": nomad},
            more={"t01": f"nomad_address: {good_url}", "t02": f"nomad_address: {empty_url}"},
        )
        monkeypatch.chdir(tmp_path)
        r = reconcile("check", env=token_env(clusters))
        json_run = reconcile("check", "--format", "json", env=token_env(clusters))
    assert r.exit_code == 2, r.output
    assert "=== t01 ===\n  ok   aws-ebs0\nAll 1 check passes.\n" in r.stdout
    assert "=== t02 ===\n  FAIL aws-ebs0: missing\n" in r.stdout
    assert r.stdout.endswith("3 targets: 1 failing checks (t02), 2 passing (t01, t03).\n")
    targets = json.loads(json_run.stdout)["targets"]
    assert [(t["name"], [c["ok"] for c in t["checks"]], t["error"]) for t in targets] == [
        ("t01", [True], None),
        ("t02", [False], None),
        ("t03", [], None),
    ]
    assert all(c.emulator is not None and not c.emulator.requests for c in clusters)  # check never asks Vault


def test_check_wait_waits_for_every_target_at_once(
    emulator_fleet: Fleet, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    healthy = NomadFake()
    healthy.register_job("ebs-nodes", "aws-ebs0", "node", count=1)
    healthy.fingerprint("aws-ebs0", "n0", "node")
    clusters = emulator_fleet(2)
    with serve_nomad(healthy) as url:
        nomad = "nomad:\n  csi_plugins:\n    - id: aws-ebs0\n"
        write_targets(
            tmp_path,
            clusters,
            {"t01": nomad, "t02": nomad},
            more={"t01": f"nomad_address: {url}", "t02": f"nomad_address: {url}"},
        )
        monkeypatch.chdir(tmp_path)
        r = reconcile("check", "--wait", "30s", "--format", "json", env=token_env(clusters))
    assert r.exit_code == 0, r.output
    assert [t["checks"][0]["ok"] for t in json.loads(r.stdout)["targets"]] == [True, True]
    assert "Traceback" not in r.stderr


def test_drift_and_status_of_several_targets_report_mounts_not_running_what_they_should(
    emulator_fleet: Fleet, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """As `reconcile drift` of one target does (the status inventory's mismatches), per target."""
    clusters = emulator_fleet(2)
    _repo(clusters, tmp_path, monkeypatch)
    env = token_env(clusters)
    assert reconcile("apply", "--auto-approve", env=env).exit_code == 0
    emu = clusters[0].emulator
    assert emu is not None
    emu.register_plugin("secret", "gone", version="v1.0.0", command="kv-extra")
    emu.add_mount("orphan/", "gone", plugin_version="v1.0.0")
    deleted = httpx.delete(
        f"{clusters[0].address}/v1/sys/plugins/catalog/secret/gone",
        params={"version": "v1.0.0"},
        headers={"X-Vault-Token": clusters[0].token},
    )
    assert deleted.status_code == 204
    r = reconcile("drift", env=env)
    assert r.exit_code == 2, r.output
    first, second = r.stdout.split("=== t02 ===")
    assert "Mounts not running what they should (1):" in first
    assert "orphan/" in first
    assert "In sync: the cluster matches git." in second
    assert r.stdout.endswith("2 targets: 1 drifted (t01), 1 in sync (t02).\n")
    status = reconcile("status", "--target", "t01", "--format", "json", env=env)
    assert status.exit_code == 0, status.output
    doc = json.loads(status.stdout)
    assert doc["target"]["address"] == clusters[0].address
    assert [(m["path"], m["verdict"]) for p in doc["plugins"] for m in p["mounts"]] == [
        ("orphan/", "plugin missing from the catalog")
    ]
    both = reconcile("status", env=env)
    assert both.exit_code == 1
    assert "Error: status works on one target: pass --target NAME" in both.stderr
