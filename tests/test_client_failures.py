"""The mapping tables of the client: every httpx exception class, addresses, tokens, timeouts,
retries and TLS files. MockTransport only raises what a real server cannot be made to raise."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
import pytest

from reconciler.errors import ReconcileError, UsageError
from reconciler.http.client import Http, Retry
from reconciler.http.failures import FAILURES
from reconciler.targets.nomad.settings import NomadTarget
from reconciler.targets.vault.api import VaultApi
from reconciler.targets.vault.settings import VaultTarget
from tests.cli import reconcile, write

SECRET = "s.h34der-v4lue"


def _walk(cls: type) -> list[type]:
    return [cls, *(c for sub in cls.__subclasses__() for c in _walk(sub))]


HTTPX_ERRORS = sorted({*_walk(httpx.HTTPError), httpx.InvalidURL, *_walk(httpx.StreamError)}, key=lambda c: c.__name__)


def _instance(cls: type[Exception], request: httpx.Request) -> Exception:
    text = f"Illegal header value b'{SECRET}'"
    if cls is httpx.HTTPStatusError:
        return cls(text, request=request, response=httpx.Response(500))
    if issubclass(cls, httpx.StreamError) and cls is not httpx.StreamError:
        return cls()
    return cls(text)


def test_every_httpx_exception_class_has_an_entry() -> None:
    assert len(HTTPX_ERRORS) >= 25
    missing = [c.__name__ for c in HTTPX_ERRORS if c not in FAILURES]
    assert missing == []


@pytest.mark.parametrize("cls", HTTPX_ERRORS, ids=lambda c: c.__name__)
def test_every_httpx_exception_becomes_a_clean_error(cls: type[Exception]) -> None:
    def fail(request: httpx.Request) -> httpx.Response:
        raise _instance(cls, request)

    http = Http("http://u:pw@vault.test", transport=httpx.MockTransport(fail), retry=Retry(attempts=1))
    with pytest.raises(ReconcileError) as info:
        asyncio.run(VaultApi(http).list_catalog())
    message = str(info.value)
    assert message.startswith("GET /v1/sys/plugins/catalog: ") or message.startswith(
        "unexpected response from http://vault.test to GET /v1/sys/plugins/catalog: "
    ), message
    assert "vault.test" in message
    assert "pw" not in message
    if not FAILURES[cls].detail:
        assert SECRET not in message
    assert "\n" not in message


def _target(variable: str, option: str | None, env: dict[str, str], home: Path = Path("/x")) -> object:
    if "NOMAD" in variable.upper():
        return NomadTarget.from_env(option, env)
    return VaultTarget.from_env(option, env, home)


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        ("http://u:pw@h:82OO", "the port must be a number from 1 to 65535"),
        ("http://u:pw@h:99999", "the port must be a number from 1 to 65535"),
        ("http://u:pw@[::1", "the IPv6 address is not closed with ]"),
        ("ftp://h", "it must start with http:// or https://"),
        ("h:8200", "it must start with http:// or https://"),
        ("http://", "it has no host"),
        ("http://:8200", "it has no host"),
        ("http://a b:8200", "it contains spaces or control characters"),
    ],
)
@pytest.mark.parametrize("variable", ["VAULT_ADDR", "BAO_ADDR", "--address", "NOMAD_ADDR", "--nomad-address"])
def test_bad_addresses_name_their_source(value: str, problem: str, variable: str) -> None:
    option = value if variable.startswith("--") else None
    env = {} if option else {variable: value}
    with pytest.raises(UsageError) as info:
        _target(variable, option, env)
    assert str(info.value).startswith(f"{variable}: ")
    assert str(info.value).endswith(f"is not a valid server address: {problem}")
    assert "pw" not in str(info.value)


def test_addresses_and_tokens_are_stripped(tmp_path: Path) -> None:
    t = VaultTarget.from_env(None, {"VAULT_ADDR": " http://h:8200/\n", "VAULT_TOKEN": "tok\n"}, tmp_path)
    assert (t.address, t.token and t.token.get_secret_value()) == ("http://h:8200", "tok")
    (tmp_path / ".vault-token").write_text("  from-file \n")
    t = VaultTarget.from_env("http://h", {}, tmp_path)
    assert t.token is not None
    assert t.token.get_secret_value() == "from-file"


@pytest.mark.parametrize("variable", ["VAULT_TOKEN", "BAO_TOKEN", "NOMAD_TOKEN", "~/.vault-token"])
def test_a_token_that_is_not_printable_ascii_names_its_source(variable: str, tmp_path: Path) -> None:
    token = "s.tök\x00en"
    env = {variable: token} if variable != "~/.vault-token" else {}
    if variable == "~/.vault-token":
        (tmp_path / ".vault-token").write_text(token)
    with pytest.raises(UsageError) as info:
        _target(variable, "http://h" if variable != "NOMAD_TOKEN" else None, env, tmp_path)
    assert str(info.value) == f"{variable} contains characters that are not printable ASCII"
    assert "tök" not in info.value.hint


@pytest.mark.parametrize(
    ("value", "seconds"), [("30", 30.0), ("2.5", 2.5), ("30s", 30.0), ("1m", 60.0), ("1m30s", 90.0), ("500ms", 0.5)]
)
def test_client_timeout_forms(value: str, seconds: float) -> None:
    assert VaultTarget.from_env("http://h", {"VAULT_CLIENT_TIMEOUT": value}, Path("/x")).timeout == seconds
    assert NomadTarget.from_env(None, {"NOMAD_CLIENT_TIMEOUT": value}).timeout == seconds


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("VAULT_CLIENT_TIMEOUT", "soon"),
        ("BAO_CLIENT_TIMEOUT", "0"),
        ("NOMAD_CLIENT_TIMEOUT", "-1s"),
        ("VAULT_MAX_RETRIES", "two"),
        ("BAO_MAX_RETRIES", "-1"),
        ("NOMAD_MAX_RETRIES", "1000"),
    ],
)
def test_bad_timeouts_and_retries_name_the_variable(variable: str, value: str) -> None:
    with pytest.raises(UsageError, match=f"^{variable}: '{value}' is not a"):
        _target(variable, None if variable.startswith("NOMAD") else "http://h", {variable: value})


def test_max_retries_counts_retries_after_the_first_attempt() -> None:
    assert VaultTarget.from_env("http://h", {}, Path("/x")).retry.attempts == 4
    assert VaultTarget.from_env("http://h", {"BAO_MAX_RETRIES": "0"}, Path("/x")).retry.attempts == 1
    assert VaultTarget.from_env("http://h", {"VAULT_MAX_RETRIES": "2"}, Path("/x")).retry.attempts == 3


def test_vault_variables_are_read_before_bao_ones() -> None:
    env = {"VAULT_CLIENT_TIMEOUT": "5", "BAO_CLIENT_TIMEOUT": "9", "BAO_ADDR": "http://b", "VAULT_ADDR": "http://v"}
    t = VaultTarget.from_env(None, env, Path("/x"))
    assert (t.address, t.timeout) == ("http://v", 5.0)


def test_bad_timeout_option_and_variable_through_the_cli(tmp_path: Path) -> None:
    m = write(tmp_path / "m.yaml", "plugins: []\n")
    r = reconcile("plan", "-m", m, env={"VAULT_ADDR": "http://127.0.0.1:1", "VAULT_CLIENT_TIMEOUT": "fast"})
    assert r.exit_code == 1
    assert r.stderr.startswith("Error: VAULT_CLIENT_TIMEOUT: 'fast' is not a timeout\nHint: give seconds")


@pytest.mark.parametrize(
    ("variable", "content", "message"),
    [
        ("VAULT_CACERT", None, "VAULT_CACERT: cannot read {path}: No such file or directory"),
        ("VAULT_CACERT", "not a cert", "VAULT_CACERT: {path} holds no PEM certificate"),
        ("BAO_CACERT", "not a cert", "BAO_CACERT: {path} holds no PEM certificate"),
        ("VAULT_CAPATH", None, "VAULT_CAPATH: {path} is not a directory"),
        ("VAULT_CLIENT_CERT", None, "VAULT_CLIENT_CERT: cannot read {path}: No such file or directory"),
        ("VAULT_CLIENT_CERT", "not a cert", "VAULT_CLIENT_CERT: {path} is not a PEM certificate"),
        ("VAULT_CLIENT_KEY", "x", "VAULT_CLIENT_KEY is set but VAULT_CLIENT_CERT is not"),
    ],
)
def test_tls_file_problems_name_the_variable_and_file(variable, content, message, tmp_path: Path) -> None:
    path = tmp_path / "file.pem"
    if content is not None:
        path.write_text(content)
    env = {"VAULT_ADDR": "https://127.0.0.1:1", "VAULT_TOKEN": "t", variable: str(path)}
    r = reconcile("plan", "-m", write(tmp_path / "m.yaml", "plugins: []\n"), env=env)
    assert r.exit_code == 1
    assert r.stderr.startswith("Error: " + message.format(path=path) + "\n"), r.stderr
