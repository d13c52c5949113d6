"""Vault-only parts of mounts, through the CLI against the Vault emulator: pins with mounts, reload
by name (1.16+), reload/backend with the mounts (1.15), and `latest` refused (issue 14)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.cli import SHA_A, SHA_B, reconcile, write
from tests.emulator.vault import VaultEmulator
from tests.servers import serve_asgi

V1, V2 = "v1.0.0", "v2.0.0"


def manifest(*, mount: str, pin: str | None = None, create: bool = False, path: str = "team-a") -> str:
    lines = [
        "plugins:",
        "  - name: kv-extra",
        "    type: secret",
        "    versions:",
        f"      - {{version: {V1}, sha256: {SHA_A}}}",
        f"      - {{version: {V2}, sha256: {SHA_B}}}",
        "mounts:",
        f"  - {{path: {path}, type: secret, plugin: kv-extra, plugin_version: {mount}, create: {str(create).lower()}}}",
    ]
    if pin:
        lines += ["pins:", f"  - {{type: secret, name: kv-extra, version: {pin}}}"]
    return "\n".join(lines) + "\n"


@pytest.fixture(params=["1.17.6", "1.15.6"])
def vault(request: pytest.FixtureRequest) -> Iterator[tuple[VaultEmulator, dict[str, str]]]:
    """Vault with reload by name (1.17) and without (1.15), kv-extra v1 and v2 registered, team-a/ on v1."""
    yield from _served(request.param)


@pytest.fixture
def vault_1_17() -> Iterator[tuple[VaultEmulator, dict[str, str]]]:
    yield from _served("1.17.6")


def _served(version: str) -> Iterator[tuple[VaultEmulator, dict[str, str]]]:
    emulator = VaultEmulator(flavor="vault", version=version)
    emulator.register_plugin("secret", "kv-extra", version=V1, sha256=SHA_A)
    emulator.register_plugin("secret", "kv-extra", version=V2, sha256=SHA_B)
    emulator.add_mount("team-a/", "kv-extra", plugin_version=V1)
    with serve_asgi(emulator.app) as url:
        yield emulator, {"VAULT_ADDR": url, "VAULT_TOKEN": "root"}


def reloads(emu: VaultEmulator) -> list[tuple[str, str]]:
    return [r for r in emu.requests if "/reload/" in r[1]]


def test_a_tuned_mount_is_reloaded_by_name_on_1_16_and_by_mount_before(vault, tmp_path: Path) -> None:
    emu, env = vault
    r = reconcile("apply", "--auto-approve", "-m", write(tmp_path / "m.yaml", manifest(mount=V2)), env=env)
    assert r.exit_code == 0, r.output
    assert "~ tune mount team-a/ of secret/kv-extra  (plugin_version: 'v1.0.0' -> 'v2.0.0')" in r.stdout
    mount = emu.mount("team-a/")
    assert mount is not None
    assert (mount.plugin_version, mount.running_plugin_version) == (V2, V2)
    if emu.version.startswith("1.17"):
        assert reloads(emu) == [("POST", "/v1/sys/plugins/reload/secret/kv-extra")]
    else:
        assert reloads(emu) == [("PUT", "/v1/sys/plugins/reload/backend")]


def test_with_a_pin_the_pin_decides_and_the_plan_says_so(vault, tmp_path: Path) -> None:
    emu, env = vault
    m = write(tmp_path / "m.yaml", manifest(mount=V1, pin=V2))
    r = reconcile("apply", "--auto-approve", "-m", m, env=env)
    if emu.version.startswith("1.15"):
        assert r.exit_code == 1
        assert "pins need Vault 1.16+, but the server is Vault 1.15.6" in r.stderr
        return
    assert r.exit_code == 0, r.output
    assert "tune mount" not in r.stdout  # Vault refuses a mount version while the plugin is pinned
    assert (
        "Note: mount team-a/ declares v1.0.0, but secret/kv-extra is pinned to v2.0.0: the pin decides what it runs"
        in r.stdout
    )
    mount = emu.mount("team-a/")
    assert mount is not None
    assert (mount.plugin_version, mount.running_plugin_version) == (V1, V2)
    again = reconcile("plan", "--detailed-exitcode", "-m", m, env=env)
    assert again.exit_code == 0, again.output  # a note is not a change
    assert "Note: mount team-a/ declares v1.0.0" in again.stdout


def test_a_mount_created_under_a_pin_is_enabled_without_a_version(vault_1_17, tmp_path: Path) -> None:
    emu, env = vault_1_17
    emu.add_pin("secret", "kv-extra", V2)
    m = write(tmp_path / "m.yaml", manifest(mount=V2, pin=V2, create=True, path="team-b"))
    r = reconcile("apply", "--auto-approve", "-m", m, env=env)
    assert r.exit_code == 0, r.output
    assert "+ enable mount team-b/ of secret/kv-extra v2.0.0" in r.stdout
    mount = emu.mount("team-b/")
    assert mount is not None
    assert mount.running_plugin_version == V2


def test_latest_is_refused_on_vault(vault, tmp_path: Path) -> None:
    _, env = vault
    r = reconcile("plan", "-m", write(tmp_path / "m.yaml", manifest(mount="latest")), env=env)
    assert r.exit_code == 1
    assert 'mount team-a/: plugin_version "latest" need OpenBao 2.7+, but the server is Vault' in r.stderr


def test_a_saved_plan_is_stale_when_a_mount_version_changes_in_the_manifests(vault_1_17, tmp_path: Path) -> None:
    _, env = vault_1_17
    m = write(tmp_path / "m.yaml", manifest(mount=V2))
    saved = tmp_path / "plan.json"
    r = reconcile("plan", "--out", saved, "-m", m, env=env)
    assert r.exit_code == 0, r.output
    write(m, manifest(mount=V1))
    stale = reconcile("apply", saved, "-m", m, env=env)
    assert stale.exit_code == 1
    assert (
        "stale plan: secret mount team-a/: plugin_version changed in the manifests ('v2.0.0' -> 'v1.0.0')"
        in stale.stderr
    )


def test_a_declared_mount_of_another_plugin_is_refused(vault_1_17, tmp_path: Path) -> None:
    emu, env = vault_1_17
    emu.register_plugin("secret", "other", version=V1, sha256=SHA_A)
    emu.add_mount("team-c/", "other", plugin_version=V1)
    r = reconcile("plan", "-m", write(tmp_path / "m.yaml", manifest(mount=V1, path="team-c")), env=env)
    assert r.exit_code == 1
    assert "mount team-c/ is a mount of 'other', not 'kv-extra': reconcile never re-mounts" in r.stderr
