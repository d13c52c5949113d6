"""The `mounts:` kind offline: the manifest model, normalisation and every validation rule (issue 14)."""

from __future__ import annotations

from pathlib import Path

import pytest

from reconciler.errors import ManifestError
from reconciler.kinds import Kind, keyed
from reconciler.kinds.mount import DeclaredMount, mount_path
from reconciler.loader import load
from reconciler.validate import unsupported_features
from tests.cli import SHA_A, reconcile, write
from tests.factories import OPENBAO, VAULT

PLUGINS = f"""\
plugins:
  - name: kv-extra
    type: secret
    versions:
      - {{version: 1.0.0, sha256: {SHA_A}}}
      - {{version: 1.1.0, sha256: {SHA_A}}}
  - name: ldap-extra
    type: auth
    versions:
      - {{version: 2.0.0, sha256: {SHA_A}}}
"""


def load_mounts(tmp_path: Path, mounts: str) -> Path:
    return write(tmp_path / "m.yaml", PLUGINS + "mounts:\n" + mounts)


def problems(tmp_path: Path, mounts: str) -> list[str]:
    with pytest.raises(ManifestError) as caught:
        load(load_mounts(tmp_path, mounts))
    return [str(d) for d in caught.value.diagnostics]


def test_mounts_are_normalised_and_keyed_by_type_and_path(tmp_path: Path) -> None:
    m = load_mounts(
        tmp_path,
        "  - {path: /team-a/kv, type: secret, plugin: kv-extra, plugin_version: 1.1.0}\n"
        "  - {path: ldap, type: auth, plugin: ldap-extra, plugin_version: v2.0.0, create: true}\n"
        "  - {path: ldap, type: secret, plugin: kv-extra, plugin_version: latest}\n",
    )
    state = load(m).state
    assert keyed(state, Kind.MOUNT) == {
        ("secret", "team-a/kv/"): DeclaredMount(path="team-a/kv/", plugin="kv-extra", plugin_version="v1.1.0"),
        ("auth", "ldap/"): DeclaredMount(
            path="ldap/", plugin="ldap-extra", auth=True, plugin_version="v2.0.0", create=True
        ),
        ("secret", "ldap/"): DeclaredMount(path="ldap/", plugin="kv-extra", plugin_version="latest"),
    }
    r = reconcile("validate", "-m", m)
    assert r.exit_code == 0, r.output


@pytest.mark.parametrize(
    ("mount", "message"),
    [
        (
            "{path: a, type: secret, plugin: kv-extra, plugin_version: 9.9.9}",
            "m.yaml:12: v9.9.9 is not a version of secret/kv-extra declared under plugins:",
        ),
        (
            "{path: a, type: secret, plugin: nope, plugin_version: 1.0.0}",
            "m.yaml:12: plugin secret/nope is not declared",
        ),
        (
            "{path: a, type: auth, plugin: kv-extra, plugin_version: 1.0.0}",
            "m.yaml:12: plugin kv-extra is declared as secret, but the mount has type auth",
        ),
        ("{path: a, type: secret, plugin: kv-extra, plugin_version: Latest}", "is not a valid semantic version"),
        ("{path: a, type: secret, plugin: kv-extra, plugin_version: ''}", "must be a version declared for the plugin"),
        ("{path: a//b, type: secret, plugin: kv-extra, plugin_version: 1.0.0}", "must be a mount path"),
        ("{path: ../a, type: secret, plugin: kv-extra, plugin_version: 1.0.0}", "must be a mount path"),
        ("{path: /, type: secret, plugin: kv-extra, plugin_version: 1.0.0}", "must be a mount path"),
        ("{path: sys/x, type: secret, plugin: kv-extra, plugin_version: 1.0.0}", "sys/ is reserved by the server"),
        ("{path: token, type: auth, plugin: ldap-extra, plugin_version: 2.0.0}", "token/ is reserved by the server"),
        ("{path: a, type: database, plugin: kv-extra, plugin_version: 1.0.0}", "type"),
        ("{path: a, type: secret, plugin: kv-extra}", "plugin_version"),
        ("{path: a, type: secret, plugin: kv-extra, plugin_version: 1.0.0, creat: true}", "creat"),
        ('{path: "a\\n", type: secret, plugin: kv-extra, plugin_version: 1.0.0}', "control character U+000A"),
    ],
)
def test_invalid_mounts_are_manifest_errors_with_their_line(tmp_path: Path, mount: str, message: str) -> None:
    found = problems(tmp_path, f"  - {mount}\n")
    assert any(message in p for p in found), found


def test_one_entry_per_type_and_path(tmp_path: Path) -> None:
    found = problems(
        tmp_path,
        "  - {path: a, type: secret, plugin: kv-extra, plugin_version: 1.0.0}\n"
        "  - {path: /a/, type: secret, plugin: kv-extra, plugin_version: 1.1.0}\n",
    )
    assert found == [
        f"{tmp_path / 'm.yaml'}:13: duplicate mount secret a/ (one entry per path): already declared at {tmp_path / 'm.yaml'}:12"
    ]


def test_latest_needs_openbao_2_7() -> None:
    desired = load_state_with_latest()
    assert unsupported_features(desired, OPENBAO) == []
    assert unsupported_features(desired, VAULT) == [
        '?: mount a/: plugin_version "latest" need OpenBao 2.7+, but the server is Vault 1.17.6'
    ]
    old = OPENBAO.model_copy(update={"version": "2.6.2"})
    assert "but the server is OpenBao 2.6.2" in unsupported_features(desired, old)[0]


def load_state_with_latest():  # type: ignore[no-untyped-def]
    from reconciler.manifest import Desired
    from reconciler.resources import State

    mount = DeclaredMount(path="a/", plugin="kv-extra", plugin_version="latest")
    return Desired(state=State(mounts=(mount,)), origins={})  # type: ignore[call-arg]


@pytest.mark.parametrize(("raw", "path"), [("a", "a/"), ("/a/b/", "a/b/"), ("team-a-kv/", "team-a-kv/")])
def test_mount_path(raw: str, path: str) -> None:
    assert mount_path(raw) == path


def test_the_schema_documents_mounts() -> None:
    from reconciler.manifest import json_schema

    doc = json_schema()["$defs"]["MountDoc"]
    assert doc["required"] == ["path", "type", "plugin", "plugin_version"]
    assert doc["properties"]["create"]["default"] is False


def test_how_mount_changes_are_named() -> None:
    from reconciler.kinds import Action, Change

    spec = Kind.MOUNT.spec
    after = DeclaredMount(path="ldap/", plugin="ldap-extra", auth=True, plugin_version="v2.0.0", create=True)
    enable = Change(Kind.MOUNT, Action.CREATE, "auth", "ldap/", "v2.0.0", after=after)
    assert (spec.label(enable), spec.verb(Action.CREATE), spec.verb(Action.UPDATE)) == (
        "mount auth/ldap/",
        "enable",
        "tune",
    )
    assert spec.subject(enable) == "mount auth/ldap/ of auth/ldap-extra v2.0.0"
    assert spec.view(after) == {"plugin": "ldap-extra", "plugin_version": "v2.0.0"}
