"""The leak guard (tests/leaks.py) itself: it must fail on a real leak, wherever it is."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.cli import SHA_A, reconcile, write
from tests.leaks import Guard, Leak

MANIFEST = f"""
plugins:
  - name: kv-extra
    type: secret
    versions:
      - {{version: 1.0.0, sha256: {SHA_A}, env: {{API_KEY: from-the-manifest-42}}}}
"""


def test_a_registered_secret_in_stdout_or_stderr_is_a_leak(leaks: Guard) -> None:
    leaks.secret("correct-horse-battery")
    with pytest.raises(Leak, match="a registered secret leaked into stderr"):
        leaks.check_streams([], {}, stdout="fine", stderr="oops: correct-horse-battery\n")
    leaks.check_streams([], {}, stdout="fine", stderr="fine")  # no false alarm


@pytest.mark.parametrize(
    ("args", "env", "text", "what"),
    [
        ([], {"VAULT_TOKEN": "hvs.tok-0123"}, "token hvs.tok-0123", "the value of VAULT_TOKEN"),
        ([], {"BAO_TOKEN": "bao-tok-0123"}, "bao-tok-0123", "the value of BAO_TOKEN"),
        ([], {"NOMAD_TOKEN": "nomad-tok-01"}, "nomad-tok-01", "the value of NOMAD_TOKEN"),
        ([], {"GITHUB_TOKEN": "ghp_abcdef"}, "ghp_abcdef", "the value of GITHUB_TOKEN"),
        ([], {"MY_SECRET_KEY": "sk-live-99"}, "sk-live-99", "the value of MY_SECRET_KEY"),
        ([], {"CI_JOB_JWT": "eyJhbGciOi"}, "eyJhbGciOi", "the value of CI_JOB_JWT"),
        ([], {"VAULT_ADDR": "http://alice:pa55word@h:1"}, "at http://alice:pa55word@h:1", "the userinfo of VAULT_ADDR"),
        ([], {"BAO_ADDR": "http://alice:pa55word@h:1"}, "password pa55word", "the password of BAO_ADDR"),
        ([], {"NOMAD_ADDR": "https://n:p%40ss-w0rd@h"}, "p@ss-w0rd", "the password of NOMAD_ADDR"),
        (["plan", "--address", "http://u:hunter22@h"], {}, "hunter22", "the password of --address"),
        (["plan", "--nomad-address=http://u:hunter22@h"], {}, "u:hunter22", "the userinfo of --nomad-address"),
    ],
)
def test_every_kind_of_known_secret_is_searched(
    leaks: Guard, args: list[str], env: dict[str, str], text: str, what: str
) -> None:
    with pytest.raises(Leak, match=what):
        leaks.check_streams(args, env, stdout=text)


def test_plugin_env_values_from_the_manifests_are_secrets(leaks: Guard, tmp_path: Path) -> None:
    m = write(tmp_path / "m.yaml", MANIFEST)
    with pytest.raises(Leak, match=f"the env value API_KEY in {m}"):
        leaks.check_streams(["plan", "-m", str(m)], {}, stdout="from-the-manifest-42")


def test_the_token_file_is_a_secret(leaks: Guard, tmp_path: Path) -> None:
    write(tmp_path / "home" / ".vault-token", "file-token-77\n")
    with pytest.raises(Leak, match=r"the token in ~/\.vault-token"):
        leaks.check_streams([], {"HOME": str(tmp_path / "home")}, stderr="file-token-77")


def test_a_file_written_during_the_run_is_checked(leaks: Guard, tmp_path: Path) -> None:
    leaks.secret("in-a-file-secret")
    (tmp_path / "old.txt").write_text("in-a-file-secret")  # written before: not the run's doing
    with leaks.watch([], {}):
        (tmp_path / "clean.txt").write_text("nothing here")
    with pytest.raises(Leak, match=r"leaked into .*/deep/plan\.json \(line 2\)"), leaks.watch([], {}):
        write(tmp_path / "deep" / "plan.json", "{\n  in-a-file-secret\n}")


def test_the_step_summary_and_out_files_are_checked_wherever_they_are(
    leaks: Guard, tmp_path_factory: pytest.TempPathFactory
) -> None:
    elsewhere = tmp_path_factory.mktemp("elsewhere")  # not under the test's tmp_path
    summary, out = elsewhere / "summary.md", elsewhere / "plan.json"
    env = {"GITHUB_STEP_SUMMARY": str(summary), "VAULT_TOKEN": "summary-token-1"}
    with pytest.raises(Leak, match=r"the value of VAULT_TOKEN leaked into .*summary\.md"), leaks.watch([], env):
        summary.write_text("summary-token-1")
    with pytest.raises(Leak, match=r"plan\.json"), leaks.watch(["plan", "--out", str(out)], env):
        out.write_text("summary-token-1")


def test_a_cli_run_goes_through_the_guard(leaks: Guard, tmp_path: Path) -> None:
    m = write(tmp_path / "m.yaml", MANIFEST)
    runs = leaks.runs
    # The CLI echoes the manifests path: make that path the secret, and the run must be caught.
    leaks.secret(str(m))
    with pytest.raises(Leak, match="a registered secret leaked into stdout"):
        reconcile("validate", "-m", m)
    assert leaks.runs == runs + 1


def test_values_that_are_part_of_the_test_paths_cannot_be_registered(leaks: Guard, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="distinctive"):
        leaks.secret(tmp_path.name)
    with pytest.raises(ValueError, match="distinctive"):
        leaks.secret("")
    # ... and implicit ones are not searched (`root` is the emulator's token and in /tmp/pytest-of-root).
    part = os.path.basename(os.getcwd())
    leaks.check_streams([], {"VAULT_TOKEN": part}, stdout=os.getcwd())
