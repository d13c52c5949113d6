"""Login inputs (reconciler/targets/vault/login/inputs.py): every flag, variable and file, checked before anything
is sent. Pure: no server. The CLI tests point at a port nothing listens on, so a request would show
as "cannot reach"; a bad input must stop the run before that, naming where it came from."""

from __future__ import annotations

from pathlib import Path

import pytest

from reconciler.errors import UsageError
from reconciler.targets.vault.login import inputs
from reconciler.targets.vault.login.inputs import Flags, GitHubRequest
from reconciler.targets.vault.settings import VaultTarget
from tests.cli import reconcile, write
from tests.servers import free_port

JWT = "eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJl"
ADDR = "http://127.0.0.1:8200"


def target(env: dict[str, str], flags: Flags | None = None, home: Path | None = None) -> VaultTarget:
    return VaultTarget.from_env(None, {"VAULT_ADDR": ADDR, **env}, home=home, auth=flags)


def secrets(t: VaultTarget) -> dict[str, str]:
    assert t.login is not None
    return {k: v.get_secret_value() for k, v in t.login.fields.items()}


def test_the_default_is_a_static_token_as_before(tmp_path: Path) -> None:
    t = target({"VAULT_TOKEN": " s.abc\n", "BAO_TOKEN": "other"})
    assert t.token is not None
    assert t.token.get_secret_value() == "s.abc"
    assert t.login is None
    (tmp_path / ".vault-token").write_text("from-home\n")
    t = target({}, home=tmp_path)
    assert t.token is not None
    assert t.token.get_secret_value() == "from-home"


def test_token_files_come_after_the_token_variables_and_before_the_home_file(tmp_path: Path) -> None:
    (tmp_path / ".vault-token").write_text("from-home\n")
    named = write(tmp_path / "token", "from-file\n\n")
    for variable in ("VAULT_TOKEN_FILE", "BAO_TOKEN_PATH"):
        t = target({variable: str(named)}, home=tmp_path)
        assert t.token is not None
        assert t.token.get_secret_value() == "from-file"
        t = target({variable: str(named), "BAO_TOKEN": "from-env"}, home=tmp_path)
        assert t.token is not None
        assert t.token.get_secret_value() == "from-env"


def test_approle_reads_its_ids_and_strips_them(tmp_path: Path) -> None:
    secret_file = write(tmp_path / "sid", "secret-from-file\r\n")
    t = target(
        {"VAULT_AUTH_METHOD": " AppRole ", "VAULT_ROLE_ID": "role-1\n", "VAULT_SECRET_ID_FILE": str(secret_file)}
    )
    assert t.token is None
    assert t.login is not None
    assert (t.login.method, t.login.mount, t.login.role) == ("approle", "approle", "")
    assert secrets(t) == {"role_id": "role-1", "secret_id": "secret-from-file"}
    assert t.login.describe() == "approle at auth/approle"
    # VAULT_SECRET_ID wins over the file; BAO_ names work.
    t = target({"BAO_AUTH_METHOD": "approle", "BAO_ROLE_ID": "r", "BAO_SECRET_ID": "s", "VAULT_SECRET_ID_FILE": "/x"})
    assert secrets(t) == {"role_id": "r", "secret_id": "s"}


def test_flags_win_over_vault_names_which_win_over_bao_names() -> None:
    env = {
        "VAULT_AUTH_METHOD": "jwt",
        "BAO_AUTH_METHOD": "approle",
        "VAULT_AUTH_PATH": "gitlab",
        "BAO_AUTH_PATH": "x",
        "BAO_AUTH_ROLE": "from-bao",
        "VAULT_ID_TOKEN": JWT,
    }
    t = target(env)
    assert t.login is not None
    assert t.login.describe() == "jwt at auth/gitlab, role from-bao"
    t = target(env, Flags(None, "/ci/jwt/", "from-flag"))
    assert t.login is not None
    assert t.login.describe() == "jwt at auth/ci/jwt, role from-flag"
    t = target({**env, "VAULT_ROLE_ID": "r", "VAULT_SECRET_ID": "s"}, Flags("approle"))
    assert t.login is not None
    assert t.login.describe() == "approle at auth/gitlab"


def test_jwt_sources_in_order(tmp_path: Path) -> None:
    other = JWT.replace("c2ln", "b3Ro")
    jwt_file = write(tmp_path / "jwt", other + "\n")
    base = {"VAULT_AUTH_METHOD": "jwt", "VAULT_AUTH_ROLE": "ci"}
    assert secrets(target({**base, "VAULT_AUTH_JWT": JWT, "VAULT_AUTH_JWT_FILE": str(jwt_file)})) == {"jwt": JWT}
    assert secrets(target({**base, "VAULT_AUTH_JWT_FILE": str(jwt_file), "VAULT_ID_TOKEN": JWT})) == {"jwt": other}
    assert secrets(target({**base, "VAULT_ID_TOKEN": JWT})) == {"jwt": JWT}
    github = {
        "ACTIONS_ID_TOKEN_REQUEST_URL": "https://gh.example/x?api-version=2.0",
        "ACTIONS_ID_TOKEN_REQUEST_TOKEN": "rt",
    }
    t = target({**base, **github, "VAULT_ID_TOKEN": JWT})
    assert secrets(t) == {"jwt": JWT}
    t = target({**base, **github, "BAO_AUTH_JWT_AUDIENCE": "reconcile"})
    assert t.login is not None
    assert t.login.fields == {}
    assert t.login.github is not None
    assert (t.login.github.url, t.login.github.audience) == (github["ACTIONS_ID_TOKEN_REQUEST_URL"], "reconcile")
    assert t.login.secrets() == ["rt"]


def test_kubernetes_reads_the_service_account_token(tmp_path: Path, monkeypatch) -> None:
    token = write(tmp_path / "token", JWT + "\n")
    t = target({"VAULT_AUTH_METHOD": "kubernetes", "VAULT_AUTH_ROLE": "drift", "VAULT_AUTH_K8S_TOKEN_FILE": str(token)})
    assert secrets(t) == {"jwt": JWT}
    monkeypatch.setattr(inputs, "K8S_TOKEN_FILE", str(token))  # as in a pod: the default path
    t = target({"VAULT_AUTH_METHOD": "kubernetes", "VAULT_AUTH_ROLE": "drift"})
    assert secrets(t) == {"jwt": JWT}


@pytest.mark.parametrize(
    ("env", "message", "hint"),
    [
        (
            {"VAULT_AUTH_METHOD": "ldap"},
            "VAULT_AUTH_METHOD: 'ldap' is not a login method reconcile supports",
            "choose one of: token, approle, jwt, kubernetes",
        ),
        ({"VAULT_AUTH_METHOD": "approle"}, "approle login needs a role ID", "set VAULT_ROLE_ID (or BAO_ROLE_ID)"),
        (
            {"VAULT_AUTH_METHOD": "approle", "VAULT_ROLE_ID": "r"},
            "approle login needs a secret ID",
            "set VAULT_SECRET_ID, or VAULT_SECRET_ID_FILE to a file holding it (or their BAO_ forms)",
        ),
        (
            {"VAULT_AUTH_METHOD": "approle", "VAULT_ROLE_ID": "r", "VAULT_SECRET_ID": "s\u200bx"},
            "VAULT_SECRET_ID: the secret ID contains spaces, control characters or characters that are not ASCII",
            "set it again; a copied value may carry invisible characters",
        ),
        (
            {"VAULT_AUTH_METHOD": "jwt", "VAULT_AUTH_JWT": JWT},
            "jwt login needs a role",
            "pass --auth-role or set VAULT_AUTH_ROLE (or BAO_AUTH_ROLE) to the role defined on the auth mount",
        ),
        (
            {"VAULT_AUTH_METHOD": "jwt", "VAULT_AUTH_ROLE": "ci"},
            "jwt login needs a JWT: none of VAULT_AUTH_JWT, VAULT_AUTH_JWT_FILE, VAULT_ID_TOKEN (GitLab CI) is set, "
            "and this is not a GitHub Actions job allowed to request one",
            "set one of them, or give the GitHub Actions job `permissions: id-token: write`",
        ),
        (
            {"VAULT_AUTH_METHOD": "jwt", "VAULT_AUTH_ROLE": "ci", "VAULT_AUTH_JWT": "/run/secrets/jwt"},
            "VAULT_AUTH_JWT does not hold a JWT (three base64url parts separated by dots)",
            "check the value; for a token in a file, use VAULT_AUTH_JWT_FILE",
        ),
        (
            {
                "VAULT_AUTH_METHOD": "jwt",
                "VAULT_AUTH_ROLE": "ci",
                "ACTIONS_ID_TOKEN_REQUEST_URL": "https://gh.example/",
            },
            "jwt login from GitHub Actions: ACTIONS_ID_TOKEN_REQUEST_TOKEN is not set",
            "GitHub Actions sets both",
        ),
        (
            {
                "VAULT_AUTH_METHOD": "jwt",
                "VAULT_AUTH_ROLE": "ci",
                "ACTIONS_ID_TOKEN_REQUEST_URL": "http://gh.example/x?token=abc",
                "ACTIONS_ID_TOKEN_REQUEST_TOKEN": "rt",
            },
            "ACTIONS_ID_TOKEN_REQUEST_URL: 'http://gh.example/x' is not an https:// address",
            "GitHub Actions sets it; do not override it",
        ),
        (
            {"VAULT_AUTH_METHOD": "jwt", "VAULT_AUTH_ROLE": "c i", "VAULT_ID_TOKEN": JWT},
            "VAULT_AUTH_ROLE: 'c i' is not a role name (spaces or control characters)",
            "",
        ),
        (
            {"VAULT_AUTH_METHOD": "jwt", "VAULT_AUTH_ROLE": "ci", "VAULT_AUTH_PATH": "a/../b", "VAULT_ID_TOKEN": JWT},
            "VAULT_AUTH_PATH: 'a/../b' is not an auth mount path",
            "give the path the auth method is enabled at, without auth/ (e.g. jwt, or github-actions)",
        ),
        (
            {"VAULT_AUTH_METHOD": "kubernetes", "VAULT_AUTH_ROLE": "ci", "VAULT_AUTH_K8S_TOKEN_FILE": "/nonexistent/t"},
            "VAULT_AUTH_K8S_TOKEN_FILE (/nonexistent/t): cannot read the service-account token: no such file or directory",
            "check the path and the file's permissions (VAULT_AUTH_K8S_TOKEN_FILE)",
        ),
    ],
)
def test_bad_inputs_name_their_source(env: dict[str, str], message: str, hint: str) -> None:
    with pytest.raises(UsageError) as caught:
        target(env)
    assert str(caught.value) == message
    assert caught.value.hint == hint


def test_bad_files_are_named(tmp_path: Path, monkeypatch) -> None:
    empty = write(tmp_path / "empty", "\n \n")
    big = write(tmp_path / "big", "x" * (inputs.MAX_FILE + 1))
    binary = tmp_path / "binary"
    binary.write_bytes(b"\xff\xfe")
    base = {"VAULT_AUTH_METHOD": "approle", "VAULT_ROLE_ID": "r"}
    cases = {
        empty: f"VAULT_SECRET_ID_FILE ({empty}) is empty",
        big: f"VAULT_SECRET_ID_FILE ({big}): larger than 64 KiB; it does not hold the secret ID",
        binary: f"VAULT_SECRET_ID_FILE ({binary}): cannot read the secret ID: not a utf-8 text file",
        tmp_path: f"VAULT_SECRET_ID_FILE ({tmp_path}): cannot read the secret ID: is a directory",
    }
    for path, message in cases.items():
        with pytest.raises(UsageError) as caught:
            target({**base, "VAULT_SECRET_ID_FILE": str(path)})
        assert str(caught.value) == message
    with pytest.raises(UsageError, match=r"^VAULT_TOKEN_FILE \(.*\) is empty$"):
        target({"VAULT_TOKEN_FILE": str(empty)})
    monkeypatch.setattr(inputs, "K8S_TOKEN_FILE", str(tmp_path / "none"))
    with pytest.raises(UsageError) as caught:
        target({"VAULT_AUTH_METHOD": "kubernetes", "VAULT_AUTH_ROLE": "ci"})
    assert (
        str(caught.value)
        == f"kubernetes login: no service-account token at {tmp_path / 'none'} (not running in a pod?)"
    )
    assert caught.value.hint == "set VAULT_AUTH_K8S_TOKEN_FILE to the token's file"


def test_the_github_url_may_be_plain_http_only_to_this_machine() -> None:
    for url in ("http://127.0.0.1:9/x?api-version=2.0", "http://localhost/x", "https://pipelines.example/x"):
        env = {
            "VAULT_AUTH_METHOD": "jwt",
            "VAULT_AUTH_ROLE": "ci",
            "ACTIONS_ID_TOKEN_REQUEST_URL": url,
            "ACTIONS_ID_TOKEN_REQUEST_TOKEN": "rt",
        }
        t = target(env)
        assert t.login is not None
        assert isinstance(t.login.github, GitHubRequest)


def test_a_bad_input_stops_the_cli_before_anything_is_sent(tmp_path: Path, leaks) -> None:
    m = write(tmp_path / "m.yaml", "plugins: []\n")
    nowhere = f"http://127.0.0.1:{free_port()}"
    leaks.secret("s3cret-id-value", "the secret ID")
    env = {"VAULT_ADDR": nowhere, "VAULT_SECRET_ID": "s3cret-id-value", "VAULT_ROLE_ID": "r\x07"}
    for command in (["plan"], ["drift"], ["apply", "--auto-approve"], ["export"]):
        args = [*command, "--auth-method", "approle"] + (["-m", str(m)] if command[0] != "export" else [])
        r = reconcile(*args, env=env)
        assert r.exit_code == 1, r.output
        assert r.stderr.startswith(
            "Error: VAULT_ROLE_ID: the role ID contains spaces, control characters or characters that are not ASCII\n"
        ), r.stderr
        assert "cannot reach" not in r.output
        assert "Traceback" not in r.output
    r = reconcile("plan", "-m", m, "--auth-method", "userpass", env={"VAULT_ADDR": nowhere})
    assert r.exit_code == 1
    assert "Error: --auth-method: 'userpass' is not a login method reconcile supports\n" in r.stderr
    assert "Hint: choose one of: token, approle, jwt, kubernetes\n" in r.stderr
