"""The floor: the least a correct client must do, with raw httpx and no parsing beyond what it needs.

1. `GET sys/plugins/catalog` (one list: identities and sha256 of every entry);
2. `GET` each listed external entry: `command` and `args` are not in the list (reference §2.3), and on
   OpenBao a prune candidate must be checked for `declarative` (writing or deleting one is unsafe);
3. `POST` every declared entry that is missing or differs, `DELETE` every undeclared one.

The desired state is given as data (no manifests to read), no server detection, no delete
confirmation, no retries, no output. Two variants: sequential (one keep-alive connection, sync
client) and concurrent (an async client with `concurrency` workers, default 8 = reconcile's default
`--parallelism`). The benchmark takes the faster of the two as the floor.
"""

from __future__ import annotations

import asyncio
import importlib.util
import os
import sys
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

# The failed-import cache reconciler/http/client.py sets (encode/httpcore#1102): the concurrent
# floor uses the same async httpx, and the floor must not pay a cost the tool under test avoids.
if "sniffio" not in sys.modules and importlib.util.find_spec("sniffio") is None:
    sys.modules["sniffio"] = None  # type: ignore[assignment]
# Likewise httpx's own command-line client, which reconciler/http/__init__.py keeps from loading
# (BENCH_FLOOR_PLAIN=1: a script as anyone would write it, paying for it; bench/startup.py shows both).
if os.environ.get("BENCH_FLOOR_PLAIN") != "1":
    sys.modules.setdefault("httpx._main", None)  # type: ignore[arg-type]

import httpx  # noqa: TID251 - the floor is raw httpx by definition; after the lines above

from bench.counting import CATALOG
from bench.seed import Entry

Key = tuple[str, str, str]


@dataclass
class Outcome:
    counts: Counter[str]
    changes: int


def listed_entries(body: Any) -> dict[Key, str]:
    detailed = (body.get("data") or {}).get("detailed") or []
    return {(d["type"], d["name"], d["version"]): d.get("sha256", "") for d in detailed if not d["builtin"]}


def entry_path(key: Key) -> tuple[str, dict[str, str]]:
    t, name, version = key
    return f"{CATALOG}/{t}/{name}", ({"version": version} if version else {})


def todo(desired: Sequence[Entry], listed: dict[Key, str], details: dict[Key, Any]) -> tuple[list[Entry], list[Key]]:
    """Entries to register and keys to delete."""
    want = {e.key: e for e in desired}
    writes = []
    for entry in desired:
        data = details.get(entry.key)
        if (
            entry.key not in listed
            or listed[entry.key] != entry.sha256
            or data is None
            or data.get("command") != entry.command
            or list(data.get("args") or []) != list(entry.args)
        ):
            writes.append(entry)
    deletes = [k for k in listed if k not in want and not (details.get(k) or {}).get("declarative")]
    return writes, deletes


def sequential(address: str, token: str, desired: Sequence[Entry], *, apply: bool = True) -> Outcome:
    counts: Counter[str] = Counter()
    with httpx.Client(base_url=address, headers={"X-Vault-Token": token}, timeout=60.0) as c:
        counts["list"] += 1
        listed = listed_entries(c.get(CATALOG).raise_for_status().json())
        details: dict[Key, Any] = {}
        for key in listed:
            path, params = entry_path(key)
            counts["read"] += 1
            details[key] = c.get(path, params=params).raise_for_status().json()["data"]
        writes, deletes = todo(desired, listed, details)
        if apply:
            for entry in writes:
                counts["write"] += 1
                c.post(entry.path, json=entry.body()).raise_for_status()
            for key in deletes:
                path, params = entry_path(key)
                counts["delete"] += 1
                c.delete(path, params=params).raise_for_status()
    return Outcome(counts, len(writes) + len(deletes))


async def concurrent(
    address: str, token: str, desired: Sequence[Entry], *, concurrency: int = 8, apply: bool = True
) -> Outcome:
    counts: Counter[str] = Counter()
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(base_url=address, headers={"X-Vault-Token": token}, limits=limits, timeout=60.0) as c:

        async def pool(jobs: list[Any], job: Any) -> None:
            queue = iter(jobs)

            async def work() -> None:
                for item in queue:
                    await job(item)

            await asyncio.gather(*(work() for _ in range(min(concurrency, len(jobs)))))

        counts["list"] += 1
        listed = listed_entries((await c.get(CATALOG)).raise_for_status().json())
        details: dict[Key, Any] = {}

        async def read(key: Key) -> None:
            path, params = entry_path(key)
            counts["read"] += 1
            details[key] = (await c.get(path, params=params)).raise_for_status().json()["data"]

        await pool(list(listed), read)
        writes, deletes = todo(desired, listed, details)

        async def write(item: Entry | Key) -> None:
            if isinstance(item, Entry):
                counts["write"] += 1
                (await c.post(item.path, json=item.body())).raise_for_status()
            else:
                path, params = entry_path(item)
                counts["delete"] += 1
                (await c.delete(path, params=params)).raise_for_status()

        if apply:
            await pool([*writes, *deletes], write)
    return Outcome(counts, len(writes) + len(deletes))


def main(argv: Sequence[str] | None = None) -> None:
    """`python -m bench.floor ADDRESS N [--concurrent]`: the floor's no-op plan as a whole process (the
    start-up benchmark, bench/startup.py, times it against `reconcile plan`). Token: VAULT_TOKEN."""
    from bench.seed import catalog

    args = list(sys.argv[1:] if argv is None else argv)
    address, n = args[0], int(args[1])
    desired = catalog(n)
    token = os.environ["VAULT_TOKEN"]
    if "--concurrent" in args:
        outcome = asyncio.run(concurrent(address, token, desired, apply=False))
    else:
        outcome = sequential(address, token, desired, apply=False)
    sys.stdout.write(f"{outcome.changes} changes, {sum(outcome.counts.values())} requests\n")


if __name__ == "__main__":
    main()
