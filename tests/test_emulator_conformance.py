"""One suite of catalog behaviours, run against the real OpenBao 2.7.2 dev server and the emulator.

Every expectation here was observed on the real server first; the emulator (flavor "openbao") must
answer identically. Differences from the written reference are listed at the top of
tests/emulator/vault.py.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.emulator.fixtures import PluginServer, ssl_context

SHA = "1c60b7a7" * 8
CATALOG = "/v1/sys/plugins/catalog"
BUILTIN = "v2.7.2+builtin.bao"
ENVELOPE_KEYS = {"request_id", "lease_id", "renewable", "lease_duration", "data", "wrap_info", "warnings", "auth"}
UNSUPPORTED_PATH = {"errors": ["1 error occurred:\n\t* unsupported path\n\n"]}
UNSUPPORTED_OPERATION = {"errors": ["1 error occurred:\n\t* unsupported operation\n\n"]}
ACL_DENIED = {"errors": ["1 error occurred:\n\t* permission denied\n\n"]}
NO_TOKEN = {"errors": ["permission denied"]}


@pytest.fixture
def server(plugin_server: PluginServer) -> PluginServer:
    plugin_server.add_plugin_file("my-plugin")
    return plugin_server


@pytest.fixture
def c(server: PluginServer) -> Iterator[httpx.Client]:
    with server.client() as client:
        yield client


def register(c: httpx.Client, name: str, ptype: str = "secret", **body: Any) -> httpx.Response:
    payload: dict[str, Any] = {"sha256": SHA, "command": "my-plugin", **body}
    return c.post(f"{CATALOG}/{ptype}/{name}", json=payload)


def registered(c: httpx.Client, name: str, ptype: str = "secret", **body: Any) -> None:
    response = register(c, name, ptype, **body)
    assert response.status_code == 204, response.text


def read(c: httpx.Client, name: str, version: str | None = None, ptype: str = "secret") -> httpx.Response:
    params = {"version": version} if version is not None else {}
    return c.get(f"{CATALOG}/{ptype}/{name}", params=params)


def detailed(c: httpx.Client, name: str | None = None) -> list[dict[str, Any]]:
    entries: list[dict[str, Any]] = c.get(CATALOG).json()["data"]["detailed"]
    return [e for e in entries if name is None or e["name"] == name]


def errors(response: httpx.Response) -> list[str]:
    return list(response.json()["errors"])


# --------------------------------------------------------------------------- envelope and transport


def test_success_envelope_has_exactly_the_openbao_keys(c: httpx.Client) -> None:
    response = c.get(CATALOG)
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    assert set(body) == ENVELOPE_KEYS  # no mount_type on OpenBao
    assert re.fullmatch(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", body["request_id"])
    assert (body["lease_id"], body["renewable"], body["lease_duration"]) == ("", False, 0)
    assert (body["wrap_info"], body["warnings"], body["auth"]) == (None, None, None)
    assert c.get(f"{CATALOG}/").json()["data"] == body["data"]  # trailing slash: same listing


def test_register_answers_204_with_an_empty_json_body(c: httpx.Client) -> None:
    response = register(c, "my-plugin")
    assert response.status_code == 204
    assert response.content == b""
    assert response.headers["content-type"] == "application/json"


def test_paths_outside_v1_are_404_with_no_errors(c: httpx.Client) -> None:
    for path in ("/sys/plugins/catalog", "/v2/sys/plugins/catalog", "/v1"):
        response = c.get(path)
        assert (response.status_code, response.json()) == (404, {"errors": []}), path


def test_non_canonical_path_redirects_to_the_clean_one(c: httpx.Client) -> None:
    response = c.get("/v1/sys//plugins/catalog")
    assert response.status_code == 307
    assert response.headers["location"] == "/v1/sys/plugins/catalog"


def test_existing_route_with_a_wrong_verb_is_405_unsupported_operation(c: httpx.Client) -> None:
    for method, path in [
        ("GET", f"{CATALOG}/secret"),
        ("GET", f"{CATALOG}/secret/"),
        ("GET", f"{CATALOG}/secret?list=false"),
        ("GET", f"{CATALOG}/secret?list="),
        ("POST", f"{CATALOG}/secret"),
        ("DELETE", f"{CATALOG}/secret"),
        ("LIST", CATALOG),
        ("GET", f"{CATALOG}?list=true"),
        ("POST", CATALOG),
        ("LIST", f"{CATALOG}/kms"),
        ("GET", "/v1/sys/plugins/reload/backend"),
        ("GET", "/v1/sys/version-history"),
    ]:
        response = c.request(method, path)
        assert (response.status_code, response.json()) == (405, UNSUPPORTED_OPERATION), (method, path)


def test_patch_needs_merge_patch_content_type_then_is_unsupported(c: httpx.Client) -> None:
    plain = c.patch(f"{CATALOG}/secret/my-plugin", json={})
    assert plain.status_code == 415
    assert errors(plain) == ["PATCH requires Content-Type of application/merge-patch+json, provided application/json"]
    merge = c.patch(
        f"{CATALOG}/secret/my-plugin", content=b"{}", headers={"Content-Type": "application/merge-patch+json"}
    )
    assert (merge.status_code, merge.json()) == (405, UNSUPPORTED_OPERATION)


def test_unknown_http_method_is_405_with_no_errors(server: PluginServer) -> None:
    with server.client(token="") as anonymous:
        for method in ("TRACE", "FOO"):
            response = anonymous.request(method, CATALOG)
            assert (response.status_code, response.json()) == (405, {"errors": []}), method


def test_options_and_head(server: PluginServer, c: httpx.Client) -> None:
    options = c.options(CATALOG)
    assert (options.status_code, errors(options)) == (400, ["cannot handle internal-only request operation"])
    head = c.head(CATALOG)
    assert (head.status_code, head.content) == (405, b"")
    with server.client(token="") as anonymous:
        assert anonymous.head(CATALOG).status_code == 403


def test_vault_only_and_unknown_paths_are_404_unsupported_path(c: httpx.Client) -> None:
    for method, path in [
        ("GET", "/v1/sys/nonexistent"),
        ("GET", "/v1/sys/plugins"),
        ("GET", "/v1/sys/plugins/pins"),
        ("LIST", "/v1/sys/plugins/pins"),
        ("POST", "/v1/sys/plugins/pins/secret/my-plugin"),
        ("GET", "/v1/sys/plugins/runtimes/catalog"),
        ("LIST", "/v1/sys/plugins/runtimes/catalog"),
        ("POST", "/v1/sys/plugins/runtimes/catalog/container/r"),
        ("POST", "/v1/sys/plugins/reload/secret/my-plugin"),
        ("GET", "/v1/sys/plugins/reload/backend/status?reload_id=x"),
        ("LIST", "/v1/sys/plugins/reload/backend"),  # LIST appends "/": no such route
    ]:
        response = c.request(method, path, json={"version": "v1.0.0"} if method == "POST" else None)
        assert (response.status_code, response.json()) == (404, UNSUPPORTED_PATH), (method, path)


def test_namespace_header(server: PluginServer, c: httpx.Client) -> None:
    with server.client(token="") as anonymous:
        unknown = anonymous.get(CATALOG, headers={"X-Vault-Namespace": "nope"})  # checked before the token
    assert (unknown.status_code, unknown.json()) == (404, {"errors": ["namespace not found"]})
    assert unknown.headers["x-vault-namespace"] == "nope"
    for root in ("root", "/"):
        response = c.get(CATALOG, headers={"X-Vault-Namespace": root})
        assert response.status_code == 200, root
    assert c.get("/v1/sys/seal-status", headers={"X-Vault-Namespace": "nope"}).status_code == 200


def test_unknown_mount_has_no_handler(c: httpx.Client) -> None:
    response = c.get("/v1/nomount/foo")
    assert (response.status_code, errors(response)) == (
        404,
        ['no handler for route "nomount/foo". route entry not found.'],
    )


def test_malformed_json_body_is_400(c: httpx.Client) -> None:
    truncated = c.post(f"{CATALOG}/secret/x", content=b'{"sha256":')
    assert (truncated.status_code, errors(truncated)) == (400, ["failed to decode JSON input: unexpected EOF"])
    array = c.post(f"{CATALOG}/secret/x", content=b"[1]")
    assert errors(array) == [
        "failed to decode JSON input: json: cannot unmarshal array into Go value of type map[string]interface {}"
    ]


def test_json_string_count_limit(c: httpx.Client) -> None:
    assert register(c, "many", args=["a"] * 995).status_code == 204  # 1000 strings
    too_many = register(c, "many", args=["a"] * 996)
    assert (too_many.status_code, errors(too_many)) == (
        400,
        ["refused JSON input due to high complexity: exceeded maximum number of strings"],
    )


# --------------------------------------------------------------------------- authentication and ACL


def test_missing_or_unknown_token_is_403_permission_denied(server: PluginServer) -> None:
    with httpx.Client(base_url=server.base_url, verify=ssl_context()) as anonymous:
        for headers in (
            {},
            {"X-Vault-Token": "bogus"},
            {"Authorization": "Bearer bogus"},
            {"Authorization": "Basic root"},
        ):
            for method, path in [
                ("GET", CATALOG),
                ("GET", f"{CATALOG}/secret/kv"),
                ("GET", f"{CATALOG}/secret?list=true"),
                ("GET", "/v1/sys/nonexistent"),
                ("GET", "/v1/sys/plugins/pins"),
                ("POST", "/v1/sys/plugins/reload/backend"),
            ]:
                response = anonymous.request(method, path, headers=headers)
                assert (response.status_code, response.json()) == (403, NO_TOKEN), (headers, path)


def test_bearer_token_works_and_x_vault_token_wins(server: PluginServer) -> None:
    with httpx.Client(base_url=server.base_url, verify=ssl_context()) as anonymous:
        assert anonymous.get(CATALOG, headers={"Authorization": f"Bearer {server.token}"}).status_code == 200
        both = {"Authorization": f"Bearer {server.token}", "X-Vault-Token": "bogus"}
        assert anonymous.get(CATALOG, headers=both).status_code == 403
        reverse = {"Authorization": "Bearer bogus", "X-Vault-Token": server.token}
        assert anonymous.get(CATALOG, headers=reverse).status_code == 200


def test_acl_listing_needs_read_and_everything_below_needs_sudo(server: PluginServer) -> None:
    token = server.limited_token(
        {"sys/plugins/catalog": {"read"}, "sys/plugins/catalog/*": {"read", "update", "delete", "list"}}
    )
    with server.client(token) as limited:
        assert limited.get(CATALOG).status_code == 200
        for method, path in [
            ("GET", f"{CATALOG}/"),
            ("GET", f"{CATALOG}/secret/kv"),
            ("LIST", f"{CATALOG}/secret"),
            ("POST", f"{CATALOG}/secret/x"),
            ("DELETE", f"{CATALOG}/secret/x"),
            ("GET", f"{CATALOG}/secret"),  # 405 for root, but the ACL check comes first
            ("GET", "/v1/sys/nonexistent"),  # 404 for root
            ("GET", "/v1/sys/mounts"),
        ]:
            response = limited.request(method, path)
            assert (response.status_code, response.json()) == (403, ACL_DENIED), (method, path)
        help_response = limited.get(f"{CATALOG}/secret/kv?help=1")  # help needs a token, no capability
        assert help_response.status_code == 200


def test_acl_with_sudo(server: PluginServer) -> None:
    token = server.limited_token(
        {
            "sys/plugins/catalog/secret/*": {"read", "update", "delete", "sudo"},
            "sys/plugins/catalog/secret/": {"list", "sudo"},
            "sys/plugins/catalog/auth/*": {"create", "sudo"},
            "sys/*": {"read"},
        }
    )
    with server.client(token) as limited:
        assert limited.get(f"{CATALOG}/secret/kv").status_code == 200
        assert limited.request("LIST", f"{CATALOG}/secret").status_code == 200
        assert register(limited, "my-plugin").status_code == 204
        assert limited.delete(f"{CATALOG}/secret/my-plugin").status_code == 204
        create_only = register(limited, "my-plugin", "auth")  # no existence check: create is not enough
        assert (create_only.status_code, create_only.json()) == (403, ACL_DENIED)
        unknown = limited.get("/v1/sys/nonexistent")  # readable path, so routing answers
        assert (unknown.status_code, unknown.json()) == (404, UNSUPPORTED_PATH)


def test_sys_auth_paths_need_sudo(server: PluginServer) -> None:
    token = server.limited_token({"sys/*": {"read", "update", "delete", "list", "create"}})
    with server.client(token) as limited:
        assert limited.get("/v1/sys/auth").status_code == 200
        assert limited.get("/v1/sys/auth/token").status_code == 403
        assert limited.post("/v1/sys/auth/up9", json={"type": "userpass"}).status_code == 403


# --------------------------------------------------------------------------- register / read / delete


def test_register_read_delete_round_trip(c: httpx.Client) -> None:
    registered(c, "my-plugin", args=["--a", "b"], env=["SECRET=1"])
    response = read(c, "my-plugin")
    assert response.status_code == 200
    assert response.json()["data"] == {
        "args": ["--a", "b"],
        "builtin": False,
        "command": "my-plugin",
        "declarative": False,
        "name": "my-plugin",
        "oci": False,
        "sha256": SHA,
        "version": "",
    }
    assert c.delete(f"{CATALOG}/secret/my-plugin").status_code == 204
    gone = read(c, "my-plugin")
    assert (gone.status_code, gone.json()) == (404, {"errors": []})


def test_env_is_never_returned(c: httpx.Client) -> None:
    registered(c, "my-plugin", env=["TOKEN=hunter2"], version="1.0.0")
    data = read(c, "my-plugin", "v1.0.0").json()["data"]
    assert "env" not in data
    assert "hunter2" not in c.get(CATALOG).text


def test_versioned_and_unversioned_entries_coexist(c: httpx.Client) -> None:
    registered(c, "my-plugin", args=["unversioned"])
    registered(c, "my-plugin", version="v1.0.0", args=["versioned"])
    assert read(c, "my-plugin").json()["data"]["args"] == ["unversioned"]
    assert read(c, "my-plugin", "v1.0.0").json()["data"]["args"] == ["versioned"]
    assert [e["version"] for e in detailed(c, "my-plugin")] == ["", "v1.0.0"]
    assert c.delete(f"{CATALOG}/secret/my-plugin").status_code == 204
    assert read(c, "my-plugin").status_code == 404
    assert read(c, "my-plugin", "1.0.0").status_code == 200


def test_version_is_normalised_on_write(c: httpx.Client) -> None:
    for number, (given, stored) in enumerate(
        [
            ("1.1.0", "v1.1.0"),
            ("v1.1.0", "v1.1.0"),
            ("1.0", "v1.0.0"),
            ("1", "v1.0.0"),
            ("01.2.3", "v1.2.3"),
            ("1.2.3.4", "v1.2.3.4"),
            ("1.2.3-beta.1+meta", "v1.2.3-beta.1+meta"),
            ("1.0.0-01", "v1.0.0-01"),
            ("1.0.0+builtinx", "v1.0.0+builtinx"),
        ]
    ):
        registered(c, f"p{number}", version=given)
        assert [e["version"] for e in detailed(c, f"p{number}")] == [stored], given
        assert read(c, f"p{number}", stored).json()["data"]["version"] == stored


def test_version_is_normalised_on_read_and_delete(c: httpx.Client) -> None:
    registered(c, "my-plugin", version="v1.1.0")
    for query in ("1.1.0", "v1.1", "01.1.0", "1.1"):
        response = read(c, "my-plugin", query)
        assert (response.status_code, response.json()["data"]["version"]) == (200, "v1.1.0"), query
    assert c.delete(f"{CATALOG}/secret/my-plugin", params={"version": "1.1"}).status_code == 204
    assert read(c, "my-plugin", "v1.1.0").status_code == 404


def test_invalid_versions_are_400_on_register_read_and_delete(c: httpx.Client) -> None:
    for version in ("V1.2.3", "latest", "+builtin", " 1.0.0", "1.0.0-", "1.0.0+", "v", "1.2.3beta"):
        expected = [f'version "{version}" is not a valid semantic version: malformed version: {version}']
        bad = register(c, "my-plugin", version=version)
        assert (bad.status_code, errors(bad)) == (400, expected), version
        assert errors(read(c, "my-plugin", version)) == expected
        deleted = c.delete(f"{CATALOG}/secret/my-plugin", params={"version": version})
        assert (deleted.status_code, errors(deleted)) == (400, expected)


def test_builtin_metadata_is_reserved(c: httpx.Client) -> None:
    for given, normalised in [
        ("1.0.0+builtin", "v1.0.0+builtin"),
        ("v1.0.0+builtin.vault", "v1.0.0+builtin.vault"),
        ("v1+x.builtin", "v1.0.0+x.builtin"),
    ]:
        response = c.post(f"{CATALOG}/secret/my-plugin", json={"version": given})  # checked before sha256
        message = f"version \"{normalised}\" is not allowed because 'builtin' is a reserved metadata identifier"
        assert (response.status_code, errors(response)) == (400, [message]), given


def test_register_is_a_full_overwrite(c: httpx.Client) -> None:
    registered(c, "my-plugin", version="1.0.0", args=["--a"], env=["A=1"])
    registered(c, "my-plugin", version="1.0.0")
    assert read(c, "my-plugin", "1.0.0").json()["data"]["args"] == []


def test_sha256_alias_and_lower_case_storage(c: httpx.Client) -> None:
    response = c.post(f"{CATALOG}/secret/my-plugin", json={"sha_256": SHA.upper(), "command": "my-plugin"})
    assert response.status_code == 204
    assert read(c, "my-plugin").json()["data"]["sha256"] == SHA


def test_path_captures_override_body_fields(c: httpx.Client) -> None:
    response = c.post(
        f"{CATALOG}/secret/my-plugin", json={"sha256": SHA, "command": "my-plugin", "type": "auth", "name": "other"}
    )
    assert response.status_code == 204
    assert read(c, "my-plugin").status_code == 200
    assert read(c, "other", ptype="auth").status_code == 404


def test_names_may_contain_slashes(c: httpx.Client) -> None:
    registered(c, "a/b")
    assert read(c, "a/b").json()["data"]["name"] == "a/b"
    assert "a/b" in c.request("LIST", f"{CATALOG}/secret").json()["data"]["keys"]
    assert c.delete(f"{CATALOG}/secret/a/b").status_code == 204


def test_delete_is_idempotent(c: httpx.Client) -> None:
    for _ in range(2):
        assert c.delete(f"{CATALOG}/secret/never-registered").status_code == 204
        assert c.delete(f"{CATALOG}/secret/never-registered", params={"version": "1.0.0"}).status_code == 204
    assert c.delete(f"{CATALOG}/secret/x..y").status_code == 204


def test_delete_of_a_builtin_version_is_400(c: httpx.Client) -> None:
    for version in (BUILTIN, BUILTIN.removeprefix("v")):
        response = c.delete(f"{CATALOG}/secret/kv", params={"version": version})
        assert (response.status_code, errors(response)) == (400, [f'version "{BUILTIN}" cannot be deleted'])
    other = c.delete(f"{CATALOG}/secret/kv", params={"version": "v9.0.0+builtin"})
    assert errors(other) == ['version "v9.0.0+builtin" cannot be deleted']
    assert c.delete(f"{CATALOG}/secret/kv").status_code == 204  # unversioned delete leaves the builtin
    assert read(c, "kv").json()["data"]["builtin"] is True


def test_delete_ignores_the_body(c: httpx.Client) -> None:
    """The trap: DELETE parameters come from the query string only."""
    registered(c, "my-plugin")
    registered(c, "my-plugin", version="v2.0.0")
    assert c.request("DELETE", f"{CATALOG}/secret/my-plugin", json={"version": "v2.0.0"}).status_code == 204
    assert read(c, "my-plugin").status_code == 404  # the unversioned entry went
    assert read(c, "my-plugin", "v2.0.0").status_code == 200


def test_read_of_missing_plugin_or_version_is_404_with_no_errors(c: httpx.Client) -> None:
    registered(c, "my-plugin", version="1.0.0")
    for name, version in [("nope", None), ("my-plugin", None), ("my-plugin", "9.9.9"), ("kv", "1.0.0+builtin")]:
        response = read(c, name, version)
        assert (response.status_code, response.json()) == (404, {"errors": []}), (name, version)
    assert read(c, "kv", ptype="auth").status_code == 404


def test_read_builtin(c: httpx.Client) -> None:
    for version in (None, "", BUILTIN, BUILTIN.removeprefix("v")):
        response = read(c, "kv", version)
        assert response.json()["data"] == {
            "args": None,
            "builtin": True,
            "command": "",
            "declarative": False,
            "deprecation_status": "supported",
            "name": "kv",
            "oci": False,
            "sha256": "",
            "version": BUILTIN,
        }


def test_unversioned_external_entry_shadows_the_builtin(server: PluginServer, c: httpx.Client) -> None:
    server.add_plugin_file("kvx")
    registered(c, "kv", command="kvx")
    registered(c, "kv", command="kvx", version="2.7.2")
    assert [(e["version"], e["builtin"]) for e in detailed(c, "kv")] == [("", False), ("v2.7.2", False)]
    assert read(c, "kv").json()["data"]["command"] == "kvx"
    assert read(c, "kv", BUILTIN).status_code == 404
    assert "kv" in c.request("LIST", f"{CATALOG}/secret").json()["data"]["keys"]
    assert c.delete(f"{CATALOG}/secret/kv").status_code == 204
    # The builtin is back, after the external entry of equal precedence (v2.7.2 == v2.7.2+builtin.bao).
    assert [(e["version"], e["builtin"]) for e in detailed(c, "kv")] == [("v2.7.2", False), (BUILTIN, True)]
    assert read(c, "kv", BUILTIN).json()["data"]["builtin"] is True


def test_oci_image_and_runtime_are_ignored_and_oci_is_echoed(c: httpx.Client) -> None:
    registered(c, "my-plugin", version="1.0.0", oci_image="ghcr.io/x/y", runtime="r")
    data = read(c, "my-plugin", "1.0.0").json()["data"]
    assert "oci_image" not in data
    assert "runtime" not in data
    assert data["oci"] is False
    registered(c, "my-plugin", version="1.0.1", oci="true")
    assert read(c, "my-plugin", "1.0.1").json()["data"]["oci"] is True
    assert "oci" not in detailed(c, "my-plugin")[0]


# --------------------------------------------------------------------------- listing


def test_detailed_is_sorted_by_type_name_and_semver(c: httpx.Client, server: PluginServer) -> None:
    for version in ("0.10.0", "0.2.0", "0.10.0-rc1"):
        registered(c, "other-plugin", "auth", version=version)
    registered(c, "my-plugin")
    registered(c, "my-plugin", version="1.1.0")
    registered(c, "my-plugin", version="1.0.0")
    registered(c, "my-plugin", version="1.0.0+builtinx")  # equal to v1.0.0 for go-version
    entries = detailed(c)
    types = [e["type"] for e in entries]
    assert types == sorted(types)
    assert [e["version"] for e in entries if e["name"] == "other-plugin"] == ["v0.2.0", "v0.10.0-rc1", "v0.10.0"]
    assert [e["version"] for e in entries if e["name"] == "my-plugin"] == ["", "v1.0.0", "v1.0.0+builtinx", "v1.1.0"]
    secrets = [e["name"] for e in entries if e["type"] == "secret"]
    assert secrets == sorted(secrets)


def test_detailed_entry_fields(c: httpx.Client) -> None:
    registered(c, "my-plugin", args=["a"], env=["B=1"])
    external = detailed(c, "my-plugin")[0]
    assert external == {"builtin": False, "name": "my-plugin", "sha256": SHA, "type": "secret", "version": ""}
    builtin = detailed(c, "approle")[0]
    assert builtin == {
        "builtin": True,
        "deprecation_status": "supported",
        "name": "approle",
        "type": "auth",
        "version": BUILTIN,
    }


def test_name_arrays_and_typed_list_include_versioned_only_plugins(c: httpx.Client) -> None:
    registered(c, "versioned-only", "auth", version="1.0.0")
    data = c.get(CATALOG).json()["data"]
    assert set(data) == {"auth", "database", "secret", "detailed"}
    assert "versioned-only" in data["auth"]
    assert data["auth"] == sorted(set(data["auth"]))
    assert "versioned-only" in c.request("LIST", f"{CATALOG}/auth").json()["data"]["keys"]


def test_list_verb_equals_get_with_list_true(c: httpx.Client) -> None:
    registered(c, "my-plugin")
    expected = c.request("LIST", f"{CATALOG}/secret").json()["data"]
    assert "my-plugin" in expected["keys"]
    for path in (f"{CATALOG}/secret?list=true", f"{CATALOG}/secret/?list=true", f"{CATALOG}/secret?list=1"):
        assert c.get(path).json()["data"] == expected
    bad = c.get(f"{CATALOG}/secret?list=foo")
    assert (bad.status_code, bad.json()) == (400, {"errors": []})


def test_legacy_untyped_read_and_delete_only_warn(c: httpx.Client) -> None:
    got = c.get(f"{CATALOG}/my-plugin")
    assert got.status_code == 200
    assert got.json()["data"] is None
    assert got.json()["warnings"] == [
        'Deprecated API endpoint, cannot read plugin information from catalog for "my-plugin"'
    ]
    deleted = c.delete(f"{CATALOG}/my-plugin")
    assert deleted.status_code == 200
    assert deleted.json()["warnings"] == [
        'Deprecated API endpoint, cannot deregister plugin from catalog for "my-plugin"'
    ]


def test_legacy_untyped_register_fails_type_detection(c: httpx.Client) -> None:
    response = c.post(f"{CATALOG}/my-plugin", json={"sha256": SHA, "command": "my-plugin"})
    assert response.status_code == 500
    assert errors(response)[0].startswith("3 errors occurred:\n\t* failed to load plugin as database v5: ")


def test_unknown_query_parameters_produce_a_warning_on_reads(c: httpx.Client) -> None:
    registered(c, "my-plugin")
    response = c.get(f"{CATALOG}/secret/my-plugin", params={"zeta": "1", "alpha": "2"})
    assert response.json()["warnings"] == ["Endpoint ignored these unrecognized parameters: [alpha zeta]"]


# --------------------------------------------------------------------------- register validation


def test_validation_order_and_messages(server: PluginServer, c: httpx.Client) -> None:
    cases: list[tuple[dict[str, Any], int, str]] = [
        ({}, 400, "missing SHA-256 value"),
        ({"command": "my-plugin"}, 400, "missing SHA-256 value"),
        (
            {"sha256": "zz", "version": "bad"},
            400,
            'version "bad" is not a valid semantic version: malformed version: bad',
        ),
        ({"sha256": SHA}, 400, "missing command value"),
        ({"sha256": SHA, "command": ""}, 400, "missing command value"),
        (
            {"sha256": "zz", "command": "my-plugin --x", "args": ["a"]},
            400,
            "must not specify args in command and args field",
        ),
        ({"sha256": "zz", "command": "nope"}, 400, "Could not decode SHA-256 value from Hex"),
        ({"sha256": "abc", "command": "my-plugin"}, 400, "Could not decode SHA-256 value from Hex"),
        ({"sha256": "abcd", "command": "nope"}, 400, "Decoded SHA-256 value is not 32 bytes"),
        ({"sha256": "zz", "command": "../x"}, 400, "Could not decode SHA-256 value from Hex"),
    ]
    for body, status, message in cases:
        response = c.post(f"{CATALOG}/secret/my-plugin", json=body)
        assert (response.status_code, errors(response)) == (status, [message]), body


def test_sha256_given_as_json_number_is_its_decimal_text(c: httpx.Client) -> None:
    even = c.post(f"{CATALOG}/secret/x", content=b'{"sha256": 12, "command": "my-plugin"}')
    assert errors(even) == ["Decoded SHA-256 value is not 32 bytes"]
    odd = c.post(f"{CATALOG}/secret/x", content=b'{"sha256": 1.50, "command": "my-plugin"}')
    assert errors(odd) == ["Could not decode SHA-256 value from Hex"]


def test_missing_command_file_is_500_with_the_lstat_text(server: PluginServer, c: httpx.Client) -> None:
    directory = str(server.plugin_dir)
    for command, missing in [
        ("does-not-exist", "does-not-exist"),
        ("/bin/sh", "bin"),
        ("nosub/p", "nosub"),
        ("nope --x", "nope"),
    ]:
        response = register(c, "my-plugin", command=command)
        assert response.status_code == 500
        text = errors(response)[0].replace(directory, "<plugin_directory>")
        assert text == (
            "1 error occurred:\n\t* error while validating the command path: "
            f"lstat <plugin_directory>/{missing}: no such file or directory\n\n"
        )


def test_command_below_a_file_is_not_a_directory(c: httpx.Client) -> None:
    response = register(c, "my-plugin", command="my-plugin/x")
    assert (response.status_code, errors(response)) == (
        500,
        ["1 error occurred:\n\t* error while validating the command path: not a directory\n\n"],
    )


def test_commands_outside_the_plugin_directory(server: PluginServer, c: httpx.Client) -> None:
    server.add_plugin_file("sub/p")
    link = server.plugin_dir / "escape"
    if not link.is_symlink():
        link.symlink_to("/bin/sh")
    outside = ["1 error occurred:\n\t* cannot execute files outside of configured plugin directory\n\n"]
    for command in ("sub/p", "escape", " "):
        response = register(c, "my-plugin", command=command)
        assert (response.status_code, errors(response)) == (500, outside), command
    inside = server.plugin_dir / "inside"
    if not inside.is_symlink():
        inside.symlink_to("my-plugin")
    registered(c, "my-plugin", command="inside")
    registered(c, "my-plugin", command="sub")  # a directory is accepted: only its location is checked
    registered(c, "my-plugin", command="./my-plugin/")
    assert read(c, "my-plugin").json()["data"]["command"] == "my-plugin"


def test_parent_references_are_500(c: httpx.Client) -> None:
    for name, command in [("my-plugin", "../bin/sh"), ("x..y", "my-plugin"), ("my-plugin", "a..b")]:
        response = register(c, name, command=command)
        assert (response.status_code, errors(response)) == (
            500,
            ["1 error occurred:\n\t* path cannot contain parent references\n\n"],
        ), (name, command)


def test_args_embedded_in_command_and_args_coercion(c: httpx.Client) -> None:
    cases: list[tuple[dict[str, Any], list[str]]] = [
        ({"command": "my-plugin --x y"}, ["--x", "y"]),
        ({"command": "my-plugin  a"}, ["", "a"]),
        ({"command": "my-plugin", "args": "a,b"}, ["a,b"]),
        ({"command": "my-plugin", "args": ""}, []),
        ({"command": "my-plugin", "args": None}, []),
        ({"command": "my-plugin", "args": 5}, ["5"]),
        ({"command": "my-plugin", "args": [True, None, 1.5]}, ["1", "", "1.5"]),
    ]
    for body, args in cases:
        registered(c, "my-plugin", **body)
        data = read(c, "my-plugin").json()["data"]
        assert (data["command"], data["args"]) == ("my-plugin", args), body


def test_wrongly_typed_fields_fail_validation(c: httpx.Client) -> None:
    cases: list[tuple[dict[str, Any], str]] = [
        (
            {"oci": "notabool"},
            "Field validation failed: error converting input for field \"oci\": '' cannot parse value as 'bool': "
            "strconv.ParseBool: invalid syntax",
        ),
        (
            {"oci": []},
            "Field validation failed: error converting input for field \"oci\": '' expected type 'bool', "
            "got unconvertible type '[]interface {}'",
        ),
        (
            {"args": {"a": 1}},
            'Field validation failed: error converting input for field "args": decoding failed due to the '
            "following error(s):\n\n'[0]' expected type 'string', got unconvertible type 'map[string]interface {}'",
        ),
        (
            {"command": ["my-plugin"]},
            "Field validation failed: error converting input for field \"command\": '' expected type 'string', "
            "got unconvertible type '[]interface {}'",
        ),
    ]
    for body, message in cases:
        response = register(c, "my-plugin", **body)
        assert (response.status_code, errors(response)) == (400, [message]), body


def test_form_encoded_registration(c: httpx.Client) -> None:
    body = f"sha256={SHA}&command=my-plugin&args=a&args=b".encode()
    response = c.post(
        f"{CATALOG}/secret/my-plugin", content=body, headers={"Content-Type": "application/x-www-form-urlencoded"}
    )
    assert response.status_code == 204
    assert read(c, "my-plugin").json()["data"]["args"] == ["a,b"]


# --------------------------------------------------------------------------- reload, mounts, status


RELOAD_ERRORS: list[tuple[dict[str, Any], str]] = [
    ({}, "plugin or mounts must be provided"),
    ({"scope": "bogus"}, "plugin or mounts must be provided"),
    ({"plugin": "x", "mounts": ["a"]}, "plugin and mounts cannot be set at the same time"),
    ({"plugin": "kv", "scope": "bogus"}, 'scope must be unset or "global"'),
    ({"plugin": "nonexistent"}, 'plugin not found in the catalog: "nonexistent"'),
    (
        {"plugin": "postgresql-database-plugin"},
        'plugin "postgresql-database-plugin" cannot be reloaded, only plugins of type auth and secret can be reloaded',
    ),
    ({"plugin": "token"}, 'singleton plugin cannot be reloaded: "token"'),
    ({"mounts": ["nope"]}, '1 error occurred:\n\t* cannot fetch mount entry on "nope/"\n\n'),
    (
        {"mounts": "secret,nope,nope2/"},
        '2 errors occurred:\n\t* cannot fetch mount entry on "nope/"\n\t* cannot fetch mount entry on "nope2/"\n\n',
    ),
    (
        {"mounts": ["sys/auth/token"]},
        '1 error occurred:\n\t* cannot reload plugin on "auth/token/": singleton plugin cannot be reloaded: "token"\n\n',
    ),
    (
        {"mounts": ["sys/"]},
        '1 error occurred:\n\t* cannot reload plugin on "sys/": singleton plugin cannot be reloaded: "system"\n\n',
    ),
]


def test_reload_backend_errors(c: httpx.Client) -> None:
    for body, message in RELOAD_ERRORS:
        response = c.put("/v1/sys/plugins/reload/backend", json=body)
        assert (response.status_code, errors(response)) == (400, [message]), body


def test_reload_backend_success(c: httpx.Client) -> None:
    registered(c, "my-plugin")
    for body in [
        {"plugin": "kv"},
        {"plugin": "kv", "scope": "global"},
        {"mounts": ["secret"]},
        {"mounts": "secret/"},
        {"mounts": ["secret/some/path"]},
        {"plugin": "my-plugin"},  # registered, not mounted: no warning on OpenBao
        {"plugin": "userpass"},
    ]:
        response = c.post("/v1/sys/plugins/reload/backend", json=body)
        assert response.status_code == 200, body
        payload = response.json()
        assert payload["data"] == {"reload_id": payload["request_id"]}
        assert payload["warnings"] is None


def test_mount_listings_duplicate_data_at_top_level(c: httpx.Client) -> None:
    for path, key, kind in [("/v1/sys/mounts", "secret/", "kv"), ("/v1/sys/auth", "token/", "token")]:
        body = c.get(path).json()
        assert body[key] == body["data"][key]
        assert body[key]["type"] == kind
        assert body[key]["running_plugin_version"] == BUILTIN
    secret = c.get("/v1/sys/mounts/secret").json()
    assert set(secret["data"]) == {
        "accessor",
        "config",
        "deprecation_status",
        "description",
        "external_entropy_access",
        "local",
        "options",
        "plugin_version",
        "running_plugin_version",
        "running_sha256",
        "seal_wrap",
        "type",
        "uuid",
    }
    assert secret["running_sha256"] == ""
    assert "deprecation_status" not in c.get("/v1/sys/mounts").json()["data"]["sys/"]


def test_enable_and_tune_versions_of_builtins(c: httpx.Client) -> None:
    try:
        cases: list[tuple[str, dict[str, Any], str]] = [
            (
                "kvc1",
                {"type": "kv", "config": {"plugin_version": "v1.0.0"}},
                "cannot select non-builtin version of secrets plugin kv",
            ),
            (
                "kvc2",
                {"type": "pki", "config": {"plugin_version": "v1.0.0"}},
                "plugin not found in the catalog: pki, version=v1.0.0",
            ),
            ("kvc3", {"type": "nonexist"}, "plugin not found in the catalog: nonexist"),
            (
                "kvc4",
                {"type": "kv", "config": {"plugin_version": "bad"}},
                'version "bad" is not a valid semantic version: malformed version: bad',
            ),
            ("kvc5", {}, "backend type must be specified as a string"),
        ]
        for path, body, message in cases:
            response = c.post(f"/v1/sys/mounts/{path}", json=body)
            assert (response.status_code, errors(response)) == (400, [message]), body
        # top-level plugin_version is ignored on enable; a builtin version in config is stored as ""
        assert c.post("/v1/sys/mounts/kvc6", json={"type": "kv", "plugin_version": "v1.0.0"}).status_code == 204
        assert (
            c.post("/v1/sys/mounts/kvc7", json={"type": "kv", "config": {"plugin_version": BUILTIN}}).status_code == 204
        )
        assert c.get("/v1/sys/mounts/kvc7").json()["data"]["plugin_version"] == ""
        again = c.post("/v1/sys/mounts/kvc7", json={"type": "kv"})
        assert errors(again) == ["path is already in use at kvc7/"]
        missing = c.post("/v1/sys/mounts/kvc7/tune", json={"plugin_version": "v9.9.9"})
        assert errors(missing) == ["plugin not found in the catalog: kv, version=v9.9.9"]
        assert c.post("/v1/sys/mounts/kvc7/tune", json={"plugin_version": BUILTIN}).status_code == 204
        assert c.get("/v1/sys/mounts/kvc7").json()["data"]["plugin_version"] == BUILTIN
        assert c.get("/v1/sys/mounts/kvc7/tune").json()["data"]["plugin_version"] == BUILTIN
        nowhere = c.post("/v1/sys/mounts/nope/tune", json={"plugin_version": BUILTIN})
        assert errors(nowhere) == ['tune of path "nope/" failed: no mount entry found']
        assert errors(c.get("/v1/sys/mounts/nope")) == ["No secret engine mount at nope/"]
    finally:
        for path in ("kvc1", "kvc2", "kvc3", "kvc4", "kvc5", "kvc6", "kvc7"):
            c.delete(f"/v1/sys/mounts/{path}")


def test_seal_status_and_health_keys(server: PluginServer) -> None:
    with server.client(token="") as anonymous:
        status = anonymous.get("/v1/sys/seal-status")
        health = anonymous.get("/v1/sys/health")
    assert status.status_code == 200
    assert set(status.json()) == {
        "type",
        "initialized",
        "sealed",
        "t",
        "n",
        "progress",
        "nonce",
        "recovery_seal",
        "version",
        "commit_date",
        "migration",
        "cluster_name",
        "cluster_id",
        "storage_type",
    }
    assert (status.json()["version"], status.json()["sealed"]) == ("2.7.2", False)
    assert health.status_code == 200
    assert set(health.json()) == {
        "initialized",
        "sealed",
        "standby",
        "replication_performance_mode",
        "replication_dr_mode",
        "server_time_utc",
        "version",
        "cluster_name",
        "cluster_id",
    }


def test_help(server: PluginServer, c: httpx.Client) -> None:
    response = c.get(f"{CATALOG}/secret/kv?help=1")
    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"help", "openapi", "see_also"}
    assert body["help"].startswith(
        "Request:        plugins/catalog/secret/kv\n"
        "Matching Route: ^plugins/catalog(/(?P<type>auth|database|secret))?/(?P<name>.+)$\n"
    )
    assert body["see_also"] is None
    assert c.post(f"{CATALOG}/secret/kv?help=0").status_code == 200
    assert c.get("/v1/sys/plugins/pins?help=1").json() == UNSUPPORTED_PATH
    with server.client(token="") as anonymous:
        assert anonymous.get(f"{CATALOG}/secret/kv?help=1").json() == NO_TOKEN
