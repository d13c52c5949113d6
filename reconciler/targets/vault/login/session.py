"""Logging in once per run, and revoking the token when the run ends (issue 13).

`Session.log_in()` logs in (`POST auth/<mount>/login`) before the run's first request to the
target and gives the target the token; the token lives only in memory and is never printed.
`Session.close()` revokes it (`POST auth/token/revoke-self`) however the run ends: the CLI closes the
session after the command body returns, fails, or is interrupted (Ctrl-C, SIGTERM), each revocation in
an event loop of its own, so a cancelled run still revokes. A static token (method `token`) is never
revoked, and neither is a batch token, which OpenBao refuses to revoke ("batch tokens cannot be
revoked"): it expires with its TTL.

The GitHub Actions OIDC token is fetched from ACTIONS_ID_TOKEN_REQUEST_URL with the request token as
a bearer; `Http` refuses any redirect to another origin, so the request token goes to that origin only.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from urllib.parse import parse_qsl, quote, urlsplit

from pydantic import BaseModel, ConfigDict, Field, SecretStr

from reconciler.errors import ApiError, LoginFailed, ReconcileError
from reconciler.http.address import display
from reconciler.http.client import Http, RetryEvent
from reconciler.http.decode import parse
from reconciler.http.settings import Setting
from reconciler.targets.vault.api import connect
from reconciler.targets.vault.login import inputs
from reconciler.targets.vault.login.inputs import GitHubRequest, Login
from reconciler.targets.vault.settings import VaultTarget

_GITHUB_HINT = (
    "ACTIONS_ID_TOKEN_REQUEST_URL and ACTIONS_ID_TOKEN_REQUEST_TOKEN come from GitHub Actions: "
    "the job needs `permissions: id-token: write`"
)
_HINTS = {
    "approle": "check VAULT_ROLE_ID and the secret ID: a secret ID expires (secret_id_ttl) and may be "
    "limited in uses (secret_id_num_uses)",
    "jwt": "compare the JWT's claims (iss, aud, sub; repository, ref, environment on GitHub) with the role's "
    "bound_issuer, bound_audiences, bound_subject and bound_claims",
    "kubernetes": "check the role's bound_service_account_names and bound_service_account_namespaces, and that "
    "the mount's kubernetes_host reaches the Kubernetes API",
}


class _Body(BaseModel):
    model_config = ConfigDict(extra="ignore", strict=True, frozen=True)


class _Auth(_Body):
    client_token: str = Field(min_length=1)
    token_type: str = "service"
    lease_duration: int = 0


class _LoginAnswer(_Body):
    """`POST auth/<mount>/login`: the token is in `auth`."""

    auth: _Auth


class _IdToken(_Body):
    """GitHub Actions' answer: `{"value": "<jwt>"}`."""

    value: str


@dataclass(frozen=True)
class _Issued:
    """A token this run logged in for: what revoking it needs, and what messages may say about it."""

    target: VaultTarget
    """The target with the token: revoke-self is sent with the token itself."""
    timeout: float | None
    describe: str
    ttl: str
    batch: bool


class Session:
    """The logins of one run; `close()` revokes their tokens."""

    def __init__(self, *, say: Callable[[str], None], on_retry: Callable[[RetryEvent], None] | None = None) -> None:
        self.say = say
        self.on_retry = on_retry
        self._issued: list[_Issued] = []

    async def log_in(self, target: VaultTarget, timeout: float | None = None) -> VaultTarget:
        """`target` with a token logged in for now (revoked by `close`)."""
        assert target.login is not None
        issued = await self._login(target, target.login, timeout)
        self._issued.append(issued)
        how = "batch token: it cannot be revoked and expires on its own" if issued.batch else "revoked at exit"
        self.say(f"Logged in with {issued.describe} (token TTL {issued.ttl}, {how})")
        return issued.target

    def close(self) -> None:
        """Revoke every token logged in for; a failure is a warning (the token still expires)."""
        while self._issued:
            issued = self._issued.pop()
            if issued.batch:
                continue
            try:
                asyncio.run(self._revoke(issued))
            except ReconcileError as exc:
                self.say(
                    f"Warning: could not revoke the login token of {issued.describe}: {exc}; "
                    f"it expires after its TTL ({issued.ttl})"
                )

    async def _login(self, target: VaultTarget, login: Login, timeout: float | None) -> _Issued:
        body = {"role": login.role} if login.role else {}
        body.update({name: value.get_secret_value() for name, value in login.fields.items()})
        secrets = login.secrets()
        if login.github is not None:
            fetched = await self._github_jwt(login.github, target.timeout if timeout is None else timeout)
            body["jwt"] = fetched.get_secret_value()
            secrets.append(body["jwt"])
        anonymous = dataclasses.replace(target, token=None, login=None)
        path = f"/v1/auth/{quote(login.mount, safe='/')}/login"
        async with connect(anonymous, parallelism=1, timeout=timeout, on_retry=self.on_retry).http as http:
            try:
                answer = await http.request("POST", path, json_body=body)
            except ApiError as exc:
                raise _failed(login, exc, secrets) from None
        if isinstance(answer.body, dict) and answer.body.get("auth") is None and answer.body.get("mfa_requirement"):
            raise LoginFailed(
                f"login with {login.describe()} needs multi-factor authentication, which reconcile cannot do"
            )
        auth = parse(_LoginAnswer, answer).auth
        return _Issued(
            target=dataclasses.replace(target, token=SecretStr(auth.client_token), login=None),
            timeout=timeout,
            describe=login.describe(),
            ttl=_duration(auth.lease_duration),
            batch=auth.token_type == "batch",
        )

    async def _revoke(self, issued: _Issued) -> None:
        api = connect(issued.target, parallelism=1, timeout=issued.timeout, on_retry=self.on_retry)
        async with api.http as http:
            await http.request("POST", "/v1/auth/token/revoke-self")

    async def _github_jwt(self, request: GitHubRequest, timeout: float) -> SecretStr:
        """The job's OIDC token from GitHub Actions, for `request.audience`."""
        url = urlsplit(request.url)
        origin = f"{url.scheme}://{url.netloc}"
        where = f"{display(origin)}{url.path}"
        params = dict(parse_qsl(url.query, keep_blank_values=True))
        if request.audience:
            params["audience"] = request.audience
        headers = {"Authorization": f"Bearer {request.bearer.get_secret_value()}", "Accept": "application/json"}
        try:
            async with Http(origin, headers=headers, parallelism=1, timeout=timeout, on_retry=self.on_retry) as http:
                answer = await http.request("GET", url.path or "/", params=params)
                value = parse(_IdToken, answer).value
        except ReconcileError as exc:
            detail = _scrub(str(exc), [request.bearer.get_secret_value()])
            raise LoginFailed(
                f"could not get the job's OIDC token from GitHub Actions ({where}): {detail}", hint=_GITHUB_HINT
            ) from None
        return inputs.jwt(Setting(value, f"the answer of GitHub Actions ({where})"))


def _failed(login: Login, exc: ApiError, secrets: Iterable[str]) -> LoginFailed:
    """The server refused the login: say method, mount, role and its message (never a credential)."""
    detail = _scrub("; ".join(exc.messages) or "(no message)", secrets)
    if exc.status == 503 and exc.hint:  # sealed
        hint = exc.hint
    elif exc.messages == ["permission denied"]:
        hint = (
            f"is an auth method enabled at auth/{login.mount}? --auth-path (VAULT_AUTH_PATH) is its mount "
            "path, without auth/"
        )
    else:
        hint = _HINTS[login.method]
    return LoginFailed(f"login failed: {login.describe()}: {exc.status} {detail}", hint=hint)


def _scrub(text: str, secrets: Iterable[str]) -> str:
    """`text` with every credential replaced: a server may quote what it was sent."""
    for secret in secrets:
        if len(secret) >= 4:
            text = text.replace(secret, "(sensitive)")
    return text


def _duration(seconds: int) -> str:
    """`45s`, `5m`, `1h`, `32d`: a TTL as people write it (0: none)."""
    if seconds <= 0:
        return "none"
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"
