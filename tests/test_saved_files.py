"""Files the CLI reads and writes, on the real OpenBao: malformed saved plans, `--out` and
GITHUB_STEP_SUMMARY problems. Every one is `Error: <what>: <why>`, exit 1, no traceback, and
nothing is sent to the server (the catalog stays empty)."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from reconciler import saved_schema
from tests.cli import SHA_A, reconcile, write
from tests.servers import BaoServer

KV = f"plugins:\n  - {{name: kv-extra, type: secret, versions: [{{version: 1.0.0, sha256: {SHA_A}}}]}}\n"


@pytest.fixture
def env(bao: BaoServer) -> dict[str, str]:
    bao.add_plugin_file("kv-extra")
    return {"VAULT_ADDR": bao.address, "VAULT_TOKEN": bao.token}


def catalog(bao: BaoServer) -> set[tuple[str, str, str]]:
    with bao.client() as c:
        detailed = c.get("/v1/sys/plugins/catalog").json()["data"]["detailed"]
    return {(e["type"], e["name"], e["version"]) for e in detailed if not e["builtin"]}


@pytest.fixture
def good_plan(env, tmp_path: Path) -> tuple[Path, dict[str, Any]]:
    m = write(tmp_path / "m" / "m.yaml", KV)
    out = tmp_path / "good.json"
    r = reconcile("plan", "-m", m.parent, "--out", out, env=env)
    assert r.exit_code == 0, r.output
    return m.parent, json.loads(out.read_text())


def edit(data: dict[str, Any], path: str, value: Any) -> dict[str, Any]:
    """A deep copy of `data` with `a.b.0.c` set to `value` (`...` deletes it)."""
    copy = json.loads(json.dumps(data))
    *parents, last = path.split(".")
    node: Any = copy
    for key in parents:
        node = node[int(key)] if isinstance(node, list) else node[key]
    if value is ...:
        del node[last]
    elif isinstance(node, list):
        node[int(last)] = value
    else:
        node[last] = value
    return copy


MISTYPED = [
    ("format_version", 1.0, "format_version: expected a valid integer"),
    ("format_version", "1", "format_version: expected a valid integer"),
    ("format_version", True, "format_version: expected a valid integer"),
    ("format_version", None, "format_version: expected a valid integer"),
    ("format_version", 2, "format_version: unsupported format_version 2 (this reconcile reads 1)"),
    ("format_version", ..., "format_version: missing"),
    ("target", None, "target: expected a valid dictionary"),
    ("target.address", None, "target.address: expected a valid string"),
    ("target.address", 8200, "target.address: expected a valid string"),
    ("target.server", ..., "target.server: missing"),
    ("target.extra", "x", "target.extra: unknown key"),
    ("changes", None, "changes: expected a valid list"),
    ("changes", {}, "changes: expected a valid list"),
    ("changes.0", None, "changes.0: expected a valid dictionary"),
    ("changes.0.name", None, "changes.0.name: expected a valid string"),
    ("changes.0.fields", "sha256", "changes.0.fields: expected a valid list"),
    ("changes.0.after", [], "changes.0.after: expected a valid dictionary"),
    ("changes.0.blocked", False, "changes.0.blocked: expected a valid string"),
    ("saved", None, "saved: expected a valid dictionary"),
    ("saved.manifests_digest", None, "saved.manifests_digest: expected a valid string"),
    ("saved.manifests_digest", "abc", "saved.manifests_digest: String should match pattern"),
    ("saved.live_fingerprint", ..., "saved.live_fingerprint: missing"),
    ("saved.options", None, "saved.options: expected a valid dictionary"),
    ("saved.options.prune", None, "saved.options.prune: expected a valid boolean"),
    ("saved.options.prune", "false", "saved.options.prune: expected a valid boolean"),
    ("saved.options.prune", 0, "saved.options.prune: expected a valid boolean"),
    ("saved.options.replace", "secret/kv", "saved.options.replace: expected a valid list"),
    ("saved.options.replace", [None], "saved.options.replace.0: expected a valid string"),
    ("saved.options.typo", True, "saved.options.typo: unknown key"),
]


@pytest.mark.parametrize(("field", "value", "message"), MISTYPED, ids=[f"{f}={v!r}" for f, v, _ in MISTYPED])
def test_a_saved_plan_with_a_null_or_mistyped_field_is_refused(
    bao: BaoServer, env, tmp_path: Path, good_plan, field: str, value: Any, message: str
) -> None:
    manifests, data = good_plan
    bad = write(tmp_path / "bad.json", json.dumps(edit(data, field, value)))
    r = reconcile("apply", bad, "-m", manifests, env=env)
    assert r.exit_code == 1, r.output
    assert r.stdout == ""
    assert f"Error: {bad}: not a valid saved plan: {message}" in r.stderr
    assert "Hint: make a new one with `reconcile plan --out FILE`" in r.stderr
    assert "Traceback" not in r.output
    assert catalog(bao) == set()


def _fifo(path: Path) -> Path:
    os.mkfifo(path)
    return path


def _dangling(path: Path) -> Path:
    path.symlink_to(path.parent / "nowhere")
    return path


def _loop(path: Path) -> Path:
    path.symlink_to(path)
    return path


def _under_a_file(path: Path) -> Path:
    write(path.parent / "file", "x")
    return path.parent / "file" / "plan.json"


def _huge(path: Path) -> Path:
    with path.open("wb") as f:  # sparse: no disk space used
        f.truncate(saved_schema.MAX_BYTES + 1)
    return path


BROKEN_FILES: list[tuple[str, Callable[[Path], Path], str]] = [
    ("not JSON", lambda p: write(p, "plan: yes\n"), "not a valid saved plan: invalid JSON: Expecting value: line 1"),
    ("truncated", lambda p: write(p, '{"format_version": 1, "saved": {'), "not a valid saved plan: invalid JSON"),
    ("empty", lambda p: write(p, ""), "not a valid saved plan: invalid JSON"),
    ("nested too deeply", lambda p: write(p, "[" * 200_000), "not a valid saved plan: invalid JSON: nested too deeply"),
    ("a huge number", lambda p: write(p, "9" * 5000), "not a valid saved plan: invalid JSON: Exceeds the limit"),
    ("not UTF-8", lambda p: (p.write_bytes(b'{"a": "\xff"}'), p)[1], "not a valid saved plan: not UTF-8 text"),
    ("a JSON list", lambda p: write(p, "[]"), "not a valid saved plan: expected a JSON object, got a list"),
    ("JSON null", lambda p: write(p, "null"), "not a valid saved plan: expected a JSON object, got null"),
    ("no saved section", lambda p: write(p, '{"format_version": 1}'), "not a saved plan (write one with"),
    ("a directory", lambda p: (p.mkdir(), p)[1], "is a directory, not a saved plan file"),
    ("a FIFO", _fifo, "not a regular file, not a saved plan file"),
    ("missing", lambda p: p, "cannot read the saved plan: No such file or directory"),
    ("a dangling symlink", _dangling, "cannot read the saved plan: No such file or directory"),
    ("a symlink loop", _loop, "cannot read the saved plan: Too many levels of symbolic links"),
    ("under a file", _under_a_file, "cannot read the saved plan: Not a directory"),
    ("huge", _huge, f"not a valid saved plan: {saved_schema.MAX_BYTES + 1:,} bytes is more than the limit"),
]


@pytest.mark.parametrize(("make", "message"), [b[1:] for b in BROKEN_FILES], ids=[b[0] for b in BROKEN_FILES])
def test_a_file_that_is_not_a_readable_saved_plan_is_refused(
    bao: BaoServer, env, tmp_path: Path, make: Callable[[Path], Path], message: str
) -> None:
    m = write(tmp_path / "m.yaml", KV)
    path = make(tmp_path / "plan.json")
    r = reconcile("apply", path, "-m", m, env=env)
    assert r.exit_code == 1, r.output
    assert f"Error: {path}: {message}" in r.stderr
    assert "Traceback" not in r.output
    assert catalog(bao) == set()


def test_a_valid_saved_plan_still_applies(bao: BaoServer, env, tmp_path: Path, good_plan) -> None:
    manifests, data = good_plan
    # Informational top-level keys are allowed (documented): apply does not read them.
    plan = write(tmp_path / "plan.json", json.dumps({**data, "comment": "reviewed by alice"}))
    r = reconcile("apply", plan, "-m", manifests, env=env)
    assert r.exit_code == 0, r.output
    assert catalog(bao) == {("secret", "kv-extra", "v1.0.0")}


# -- --out ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("where", "message"),
    [
        ("missing/plan.json", "--out {out}: the folder {folder} does not exist"),
        ("a-folder", "--out {out}: is a directory"),
        ("file/plan.json", "--out {out}: the folder {folder} does not exist"),
    ],
)
def test_out_problems_name_the_option_and_the_file_before_any_request(
    bao: BaoServer, env, tmp_path: Path, where: str, message: str
) -> None:
    (tmp_path / "a-folder").mkdir()
    write(tmp_path / "file", "x")
    m = write(tmp_path / "m.yaml", KV)
    out = tmp_path / where
    r = reconcile("plan", "-m", m, "--out", out, env={**env, "VAULT_ADDR": "http://127.0.0.1:1"})  # never reached
    assert r.exit_code == 1
    assert r.stdout == ""
    assert f"Error: {message.format(out=out, folder=out.parent)}" in r.stderr
    assert "Traceback" not in r.output
    assert not (tmp_path / "missing").exists()  # the folder is not created (as Terraform's -out)


def test_out_is_written_atomically_and_replaces_an_old_plan(bao: BaoServer, env, tmp_path: Path) -> None:
    m = write(tmp_path / "m.yaml", KV)
    out = write(tmp_path / "plans" / "plan.json", "old")
    os.link(out, tmp_path / "old-link")  # the old file is replaced, not overwritten in place
    r = reconcile("plan", "-m", m, "--out", out, env=env)
    assert r.exit_code == 0, r.output
    assert json.loads(out.read_text())["format_version"] == 1
    assert (tmp_path / "old-link").read_text() == "old"
    assert sorted(p.name for p in out.parent.iterdir()) == ["plan.json"]  # no temporary file left
    assert out.stat().st_mode & 0o777 == 0o644


def test_out_write_failure_is_an_error_not_a_traceback(bao: BaoServer, env, tmp_path: Path, monkeypatch) -> None:
    # A real failure in the middle of the write (root ignores permissions; a full disk cannot be arranged).
    def no_space(fd: int) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", no_space)
    m = write(tmp_path / "m.yaml", KV)
    out = write(tmp_path / "plans" / "plan.json", "old")
    r = reconcile("plan", "-m", m, "--out", out, env=env)
    assert r.exit_code == 1
    assert f"Error: --out {out}: cannot write: No space left on device" in r.stderr
    assert out.read_text() == "old"
    assert sorted(p.name for p in out.parent.iterdir()) == ["plan.json"]


# -- GITHUB_STEP_SUMMARY -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("where", "why"),
    [
        ("a-folder", "is a directory"),
        ("missing/summary.md", "No such file or directory"),
        ("file/summary.md", "Not a directory"),
        ("fifo", "No such device or address"),
        ("/sys/kernel/notes", "Permission denied"),
    ],
)
@pytest.mark.parametrize("command", ["plan", "drift", "apply"])
def test_an_unwritable_job_summary_fails_before_anything_is_done(
    bao: BaoServer, env, tmp_path: Path, where: str, why: str, command: str
) -> None:
    (tmp_path / "a-folder").mkdir()
    write(tmp_path / "file", "x")
    os.mkfifo(tmp_path / "fifo")
    m = write(tmp_path / "m.yaml", KV)
    summary = tmp_path / where
    args = [command, "-m", m] + (["--auto-approve"] if command == "apply" else [])
    r = reconcile(*args, env={**env, "GITHUB_STEP_SUMMARY": str(summary)})
    assert r.exit_code == 1, r.output
    assert r.stdout == ""
    assert f"Error: GITHUB_STEP_SUMMARY={summary}: cannot write the job summary: {why}" in r.stderr
    assert "Traceback" not in r.output
    assert catalog(bao) == set()


def test_a_job_summary_that_fails_on_write_is_an_error(bao: BaoServer, env, tmp_path: Path) -> None:
    # /proc/version opens for writing even for root, and every write fails: found only at the end.
    m = write(tmp_path / "m.yaml", KV)
    r = reconcile("plan", "-m", m, env={**env, "GITHUB_STEP_SUMMARY": "/proc/version"})
    assert r.exit_code == 1
    assert "Error: GITHUB_STEP_SUMMARY=/proc/version: cannot write the job summary: Input/output error" in r.stderr
    assert "Traceback" not in r.output
