"""Real auth backends on the test OpenBao, and the local stand-ins they talk to.

- `Signer`: an EC P-256 key pair made per test; signs JWTs locally (ES256), its public key goes into
  the jwt mount's `jwt_validation_pubkeys`. No network, no OIDC discovery.
- `github_token_endpoint`: GitHub Actions' OIDC token endpoint (`{"value": jwt}` for the right bearer).
- `token_review_api`: the Kubernetes TokenReview API the kubernetes mount calls to check a token.
- `RecordingProxy`: forwards everything to OpenBao and records each token a login returns, so a test
  can check that the token was revoked (and never printed), and holds one catalog write on request.

Mounts are enabled at paths unique to the test and disabled after it (`enable_auth`).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import datetime
import json
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from cryptography.x509.oid import NameOID

from tests.servers import BaoServer, read_body

Receive = Callable[[], Any]
Send = Callable[[dict[str, Any]], Any]
GITHUB_ISSUER = "https://token.actions.githubusercontent.com"

# The policy of docs/ci.md for applies (reconcile-apply), as users would write it.
APPLY_POLICY = """
path "sys/plugins/catalog"            { capabilities = ["read"] }
path "sys/plugins/catalog/*"          { capabilities = ["create", "read", "update", "delete", "list", "sudo"] }
path "sys/plugins/pins"               { capabilities = ["read", "list", "sudo"] }
path "sys/plugins/pins/*"             { capabilities = ["create", "read", "update", "delete", "sudo"] }
path "sys/plugins/runtimes/catalog"   { capabilities = ["read", "list", "sudo"] }
path "sys/plugins/runtimes/catalog/*" { capabilities = ["create", "read", "update", "delete", "sudo"] }
path "sys/plugins/reload/*"           { capabilities = ["update", "sudo"] }
path "sys/mounts"                     { capabilities = ["read"] }
path "sys/auth"                       { capabilities = ["read"] }
"""


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


class Signer:
    """An ES256 key pair: `sign(claims)` makes a JWT the jwt mount accepts with `public_pem`."""

    def __init__(self) -> None:
        self.key = ec.generate_private_key(ec.SECP256R1())
        self.public_pem = (
            self.key.public_key()
            .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
            .decode()
        )

    def sign(self, claims: dict[str, Any]) -> str:
        header = _b64(json.dumps({"alg": "ES256", "typ": "JWT"}).encode())
        payload = _b64(json.dumps(claims).encode())
        der = self.key.sign(f"{header}.{payload}".encode(), ec.ECDSA(hashes.SHA256()))
        r, s = decode_dss_signature(der)
        return f"{header}.{payload}.{_b64(r.to_bytes(32, 'big') + s.to_bytes(32, 'big'))}"

    def github_claims(self, **overrides: Any) -> dict[str, Any]:
        """The claims of a GitHub Actions job of acme/plugin-catalog on main, valid for 5 minutes."""
        now = int(time.time())
        claims = {
            "iss": GITHUB_ISSUER,
            "aud": "reconcile",
            "sub": "repo:acme/plugin-catalog:environment:production",
            "repository": "acme/plugin-catalog",
            "ref": "refs/heads/main",
            "environment": "production",
            "iat": now,
            "nbf": now - 5,
            "exp": now + 300,
        }
        claims.update(overrides)
        return claims

    def ca_pem(self) -> str:
        """A self-signed CA certificate (the kubernetes mount requires one; the stand-in is plain http)."""
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "token-review-stand-in")])
        now = datetime.datetime.now(datetime.UTC)
        cert = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(self.key.public_key())
            .serial_number(1)
            .not_valid_before(now - datetime.timedelta(minutes=1))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(self.key, hashes.SHA256())
        )
        return cert.public_bytes(serialization.Encoding.PEM).decode()


def service_account_jwt(signer: Signer, namespace: str = "platform", name: str = "reconcile") -> str:
    """A service-account token as Kubernetes mounts it into a pod."""
    return signer.sign(
        {
            "iss": "kubernetes/serviceaccount",
            "sub": f"system:serviceaccount:{namespace}:{name}",
            "kubernetes.io/serviceaccount/namespace": namespace,
            "kubernetes.io/serviceaccount/service-account.name": name,
            "kubernetes.io/serviceaccount/service-account.uid": "5b1f3c2e-uid",
        }
    )


@contextlib.contextmanager
def enable_auth(bao: BaoServer, method: str, config: dict[str, Any] | None = None) -> Iterator[str]:
    """Enable `method` at a fresh path (with `config`), and the reconcile-apply policy; disable it after."""
    path = f"{method}-{uuid.uuid4().hex[:8]}"
    with bao.client() as c:
        c.put("/v1/sys/policy/reconcile-apply", json={"policy": APPLY_POLICY}).raise_for_status()
        c.post(f"/v1/sys/auth/{path}", json={"type": method}).raise_for_status()
        if config is not None:
            c.post(f"/v1/auth/{path}/config", json=config).raise_for_status()
    try:
        yield path
    finally:
        with bao.client() as c:
            c.delete(f"/v1/sys/auth/{path}").raise_for_status()


def write_role(bao: BaoServer, mount: str, role: str, definition: dict[str, Any]) -> None:
    with bao.client() as c:
        c.post(f"/v1/auth/{mount}/role/{role}", json=definition).raise_for_status()


def approle_credentials(bao: BaoServer, mount: str, role: str) -> tuple[str, str]:
    """(role_id, secret_id) of `role`."""
    with bao.client() as c:
        role_id = c.get(f"/v1/auth/{mount}/role/{role}/role-id").json()["data"]["role_id"]
        secret_id = c.post(f"/v1/auth/{mount}/role/{role}/secret-id").json()["data"]["secret_id"]
    return role_id, secret_id


def token_is_valid(bao: BaoServer, token: str) -> bool:
    """Does OpenBao still know `token`? (lookup-self with it)"""
    r = httpx.get(f"{bao.address}/v1/auth/token/lookup-self", headers={"X-Vault-Token": token})
    return r.status_code == 200


async def _answer(send: Send, status: int, body: Any, headers: list[tuple[bytes, bytes]] | None = None) -> None:
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [(b"content-type", b"application/json"), *(headers or [])],
        }
    )
    await send({"type": "http.response.body", "body": data})


@dataclass
class GitHubTokenEndpoint:
    """GitHub Actions' ACTIONS_ID_TOKEN_REQUEST_URL: a JWT for the job, with the audience asked for."""

    signer: Signer
    bearer: str
    redirect_to: str = ""
    """When set, answer every request with a 302 to this address instead."""
    requests: list[dict[str, str]] = field(default_factory=list)

    async def __call__(self, scope: dict[str, Any], receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        await read_body(receive)
        headers = {k.decode().lower(): v.decode() for k, v in scope["headers"]}
        query = dict(p.split("=", 1) for p in scope["query_string"].decode().split("&") if "=" in p)
        self.requests.append({"path": scope["path"], "authorization": headers.get("authorization", ""), **query})
        if self.redirect_to:
            await _answer(send, 302, b"", [(b"location", self.redirect_to.encode())])
        elif headers.get("authorization") != f"Bearer {self.bearer}" or query.get("api-version") != "2.0":
            await _answer(send, 401, {"message": "Bad credentials"})
        else:
            audience = query.get("audience", "https://github.com/acme")
            await _answer(send, 200, {"value": self.signer.sign(self.signer.github_claims(aud=audience))})


@dataclass
class TokenReviewApi:
    """The Kubernetes API's TokenReview (POST /apis/authentication.k8s.io/v1/tokenreviews): `valid`
    tokens are the service account platform/reconcile; every other token is not authenticated."""

    valid: set[str] = field(default_factory=set)
    reviews: int = 0

    async def __call__(self, scope: dict[str, Any], receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        request = json.loads(await read_body(receive) or b"{}")
        if scope["method"] != "POST" or scope["path"] != "/apis/authentication.k8s.io/v1/tokenreviews":
            await _answer(send, 404, {"kind": "Status", "status": "Failure", "reason": "NotFound", "code": 404})
            return
        self.reviews += 1
        token = request.get("spec", {}).get("token", "")
        status: dict[str, Any] = {"authenticated": False, "error": "invalid bearer token"}
        if token in self.valid:
            status = {
                "authenticated": True,
                "user": {
                    "username": "system:serviceaccount:platform:reconcile",
                    "uid": "5b1f3c2e-uid",
                    "groups": ["system:serviceaccounts", "system:serviceaccounts:platform"],
                },
                "audiences": request.get("spec", {}).get("audiences"),
            }
        review = {"apiVersion": "authentication.k8s.io/v1", "kind": "TokenReview", "status": status}
        await _answer(send, 201, review)


class RecordingProxy:
    """Forwards to OpenBao; records the token of every login answer (`issued`) and every token sent
    (`sent`); with `hold`, holds that catalog registration until `release`, then answers 502."""

    def __init__(self, upstream: str, hold: int = 0) -> None:
        self.upstream = upstream
        self.hold = hold
        self.registrations = 0
        self.issued: list[str] = []
        self.sent: list[str] = []
        self.paths: list[str] = []
        self.holding = threading.Event()
        self.release = threading.Event()

    async def __call__(self, scope: dict[str, Any], receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        body = await read_body(receive)
        method, path = scope["method"], scope["path"]
        self.paths.append(f"{method} {path}")
        headers = {k.decode(): v.decode() for k, v in scope["headers"] if k.lower() not in (b"host", b"content-length")}
        if "x-vault-token" in headers:
            self.sent.append(headers["x-vault-token"])
        if method == "POST" and path.startswith("/v1/sys/plugins/catalog/"):
            self.registrations += 1
            if self.registrations == self.hold:
                self.holding.set()
                while not self.release.is_set():  # waiting for the test, not for luck
                    await asyncio.sleep(0.01)
                await _answer(send, 502, {"errors": ["held by the test proxy"]})
                return
        query = scope["query_string"].decode()
        async with httpx.AsyncClient(base_url=self.upstream) as client:
            r = await client.request(method, path + (f"?{query}" if query else ""), content=body, headers=headers)
        if path.startswith("/v1/auth/") and path.endswith("/login") and r.status_code == 200:
            self.issued.append(r.json()["auth"]["client_token"])
        await _answer(send, r.status_code, r.content)
