"""TLS settings (`<PREFIX>_CACERT`, `_CAPATH`, `_CLIENT_CERT`, `_CLIENT_KEY`, `_SKIP_VERIFY`; each
target names its prefixes) and the SSL context they make.

Files are checked when the context is built (only for https addresses, where they are used): a
missing, unreadable or wrong file is a `UsageError` naming the variable and the file.
"""

from __future__ import annotations

import os
import ssl
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from reconciler.errors import UsageError
from reconciler.http.settings import pick

_FIELDS = {"ca_cert": "CACERT", "ca_path": "CAPATH", "client_cert": "CLIENT_CERT", "client_key": "CLIENT_KEY"}


class DeferredDefault(ssl.SSLContext):
    """httpx's default verification (its CA bundle, or SSL_CERT_FILE / SSL_CERT_DIR), loaded when a
    TLS connection is first made instead of when the client is built.

    For `http://` addresses: their client never opens TLS to the server (redirects to another origin
    are refused), and reading the CA bundle costs ~0.05-0.1 s of every run. Should TLS happen all
    the same, it is verified exactly as before.
    """

    _loaded = False

    def _load(self) -> None:
        if self._loaded:
            return
        self._loaded = True
        if os.environ.get("SSL_CERT_FILE"):  # httpx's own order (trust_env)
            self.load_verify_locations(cafile=os.environ["SSL_CERT_FILE"])
        elif os.environ.get("SSL_CERT_DIR"):
            self.load_verify_locations(capath=os.environ["SSL_CERT_DIR"])
        else:
            import certifi

            self.load_verify_locations(cafile=certifi.where())

    def wrap_socket(self, *args: Any, **kwargs: Any) -> ssl.SSLSocket:
        self._load()
        return super().wrap_socket(*args, **kwargs)

    def wrap_bio(self, *args: Any, **kwargs: Any) -> ssl.SSLObject:
        self._load()
        return super().wrap_bio(*args, **kwargs)


def deferred_default() -> ssl.SSLContext:
    """A verifying context (hostname and chain) whose CA certificates are read on first use."""
    return DeferredDefault(ssl.PROTOCOL_TLS_CLIENT)


def truthy(value: str | None) -> bool:
    return (value or "").strip().lower() in ("1", "true", "yes", "on", "t", "y")


@dataclass(frozen=True)
class Tls:
    """TLS settings; verification is on unless `skip_verify`. `sources` names where each came from."""

    ca_cert: str = ""
    ca_path: str = ""
    client_cert: str = ""
    client_key: str = ""
    skip_verify: bool = False
    sources: Mapping[str, str] = field(default_factory=dict)
    """Field name -> the variable it was read from (`ca_cert` -> `<PREFIX>_CACERT`), for messages."""
    prefix: str = field(default="", compare=False)
    """The first prefix read (`VAULT`): names the variables that are not set, for messages."""

    @classmethod
    def from_env(cls, env: Mapping[str, str], *prefixes: str) -> Tls:
        """`<PREFIX>_CACERT`, `_CAPATH`, `_CLIENT_CERT`, `_CLIENT_KEY`, `_SKIP_VERIFY`; the first prefix set wins."""
        values: dict[str, str] = {}
        sources: dict[str, str] = {}
        for name, suffix in _FIELDS.items():
            found = pick(env, *(f"{p}_{suffix}" for p in prefixes))
            if found is not None:
                values[name], sources[name] = found.value.strip(), found.source
        skip = pick(env, *(f"{p}_SKIP_VERIFY" for p in prefixes))
        return cls(**values, skip_verify=truthy(skip.value if skip else None), sources=sources, prefix=prefixes[0])

    def _name(self, field_name: str) -> str:
        found = self.sources.get(field_name)
        return found or (f"{self.prefix}_{_FIELDS[field_name]}" if self.prefix else field_name)

    def context(self) -> ssl.SSLContext:
        """The SSL context; every file problem is a UsageError naming its variable and path."""
        ca_cert = self._file("ca_cert", self.ca_cert, "a PEM file of CA certificates")
        if self.ca_path and not Path(self.ca_path).is_dir():
            raise UsageError(
                f"{self._name('ca_path')}: {self.ca_path} is not a directory",
                hint="point it to a folder of hashed CA certificates (c_rehash), or use "
                f"{self._name('ca_cert')} for one file",
            )
        try:
            ctx = ssl.create_default_context(cafile=ca_cert or None, capath=self.ca_path or None)
        except (ssl.SSLError, ValueError):
            raise UsageError(
                f"{self._name('ca_cert')}: {self.ca_cert} holds no PEM certificate",
                hint="give the CA certificate in PEM form (-----BEGIN CERTIFICATE-----)",
            ) from None
        self._load_client_pair(ctx)
        if self.skip_verify:
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
        return ctx

    def _load_client_pair(self, ctx: ssl.SSLContext) -> None:
        if self.client_key and not self.client_cert:
            raise UsageError(
                f"{self._name('client_key')} is set but {self._name('client_cert')} is not",
                hint="a client key is used only with its certificate: set both, or neither",
            )
        cert = self._file("client_cert", self.client_cert, "a PEM certificate", marker="CERTIFICATE-----")
        key = self._file("client_key", self.client_key, "a PEM private key", marker="PRIVATE KEY-----")
        if not cert:
            return
        try:
            # A password callback, so an encrypted key fails here instead of prompting on a terminal.
            ctx.load_cert_chain(cert, key or None, password=lambda: "")
        except ssl.SSLError as exc:
            names = f"{self._name('client_cert')} ({cert})"
            if key:
                names += f" and {self._name('client_key')} ({key})"
            problem = (
                "the key does not match the certificate"
                if exc.reason == "KEY_VALUES_MISMATCH"
                else "cannot load the certificate and its key (an encrypted key is not supported)"
            )
            raise UsageError(
                f"{names}: {problem}", hint="give the client certificate and its own private key, both PEM"
            ) from None

    def _file(self, field_name: str, path: str, what: str, marker: str = "") -> str:
        """`path` when it is a readable file (holding `marker`, if given); '' when unset."""
        if not path:
            return ""
        name = self._name(field_name)
        try:
            data = Path(path).read_bytes()
        except OSError as exc:
            reason = exc.strerror or type(exc).__name__
            raise UsageError(f"{name}: cannot read {path}: {reason}", hint=f"point {name} to {what}") from None
        if marker and marker.encode() not in data:
            raise UsageError(f"{name}: {path} is not {what}", hint=f"point {name} to {what}")
        return path
