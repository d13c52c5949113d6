"""A run that logged in is stopped by SIGTERM (CI's cancel) or Ctrl-C in the middle of an apply: it
still revokes its token, and exits 143 or 130 as without a login. Real process, real signal, real
OpenBao behind a proxy that holds one registration, so the signal arrives at a known point."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tests import leaks as leak_guard
from tests.auth_backends import RecordingProxy, approle_credentials, enable_auth, token_is_valid, write_role
from tests.cli import SHA_A, write
from tests.servers import BaoServer, serve_asgi

RECONCILE = str(Path(sys.executable).parent / "reconcile")


@pytest.mark.parametrize(
    ("signum", "code", "said"),
    [(signal.SIGTERM, 143, "Terminated.\n"), (signal.SIGINT, 130, "Interrupted.\n")],
)
def test_a_signal_during_apply_still_revokes_the_login_token(
    bao: BaoServer, tmp_path: Path, leaks, signum: int, code: int, said: str
) -> None:
    names = ["p00", "p01", "p02"]
    for name in names:
        bao.add_plugin_file(name)
    text = "plugins:\n" + "".join(
        f"  - {{name: {n}, type: secret, versions: [{{version: 1.0.0, sha256: {SHA_A}}}]}}\n" for n in names
    )
    m = write(tmp_path / "m.yaml", text)
    proxy = RecordingProxy(bao.address, hold=2)
    with enable_auth(bao, "approle") as mount, serve_asgi(proxy) as url:
        write_role(bao, mount, "reconcile-apply", {"token_policies": ["reconcile-apply"], "token_ttl": "5m"})
        role_id, secret_id = approle_credentials(bao, mount, "reconcile-apply")
        leaks.secret(role_id, "the role ID")
        env = {
            "VAULT_ADDR": url,
            "VAULT_AUTH_METHOD": "approle",
            "VAULT_AUTH_PATH": mount,
            "VAULT_ROLE_ID": role_id,
            "VAULT_SECRET_ID": secret_id,
            "PATH": "/usr/bin:/bin",
            "NO_COLOR": "1",
        }
        args = ["apply", "-m", str(m), "--parallelism", "1", "--auto-approve"]
        proc = subprocess.Popen([RECONCILE, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
        try:
            assert proxy.holding.wait(timeout=60), "the second registration never came"
            proc.send_signal(signum)
            out, err = proc.communicate(timeout=60)
        finally:
            proxy.release.set()
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    leaks.check_streams(args, env, stdout=out, stderr=err)
    assert proc.returncode == code, out + err
    assert err.endswith(said), err
    assert "Apply interrupted: 1 done, 0 failed, 1 not started, 1 interrupted." in out
    assert len(proxy.issued) == 1
    token = proxy.issued[0]
    assert proxy.paths[-1] == "POST /v1/auth/token/revoke-self"
    assert not token_is_valid(bao, token)
    leak_guard.check({token: "the login token"}, [("stdout", out), ("stderr", err)])
