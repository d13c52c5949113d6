"""Credentials as an `httpx.Auth`: a target's token in its own header on every request.

With an `Auth` set, httpx no longer turns the address's userinfo (`https://user:pass@host`, for a
proxy in front of the server) into Basic auth by itself, so `HeaderToken` does it too: the
address's credentials keep working exactly as without one.
"""

from __future__ import annotations

from collections.abc import Generator
from typing import ClassVar

import httpx
from pydantic import SecretStr


class HeaderToken(httpx.Auth):
    """Sets `header` to the token (when there is one) on every request, retries and redirects included."""

    header: ClassVar[str]

    def __init__(self, token: SecretStr | None) -> None:
        self.token = token

    def __repr__(self) -> str:  # never the token
        return f"{type(self).__name__}({'set' if self.token is not None else 'none'})"

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        if self.token is not None:
            request.headers[self.header] = self.token.get_secret_value()
        url = request.url
        if (url.username or url.password) and "Authorization" not in request.headers:
            yield from httpx.BasicAuth(url.username, url.password).auth_flow(request)
            return
        yield request
