"""What a Vault/OpenBao user is told when a request fails: which option and variables to check,
which policy capability a request needs (vault-plugin-api.md §8), and that a sealed server is not
worth retrying.
"""

from __future__ import annotations

from reconciler.http.failures import Hints

SUDO_PATHS = ("sys/plugins/catalog/", "sys/plugins/runtimes/catalog/", "sys/auth/")
"""Policy paths whose every capability also needs `sudo`."""


def permission_hint(method: str, path: str, messages: list[str]) -> str:
    """Which policy capability the request needs (reference §8).

    A bare `permission denied` means no valid token; the multierror form means a missing capability.
    """
    if messages == ["permission denied"]:
        return "the token is missing, unknown or expired: set VAULT_TOKEN (or BAO_TOKEN, or ~/.vault-token)"
    policy_path = path.removeprefix("/v1/")
    capability = {"GET": "read", "LIST": "list", "DELETE": "delete"}.get(method, "update")
    needed = f'"{capability}"' + (', "sudo"' if policy_path.startswith(SUDO_PATHS) else "")
    return f'the token needs capabilities [{needed}] on path "{policy_path}"'


def sealed_hint(status: int, body: bytes) -> str:
    """A sealed server answers 503 until someone unseals it: retrying does not help."""
    return "the server is sealed: unseal it, then run again" if status == 503 and b"is sealed" in body else ""


def kv_policy(mount: str, key: str) -> str:
    """The policy the apply lock's key needs, as docs/ci.md shows it."""
    return (
        f'a policy with path "{mount}/data/{key}" {{ capabilities = ["create", "read", "update"] }} '
        f'and path "{mount}/metadata/{key}" {{ capabilities = ["delete"] }}'
    )


VAULT = Hints(
    unreachable="check the address (--address, VAULT_ADDR) and that the server is running",
    no_answer="the server accepted the connection but did not answer: check it is healthy, or allow more time "
    "with --timeout SECONDS or VAULT_CLIENT_TIMEOUT (BAO_CLIENT_TIMEOUT)",
    redirect="address the active node directly (--address, VAULT_ADDR), or enable request forwarding "
    "on the standby nodes so that they answer instead of redirecting",
    denied=permission_hint,
    hopeless=sealed_hint,
)
