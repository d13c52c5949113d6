"""Logging in on the real OpenBao with real auth backends (issue 13): AppRole; JWT signed by a key
the test makes (`jwt_validation_pubkeys`); the GitHub Actions token endpoint and the Kubernetes
TokenReview API as local stand-ins. OpenBao is reached through a recording proxy, so each test
knows the token the login returned: it must have been revoked when the run ended (lookup fails), and
it must not appear in any output. The leak guard (tests/leaks.py) checks every run for the
credentials given (registered with `leaks.secret`)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests import leaks as leak_guard
from tests.auth_backends import (
    GITHUB_ISSUER,
    GitHubTokenEndpoint,
    RecordingProxy,
    Signer,
    TokenReviewApi,
    approle_credentials,
    enable_auth,
    service_account_jwt,
    token_is_valid,
    write_role,
)
from tests.cli import SHA_A, Run, reconcile, write
from tests.servers import BaoServer, read_body, serve_asgi

KV = f"""
plugins:
  - name: kv-extra
    type: secret
    versions:
      - version: 1.4.2
        sha256: {SHA_A}
"""
APPLY_ROLE = {"token_policies": ["reconcile-apply"], "token_ttl": "5m", "token_max_ttl": "10m"}


@pytest.fixture
def proxy(bao: BaoServer) -> Iterator[tuple[RecordingProxy, str]]:
    recording = RecordingProxy(bao.address)
    with serve_asgi(recording) as url:
        yield recording, url


@pytest.fixture
def manifests(bao: BaoServer, tmp_path: Path) -> Path:
    bao.add_plugin_file("kv-extra")
    return write(tmp_path / "m.yaml", KV)


def catalog(bao: BaoServer) -> set[tuple[str, str, str]]:
    with bao.client() as c:
        detailed = c.get("/v1/sys/plugins/catalog").json()["data"]["detailed"]
    return {(e["type"], e["name"], e["version"]) for e in detailed if not e["builtin"]}


def assert_logged_in_once_and_revoked(bao: BaoServer, recording: RecordingProxy, run: Run) -> str:
    """One login; every authenticated request used its token; it is revoked and was never shown."""
    assert len(recording.issued) == 1, recording.paths
    token = recording.issued[0]
    assert set(recording.sent) == {token}
    assert recording.paths[-1] == "POST /v1/auth/token/revoke-self"
    assert not token_is_valid(bao, token)
    leak_guard.check({token: "the login token"}, [("stdout", run.stdout), ("stderr", run.stderr)])
    return token


@pytest.fixture
def approle(bao: BaoServer) -> Iterator[str]:
    with enable_auth(bao, "approle") as mount:
        write_role(bao, mount, "reconcile-apply", APPLY_ROLE)
        yield mount


def test_approle_login_applies_and_revokes_the_token(
    bao: BaoServer, proxy, approle: str, manifests: Path, tmp_path: Path, leaks
) -> None:
    recording, url = proxy
    role_id, secret_id = approle_credentials(bao, approle, "reconcile-apply")
    leaks.secret(role_id, "the role ID")
    secret_file = write(tmp_path / "secret-id", secret_id + "\n")  # a trailing newline, as `echo` writes
    env = {
        "VAULT_ADDR": url,
        "VAULT_AUTH_METHOD": "approle",
        "VAULT_AUTH_PATH": approle,
        "VAULT_ROLE_ID": role_id,
        "VAULT_SECRET_ID_FILE": str(secret_file),
    }
    r = reconcile("apply", "-m", manifests, "--auto-approve", env=env)
    assert r.exit_code == 0, r.output
    assert "Apply complete: 1 done." in r.stdout
    assert f"Logged in with approle at auth/{approle} (token TTL 5m, revoked at exit)\n" in r.stderr
    assert catalog(bao) == {("secret", "kv-extra", "v1.4.2")}
    assert_logged_in_once_and_revoked(bao, recording, r)


def test_approle_with_flags_and_bao_names(bao: BaoServer, proxy, approle: str, manifests: Path, leaks) -> None:
    recording, url = proxy
    role_id, secret_id = approle_credentials(bao, approle, "reconcile-apply")
    leaks.secret(role_id, "the role ID")
    env = {"BAO_ADDR": url, "BAO_ROLE_ID": role_id, "BAO_SECRET_ID": secret_id, "BAO_AUTH_METHOD": "token"}
    r = reconcile("plan", "-m", manifests, "--auth-method", "approle", "--auth-path", f"/{approle}/", env=env)
    assert r.exit_code == 0, r.output
    assert "+ register secret/kv-extra v1.4.2" in r.stdout
    assert_logged_in_once_and_revoked(bao, recording, r)
    # export logs in the same way (another run: another token, revoked too).
    _, secret_id = approle_credentials(bao, approle, "reconcile-apply")
    r = reconcile("export", "--auth-method", "approle", "--auth-path", approle, env={**env, "BAO_SECRET_ID": secret_id})
    assert r.exit_code == 0, r.output
    assert r.stdout.endswith("# The server's catalog has no entries to manage.\nplugins: []\n")
    assert len(recording.issued) == 2
    assert not token_is_valid(bao, recording.issued[1])


def test_a_wrong_secret_id_says_method_and_mount_and_sends_nothing_else(
    bao: BaoServer, proxy, approle: str, manifests: Path, leaks
) -> None:
    recording, url = proxy
    role_id, _ = approle_credentials(bao, approle, "reconcile-apply")
    leaks.secret(role_id, "the role ID")
    env = {"VAULT_ADDR": url, "VAULT_ROLE_ID": role_id, "VAULT_SECRET_ID": "0c2d2f5e-wrong-secret-id"}
    r = reconcile(
        "apply", "-m", manifests, "--auto-approve", "--auth-method", "approle", "--auth-path", approle, env=env
    )
    assert r.exit_code == 1
    assert f"Error: login failed: approle at auth/{approle}: 400 invalid role or secret ID\n" in r.stderr
    assert "Hint: check VAULT_ROLE_ID and the secret ID" in r.stderr
    assert recording.paths == [f"POST /v1/auth/{approle}/login"]
    assert catalog(bao) == set()


def test_a_mount_that_is_not_there_hints_at_the_auth_path(bao: BaoServer, manifests: Path) -> None:
    env = {"VAULT_ADDR": bao.address, "VAULT_ROLE_ID": "role-id-x", "VAULT_SECRET_ID": "secret-id-x"}
    r = reconcile("plan", "-m", manifests, "--auth-method", "approle", "--auth-path", "auth/approle", env=env)
    assert r.exit_code == 1
    assert "Error: login failed: approle at auth/auth/approle: 403 permission denied\n" in r.stderr
    assert "Hint: is an auth method enabled at auth/auth/approle? --auth-path (VAULT_AUTH_PATH) is its mount" in (
        r.stderr
    )


def test_a_failure_after_the_login_still_revokes(bao: BaoServer, proxy, manifests: Path, leaks) -> None:
    recording, url = proxy
    with enable_auth(bao, "approle") as mount:
        write_role(bao, mount, "weak", {"token_policies": ["default"], "token_ttl": "5m"})
        role_id, secret_id = approle_credentials(bao, mount, "weak")
        leaks.secret(role_id, "the role ID")
        env = {"VAULT_ADDR": url, "VAULT_AUTH_METHOD": "approle", "VAULT_AUTH_PATH": mount}
        r = reconcile("plan", "-m", manifests, env={**env, "VAULT_ROLE_ID": role_id, "VAULT_SECRET_ID": secret_id})
    assert r.exit_code == 1
    assert "Error: GET /v1/sys/plugins/catalog: 403 permission denied" in r.stderr
    assert_logged_in_once_and_revoked(bao, recording, r)


def test_a_batch_token_is_used_but_cannot_be_revoked(bao: BaoServer, proxy, manifests: Path, leaks) -> None:
    # OpenBao answers revoke-self with a batch token "400 batch tokens cannot be revoked": reconcile
    # does not try, and says so.
    recording, url = proxy
    with enable_auth(bao, "approle") as mount:
        write_role(bao, mount, "batch", {**APPLY_ROLE, "token_type": "batch"})
        role_id, secret_id = approle_credentials(bao, mount, "batch")
        leaks.secret(role_id, "the role ID")
        env = {"VAULT_ADDR": url, "VAULT_AUTH_METHOD": "approle", "VAULT_AUTH_PATH": mount}
        r = reconcile("plan", "-m", manifests, env={**env, "VAULT_ROLE_ID": role_id, "VAULT_SECRET_ID": secret_id})
    assert r.exit_code == 0, r.output
    assert "(token TTL 5m, batch token: it cannot be revoked and expires on its own)" in r.stderr
    assert len(recording.issued) == 1
    assert "POST /v1/auth/token/revoke-self" not in recording.paths
    leak_guard.check({recording.issued[0]: "the login token"}, [("stderr", r.stderr), ("stdout", r.stdout)])


def test_a_failed_revocation_is_a_warning_not_a_failure(bao: BaoServer, approle: str, manifests: Path, leaks) -> None:
    class RefusingRevoke(RecordingProxy):
        async def __call__(self, scope, receive, send) -> None:
            if scope["type"] == "http" and scope["path"] == "/v1/auth/token/revoke-self":
                self.paths.append("POST /v1/auth/token/revoke-self")
                await send({"type": "http.response.start", "status": 400, "headers": []})
                await send({"type": "http.response.body", "body": b'{"errors": ["not today"]}'})
                return
            await super().__call__(scope, receive, send)

    recording = RefusingRevoke(bao.address)
    role_id, secret_id = approle_credentials(bao, approle, "reconcile-apply")
    leaks.secret(role_id, "the role ID")
    with serve_asgi(recording) as url:
        env = {"VAULT_ADDR": url, "VAULT_AUTH_METHOD": "approle", "VAULT_AUTH_PATH": approle}
        r = reconcile("plan", "-m", manifests, env={**env, "VAULT_ROLE_ID": role_id, "VAULT_SECRET_ID": secret_id})
    assert r.exit_code == 0, r.output
    assert (
        f"Warning: could not revoke the login token of approle at auth/{approle}: "
        "POST /v1/auth/token/revoke-self: 400 not today; it expires after its TTL (5m)\n"
    ) in r.stderr
    token = recording.issued[0]
    assert token_is_valid(bao, token)
    leak_guard.check({token: "the login token"}, [("stderr", r.stderr), ("stdout", r.stdout)])
    with bao.client() as c:
        c.post("/v1/auth/token/revoke", json={"token": token}).raise_for_status()


def test_a_static_token_from_a_file_is_never_revoked(
    bao: BaoServer, proxy, manifests: Path, tmp_path: Path, leaks
) -> None:
    recording, url = proxy
    with bao.client() as c:
        c.put("/v1/sys/policy/reconcile-apply", json={"policy": 'path "*" { capabilities = ["read", "sudo"] }'})
        token = c.post("/v1/auth/token/create", json={"policies": ["reconcile-apply"], "ttl": "5m"}).json()
    static = token["auth"]["client_token"]
    leaks.secret(static, "the static token")
    token_file = write(tmp_path / "token", f"  {static}\n")
    for variable in ("VAULT_TOKEN_FILE", "BAO_TOKEN_PATH"):
        r = reconcile("plan", "-m", manifests, env={"VAULT_ADDR": url, variable: str(token_file)})
        assert r.exit_code == 0, r.output
        assert "Logged in" not in r.stderr
    assert recording.issued == []
    assert set(recording.sent) == {static}
    assert "POST /v1/auth/token/revoke-self" not in recording.paths
    assert token_is_valid(bao, static)


# -- jwt -------------------------------------------------------------------------------------------
JWT_ROLE = {
    "role_type": "jwt",
    "user_claim": "sub",
    "bound_audiences": ["reconcile"],
    "bound_claims_type": "string",
    "bound_claims": {"repository": "acme/plugin-catalog", "ref": "refs/heads/main", "environment": "production"},
    **APPLY_ROLE,
}


@pytest.fixture
def signer() -> Signer:
    return Signer()


@pytest.fixture
def jwt_mount(bao: BaoServer, signer: Signer) -> Iterator[str]:
    config = {"jwt_validation_pubkeys": [signer.public_pem], "bound_issuer": GITHUB_ISSUER}
    with enable_auth(bao, "jwt", config) as mount:
        write_role(bao, mount, "reconcile-apply", JWT_ROLE)
        yield mount


@pytest.mark.parametrize("source", ["VAULT_AUTH_JWT", "VAULT_AUTH_JWT_FILE", "VAULT_ID_TOKEN"])
def test_jwt_login_with_a_signed_jwt(
    bao: BaoServer, proxy, jwt_mount: str, signer: Signer, manifests: Path, tmp_path: Path, source: str
) -> None:
    recording, url = proxy
    token = signer.sign(signer.github_claims())
    value = str(write(tmp_path / "jwt", token + "\n")) if source.endswith("_FILE") else token
    env = {"VAULT_ADDR": url, "VAULT_AUTH_METHOD": "jwt", "VAULT_AUTH_PATH": jwt_mount, source: value}
    r = reconcile("apply", "-m", manifests, "--auto-approve", "--auth-role", "reconcile-apply", env=env)
    assert r.exit_code == 0, r.output
    assert f"Logged in with jwt at auth/{jwt_mount}, role reconcile-apply (token TTL 5m" in r.stderr
    assert catalog(bao) == {("secret", "kv-extra", "v1.4.2")}
    assert_logged_in_once_and_revoked(bao, recording, r)


@pytest.mark.parametrize(
    ("claims", "role", "message"),
    [
        (
            {"environment": "staging"},
            "reconcile-apply",
            'error validating claims: claim "environment" does not match any associated bound claim values',
        ),
        ({"aud": "someone-else"}, "reconcile-apply", "invalid audience (aud) claim"),
        ({}, "no-such-role", 'role "no-such-role" could not be found'),
    ],
)
def test_a_refused_jwt_says_method_mount_role_and_why(
    bao: BaoServer, jwt_mount: str, signer: Signer, manifests: Path, claims, role: str, message: str
) -> None:
    token = signer.sign(signer.github_claims(**claims))
    env = {"VAULT_ADDR": bao.address, "VAULT_AUTH_METHOD": "jwt", "VAULT_AUTH_ROLE": role, "VAULT_AUTH_JWT": token}
    r = reconcile("plan", "-m", manifests, "--auth-path", jwt_mount, env=env)
    assert r.exit_code == 1
    assert f"Error: login failed: jwt at auth/{jwt_mount}, role {role}: 400 " in r.stderr
    assert message in r.stderr
    assert "Hint: compare the JWT's claims" in r.stderr


def test_jwt_from_the_github_actions_token_endpoint(
    bao: BaoServer, proxy, jwt_mount: str, signer: Signer, manifests: Path
) -> None:
    recording, url = proxy
    endpoint = GitHubTokenEndpoint(signer, bearer="gh-request-token-5f1c")
    with serve_asgi(endpoint) as github:
        env = {
            "VAULT_ADDR": url,
            "VAULT_AUTH_METHOD": "jwt",
            "VAULT_AUTH_PATH": jwt_mount,
            "VAULT_AUTH_ROLE": "reconcile-apply",
            "VAULT_AUTH_JWT_AUDIENCE": "reconcile",
            "ACTIONS_ID_TOKEN_REQUEST_URL": f"{github}/abc/_apis/distributedtask/hubs/Actions/idtoken?api-version=2.0",
            "ACTIONS_ID_TOKEN_REQUEST_TOKEN": endpoint.bearer,
        }
        r = reconcile("drift", "-m", manifests, env=env)
    assert r.exit_code == 2, r.output  # kv-extra is missing live
    assert endpoint.requests == [
        {
            "path": "/abc/_apis/distributedtask/hubs/Actions/idtoken",
            "authorization": f"Bearer {endpoint.bearer}",
            "api-version": "2.0",
            "audience": "reconcile",
        }
    ]
    assert_logged_in_once_and_revoked(bao, recording, r)


def test_the_github_request_token_is_never_sent_to_another_origin(
    bao: BaoServer, jwt_mount: str, signer: Signer, manifests: Path
) -> None:
    elsewhere = GitHubTokenEndpoint(signer, bearer="gh-request-token-5f1c")
    with serve_asgi(elsewhere) as other:
        endpoint = GitHubTokenEndpoint(signer, bearer=elsewhere.bearer, redirect_to=f"{other}/steal")
        with serve_asgi(endpoint) as github:
            env = {
                "VAULT_ADDR": bao.address,
                "VAULT_AUTH_METHOD": "jwt",
                "VAULT_AUTH_PATH": jwt_mount,
                "VAULT_AUTH_ROLE": "reconcile-apply",
                "ACTIONS_ID_TOKEN_REQUEST_URL": f"{github}/idtoken?api-version=2.0",
                "ACTIONS_ID_TOKEN_REQUEST_TOKEN": endpoint.bearer,
            }
            r = reconcile("plan", "-m", manifests, env=env)
    assert r.exit_code == 1
    assert f"Error: could not get the job's OIDC token from GitHub Actions ({github}/idtoken): " in r.stderr
    assert f"redirecting to another server, {other}/steal; not followed" in r.stderr
    assert "Hint: ACTIONS_ID_TOKEN_REQUEST_URL and ACTIONS_ID_TOKEN_REQUEST_TOKEN come from GitHub Actions" in r.stderr
    assert len(endpoint.requests) == 1
    assert elsewhere.requests == []


def test_a_refused_github_request_token_is_a_clear_error(
    bao: BaoServer, jwt_mount: str, signer: Signer, manifests: Path
) -> None:
    endpoint = GitHubTokenEndpoint(signer, bearer="the-right-one-0b7e")
    with serve_asgi(endpoint) as github:
        env = {
            "VAULT_ADDR": bao.address,
            "VAULT_AUTH_METHOD": "jwt",
            "VAULT_AUTH_ROLE": "reconcile-apply",
            "ACTIONS_ID_TOKEN_REQUEST_URL": f"{github}/idtoken?api-version=2.0",
            "ACTIONS_ID_TOKEN_REQUEST_TOKEN": "a-wrong-request-token",
        }
        r = reconcile("plan", "-m", manifests, env=env)
    assert r.exit_code == 1
    assert (
        f"Error: could not get the job's OIDC token from GitHub Actions ({github}/idtoken): "
        "GET /idtoken: 401 Unauthorized\n"
    ) in r.stderr


# -- kubernetes ------------------------------------------------------------------------------------
@pytest.fixture
def kubernetes(bao: BaoServer, signer: Signer) -> Iterator[tuple[str, TokenReviewApi]]:
    api = TokenReviewApi()
    with serve_asgi(api) as host:
        config = {"kubernetes_host": host, "kubernetes_ca_cert": signer.ca_pem(), "disable_local_ca_jwt": True}
        with enable_auth(bao, "kubernetes", config) as mount:
            write_role(
                bao,
                mount,
                "reconcile-drift",
                {
                    "bound_service_account_names": ["reconcile"],
                    "bound_service_account_namespaces": ["platform"],
                    **APPLY_ROLE,
                },
            )
            yield mount, api


def test_kubernetes_login_with_the_service_account_token(
    bao: BaoServer, proxy, kubernetes, signer: Signer, manifests: Path, tmp_path: Path
) -> None:
    recording, url = proxy
    mount, api = kubernetes
    token = service_account_jwt(signer)
    api.valid.add(token)
    token_file = write(tmp_path / "serviceaccount" / "token", token)
    env = {
        "VAULT_ADDR": url,
        "VAULT_AUTH_METHOD": "kubernetes",
        "VAULT_AUTH_PATH": mount,
        "VAULT_AUTH_ROLE": "reconcile-drift",
        "VAULT_AUTH_K8S_TOKEN_FILE": str(token_file),
    }
    r = reconcile("drift", "-m", manifests, "--format", "json", env=env)
    assert r.exit_code == 2, r.output
    assert json.loads(r.stdout)["drift"]["found"] is True
    assert api.reviews == 1
    assert f"Logged in with kubernetes at auth/{mount}, role reconcile-drift" in r.stderr
    assert_logged_in_once_and_revoked(bao, recording, r)


def test_kubernetes_refusals_name_the_role(
    bao: BaoServer, kubernetes, signer: Signer, manifests: Path, tmp_path: Path
) -> None:
    mount, _ = kubernetes
    token_file = write(tmp_path / "token", service_account_jwt(signer, namespace="other"))
    env = {
        "VAULT_ADDR": bao.address,
        "VAULT_AUTH_METHOD": "kubernetes",
        "VAULT_AUTH_PATH": mount,
        "VAULT_AUTH_K8S_TOKEN_FILE": str(token_file),
    }
    r = reconcile("plan", "-m", manifests, "--auth-role", "reconcile-drift", env=env)
    assert r.exit_code == 1
    assert f"Error: login failed: kubernetes at auth/{mount}, role reconcile-drift: 403 " in r.stderr
    assert "Hint: check the role's bound_service_account_names" in r.stderr
    r = reconcile("plan", "-m", manifests, "--auth-role", "nope", env=env)
    assert f'Error: login failed: kubernetes at auth/{mount}, role nope: 400 invalid role name "nope"\n' in r.stderr


class OddLoginServer:
    """Answers every login with `answer` (what OpenBao itself does not send, but a proxy or a newer
    server might): a message quoting the secret it was sent, or an MFA requirement instead of a token."""

    def __init__(self, status: int, answer: dict) -> None:
        self.status, self.answer = status, answer

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            return
        body = await read_body(receive)
        text = json.dumps(self.answer).replace("SENT", json.loads(body or b"{}").get("secret_id", ""))
        await send(
            {"type": "http.response.start", "status": self.status, "headers": [(b"content-type", b"application/json")]}
        )
        await send({"type": "http.response.body", "body": text.encode()})


@pytest.mark.parametrize(
    ("status", "answer", "expected"),
    [
        (
            400,
            {"errors": ["secret ID SENT is not valid for this role"]},
            "Error: login failed: approle at auth/approle: 400 secret ID (sensitive) is not valid for this role\n",
        ),
        (
            200,
            {"auth": None, "mfa_requirement": {"mfa_request_id": "x"}},
            "Error: login with approle at auth/approle needs multi-factor authentication, which reconcile cannot do\n",
        ),
    ],
)
def test_odd_login_answers_never_show_the_secret(
    tmp_path: Path, leaks, status: int, answer: dict, expected: str
) -> None:
    m = write(tmp_path / "m.yaml", "plugins: []\n")
    with serve_asgi(OddLoginServer(status, answer)) as url:
        env = {
            "VAULT_ADDR": url,
            "VAULT_AUTH_METHOD": "approle",
            "VAULT_ROLE_ID": "role-7",
            "VAULT_SECRET_ID": "sid-91f3c",
        }
        r = reconcile("plan", "-m", m, env=env)
    assert r.exit_code == 1
    assert r.stderr.startswith(expected), r.stderr
