"""How requests to Nomad carry their token (NOMAD_TOKEN)."""

from __future__ import annotations

from reconciler.http.auth import HeaderToken


class NomadToken(HeaderToken):
    """`X-Nomad-Token` on every request (no token: requests go anonymous)."""

    header = "X-Nomad-Token"
