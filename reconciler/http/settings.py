"""Connection settings as users give them (options and environment), checked before anything is sent.

Every problem is a `UsageError` that names the variable or option it came from and never shows a
token or the credentials of an address.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import urlsplit

from pydantic import SecretStr

from reconciler import durations
from reconciler.errors import UsageError
from reconciler.http.address import display

MAX_RETRIES = 100
"""Upper bound for a number of retries (VAULT_MAX_RETRIES, NOMAD_MAX_RETRIES): beyond it a run would never end."""

_ADDRESS_HINT = "use http://HOST:PORT or https://HOST:PORT, e.g. {example}"


@dataclass(frozen=True)
class Setting:
    """A value and where it came from (a variable, an option or a file), for messages."""

    value: str
    source: str


def pick(env: Mapping[str, str], *names: str) -> Setting | None:
    """The first of `names` set to something other than blanks (blank counts as unset)."""
    for name in names:
        value = env.get(name, "")
        if value.strip():
            return Setting(value, name)
    return None


def address(setting: Setting, example: str) -> str:
    """A checked server address, surrounding whitespace and trailing slashes removed (`example` for the hint)."""
    value = setting.value.strip()
    problem = _address_problem(value)
    if problem:
        raise UsageError(
            f"{setting.source}: {display(value)!r} is not a valid server address: {problem}",
            hint=_ADDRESS_HINT.format(example=example),
        )
    return value.rstrip("/")


def _address_problem(value: str) -> str:
    scheme, sep, _ = value.partition("://")
    if not sep or scheme.lower() not in ("http", "https"):
        return "it must start with http:// or https://"
    if any(ord(c) <= 0x20 or ord(c) == 0x7F for c in value):
        return "it contains spaces or control characters"
    try:
        parts = urlsplit(value)
    except ValueError:
        return "the IPv6 address is not closed with ]"  # urlsplit's only error: unbalanced brackets
    if not parts.hostname:
        return "it has no host"
    try:
        port = parts.port
    except ValueError:
        port = -1
    if port is not None and not 1 <= port <= 65535:
        return "the port must be a number from 1 to 65535"
    return ""


def token(setting: Setting | None) -> SecretStr | None:
    """A token stripped of surrounding whitespace (as the Vault and Nomad CLIs do); None when blank."""
    if setting is None or not setting.value.strip():
        return None
    return SecretStr(header_value(setting))


def header_value(setting: Setting) -> str:
    """A value sent as an HTTP header: printable ASCII only. The message never shows the value."""
    value = setting.value.strip()
    if not all(0x20 <= ord(c) <= 0x7E for c in value):
        raise UsageError(
            f"{setting.source} contains characters that are not printable ASCII",
            hint=f"set {setting.source} again; a copied value may carry invisible characters",
        )
    return value


def timeout(setting: Setting) -> float:
    """Seconds from `30`, `2.5`, or a duration such as `30s`, `1m`, `1m30s`, `500ms` (Go duration forms)."""
    value = setting.value.strip()
    try:
        seconds = float(value)
    except ValueError:
        found = durations.seconds(value)
        seconds = -1 if found is None else found
    if not seconds > 0 or seconds == float("inf"):
        raise UsageError(
            f"{setting.source}: {value!r} is not a timeout",
            hint="give seconds (30, 2.5) or a duration (30s, 1m, 1m30s, 500ms), more than zero",
        )
    return seconds


def retries(setting: Setting) -> int:
    """A number of retries after the first attempt, 0 to MAX_RETRIES."""
    value = setting.value.strip()
    if not re.fullmatch(r"[0-9]{1,4}", value) or int(value) > MAX_RETRIES:
        raise UsageError(
            f"{setting.source}: {value!r} is not a number of retries",
            hint=f"give a whole number from 0 (no retries) to {MAX_RETRIES}",
        )
    return int(value)
