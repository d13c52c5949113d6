"""Start-up (issue 11): each command imports only what it needs, checked on the real entry point with
Python's import log (`PYTHONPROFILEIMPORTTIME`), never with timings. docs/performance.md has the times."""

from __future__ import annotations

import os
import ssl
import subprocess
import sys
from pathlib import Path

import pytest

from reconciler import __version__
from reconciler.http.tls import deferred_default
from tests.cli import SHA_A, write

RECONCILE = str(Path(sys.executable).parent / "reconcile")
HEAVY = ("typer", "click", "pydantic", "pydantic_core", "httpx", "yaml", "rich", "tenacity", "semver", "deepdiff")


def run(*argv: str, stdout: int = subprocess.PIPE) -> tuple[subprocess.CompletedProcess[str], set[str]]:
    """Run a command with Python's import log on; also the top-level packages it imported."""
    env = {**os.environ, "PYTHONPROFILEIMPORTTIME": "1"}
    r = subprocess.run(list(argv), stdout=stdout, stderr=subprocess.PIPE, text=True, env=env, timeout=60, check=False)
    imported = {line.split("|")[-1].strip().split(".")[0] for line in r.stderr.splitlines() if "|" in line}
    return r, imported


def errors_of(r: subprocess.CompletedProcess[str]) -> str:
    return "\n".join(line for line in r.stderr.splitlines() if not line.startswith("import time:"))


@pytest.mark.parametrize(
    "argv", [[RECONCILE, "version"], [RECONCILE, "--version"], [sys.executable, "-m", "reconciler", "version"]]
)
def test_version_imports_no_dependency(argv: list[str]) -> None:
    r, imported = run(*argv)
    assert (r.returncode, r.stdout, errors_of(r)) == (0, f"reconcile {__version__}\n", "")
    assert imported & set(HEAVY) == set()
    assert "reconciler" in imported


def test_validate_imports_no_parser_and_no_http(tmp_path: Path) -> None:
    m = write(tmp_path / "m.yaml", f"plugins:\n  - {{name: kv, type: secret, versions: [{{sha256: {SHA_A}}}]}}\n")
    for argv in (["-m", str(m)], ["--manifests", str(m)], [f"--manifests={m}"]):
        r, imported = run(RECONCILE, "validate", *argv)
        assert r.returncode == 0, errors_of(r)
        assert r.stdout == f"{m}: valid (1 plugin versions, 0 runtimes, 0 pins, 0 CSI plugins)\n"
        assert imported & {"typer", "click", "httpx", "rich", "tenacity", "deepdiff"} == set()
        assert {"pydantic", "yaml"} <= imported  # what validating needs


def test_invalid_manifests_through_the_fast_path_are_the_same_error(tmp_path: Path) -> None:
    bad = write(tmp_path / "m.yaml", "plugins: 1\n")
    r, imported = run(RECONCILE, "validate", "-m", str(bad))
    assert r.returncode == 1
    assert f"{bad}:1: plugins: expected a list, got a number" in errors_of(r)
    assert "Traceback" not in r.stderr
    assert "typer" not in imported


@pytest.mark.parametrize(
    ("argv", "code", "said"),
    [
        (["validate", "--help"], 0, "Usage: reconcile validate"),
        (["validate", "-m"], 1, "Option '-m' requires an argument"),
        (["validate", "-m", "--help"], 1, "--help: no such file or directory"),  # click's reading of it
        (["version", "extra"], 1, "Got unexpected extra argument"),
    ],
)
def test_anything_else_goes_to_the_full_parser(argv: list[str], code: int, said: str) -> None:
    r, imported = run(RECONCILE, *argv)
    assert r.returncode == code
    assert said in r.stdout + errors_of(r)
    assert "typer" in imported


def test_plan_imports_neither_saved_plans_nor_httpx_command_line() -> None:
    r, imported = run(sys.executable, "-c", "import reconciler.cli, reconciler.commands.plan")
    assert r.returncode == 0, errors_of(r)
    assert {"typer", "pydantic", "httpx"} <= imported
    assert imported & {"deepdiff", "rich", "click", "pygments"} == set()


def test_version_to_a_closed_stdout_is_exit_1_without_a_traceback() -> None:
    read_end, write_end = os.pipe()
    os.close(read_end)
    try:
        r, _ = run(RECONCILE, "version", stdout=write_end)
    finally:
        os.close(write_end)
    assert r.returncode == 1
    assert errors_of(r) == ""


def test_the_deferred_context_verifies_and_reads_its_certificates_on_first_use() -> None:
    ctx = deferred_default()
    assert (ctx.verify_mode, ctx.check_hostname) == (ssl.CERT_REQUIRED, True)
    assert ctx.cert_store_stats()["x509_ca"] == 0  # nothing read while the client is built
    ctx.wrap_bio(ssl.MemoryBIO(), ssl.MemoryBIO(), server_hostname="vault.example.com")
    assert ctx.cert_store_stats()["x509_ca"] > 0
