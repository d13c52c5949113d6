"""Start-up (issue 11): each command imports only what it needs, checked on the real entry point with
Python's import log (`PYTHONPROFILEIMPORTTIME`), never with timings. docs/performance.md has the times."""

from __future__ import annotations

import os
import socket
import ssl
import subprocess
import sys
from pathlib import Path

import pytest

from reconciler import __version__
from reconciler.http.tls import deferred_default
from tests.cli import SHA_A, reconcile, write

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
        assert r.stdout == f"{m}: valid (1 plugin versions, 0 runtimes, 0 pins, 0 mounts, 0 CSI plugins)\n"
        assert imported & {"typer", "click", "httpx", "rich", "tenacity", "deepdiff", "asyncio"} == set()
        assert {"pydantic", "yaml"} <= imported  # what validating needs


def test_plain_validate_beside_a_targets_file_validates_the_targets(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The fast path must not validate ./manifests where a reconcile.yaml says what to validate."""
    write(tmp_path / "team/kv.yaml", f"plugins:\n  - {{name: kv, type: secret, versions: [{{sha256: {SHA_A}}}]}}\n")
    write(tmp_path / "reconcile.yaml", "targets:\n  - {name: a, address: 'http://127.0.0.1:1', manifests: [team]}\n")
    monkeypatch.chdir(tmp_path)
    r, _ = run(RECONCILE, "validate")
    assert (r.returncode, errors_of(r)) == (0, "")
    assert (
        r.stdout
        == "reconcile.yaml: 1 targets\na: valid (1 plugin versions, 0 runtimes, 0 pins, 0 mounts, 0 CSI plugins)\n"
    )
    beside, _ = run(RECONCILE, "validate", "-m", "team")
    assert beside.returncode == 1
    assert "--manifests cannot be used with a targets file (reconcile.yaml)" in errors_of(beside)


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


# -- the entry point in-process (what the import log cannot show: its own lines, for coverage) ------


def test_main_answers_version_and_validate_itself(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from reconciler.__main__ import main

    for argv in (["version"], ["--version"]):
        with pytest.raises(SystemExit) as done:
            main(argv)
        assert done.value.code == 0
        assert capsys.readouterr().out == f"reconcile {__version__}\n"
    good = write(tmp_path / "m.yaml", "plugins: []\n")
    with pytest.raises(SystemExit) as done:
        main(["validate", f"--manifests={good}"])
    assert (done.value.code, capsys.readouterr().out) == (
        0,
        f"{good}: valid (0 plugin versions, 0 runtimes, 0 pins, 0 mounts, 0 CSI plugins)\n",
    )
    bad = write(tmp_path / "bad.yaml", "plugins: 1\n")
    with pytest.raises(SystemExit) as done:
        main(["validate", "-m", str(bad)])
    assert done.value.code == 1
    assert f"{bad}:1: plugins: expected a list, got a number" in capsys.readouterr().err


def test_main_hands_anything_else_to_the_parser(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from reconciler.__main__ import main

    monkeypatch.setattr(sys, "argv", ["reconcile", "validate", "--nope"])
    with pytest.raises(SystemExit) as done:
        main()
    assert done.value.code == 1
    assert "No such option: --nope" in capsys.readouterr().err


def test_the_version_command_of_the_parser_says_the_same() -> None:
    r = reconcile("version")  # in-process, through typer (the entry point answers it before)
    assert (r.exit_code, r.stdout) == (0, f"reconcile {__version__}\n")


@pytest.mark.parametrize("variable", ["SSL_CERT_FILE", "SSL_CERT_DIR", None])
def test_the_deferred_context_reads_what_httpx_would(variable: str | None, monkeypatch: pytest.MonkeyPatch) -> None:
    import certifi

    for name in ("SSL_CERT_FILE", "SSL_CERT_DIR"):
        monkeypatch.delenv(name, raising=False)
    if variable == "SSL_CERT_FILE":
        monkeypatch.setenv(variable, certifi.where())
    elif variable == "SSL_CERT_DIR":
        monkeypatch.setenv(variable, str(Path(certifi.where()).parent))  # a folder: read when used, here none
    ctx = deferred_default()
    with (
        socket.socket() as raw,
        ctx.wrap_socket(raw, server_hostname="vault.example.com", do_handshake_on_connect=False),
    ):
        pass  # wrapping is the first use, as httpcore's sync backend does it
    loaded = ctx.cert_store_stats()["x509_ca"]
    assert loaded == 0 if variable == "SSL_CERT_DIR" else loaded > 0
    assert (ctx.verify_mode, ctx.check_hostname) == (ssl.CERT_REQUIRED, True)
