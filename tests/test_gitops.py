"""Saved plans, drift, markdown, step summaries and the schema (issue 5)."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest
import yaml

from reconciler import drift, manifest
from reconciler.diff import diff
from reconciler.plan import build_plan
from reconciler.render import markdown
from reconciler.resources import Mount, Settings
from tests.cli import SHA_A, SHA_B, reconcile, write
from tests.factories import SHA2, VAULT, desired, live, live_plugin, pin, plugin
from tests.servers import BaoServer

ROOT = Path(__file__).resolve().parent.parent
GOLDEN = Path(__file__).parent / "golden"

KV = f"""
plugins:
  - name: kv-extra
    type: secret
    versions:
      - version: 1.4.2
        sha256: {SHA_A}
        env: {{TOKEN: very-secret-value}}
"""


@pytest.fixture
def env(bao: BaoServer) -> dict[str, str]:
    bao.add_plugin_file("kv-extra")
    bao.add_plugin_file("stray")
    return {"VAULT_ADDR": bao.address, "VAULT_TOKEN": bao.token}


# -- saved plans -------------------------------------------------------------------------------


def test_saved_plan_round_trip_applies_exactly_and_has_no_secrets(bao: BaoServer, env, tmp_path: Path) -> None:
    m = write(tmp_path / "manifests" / "m.yaml", KV)
    out = tmp_path / "plan.json"
    r = reconcile("plan", "-m", m.parent, "--out", out, env=env)
    assert r.exit_code == 0, r.output
    text = out.read_text()
    assert "very-secret-value" not in text
    assert bao.token not in json.loads(text)["target"].values()
    data = json.loads(text)
    assert data["format_version"] == 1
    assert len(data["saved"]["manifests_digest"]) == 64
    assert len(data["saved"]["live_fingerprint"]) == 64
    assert [c["action"] for c in data["changes"]] == ["create"]
    r = reconcile("apply", out, "-m", m.parent, env=env)
    assert r.exit_code == 0, r.output
    assert "Apply complete: 1 done." in r.stdout
    assert "No changes" in reconcile("plan", "-m", m.parent, env=env).stdout


def test_saved_plan_is_stale_after_a_live_change(bao: BaoServer, env, tmp_path: Path) -> None:
    m = write(tmp_path / "manifests" / "m.yaml", KV)
    out = tmp_path / "plan.json"
    assert reconcile("plan", "-m", m.parent, "--out", out, env=env).exit_code == 0
    with bao.client() as c:
        c.post("/v1/sys/plugins/catalog/secret/stray", json={"sha256": SHA_B, "command": "stray"}).raise_for_status()
    r = reconcile("apply", out, "-m", m.parent, env=env)
    assert r.exit_code == 1
    assert "Error: stale plan: secret/stray (unversioned): registered on the server; nothing was applied" in r.stderr
    with bao.client() as c:
        detailed = c.get("/v1/sys/plugins/catalog").json()["data"]["detailed"]
    assert [e["name"] for e in detailed if not e["builtin"]] == ["stray"]


def test_saved_plan_is_stale_after_a_manifest_change(bao: BaoServer, env, tmp_path: Path) -> None:
    m = write(tmp_path / "manifests" / "m.yaml", KV)
    out = tmp_path / "plan.json"
    assert reconcile("plan", "-m", m.parent, "--out", out, env=env).exit_code == 0
    write(m, KV.replace("very-secret-value", "rotated-secret"))
    r = reconcile("apply", out, "-m", m.parent, env=env)
    assert r.exit_code == 1
    assert "stale plan: secret/kv-extra v1.4.2: env changed in the manifests (values not shown)" in r.stderr
    assert "rotated-secret" not in r.output


def test_apply_refuses_a_file_that_is_not_a_saved_plan(env, tmp_path: Path) -> None:
    m = write(tmp_path / "m.yaml", KV)
    bogus = write(tmp_path / "x.json", '{"format_version": 1, "changes": []}')
    r = reconcile("apply", bogus, "-m", m, env=env)
    assert r.exit_code == 1
    assert "not a saved plan (write one with `reconcile plan --out FILE`)" in r.stderr
    r = reconcile("apply", tmp_path / "nope.json", "-m", m, env=env)
    assert "cannot read" in r.stderr


# -- drift -------------------------------------------------------------------------------------


def test_drift_exit_codes_against_the_real_server(bao: BaoServer, env, tmp_path: Path) -> None:
    m = write(tmp_path / "m.yaml", KV)
    r = reconcile("drift", "-m", m, env=env)
    assert r.exit_code == 2
    assert "Missing live (1):" in r.stdout
    assert reconcile("apply", "--auto-approve", "-m", m, env=env).exit_code == 0
    r = reconcile("drift", "-m", m, env=env)
    assert r.exit_code == 0, r.output
    assert "In sync: the cluster matches git." in r.stdout
    with bao.client() as c:
        c.post("/v1/sys/plugins/catalog/secret/stray", json={"sha256": SHA_B, "command": "stray"}).raise_for_status()
        c.post(
            "/v1/sys/plugins/catalog/secret/kv-extra", json={"sha256": SHA_B, "command": "kv-extra", "version": "1.4.2"}
        ).raise_for_status()
    r = reconcile("drift", "-m", m, "--format", "json", env=env)
    assert r.exit_code == 2
    groups = json.loads(r.stdout)["drift"]["groups"]
    assert [c["name"] for c in groups["changed"]] == ["kv-extra"]
    assert [c["name"] for c in groups["unmanaged"]] == ["stray"]
    assert groups["missing"] == []
    r = reconcile("drift", "-m", m, "--address", "http://127.0.0.1:1", env=env)
    assert r.exit_code == 1
    assert reconcile("plan", "-m", m, "--detailed-exitcode", env=env).exit_code == 2


# -- markdown ----------------------------------------------------------------------------------


def _sample_plan():
    mounts = (Mount(path="team-a/", plugin="kv-extra", running_plugin_version="v0.9.0"),)
    want = desired(
        plugin("kv-extra", "v1.0.0", sha=SHA2, env={"TOKEN": "s3cr3t"}),
        plugin("new-one", "v2.0.0", args=("-x",)),
        pins=(pin("kv-extra", "v1.0.0"),),
        settings=Settings(reload="changed"),
    )
    have = live(live_plugin("kv-extra", "v1.0.0"), live_plugin("kv-extra", "v0.9.0"), server=VAULT, mounts=mounts)
    return build_plan(diff(want, have), have, want.state.settings, "https://vault.example:8200")


def _golden(name: str, text: str) -> None:
    path = GOLDEN / name
    assert text == path.read_text(), f"golden file {path} differs; regenerate it if the change is intended"


def test_markdown_plan_golden() -> None:
    text = markdown.render_plan(_sample_plan())
    assert "s3cr3t" not in text
    _golden("plan.md", text)


def test_markdown_drift_golden() -> None:
    _golden("drift.md", markdown.render_drift(drift.detect(_sample_plan())))


def test_markdown_in_sync() -> None:
    text = markdown.render_plan(build_plan([], live(), Settings(), "http://v"))
    assert "✅ No changes: the catalog matches the manifests." in text


def test_markdown_truncates_a_5000_change_plan_under_githubs_limit() -> None:
    plugins = [plugin(f"p{i:04d}", "v1.0.0", args=("-flag",) * 3) for i in range(5000)]
    plan = build_plan(diff(desired(*plugins), live()), live(), Settings(), "http://v")
    text = markdown.render_plan(plan)
    assert len(text) <= markdown.GITHUB_LIMIT
    assert "| ➕ create | 5000 |" in text
    shown = text.count("<details>")
    assert 0 < shown < 5000
    assert f"> ⚠️ {5000 - shown} of 5000 changes are not shown" in text


def test_markdown_lists_blocked_changes_first() -> None:
    mounts = (Mount(path="m/", plugin="b", running_plugin_version="v1.0.0"),)
    have = live(live_plugin("a"), live_plugin("b"), mounts=mounts)
    plan = build_plan(diff(desired(), have), have, Settings(), "http://v")
    text = markdown.render_plan(plan)
    assert text.index("secret/b v1.0.0") < text.index("secret/a v1.0.0")
    assert "⛔ **blocked:** v1.0.0 is in use by mounts: m/" in text


def test_step_summary_is_appended_by_plan_apply_and_drift(env, tmp_path: Path) -> None:
    summary = write(tmp_path / "summary.md", "earlier step\n")
    m = write(tmp_path / "m.yaml", KV)
    step_env = {**env, "GITHUB_STEP_SUMMARY": str(summary)}
    assert reconcile("plan", "-m", m, env=step_env).exit_code == 0
    assert reconcile("apply", "--auto-approve", "-m", m, env=step_env).exit_code == 0
    assert reconcile("drift", "-m", m, env=step_env).exit_code == 0
    text = summary.read_text()
    assert text.startswith("earlier step\n")
    assert text.count("### reconcile plan") == 1
    assert text.count("### reconcile apply") == 1
    assert "✅ Apply complete: 1 done" in text
    assert "✅ In sync: the cluster matches git." in text
    assert "very-secret-value" not in text


# -- schema ------------------------------------------------------------------------------------


def test_schema_command_matches_the_committed_schema_file() -> None:
    r = reconcile("schema")
    assert r.exit_code == 0
    assert json.loads(r.stdout) == json.loads((ROOT / "schema" / "manifest.schema.json").read_text())


def _documents(path: Path) -> list[object]:
    return [d for d in yaml.safe_load_all(path.read_text()) if d is not None]


def test_schema_validates_the_example_manifests() -> None:
    schema = manifest.json_schema()
    files = sorted((ROOT / "manifests").rglob("*.yaml")) + sorted((ROOT / "examples").rglob("*.yaml"))
    assert files
    for path in files:
        assert path.read_text().startswith("# yaml-language-server: $schema="), path
        for document in _documents(path):
            jsonschema.validate(document, schema)


@pytest.mark.parametrize(
    "document",
    [
        {"plugins": [{"name": "x", "type": "secrets", "versions": [{"sha256": SHA_A}]}]},
        {"plugins": [{"name": "x", "type": "secret", "versions": []}]},
        {"plugins": [{"name": "x", "type": "secret", "versions": [{"sha256": SHA_A, "shaa": 1}]}]},
        {"plugin": []},
        {"settings": {"prune": "yes"}},
        {"runtimes": [{"name": "r", "cpu_nanos": -1}]},
    ],
)
def test_schema_rejects_bad_documents(document: dict[str, object]) -> None:
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(document, manifest.json_schema())
