"""Login inputs as users give them (flags, the VAULT_*/BAO_* environment, files), checked before
anything is sent. No network here: `session.py` does the HTTP calls.

Every input is hostile: values and files are stripped of surrounding whitespace (a trailing
newline from `echo` or a secret store), a missing, unreadable or empty file is an error naming its
variable and path, and no message ever shows a secret. For each setting VAULT_* is read first, then
BAO_* (the order reconcile uses for the address and the token); a blank variable counts as unset.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, get_args
from urllib.parse import urlsplit

from pydantic import SecretStr

from reconciler.errors import UsageError
from reconciler.http import settings
from reconciler.http.address import display
from reconciler.http.settings import Setting, pick
from reconciler.targets.vault.settings import read_token_file

Method = Literal["token", "approle", "jwt", "kubernetes"]
METHODS: tuple[Method, ...] = get_args(Method)
K8S_TOKEN_FILE = "/var/run/secrets/kubernetes.io/serviceaccount/token"
"""Where Kubernetes mounts a pod's service-account token."""
MAX_FILE = 64 * 1024
"""Bytes read at most from a token file: tokens are small, and /dev/zero must not fill the memory."""

_JWT = re.compile(r"[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*")
_LOOPBACK = ("127.0.0.1", "::1", "localhost")
_JWT_SOURCES = "VAULT_AUTH_JWT, VAULT_AUTH_JWT_FILE, VAULT_ID_TOKEN (GitLab CI)"


@dataclass(frozen=True)
class Flags:
    """`--auth-method`, `--auth-path`, `--auth-role` as given on the command line (None: not given)."""

    method: str | None = None
    path: str | None = None
    role: str | None = None


@dataclass(frozen=True)
class GitHubRequest:
    """Where GitHub Actions hands out the job's OIDC token (server-changes-2026.md, CI login conventions)."""

    url: str
    """ACTIONS_ID_TOKEN_REQUEST_URL; the bearer token is sent to its origin only."""
    bearer: SecretStr
    """ACTIONS_ID_TOKEN_REQUEST_TOKEN."""
    audience: str = ""
    """VAULT_AUTH_JWT_AUDIENCE; empty: GitHub's default audience."""


@dataclass(frozen=True)
class Login:
    """One login to do once per run: `POST auth/<mount>/login` with `fields` (and the JWT of `github`)."""

    method: Method
    mount: str
    role: str = ""
    """Empty for approle (its role is the role ID, a credential)."""
    fields: Mapping[str, SecretStr] = field(default_factory=dict)
    """The secret fields of the login body: role_id and secret_id, or jwt."""
    github: GitHubRequest | None = None
    """Set when the JWT is to be fetched from GitHub Actions at login time."""

    def describe(self) -> str:
        """`jwt at auth/gh, role ci`: what a message may say about this login (never a credential)."""
        role = f", role {self.role}" if self.role else ""
        return f"{self.method} at auth/{self.mount}{role}"

    def secrets(self) -> list[str]:
        """Every credential value, to keep them out of server messages."""
        values = [v.get_secret_value() for v in self.fields.values()]
        if self.github is not None:
            values.append(self.github.bearer.get_secret_value())
        return values


@dataclass(frozen=True)
class Credentials:
    """How the run authenticates: a static `token` (method token), or a `login` to do first."""

    token: SecretStr | None = None
    login: Login | None = None


def read(env: Mapping[str, str], flags: Flags, home: Path | None = None) -> Credentials:
    """Read and check every login input; a problem is a UsageError naming its flag, variable or file."""
    method = _method(flags.method, env)
    if method == "token":
        return Credentials(token=_static_token(env, home))
    mount = _mount(flags.path, env, method)
    role = _role(flags.role, env, method)
    match method:
        case "approle":
            return Credentials(login=Login(method, mount, fields=_approle(env)))
        case "jwt":
            token, github = _jwt(env)
            return Credentials(login=Login(method, mount, role, {} if token is None else {"jwt": token}, github))
        case "kubernetes":
            return Credentials(login=Login(method, mount, role, {"jwt": _k8s_token(env)}))


def _method(flag: str | None, env: Mapping[str, str]) -> Method:
    found = _given(flag, "--auth-method") or pick(env, "VAULT_AUTH_METHOD", "BAO_AUTH_METHOD")
    if found is None:
        return "token"
    value = found.value.strip().lower()
    for method in METHODS:
        if value == method:
            return method
    raise UsageError(
        f"{found.source}: {_shown(found.value)} is not a login method reconcile supports",
        hint=f"choose one of: {', '.join(METHODS)}",
    )


def _given(value: str | None, option: str) -> Setting | None:
    return Setting(value, option) if value is not None and value.strip() else None


def _shown(value: str) -> str:
    """A non-secret value as it may be quoted in a message: control characters escaped, kept short."""
    text = value.strip()
    return repr(text if len(text) <= 60 else text[:57] + "...")


def _mount(flag: str | None, env: Mapping[str, str], method: Method) -> str:
    """The auth mount path, without `auth/` (default: the method's name)."""
    found = _given(flag, "--auth-path") or pick(env, "VAULT_AUTH_PATH", "BAO_AUTH_PATH")
    if found is None:
        return method
    value = found.value.strip().strip("/")
    parts = value.split("/")
    bad = not all(0x21 <= ord(c) <= 0x7E and c not in "?#%\\" for c in value)
    if bad or any(p in ("", ".", "..") for p in parts):
        raise UsageError(
            f"{found.source}: {_shown(found.value)} is not an auth mount path",
            hint="give the path the auth method is enabled at, without auth/ (e.g. jwt, or github-actions)",
        )
    return value


def _role(flag: str | None, env: Mapping[str, str], method: Method) -> str:
    """The role to log in as; required by jwt and kubernetes, not used by approle."""
    found = _given(flag, "--auth-role") or pick(env, "VAULT_AUTH_ROLE", "BAO_AUTH_ROLE")
    if method == "approle":
        return ""
    if found is None:
        raise UsageError(
            f"{method} login needs a role",
            hint="pass --auth-role or set VAULT_AUTH_ROLE (or BAO_AUTH_ROLE) to the role defined on the auth mount",
        )
    value = found.value.strip()
    if not all(0x21 <= ord(c) <= 0x7E for c in value):
        raise UsageError(f"{found.source}: {_shown(found.value)} is not a role name (spaces or control characters)")
    return value


def _static_token(env: Mapping[str, str], home: Path | None) -> SecretStr | None:
    """VAULT_TOKEN, BAO_TOKEN, then the file in VAULT_TOKEN_FILE or BAO_TOKEN_PATH, then ~/.vault-token."""
    token = settings.token(pick(env, "VAULT_TOKEN", "BAO_TOKEN"))
    if token is not None:
        return token
    named = pick(env, "VAULT_TOKEN_FILE", "BAO_TOKEN_PATH")
    if named is not None:
        return _credential(_read_file(named, "the token"), "the token")
    return read_token_file(home)


def _approle(env: Mapping[str, str]) -> dict[str, SecretStr]:
    role_id = pick(env, "VAULT_ROLE_ID", "BAO_ROLE_ID")
    if role_id is None:
        raise UsageError("approle login needs a role ID", hint="set VAULT_ROLE_ID (or BAO_ROLE_ID)")
    secret_id = pick(env, "VAULT_SECRET_ID", "BAO_SECRET_ID")
    if secret_id is None:
        named = pick(env, "VAULT_SECRET_ID_FILE", "BAO_SECRET_ID_FILE")
        if named is None:
            raise UsageError(
                "approle login needs a secret ID",
                hint="set VAULT_SECRET_ID, or VAULT_SECRET_ID_FILE to a file holding it (or their BAO_ forms)",
            )
        secret_id = _read_file(named, "the secret ID")
    return {"role_id": _credential(role_id, "the role ID"), "secret_id": _credential(secret_id, "the secret ID")}


def _jwt(env: Mapping[str, str]) -> tuple[SecretStr | None, GitHubRequest | None]:
    """The JWT given (VAULT_AUTH_JWT, its file, GitLab's VAULT_ID_TOKEN), or where to fetch it from GitHub."""
    given = pick(env, "VAULT_AUTH_JWT", "BAO_AUTH_JWT")
    if given is None and (named := pick(env, "VAULT_AUTH_JWT_FILE", "BAO_AUTH_JWT_FILE")) is not None:
        given = _read_file(named, "the JWT")
    given = given or pick(env, "VAULT_ID_TOKEN")
    if given is not None:
        return jwt(given), None
    url, bearer = pick(env, "ACTIONS_ID_TOKEN_REQUEST_URL"), pick(env, "ACTIONS_ID_TOKEN_REQUEST_TOKEN")
    if url is None and bearer is None:
        raise UsageError(
            f"jwt login needs a JWT: none of {_JWT_SOURCES} is set, and this is not a GitHub Actions job "
            "allowed to request one",
            hint="set one of them, or give the GitHub Actions job `permissions: id-token: write`",
        )
    if url is None or bearer is None:
        missing = "ACTIONS_ID_TOKEN_REQUEST_URL" if url is None else "ACTIONS_ID_TOKEN_REQUEST_TOKEN"
        raise UsageError(f"jwt login from GitHub Actions: {missing} is not set", hint="GitHub Actions sets both")
    audience = pick(env, "VAULT_AUTH_JWT_AUDIENCE", "BAO_AUTH_JWT_AUDIENCE")
    return None, GitHubRequest(
        url=_github_url(url),
        bearer=_credential(bearer, "the token"),
        audience=settings.header_value(audience) if audience else "",
    )


def _github_url(setting: Setting) -> str:
    """https only (plain http only to this machine): the bearer token must not cross the network in clear."""
    value = setting.value.strip()
    try:
        parts = urlsplit(value)
        host = parts.hostname or ""
    except ValueError:
        parts, host = None, ""
    secure = parts is not None and (parts.scheme == "https" or (parts.scheme == "http" and host in _LOOPBACK))
    if not host or not secure or any(ord(c) <= 0x20 or ord(c) == 0x7F for c in value):
        shown = display(value).split("?")[0]
        raise UsageError(
            f"{setting.source}: {_shown(shown)} is not an https:// address",
            hint="GitHub Actions sets it; do not override it",
        )
    return value


def _k8s_token(env: Mapping[str, str]) -> SecretStr:
    named = pick(env, "VAULT_AUTH_K8S_TOKEN_FILE", "BAO_AUTH_K8S_TOKEN_FILE")
    if named is None:
        if not Path(K8S_TOKEN_FILE).exists():
            raise UsageError(
                f"kubernetes login: no service-account token at {K8S_TOKEN_FILE} (not running in a pod?)",
                hint="set VAULT_AUTH_K8S_TOKEN_FILE to the token's file",
            )
        named = Setting(K8S_TOKEN_FILE, "the service-account token")
    return jwt(_read_file(named, "the service-account token"))


def jwt(setting: Setting) -> SecretStr:
    """A JWT: three base64url parts separated by dots. The message never shows the value."""
    value = _credential(setting, "the JWT")
    if not _JWT.fullmatch(value.get_secret_value()):
        raise UsageError(
            f"{setting.source} does not hold a JWT (three base64url parts separated by dots)",
            hint="check the value; for a token in a file, use VAULT_AUTH_JWT_FILE",
        )
    return value


def _credential(setting: Setting, what: str) -> SecretStr:
    """A credential: surrounding whitespace stripped, not empty, printable ASCII. Never shown."""
    value = setting.value.strip()
    if not value:
        raise UsageError(f"{setting.source} is empty", hint=f"it must hold {what}")
    if not all(0x21 <= ord(c) <= 0x7E for c in value):
        raise UsageError(
            f"{setting.source}: {what} contains spaces, control characters or characters that are not ASCII",
            hint="set it again; a copied value may carry invisible characters",
        )
    return SecretStr(value)


def _read_file(setting: Setting, what: str) -> Setting:
    """The text of the file `setting` names, as a Setting whose source names the variable and the path."""
    path = Path(setting.value.strip()).expanduser()
    source = f"{setting.source} ({path})" if setting.source != str(path) else str(path)
    try:
        with path.open("rb") as f:
            data = f.read(MAX_FILE + 1)
        text = data.decode("utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else "not a UTF-8 text file"
        raise UsageError(
            f"{source}: cannot read {what}: {reason.lower()}",
            hint=f"check the path and the file's permissions ({setting.source})",
        ) from None
    if len(data) > MAX_FILE:
        raise UsageError(f"{source}: larger than {MAX_FILE // 1024} KiB; it does not hold {what}")
    if not text.strip():
        raise UsageError(f"{source} is empty", hint=f"it must hold {what}")
    return Setting(text, source)
