"""Where and how to reach Nomad: `--nomad-address` and the NOMAD_* environment, checked before
anything is sent (a bad setting is a `UsageError` naming its variable or option)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from pydantic import SecretStr

from reconciler.http import address as addresses
from reconciler.http import settings
from reconciler.http.client import DEFAULT_TIMEOUT, Retry
from reconciler.http.settings import Setting
from reconciler.http.tls import Tls

DEFAULT_ADDRESS = "http://127.0.0.1:4646"


@dataclass(frozen=True)
class NomadTarget:
    """Where and how to reach Nomad, from `--nomad-address` and the NOMAD_* environment."""

    address: str
    token: SecretStr | None = None
    namespace: str = ""
    """Sent as `?namespace=`: Nomad has no namespace header (reference §2.3)."""
    region: str = ""
    """Sent as `?region=`."""
    tls: Tls = field(default_factory=Tls)
    timeout: float = DEFAULT_TIMEOUT
    """Seconds per request (NOMAD_CLIENT_TIMEOUT); blocking queries add their wait to it."""
    retry: Retry = field(default_factory=Retry)
    """NOMAD_MAX_RETRIES retries after the first attempt; unset: 3 retries."""

    @property
    def display_address(self) -> str:
        """The address without credentials: the only form that is printed or stored."""
        return addresses.display(self.address)

    @classmethod
    def from_env(cls, address: str | None, env: Mapping[str, str]) -> NomadTarget:
        """Read and check every setting; a bad one is a UsageError naming its variable or option."""
        given = Setting(address, "--nomad-address") if address and address.strip() else None
        found = given or settings.pick(env, "NOMAD_ADDR") or Setting(DEFAULT_ADDRESS, "the default address")
        timeout = settings.pick(env, "NOMAD_CLIENT_TIMEOUT")
        retries = settings.pick(env, "NOMAD_MAX_RETRIES")
        return cls(
            address=settings.address(found, "https://nomad.example.com:4646"),
            token=settings.token(settings.pick(env, "NOMAD_TOKEN")),
            namespace=env.get("NOMAD_NAMESPACE", "").strip(),
            region=env.get("NOMAD_REGION", "").strip(),
            tls=Tls.from_env(env, "NOMAD"),
            timeout=settings.timeout(timeout) if timeout else DEFAULT_TIMEOUT,
            retry=Retry(attempts=settings.retries(retries) + 1) if retries else Retry(),
        )
