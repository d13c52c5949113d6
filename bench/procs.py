"""Child processes measured from outside: wall time, CPU and peak RSS via `os.wait4`, server CPU via /proc."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Finished:
    """A child that ran to completion, with the kernel's accounting for it (and its waited-for children)."""

    code: int
    wall: float
    """Seconds from spawn to exit of the command (includes its interpreter start-up)."""
    cpu: float
    """User + system CPU seconds of the command and the descendants it waited for."""
    peak_rss_mb: float
    """ru_maxrss of the command (the largest of it and its waited-for descendants), in MiB."""
    stdout: str
    stderr: str


SPAWNER = """
import json, os, sys, time
out, argv = sys.argv[1], sys.argv[2:]
start = time.perf_counter()
pid = os.posix_spawnp(argv[0], argv, os.environ)
_, status, ru = os.wait4(pid, 0)
wall = time.perf_counter() - start
with open(out, "w") as f:
    json.dump({"code": os.waitstatus_to_exitcode(status), "wall": wall,
               "cpu": ru.ru_utime + ru.ru_stime, "maxrss_kb": ru.ru_maxrss}, f)
"""
"""Runs one command and reports *its* rusage. Linux folds the memory high-water mark of the process
that spawned a child into the child's `ru_maxrss` (vfork + exec), so measured from the benchmark
process every child would seem at least as big as the benchmark. This helper is Python in isolated
mode (~8 MB): that is the floor it leaves, well under any measured process."""


def run(
    argv: Sequence[str],
    *,
    env: Mapping[str, str] | None = None,
    stdin: str = "",
    cwd: Path | None = None,
    timeout: float = 1800.0,
) -> Finished:
    """Run `argv` to completion through the spawner; wall time, CPU and peak RSS are the command's own."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err, tempfile.TemporaryDirectory() as tmp:
        report = Path(tmp) / "rusage.json"
        proc = subprocess.Popen(
            [sys.executable, "-I", "-c", SPAWNER, str(report), *argv],
            stdin=subprocess.PIPE,
            stdout=out,
            stderr=err,
            env=dict(env) if env is not None else None,
            cwd=cwd,
            start_new_session=True,  # on timeout the whole group (spawner and command) is stopped
        )
        assert proc.stdin is not None
        proc.stdin.write(stdin.encode())
        proc.stdin.close()
        killer = threading.Timer(timeout, os.killpg, (proc.pid, signal.SIGKILL))
        killer.start()
        try:
            proc.wait()
        finally:
            killer.cancel()
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read().decode(errors="replace"), err.read().decode(errors="replace")
        if not report.exists():
            return Finished(
                code=proc.returncode or -1, wall=0.0, cpu=0.0, peak_rss_mb=0.0, stdout=stdout, stderr=stderr
            )
        usage = json.loads(report.read_text())
        return Finished(
            code=int(usage["code"]),
            wall=float(usage["wall"]),
            cpu=float(usage["cpu"]),
            peak_rss_mb=int(usage["maxrss_kb"]) / 1024,
            stdout=stdout,
            stderr=stderr,
        )


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds a running process has used so far (from /proc/PID/stat)."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return 0.0
    fields = text.rsplit(")", 1)[1].split()
    ticks = int(fields[11]) + int(fields[12])  # utime, stime
    return ticks / os.sysconf("SC_CLK_TCK")


def load_average() -> float:
    return os.getloadavg()[0]
