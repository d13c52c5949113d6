"""The installed `reconcile` entry point: exit codes of the real process."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

RECONCILE = str(Path(sys.executable).parent / "reconcile")


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([RECONCILE, *args], capture_output=True, text=True, check=False, timeout=60)


def test_a_bad_option_exits_1_not_2_which_means_changes() -> None:
    r = run("plan", "--no-such-option")
    assert r.returncode == 1
    assert "No such option: --no-such-option" in r.stderr
    assert "Traceback" not in r.stderr


def test_help_and_version_exit_0() -> None:
    assert run("--help").returncode == 0
    r = run("version")
    assert r.returncode == 0
    assert r.stdout.startswith("reconcile ")


def test_validate_through_the_entry_point(tmp_path: Path) -> None:
    assert (
        run("validate", "-m", "manifests").returncode == 0
        or run("validate", "-m", str(Path(__file__).parent.parent / "manifests")).returncode == 0
    )
    bad = tmp_path / "m.yaml"
    bad.write_text("plugins: 1\n")
    r = run("validate", "-m", str(bad))
    assert r.returncode == 1
    assert f"{bad}:1: plugins: expected a list, got a number" in r.stderr


def test_a_closed_stdout_is_not_a_traceback() -> None:
    # `reconcile schema | head -0`: the reader is gone before the first write (click maps EPIPE to exit 1).
    read_end, write_end = os.pipe()
    os.close(read_end)
    try:
        r = subprocess.run([RECONCILE, "schema"], stdout=write_end, stderr=subprocess.PIPE, timeout=60, check=False)
    finally:
        os.close(write_end)
    assert r.returncode == 1
    assert b"Traceback" not in r.stderr


def test_version_flag() -> None:
    r = run("--version")
    assert r.returncode == 0
    assert r.stdout == run("version").stdout
    assert r.stdout.startswith("reconcile 0.")


def test_help_shows_no_type_for_plain_flags() -> None:
    for command in ([], ["plan"], ["apply"], ["export"], ["check"]):
        r = subprocess.run(
            [RECONCILE, *command, "--help"],
            capture_output=True,
            text=True,
            check=False,
            timeout=60,
            env={**os.environ, "COLUMNS": "200", "TERM": "dumb"},
        )
        assert r.returncode == 0
        assert "<bool>" not in r.stdout, r.stdout
    plan_help = run("plan", "--help").stdout
    for option in ("--detailed-exitcode", "--no-prune", "--allow-empty", "--auth-method", "--auth-role"):
        assert option in plan_help


def test_shell_completion_script_and_completions() -> None:
    r = run("--show-completion", "bash")
    assert r.returncode == 0
    assert "_reconcile_completion" in r.stdout
    assert "complete -o default -F _reconcile_completion reconcile" in r.stdout
    # What the script asks the program for when the user types `reconcile pl<TAB>`.
    env = {**os.environ, "_RECONCILE_COMPLETE": "complete_bash", "COMP_WORDS": "reconcile pl", "COMP_CWORD": "1"}
    r = subprocess.run([RECONCILE], capture_output=True, text=True, check=False, timeout=60, env=env)
    assert r.returncode == 0
    assert r.stdout.split() == ["plan"]
    env = {**env, "COMP_WORDS": "reconcile plan --auth-m", "COMP_CWORD": "2"}
    r = subprocess.run([RECONCILE], capture_output=True, text=True, check=False, timeout=60, env=env)
    assert r.stdout.split() == ["--auth-method"]


def test_install_completion_writes_the_shell_startup_file(tmp_path: Path) -> None:
    env = {**os.environ, "HOME": str(tmp_path), "SHELL": "/bin/bash"}
    r = subprocess.run(
        [RECONCILE, "--install-completion", "bash"], capture_output=True, text=True, check=False, timeout=60, env=env
    )
    assert r.returncode == 0, r.stdout + r.stderr
    assert "completion installed" in r.stdout
    assert "reconcile" in (tmp_path / ".bashrc").read_text()
