"""The HTTP seam: retries, error mapping and delete confirmation, with httpx.MockTransport for
failures a real server cannot be made to produce on demand."""

from __future__ import annotations

import asyncio
import json

import httpx
import pytest

from reconciler.apply import Outcome, apply
from reconciler.diff import diff
from reconciler.errors import ApiError, ConnectionFailed, PermissionDenied, UsageError
from reconciler.http import address
from reconciler.http.client import Http, Retry
from reconciler.plan import build_plan
from reconciler.targets.vault.api import VaultApi, connect
from reconciler.targets.vault.settings import VaultTarget
from tests.factories import OPENBAO, desired, live, live_plugin

FAST = Retry(attempts=3, initial=0.001, maximum=0.002)


def api_for(handler, retry: Retry = FAST) -> tuple[VaultApi, list[str]]:
    seen: list[str] = []

    def record(request: httpx.Request) -> httpx.Response:
        seen.append(f"{request.method} {request.url.path}")
        return handler(request)

    http = Http("http://vault.test", transport=httpx.MockTransport(record), retry=retry)
    return VaultApi(http), seen


def run(coro):
    return asyncio.run(coro)


@pytest.mark.parametrize("status", [429, 502, 503])
def test_retryable_statuses_are_retried_then_succeed(status: int) -> None:
    answers = iter(
        [httpx.Response(status, json={"errors": ["busy"]}), httpx.Response(200, json={"data": {"detailed": []}})]
    )
    api, seen = api_for(lambda r: next(answers))
    assert run(api.list_catalog()) == []
    assert seen == ["GET /v1/sys/plugins/catalog"] * 2


def test_retries_give_up_with_the_server_message() -> None:
    api, seen = api_for(lambda r: httpx.Response(502, json={"errors": ["upstream rate limited"]}))
    with pytest.raises(ApiError, match=r"GET /v1/sys/plugins/catalog: 502 upstream rate limited"):
        run(api.list_catalog())
    assert len(seen) == 3


@pytest.mark.parametrize("status", [400, 404, 405, 500])
def test_other_errors_are_not_retried(status: int) -> None:
    body = {"errors": ["1 error occurred:\n\t* cannot delete a pinned version\n\n"]}
    api, seen = api_for(lambda r: httpx.Response(status, json=body))
    with pytest.raises(ApiError) as info:
        run(api.list_catalog())
    assert str(info.value) == f"GET /v1/sys/plugins/catalog: {status} cannot delete a pinned version"
    assert len(seen) == 1


def test_sealed_is_not_retried_and_says_so() -> None:
    api, seen = api_for(lambda r: httpx.Response(503, json={"errors": ["Vault is sealed"]}))
    with pytest.raises(ApiError) as info:
        run(api.list_catalog())
    assert "503 Vault is sealed" in str(info.value)
    assert "unseal" in info.value.hint
    assert len(seen) == 1


def test_connection_errors_are_retried_then_reported() -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused")

    api, seen = api_for(refuse)
    with pytest.raises(ConnectionFailed, match=r"cannot reach http://vault\.test: connection refused"):
        run(api.list_catalog())
    assert len(seen) == 3


def test_permission_denied_distinguishes_bad_token_from_missing_capability() -> None:
    api, _ = api_for(lambda r: httpx.Response(403, json={"errors": ["permission denied"]}))
    with pytest.raises(PermissionDenied) as info:
        run(api.read_plugin(live_plugin().key))
    assert "token is missing, unknown or expired" in info.value.hint
    multi = {"errors": ["1 error occurred:\n\t* permission denied\n\n"]}
    api, _ = api_for(lambda r: httpx.Response(403, json=multi))
    with pytest.raises(PermissionDenied) as info:
        run(api.delete_plugin(live_plugin().key))
    assert (
        info.value.hint
        == 'the token needs capabilities ["delete", "sudo"] on path "sys/plugins/catalog/secret/kv-extra"'
    )


_ENTRY = {"name": "kv-extra", "command": "kv-extra", "args": [], "builtin": False, "sha256": "1" * 64}


def test_delete_that_does_not_take_is_reported_as_failed() -> None:
    def vault(request: httpx.Request) -> httpx.Response:
        if request.method == "DELETE":
            return httpx.Response(204)
        return httpx.Response(200, json={"data": {**_ENTRY, "version": "v1.0.0"}})

    api, seen = api_for(vault)
    have = live(live_plugin(), mounts=())
    plan = build_plan(diff(desired(), have), have, desired().state.settings, "http://vault.test")
    report = run(apply(plan, api, OPENBAO))
    (result,) = report.ordered()
    assert result.outcome is Outcome.FAILED
    assert result.error == (
        "DELETE of secret/kv-extra v1.0.0 answered success, but the entry is still in the catalog "
        "(another writer may have registered it again)"
    )
    # Read before (still what the plan saw?), delete, read back.
    assert seen == [
        "GET /v1/sys/plugins/catalog/secret/kv-extra",
        "DELETE /v1/sys/plugins/catalog/secret/kv-extra",
        "GET /v1/sys/plugins/catalog/secret/kv-extra",
    ]


def test_delete_sends_the_version_in_the_query_string_never_the_body() -> None:
    requests: list[httpx.Request] = []

    def vault(request: httpx.Request) -> httpx.Response:
        requests.append(request)
        return httpx.Response(204) if request.method == "DELETE" else httpx.Response(404, json={"errors": []})

    api, _ = api_for(vault)
    run(api.delete_plugin(live_plugin(version="v1.2.3").key))
    assert requests[0].url.params["version"] == "v1.2.3"
    assert requests[0].content == b""


def test_register_body_carries_env_but_only_the_wire_sees_it() -> None:
    bodies = []

    def vault(request: httpx.Request) -> httpx.Response:
        bodies.append(json.loads(request.content))
        return httpx.Response(204)

    api, _ = api_for(vault)
    from tests.factories import plugin

    run(api.register_plugin(plugin(env={"TOKEN": "s3cr3t"}, args=("-a",))))
    assert bodies == [
        {"sha256": "1" * 64, "command": "kv-extra", "args": ["-a"], "version": "v1.0.0", "env": ["TOKEN=s3cr3t"]}
    ]


def test_target_from_environment(tmp_path) -> None:
    t = VaultTarget.from_env(
        None, {"BAO_ADDR": "http://b:8200/", "BAO_TOKEN": "s.Zq9secret", "VAULT_NAMESPACE": "ns1"}, tmp_path
    )
    assert (t.address, t.token and t.token.get_secret_value(), t.namespace) == ("http://b:8200", "s.Zq9secret", "ns1")
    assert "Zq9secret" not in repr(t)
    with pytest.raises(UsageError, match="must start with http:// or https://"):
        VaultTarget.from_env("vault:8200", {}, tmp_path)
    (tmp_path / ".vault-token").write_text("from-file\n")
    t = VaultTarget.from_env("http://a", {}, tmp_path)
    assert t.token is not None
    assert t.token.get_secret_value() == "from-file"


def test_namespace_and_token_headers() -> None:
    seen = []

    def vault(request: httpx.Request) -> httpx.Response:
        seen.append(dict(request.headers))
        return httpx.Response(200, json={"data": {"detailed": []}})

    target = VaultTarget.from_env("http://v", {"VAULT_TOKEN": "t0k", "VAULT_NAMESPACE": "team"})
    api = connect(target, transport=httpx.MockTransport(vault))
    run(api.list_catalog())
    assert seen[0]["x-vault-token"] == "t0k"
    assert seen[0]["x-vault-namespace"] == "team"


@pytest.mark.parametrize(
    ("given", "shown"),
    [
        ("http://127.0.0.1:8200", "http://127.0.0.1:8200"),
        ("https://user:pa%40ss@vault.example.com:8200/", "https://vault.example.com:8200/"),
        ("http://token@[::1]:8200", "http://[::1]:8200"),
        ("http://u:p@[::1", "http://[::1"),
        ("https://a@b@host", "https://host"),
        ("http://host/path@x", "http://host/path@x"),
    ],
)
def test_display_address_drops_credentials(given: str, shown: str) -> None:
    assert address.display(given) == shown
