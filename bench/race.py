"""`python -m bench.race`: how often two racing applies both exit 0 with a catalog that matches
neither manifest set (docs/ci.md, "Concurrent applies"). A one-off measurement, not a test.

Each trial seeds a fresh catalog, then starts two `reconcile apply` processes at once with
different manifest sets over the same plugins (A and B re-register 10 shared plugins with their
own sha256 and each adds 5 of its own), and classifies the outcome by exit codes and final catalog.
"""

from __future__ import annotations

import argparse
import collections
import subprocess
import sys
import tempfile
from pathlib import Path

from tests.cli import SHA_A, SHA_B, SHA_C
from tests.servers import BaoServer, run_bao

SHARED = [f"p{i:02d}" for i in range(10)]


def _manifest(path: Path, sha: str, own: str, lock: bool) -> tuple[Path, set[tuple[str, str]]]:
    names = [*SHARED, *(f"{own}{i}" for i in range(5))]
    text = "plugins:\n" + "".join(
        f"  - {{name: {n}, type: secret, versions: [{{version: 1.0.0, sha256: {sha}}}]}}\n" for n in names
    )
    if lock:
        text += "settings:\n  lock: {kv_mount: secret, key: bench/race-lock}\n"
    path.write_text(text)
    return path, {(n, sha) for n in names}


def _catalog(bao: BaoServer) -> set[tuple[str, str]]:
    with bao.client() as c:
        detailed = c.get("/v1/sys/plugins/catalog").json()["data"]["detailed"]
    return {(e["name"], e["sha256"]) for e in detailed if not e["builtin"]}


def _seed(bao: BaoServer) -> None:
    bao.reset_catalog()
    with bao.client() as c:
        for n in SHARED:
            body = {"sha256": SHA_C, "command": n, "version": "v1.0.0"}
            c.post(f"/v1/sys/plugins/catalog/secret/{n}", json=body).raise_for_status()


def _command(checkout: str) -> list[str]:
    """`reconcile`, or the one of another source tree (an older commit) past this editable install."""
    if not checkout:
        return [str(Path(sys.executable).parent / "reconcile")]
    code = (
        "import sys; sys.meta_path[:] = [f for f in sys.meta_path if 'editable' not in repr(f)]; "
        f"sys.path.insert(0, {checkout!r}); from reconciler.cli import main; main()"
    )
    return [sys.executable, "-c", code]


def trial(bao: BaoServer, manifests: list[tuple[Path, set[tuple[str, str]]]], lock: bool, checkout: str = "") -> str:
    """One race; returns the outcome's class."""
    _seed(bao)
    env = {"VAULT_ADDR": bao.address, "VAULT_TOKEN": bao.token, "PATH": "/usr/bin:/bin", "NO_COLOR": "1"}
    extra = ["--lock-timeout", "2m"] if lock else []
    procs = [
        subprocess.Popen(
            [*_command(checkout), "apply", "-m", str(m), "--auto-approve", *extra],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            env=env,
        )
        for m, _ in manifests
    ]
    codes = [p.wait(timeout=120) for p in procs]
    final = _catalog(bao)
    matches = any(final == wanted for _, wanted in manifests)
    if codes == [0, 0]:
        return "both exit 0, catalog matches one set" if matches else "both exit 0, catalog matches NEITHER"
    return f"exit codes {codes}, catalog matches {'one set' if matches else 'neither'}"


def main() -> None:
    p = argparse.ArgumentParser(prog="python -m bench.race", description=__doc__)
    p.add_argument("--trials", type=int, default=20)
    p.add_argument("--without-lock-only", action="store_true", help="skip the trials with the lock")
    p.add_argument("--checkout", default="", help="run reconcile from this source tree (e.g. an older commit)")
    args = p.parse_args()
    with run_bao() as bao, tempfile.TemporaryDirectory() as tmp:
        for name in [*SHARED, *(f"a{i}" for i in range(5)), *(f"b{i}" for i in range(5))]:
            bao.add_plugin_file(name)
        for lock in (False,) if args.without_lock_only else (False, True):
            manifests = [
                _manifest(Path(tmp) / f"a{lock}.yaml", SHA_A, "a", lock),
                _manifest(Path(tmp) / f"b{lock}.yaml", SHA_B, "b", lock),
            ]
            outcomes = collections.Counter(trial(bao, manifests, lock, args.checkout) for _ in range(args.trials))
            print(f"{'with' if lock else 'without'} the lock, {args.trials} trials:")
            for outcome, count in outcomes.most_common():
                print(f"  {count:3d}  {outcome}")


if __name__ == "__main__":
    main()
