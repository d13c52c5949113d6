"""Confirmation before apply: asked on a real pseudo-terminal, refused without one, never for saved plans."""

from __future__ import annotations

import json
import os
import pty
import select
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.cli import SHA_A, reconcile, write
from tests.servers import BaoServer

PROMPT = b"Only 'yes' will be accepted: "
KV = f"""
plugins:
  - name: kv-extra
    type: secret
    versions:
      - version: 1.4.2
        sha256: {SHA_A}
        env: {{API_KEY: hunter2-secret}}
      - version: 1.5.0
        sha256: {SHA_A}
"""


@pytest.fixture
def env(bao: BaoServer) -> dict[str, str]:
    bao.add_plugin_file("kv-extra")
    return {"VAULT_ADDR": bao.address, "VAULT_TOKEN": bao.token}


def catalog(bao: BaoServer) -> set[tuple[str, str, str]]:
    with bao.client() as c:
        detailed = c.get("/v1/sys/plugins/catalog").json()["data"]["detailed"]
    return {(e["type"], e["name"], e["version"]) for e in detailed if not e["builtin"]}


class Terminal:
    """`reconcile` run as a subprocess whose stdin, stdout and stderr are a pseudo-terminal."""

    def __init__(self, args: list[str], env: dict[str, str]) -> None:
        self.master, slave = pty.openpty()
        binary = str(Path(sys.executable).parent / "reconcile")
        self.proc = subprocess.Popen(
            [binary, *args], stdin=slave, stdout=slave, stderr=slave, env={**os.environ, **env}, close_fds=True
        )
        os.close(slave)
        self.seen = b""

    def read(self, until: bytes | None = None, timeout: float = 60.0) -> bytes:
        """Read until `until` appears, or (None) until the process closes the terminal."""
        deadline = time.monotonic() + timeout
        while until is None or until not in self.seen:
            left = deadline - time.monotonic()
            assert left > 0, f"timed out; output so far: {self.seen.decode(errors='replace')}"
            ready, _, _ = select.select([self.master], [], [], left)
            if not ready:
                continue
            try:
                chunk = os.read(self.master, 4096)
            except OSError:  # EIO: every writer has closed the terminal
                break
            if not chunk:
                break
            self.seen += chunk
        return self.seen

    def type(self, data: bytes) -> None:
        os.write(self.master, data)

    def finish(self) -> tuple[int, str]:
        self.read()
        code = self.proc.wait(timeout=60)
        os.close(self.master)
        return code, self.seen.decode(errors="replace").replace("\r\n", "\n")


def test_yes_on_a_terminal_applies(bao: BaoServer, env, tmp_path: Path) -> None:
    m = write(tmp_path / "m.yaml", KV)
    term = Terminal(["apply", "-m", str(m)], env)
    shown = term.read(until=PROMPT).decode()
    assert "+ register secret/kv-extra v1.4.2" in shown  # the plan comes first
    assert f"Apply 2 changes to {bao.address}? Only 'yes' will be accepted: " in shown
    assert catalog(bao) == set()  # nothing written while asking
    term.type(b"yes\n")
    code, output = term.finish()
    assert code == 0, output
    assert "Apply complete: 2 done." in output
    assert catalog(bao) == {("secret", "kv-extra", "v1.4.2"), ("secret", "kv-extra", "v1.5.0")}
    assert "hunter2-secret" not in output
    assert bao.token not in output


@pytest.mark.parametrize("answer", [b"no\n", b"\n", b"YES\n", b"y\n", b"\x04"], ids=["no", "empty", "YES", "y", "EOF"])
def test_anything_but_yes_cancels_and_writes_nothing(bao: BaoServer, env, tmp_path: Path, answer: bytes) -> None:
    m = write(tmp_path / "m.yaml", KV)
    term = Terminal(["apply", "-m", str(m)], env)
    term.read(until=PROMPT)
    term.type(answer)
    code, output = term.finish()
    assert code == 1, output
    assert "Apply cancelled." in output
    assert "Applying" not in output
    assert "Traceback" not in output
    assert catalog(bao) == set()


def test_no_changes_and_saved_plans_ask_nothing_on_a_terminal(bao: BaoServer, env, tmp_path: Path) -> None:
    m = write(tmp_path / "m.yaml", KV)
    out = tmp_path / "plan.json"
    assert reconcile("plan", "-m", m, "--out", out, env=env).exit_code == 0
    code, output = Terminal(["apply", str(out), "-m", str(m)], env).finish()
    assert code == 0, output
    assert "Only 'yes'" not in output
    assert "Apply complete: 2 done." in output
    code, output = Terminal(["apply", "-m", str(m)], env).finish()
    assert code == 0, output
    assert "No changes" in output
    assert "Only 'yes'" not in output


def test_without_a_terminal_apply_refuses_unless_auto_approve(bao: BaoServer, env, tmp_path: Path) -> None:
    m = write(tmp_path / "m.yaml", KV)
    r = reconcile("apply", "-m", m, env=env)
    assert r.exit_code == 1
    assert "+ register secret/kv-extra v1.4.2" in r.stdout  # the plan is still shown
    assert "Error: apply needs approval, and standard input is not a terminal to ask on" in r.stderr
    assert "Hint: pass --auto-approve" in r.stderr
    assert "Traceback" not in r.output
    assert catalog(bao) == set()
    r = reconcile("apply", "-m", m, "--auto-approve", env=env)
    assert r.exit_code == 0, r.output
    assert catalog(bao) == {("secret", "kv-extra", "v1.4.2"), ("secret", "kv-extra", "v1.5.0")}
    r = reconcile("apply", "-m", m, env=env)  # nothing to do: nothing to approve
    assert r.exit_code == 0, r.output
    assert "No changes" in r.stdout


def test_without_a_terminal_a_saved_plan_is_the_approval(bao: BaoServer, env, tmp_path: Path) -> None:
    m = write(tmp_path / "m.yaml", KV)
    out = tmp_path / "plan.json"
    assert reconcile("plan", "-m", m, "--out", out, env=env).exit_code == 0
    r = reconcile("apply", out, "-m", m, env=env)
    assert r.exit_code == 0, r.output
    assert "Apply complete: 2 done." in r.stdout


def test_json_apply_needs_explicit_approval(bao: BaoServer, env, tmp_path: Path) -> None:
    m = write(tmp_path / "m.yaml", KV)
    r = reconcile("apply", "-m", m, "--format", "json", env=env)
    assert r.exit_code == 1
    assert r.stdout == ""
    assert "apply --format json cannot ask for confirmation" in r.stderr
    assert catalog(bao) == set()
    r = reconcile("apply", "-m", m, "--format", "json", "--auto-approve", env=env)
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)["outcome"]["ok"] is True
