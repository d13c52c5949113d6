"""`reconcile export`: the live catalog as manifests, and the round trip (plan of the export: no changes)."""

from __future__ import annotations

from pathlib import Path

import jsonschema
import pytest
import yaml

from reconciler import manifest
from tests.cli import SHA_A, SHA_B, SHA_C, reconcile, write
from tests.emulator.vault import VaultEmulator
from tests.servers import BaoServer

MODELINE = "# yaml-language-server: $schema=../schema/manifest.schema.json\n"
SECRET_ENV = "hunter2-env-value"


@pytest.fixture
def env(bao: BaoServer) -> dict[str, str]:
    """A catalog registered by hand: versioned, unversioned, args, env, three types, a builtin overridden."""
    for command in ("kv-team", "kv-other", "auth-team", "db-x", "kv-custom"):
        bao.add_plugin_file(command)
    entries = [
        ("secret/kv-team", {"sha256": SHA_A, "command": "kv-team", "version": "1.2.0", "args": ["-tls-skip-verify"]}),
        ("secret/kv-team", {"sha256": SHA_B, "command": "kv-team", "version": "v1.10.0", "env": [f"K={SECRET_ENV}"]}),
        ("secret/kv-team", {"sha256": SHA_C, "command": "kv-team"}),
        ("secret/kv-other", {"sha256": SHA_A, "command": "kv-other", "args": ["--x=1", "a b"]}),
        ("auth/auth-team", {"sha256": SHA_B, "command": "auth-team", "version": "0.9.1-rc.1"}),
        ("database/db-x", {"sha256": SHA_C, "command": "db-x", "version": "2.0.0"}),
        ("secret/kv", {"sha256": SHA_A, "command": "kv-custom"}),  # replaces the builtin kv
    ]
    with bao.client() as c:
        for path, body in entries:
            c.post(f"/v1/sys/plugins/catalog/{path}", json=body).raise_for_status()
    return {"VAULT_ADDR": bao.address, "VAULT_TOKEN": bao.token}


def documents(text: str) -> list[dict[str, object]]:
    docs = [d for d in yaml.safe_load_all(text) if d is not None]
    for doc in docs:
        jsonschema.validate(doc, manifest.json_schema())
    return docs


def names(docs: list[dict[str, object]]) -> set[tuple[str, str]]:
    return {(p["type"], p["name"]) for d in docs for p in d.get("plugins", [])}


def test_export_round_trips_on_the_real_openbao(bao: BaoServer, env, tmp_path: Path) -> None:
    r = reconcile("export", env=env)
    assert r.exit_code == 0, r.output
    assert r.stdout.startswith(MODELINE)
    assert "# env: the server never returns a plugin's env" in r.stdout
    docs = documents(r.stdout)
    assert names(docs) == {
        ("auth", "auth-team"),
        ("database", "db-x"),
        ("secret", "kv"),
        ("secret", "kv-other"),
        ("secret", "kv-team"),
    }
    kv_team = next(p for d in docs for p in d.get("plugins", []) if p["name"] == "kv-team")
    assert kv_team["versions"] == [  # unversioned first, then semver order; versions normalised
        {"sha256": SHA_C},
        {"version": "v1.2.0", "sha256": SHA_A, "args": ["-tls-skip-verify"]},
        {"version": "v1.10.0", "sha256": SHA_B},
    ]
    assert "command: kv-custom" in r.stdout  # the override of the builtin kv, with its command
    assert "approle" not in r.stdout  # builtins are not exported
    assert "Exported 7 plugin versions, 0 runtimes and 0 pins." in r.stderr
    assert "env cannot be read from the server" in r.stderr
    assert "--replace TYPE/NAME[@VERSION]" in r.stderr
    for secret in (SECRET_ENV, bao.token):
        assert secret not in r.output
    exported = write(tmp_path / "catalog.yaml", r.stdout)
    plan = reconcile("plan", "-m", exported, "--detailed-exitcode", env=env)
    assert plan.exit_code == 0, plan.output
    assert "No changes: the catalog matches the manifests." in plan.stdout
    assert reconcile("export", env=env).stdout == r.stdout  # byte-identical re-export


def test_export_out_writes_one_file_per_type_and_refuses_to_overwrite(bao: BaoServer, env, tmp_path: Path) -> None:
    out = tmp_path / "new" / "manifests"
    r = reconcile("export", "--out", out, env=env)
    assert r.exit_code == 0, r.output
    assert r.stdout == ""
    assert sorted(p.name for p in out.iterdir()) == ["auth.yaml", "database.yaml", "secret.yaml"]
    first = {p.name: p.read_text() for p in out.iterdir()}
    for name, text in first.items():
        assert text.startswith(MODELINE), name
        assert "# env: the server never returns a plugin's env" in text
        assert {t for t, _ in names(documents(text))} == {name.removesuffix(".yaml")}
    assert reconcile("plan", "-m", out, "--detailed-exitcode", env=env).exit_code == 0
    (out / "secret.yaml").write_text("# edited by hand\n")
    r = reconcile("export", "--out", out, env=env)
    assert r.exit_code == 1
    assert "refusing to overwrite" in r.stderr
    assert "Hint: pass --force" in r.stderr
    assert (out / "secret.yaml").read_text() == "# edited by hand\n"  # nothing written
    r = reconcile("export", "--out", out, "--force", env=env)
    assert r.exit_code == 0, r.output
    assert {p.name: p.read_text() for p in out.iterdir()} == first
    notdir = write(tmp_path / "file.yaml", "x")
    r = reconcile("export", "--out", notdir, env=env)
    assert r.exit_code == 1
    assert "is not a folder" in r.stderr


def test_export_select_ignores_the_rest_so_the_first_plan_prunes_nothing(bao: BaoServer, env, tmp_path: Path) -> None:
    out = tmp_path / "m"
    r = reconcile("export", "--out", out, "--select", "secret/kv-*", "--select", "auth/*", env=env)
    assert r.exit_code == 0, r.output
    assert sorted(p.name for p in out.iterdir()) == ["auth.yaml", "secret.yaml", "settings.yaml"]
    exported = [d for p in sorted(out.iterdir()) for d in documents(p.read_text())]
    assert names(exported) == {("auth", "auth-team"), ("secret", "kv-other"), ("secret", "kv-team")}
    settings = (out / "settings.yaml").read_text()
    assert "keeps the first plan\n# from pruning them" in settings
    assert yaml.safe_load(settings) == {"settings": {"ignore": ["database/db-x", "secret/kv"]}}
    assert "Not selected, written as settings.ignore" in r.stderr
    plan = reconcile("plan", "-m", out, "--detailed-exitcode", env=env)
    assert plan.exit_code == 0, plan.output
    r = reconcile("export", "--select", "nomatch/*", env=env)
    assert r.exit_code == 1
    assert "Error: --select nomatch/*: no catalog entry matches" in r.stderr
    r = reconcile("export", "--select", "kv-team", env=env)
    assert r.exit_code == 1
    assert "must have the form 'type/name'" in r.stderr


def test_export_of_an_empty_catalog_is_a_valid_manifest(bao: BaoServer, tmp_path: Path) -> None:
    env = {"VAULT_ADDR": bao.address, "VAULT_TOKEN": bao.token}
    r = reconcile("export", env=env)
    assert r.exit_code == 0, r.output
    assert documents(r.stdout) == [{"plugins": []}]
    m = write(tmp_path / "m.yaml", r.stdout)
    assert reconcile("plan", "-m", m, "--detailed-exitcode", env=env).exit_code == 0


def test_export_without_a_server_address_is_a_clear_error() -> None:
    r = reconcile("export", env={})
    assert r.exit_code == 1
    assert "Error: no server address" in r.stderr


def test_export_runtimes_and_pins_from_vault_round_trip(served_vault, tmp_path: Path) -> None:
    _, url = served_vault
    env = {"VAULT_ADDR": url, "VAULT_TOKEN": "root"}
    text = f"""
plugins:
  - name: kv-extra
    type: secret
    versions:
      - {{version: 1.0.0, sha256: {SHA_A}, oci_image: ghcr.io/example/kv-extra, runtime: gvisor}}
      - {{version: 2.0.0, sha256: {SHA_B}}}
  - name: other
    type: auth
    versions:
      - {{version: 0.1.0, sha256: {SHA_C}}}
runtimes:
  - {{name: gvisor, cpu_nanos: 1000, rootless: true}}
  - {{name: spare, oci_runtime: runc}}
pins:
  - {{type: secret, name: kv-extra, version: 2.0.0}}
  - {{type: auth, name: other, version: 0.1.0}}
"""
    assert reconcile("apply", "--auto-approve", "-m", write(tmp_path / "src.yaml", text), env=env).exit_code == 0
    out = tmp_path / "m"
    r = reconcile("export", "--out", out, env=env)
    assert r.exit_code == 0, r.output
    assert "Exported 3 plugin versions, 2 runtimes and 2 pins." in r.stderr
    assert sorted(p.name for p in out.iterdir()) == ["auth.yaml", "runtimes.yaml", "secret.yaml"]
    assert documents((out / "runtimes.yaml").read_text()) == [
        {
            "runtimes": [
                {"name": "gvisor", "cpu_nanos": 1000, "rootless": True},
                {"name": "spare", "oci_runtime": "runc"},
            ]
        }
    ]
    assert documents((out / "secret.yaml").read_text())[0]["pins"] == [
        {"type": "secret", "name": "kv-extra", "version": "v2.0.0"}
    ]
    plan = reconcile("plan", "-m", out, "--detailed-exitcode", env=env)
    assert plan.exit_code == 0, plan.output
    # a selection keeps the runtime its plugins use, and ignores the unselected plugin (and its pin)
    sel = tmp_path / "sel"
    r = reconcile("export", "--out", sel, "--select", "secret/*", env=env)
    assert r.exit_code == 0, r.output
    settings = yaml.safe_load((sel / "settings.yaml").read_text())
    assert settings == {"settings": {"ignore": ["auth/other", "container/spare"]}}
    assert [r["name"] for r in documents((sel / "runtimes.yaml").read_text())[0]["runtimes"]] == ["gvisor"]
    assert reconcile("plan", "-m", sel, "--detailed-exitcode", env=env).exit_code == 0


def test_export_leaves_out_openbao_declarative_entries(served_openbao, tmp_path: Path) -> None:
    emu, url = served_openbao
    assert isinstance(emu, VaultEmulator)
    env = {"VAULT_ADDR": url, "VAULT_TOKEN": "root"}
    emu.add_declarative_plugin("secret", "decl", "v1.0.0", sha256=SHA_A)
    r = reconcile("export", env=env)
    assert r.exit_code == 0, r.output
    assert "decl" not in r.stdout
    assert (
        "Left out (reconcile never changes it): secret/decl v1.0.0: declared in the OpenBao server configuration"
        in r.stderr
    )
    m = write(tmp_path / "m.yaml", r.stdout)
    assert reconcile("plan", "-m", m, "--detailed-exitcode", env=env).exit_code == 0
