"""Manifests that declare nothing, or that were not all read, never prune: the real OpenBao, through the CLI."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from reconciler.discovery import NOT_A_MANIFEST
from tests.cli import SHA_A, reconcile, write
from tests.servers import BaoServer

KV = f"""\
plugins:
  - name: kv-extra
    type: secret
    versions:
      - version: 1.4.2
        sha256: {SHA_A}
      - version: 1.5.0
        sha256: {SHA_A}
"""
AUTH = f"""\
plugins:
  - name: auth-x
    type: auth
    versions:
      - sha256: {SHA_A}
"""
SEEDED = {("secret", "kv-extra", "v1.4.2"), ("secret", "kv-extra", "v1.5.0"), ("auth", "auth-x", "")}
REFUSED = (
    "Error: the manifests declare no plugin version, runtime or pin, yet the plan would delete 3 objects from "
    "the catalog: refusing to prune from empty manifests; nothing was changed\n"
    "Hint: check that --manifests points at the right files; to keep the catalog as it is, set "
    "`settings.prune: false` (or pass --no-prune); to really empty it, pass --allow-empty\n"
)


@pytest.fixture
def env(bao: BaoServer) -> dict[str, str]:
    for command in ("kv-extra", "auth-x"):
        bao.add_plugin_file(command)
    return {"VAULT_ADDR": bao.address, "VAULT_TOKEN": bao.token}


def catalog(bao: BaoServer) -> set[tuple[str, str, str]]:
    with bao.client() as c:
        detailed = c.get("/v1/sys/plugins/catalog").json()["data"]["detailed"]
    return {(e["type"], e["name"], e["version"]) for e in detailed if not e["builtin"]}


@pytest.fixture
def seeded(bao: BaoServer, env: dict[str, str], tmp_path: Path) -> Path:
    """The catalog holds what `seed/` declares (applied through the CLI)."""
    seed = tmp_path / "seed"
    write(seed / "kv.yaml", KV)
    write(seed / "auth.yaml", AUTH)
    r = reconcile("apply", "--auto-approve", "-m", seed, env=env)
    assert r.exit_code == 0, r.output
    assert catalog(bao) == SEEDED
    return seed


@pytest.mark.parametrize(
    "files",
    [
        {"empty.yaml": ""},
        {"comments.yaml": "# everything moved elsewhere\n", "nulls.yml": "---\n---\n"},
        {"lists.yaml": "plugins: []\nruntimes: []\npins: []\n", "settings.yaml": "settings: {prune: true}\n"},
        {"settings.yaml": "settings: {reload: changed}\n"},
    ],
    ids=["a-lone-empty-file", "comments-and-nulls", "empty-lists-and-prune-true", "settings-only"],
)
def test_manifests_that_declare_nothing_never_prune(
    files: dict[str, str], bao: BaoServer, env: dict[str, str], seeded: Path, tmp_path: Path
) -> None:
    root = tmp_path / "manifests"
    for name, text in files.items():
        write(root / name, text)
    out = tmp_path / "plan.json"
    for args in (
        ["plan"],
        ["plan", "--out", out, "--format", "json"],
        ["plan", "--detailed-exitcode"],
        ["apply", "--auto-approve"],
        ["apply", "--auto-approve", "--format", "json"],
    ):
        r = reconcile(*args, "-m", root, env=env)
        assert (r.exit_code, r.stdout, r.stderr) == (1, "", REFUSED), args
    assert not out.exists()
    assert catalog(bao) == SEEDED


def test_prune_false_or_no_prune_proceed_without_deleting(
    bao: BaoServer, env: dict[str, str], seeded: Path, tmp_path: Path
) -> None:
    m = write(tmp_path / "m.yaml", "settings: {prune: false}\n")
    for args in (["plan"], ["apply", "--auto-approve"]):
        r = reconcile(*args, "-m", m, env=env)
        assert r.exit_code == 0, r.output
        assert "No changes" in r.stdout
    empty = write(tmp_path / "empty.yaml", "")
    r = reconcile("apply", "--auto-approve", "--no-prune", "-m", empty, env=env)
    assert r.exit_code == 0, r.output
    assert catalog(bao) == SEEDED


def test_allow_empty_really_empties_the_catalog(
    bao: BaoServer, env: dict[str, str], seeded: Path, tmp_path: Path
) -> None:
    empty = write(tmp_path / "manifests" / "empty.yaml", "")
    r = reconcile("plan", "--allow-empty", "-m", empty, env=env)
    assert r.exit_code == 0, r.output
    assert "Plan: 0 to register, 0 to update, 3 to delete." in r.stdout
    r = reconcile("apply", "--auto-approve", "--allow-empty", "-m", empty, env=env)
    assert r.exit_code == 0, r.output
    assert "Apply complete: 3 done." in r.stdout
    assert catalog(bao) == set()
    # Once empty, the same manifests plan nothing and need no flag.
    again = reconcile("plan", "--detailed-exitcode", "-m", empty, env=env)
    assert (again.exit_code, again.stderr) == (0, "")


def test_a_saved_plan_obeys_the_same_rule(bao: BaoServer, env: dict[str, str], seeded: Path, tmp_path: Path) -> None:
    root = write(tmp_path / "manifests" / "empty.yaml", "").parent
    out = tmp_path / "plan.json"
    r = reconcile("plan", "--allow-empty", "--out", out, "-m", root, env=env)
    assert r.exit_code == 0, r.output
    assert json.loads(out.read_text())["summary"]["delete"] == 3
    refused = reconcile("apply", out, "-m", root, env=env)
    assert (refused.exit_code, refused.stdout, refused.stderr) == (1, "", REFUSED)
    assert catalog(bao) == SEEDED
    applied = reconcile("apply", out, "--allow-empty", "-m", root, env=env)
    assert applied.exit_code == 0, applied.output
    assert catalog(bao) == set()


def test_a_symlinked_folder_keeps_what_it_declares(
    bao: BaoServer, env: dict[str, str], seeded: Path, tmp_path: Path
) -> None:
    """Observed before: the linked folder was skipped, and apply deleted everything it declares."""
    root = tmp_path / "manifests"
    write(root / "kv.yaml", KV)
    (root / "auth").symlink_to(seeded, target_is_directory=True)  # auth.yaml (and kv.yaml again) live there
    (seeded / "kv.yaml").unlink()
    r = reconcile("plan", "--detailed-exitcode", "-m", root, env=env)
    assert (r.exit_code, r.stderr) == (0, ""), r.output
    assert "No changes" in r.stdout
    applied = reconcile("apply", "--auto-approve", "-m", root, env=env)
    assert applied.exit_code == 0, applied.output
    assert catalog(bao) == SEEDED


def test_a_folder_that_cannot_be_searched_stops_everything(
    bao: BaoServer, env: dict[str, str], seeded: Path, tmp_path: Path
) -> None:
    root = tmp_path / "manifests"
    write(root / "kv.yaml", KV)
    (root / "auth").symlink_to(tmp_path / "not-checked-out")  # where auth.yaml should have been
    write(root / "NOTES.md", "auth lives in a submodule\n")
    for args in (["validate"], ["plan"], ["apply", "--auto-approve"]):
        r = reconcile(*args, "-m", root, env=env)
        assert (r.exit_code, r.stdout) == (1, ""), args
        assert r.stderr == (
            f"{root}/NOTES.md: {NOT_A_MANIFEST}\n"
            f"{root}/auth: cannot read: No such file or directory (a broken symbolic link)\n"
            "2 problems in the manifests\n"
        )
    assert catalog(bao) == SEEDED
