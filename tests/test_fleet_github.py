"""The action and the example workflows of a repository with several clusters (fleet-example/, issue #15)."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests import test_github as github
from tests.cli import reconcile
from tests.test_github import call, load, offline_env, on, run_step, sh, stub_env, tool

ROOT = github.ROOT
EXAMPLE = ROOT / "fleet-example"
WORKFLOWS = sorted((EXAMPLE / ".github" / "workflows").glob("*.yml"))


@pytest.fixture
def stub(tmp_path: Path) -> Path:
    bin_dir = tmp_path / "stub-bin"
    bin_dir.mkdir()
    script = bin_dir / "reconcile"
    script.write_text(f"#!{github.sys.executable}\n{github.STUB}")
    script.chmod(0o755)
    (bin_dir / "python").symlink_to(github.sys.executable)
    return bin_dir


@pytest.fixture
def workspace(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A workspace with reconcile.yaml, where the action's run step runs (as GitHub runs it there)."""
    folder = tmp_path / "workspace"
    folder.mkdir()
    (folder / "reconcile.yaml").write_text("targets: []\n")
    original = github.sh

    def in_workspace(argv: list[str], *, cwd: Path = ROOT, env: dict[str, str] | None = None) -> Any:
        return original(argv, cwd=folder if cwd == ROOT else cwd, env=env)

    monkeypatch.setattr(github, "sh", in_workspace)
    return folder


def test_with_reconcile_yaml_in_the_workspace_the_action_passes_no_manifests(
    tmp_path: Path, stub: Path, workspace: Path
) -> None:
    inputs = {"command": "plan", "format": "markdown", "extra-args": "--target staging"}
    code, out, log = run_step("run", inputs, tmp_path, stub, stub_env(tmp_path, exit="2", changes="1"))
    assert code == 0, log
    argv = call(tmp_path)["argv"]
    assert "--manifests" not in argv
    assert argv[-2:] == ["--target", "staging"]
    assert out["exit-code"] == "2"


@pytest.mark.parametrize(
    ("inputs", "message"),
    [
        ({"address": "https://vault:8200"}, "input address cannot be used with a targets file (reconcile.yaml)"),
        ({"manifests": "other"}, "input manifests cannot be used with a targets file (reconcile.yaml)"),
    ],
)
def test_with_a_targets_file_address_and_manifests_are_errors(
    tmp_path: Path, stub: Path, workspace: Path, inputs: dict[str, str], message: str
) -> None:
    code, _, log = run_step("run", {"command": "plan", **inputs}, tmp_path, stub, stub_env(tmp_path))
    assert code == 1
    assert message in log
    assert not (tmp_path / "stub.json").exists()  # reconcile never ran


def test_config_in_extra_args_is_a_targets_file_too(tmp_path: Path, stub: Path) -> None:
    inputs = {"command": "drift", "format": "json", "extra-args": "--config fleet/reconcile.yaml"}
    report = {
        "format_version": 1,
        "targets": [
            {"name": "a", "drift": {"found": True, "groups": {"changed": [{}, {}]}}, "error": None},
            {"name": "b", "drift": {"found": True, "groups": {"missing_live": [{}]}}, "error": None},
        ],
    }
    code, out, log = run_step("run", inputs, tmp_path, stub, stub_env(tmp_path, exit="2", stdout=json.dumps(report)))
    assert code == 0, log
    assert "--manifests" not in call(tmp_path)["argv"]
    assert out["changes"] == "3"  # summed over the targets


def test_a_combined_saved_plan_counts_every_targets_changes(tmp_path: Path, stub: Path) -> None:
    saved = tmp_path / "plan.json"
    saved.write_text(json.dumps({"format_version": 1, "targets": [{"changes": [{}]}, {"changes": [{}, {}]}]}))
    inputs = {"command": "apply", "plan-file": str(saved), "extra-args": "--config x.yaml"}
    code, out, log = run_step("run", inputs, tmp_path, stub, stub_env(tmp_path))
    assert code == 0, log
    assert out["changes"] == "3"


def test_the_example_repository_validates_and_lists_its_targets(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(EXAMPLE)
    r = reconcile("validate")
    assert r.exit_code == 0, r.output
    assert r.stdout.splitlines()[0] == "reconcile.yaml: 3 targets"
    names = [t["name"] for t in json.loads(reconcile("targets", "--format", "json").stdout)["targets"]]
    assert names == ["staging", "production-eu", "production-us"]


def test_the_example_workflows_are_there() -> None:
    assert [p.name for p in WORKFLOWS] == ["apply.yml", "drift.yml", "plan.yml"]


@pytest.mark.parametrize("workflow", WORKFLOWS, ids=lambda p: p.name)
def test_example_workflows_match_githubs_schema(workflow: Path) -> None:
    for schema in ("vendor.github-workflows", "custom.github-workflows-require-timeout"):
        done = sh([tool("check-jsonschema"), "--builtin-schema", schema, str(workflow)], env=offline_env())
        assert done.returncode == 0, f"{workflow.name} against {schema}:\n{done.stdout}{done.stderr}"


def test_zizmor_offline_finds_nothing_in_the_example_workflows() -> None:
    done = subprocess.run(
        [
            tool("zizmor"),
            *("--offline", "--no-config", "--strict-collection", "--no-progress", "--format", "json"),
            *(str(p.relative_to(ROOT)) for p in WORKFLOWS),
        ],
        check=False,
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=offline_env(),
        timeout=120,
    )
    assert json.loads(done.stdout or "null") == [], done.stdout
    for path in WORKFLOWS:
        assert f"completed {path.relative_to(ROOT)}" in done.stderr


def test_example_workflows_trigger_on_the_targets_file_and_pass_no_address() -> None:
    for path in WORKFLOWS:
        document = load(path)
        triggers = on(document)
        if "schedule" not in triggers:
            event = "pull_request" if "pull_request" in triggers else "push"
            assert triggers[event]["paths"] == ["manifests/**", "reconcile.yaml"]
        for job in document["jobs"].values():
            for step in job["steps"]:
                if step.get("uses") == "./":
                    assert not {"address", "manifests", "token"} & set(step["with"]), f"{path.name}: {step}"
    plan = load(EXAMPLE / ".github" / "workflows" / "plan.yml")
    (job,) = plan["jobs"].values()
    comments = [s for s in job["steps"] if "sticky-pull-request-comment" in str(s.get("uses"))]
    assert {c["with"]["header"] for c in comments} == {"reconcile-plan"}  # one comment for every target
    drift = (EXAMPLE / ".github" / "workflows" / "drift.yml").read_text()
    assert "ONE issue labelled\n# `drift` with a section per target" in drift
