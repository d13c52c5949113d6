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
