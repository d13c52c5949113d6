"""Request classification shared by every client and by the proxy, so counts are comparable."""

from __future__ import annotations

from collections import Counter
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

if TYPE_CHECKING:
    from bench.runner import Results

CATALOG = "/v1/sys/plugins/catalog"

KINDS = ("seal-status", "list", "read", "write", "delete", "mounts", "other")
"""`list`: GET sys/plugins/catalog; `read`: GET of one entry; `mounts`: GET sys/mounts or sys/auth."""

WRITE_METHODS = frozenset({"POST", "PUT", "PATCH"})


def classify(method: str, target: str) -> str:
    """The kind of a request, from its method and path (query string ignored)."""
    path = urlsplit(target).path.rstrip("/")
    method = method.upper()
    if path == "/v1/sys/seal-status":
        return "seal-status"
    if path == CATALOG and method in ("GET", "LIST"):
        return "list"
    if path.startswith(CATALOG + "/"):
        if method == "GET":
            return "read"
        if method in WRITE_METHODS:
            return "write"
        if method == "DELETE":
            return "delete"
    if path in ("/v1/sys/mounts", "/v1/sys/auth") and method == "GET":
        return "mounts"
    return "other"


def total(counts: dict[str, int]) -> int:
    return sum(counts.values())


def writes(counts: dict[str, int]) -> int:
    return counts.get("write", 0) + counts.get("delete", 0)


def reads(counts: dict[str, int]) -> int:
    """Every GET but the server detection (seal-status): the list, entry reads, mounts."""
    return counts.get("list", 0) + counts.get("read", 0) + counts.get("mounts", 0) + counts.get("other", 0)


def as_dict(counts: Counter[str]) -> dict[str, int]:
    return {k: counts[k] for k in KINDS if counts.get(k)}


def describe(counts: dict[str, int]) -> str:
    """`1 seal-status + 1 list + 1000 read` (kinds with a zero count left out)."""
    parts = [f"{counts[k]} {k}" for k in KINDS if counts.get(k)]
    return " + ".join(parts) if parts else "0"


def cross_check(results: Results) -> list[str]:
    """Runs whose client-side request counts differ from what the proxy saw."""
    bad = []
    for r in results.runs:
        if r.proxy_counts is None or r.tool in ("bao-cli", "reconcile-cli"):
            continue
        if r.proxy_counts != r.counts:
            bad.append(f"{r.setting}/{r.scenario}/{r.tool} rep {r.rep + 1}: client {r.counts}, proxy {r.proxy_counts}")
    return bad
