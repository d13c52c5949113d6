"""Focused tests of the emulator's Vault-only behaviour (pins, runtimes, reload by name, mounts, seal,
fault injection, ACL/sudo), in process over httpx.ASGITransport."""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from tests.emulator.vault import VaultEmulator
from tests.emulator.vault_state import GoVersion, VersionError

pytestmark = pytest.mark.anyio

SHA_A = "aa" * 32
SHA_B = "bb" * 32
CATALOG = "/v1/sys/plugins/catalog"
PINS = "/v1/sys/plugins/pins"
RUNTIMES = "/v1/sys/plugins/runtimes/catalog"
UNSUPPORTED_PATH = ["1 error occurred:\n\t* unsupported path\n\n"]
ACL_DENIED = ["1 error occurred:\n\t* permission denied\n\n"]


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def client_for(emu: VaultEmulator, token: str | None = "root") -> httpx.AsyncClient:
    headers = {"X-Vault-Token": token} if token else {}
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=emu.app), base_url="http://vault", headers=headers)


@pytest.fixture
async def c(vault_emulator: VaultEmulator) -> AsyncIterator[httpx.AsyncClient]:
    async with client_for(vault_emulator) as client:
        yield client


def errors(response: httpx.Response) -> list[str]:
    return list(response.json()["errors"])


async def register(c: httpx.AsyncClient, name: str, ptype: str = "secret", **body: Any) -> httpx.Response:
    payload: dict[str, Any] = {"sha256": SHA_A, "command": name, **body}
    return await c.post(f"{CATALOG}/{ptype}/{name}", json=payload)


# --------------------------------------------------------------------------- envelope, identity, catalog


async def test_vault_envelope_status_and_builtins(c: httpx.AsyncClient) -> None:
    body = (await c.get(CATALOG)).json()
    assert body["mount_type"] == "system"
    detailed = {(e["type"], e["name"]): e["version"] for e in body["data"]["detailed"]}
    assert detailed[("auth", "approle")] == "v1.17.6+builtin.vault"
    assert detailed[("secret", "kv")] == "v0.19.0+builtin"
    assert detailed[("database", "postgresql-database-plugin")] == "v1.17.6+builtin.vault"
    status = (await c.get("/v1/sys/seal-status")).json()
    assert (status["version"], "build_date" in status, "commit_date" in status) == ("1.17.6", True, False)
    health = (await c.get("/v1/sys/health")).json()
    assert health["enterprise"] is False
    assert "performance_standby" in health


async def test_vault_name_arrays_exclude_versioned_only_plugins(c: httpx.AsyncClient) -> None:
    assert (await register(c, "versioned-only", version="1.0.0")).status_code == 204
    assert (await register(c, "unversioned")).status_code == 204
    data = (await c.get(CATALOG)).json()["data"]
    assert "versioned-only" not in data["secret"]
    assert "unversioned" in data["secret"]
    assert ("secret", "versioned-only") in {(e["type"], e["name"]) for e in data["detailed"]}
    keys = (await c.request("LIST", f"{CATALOG}/secret")).json()["data"]["keys"]
    assert "versioned-only" not in keys


async def test_vault_register_validation(c: httpx.AsyncClient) -> None:
    cases: list[tuple[dict[str, Any], str]] = [
        ({"version": "abc"}, 'version "abc" is not a valid semantic version: Malformed version: abc'),
        (
            {"version": "1.0.0+builtin"},
            "version \"v1.0.0+builtin\" is not allowed because 'builtin' is a reserved metadata identifier",
        ),
        ({}, "missing SHA-256 value"),
        ({"sha256": SHA_A}, "must provide at least one of command or oci_image"),
        ({"sha256": SHA_A, "command": "x a", "args": ["b"]}, "must not specify args in command and args field"),
        (
            {"sha256": "zz", "command": "x"},
            "Could not decode SHA256 value from Hex zz: encoding/hex: invalid byte: U+007A 'z'",
        ),
        (
            {"sha256": "abc", "command": "x"},
            "Could not decode SHA256 value from Hex abc: encoding/hex: odd length hex string",
        ),
    ]
    for body, message in cases:
        response = await c.post(f"{CATALOG}/secret/x", json=body)
        assert (response.status_code, errors(response)) == (400, [message]), body
    unknown_runtime = await register(c, "x", runtime="r", oci_image="ghcr.io/x")
    assert unknown_runtime.status_code == 400
    assert errors(unknown_runtime)[0].startswith('specified plugin runtime "r", but failed to retrieve config:')
    assert (await register(c, "x", sha256="abcd")).status_code == 204  # Vault accepts any length
    parent = await register(c, "x", command="../x")
    assert errors(parent) == ["1 error occurred:\n\t* path cannot contain parent references\n\n"]


async def test_vault_read_fields_and_containers(vault_emulator: VaultEmulator, c: httpx.AsyncClient) -> None:
    vault_emulator.add_runtime("gvisor")
    assert (
        await c.post(
            f"{CATALOG}/secret/box",
            json={"sha256": SHA_A, "oci_image": "ghcr.io/x/box", "runtime": "gvisor", "version": "1.0.0"},
        )
    ).status_code == 204
    assert (await register(c, "plain", env=["SECRET=1"])).status_code == 204
    box = (await c.get(f"{CATALOG}/secret/box?version=v1.0.0")).json()["data"]
    assert box == {
        "args": [],
        "builtin": False,
        "command": "",
        "name": "box",
        "oci_image": "ghcr.io/x/box",
        "runtime": "gvisor",
        "sha256": SHA_A,
        "version": "v1.0.0",
    }
    plain = (await c.get(f"{CATALOG}/secret/plain")).json()["data"]
    assert set(plain) == {"args", "builtin", "command", "name", "sha256", "version"}
    detailed = [e for e in (await c.get(CATALOG)).json()["data"]["detailed"] if e["name"] == "box"]
    assert detailed == [
        {
            "builtin": False,
            "name": "box",
            "oci_image": "ghcr.io/x/box",
            "runtime": "gvisor",
            "sha256": SHA_A,
            "type": "secret",
            "version": "v1.0.0",
        }
    ]


async def test_newer_vault_messages() -> None:
    emu = VaultEmulator(flavor="vault", version="1.20.1")
    async with client_for(emu) as c:
        neither = await c.post(f"{CATALOG}/secret/x", json={"command": "x"})
        assert errors(neither) == [
            "must provide at least one of sha256 or version: use sha256 for binary registration (version optional) "
            "or version only for artifact registration"
        ]
        artifact = await c.post(f"{CATALOG}/secret/x", json={"command": "x", "version": "1.0.0"})
        assert artifact.status_code == 200
        assert artifact.json()["warnings"] == [
            'When sha256 is unspecified, a plugin artifact is expected for registration and the command parameter "x" will be ignored.'
        ]
        download = await register(c, "x", download=True)
        assert errors(download) == ["download is an enterprise only feature"]
    async with client_for(VaultEmulator(flavor="vault", version="2.0.0")) as c:
        assert errors(await register(c, "x", version="abc")) == [
            'version "abc" is not a valid semantic version: malformed version: abc'
        ]


async def test_vault_115_has_runtimes_but_no_pins() -> None:
    emu = VaultEmulator(flavor="vault", version="1.15.6")
    async with client_for(emu) as c:
        assert errors(await c.get(PINS)) == UNSUPPORTED_PATH
        assert errors(await c.post("/v1/sys/plugins/reload/secret/x", json={})) == UNSUPPORTED_PATH
        empty = await c.request("LIST", RUNTIMES)
        assert (empty.status_code, empty.json()) == (404, {"errors": []})
        assert (await c.post(f"{RUNTIMES}/container/r", json={})).status_code == 204
        assert "rootless" not in (await c.get(f"{RUNTIMES}/container/r")).json()["data"]
        assert "enterprise" not in (await c.get("/v1/sys/health")).json()


async def test_delete_of_a_pinned_version_is_500(vault_emulator: VaultEmulator, c: httpx.AsyncClient) -> None:
    for version in ("1.0.0", "1.1.0"):
        vault_emulator.register_plugin("secret", "p", version=version, sha256=SHA_A)
    vault_emulator.add_pin("secret", "p", "1.0.0")
    for query in ("v1.0.0", "1.0.0", "1.0"):
        pinned = await c.delete(f"{CATALOG}/secret/p", params={"version": query})
        assert (pinned.status_code, errors(pinned)) == (
            500,
            ["1 error occurred:\n\t* cannot delete a pinned version\n\n"],
        )
    assert (await register(c, "p", version="1.0.0", args=["overwrite"])).status_code == 204
    assert (await c.delete(f"{CATALOG}/secret/p", params={"version": "1.1.0"})).status_code == 204
    assert set(vault_emulator.catalog) == {("secret", "p", "v1.0.0")}


# --------------------------------------------------------------------------- pins


async def test_pins_api(vault_emulator: VaultEmulator, c: httpx.AsyncClient) -> None:
    empty = await c.get(PINS)
    assert (empty.status_code, empty.json()["data"]) == (200, {"pinned_versions": []})
    listed = await c.request("LIST", PINS)
    assert (listed.status_code, errors(listed)) == (405, ["1 error occurred:\n\t* unsupported operation\n\n"])
    vault_emulator.register_plugin("secret", "p", version="1.0.0", sha256=SHA_A)
    vault_emulator.register_plugin("auth", "a", version="2.0.0", sha256=SHA_A)
    vault_emulator.register_plugin("secret", "p", sha256=SHA_A)  # unversioned: cannot be pinned
    cases: list[tuple[str, dict[str, Any], str]] = [
        ("secret/p", {}, "missing plugin version"),
        ("secret/p", {"version": "bad"}, 'version "bad" is not a valid semantic version: Malformed version: bad'),
        ("secret/kv", {"version": "v0.19.0+builtin"}, 'cannot pin a builtin plugin: "v0.19.0+builtin"'),
        (
            "secret/p",
            {"version": "9.9.9"},
            'plugin not found in the catalog; secret plugin "p" version v9.9.9 does not exist',
        ),
        (
            "auth/p",
            {"version": "1.0.0"},
            'plugin not found in the catalog; auth plugin "p" version v1.0.0 does not exist',
        ),
    ]
    for path, body, message in cases:
        response = await c.post(f"{PINS}/{path}", json=body)
        assert (response.status_code, errors(response)) == (400, [message]), (path, body)
    written = await c.post(f"{PINS}/secret/p", json={"version": "1.0", "extra": 1})
    assert written.status_code == 200
    assert written.json()["data"] is None
    assert written.json()["warnings"] == ["Endpoint ignored these unrecognized parameters: [extra]"]
    assert (await c.put(f"{PINS}/auth/a", json={"version": "v2.0.0"})).status_code == 200
    assert (await c.get(PINS)).json()["data"]["pinned_versions"] == [
        {"name": "a", "type": "auth", "version": "v2.0.0"},
        {"name": "p", "type": "secret", "version": "v1.0.0"},
    ]
    assert (await c.get(f"{PINS}/secret/p")).json()["data"] == {"name": "p", "type": "secret", "version": "v1.0.0"}
    for _ in range(2):
        deleted = await c.delete(f"{PINS}/secret/p")
        assert (deleted.status_code, deleted.json()["data"]) == (200, None)
    missing = await c.get(f"{PINS}/secret/p")
    assert (missing.status_code, errors(missing)) == (
        404,
        ["1 error occurred:\n\t* no pinned version for this plugin\n\n"],
    )
    for path in ("kms/p", "unknown/p", "secret/-bad", "secret/a/b", "secret/bad."):
        assert errors(await c.get(f"{PINS}/{path}")) == UNSUPPORTED_PATH, path
    assert vault_emulator.pins == {("auth", "a"): "v2.0.0"}


# --------------------------------------------------------------------------- runtimes


async def test_runtimes_api(vault_emulator: VaultEmulator, c: httpx.AsyncClient) -> None:
    for verb in ("GET", "LIST"):
        empty = await c.request(verb, RUNTIMES)
        assert (empty.status_code, empty.json()["data"]) == (200, {"runtimes": []})
    body = {
        "oci_runtime": "runsc",
        "cgroup_parent": "/cpulimit/",
        "cpu_nanos": 1,
        "memory_bytes": 10000,
        "rootless": True,
    }
    created = await c.post(f"{RUNTIMES}/container/zeta", json=body)
    assert (created.status_code, created.content) == (204, b"")
    assert (await c.post(f"{RUNTIMES}/container/alpha", json={})).status_code == 204
    read = (await c.get(f"{RUNTIMES}/container/zeta")).json()["data"]
    assert read == {"name": "zeta", "type": "container", **body}
    for verb, path in (("GET", RUNTIMES), ("LIST", RUNTIMES), ("GET", f"{RUNTIMES}?type=container")):
        names = [r["name"] for r in (await c.request(verb, path)).json()["data"]["runtimes"]]
        assert names == ["alpha", "zeta"], (verb, path)
    bad_type = await c.get(f"{RUNTIMES}?type=foo")
    assert (bad_type.status_code, errors(bad_type)) == (400, ['"foo" is not a supported plugin runtime type'])
    for field, message in (
        ("cpu_nanos", "runtime cpu in nanos cannot be negative"),
        ("memory_bytes", "runtime memory in bytes cannot be negative"),
    ):
        negative = await c.post(f"{RUNTIMES}/container/neg", json={field: -1})
        assert (negative.status_code, errors(negative)) == (400, [message])
    missing = await c.get(f"{RUNTIMES}/container/nope")
    assert (missing.status_code, missing.json()) == (404, {"errors": []})
    assert errors(await c.get(f"{RUNTIMES}/other/zeta")) == UNSUPPORTED_PATH
    vault_emulator.register_plugin(
        "secret", "boxed", version="1.0.0", sha256=SHA_A, oci_image="ghcr.io/x", runtime="zeta"
    )
    vault_emulator.register_plugin("auth", "boxed2", sha256=SHA_A, oci_image="ghcr.io/y", runtime="zeta")
    referenced = await c.delete(f"{RUNTIMES}/container/zeta")
    assert (referenced.status_code, errors(referenced)) == (
        400,
        ['unable to delete "zeta" runtime. Registered plugins=[boxed boxed2] are referencing it.'],
    )
    assert (await c.delete(f"{RUNTIMES}/container/alpha")).status_code == 204
    gone = await c.delete(f"{RUNTIMES}/container/alpha")
    assert (gone.status_code, errors(gone)) == (500, ["1 error occurred:\n\t* plugin runtime not found\n\n"])
    assert set(vault_emulator.runtimes) == {"zeta"}


# --------------------------------------------------------------------------- reload and mounts


async def test_reload_backend_vault_semantics(c: httpx.AsyncClient) -> None:
    cases: list[tuple[dict[str, Any], int, list[str]]] = [
        ({"scope": "bogus"}, 400, ["reload scope must be omitted or 'global'"]),
        ({}, 400, ["plugin or mounts must be provided"]),
        ({"plugin": "a", "mounts": "b"}, 400, ["plugin and mounts cannot be set at the same time"]),
        ({"mounts": ["nope"]}, 500, ['1 error occurred:\n\t* cannot fetch mount entry on "nope/"\n\n']),
    ]
    for body, status, message in cases:
        response = await c.put("/v1/sys/plugins/reload/backend", json=body)
        assert (response.status_code, errors(response)) == (status, message), body
    nothing = await c.put("/v1/sys/plugins/reload/backend", json={"plugin": "nonexistent"})
    assert (nothing.status_code, nothing.json()["warnings"]) == (200, ["no plugins were reloaded"])
    assert nothing.json()["data"] == {"reload_id": nothing.json()["request_id"]}
    everywhere = await c.put("/v1/sys/plugins/reload/backend", json={"plugin": "nonexistent", "scope": "global"})
    assert (everywhere.status_code, everywhere.json()["warnings"]) == (
        202,
        ["no plugins were reloaded locally (but they may be reloaded on other nodes)"],
    )
    kv = await c.put("/v1/sys/plugins/reload/backend", json={"plugin": "kv"})
    assert (kv.status_code, kv.json()["warnings"]) == (200, None)
    singletons = await c.put("/v1/sys/plugins/reload/backend", json={"mounts": ["sys/", "auth/token"]})
    assert singletons.status_code == 200  # skipped silently on Vault
    reload_status = await c.get("/v1/sys/plugins/reload/backend/status?reload_id=x")
    assert (reload_status.status_code, errors(reload_status)) == (404, ["enterprise-only feature"])


async def test_reload_by_type_and_name(vault_emulator: VaultEmulator, c: httpx.AsyncClient) -> None:
    vault_emulator.register_plugin("secret", "p", version="1.0.0", sha256=SHA_A)
    vault_emulator.register_plugin("auth", "p", version="1.0.0", sha256=SHA_A)
    vault_emulator.add_mount("s/", "p")
    vault_emulator.add_mount("a/", "p", auth=True)
    none = await c.post("/v1/sys/plugins/reload/database/p", json={})
    assert (none.status_code, none.json()["warnings"]) == (200, ["no plugins were reloaded"])
    one = await c.post("/v1/sys/plugins/reload/secret/p", json={})
    assert (one.status_code, one.json()["warnings"]) == (200, None)
    assert one.json()["data"] == {"reload_id": one.json()["request_id"]}
    both = await c.post("/v1/sys/plugins/reload/unknown/p", json={"scope": "global"})
    assert (both.status_code, both.json()["warnings"]) == (202, None)
    bad = await c.post("/v1/sys/plugins/reload/secret/p", json={"scope": "local"})
    assert errors(bad) == ["reload scope must be omitted or 'global'"]
    for path in ("kms/p", "secret/-p", "secret/a/b"):
        assert errors(await c.post(f"/v1/sys/plugins/reload/{path}", json={})) == UNSUPPORTED_PATH
    probe = await c.get("/v1/sys/plugins/reload/unknown/x?help=1")
    assert (probe.status_code, set(probe.json())) == (200, {"help", "openapi", "see_also"})


async def test_mounts_follow_pins_after_reload(vault_emulator: VaultEmulator, c: httpx.AsyncClient) -> None:
    emu = vault_emulator
    emu.register_plugin("secret", "p", version="1.0.0", sha256=SHA_A)
    emu.register_plugin("secret", "p", version="1.1.0", sha256=SHA_B)
    emu.add_pin("secret", "p", "1.0.0")
    enabled = await c.post("/v1/sys/mounts/team-a", json={"type": "p"})
    assert enabled.status_code == 204
    mount = (await c.get("/v1/sys/mounts/team-a")).json()
    assert mount["data"] == mount["data"] | {
        "plugin_version": "v1.0.0",
        "running_plugin_version": "v1.0.0",
        "running_sha256": SHA_A,
    }
    assert mount["type"] == "p"  # sys/mounts/* duplicate data at the top level
    explicit = await c.post("/v1/sys/mounts/team-b", json={"type": "p", "config": {"plugin_version": "v1.1.0"}})
    assert errors(explicit) == [
        'cannot specify plugin_version for secret plugin "p", as it is pinned to version v1.0.0'
    ]
    tune = await c.post("/v1/sys/mounts/team-a/tune", json={"plugin_version": "v1.1.0"})
    assert errors(tune) == [
        'plugin_version cannot be set for secret plugin "p" as a pinned version v1.0.0 is in effect.'
    ]
    assert (await c.post(f"{PINS}/secret/p", json={"version": "1.1.0"})).status_code == 200
    before = emu.mount("team-a/")
    assert before is not None
    assert before.running_plugin_version == "v1.0.0"  # a new pin takes effect at the next reload
    assert (await c.post("/v1/sys/plugins/reload/secret/p", json={})).status_code == 200
    after = (await c.get("/v1/sys/mounts")).json()["data"]["team-a/"]
    assert (after["plugin_version"], after["running_plugin_version"], after["running_sha256"]) == (
        "v1.0.0",
        "v1.1.0",
        SHA_B,
    )
    assert (await c.delete(f"{PINS}/secret/p")).status_code == 200
    assert (await c.put("/v1/sys/plugins/reload/backend", json={"mounts": ["team-a"]})).status_code == 200
    assert emu.mounts["team-a/"].running_plugin_version == "v1.0.0"  # back to the configured version


async def test_mount_version_resolution(vault_emulator: VaultEmulator, c: httpx.AsyncClient) -> None:
    emu = vault_emulator
    emu.register_plugin("secret", "p", version="1.2.0", sha256=SHA_A)
    emu.register_plugin("secret", "p", version="1.10.0", sha256=SHA_B)
    highest = emu.add_mount("m1", "p")
    assert (highest.plugin_version, highest.running_plugin_version) == ("v1.10.0", "v1.10.0")
    emu.register_plugin("secret", "p", sha256=SHA_A)  # an unversioned entry wins from now on
    unversioned = emu.add_mount("m2", "p")
    assert (unversioned.plugin_version, unversioned.running_plugin_version, unversioned.running_sha256) == (
        "",
        "",
        SHA_A,
    )
    builtin = emu.add_mount("m3", "transit")
    assert (builtin.running_plugin_version, builtin.running_sha256) == ("v1.17.6+builtin.vault", "")
    assert (await c.post("/v1/sys/mounts/m1/tune", json={"plugin_version": "1.2.0"})).status_code == 204
    assert emu.mounts["m1/"].running_plugin_version == "v1.10.0"
    assert (await c.put("/v1/sys/plugins/reload/backend", json={"plugin": "p"})).status_code == 200
    assert emu.mounts["m1/"].running_plugin_version == "v1.2.0"
    missing = await c.post("/v1/sys/mounts/m1/tune", json={"plugin_version": "9.0.0"})
    assert errors(missing) == ["plugin not found in the catalog: p, version=v9.0.0"]
    auth = await c.post("/v1/sys/auth/up", json={"type": "userpass"})
    assert auth.status_code == 204
    listed = (await c.get("/v1/sys/auth")).json()
    assert listed["up/"]["running_plugin_version"] == "v1.17.6+builtin.vault"
    assert listed["up/"]["config"]["token_type"] == "default-service"
    with pytest.raises(Exception, match="cannot select non-builtin version of secrets plugin kv"):
        emu.add_mount("kv2", "kv", plugin_version="v1.0.0")


# --------------------------------------------------------------------------- sealed, faults, ACL


async def test_sealed_server(vault_emulator: VaultEmulator, c: httpx.AsyncClient) -> None:
    emu = vault_emulator
    emu.register_plugin("secret", "p", version="1.0.0", sha256=SHA_A)
    emu.register_plugin("secret", "p", version="2.0.0", sha256=SHA_B)
    emu.add_mount("m", "p", plugin_version="1.0.0")
    emu.seal()
    async with client_for(emu, token=None) as anonymous:
        for client in (c, anonymous):
            for path in (CATALOG, PINS, "/v1/sys/mounts", "/v1/sys/nonexistent", f"{CATALOG}?help=1"):
                response = await client.get(path)
                assert (response.status_code, response.json()) == (503, {"errors": ["Vault is sealed"]}), path
        status = await anonymous.get("/v1/sys/seal-status")
        assert (status.status_code, status.json()["sealed"], "cluster_name" in status.json()) == (200, True, False)
        assert (await anonymous.get("/v1/sys/health")).status_code == 503
        assert (await anonymous.get("/v1/sys/health?sealedcode=200")).status_code == 200
        emu.state.mounts["m/"].plugin_version = "v2.0.0"  # as if tuned before the seal
        unsealed = await anonymous.put("/v1/sys/unseal", json={"key": "any"})
        assert (unsealed.status_code, unsealed.json()["sealed"]) == (200, False)
    assert emu.mounts["m/"].running_plugin_version == "v2.0.0"  # backends restart at unseal
    assert (await c.put("/v1/sys/seal")).status_code == 204
    assert emu.sealed


async def test_fault_injection(vault_emulator: VaultEmulator, c: httpx.AsyncClient) -> None:
    emu = vault_emulator
    emu.inject_fault("POST", r"/plugins/catalog/secret/", 500, ["1 error occurred:\n\t* boom\n\n"], times=2)
    emu.inject_fault("*", r"/sys/plugins/pins$", 503)
    for _ in range(2):
        failed = await register(c, "x")
        assert (failed.status_code, errors(failed)) == (500, ["1 error occurred:\n\t* boom\n\n"])
    assert (await c.get(f"{CATALOG}/secret/kv")).status_code == 200  # other methods pass
    assert (await register(c, "x")).status_code == 204
    pins = await c.get(PINS)
    assert (pins.status_code, pins.json()) == (503, {"errors": []})
    assert (await c.get(PINS)).status_code == 200
    assert emu.requests[:3] == [
        ("POST", "/v1/sys/plugins/catalog/secret/x"),
        ("POST", "/v1/sys/plugins/catalog/secret/x"),
        ("GET", "/v1/sys/plugins/catalog/secret/kv"),
    ]
    await c.delete(f"{CATALOG}/secret/x", params={"version": "v1.0.0"})
    assert emu.requests[-1] == ("DELETE", "/v1/sys/plugins/catalog/secret/x?version=v1.0.0")


async def test_acl_and_sudo(vault_emulator: VaultEmulator) -> None:
    emu = vault_emulator
    emu.register_plugin("secret", "p", version="1.0.0", sha256=SHA_A)
    emu.add_token(
        "nosudo",
        {
            "sys/plugins/catalog/*": {"read", "list", "update", "delete"},
            "sys/plugins/runtimes/catalog/*": {"read", "update", "list"},
            "sys/plugins/runtimes/catalog": {"read"},
            "sys/plugins/pins": {"read"},
            "sys/plugins/pins/*": {"read", "update", "delete"},
            "sys/plugins/reload/+/p": {"update"},
            "sys/auth/*": {"read", "update"},
        },
    )
    emu.add_token(
        "sudo",
        {
            "sys/plugins/catalog/*": {"read", "list", "update", "sudo"},
            "sys/plugins/catalog/secret/denied": {"deny"},
            "sys/plugins/runtimes/catalog/*": {"read", "list", "update", "sudo"},
            "sys/auth/*": {"read", "update", "sudo"},
        },
    )
    async with client_for(emu, "nosudo") as nosudo, client_for(emu, "sudo") as sudo:
        for method, path in [
            ("GET", f"{CATALOG}/secret/p"),
            ("LIST", f"{CATALOG}/secret"),
            ("GET", f"{RUNTIMES}/container/r"),
            ("LIST", RUNTIMES),
            ("GET", "/v1/sys/auth/token"),
            ("POST", "/v1/sys/plugins/reload/secret/q"),
        ]:
            response = await nosudo.request(method, path)
            assert (response.status_code, errors(response)) == (403, ACL_DENIED), (method, path)
        assert (await nosudo.get(RUNTIMES)).status_code == 200  # no trailing slash: not a sudo path
        assert (await nosudo.get(PINS)).status_code == 200  # pins need no sudo
        assert (await nosudo.post(f"{PINS}/secret/p", json={"version": "1.0.0"})).status_code == 200
        assert (await nosudo.post("/v1/sys/plugins/reload/secret/p", json={})).status_code == 200  # '+' segment
        assert (await sudo.get(f"{CATALOG}/secret/p?version=1.0.0")).status_code == 200
        assert (await sudo.request("LIST", f"{CATALOG}/secret")).status_code == 200
        assert (await sudo.get(f"{RUNTIMES}/container/r")).status_code == 404
        assert (await sudo.get("/v1/sys/auth/token")).status_code == 200
        assert errors(await sudo.get(f"{CATALOG}/secret/denied")) == ACL_DENIED
        assert errors(await sudo.get(PINS)) == ACL_DENIED
    async with client_for(emu, None) as anonymous:
        bearer = await anonymous.get(CATALOG, headers={"Authorization": "Bearer root"})
        assert bearer.status_code == 200
        assert errors(await anonymous.get(CATALOG)) == ["permission denied"]


# --------------------------------------------------------------------------- OpenBao-only helpers and go-version


async def test_openbao_declarative_entries(openbao_emulator: VaultEmulator) -> None:
    emu = openbao_emulator
    emu.add_declarative_plugin("secret", "decl", "1.0.0", sha256=SHA_A, args=["--decl"])
    async with client_for(emu) as c:
        assert (await c.get(f"{CATALOG}/secret/decl?version=1.0.0")).status_code == 404  # not normalised
        assert emu.plugin("secret", "decl", "1.0.0") is not None
        listed = [e for e in (await c.get(CATALOG)).json()["data"]["detailed"] if e["name"] == "decl"]
        assert listed == [{"builtin": False, "name": "decl", "sha256": SHA_A, "type": "secret", "version": "1.0.0"}]
        emu.add_declarative_plugin("secret", "decl2", "v1.0.0", sha256=SHA_A, args=["--decl"])
        data = (await c.get(f"{CATALOG}/secret/decl2?version=v1.0.0")).json()["data"]
        assert (data["declarative"], data["args"], data["command"]) == (True, ["--decl"], "decl2")
        (emu.plugin_dir / "decl2").write_text("#!/bin/sh\n")  # type: ignore[operator]
        assert (
            await c.post(f"{CATALOG}/secret/decl2", json={"sha256": SHA_A, "command": "decl2", "version": "1.0.0"})
        ).status_code == 204
        data = (await c.get(f"{CATALOG}/secret/decl2?version=v1.0.0")).json()["data"]
        assert (data["declarative"], data["args"]) == (False, [])


async def test_openbao_unseal_recreates_or_refuses_declarative_entries(openbao_emulator: VaultEmulator) -> None:
    emu = openbao_emulator
    emu.add_declarative_plugin("secret", "other", "v0.1.0", sha256=SHA_A)
    emu.add_declarative_plugin("secret", "decl", "v1.0.0", sha256=SHA_A)
    async with client_for(emu) as c:
        assert (await c.delete(f"{CATALOG}/secret/other", params={"version": "v0.1.0"})).status_code == 204
        emu.seal()
        assert (await c.put("/v1/sys/unseal", json={"key": "k"})).status_code == 200
        assert emu.catalog[("secret", "other", "v0.1.0")].declarative  # re-created at unseal
        (emu.plugin_dir / "decl").write_text("#!/bin/sh\n")  # type: ignore[operator]
        overwrite = await c.post(
            f"{CATALOG}/secret/decl", json={"sha256": SHA_A, "command": "decl", "version": "1.0.0"}
        )
        assert overwrite.status_code == 204  # the API does not protect declarative entries
        emu.seal()
        refused = await c.put("/v1/sys/unseal", json={"key": "k"})
        assert (refused.status_code, errors(refused)) == (
            500,
            [
                "failed to set up declarative plugins: [plugin 1 (name: decl / type: secret)]: conflicts with existing "
                "non-declarative plugin; do not specify existing plugins in the server configuration"
            ],
        )
        assert emu.sealed
        assert (await c.get(CATALOG)).status_code == 503


def test_go_version_rules() -> None:
    def parse(text: str) -> GoVersion:
        return GoVersion.parse(text)

    assert str(parse("01.2.3")) == "1.2.3"
    assert str(parse("v1")) == "1.0.0"
    assert str(parse("1.2.3.4-rc.1+meta")) == "1.2.3.4-rc.1+meta"
    ordered = [
        "0.0.0",
        "1.0.0-01",
        "1.0.0-alpha",
        "1.0.0-alpha.1",
        "1.0.0-beta",
        "1.0.0",
        "1.0.1",
        "1.2.3",
        "1.2.3.4",
        "1.10.0",
    ]
    for low, high in itertools.pairwise(ordered):
        assert parse(low).compare(parse(high)) == -1, (low, high)
        assert parse(high).compare(parse(low)) == 1, (low, high)
    assert parse("1.0.0").compare(parse("1.0.0+builtin")) == 0
    assert parse("1.2.3").compare(parse("1.2.3.0")) == 0
    for bad in ("V1.2.3", "1.2.3beta", "", "1..2", "+builtin"):
        with pytest.raises(VersionError, match="malformed version"):
            parse(bad)
    assert str(GoVersion.parse("1.2.3beta", strict=False)) == "1.2.3-beta"
