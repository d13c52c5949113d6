"""Ctrl-C during apply: exit 130, a report of what was done and what did not start, and the next
apply converges. Real process, real signal, real OpenBao."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

from tests.cli import SHA_A, reconcile, write
from tests.servers import BaoServer


def test_interrupted_apply_reports_and_the_next_apply_converges(bao: BaoServer, tmp_path: Path, leaks) -> None:
    names = [f"p{i:02d}" for i in range(40)]
    for name in names:
        bao.add_plugin_file(name)
    text = "plugins:\n" + "".join(
        f"  - {{name: {n}, type: secret, versions: [{{version: 1.0.0, sha256: {SHA_A}}}]}}\n" for n in names
    )
    m = write(tmp_path / "m.yaml", text)
    env = {"VAULT_ADDR": bao.address, "VAULT_TOKEN": bao.token, "PATH": "/usr/bin:/bin", "NO_COLOR": "1"}
    reconcile_bin = Path(sys.executable).parent / "reconcile"
    args = ["apply", "-m", str(m), "--parallelism", "1", "--auto-approve"]
    proc = subprocess.Popen(
        [str(reconcile_bin), *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    assert proc.stdout is not None
    seen = []
    for line in proc.stdout:
        seen.append(line)
        if line.startswith("  ok "):
            proc.send_signal(signal.SIGINT)
            break
    rest, err = proc.communicate(timeout=60)
    output = "".join(seen) + rest
    leaks.check_streams(args, env, stdout=output, stderr=err)
    assert proc.returncode == 130, output + err
    assert "Interrupted." in err
    assert "Apply interrupted:" in output
    assert "not started: register secret/p39 v1.0.0" in output
    assert "Traceback" not in output + err
    r = reconcile("apply", "-m", m, "--auto-approve", env={"VAULT_ADDR": bao.address, "VAULT_TOKEN": bao.token})
    assert r.exit_code == 0, r.output
    assert (
        reconcile(
            "plan", "-m", m, "--detailed-exitcode", env={"VAULT_ADDR": bao.address, "VAULT_TOKEN": bao.token}
        ).exit_code
        == 0
    )
