"""Run the `reconcile` CLI in-process, the way a user would call it, under the leak guard."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from typer.testing import CliRunner

from reconciler.cli import app
from tests import leaks


@dataclass(frozen=True)
class Run:
    exit_code: int
    stdout: str
    stderr: str

    @property
    def output(self) -> str:
        return self.stdout + self.stderr


def reconcile(*args: str | Path, env: Mapping[str, str] | None = None) -> Run:
    """Run the CLI; the test's leak guard checks its output and the files it wrote for secrets."""
    argv = [str(a) for a in args]
    run_env = dict(env or {})
    guard = leaks.current()
    if guard is None:  # outside a test (a script): no guard to report to
        return _invoke(argv, run_env)
    with guard.watch(argv, {**os.environ, **run_env}) as streams:
        run = _invoke(argv, run_env)
        streams.add("stdout", run.stdout)
        streams.add("stderr", run.stderr)
    return run


def _invoke(argv: list[str], env: dict[str, str]) -> Run:
    result = CliRunner().invoke(app, argv, env=env, catch_exceptions=False)
    return Run(result.exit_code, result.stdout, result.stderr)


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


SHA_A = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"
SHA_B = "60303ae22b998861bce3b28f33eec1be758a213c86c93c076dbe9f558c11c752"
SHA_C = "fd61a03af4f77d870fc21e05e7e80678095c92d808cfb3b5c279ee04c74aca13"
