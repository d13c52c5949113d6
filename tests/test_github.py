"""GitHub integration files: action.yml, .github/workflows/*.yml and .pre-commit-hooks.yaml.

They are checked against GitHub's schemas (check-jsonschema's vendored copies) and by zizmor, both
offline; the action's scripts are run here as a runner would run them, against a stub `reconcile`
(exit codes, arguments, the token) and the real one (validate; plan and drift against a dev
OpenBao); the pre-commit hook's entry is run on this repository's manifests.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.servers import BaoServer

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
ACTION = ROOT / "action.yml"
WORKFLOWS = sorted((ROOT / ".github" / "workflows").glob("*.yml"))
HOOKS = ROOT / ".pre-commit-hooks.yaml"
DOC = ROOT / "docs" / "ci.md"
SHA_PIN = re.compile(r"^(?P<action>[\w.-]+/[\w.-]+(?:/[\w./-]+)?)@(?P<sha>[0-9a-f]{40})$")
EXPRESSION = re.compile(r"\$\{\{(.*?)\}\}")


def load(path: Path) -> Any:
    return yaml.safe_load(path.read_text())


def offline_env() -> dict[str, str]:
    """The environment for the linters: any network access would fail at once (nothing listens on port 9)."""
    env = dict(os.environ)
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy"):
        env[name] = "http://127.0.0.1:9"
    env.pop("NO_PROXY", None)
    env.pop("no_proxy", None)
    return env


def sh(argv: list[str], *, cwd: Path = ROOT, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, check=False, capture_output=True, text=True, cwd=cwd, env=env, timeout=120)


def tool(name: str) -> str:
    path = BIN / name
    assert path.exists(), f"{name} is missing from {BIN}: it is in the `test` extra (pip install -e '.[test]')"
    return str(path)


def steps_of(document: dict[str, Any]) -> list[dict[str, Any]]:
    if "runs" in document:
        return list(document["runs"].get("steps", []))
    return [step for job in document["jobs"].values() for step in job.get("steps", [])]


def uses_lines(path: Path) -> list[str]:
    """Every `uses:` line of a file, with its trailing comment."""
    return [line.strip() for line in path.read_text().splitlines() if re.match(r"\s*(- )?uses:", line)]


# --- schemas and security -------------------------------------------------------------------------


def test_the_workflows_are_there() -> None:
    assert {"apply.yml", "ci.yml", "drift.yml", "plan.yml"} <= {p.name for p in WORKFLOWS}


@pytest.mark.parametrize("workflow", WORKFLOWS, ids=lambda p: p.name)
def test_workflow_matches_githubs_schema_and_every_job_has_a_timeout(workflow: Path) -> None:
    for schema in ("vendor.github-workflows", "custom.github-workflows-require-timeout"):
        done = sh([tool("check-jsonschema"), "--builtin-schema", schema, str(workflow)], env=offline_env())
        assert done.returncode == 0, f"{workflow.name} against {schema}:\n{done.stdout}{done.stderr}"


def test_action_matches_githubs_schema() -> None:
    done = sh([tool("check-jsonschema"), "--builtin-schema", "vendor.github-actions", str(ACTION)], env=offline_env())
    assert done.returncode == 0, done.stdout + done.stderr


def test_zizmor_offline_finds_nothing() -> None:
    targets = [ACTION, *WORKFLOWS, HOOKS]
    done = sh(
        [
            tool("zizmor"),
            *("--offline", "--no-config", "--strict-collection", "--no-progress", "--format", "json"),
            *(str(p.relative_to(ROOT)) for p in targets),
        ],
        env=offline_env(),
    )
    findings = json.loads(done.stdout or "null")
    assert findings == [], json.dumps(findings, indent=2)
    assert done.returncode == 0, done.stderr
    # Every file was audited (a file zizmor skipped would have no findings either).
    for path in targets:
        assert f"completed {path.relative_to(ROOT)}" in done.stderr


def test_inline_zizmor_ignores_say_why() -> None:
    for path in [ACTION, *WORKFLOWS, HOOKS]:
        for line in path.read_text().splitlines():
            if "zizmor: ignore" in line:
                reason = line.split("]", 1)[1].strip()
                assert len(reason) > 10, f"{path.name}: an ignore without a reason: {line.strip()}"


def test_actions_are_pinned_by_commit_sha_with_the_tag_in_a_comment_and_consistently() -> None:
    pins: dict[str, set[tuple[str, str]]] = {}
    for path in [ACTION, *WORKFLOWS]:
        for line in uses_lines(path):
            value, _, comment = line.split("uses:", 1)[1].partition("#")
            value = value.strip()
            if value.startswith("./"):
                continue
            match = SHA_PIN.match(value)
            assert match, f"{path.name}: not pinned to a full commit SHA: {line}"
            tag = comment.strip().split()[0] if comment.strip() else ""
            assert re.fullmatch(r"v\d+\.\d+\.\d+", tag), f"{path.name}: say which tag the SHA is: {line}"
            pins.setdefault(match["action"], set()).add((match["sha"], tag))
    assert pins, "no pinned actions found"
    for action, seen in pins.items():
        assert len(seen) == 1, f"{action} is pinned differently in different files: {seen}"


def test_no_expression_is_expanded_inside_a_script() -> None:
    """Inputs and event data reach scripts through `env:` only (template injection)."""
    for path in [ACTION, *WORKFLOWS]:
        for step in steps_of(load(path)):
            scripts = [step.get("run", "")]
            if str(step.get("uses", "")).startswith("actions/github-script@"):
                scripts.append(step["with"]["script"])
            for script in scripts:
                assert "${{" not in script, f"{path.name}: step {step.get('name')!r} expands an expression"


def test_checkouts_keep_no_credentials_and_permissions_are_explicit() -> None:
    for path in WORKFLOWS:
        document = load(path)
        assert "permissions" in document, f"{path.name}: no top-level permissions"
        for job_id, job in document["jobs"].items():
            assert "permissions" in job or document["permissions"] == {"contents": "read"}, f"{path.name}:{job_id}"
            for step in job.get("steps", []):
                if str(step.get("uses", "")).startswith("actions/checkout@"):
                    assert step.get("with", {}).get("persist-credentials") is False, f"{path.name}:{job_id}"


# --- what each workflow does ----------------------------------------------------------------------


def on(document: dict[str, Any]) -> dict[str, Any]:
    # PyYAML reads the key `on` as the boolean True.
    return dict(document.get("on", document.get(True)))


def test_ci_runs_the_readmes_test_command_on_python_311() -> None:
    document = load(ROOT / ".github" / "workflows" / "ci.yml")
    assert {"push", "pull_request"} <= set(on(document))
    assert document["permissions"] == {"contents": "read"}
    steps = document["jobs"]["test"]["steps"]
    python = next(s for s in steps if str(s.get("uses", "")).startswith("actions/setup-python@"))
    assert python["with"]["python-version"] == "3.11"
    assert any(s.get("run", "").strip() == "bash .ci/run" for s in steps)
    assert "bash run test" in (ROOT / ".ci" / "run").read_text()


def test_plan_workflow_comments_one_sticky_comment_on_pull_requests() -> None:
    document = load(ROOT / ".github" / "workflows" / "plan.yml")
    assert on(document)["pull_request"]["paths"] == ["manifests/**"]
    (job,) = document["jobs"].values()
    assert job["permissions"] == {"contents": "read", "pull-requests": "write", "id-token": "write"}
    commands = [s["with"]["command"] for s in job["steps"] if s.get("uses") == "./"]
    assert commands == ["validate", "plan"]
    plan = next(s for s in job["steps"] if s.get("id") == "plan")
    assert plan["with"]["format"] == "markdown"
    comments = [s for s in job["steps"] if "sticky-pull-request-comment" in str(s.get("uses"))]
    assert comments, "no sticky comment"
    # One comment, found again by its header and edited in place: never recreated or appended to.
    assert {c["with"]["header"] for c in comments} == {"reconcile-plan"}
    for comment in comments:
        assert not {"recreate", "append", "hide_and_recreate"} & set(comment["with"])
    assert comments[0]["with"]["path"] == "${{ steps.plan.outputs.output-path }}"


def test_apply_workflow_is_plan_then_approve_then_apply_of_that_saved_plan() -> None:
    document = load(ROOT / ".github" / "workflows" / "apply.yml")
    assert on(document)["push"]["branches"] == ["main"]
    assert document["concurrency"] == {"group": "reconcile-apply", "cancel-in-progress": False}
    assert list(document["jobs"]) == ["plan", "apply"]
    plan_job, apply_job = document["jobs"]["plan"], document["jobs"]["apply"]

    # plan: no environment (nothing to approve yet, and no access to production's secrets).
    assert "environment" not in plan_job
    assert plan_job["permissions"] == {"contents": "read", "id-token": "write"}
    (plan,) = (s for s in plan_job["steps"] if s.get("uses") == "./")
    assert (plan["id"], plan["with"]["command"], plan["with"]["format"]) == ("plan", "plan", "markdown")
    upload = next(s for s in plan_job["steps"] if str(s.get("uses")).startswith("actions/upload-artifact@"))
    assert upload["if"] == "steps.plan.outputs.exit-code == '2'"
    assert upload["with"]["path"] == "${{ steps.plan.outputs.plan-path }}"
    assert upload["with"]["if-no-files-found"] == "error"
    assert plan_job["outputs"]["exit-code"] == "${{ steps.plan.outputs.exit-code }}"

    # apply: behind the production environment, after plan, only when there is something to apply.
    assert apply_job["needs"] == "plan"
    assert apply_job["environment"] == "production"
    assert apply_job["if"] == "needs.plan.outputs.exit-code == '2'"
    assert apply_job["permissions"] == {"contents": "read", "id-token": "write"}
    steps = apply_job["steps"]
    download = next(s for s in steps if str(s.get("uses")).startswith("actions/download-artifact@"))
    assert download["with"]["name"] == upload["with"]["name"]
    (apply,) = (s for s in steps if s.get("uses") == "./")
    assert steps.index(download) < steps.index(apply)
    assert apply["with"]["command"] == "apply"
    # Exactly the downloaded plan (the action's plan-path is <dir>/plan.json): never a fresh plan.
    assert apply["with"]["plan-file"] == download["with"]["path"] + "/plan.json"
    assert "--auto-approve" not in apply["with"].get("extra-args", "")
    # The same manifests as the plan job: the saved plan is checked against them.
    assert any(str(s.get("uses")).startswith("actions/checkout@") for s in steps[: steps.index(apply)])


def test_plan_path_ends_in_plan_json_as_apply_yml_expects() -> None:
    (run,) = (s["run"] for s in action()["runs"]["steps"] if s.get("id") == "run")
    assert 'plan_path="$work/plan.json"' in run


@pytest.mark.parametrize("name", ["plan.yml", "apply.yml", "drift.yml"])
def test_server_workflows_log_in_with_the_jobs_oidc_token_and_keep_a_token_alternative(name: str) -> None:
    path = ROOT / ".github" / "workflows" / name
    document = load(path)
    assert document["permissions"] == {}, "id-token: write belongs to the jobs that log in, not the workflow"
    for job in document["jobs"].values():
        logins = [s for s in job["steps"] if s.get("uses") == "./" and s["with"]["command"] != "validate"]
        for step in logins:
            assert step["with"]["auth-method"] == "jwt"
            assert step["with"]["jwt-audience"] == "reconcile"
            assert "token" not in step["with"], "no stored Vault secret with jwt"
        if logins:
            assert job["permissions"]["id-token"] == "write"
            expected = "reconcile-apply" if job.get("environment") == "production" else "reconcile-read"
            assert {s["with"]["auth-role"] for s in logins} == {expected}
    assert path.read_text().count("# token: ${{ secrets.VAULT_TOKEN }}") == sum(
        1 for job in document["jobs"].values() for s in job["steps"] if s.get("with", {}).get("auth-method")
    )


def test_drift_workflow_runs_on_a_schedule_and_keeps_one_labelled_issue() -> None:
    document = load(ROOT / ".github" / "workflows" / "drift.yml")
    assert on(document)["schedule"]
    (job,) = document["jobs"].values()
    assert job["permissions"] == {"contents": "read", "issues": "write", "id-token": "write"}
    script = next(s for s in job["steps"] if "github-script" in str(s.get("uses")))["with"]["script"]
    for needed in ('label = "drift"', "issues.create(", "issues.update(", 'state: "closed"', "marker"):
        assert needed in script


@pytest.mark.parametrize("name", ["plan.yml", "apply.yml", "drift.yml"])
def test_server_workflows_do_nothing_in_a_repository_without_a_server(name: str) -> None:
    document = load(ROOT / ".github" / "workflows" / name)
    assert "workflow_dispatch" in on(document)
    jobs = document["jobs"]
    for job in jobs.values():
        # A job that needs a guarded job is skipped with it.
        assert "vars.VAULT_ADDR != ''" in job["if"] or "vars.VAULT_ADDR != ''" in jobs[job["needs"]]["if"]


# --- the action's scripts, run as a runner runs them ----------------------------------------------


def action() -> dict[str, Any]:
    document: dict[str, Any] = load(ACTION)
    return document


def test_action_interface() -> None:
    document = action()
    assert document["runs"]["using"] == "composite"
    assert set(document["inputs"]) == {
        "command",
        "manifests",
        "address",
        "token",
        "auth-method",
        "auth-path",
        "auth-role",
        "jwt-audience",
        "format",
        "plan-file",
        "extra-args",
    }
    for name in ("auth-method", "auth-path", "auth-role", "jwt-audience"):
        assert document["inputs"][name]["default"] == ""
    assert document["inputs"]["command"]["required"] is True
    assert document["inputs"]["manifests"]["default"] == "manifests"
    assert document["inputs"]["format"]["default"] == "text"
    assert set(document["outputs"]) == {"exit-code", "changes", "plan-path", "output-path"}
    install = next(s for s in document["runs"]["steps"] if s.get("id") == "install")
    assert '"$GITHUB_ACTION_PATH"' in install["run"]
    assert "$RUNNER_TEMP" in install["run"]
    # The token is handed over in the environment only.
    text = ACTION.read_text()
    assert text.count("inputs.token") == 1
    assert "INPUT_TOKEN: ${{ inputs.token }}" in text


def run_step(
    step_id: str,
    inputs: dict[str, str],
    tmp_path: Path,
    bin_dir: Path,
    env: dict[str, str] | None = None,
    python: str = sys.executable,
) -> tuple[int, dict[str, str], str]:
    """Run one `run:` step of action.yml with bash as GitHub does; return exit code, outputs, log."""
    document = action()
    values = {name: str(spec.get("default", "")) for name, spec in document["inputs"].items()}
    values.update(inputs)
    step_outputs = {"install": {"bin": str(bin_dir)}, "python": {"python-path": python}}

    def expand(text: str) -> str:
        def one(match: re.Match[str]) -> str:
            parts = match[1].strip().split(".")
            if parts[0] == "inputs":
                return values[parts[1]]
            if parts[0] == "steps":
                return step_outputs[parts[1]][parts[3]]
            raise AssertionError(f"unexpected expression {match[0]}")

        return EXPRESSION.sub(one, text)

    step = next(s for s in document["runs"]["steps"] if s.get("id") == step_id)
    runner_temp = tmp_path / "runner-temp"
    runner_temp.mkdir(exist_ok=True)
    output_file = tmp_path / f"github-output-{step_id}"
    output_file.write_text("")
    full_env = {
        "PATH": os.environ["PATH"],
        "HOME": str(tmp_path),
        "NO_COLOR": "1",
        "RUNNER_TEMP": str(runner_temp),
        "GITHUB_OUTPUT": str(output_file),
        **(env or {}),
        **{name: expand(str(value)) for name, value in step.get("env", {}).items()},
    }
    done = sh(["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", step["run"]], env=full_env)
    outputs = dict(line.split("=", 1) for line in output_file.read_text().splitlines())
    return done.returncode, outputs, done.stdout + done.stderr


STUB = textwrap.dedent(
    """\
    import json, os, sys
    args = sys.argv[1:]
    with open(os.environ["STUB_LOG"], "w") as f:
        json.dump({"argv": args, "VAULT_TOKEN": os.environ.get("VAULT_TOKEN"),
                   "VAULT_ADDR": os.environ.get("VAULT_ADDR"),
                   "auth": {k: v for k, v in os.environ.items() if k.startswith("VAULT_AUTH_")}}, f)
    if "--out" in args and os.environ.get("STUB_SAVE", "1") == "1":
        with open(args[args.index("--out") + 1], "w") as f:
            json.dump({"format_version": 1, "changes": [{}] * int(os.environ.get("STUB_CHANGES", "0")), "saved": {}}, f)
    sys.stdout.write(os.environ.get("STUB_STDOUT", "report\\n"))
    sys.exit(int(os.environ.get("STUB_EXIT", "0")))
    """
)


@pytest.fixture
def stub(tmp_path: Path) -> Path:
    """A directory like the action's venv bin/, whose `reconcile` records how it was called."""
    bin_dir = tmp_path / "stub-bin"
    bin_dir.mkdir()
    script = bin_dir / "reconcile"
    script.write_text(f"#!{sys.executable}\n{STUB}")
    script.chmod(0o755)
    (bin_dir / "python").symlink_to(sys.executable)
    return bin_dir


def call(tmp_path: Path) -> dict[str, Any]:
    result: dict[str, Any] = json.loads((tmp_path / "stub.json").read_text())
    return result


def stub_env(tmp_path: Path, **values: str) -> dict[str, str]:
    return {"STUB_LOG": str(tmp_path / "stub.json"), **{f"STUB_{k.upper()}": v for k, v in values.items()}}


def test_plan_with_changes_does_not_fail_and_reports_them(tmp_path: Path, stub: Path) -> None:
    code, out, log = run_step(
        "run",
        {"command": "plan", "format": "markdown", "address": "https://vault.example:8200", "token": "s3cr3t-token"},
        tmp_path,
        stub,
        stub_env(tmp_path, exit="2", changes="3", stdout="### plan\n"),
    )
    assert code == 0, log
    assert out["exit-code"] == "2"
    assert out["changes"] == "3"
    assert json.loads(Path(out["plan-path"]).read_text())["changes"] == [{}] * 3
    assert Path(out["output-path"]).read_text() == "### plan\n"
    assert out["output-path"].endswith(".md")
    seen = call(tmp_path)
    argv = seen["argv"]
    assert argv[:2] == ["plan", "--format"]
    assert argv[argv.index("--out") + 1] == out["plan-path"]
    assert "--detailed-exitcode" in argv
    assert argv[argv.index("--manifests") + 1] == "manifests"
    # The token travels in the environment only, and is masked in the log.
    assert seen["VAULT_TOKEN"] == "s3cr3t-token"
    assert seen["VAULT_ADDR"] == "https://vault.example:8200"
    assert not any("s3cr3t" in a for a in argv)
    assert "::add-mask::s3cr3t-token" in log
    assert log.count("s3cr3t-token") == 1


def test_plan_without_changes(tmp_path: Path, stub: Path) -> None:
    code, out, log = run_step("run", {"command": "plan"}, tmp_path, stub, stub_env(tmp_path, exit="0"))
    assert code == 0, log
    assert (out["exit-code"], out["changes"]) == ("0", "0")
    assert Path(out["plan-path"]).is_file()


@pytest.mark.parametrize("command", ["plan", "drift", "apply", "validate"])
def test_exit_1_fails_the_step(tmp_path: Path, stub: Path, command: str) -> None:
    code, out, log = run_step("run", {"command": command}, tmp_path, stub, stub_env(tmp_path, exit="1", save="0"))
    assert code == 1
    assert out["exit-code"] == "1"
    assert out["plan-path"] == ""
    assert f"::error title=reconcile {command}::reconcile exited with code 1" in log


@pytest.mark.parametrize(("command", "env"), [("plan", {"save": "0"}), ("drift", {"stdout": ""}), ("apply", {})])
def test_exit_2_that_is_not_changes_fails_the_step(tmp_path: Path, stub: Path, command: str, env: Any) -> None:
    """Exit 2 is also click's usage error: without a saved plan or a report it is an error."""
    code, out, _ = run_step("run", {"command": command}, tmp_path, stub, stub_env(tmp_path, exit="2", **env))
    assert code == 1
    assert out["exit-code"] == "1"


def test_drift_found_does_not_fail_and_counts_drifted_objects_from_json(tmp_path: Path, stub: Path) -> None:
    report = {"changes": [{}] * 4, "drift": {"found": True, "groups": {"missing_live": [{}], "changed": [{}, {}]}}}
    code, out, log = run_step(
        "run",
        {"command": "drift", "format": "json"},
        tmp_path,
        stub,
        stub_env(tmp_path, exit="2", stdout=json.dumps(report)),
    )
    assert code == 0, log
    assert (out["exit-code"], out["changes"], out["plan-path"]) == ("2", "3", "")
    assert json.loads(Path(out["output-path"]).read_text()) == report


def test_drift_in_markdown_has_no_count(tmp_path: Path, stub: Path) -> None:
    code, out, _ = run_step(
        "run", {"command": "drift", "format": "markdown"}, tmp_path, stub, stub_env(tmp_path, exit="2")
    )
    assert code == 0
    assert (out["exit-code"], out["changes"]) == ("2", "")


def test_apply_of_a_saved_plan(tmp_path: Path, stub: Path) -> None:
    saved = tmp_path / "plan.json"
    saved.write_text(json.dumps({"changes": [{}, {}], "saved": {}}))
    code, out, log = run_step(
        "run", {"command": "apply", "plan-file": str(saved)}, tmp_path, stub, stub_env(tmp_path, exit="0")
    )
    assert code == 0, log
    assert (out["exit-code"], out["changes"]) == ("0", "2")
    assert call(tmp_path)["argv"][:2] == ["apply", str(saved)]


def test_apply_of_a_fresh_plan_passes_auto_approve_and_a_saved_plan_does_not(tmp_path: Path, stub: Path) -> None:
    code, _, log = run_step("run", {"command": "apply"}, tmp_path, stub, stub_env(tmp_path, exit="0"))
    assert code == 0, log
    assert call(tmp_path)["argv"][:2] == ["apply", "--auto-approve"]
    saved = tmp_path / "plan.json"
    saved.write_text(json.dumps({"changes": [], "saved": {}}))
    code, _, log = run_step(
        "run", {"command": "apply", "plan-file": str(saved)}, tmp_path, stub, stub_env(tmp_path, exit="0")
    )
    assert code == 0, log
    assert "--auto-approve" not in call(tmp_path)["argv"]


def test_extra_args_are_split_like_a_shell_but_never_expanded(tmp_path: Path, stub: Path) -> None:
    extra = """--replace 'secret/kv extra' --max-deletes 3 $HOME * "$(touch pwned)" `touch pwned2`"""
    code, _, log = run_step(
        "run", {"command": "plan", "extra-args": extra}, tmp_path, stub, stub_env(tmp_path, exit="0")
    )
    assert code == 0, log
    argv = call(tmp_path)["argv"]
    assert argv[argv.index("--replace") :] == [
        "--replace",
        "secret/kv extra",
        "--max-deletes",
        "3",
        "$HOME",
        "*",
        "$(touch pwned)",
        "`touch",
        "pwned2`",
    ]
    assert not (ROOT / "pwned").exists()
    assert not (ROOT / "pwned2").exists()


def test_an_empty_token_input_keeps_the_jobs_vault_token(tmp_path: Path, stub: Path) -> None:
    env = {**stub_env(tmp_path), "VAULT_TOKEN": "from-the-job", "VAULT_ADDR": "https://job:8200"}
    code, _, _ = run_step("run", {"command": "drift"}, tmp_path, stub, env)
    assert code == 0
    seen = call(tmp_path)
    assert (seen["VAULT_TOKEN"], seen["VAULT_ADDR"]) == ("from-the-job", "https://job:8200")


def test_login_inputs_reach_reconcile_as_its_environment_variables(tmp_path: Path, stub: Path) -> None:
    inputs = {"auth-method": "jwt", "auth-path": "github", "auth-role": "reconcile-read", "jwt-audience": "reconcile"}
    code, _, log = run_step("run", {"command": "plan", **inputs}, tmp_path, stub, stub_env(tmp_path))
    assert code == 0, log
    seen = call(tmp_path)
    assert seen["auth"] == {
        "VAULT_AUTH_METHOD": "jwt",
        "VAULT_AUTH_PATH": "github",
        "VAULT_AUTH_ROLE": "reconcile-read",
        "VAULT_AUTH_JWT_AUDIENCE": "reconcile",
    }
    assert seen["VAULT_TOKEN"] is None
    assert not any("reconcile-read" in a or "jwt" in a for a in seen["argv"])


def test_empty_login_inputs_keep_the_jobs_variables(tmp_path: Path, stub: Path) -> None:
    job = {"VAULT_AUTH_METHOD": "kubernetes", "VAULT_AUTH_ROLE": "drift", "VAULT_AUTH_K8S_TOKEN_FILE": "/t"}
    code, _, log = run_step("run", {"command": "drift"}, tmp_path, stub, {**stub_env(tmp_path), **job})
    assert code == 0, log
    assert call(tmp_path)["auth"] == job
    # An input overrides the job's variable of the same name.
    code, _, log = run_step(
        "run", {"command": "drift", "auth-role": "other"}, tmp_path, stub, {**stub_env(tmp_path), **job}
    )
    assert code == 0, log
    assert call(tmp_path)["auth"] == {**job, "VAULT_AUTH_ROLE": "other"}


@pytest.mark.parametrize(
    ("inputs", "message"),
    [
        ({"command": "destroy"}, "input command must be plan, apply, drift or validate"),
        ({"command": "plan", "auth-method": "oidc"}, "input auth-method must be token, approle, jwt or kubernetes"),
        ({"command": "plan", "format": "yaml"}, "input format must be text, json or markdown"),
        ({"command": "plan", "plan-file": "x.json"}, "input plan-file is for command apply only"),
        ({"command": "plan", "extra-args": "--replace 'unclosed"}, "input extra-args cannot be split"),
    ],
)
def test_bad_inputs_fail_before_reconcile_runs(tmp_path: Path, stub: Path, inputs: Any, message: str) -> None:
    code, _, log = run_step("run", inputs, tmp_path, stub, stub_env(tmp_path))
    assert code == 1
    assert message in log
    assert not (tmp_path / "stub.json").exists()


def test_validate_with_the_real_cli(tmp_path: Path) -> None:
    code, out, log = run_step("run", {"command": "validate"}, tmp_path, BIN)
    assert code == 0, log
    assert (out["exit-code"], out["changes"], out["plan-path"]) == ("0", "", "")
    assert "valid" in Path(out["output-path"]).read_text()

    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "bad.yaml").write_text("plugins: [{name: x}]\n")
    code, out, log = run_step("run", {"command": "validate", "manifests": str(bad)}, tmp_path, BIN)
    assert code == 1
    assert out["exit-code"] == "1"
    assert "bad.yaml:1:" in log


def test_plan_then_drift_with_the_real_cli_and_a_real_server(tmp_path: Path, bao: BaoServer) -> None:
    server = {"address": bao.address, "token": bao.token}
    code, out, log = run_step("run", {"command": "plan", "format": "markdown", **server}, tmp_path, BIN)
    assert code == 0, log
    assert out["exit-code"] == "2"
    saved = json.loads(Path(out["plan-path"]).read_text())
    assert "saved" in saved
    assert out["changes"] == str(len(saved["changes"])) != "0"
    assert Path(out["output-path"]).read_text().startswith("#")

    code, out, log = run_step("run", {"command": "drift", "format": "json", **server}, tmp_path, BIN)
    assert code == 0, log
    assert out["exit-code"] == "2"
    assert int(out["changes"]) > 0


# --- pre-commit -----------------------------------------------------------------------------------


def test_pre_commit_hook_runs_reconcile_validate_on_the_manifests() -> None:
    hooks = load(HOOKS)
    assert [h["id"] for h in hooks] == ["reconcile-validate"]
    (hook,) = hooks
    assert {"id", "name", "entry", "language"} <= set(hook)
    assert hook["language"] == "python"
    assert hook["pass_filenames"] is False
    files = re.compile(hook["files"])
    assert files.search("manifests/auth.yaml")
    assert files.search("manifests/team/secrets.yml")
    assert not files.search("README.md")
    assert not files.search("examples/manifests/x.yaml")
    # pre-commit installs this package into the hook's venv; its console script is `reconcile`.
    argv = shlex.split(hook["entry"]) + hook["args"]
    assert argv[0] == "reconcile"
    assert "reconcile" in load_pyproject_scripts()
    done = sh([str(BIN / "reconcile"), *argv[1:]])
    assert done.returncode == 0, done.stdout + done.stderr
    assert "valid" in done.stdout


def load_pyproject_scripts() -> dict[str, str]:
    import tomllib

    scripts: dict[str, str] = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    return scripts


def test_pre_commit_hook_args_can_point_at_another_folder(tmp_path: Path) -> None:
    (hook,) = load(HOOKS)
    folder = tmp_path / "deploy" / "catalog"
    folder.mkdir(parents=True)
    (folder / "broken.yaml").write_text("plugins: [{name: x}]\n")
    argv = [*shlex.split(hook["entry"]), "deploy/catalog"]
    done = sh([str(BIN / "reconcile"), *argv[1:]], cwd=tmp_path)
    assert done.returncode == 1
    assert "broken.yaml:1:" in done.stdout + done.stderr


# --- the guide ------------------------------------------------------------------------------------


def test_the_guide_covers_every_input_output_workflow_and_the_hook() -> None:
    guide = DOC.read_text()
    document = action()
    for name in [*document["inputs"], *document["outputs"]]:
        assert f"`{name}`" in guide, f"docs/ci.md does not mention `{name}`"
    for workflow in WORKFLOWS:
        if workflow.name != "ci.yml":  # this repository's own CI, nothing to copy
            assert f".github/workflows/{workflow.name}" in guide
    for needed in ("reconcile-validate", "VAULT_TOKEN", "VAULT_ADDR", "production", "drift"):
        assert needed in guide
