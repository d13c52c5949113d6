"""Malformed answers, redirects, huge bodies and silence from "the server", through the CLI against
the real dev OpenBao behind a local fault proxy: exit 1, the exact message, nothing half-applied."""

from __future__ import annotations

import re
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.cli import SHA_A, reconcile, write
from tests.faultproxy import Fault, FaultProxy, Recorder, fault_proxy
from tests.servers import BaoServer, serve_asgi

CATALOG = "/v1/sys/plugins/catalog"
KV = f"""
plugins:
  - name: kv-extra
    type: secret
    versions:
      - version: 1.4.2
        sha256: {SHA_A}
        env: {{API_KEY: hunter2-secret}}
"""
HINT = "Hint: something between reconcile and the server (a proxy, a load balancer) may have answered instead of it"


@pytest.fixture
def proxied(bao: BaoServer) -> Iterator[tuple[FaultProxy, dict[str, str]]]:
    for command in ("kv-extra", "other"):
        bao.add_plugin_file(command)
    with fault_proxy(bao.address) as (proxy, address):
        yield proxy, {"VAULT_ADDR": address, "VAULT_TOKEN": bao.token}


def entries(bao: BaoServer) -> set[tuple[str, str, str]]:
    with bao.client() as c:
        detailed = c.get(CATALOG).json()["data"]["detailed"]
    return {(e["type"], e["name"], e["version"]) for e in detailed if not e["builtin"]}


def register_other(bao: BaoServer) -> None:
    with bao.client() as c:
        c.post(f"{CATALOG}/secret/other", json={"sha256": SHA_A, "command": "other"}).raise_for_status()


MALFORMED = [
    ("empty-object", b"{}", "application/json", "data: missing"),
    ("null", b"null", "application/json", "expected a JSON object, got null"),
    ("empty", b"", "application/json", "the body is empty (expected a JSON object)"),
    ("html", b"<html><body>Welcome</body></html>", "text/html", "the body is not JSON (text/html, 33 bytes)"),
    ("truncated", b'{"data": {"detailed": [', "application/json", "the body is not JSON (application/json, 23 bytes)"),
    (
        "data-mistyped",
        b'{"data": {"detailed": "kv"}}',
        "application/json",
        "data.detailed: input should be a valid list, got a string",
    ),
    (
        "entry-mistyped",
        b'{"data": {"detailed": [{"type": "secret", "name": 7, "builtin": false}]}}',
        "application/json",
        "data.detailed[0].name: input should be a valid string, got a number",
    ),
]


@pytest.mark.parametrize(("body", "kind", "problem"), [m[1:] for m in MALFORMED], ids=[m[0] for m in MALFORMED])
def test_malformed_catalog_list_stops_plan_and_apply(bao, proxied, tmp_path: Path, body, kind, problem) -> None:
    proxy, env = proxied
    register_other(bao)
    proxy.fail("GET", CATALOG, Fault(body=body, headers={"Content-Type": kind}))
    m = write(tmp_path / "m.yaml", KV)
    expected = f"Error: unexpected response from {env['VAULT_ADDR']} to GET {CATALOG}: {problem}\n{HINT}"
    for command in (["plan"], ["apply", "--auto-approve"]):
        r = reconcile(*command, "-m", m, env=env)
        assert r.exit_code == 1, r.output
        assert r.stderr.startswith(expected), r.stderr
        assert "Traceback" not in r.output
    assert entries(bao) == {("secret", "other", "")}  # nothing registered, nothing pruned
    assert not [s for s in proxy.seen if not s.startswith("GET ")]


def test_entry_read_of_the_wrong_shape_is_an_error_not_an_update(bao, proxied, tmp_path: Path) -> None:
    proxy, env = proxied
    with bao.client() as c:
        c.post(f"{CATALOG}/secret/kv-extra", json={"sha256": SHA_A, "command": "kv-extra", "version": "v1.4.2"})
    proxy.fail("GET", f"{CATALOG}/secret/kv-extra", Fault(body=b'{"data": {}}'))
    r = reconcile("apply", "--auto-approve", "-m", write(tmp_path / "m.yaml", KV), env=env)
    assert r.exit_code == 1
    assert r.stderr.startswith(
        f"Error: unexpected response from {env['VAULT_ADDR']} to GET {CATALOG}/secret/kv-extra: "
        "data.name: missing; data.command: missing; data.sha256: missing; and 1 more\n"
    ), r.stderr
    assert [s for s in proxy.seen if not s.startswith("GET ")] == []


def test_only_a_404_confirms_a_delete(bao, proxied, tmp_path: Path) -> None:
    """The server keeps the entry (DELETE answered by the proxy); the read-back says 200 `{}`."""
    proxy, env = proxied
    register_other(bao)
    proxy.fail("DELETE", f"{CATALOG}/secret/other", Fault(status=204))
    proxy.fail("GET", f"{CATALOG}/secret/other", Fault(body=b"{}", skip=1))  # the plan's read passes
    r = reconcile(
        "apply", "--auto-approve", "--allow-empty", "-m", write(tmp_path / "m.yaml", "plugins: []\n"), env=env
    )
    assert r.exit_code == 1, r.output
    assert f"unexpected response from {env['VAULT_ADDR']} to GET {CATALOG}/secret/other: data: missing" in r.output
    assert "1 failed" in r.stdout
    assert entries(bao) == {("secret", "other", "")}


def test_a_huge_body_is_cut_off(bao, proxied, tmp_path: Path) -> None:
    proxy, env = proxied
    proxy.fail("GET", CATALOG, Fault(stream_mib=40))
    r = reconcile("plan", "-m", write(tmp_path / "m.yaml", KV), env=env)
    assert r.exit_code == 1
    assert r.stderr.startswith(
        f"Error: unexpected response from {env['VAULT_ADDR']} to GET {CATALOG}: "
        "the body is larger than 32 MiB; stopped reading it\n"
    ), r.stderr


def test_html_error_page_gives_a_clean_api_error(bao, proxied, tmp_path: Path) -> None:
    proxy, env = proxied
    page = (
        b"<html><head><title>502 Bad Gateway</title><style>b{}</style></head><body><h1>Bad Gateway</h1></body></html>"
    )
    proxy.fail("GET", CATALOG, Fault(status=502, body=page, headers={"Content-Type": "text/html"}))
    r = reconcile("plan", "-m", write(tmp_path / "m.yaml", KV), env={**env, "VAULT_MAX_RETRIES": "0"})
    assert r.exit_code == 1
    assert r.stderr == f"Error: GET {CATALOG}: 502 502 Bad Gateway Bad Gateway\n"


def test_cross_origin_redirect_is_not_followed(bao, proxied, tmp_path: Path) -> None:
    proxy, env = proxied
    evil = Recorder()
    with serve_asgi(evil) as evil_address:
        where = evil_address.replace("http://", "http://thief:pw@") + "/v1/steal?token=abc"
        shown = f"{evil_address}/v1/steal"
        register = f"{CATALOG}/secret/kv-extra"
        proxy.fail("POST", register, Fault(status=307, headers={"Location": where}))
        r = reconcile("apply", "--auto-approve", "-m", write(tmp_path / "m.yaml", KV), env=env)
        assert r.exit_code == 1, r.output
        assert (
            f"POST {register}: {env['VAULT_ADDR']} answered 307 Temporary Redirect, redirecting to another server, "
            f"{shown}; not followed: the token and the request were not sent there" in r.output
        )
        proxy.fail("GET", CATALOG, Fault(status=307, headers={"Location": where}))
        r = reconcile("plan", "-m", write(tmp_path / "m.yaml", KV), env=env)
        assert r.exit_code == 1
        assert (
            "Hint: address the active node directly (--address, VAULT_ADDR), or enable request forwarding" in r.stderr
        )
        assert "thief" not in r.output
        assert "abc" not in r.output
    assert evil.seen == []
    assert entries(bao) == set()


def test_same_origin_redirect_is_followed(bao, proxied, tmp_path: Path) -> None:
    """The proxy sends the client to a non-canonical path; OpenBao itself redirects back (307)."""
    proxy, env = proxied
    proxy.fail("GET", CATALOG, Fault(status=307, headers={"Location": "/v1/sys//plugins/catalog"}, times=1))
    r = reconcile("plan", "-m", write(tmp_path / "m.yaml", KV), env=env)
    assert r.exit_code == 0, r.output
    assert "  + register secret/kv-extra v1.4.2" in r.stdout
    assert proxy.seen[1:4] == [f"GET {CATALOG}", "GET /v1/sys//plugins/catalog", f"GET {CATALOG}"]


def test_a_server_that_never_answers_is_reported_with_the_timeout(bao, proxied, tmp_path: Path) -> None:
    proxy, env = proxied
    proxy.fail("GET", "/v1/sys/seal-status", Fault(hang=True))
    r = reconcile(
        "plan", "-m", write(tmp_path / "m.yaml", KV), "--timeout", "0.3", env={**env, "VAULT_MAX_RETRIES": "1"}
    )
    assert r.exit_code == 1
    lines = r.stderr.splitlines()
    assert re.fullmatch(
        r"retrying GET /v1/sys/seal-status: no answer within 0.3 s \(attempt 2 of 2, next in 0\.\d s\)", lines[0]
    )
    assert lines[1] == f"Error: GET /v1/sys/seal-status: no answer within 0.3 s from {env['VAULT_ADDR']}"
    assert "--timeout SECONDS or VAULT_CLIENT_TIMEOUT" in lines[2]


def test_silent_tcp_server_and_client_timeout_variable(tmp_path: Path) -> None:
    """A socket that listens but never accepts: the kernel completes the handshake, nobody answers."""
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        address = f"http://127.0.0.1:{silent.getsockname()[1]}"
        env = {"VAULT_ADDR": address, "VAULT_TOKEN": "t", "BAO_CLIENT_TIMEOUT": "200ms", "VAULT_MAX_RETRIES": "0"}
        r = reconcile("plan", "-m", write(tmp_path / "m.yaml", KV), env=env)
    assert r.exit_code == 1
    assert r.stderr.startswith(f"Error: GET /v1/sys/seal-status: no answer within 0.2 s from {address}\n"), r.stderr


def test_retries_are_announced(bao, proxied, tmp_path: Path) -> None:
    proxy, env = proxied
    proxy.fail("GET", CATALOG, Fault(status=503, body=b'{"errors":["busy"]}', times=2))
    r = reconcile("plan", "-m", write(tmp_path / "m.yaml", KV), env=env)
    assert r.exit_code == 0, r.output
    lines = r.stderr.splitlines()
    assert len(lines) == 2
    for n, line in enumerate(lines, start=2):
        pattern = rf"retrying GET {CATALOG}: 503 Service Unavailable \(attempt {n} of 4, next in \d+\.\d s\)"
        assert re.fullmatch(pattern, line), line
