"""The command line with a targets file (issue #15): choosing targets, `reconcile targets`, usage errors,
saved plans in the wrong mode, and single-target runs left exactly as they were."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest

from reconciler.fleet import saved as fleet_saved
from tests.cli import SHA_A, reconcile, write

FILE = """\
targets:
  - name: staging
    address: https://vault.staging.example.com:8200
    manifests: [manifests/base, manifests/staging]
    auth: {method: jwt, role: reconcile-staging}
    nomad_address: https://nomad.staging.example.com:4646
  - name: prod-eu
    address: https://vault.eu.example.com:8200
    namespace: team
    manifests: [manifests/base]
"""
KV = f"plugins:\n  - name: kv\n    type: secret\n    versions:\n      - version: 1.0.0\n        sha256: {SHA_A}\n"


@pytest.fixture
def repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    write(tmp_path / "manifests/base/kv.yaml", KV)
    write(tmp_path / "manifests/staging/own.yaml", "plugins: []\n")
    write(tmp_path / "reconcile.yaml", FILE)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_targets_lists_the_file_for_people_and_for_a_ci_matrix(repo: Path) -> None:
    r = reconcile("targets", env={"RECONCILE_PROD_EU_VAULT_TOKEN": "prod-token-xyz"})
    assert r.exit_code == 0, r.output
    assert r.stdout == textwrap.dedent(
        """\
        reconcile.yaml: 2 targets
          staging  https://vault.staging.example.com:8200  manifests: manifests/base, manifests/staging
            auth method jwt, role reconcile-staging
            nomad https://nomad.staging.example.com:4646
          prod-eu  https://vault.eu.example.com:8200  manifests: manifests/base
            namespace 'team'
            set for it: RECONCILE_PROD_EU_VAULT_TOKEN
        """
    )
    document = json.loads(reconcile("targets", "--format", "json").stdout)
    assert [t["name"] for t in document["targets"]] == ["staging", "prod-eu"]
    assert document["targets"][1] == {
        "name": "prod-eu",
        "address": "https://vault.eu.example.com:8200",
        "namespace": "team",
        "manifests": ["manifests/base"],
        "auth": None,
        "nomad_address": None,
        "env_prefix": "RECONCILE_PROD_EU_",
        "overrides": [],
    }
    one = json.loads(reconcile("targets", "--format", "json", "--target", "prod-eu").stdout)
    assert [t["name"] for t in one["targets"]] == ["prod-eu"]


def test_targets_without_a_targets_file_says_so(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    r = reconcile("targets")
    assert r.exit_code == 1
    assert "Error: no targets file: there is no reconcile.yaml here" in r.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("plan", "--manifests", "manifests/base"), "--manifests cannot be used with a targets file (reconcile.yaml)"),
        (("drift", "--address", "http://127.0.0.1:8200"), "--address cannot be used with a targets file"),
        (("check", "--nomad-address", "http://127.0.0.1:4646"), "--nomad-address cannot be used with a targets"),
        (("plan", "--target", "prod"), "--target prod: no such target in reconcile.yaml"),
        (("force-unlock", "some-id"), "force-unlock works on one target: pass --target NAME"),
        (("export",), "export of several targets needs --out DIR"),
        (("plan", "--config", "missing.yaml"), "missing.yaml: cannot read: No such file or directory"),
    ],
)
def test_usage_errors_with_a_targets_file(repo: Path, args: tuple[str, ...], message: str) -> None:
    r = reconcile(*args)
    assert r.exit_code == 1
    assert message in r.stderr
    assert "Traceback" not in r.output


def test_target_without_a_targets_file_is_an_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    r = reconcile("plan", "--target", "staging")
    assert r.exit_code == 1
    assert "Error: --target needs a targets file" in r.stderr
    assert "Hint: create reconcile.yaml, or pass --config FILE" in r.stderr


def test_config_points_at_a_targets_file_anywhere(repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    r = reconcile("validate", "--config", repo / "reconcile.yaml")
    assert r.exit_code == 0, r.output
    assert r.stdout.splitlines()[1:] == [
        "staging: valid (1 plugin versions, 0 runtimes, 0 pins, 0 mounts, 0 CSI plugins)",
        "prod-eu: valid (1 plugin versions, 0 runtimes, 0 pins, 0 mounts, 0 CSI plugins)",
    ]
    only = reconcile("validate", "--config", repo / "reconcile.yaml", "--target", "prod-eu")
    assert only.stdout.splitlines()[1:] == [
        "prod-eu: valid (1 plugin versions, 0 runtimes, 0 pins, 0 mounts, 0 CSI plugins)"
    ]


def test_without_a_targets_file_the_single_target_run_is_unchanged(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    write(tmp_path / "manifests/kv.yaml", KV)
    r = reconcile("validate")
    assert r.stdout == "manifests: valid (1 plugin versions, 0 runtimes, 0 pins, 0 mounts, 0 CSI plugins)\n"
    no_address = reconcile("plan")
    assert no_address.exit_code == 1
    assert "Error: no server address" in no_address.stderr


def test_a_saved_plan_of_several_targets_is_refused_without_its_targets_file_and_vice_versa(
    repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    combined = write(tmp_path / "fleet-plan.json", json.dumps(fleet_saved.to_document([])))
    single = write(tmp_path / "one-plan.json", json.dumps({"format_version": 1, "saved": {}}))
    r = reconcile("apply", single, env={"VAULT_TOKEN": "t0ken-for-this-test"})
    assert r.exit_code == 1
    assert "one-plan.json: a saved plan of one target, not of the targets file" in r.stderr
    target = reconcile("apply", combined, "--target", "staging")
    assert target.exit_code == 1
    assert "--target cannot be used with FILE: the saved plan says which targets it covers" in target.stderr
    empty = reconcile("apply", combined)
    assert "fleet-plan.json: not a valid saved plan: targets: the file covers no target" in empty.stderr
    elsewhere = tmp_path / "single"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    alone = reconcile("apply", combined, env={"VAULT_ADDR": "http://127.0.0.1:1"})
    assert alone.exit_code == 1
    assert "fleet-plan.json: a saved plan of several targets (reconcile.yaml), not of one" in alone.stderr


@pytest.mark.parametrize(
    ("document", "message"),
    [
        ("[]", "expected a JSON object with a list `targets`"),
        ('{"format_version": 2, "targets": [{"name": "a"}]}', "format_version: expected the integer 1"),
        ('{"format_version": 1, "targets": [{"name": ""}]}', "targets[0].name: expected the target's name"),
        ('{"format_version": 1, "targets": [{"name": "a", "saved": {}}]}', "targets[0] (a): not a valid saved plan"),
        ("{", "invalid JSON"),
    ],
)
def test_a_combined_saved_plan_is_validated_before_anything_is_sent(document: str, message: str) -> None:
    with pytest.raises(Exception, match="not a valid saved plan") as caught:
        fleet_saved.parse(document, Path("plan.json"))
    assert message in str(caught.value)


def test_the_same_target_twice_in_a_saved_plan_is_refused() -> None:
    element = {"name": "a", "saved": {}}
    text = json.dumps({"format_version": 1, "targets": [element, element]})
    with pytest.raises(Exception, match=r"targets\[1\]: the target 'a' is in the file twice"):
        fleet_saved.parse(text, Path("plan.json"))
