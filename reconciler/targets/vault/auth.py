"""The login seam: how requests to Vault/OpenBao carry their token.

`VaultToken` sets `X-Vault-Token` on every request. A login method (AppRole, JWT, ...) is an
`httpx.Auth` of its own that obtains a token first, then sets the same header: the API client
(`api.py`) and everything above it never see a token.
"""

from __future__ import annotations

from reconciler.http.auth import HeaderToken


class VaultToken(HeaderToken):
    """A token from VAULT_TOKEN, BAO_TOKEN or ~/.vault-token (none: requests go unauthenticated)."""

    header = "X-Vault-Token"
