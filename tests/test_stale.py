"""Stale saved plans say what changed, per entry: in the manifests, on the server, or the target."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from reconciler import stale
from tests.cli import SHA_A, SHA_B, SHA_C, reconcile, write
from tests.servers import BaoServer

KV = f"""
plugins:
  - name: kv-extra
    type: secret
    versions:
      - version: 1.4.2
        sha256: {SHA_A}
        args: ["-tls-skip-verify"]
        env: {{API_KEY: hunter2-secret}}
settings:
  prune: true
"""


@pytest.fixture
def env(bao: BaoServer) -> dict[str, str]:
    for command in ("kv-extra", "stray"):
        bao.add_plugin_file(command)
    return {"VAULT_ADDR": bao.address, "VAULT_TOKEN": bao.token}


def register(bao: BaoServer, path: str, **body: object) -> None:
    with bao.client() as c:
        c.post(f"/v1/sys/plugins/catalog/{path}", json=body).raise_for_status()


def non_builtin(bao: BaoServer) -> set[tuple[str, str, str]]:
    with bao.client() as c:
        detailed = c.get("/v1/sys/plugins/catalog").json()["data"]["detailed"]
    return {(e["type"], e["name"], e["version"]) for e in detailed if not e["builtin"]}


def saved_plan(env: dict[str, str], m: Path, out: Path) -> None:
    r = reconcile("plan", "-m", m, "--out", out, env=env)
    assert r.exit_code == 0, r.output


def stale_apply(env: dict[str, str], m: Path, out: Path) -> str:
    r = reconcile("apply", out, "-m", m, env=env)
    assert r.exit_code == 1, r.output
    assert "Traceback" not in r.output
    assert "Hint: make a new plan with `reconcile plan --out FILE`" in r.stderr
    return r.stderr


def test_live_change_names_the_entry_and_field(bao: BaoServer, env, tmp_path: Path) -> None:
    m = write(tmp_path / "m.yaml", KV)
    register(bao, "secret/kv-extra", sha256=SHA_A, command="kv-extra", version="v1.4.2")
    out = tmp_path / "plan.json"
    saved_plan(env, m, out)
    register(bao, "secret/kv-extra", sha256=SHA_B, command="kv-extra", version="v1.4.2")
    register(bao, "secret/stray", sha256=SHA_C, command="stray")
    err = stale_apply(env, m, out)
    assert (
        "Error: stale plan: secret/kv-extra v1.4.2: sha256 changed on the server (9f86d081…0a08 -> 60303ae2…c752)"
        "; 1 more; nothing was applied\n"
    ) in err
    assert "  secret/stray (unversioned): registered on the server\n" in err
    # nothing was written: the changed entry keeps the server's hash
    assert non_builtin(bao) == {("secret", "kv-extra", "v1.4.2"), ("secret", "stray", "")}


def test_live_delete_is_named(bao: BaoServer, env, tmp_path: Path) -> None:
    m = write(tmp_path / "m.yaml", KV)
    register(bao, "secret/stray", sha256=SHA_C, command="stray")
    out = tmp_path / "plan.json"
    saved_plan(env, m, out)
    bao.reset_catalog()
    err = stale_apply(env, m, out)
    assert "stale plan: secret/stray (unversioned): deleted on the server; nothing was applied" in err


def test_manifest_changes_are_named_per_entry_without_secret_values(bao: BaoServer, env, tmp_path: Path) -> None:
    m = write(tmp_path / "m.yaml", KV)
    out = tmp_path / "plan.json"
    saved_plan(env, m, out)
    assert "hunter2-secret" not in out.read_text()
    # args, an env value and a setting change; a version is added under kv-extra's versions
    changed = KV.replace('["-tls-skip-verify"]', '["-v"]').replace("hunter2-secret", "rotated-secret")
    changed = changed.replace(
        "settings:\n  prune: true", f"      - version: 2.0.0\n        sha256: {SHA_B}\nsettings:\n  prune: false"
    )
    write(m, changed)
    err = stale_apply(env, m, out)
    assert (
        "Error: stale plan: secret/kv-extra v1.4.2: args changed in the manifests (['-tls-skip-verify'] -> ['-v'])"
        "; 3 more; nothing was applied\n"
    ) in err
    assert "  secret/kv-extra v1.4.2: env changed in the manifests (values not shown)\n" in err
    assert "  secret/kv-extra v2.0.0: added to the manifests\n" in err
    assert "  settings.prune changed in the manifests (True -> False)\n" in err
    assert "rotated-secret" not in err
    assert "hunter2-secret" not in err
    assert non_builtin(bao) == set()


def test_removed_entry_and_env_keys(bao: BaoServer, env, tmp_path: Path) -> None:
    two = KV.replace(
        "settings:", f"  - name: stray\n    type: secret\n    versions:\n      - sha256: {SHA_C}\nsettings:"
    )
    m = write(tmp_path / "m.yaml", two)
    out = tmp_path / "plan.json"
    saved_plan(env, m, out)
    write(m, KV.replace("{API_KEY: hunter2-secret}", "{API_KEY: hunter2-secret, LOG_LEVEL: debug}"))
    err = stale_apply(env, m, out)
    assert (
        "secret/kv-extra v1.4.2: env changed in the manifests (keys ['API_KEY'] -> ['API_KEY', 'LOG_LEVEL']; values not shown)"
        in err
    )
    assert "secret/stray (unversioned): removed from the manifests" in err
    assert "debug" not in err


def test_comments_and_formatting_do_not_make_a_plan_stale(bao: BaoServer, env, tmp_path: Path) -> None:
    m = write(tmp_path / "manifests" / "m.yaml", KV)
    out = tmp_path / "plan.json"
    saved_plan(env, m.parent, out)
    reformatted = "# a comment added after the plan\n" + KV.replace(
        'args: ["-tls-skip-verify"]', "args:\n          - -tls-skip-verify  # why"
    ).replace("version: 1.4.2", "version: v1.4.2").replace(SHA_A, SHA_A.upper())
    write(m, reformatted)
    r = reconcile("apply", out, "-m", m.parent, env=env)
    assert r.exit_code == 0, r.output
    assert "Apply complete: 1 done." in r.stdout


def test_other_target_is_named(bao: BaoServer, env, tmp_path: Path) -> None:
    m = write(tmp_path / "m.yaml", KV)
    out = tmp_path / "plan.json"
    saved_plan(env, m, out)
    other = bao.address.replace("127.0.0.1", "localhost")
    err = stale_apply({**env, "VAULT_ADDR": other}, m, out)
    assert f"stale plan: target: the plan was made for {bao.address}, not {other}; nothing was applied" in err


def test_explain_pins_runtimes_mounts_and_server() -> None:
    before = {
        "server": {"server": {"kind": "vault", "version": "1.17.6"}},
        "plugins": {"secret/a v1.0.0": {"sha256": SHA_A, "oci_image": "", "runtime": ""}},
        "runtimes": {"runtime gvisor": {"type": "container", "cpu_nanos": 0}},
        "pins": {"pin secret/a": {"version": "v1.0.0"}},
        "mounts": None,
    }
    after = json.loads(json.dumps(before))
    after["server"]["server"]["version"] = "1.18.0"
    after["runtimes"]["runtime gvisor"]["cpu_nanos"] = 5
    after["pins"] = {}
    after["mounts"] = {"secrets mount kv/": {"plugin": "a"}}  # read now, not then: not a change
    after["plugins"]["secret/a v1.0.0"]["command"] = "a"  # read in full now: not a change
    assert stale.explain(before, after, "on the server") == [
        "pin secret/a: deleted on the server",
        "runtime gvisor: cpu_nanos changed on the server (0 -> 5)",
        "server: version changed on the server ('1.17.6' -> '1.18.0')",
    ]


def test_summary_lists_at_most_twenty() -> None:
    text = stale.summarize([f"r{i}" for i in range(25)], "; nothing was applied")
    lines = text.splitlines()
    assert lines[0] == "r0; 24 more; nothing was applied"
    assert lines[1:3] == ["  r0", "  r1"]
    assert lines[-1] == "  ... and 5 more"
    assert len(lines) == 22
