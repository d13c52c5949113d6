"""The fake Nomad server against the CSI plugins API reference (nomad-csi-plugins-api.md)."""

from __future__ import annotations

import asyncio
import json
import re
import threading
import time
from collections.abc import Callable, Mapping

import httpx
import pytest

from tests.emulator.nomad import (
    GoParseError,
    NomadFake,
    PluginPolicy,
    _default_jitter,
    go_parse_duration,
)
from tests.servers import serve_asgi

STUB_KEYS = [
    "ID",
    "Provider",
    "ControllerRequired",
    "ControllersHealthy",
    "ControllersExpected",
    "NodesHealthy",
    "NodesExpected",
    "CreateIndex",
    "ModifyIndex",
]
PLUGIN_KEYS = [
    "ID",
    "Provider",
    "Version",
    "ControllerRequired",
    "Controllers",
    "Nodes",
    "Allocations",
    "ControllerJobs",
    "NodeJobs",
    "ControllersHealthy",
    "ControllersExpected",
    "NodesHealthy",
    "NodesExpected",
    "CreateIndex",
    "ModifyIndex",
    "CreateTime",
    "ModifyTime",
]
INFO_KEYS = [
    "PluginID",
    "AllocID",
    "Healthy",
    "HealthDescription",
    "UpdateTime",
    "Provider",
    "ProviderVersion",
    "RequiresControllerPlugin",
    "RequiresTopologies",
]
TEXT = "text/plain; charset=utf-8"


def call(fake: NomadFake, url: str, *, method: str = "GET", headers: Mapping[str, str] | None = None) -> httpx.Response:
    """One request to the fake in-process (httpx.ASGITransport) on a fresh event loop."""

    async def go() -> httpx.Response:
        transport = httpx.ASGITransport(app=fake.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://nomad") as client:
            return await client.request(method, url, headers=headers)

    return asyncio.run(go())


def nomad_headers(response: httpx.Response) -> dict[str, str]:
    return {k.lower(): v for k, v in response.headers.items() if k.lower().startswith("x-nomad-")}


def assert_plain_error(response: httpx.Response, status: int, body: str) -> None:
    assert response.status_code == status
    assert response.text == body
    assert response.headers["content-type"] == TEXT
    assert nomad_headers(response) == {}


class Background(threading.Thread):
    """Run a blocking request on another thread; `finish()` returns (response, elapsed seconds)."""

    def __init__(self, fn: Callable[[], httpx.Response]) -> None:
        super().__init__(daemon=True)
        self._fn = fn
        self._response: httpx.Response | None = None
        self._error: BaseException | None = None
        self._elapsed = 0.0
        self.start()

    def run(self) -> None:
        start = time.monotonic()
        try:
            self._response = self._fn()
        except BaseException as err:
            self._error = err
        self._elapsed = time.monotonic() - start

    def finish(self, timeout: float = 10.0) -> tuple[httpx.Response, float]:
        self.join(timeout)
        assert not self.is_alive(), "the request did not return"
        if self._error is not None:
            raise self._error
        assert self._response is not None
        return self._response, self._elapsed


def healthy_plugin(fake: NomadFake, plugin_id: str = "aws-ebs0") -> None:
    fake.register_job("ebs-controller", plugin_id, "controller", 1)
    fake.register_job("ebs-nodes", plugin_id, "node", 2)
    fake.fingerprint(plugin_id, "node-1", "controller", requires_controller=True)
    fake.fingerprint(plugin_id, "node-1", "node", requires_controller=True)
    fake.fingerprint(plugin_id, "node-2", "node", requires_controller=True)


# --------------------------------------------------------------------------------------------
# Routing


@pytest.mark.parametrize("method", ["POST", "PUT", "DELETE", "PATCH", "OPTIONS"])
@pytest.mark.parametrize("url", ["/v1/plugins?type=csi", "/v1/plugin/csi/aws-ebs0"])
def test_only_get_is_allowed(nomad_fake: NomadFake, method: str, url: str) -> None:
    r = call(nomad_fake, url, method=method)
    assert_plain_error(r, 405, "Invalid method")
    assert "allow" not in r.headers


def test_head_is_refused(nomad_fake: NomadFake) -> None:
    assert call(nomad_fake, "/v1/plugin/csi/x", method="HEAD").status_code == 405
    assert call(nomad_fake, "/v1/plugins", method="HEAD").status_code == 405


@pytest.mark.parametrize("url", ["/v1/plugins/", "/v1/plugin/foo/x", "/v1/plugin/", "/v1/volumes"])
def test_unknown_routes_are_empty_404s(nomad_fake: NomadFake, url: str) -> None:
    r = call(nomad_fake, url)
    assert r.status_code == 404
    assert r.content == b""
    assert "content-type" not in r.headers
    assert nomad_headers(r) == {}


def test_redirects(nomad_fake: NomadFake) -> None:
    r = call(nomad_fake, "/v1/plugin/csi?stale")
    assert r.status_code == 301
    assert r.headers["location"] == "/v1/plugin/csi/?stale"
    r = call(nomad_fake, "/v1/plugin/csi/a//b")
    assert r.status_code == 301
    assert r.headers["location"] == "/v1/plugin/csi/a/b"


def test_read_path_segments(nomad_fake: NomadFake) -> None:
    healthy_plugin(nomad_fake, "p")
    assert call(nomad_fake, "/v1/plugin/csi/p").json()["ID"] == "p"
    assert call(nomad_fake, "/v1/plugin/csi/p/ignored").json()["ID"] == "p"
    assert call(nomad_fake, "/v1/plugin/csi/p/").json()["ID"] == "p"
    assert_plain_error(call(nomad_fake, "/v1/plugin/csi/p/x/y"), 404, "resource not found")
    assert_plain_error(call(nomad_fake, "/v1/plugin/csi/"), 500, "missing plugin ID")
    # the ID is exact and case-sensitive
    assert call(nomad_fake, "/v1/plugin/csi/P").status_code == 404
    assert call(nomad_fake, "/v1/plugin/csi/pp").status_code == 404


def test_requests_are_recorded(nomad_fake: NomadFake) -> None:
    call(nomad_fake, "/v1/plugins?type=csi&prefix=a")
    call(nomad_fake, "/v1/plugin/csi/a%20b", method="DELETE")
    assert nomad_fake.requests == [
        ("GET", "/v1/plugins?type=csi&prefix=a"),
        ("DELETE", "/v1/plugin/csi/a%20b"),
    ]


# --------------------------------------------------------------------------------------------
# List


def test_list_without_type_skips_everything() -> None:
    fake = NomadFake(acl=True)
    healthy_plugin(fake)
    r = call(fake, "/v1/plugins?index=bad&stale=maybe", headers={"X-Nomad-Token": "unknown"})
    assert r.status_code == 200
    assert r.content == b"[]"
    assert r.headers["content-type"] == "application/json"
    assert nomad_headers(r) == {}


@pytest.mark.parametrize("query", ["type=", "type=CSI", "type=foo", "type=foo&type=csi"])
def test_list_with_other_type_is_an_empty_body(query: str) -> None:
    fake = NomadFake(acl=True)
    healthy_plugin(fake)
    r = call(fake, f"/v1/plugins?{query}&index=bad")
    assert r.status_code == 200
    assert r.content == b""
    assert "content-type" not in r.headers
    assert nomad_headers(r) == {}


def test_list_empty(nomad_fake: NomadFake) -> None:
    r = call(nomad_fake, "/v1/plugins?type=csi")
    assert r.status_code == 200
    assert r.content == b"[]"
    assert r.headers["content-type"] == "application/json"
    assert nomad_headers(r) == {
        "x-nomad-index": "0",
        "x-nomad-lastcontact": "0",
        "x-nomad-knownleader": "true",
    }


def test_list_stubs_sorted_by_id_bytes_and_prefix(nomad_fake: NomadFake) -> None:
    for plugin_id in ["b", "a-b", "a", "B", "ab"]:
        nomad_fake.fingerprint(plugin_id, "node-1", "node")
    r = call(nomad_fake, "/v1/plugins?type=csi&namespace=other&per_page=1&reverse=true&filter=%3D%3D")
    stubs = r.json()
    assert [s["ID"] for s in stubs] == ["B", "a", "a-b", "ab", "b"]
    assert all(list(s) == STUB_KEYS for s in stubs)
    assert r.headers["x-nomad-index"] == str(nomad_fake.index)
    assert "x-nomad-nexttoken" not in r.headers
    prefixed = call(nomad_fake, "/v1/plugins?type=csi&prefix=a").json()
    assert [s["ID"] for s in prefixed] == ["a", "a-b", "ab"]
    assert call(nomad_fake, "/v1/plugins?type=csi&prefix=A").json() == []


def test_list_stub_values(nomad_fake: NomadFake) -> None:
    healthy_plugin(nomad_fake)
    (stub,) = call(nomad_fake, "/v1/plugins?type=csi").json()
    read = call(nomad_fake, "/v1/plugin/csi/aws-ebs0").json()
    assert stub == {key: read[key] for key in STUB_KEYS}
    assert stub["Provider"] == "ebs.csi.aws.com"
    assert stub["ControllerRequired"] is True
    assert (stub["ControllersHealthy"], stub["ControllersExpected"]) == (1, 1)
    assert (stub["NodesHealthy"], stub["NodesExpected"]) == (2, 2)


# --------------------------------------------------------------------------------------------
# Read


def test_read_shape(nomad_fake: NomadFake) -> None:
    healthy_plugin(nomad_fake)
    r = call(nomad_fake, "/v1/plugin/csi/aws-ebs0")
    assert r.status_code == 200
    assert r.headers["content-type"] == "application/json"
    assert r.headers["x-nomad-index"] == str(nomad_fake.index)
    plugin = r.json()
    assert list(plugin) == PLUGIN_KEYS
    assert plugin["Version"] == "1.5.0"
    assert plugin["Allocations"] is None
    assert plugin["ModifyTime"] == plugin["CreateTime"] > 10**18  # unix nanoseconds
    assert set(plugin["Controllers"]) == {"node-1"}
    assert set(plugin["Nodes"]) == {"node-1", "node-2"}
    controller = plugin["Controllers"]["node-1"]
    assert list(controller) == [*INFO_KEYS, "ControllerInfo"]
    assert len(controller["ControllerInfo"]) == 12
    node = plugin["Nodes"]["node-2"]
    assert list(node) == [*INFO_KEYS, "NodeInfo"]
    assert list(node["NodeInfo"]) == [
        "ID",
        "MaxVolumes",
        "AccessibleTopology",
        "RequiresNodeStageVolume",
        "SupportsStats",
        "SupportsExpand",
        "SupportsCondition",
    ]
    assert node["PluginID"] == "aws-ebs0"
    assert node["Healthy"] is True
    assert node["HealthDescription"] == "healthy"
    assert node["ProviderVersion"] == "1.5.0"
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,9})?Z", node["UpdateTime"])
    assert plugin["ControllerJobs"] == {
        "default": {"ebs-controller": {"Namespace": "default", "ID": "ebs-controller", "Expected": 1}}
    }
    assert plugin["NodeJobs"] == {"default": {"ebs-nodes": {"Namespace": "default", "ID": "ebs-nodes", "Expected": 2}}}
    counts = [plugin[k] for k in ["ControllersHealthy", "ControllersExpected", "NodesHealthy", "NodesExpected"]]
    assert counts == [1, 1, 2, 2]


def test_monolith_appears_in_both_maps(nomad_fake: NomadFake) -> None:
    nomad_fake.fingerprint("mono", "n1", "monolith", alloc_id="alloc-1", requires_controller=True)
    plugin = call(nomad_fake, "/v1/plugin/csi/mono").json()
    assert plugin["Controllers"]["n1"]["AllocID"] == plugin["Nodes"]["n1"]["AllocID"] == "alloc-1"
    assert "NodeInfo" not in plugin["Controllers"]["n1"]
    assert "ControllerInfo" not in plugin["Nodes"]["n1"]
    assert (plugin["ControllersHealthy"], plugin["NodesHealthy"]) == (1, 1)
    assert (plugin["ControllersExpected"], plugin["NodesExpected"]) == (0, 0)  # no job registered


def test_job_only_plugin(nomad_fake: NomadFake) -> None:
    nomad_fake.register_job("ctl", "p", "controller", 2)
    plugin = call(nomad_fake, "/v1/plugin/csi/p").json()
    assert (plugin["Provider"], plugin["Version"]) == ("", "")
    assert (plugin["Controllers"], plugin["Nodes"]) == ({}, {})
    assert (plugin["ControllersHealthy"], plugin["ControllersExpected"]) == (0, 2)
    assert plugin["NodeJobs"] == {}


def test_system_job_expected_only_after_allocs(nomad_fake: NomadFake) -> None:
    nomad_fake.register_job("nodes", "p", "node", job_type="system")
    index = nomad_fake.index
    plugin = call(nomad_fake, "/v1/plugin/csi/p").json()
    assert (plugin["NodesExpected"], plugin["NodeJobs"]) == (0, {})
    nomad_fake.set_job_summary("nodes", 3)
    plugin = call(nomad_fake, "/v1/plugin/csi/p").json()
    assert plugin["NodesExpected"] == 3
    assert plugin["ModifyIndex"] > index == nomad_fake.index  # alloc-driven: the index stays
    nomad_fake.register_job("nodes", "p", "node", job_type="system")  # a job update
    assert call(nomad_fake, "/v1/plugin/csi/p").json()["NodesExpected"] == 0


def test_unhealthy_fingerprints(nomad_fake: NomadFake) -> None:
    nomad_fake.fingerprint("p", "n1", "node", healthy=False)
    assert nomad_fake.plugin_ids() == []
    assert nomad_fake.index == 1  # the node update still raised the index
    nomad_fake.fingerprint("p", "n1", "node")
    nomad_fake.fingerprint("p", "n1", "node", healthy=False, health_description="failed fingerprinting")
    nomad_fake.fingerprint("p", "n2", "node", healthy=False)  # never a new instance
    plugin = call(nomad_fake, "/v1/plugin/csi/p").json()
    assert set(plugin["Nodes"]) == {"n1"}
    assert plugin["Nodes"]["n1"]["Healthy"] is False
    assert plugin["Nodes"]["n1"]["HealthDescription"] == "failed fingerprinting"
    assert plugin["NodesHealthy"] == 0


def test_provider_and_version_last_writer_wins(nomad_fake: NomadFake) -> None:
    nomad_fake.fingerprint("p", "n1", "node", version="1.5.0")
    nomad_fake.fingerprint("p", "n2", "node", version="1.6.0")
    plugin = call(nomad_fake, "/v1/plugin/csi/p").json()
    assert plugin["Version"] == "1.6.0"
    assert plugin["Nodes"]["n1"]["ProviderVersion"] == "1.5.0"


def test_controller_required_comes_from_controllers_and_stays(nomad_fake: NomadFake) -> None:
    nomad_fake.fingerprint("p", "n1", "node", requires_controller=True)
    assert call(nomad_fake, "/v1/plugin/csi/p").json()["ControllerRequired"] is False
    nomad_fake.fingerprint("p", "n1", "controller", requires_controller=True)
    assert call(nomad_fake, "/v1/plugin/csi/p").json()["ControllerRequired"] is True
    nomad_fake.remove_instance("p", "n1", "controller")
    plugin = call(nomad_fake, "/v1/plugin/csi/p").json()
    assert plugin["Controllers"] == {}
    assert plugin["ControllerRequired"] is True


def test_indexes(nomad_fake: NomadFake) -> None:
    nomad_fake.fingerprint("p", "n1", "node")
    created = call(nomad_fake, "/v1/plugin/csi/p").json()
    nomad_fake.fingerprint("p", "n2", "node", bump_index=False)
    plugin = call(nomad_fake, "/v1/plugin/csi/p")
    assert plugin.json()["CreateIndex"] == created["CreateIndex"]
    assert plugin.json()["ModifyIndex"] > created["ModifyIndex"]
    # the table index did not move: X-Nomad-Index is now below the plugin's ModifyIndex
    assert int(plugin.headers["x-nomad-index"]) < plugin.json()["ModifyIndex"]


def test_plugins_disappear_when_empty(nomad_fake: NomadFake) -> None:
    nomad_fake.fingerprint("p", "n1", "node")
    nomad_fake.remove_instance("p", "n1", "node")
    assert nomad_fake.plugin_ids() == []

    nomad_fake.register_job("ctl", "q", "controller")
    nomad_fake.fingerprint("q", "n1", "controller")
    nomad_fake.remove_instance("q", "n1", "controller")
    assert nomad_fake.plugin_ids() == ["q"]  # the job still expects a controller
    nomad_fake.purge_job("ctl")
    assert nomad_fake.plugin_ids() == []

    nomad_fake.register_job("nodes", "r", "node", job_type="system")
    assert nomad_fake.plugin_ids() == ["r"]  # registration alone never deletes
    assert nomad_fake.gc(older_than=3600) == []
    assert nomad_fake.gc() == ["r"]


def test_missing_plugin_is_a_404_with_metadata(nomad_fake: NomadFake) -> None:
    healthy_plugin(nomad_fake)
    assert nomad_fake.index > 0
    r = call(nomad_fake, "/v1/plugin/csi/nope")
    assert r.status_code == 404
    assert r.text == "plugin not found"
    assert r.headers["content-type"] == TEXT
    assert nomad_headers(r) == {
        "x-nomad-index": "0",
        "x-nomad-lastcontact": "0",
        "x-nomad-knownleader": "true",
    }


def test_pretty(nomad_fake: NomadFake) -> None:
    healthy_plugin(nomad_fake)
    pretty = call(nomad_fake, "/v1/plugins?type=csi&pretty").text
    assert pretty.endswith("}\n]\n")
    assert '\n    {\n        "ID": "aws-ebs0",' in pretty
    assert call(nomad_fake, "/v1/plugins?type=csi&pretty=false").text.endswith("\n")
    compact = call(nomad_fake, "/v1/plugin/csi/aws-ebs0?pretty=0").text
    assert "\n" not in compact
    assert compact.startswith('{"ID":"aws-ebs0","Provider":')


# --------------------------------------------------------------------------------------------
# Query parameters


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("stale=maybe", "Expect `true` or `false` for `stale` query string parameter"),
        ("stale=yes&per_page=x&wait=x&index=x", "Expect `true` or `false` for `stale` query string parameter"),
        ("per_page=x&wait=x&index=x", "Expect a number for `per_page` query string parameter"),
        ("per_page=2147483648", "Expect a number for `per_page` query string parameter"),
        ("per_page=1.5", "Expect a number for `per_page` query string parameter"),
        ("wait=10&index=x", "Invalid wait time"),
        ("wait=5x", "Invalid wait time"),
        ("wait=s", "Invalid wait time"),
        ("index=-1", "Invalid index"),
        ("index=1.0", "Invalid index"),
        ("index=18446744073709551616", "Invalid index"),
    ],
)
@pytest.mark.parametrize("path", ["/v1/plugins?type=csi&", "/v1/plugin/csi/p?"])
def test_parameter_errors(nomad_fake: NomadFake, path: str, query: str, message: str) -> None:
    assert_plain_error(call(nomad_fake, path + query), 400, message)


@pytest.mark.parametrize(
    "query",
    [
        "stale",
        "stale=",
        "stale=1",
        "stale=FALSE",
        "stale=T",
        "per_page=-5",
        "per_page=%2B7",
        "per_page=",
        "wait=0",
        "wait=",
        "index=0",
        "index=",
        "index=1&wait=1ns",
        "filter=%3D%3D%3D&next_token=zzz&reverse=yes&namespace=*",
        "stale=bad&stale=true",  # only the first value counts...
    ],
)
def test_valid_parameters(nomad_fake: NomadFake, query: str) -> None:
    healthy_plugin(nomad_fake)
    r = call(nomad_fake, f"/v1/plugin/csi/aws-ebs0?{query}")
    if query.startswith("stale=bad"):
        assert r.status_code == 400  # ...so this one fails
    else:
        assert r.status_code == 200, r.text


def test_go_durations() -> None:
    assert go_parse_duration("10s") == 10
    assert go_parse_duration("5m") == 300
    assert go_parse_duration("300ms") == pytest.approx(0.3)
    assert go_parse_duration("1m30s") == 90
    assert go_parse_duration("1.5h") == 5400
    assert go_parse_duration("-5s") == -5
    assert go_parse_duration("0") == 0
    assert go_parse_duration("2µs") == pytest.approx(2e-6)
    assert go_parse_duration(".5s") == 0.5
    for bad in ["10", "", "s", ".s", "1.5.5s", "1d", "--1s", "9999999999h"]:
        with pytest.raises(GoParseError):
            go_parse_duration(bad)


# --------------------------------------------------------------------------------------------
# ACL, region, leader


@pytest.mark.parametrize(
    ("policy", "list_status", "read_status"),
    [(None, 403, 403), ("deny", 403, 403), ("list", 200, 403), ("read", 200, 200), ("write", 403, 403)],
)
def test_plugin_policies(policy: PluginPolicy | None, list_status: int, read_status: int) -> None:
    fake = NomadFake(acl=True)
    healthy_plugin(fake)
    fake.add_token("secret", policy)
    token = {"X-Nomad-Token": "secret"}
    listed = call(fake, "/v1/plugins?type=csi", headers=token)
    read = call(fake, "/v1/plugin/csi/aws-ebs0", headers=token)
    assert (listed.status_code, read.status_code) == (list_status, read_status)
    for r in (listed, read):
        if r.status_code == 403:
            assert_plain_error(r, 403, "Permission denied")
    # missing plugin: the ACL comes first
    assert call(fake, "/v1/plugin/csi/nope", headers=token).status_code == (404 if policy == "read" else 403)
    assert call(fake, "/v1/plugin/csi/", headers=token).status_code == (500 if policy == "read" else 403)


def test_tokens() -> None:
    fake = NomadFake(acl=True)
    healthy_plugin(fake)
    fake.add_token("mgmt", management=True)
    fake.add_token("reader", "read")
    url = "/v1/plugin/csi/aws-ebs0"
    assert call(fake, url, headers={"X-Nomad-Token": "mgmt"}).status_code == 200
    assert call(fake, url, headers={"X-Nomad-Token": "  reader \t"}).status_code == 200
    assert call(fake, url, headers={"Authorization": "bEaReR reader extra"}).status_code == 200
    # X-Nomad-Token wins over Authorization; other schemes are ignored (anonymous)
    assert call(fake, url, headers={"X-Nomad-Token": "nope", "Authorization": "Bearer reader"}).status_code == 403
    assert call(fake, url, headers={"Authorization": "Basic reader"}).status_code == 403
    assert_plain_error(call(fake, url, headers={"X-Nomad-Token": "unknown"}), 403, "Permission denied")
    assert call(fake, url).status_code == 403
    fake.set_anonymous_policy("read")
    assert call(fake, url).status_code == 200
    assert call(fake, url, headers={"X-Nomad-Token": "unknown"}).status_code == 403


def test_acl_disabled_accepts_any_token(nomad_fake: NomadFake) -> None:
    healthy_plugin(nomad_fake)
    assert call(nomad_fake, "/v1/plugin/csi/aws-ebs0", headers={"X-Nomad-Token": "junk"}).status_code == 200


def test_region(nomad_fake: NomadFake) -> None:
    assert call(nomad_fake, "/v1/plugins?type=csi&region=global").status_code == 200
    assert call(nomad_fake, "/v1/plugins?type=csi&region=").status_code == 200
    assert_plain_error(call(nomad_fake, "/v1/plugins?type=csi&region=eu"), 500, "No path to region")
    assert_plain_error(call(nomad_fake, "/v1/plugin/csi/x?region=eu&stale"), 500, "No path to region")


def test_no_leader() -> None:
    fake = NomadFake(acl=True)
    healthy_plugin(fake)
    fake.add_token("reader", "read")
    token = {"X-Nomad-Token": "reader"}
    fake.set_no_leader(True)
    assert_plain_error(call(fake, "/v1/plugin/csi/aws-ebs0", headers=token), 500, "No cluster leader")
    assert_plain_error(call(fake, "/v1/plugins?type=csi&stale=false", headers=token), 500, "No cluster leader")
    # forwarding comes before the ACL check
    assert_plain_error(call(fake, "/v1/plugins?type=csi", headers={"X-Nomad-Token": "x"}), 500, "No cluster leader")
    stale = call(fake, "/v1/plugin/csi/aws-ebs0?stale", headers=token)
    assert stale.status_code == 200
    assert stale.headers["x-nomad-knownleader"] == "false"
    assert int(stale.headers["x-nomad-lastcontact"]) >= 0
    fake.set_no_leader(False)
    r = call(fake, "/v1/plugin/csi/aws-ebs0", headers=token)
    assert (r.status_code, r.headers["x-nomad-knownleader"]) == (200, "true")


# --------------------------------------------------------------------------------------------
# Compression and response headers


@pytest.mark.parametrize(
    ("accept", "encoding"),
    [("gzip, deflate", "gzip"), ("br, deflate, gzip", "deflate"), ("gzip;q=1", None), ("identity", None)],
)
def test_compression(nomad_fake: NomadFake, accept: str, encoding: str | None) -> None:
    healthy_plugin(nomad_fake)
    for url, status in [("/v1/plugin/csi/aws-ebs0", 200), ("/v1/plugin/csi/x/y/z", 404), ("/v1/plugins/", 404)]:
        r = call(nomad_fake, url, headers={"Accept-Encoding": accept})
        assert r.status_code == status
        assert r.headers.get("content-encoding") == encoding
        assert r.headers["vary"] == "Accept-Encoding"
    assert call(nomad_fake, "/v1/plugin/csi/aws-ebs0", headers={"Accept-Encoding": accept}).json()["ID"] == "aws-ebs0"


def test_compression_off_and_extra_headers() -> None:
    fake = NomadFake(compression=False, response_headers={"X-Operator": "yes"})
    r = call(fake, "/v1/plugins?type=csi", headers={"Accept-Encoding": "gzip"})
    assert "content-encoding" not in r.headers
    assert "vary" not in r.headers
    assert r.headers["x-operator"] == "yes"
    assert call(fake, "/v1/plugins?type=csi", method="PUT").headers["x-operator"] == "yes"


# --------------------------------------------------------------------------------------------
# Blocking queries


def test_index_zero_or_stale_answers_at_once(nomad_fake: NomadFake) -> None:
    healthy_plugin(nomad_fake)
    start = time.monotonic()
    assert call(nomad_fake, "/v1/plugin/csi/aws-ebs0?index=0&wait=5m").status_code == 200
    below = nomad_fake.index - 1
    r = call(nomad_fake, f"/v1/plugin/csi/aws-ebs0?index={below}&wait=5m")
    assert r.headers["x-nomad-index"] == str(nomad_fake.index)
    assert time.monotonic() - start < 4


def test_blocked_read_wakes_across_threads(served_nomad: tuple[NomadFake, str]) -> None:
    fake, base_url = served_nomad
    fake.fingerprint("p", "n1", "node")
    fake.fingerprint("p", "n1", "node", healthy=False)
    index = fake.index
    with httpx.Client(base_url=base_url, timeout=30) as client:
        request = Background(lambda: client.get(f"/v1/plugin/csi/p?index={index}&wait=30s"))
        assert fake.wait_for_waiters(1)
        fake.fingerprint("p", "n1", "node")  # healthy again, from this (test) thread
        r, elapsed = request.finish()
    assert elapsed < 10  # far below the 30 s wait
    assert r.status_code == 200
    assert int(r.headers["x-nomad-index"]) > index
    assert r.json()["NodesHealthy"] == 1


def test_blocked_read_of_missing_plugin_returns_when_created(served_nomad: tuple[NomadFake, str]) -> None:
    fake, base_url = served_nomad
    fake.register_job("other", "other", "node")
    with httpx.Client(base_url=base_url, timeout=30) as client:
        request = Background(lambda: client.get("/v1/plugin/csi/p?index=1&wait=30s"))
        assert fake.wait_for_waiters(1)
        fake.register_job("ctl", "p", "controller")
        r, elapsed = request.finish()
    assert elapsed < 10
    assert r.status_code == 200
    assert r.json()["ControllersExpected"] == 1


def test_blocked_list_wakes_in_process(nomad_fake: NomadFake) -> None:
    """The ASGITransport path: the request's loop runs on another thread."""
    request = Background(lambda: call(nomad_fake, "/v1/plugins?type=csi&index=1&wait=30s"))
    assert nomad_fake.wait_for_waiters(1)
    nomad_fake.fingerprint("a", "n1", "node")  # index 0 -> 1: still not above 1
    assert nomad_fake.wait_for_wakeups(1)
    nomad_fake.fingerprint("b", "n1", "node")
    r, elapsed = request.finish()
    assert elapsed < 10
    assert [s["ID"] for s in r.json()] == ["a", "b"]
    assert r.headers["x-nomad-index"] == "2"


def test_change_without_index_bump_wakes_then_keeps_waiting() -> None:
    fake = NomadFake(jitter=lambda _wait: 0.0)
    fake.fingerprint("p", "n1", "node")
    fake.fingerprint("q", "n1", "node")
    index = fake.index
    with serve_asgi(fake.app) as base_url, httpx.Client(base_url=base_url, timeout=30) as client:
        try:
            request = Background(lambda: client.get(f"/v1/plugin/csi/p?index={index}&wait=1500ms"))
            assert fake.wait_for_waiters(1)
            fake.fingerprint("q", "n2", "node", bump_index=False)  # another plugin: no wake-up
            fake.fingerprint("p", "n1", "node", healthy=False, bump_index=False)
            assert fake.wait_for_wakeups(1)
            r, elapsed = request.finish()
        finally:
            fake.close()
    assert elapsed >= 1.5  # it woke, saw the same index and waited out the full wait
    assert elapsed < 10
    assert fake.wakeups == 1
    assert r.status_code == 200
    assert r.headers["x-nomad-index"] == str(index)
    assert r.json()["NodesHealthy"] == 0  # the result of the last run


def test_wait_bounds() -> None:
    waits: list[float] = []

    def jitter(wait: float) -> float:
        waits.append(wait)
        return 0.0

    fake = NomadFake(max_wait=0.3, jitter=jitter)
    fake.fingerprint("p", "n1", "node")
    index = fake.index
    for wait, expected in [("&wait=10m", 0.3), ("", 0.3), ("&wait=0", 0.3), ("&wait=-5s", 0.3), ("&wait=100ms", 0.1)]:
        start = time.monotonic()
        r = call(fake, f"/v1/plugin/csi/p?index={index}{wait}")
        elapsed = time.monotonic() - start
        assert waits[-1] == pytest.approx(expected)
        assert expected <= elapsed < 5
        assert (r.status_code, r.headers["x-nomad-index"]) == (200, str(index))


def test_jitter_is_added() -> None:
    fake = NomadFake(max_wait=0.1, jitter=lambda _wait: 0.3)
    start = time.monotonic()
    r = call(fake, "/v1/plugin/csi/missing?index=5&wait=1m")
    assert 0.4 <= time.monotonic() - start < 5
    # timeout on a missing plugin: the 404 with the usual metadata
    assert r.status_code == 404
    assert r.headers["x-nomad-index"] == "0"
    assert all(0 <= _default_jitter(16.0) < 1.0 for _ in range(100))


def test_refusals_do_not_block() -> None:
    fake = NomadFake(acl=True)
    start = time.monotonic()
    assert call(fake, "/v1/plugin/csi/p?index=1&wait=30s", headers={"X-Nomad-Token": "x"}).status_code == 403
    assert time.monotonic() - start < 10
    assert fake.waiter_count == 0


def test_close_releases_waiters(nomad_fake: NomadFake) -> None:
    request = Background(lambda: call(nomad_fake, "/v1/plugins?type=csi&index=1&wait=30s"))
    assert nomad_fake.wait_for_waiters(1)
    nomad_fake.close()
    r, elapsed = request.finish()
    assert elapsed < 10
    assert (r.status_code, r.json()) == (200, [])
    assert nomad_fake.waiter_count == 0


def test_json_is_compact_utf8(nomad_fake: NomadFake) -> None:
    nomad_fake.fingerprint("p", "n1", "node", provider="<ebs>&é")
    body = call(nomad_fake, "/v1/plugins?type=csi").content
    assert b'"Provider":"<ebs>&\xc3\xa9"' in body
    assert json.loads(body)[0]["Provider"] == "<ebs>&é"
