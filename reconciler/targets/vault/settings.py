"""Where and how to reach Vault/OpenBao: `--address` and the VAULT_*/BAO_* environment (or
`~/.vault-token`), checked before anything is sent.

Every problem is a `UsageError` that names the variable, option or file it came from and never
shows a token or the credentials of an address.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from pydantic import SecretStr

from reconciler.errors import UsageError
from reconciler.http import address as addresses
from reconciler.http import settings
from reconciler.http.client import DEFAULT_TIMEOUT, Retry
from reconciler.http.settings import Setting
from reconciler.http.tls import Tls


@dataclass(frozen=True)
class VaultTarget:
    """Where and how to connect, from options and the VAULT_*/BAO_* environment.

    For every setting VAULT_* is read first, then BAO_* (the order reconcile always had for the
    address and token; OpenBao's own CLI reads BAO_* first).
    """

    address: str
    token: SecretStr | None
    namespace: str = ""
    tls: Tls = field(default_factory=Tls)
    timeout: float = DEFAULT_TIMEOUT
    """Seconds per request: VAULT_CLIENT_TIMEOUT / BAO_CLIENT_TIMEOUT (`--timeout` wins, in connect)."""
    retry: Retry = field(default_factory=Retry)
    """VAULT_MAX_RETRIES / BAO_MAX_RETRIES retries after the first attempt; unset: 3 retries."""

    @property
    def display_address(self) -> str:
        """The address without credentials: the only form that is printed or stored."""
        return addresses.display(self.address)

    @classmethod
    def from_env(cls, address: str | None, env: Mapping[str, str], home: Path | None = None) -> VaultTarget:
        """Read and check every setting; a bad one is a UsageError naming its variable or option."""
        given = Setting(address, "--address") if address and address.strip() else None
        found = given or settings.pick(env, "VAULT_ADDR", "BAO_ADDR")
        if found is None:
            raise UsageError("no server address", hint="pass --address or set VAULT_ADDR (or BAO_ADDR)")
        token = settings.token(settings.pick(env, "VAULT_TOKEN", "BAO_TOKEN")) or read_token_file(home)
        namespace = settings.pick(env, "VAULT_NAMESPACE", "BAO_NAMESPACE")
        timeout = settings.pick(env, "VAULT_CLIENT_TIMEOUT", "BAO_CLIENT_TIMEOUT")
        retries = settings.pick(env, "VAULT_MAX_RETRIES", "BAO_MAX_RETRIES")
        return cls(
            address=settings.address(found, "https://vault.example.com:8200"),
            token=token,
            namespace=settings.header_value(namespace) if namespace else "",
            tls=Tls.from_env(env, "VAULT", "BAO"),
            timeout=settings.timeout(timeout) if timeout else DEFAULT_TIMEOUT,
            retry=Retry(attempts=settings.retries(retries) + 1) if retries else Retry(),
        )


def read_token_file(home: Path | None) -> SecretStr | None:
    """`~/.vault-token` (the Vault CLI's token file), or None when there is none."""
    if home is None:
        try:
            home = Path.home()
        except RuntimeError:  # no HOME and no passwd entry: there is no token file either
            return None
    path = home / ".vault-token"
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else "not a UTF-8 text file"
        raise UsageError(
            f"~/.vault-token ({path}): cannot read the token: {reason}",
            hint="fix or remove the file, or set VAULT_TOKEN",
        ) from None
    return settings.token(Setting(text, "~/.vault-token"))
