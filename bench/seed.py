"""The benchmark's catalog: entries, plugin files, manifests, and admin operations on the server.

N entries = ceil(N / 4) plugins x 4 versions (the last plugin may have fewer). Plugin `i` is named
`bench-NNNNN`, of type auth / database / secret in turn, with one executable stub file per command
in the server's plugin directory (OpenBao runs the command on every registration, reference §2.5.3,
so the file must exist; its sha256 is the file's real digest). Every other plugin has `args`.

The 10% change (`changed`) picks N/10 entries spread evenly over the catalog: half are updated to a
new build (a new command file `<name>-r2` with its own sha256), half are deleted from the manifests
(pruned).
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import httpx  # noqa: TID251 - the benchmark talks to the server directly

from bench.counting import CATALOG

TYPES = ("auth", "database", "secret")
VERSIONS = ("v1.0.0", "v1.1.0", "v1.2.0", "v2.0.0")
ADMIN_THREADS = 4


class BenchError(RuntimeError):
    """The benchmark cannot go on: a server or a tool did not do what it was asked to."""


@dataclass(frozen=True)
class Entry:
    """One catalog entry as the benchmark declares it."""

    type: str
    name: str
    version: str
    sha256: str
    command: str
    args: tuple[str, ...] = ()

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.type, self.name, self.version)

    @property
    def path(self) -> str:
        return f"{CATALOG}/{self.type}/{self.name}"

    @property
    def params(self) -> dict[str, str]:
        return {"version": self.version}

    def body(self) -> dict[str, Any]:
        return {"sha256": self.sha256, "command": self.command, "args": list(self.args), "version": self.version}


@dataclass(frozen=True)
class Change:
    """The 10% change: `after` is the new desired catalog; `updated` holds the new entries, `deleted` the old."""

    before: list[Entry]
    after: list[Entry]
    updated: list[Entry]
    deleted: list[Entry]

    @property
    def touched_before(self) -> list[Entry]:
        """The `before` entries the change modifies: registering them again restores `before`."""
        keys = {e.key for e in self.updated} | {e.key for e in self.deleted}
        return [e for e in self.before if e.key in keys]


def stub(command: str) -> bytes:
    """The plugin file for `command`: a shell script (not a real plugin; registration accepts it)."""
    return f"#!/bin/sh\n# reconcile benchmark stub: {command}\nexit 1\n".encode()


def digest(command: str) -> str:
    return hashlib.sha256(stub(command)).hexdigest()


def catalog(n: int) -> list[Entry]:
    """The first `n` entries (a prefix of every larger catalog: N=100 is the start of N=1000)."""
    entries: list[Entry] = []
    for i in range(math.ceil(n / len(VERSIONS))):
        name = f"bench-{i:05d}"
        args = ("-tls-skip-verify",) if i % 2 == 0 else ()
        sha = digest(name)
        entries += [Entry(TYPES[i % len(TYPES)], name, v, sha, name, args) for v in VERSIONS]
    return entries[:n]


def changed(entries: Sequence[Entry]) -> Change:
    """Update N/20 entries to a new build and delete N/20 (at least one of each)."""
    k = max(2, len(entries) // 10)
    step = len(entries) / k
    picked = [int(j * step) for j in range(k)]
    update_at = set(picked[0::2])
    delete_at = set(picked[1::2])
    after: list[Entry] = []
    updated: list[Entry] = []
    deleted: list[Entry] = []
    for i, entry in enumerate(entries):
        if i in delete_at:
            deleted.append(entry)
            continue
        if i in update_at:
            command = f"{entry.name}-r2"
            new = replace(entry, command=command, sha256=digest(command))
            updated.append(new)
            after.append(new)
        else:
            after.append(entry)
    return Change(before=list(entries), after=after, updated=updated, deleted=deleted)


def write_plugin_files(plugin_dir: Path, entries: Iterable[Entry]) -> int:
    """One executable stub per distinct command; returns how many files were written."""
    commands = {e.command for e in entries}
    for command in commands:
        path = plugin_dir / command
        path.write_bytes(stub(command))
        path.chmod(0o755)
    return len(commands)


def write_manifests(folder: Path, entries: Sequence[Entry]) -> Path:
    """One YAML file per plugin, as a GitOps repository would have them."""
    folder.mkdir(parents=True, exist_ok=True)
    for old in folder.glob("*.yaml"):
        old.unlink()
    by_plugin: dict[str, list[Entry]] = {}
    for e in entries:
        by_plugin.setdefault(e.name, []).append(e)
    for name, versions in by_plugin.items():
        lines = ["plugins:", f"  - name: {name}", f"    type: {versions[0].type}", "    versions:"]
        for e in versions:
            lines += [
                f"      - version: {e.version.removeprefix('v')}",
                f"        sha256: {e.sha256}",
                f"        command: {e.command}",
            ]
            if e.args:
                lines.append("        args: [" + ", ".join(f'"{a}"' for a in e.args) + "]")
        (folder / f"{name}.yaml").write_text("\n".join(lines) + "\n")
    return folder


class Admin:
    """Untimed set-up and checks, straight to the server (never through the latency proxy).

    Sync clients in a few threads: for bulk deletes this is 3x faster than an async client here
    (async httpx costs ~2-3 ms of CPU per request, more with more connections).
    """

    def __init__(self, address: str, token: str) -> None:
        self.address = address
        self.token = token

    def _client(self) -> httpx.Client:
        return httpx.Client(base_url=self.address, headers={"X-Vault-Token": self.token}, timeout=120.0)

    def listed(self) -> dict[tuple[str, str, str], str]:
        """Every non-builtin entry on the server: key -> sha256."""
        with self._client() as c:
            r = c.get(CATALOG)
            r.raise_for_status()
            detailed = (r.json().get("data") or {}).get("detailed") or []
        return {(d["type"], d["name"], d["version"]): d.get("sha256", "") for d in detailed if not d["builtin"]}

    def clear(self) -> int:
        """Delete every non-builtin entry; returns how many there were."""
        keys = list(self.listed())
        self._each(keys, self._delete_key)
        return len(keys)

    def converge(self, entries: Sequence[Entry]) -> None:
        """Make the catalog hold exactly `entries`, touching only what differs (one list when in sync)."""
        have = self.listed()
        want = {e.key: e for e in entries}
        self._each([k for k in have if k not in want], self._delete_key)
        self.register([e for e in entries if have.get(e.key) != e.sha256])

    def register(self, entries: Sequence[Entry]) -> None:
        self._each(list(entries), self._register)

    def delete(self, entries: Sequence[Entry]) -> None:
        self._each([e.key for e in entries], self._delete_key)

    def verify(self, entries: Sequence[Entry], what: str) -> None:
        """The catalog holds exactly `entries` (keys and sha256), or BenchError naming the difference."""
        have = self.listed()
        want = {e.key: e.sha256 for e in entries}
        if have == want:
            return
        missing = sorted(set(want) - set(have))
        extra = sorted(set(have) - set(want))
        wrong = sorted(k for k in set(want) & set(have) if want[k] != have[k])
        raise BenchError(
            f"after {what}: the catalog differs from the expected state: {len(missing)} missing "
            f"{missing[:3]}, {len(extra)} unexpected {extra[:3]}, {len(wrong)} with another sha256 {wrong[:3]}"
        )

    def _each(self, items: list[Any], action: Callable[[httpx.Client, Any], None]) -> None:
        chunks = [items[i::ADMIN_THREADS] for i in range(ADMIN_THREADS)]

        def run(chunk: list[Any]) -> None:
            with self._client() as client:
                for item in chunk:
                    action(client, item)

        with ThreadPoolExecutor(ADMIN_THREADS) as pool:
            list(pool.map(run, [c for c in chunks if c]))

    @staticmethod
    def _register(client: httpx.Client, entry: Entry) -> None:
        r = client.post(entry.path, json=entry.body())
        if r.status_code != 204:
            raise BenchError(f"registering {entry.key}: {r.status_code} {r.text[:300]}")

    @staticmethod
    def _delete_key(client: httpx.Client, key: tuple[str, str, str]) -> None:
        t, name, version = key
        params = {"version": version} if version else {}
        r = client.delete(f"{CATALOG}/{t}/{name}", params=params)
        if r.status_code not in (200, 204):
            raise BenchError(f"deleting {key}: {r.status_code} {r.text[:300]}")
