"""The Nomad client (reconciler/targets/nomad/api.py) and the live reads and blocking-query wait
(reconciler/kinds/csi_live.py), against the fake Nomad served on 127.0.0.1; httpx.MockTransport only
for what the fake cannot produce (a lost `X-Nomad-Index`, a refused connection)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, TypeVar

import httpx
import pytest

from reconciler.checks import Check
from reconciler.durations import parse_duration
from reconciler.errors import ApiError, ConnectionFailed, PermissionDenied, UsageError
from reconciler.http.client import Retry
from reconciler.kinds.csi_live import read_csi, wait_for_checks
from reconciler.resources import CsiPlugin
from reconciler.targets.nomad.api import NomadApi, connect, go_duration
from reconciler.targets.nomad.settings import NomadTarget
from tests.emulator.nomad import NomadFake
from tests.emulator.nomad_fixtures import serve_nomad

T = TypeVar("T")
FAST = Retry(attempts=2, initial=0.001, maximum=0.002)


def api_at(base_url: str, **env: str) -> NomadApi:
    return connect(NomadTarget.from_env(base_url, env), retry=FAST)


def run(make: Callable[[], Coroutine[Any, Any, T]]) -> T:
    return asyncio.run(make())


def call(api: NomadApi, use: Callable[[NomadApi], Awaitable[T]]) -> T:
    """Run `use(api)` on a fresh loop, closing the api after."""

    async def go() -> T:
        try:
            return await use(api)
        finally:
            await api.aclose()

    return asyncio.run(go())


def ignore(check: Check) -> None:
    pass


def reads(fake: NomadFake) -> list[str]:
    return [path for _, path in fake.requests if path.startswith("/v1/plugin/csi/")]


def healthy(fake: NomadFake, plugin_id: str = "aws-ebs0", nodes: int = 2) -> None:
    fake.register_job(f"{plugin_id}-nodes", plugin_id, "node", count=nodes)
    for n in range(nodes):
        fake.fingerprint(plugin_id, f"n{n}", "node")


# -- target --------------------------------------------------------------------------------------


def test_target_defaults_and_environment() -> None:
    assert NomadTarget.from_env(None, {}) == NomadTarget(address="http://127.0.0.1:4646")
    target = NomadTarget.from_env(
        None,
        {
            "NOMAD_ADDR": "https://nomad.example:4646/",
            "NOMAD_TOKEN": " s3cret \n",
            "NOMAD_NAMESPACE": "prod",
            "NOMAD_REGION": "eu",
            "NOMAD_CACERT": "/ca.pem",
            "NOMAD_CLIENT_CERT": "/c.pem",
            "NOMAD_CLIENT_KEY": "/k.pem",
            "NOMAD_SKIP_VERIFY": "true",
        },
    )
    assert target.address == "https://nomad.example:4646"
    assert target.token is not None
    assert target.token.get_secret_value() == "s3cret"
    assert "s3cret" not in repr(target)
    assert (target.namespace, target.region) == ("prod", "eu")
    assert (target.tls.ca_cert, target.tls.client_cert, target.tls.client_key) == ("/ca.pem", "/c.pem", "/k.pem")
    assert target.tls.skip_verify
    assert NomadTarget.from_env("http://flag:4646", {"NOMAD_ADDR": "http://env:4646"}).address == "http://flag:4646"


def test_target_rejects_an_address_without_scheme() -> None:
    with pytest.raises(UsageError, match="must start with http"):
        NomadTarget.from_env("nomad:4646", {})


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("500ms", 0.5), ("30s", 30), ("5m", 300), ("1m30s", 90), ("1.5h", 5400), ("0s", 0), (" 2s ", 2)],
)
def test_parse_duration(text: str, seconds: float) -> None:
    assert parse_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize("text", ["", "30", "5x", "1m 30s", "-5s", "s", "1.m"])
def test_parse_duration_rejects(text: str) -> None:
    with pytest.raises(UsageError, match="invalid duration"):
        parse_duration(text)


def test_go_duration_is_never_zero() -> None:
    # Nomad reads a wait of 0 as 300 s (reference §2.6).
    assert [go_duration(s) for s in (5, 0.0001, 0)] == ["5000ms", "1ms", "1ms"]


# -- requests ------------------------------------------------------------------------------------


def test_list_always_sends_type_csi_with_namespace_region_and_token(served_nomad: tuple[NomadFake, str]) -> None:
    fake, base_url = served_nomad
    healthy(fake)
    fake.acl = True
    fake.add_token("t0k", "read")

    async def go() -> Any:
        api = api_at(base_url, NOMAD_TOKEN="t0k", NOMAD_NAMESPACE="prod", NOMAD_REGION="global")
        try:
            return await api.list_csi_plugins(), await api.read_csi_plugin("aws-ebs0")
        finally:
            await api.aclose()

    listing, plugin = run(go)
    assert [s.ID for s in listing.stubs] == ["aws-ebs0"]
    assert listing.index == fake.index
    assert plugin is not None
    assert len(plugin.Nodes or {}) == 2
    assert fake.requests == [
        ("GET", "/v1/plugins?type=csi&namespace=prod&region=global"),
        ("GET", "/v1/plugin/csi/aws-ebs0?namespace=prod&region=global"),
    ]


def test_read_quotes_the_id_and_a_404_is_none(served_nomad: tuple[NomadFake, str]) -> None:
    fake, base_url = served_nomad

    async def go() -> Any:
        async with api_at(base_url).http as http:
            return await NomadApi(http).read_csi_plugin("a b/c")

    assert run(go) is None
    assert fake.requests == [("GET", "/v1/plugin/csi/a%20b%2Fc")]


def test_blocking_query_parameters_and_timeout() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json=[], headers={"X-Nomad-Index": "7"})

    async def go() -> Any:
        http_api = connect(NomadTarget("http://nomad.test"), transport=httpx.MockTransport(handler))
        async with http_api.http:
            return await http_api.list_csi_plugins(index=7, wait=5.0), await http_api.list_csi_plugins()

    blocking, plain = run(go)
    assert (blocking.index, plain.index) == (7, 7)
    assert dict(seen[0].url.params) == {"type": "csi", "index": "7", "wait": "5000ms"}
    assert seen[0].extensions["timeout"]["read"] == pytest.approx(5.0 + 5.0 / 16 + 10.0)  # beyond wait + jitter
    assert dict(seen[1].url.params) == {"type": "csi"}
    assert seen[1].extensions["timeout"]["read"] == 30.0


# -- errors: plain text, with method, path, status and body ---------------------------------------


def test_403_names_the_plugin_read_policy() -> None:
    fake = NomadFake(acl=True)
    fake.add_token("lister", "list")
    fake.fingerprint("aws-ebs0", "n0", "node")
    with serve_nomad(fake) as base_url:
        with pytest.raises(PermissionDenied) as anonymous:
            call(api_at(base_url), lambda api: read_csi(api, [CsiPlugin(id="aws-ebs0")]))
        with pytest.raises(PermissionDenied) as lister:
            call(api_at(base_url, NOMAD_TOKEN="lister"), lambda api: read_csi(api, [CsiPlugin(id="aws-ebs0")]))
    assert str(anonymous.value) == "GET /v1/plugins: 403 Permission denied"
    assert str(lister.value) == "GET /v1/plugin/csi/aws-ebs0: 403 Permission denied"
    assert 'plugin { policy = "read" }' in lister.value.hint
    assert "NOMAD_TOKEN" in lister.value.hint


def test_server_errors_are_plain_text(served_nomad: tuple[NomadFake, str]) -> None:
    fake, base_url = served_nomad
    with pytest.raises(ApiError) as info:
        call(api_at(base_url, NOMAD_REGION="mars"), lambda api: read_csi(api, [CsiPlugin(id="x")]))
    assert str(info.value) == "GET /v1/plugins: 500 No path to region"
    assert len(fake.requests) == 1  # a 500 is not retried


def test_unreachable_nomad_says_where_to_look() -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused")

    api = connect(NomadTarget("http://nomad.test"), transport=httpx.MockTransport(refuse), retry=FAST)
    with pytest.raises(ConnectionFailed, match=r"GET /v1/plugins: cannot reach http://nomad\.test") as info:
        call(api, lambda api: read_csi(api, [CsiPlugin(id="x")]))
    assert "NOMAD_ADDR" in info.value.hint


# -- read_csi --------------------------------------------------------------------------------------


def test_read_csi_reads_only_declared_plugins_the_list_shows(served_nomad: tuple[NomadFake, str]) -> None:
    fake, base_url = served_nomad
    healthy(fake, "a")
    healthy(fake, "b")
    healthy(fake, "zz-other")
    declared = [CsiPlugin(id="b"), CsiPlugin(id="a"), CsiPlugin(id="gone")]
    live = call(api_at(base_url), lambda api: read_csi(api, declared))
    assert live.plugins["gone"] is None
    assert live.plugins["a"] is not None
    assert live.plugins["a"].ID == "a"
    assert live.unmanaged == ("zz-other",)
    assert live.index == fake.index
    assert sorted(reads(fake)) == ["/v1/plugin/csi/a", "/v1/plugin/csi/b"]


# -- wait_for_checks ---------------------------------------------------------------------------------


def test_wait_returns_when_a_plugin_turns_healthy(served_nomad: tuple[NomadFake, str]) -> None:
    fake, base_url = served_nomad
    fake.register_job("ebs-nodes", "aws-ebs0", "node", count=1)
    healthy(fake, "other")
    progress: list[Check] = []

    async def go() -> tuple[list[Check], float]:
        api = api_at(base_url)
        task = asyncio.create_task(
            wait_for_checks(
                api, [CsiPlugin(id="aws-ebs0"), CsiPlugin(id="other")], time.monotonic() + 30, progress.append
            )
        )
        assert await asyncio.to_thread(fake.wait_for_waiters, 1)
        start = time.monotonic()
        fake.fingerprint("aws-ebs0", "n0", "node")
        checks, _ = await task
        await api.aclose()
        return checks, time.monotonic() - start

    checks, elapsed = run(go)
    assert all(c.ok for c in checks)
    assert elapsed < 3  # the blocking query returned at once, not after its wait
    assert progress == [
        Check(id="aws-ebs0", ok=False, reason="0 of 1 nodes healthy, need 1"),
        Check(id="aws-ebs0", ok=True),
    ]
    # One list, two reads; one blocking list; then only the plugin that changed is read again.
    first, again = reads(fake)[:2], reads(fake)[2:]
    assert sorted(first) == ["/v1/plugin/csi/aws-ebs0", "/v1/plugin/csi/other"]
    assert again == ["/v1/plugin/csi/aws-ebs0"]
    assert len(fake.requests) == 5


def test_a_change_that_does_not_raise_the_index_is_seen_after_the_short_wait() -> None:
    fake = NomadFake(jitter=lambda _wait: 0.0)
    fake.register_job("ebs-nodes", "aws-ebs0", "node", count=1)
    fake.fingerprint("aws-ebs0", "n0", "node")
    fake.fingerprint("aws-ebs0", "n0", "node", healthy=False)

    async def go(base_url: str) -> tuple[list[Check], float]:
        api = api_at(base_url)
        task = asyncio.create_task(
            wait_for_checks(api, [CsiPlugin(id="aws-ebs0")], time.monotonic() + 30, ignore, poll=0.5)
        )
        assert await asyncio.to_thread(fake.wait_for_waiters, 1)
        start = time.monotonic()
        fake.fingerprint("aws-ebs0", "n0", "node", bump_index=False)  # alloc-driven: the index stays
        assert await asyncio.to_thread(fake.wait_for_wakeups, 1)  # woken, same index: waits again
        checks, _ = await task
        await api.aclose()
        return checks, time.monotonic() - start

    with serve_nomad(fake) as base_url:
        checks, elapsed = run(lambda: go(base_url))
    assert checks == [Check(id="aws-ebs0", ok=True)]
    assert elapsed < 3  # within the 0.5 s wait (plus a round trip), not the 30 s deadline


def test_wait_on_a_fresh_cluster_blocks_instead_of_spinning() -> None:
    """Index 0 (nothing written yet) must not be sent as `index=0`, which never blocks."""
    fake = NomadFake(jitter=lambda _wait: 0.0)
    with serve_nomad(fake) as base_url:
        start = time.monotonic()
        checks, live = call(
            api_at(base_url), lambda api: wait_for_checks(api, [CsiPlugin(id="aws-ebs0")], start + 0.5, ignore)
        )
    assert checks == [Check(id="aws-ebs0", ok=False, reason="missing")]
    assert live.index == 0
    assert 0.5 <= time.monotonic() - start < 3
    assert len(fake.requests) == 2  # the first list, then one blocking list that waited out the deadline
    assert fake.requests[1][1].startswith("/v1/plugins?type=csi&index=1&wait=")


def test_wait_never_asks_beyond_the_deadline(served_nomad: tuple[NomadFake, str]) -> None:
    fake, base_url = served_nomad
    fake.register_job("ebs-nodes", "aws-ebs0", "node", count=1)
    start = time.monotonic()
    checks, _ = call(
        api_at(base_url), lambda api: wait_for_checks(api, [CsiPlugin(id="aws-ebs0")], start + 1.5, ignore)
    )
    assert not checks[0].ok
    assert time.monotonic() - start < 6
    waits = [path.rsplit("wait=", 1)[1] for _, path in fake.requests if "wait=" in path]
    assert waits  # 1.5 s leaves room for the first list and reads even on a loaded machine
    assert all(int(w.removesuffix("ms")) <= 1500 for w in waits)


def test_a_lost_index_header_falls_back_to_the_modify_index() -> None:
    """A proxy that drops `X-Nomad-Index`: block on the stubs' ModifyIndex rather than spin on 0."""
    seen: list[str] = []
    stub = {"ID": "p", "Provider": "x", "ControllerRequired": False, "ControllersHealthy": 0}
    stub |= {"ControllersExpected": 0, "NodesHealthy": 0, "NodesExpected": 1, "CreateIndex": 3, "ModifyIndex": 42}
    read = {**stub, "Controllers": {}, "Nodes": {}}

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(str(request.url.query, "ascii"))
        return httpx.Response(200, json=[stub] if request.url.path == "/v1/plugins" else read)

    api = connect(NomadTarget("http://nomad.test"), transport=httpx.MockTransport(handler))
    deadline = time.monotonic() + 0.05
    checks, _ = call(api, lambda api: wait_for_checks(api, [CsiPlugin(id="p")], deadline, ignore, poll=0.01))
    assert not checks[0].ok
    blocking = [q for q in seen if "index=" in q]
    assert blocking
    assert all("index=42" in q for q in blocking)
