"""Durations as Go writes them (`500ms`, `30s`, `5m`, `1m30s`, `1.5h`): `--lock-timeout`, `--wait`,
`settings.lock.ttl` and the *_CLIENT_TIMEOUT variables."""

from __future__ import annotations

import re

from reconciler.errors import UsageError

_DURATION = re.compile(r"(\d+(?:\.\d+)?)(ms|h|m|s)")
_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}


def seconds(text: str) -> float | None:
    """`text` (surrounding blanks removed) in seconds, or None when it is not a duration."""
    value = text.strip()
    parts = _DURATION.findall(value)
    if not value or "".join(n + u for n, u in parts) != value:
        return None
    return sum(float(n) * _SECONDS[u] for n, u in parts)


def parse_duration(text: str) -> float:
    """`500ms`, `30s`, `5m`, `1m30s`, `1.5h` -> seconds; a UsageError for anything else."""
    found = seconds(text)
    if found is None:
        raise UsageError(
            f"invalid duration {text!r}", hint="use a number with a unit, or several: 500ms, 30s, 5m, 1m30s, 1h"
        )
    return found
