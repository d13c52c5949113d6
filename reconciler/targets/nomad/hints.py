"""What a Nomad user is told when a request fails: which option and variables to check, and the
ACL policy the CSI plugin endpoints need (nomad-csi-plugins-api.md §6)."""

from __future__ import annotations

from reconciler.http.failures import Hints


def permission_hint(_method: str, _path: str, messages: list[str]) -> str:
    """Nomad's CSI plugin endpoints need a `plugin` policy of `read`."""
    if messages == ["ACL token not found"]:
        return "the token is unknown or expired: set NOMAD_TOKEN to a valid token"
    return (
        'set NOMAD_TOKEN to a token whose policy has `plugin { policy = "read" }` '
        '("list" allows only the list; "write" allows neither list nor read)'
    )


NOMAD = Hints(
    unreachable="check the address (--nomad-address, NOMAD_ADDR) and that the Nomad agent is running",
    no_answer="the agent accepted the connection but did not answer: check it is healthy, or allow more time "
    "with --timeout SECONDS or NOMAD_CLIENT_TIMEOUT",
    redirect="address the Nomad agent directly (--nomad-address, NOMAD_ADDR)",
    denied=permission_hint,
)
