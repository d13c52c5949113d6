"""Good manifests: what `reconciler.loader.load` makes of them, and `reconcile validate` accepting them."""

from __future__ import annotations

import itertools
import os
import shutil
import tempfile
import textwrap
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from pydantic import SecretStr
from typer.testing import CliRunner

from reconciler import loader
from reconciler.cli import app
from reconciler.discovery import NOT_A_MANIFEST, discover
from reconciler.errors import ManifestError
from reconciler.loader import MAX_NODES, load
from reconciler.manifest import Desired
from reconciler.resources import CsiPlugin, Pin, Plugin, PluginKey, PluginType, Runtime, Settings

H1 = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"
H2 = "60303ae22b998861bce3b28f33eec1be758a213c86c93c076dbe9f558c11c752"
H3 = "fd61a03af4f77d870fc21e05e7e80678095c92d808cfb3b5c279ee04c74aca13"

SECRET, AUTH, DATABASE = PluginType.SECRET, PluginType.AUTH, PluginType.DATABASE

CONTRACT_EXAMPLE = f"""\
plugins:
  - name: kv-extra              # required; the catalog name
    type: secret                # required: auth | database | secret
    versions:                   # required, at least one
      - version: 1.4.2          # optional; "v" is prefixed when missing
        sha256: {H1.upper()}
        command: kv-extra       # default: the plugin name
        args: ["-tls-skip-verify"]   # default []
        env: {{LOG_LEVEL: debug}} # default {{}}; values are treated as secrets
        oci_image: ""           # optional
        runtime: ""             # optional (must name a declared runtime)
runtimes:
  - name: gvisor
    type: container
    oci_runtime: runsc
    cgroup_parent: ""
    cpu_nanos: 0          # >= 0
    memory_bytes: 0       # >= 0
    rootless: false
pins:
  - type: secret
    name: kv-extra
    version: 1.4.2        # must name a declared versioned plugin version; one pin per (type, name)
settings:                 # at most once across all documents
  prune: true
  ignore: ["secret/legacy-*"]
  reload: changed         # none | changed
  max_deletes: 10
nomad:
  csi_plugins:
    - id: aws-ebs0
      provider: ebs.csi.aws.com
      version: 1.5.0
      controllers_healthy: 1
      nodes_healthy: 2
      controller_required: true
"""


def y(text: str) -> str:
    return textwrap.dedent(text)


def write(path: Path, text: str | bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8")
    return path


def plugin_doc(name: str, *versions: str, kind: str = "secret", sha: str = H1) -> str:
    """A `plugins:` document with one plugin and the given versions ("" for the unversioned entry)."""
    lines = ["plugins:", f"  - name: {name}", f"    type: {kind}", "    versions:"]
    for version in versions:
        lines.append(f"      - version: '{version}'" if version else f"      - sha256: {sha}")
        if version:
            lines.append(f"        sha256: {sha}")
    return "\n".join(lines) + "\n"


def keys(desired: Desired) -> list[PluginKey]:
    return [p.key for p in desired.state.plugins]


def by_key(desired: Desired) -> dict[PluginKey, Plugin]:
    return {p.key: p for p in desired.state.plugins}


# -- the contract's example ---------------------------------------------------------------------


def test_the_contract_example_loads_into_the_expected_state(tmp_path: Path) -> None:
    path = write(tmp_path / "m.yaml", CONTRACT_EXAMPLE)
    desired = load(path)
    state = desired.state
    assert state.plugins == (
        Plugin(
            type=SECRET,
            name="kv-extra",
            version="v1.4.2",
            sha256=H1,
            command="kv-extra",
            args=("-tls-skip-verify",),
            env={"LOG_LEVEL": SecretStr("debug")},
        ),
    )
    assert state.runtimes == (Runtime(name="gvisor"),)
    assert state.pins == (Pin(type=SECRET, name="kv-extra", version="v1.4.2"),)
    assert state.settings == Settings(prune=True, ignore=("secret/legacy-*",), reload="changed", max_deletes=10)
    assert state.csi_plugins == (
        CsiPlugin(
            id="aws-ebs0",
            provider="ebs.csi.aws.com",
            version="1.5.0",
            controllers_healthy=1,
            nodes_healthy=2,
            controller_required=True,
        ),
    )
    assert desired.origins == {
        ("plugin", PluginKey(SECRET, "kv-extra", "v1.4.2")): f"{path}:5",
        ("runtime", "gvisor"): f"{path}:13",
        ("pin", (SECRET, "kv-extra")): f"{path}:21",
        "settings": f"{path}:24",
        ("nomad_csi_plugin", "aws-ebs0"): f"{path}:31",
    }


def test_env_values_are_secrets(tmp_path: Path) -> None:
    desired = load(write(tmp_path / "m.yaml", CONTRACT_EXAMPLE))
    (plugin,) = desired.state.plugins
    assert plugin.env is not None
    assert plugin.env["LOG_LEVEL"].get_secret_value() == "debug"
    assert "debug" not in repr(plugin)
    assert "debug" not in str(desired.state)


def test_validate_accepts_the_contract_example(tmp_path: Path) -> None:
    write(tmp_path / "manifests" / "m.yaml", CONTRACT_EXAMPLE)
    result = CliRunner().invoke(app, ["validate", "--manifests", str(tmp_path / "manifests")])
    assert result.exit_code == 0, result.output
    assert (
        result.stdout
        == f"{tmp_path / 'manifests'}: valid (1 plugin versions, 1 runtimes, 1 pins, 0 mounts, 1 CSI plugins)\n"
    )
    assert result.stderr == ""


def test_validate_counts_everything_across_files(tmp_path: Path) -> None:
    root = tmp_path / "manifests"
    write(root / "a.yaml", plugin_doc("kv-extra", "1.0.0", "1.1.0", ""))
    write(root / "b" / "c.yml", plugin_doc("jwt-extra", "0.1.0", kind="auth") + "---\nruntimes: [{name: gvisor}]\n")
    write(root / "d.yaml", "nomad:\n  csi_plugins: [{id: a}, {id: b}]\n")
    result = CliRunner().invoke(app, ["validate", "-m", str(root)])
    assert result.exit_code == 0, result.output
    assert result.stdout == f"{root}: valid (4 plugin versions, 1 runtimes, 0 pins, 0 mounts, 2 CSI plugins)\n"


def test_validate_accepts_a_single_file(tmp_path: Path) -> None:
    path = write(tmp_path / "only.yml", plugin_doc("kv-extra", "1.0.0"))
    result = CliRunner().invoke(app, ["validate", "--manifests", str(path)])
    assert result.exit_code == 0, result.output
    assert result.stdout == f"{path}: valid (1 plugin versions, 0 runtimes, 0 pins, 0 mounts, 0 CSI plugins)\n"


# -- defaults and normalisation -------------------------------------------------------------------


def test_defaults(tmp_path: Path) -> None:
    desired = load(write(tmp_path / "m.yaml", plugin_doc("kv-extra", "1.0.0")))
    (plugin,) = desired.state.plugins
    assert plugin.command == "kv-extra"
    assert plugin.args == ()
    assert plugin.env == {}
    assert plugin.oci_image == ""
    assert plugin.runtime == ""
    assert not plugin.builtin
    assert not plugin.declarative
    assert desired.state.settings == Settings()
    assert desired.state.runtimes == desired.state.pins == desired.state.csi_plugins == ()


def test_runtime_defaults(tmp_path: Path) -> None:
    desired = load(write(tmp_path / "m.yaml", "runtimes:\n  - name: gvisor\n"))
    assert desired.state.runtimes == (
        Runtime(type="container", name="gvisor", oci_runtime="runsc", cgroup_parent="", cpu_nanos=0, memory_bytes=0),
    )


def test_command_defaults_to_the_plugin_name_per_version(tmp_path: Path) -> None:
    text = y(f"""\
        plugins:
          - name: db-extra
            type: database
            versions:
              - version: 1.0.0
                sha256: {H1}
              - version: 2.0.0
                sha256: {H2}
                command: db-extra-2.0.0
        """)
    plugins = by_key(load(write(tmp_path / "m.yaml", text)))
    assert plugins[PluginKey(DATABASE, "db-extra", "v1.0.0")].command == "db-extra"
    assert plugins[PluginKey(DATABASE, "db-extra", "v2.0.0")].command == "db-extra-2.0.0"


@pytest.mark.parametrize(
    ("written", "normalised"),
    [
        ("1.4.2", "v1.4.2"),
        ("v1.4.2", "v1.4.2"),
        ("0.0.1", "v0.0.1"),
        ("1.0.0-rc.1", "v1.0.0-rc.1"),
        ("v2.0.0-beta+exp.sha.5114f85", "v2.0.0-beta+exp.sha.5114f85"),
        ("10.20.30", "v10.20.30"),
    ],
)
def test_version_is_normalised(tmp_path: Path, written: str, normalised: str) -> None:
    text = plugin_doc("kv-extra", written) + f"pins:\n  - {{type: secret, name: kv-extra, version: '{written}'}}\n"
    desired = load(write(tmp_path / "m.yaml", text))
    assert keys(desired) == [PluginKey(SECRET, "kv-extra", normalised)]
    assert desired.state.pins == (Pin(type=SECRET, name="kv-extra", version=normalised),)


def test_pin_written_without_v_matches_a_version_written_with_it(tmp_path: Path) -> None:
    text = plugin_doc("kv-extra", "v1.4.2") + "pins:\n  - {type: secret, name: kv-extra, version: 1.4.2}\n"
    desired = load(write(tmp_path / "m.yaml", text))
    assert desired.state.pins == (Pin(type=SECRET, name="kv-extra", version="v1.4.2"),)


@pytest.mark.parametrize("sha", [H1.upper(), H1, H1[:32].upper() + H1[32:]])
def test_sha256_is_lowercased(tmp_path: Path, sha: str) -> None:
    (plugin,) = load(write(tmp_path / "m.yaml", plugin_doc("kv-extra", "1.0.0", sha=sha))).state.plugins
    assert plugin.sha256 == H1


def test_all_digit_sha256_quoted_is_a_string(tmp_path: Path) -> None:
    digits = "1234567890" * 6 + "1234"
    (plugin,) = load(write(tmp_path / "m.yaml", plugin_doc("kv-extra", "1.0.0", sha=f"'{digits}'"))).state.plugins
    assert plugin.sha256 == digits


def test_unversioned_entries(tmp_path: Path) -> None:
    text = y(f"""\
        plugins:
          - name: kv-extra
            type: secret
            versions:
              - sha256: {H1}
              - version: 1.0.0
                sha256: {H2}
          - name: kv-extra
            type: auth
            versions:
              - version:
                sha256: {H2}
          - name: kv-extra
            type: database
            versions:
              - version: ""
                sha256: {H3}
        """)
    desired = load(write(tmp_path / "m.yaml", text))
    assert keys(desired) == [
        PluginKey(SECRET, "kv-extra", ""),
        PluginKey(SECRET, "kv-extra", "v1.0.0"),
        PluginKey(AUTH, "kv-extra", ""),
        PluginKey(DATABASE, "kv-extra", ""),
    ]
    assert desired.origins[("plugin", PluginKey(SECRET, "kv-extra", ""))] == f"{tmp_path / 'm.yaml'}:5"
    assert desired.origins[("plugin", PluginKey(DATABASE, "kv-extra", ""))] == f"{tmp_path / 'm.yaml'}:16"


def test_same_name_in_every_type_and_many_versions(tmp_path: Path) -> None:
    text = (
        plugin_doc("x", "1.0.0", "1.0.1", "2.0.0-rc.1")
        + "---\n"
        + plugin_doc("x", "1.0.0", kind="auth")
        + "---\n"
        + plugin_doc("x", "1.0.0", kind="database")
    )
    desired = load(write(tmp_path / "m.yaml", text))
    assert len(desired.state.plugins) == 5
    assert {p.type for p in desired.state.plugins} == {SECRET, AUTH, DATABASE}


# -- documents, files and folders -----------------------------------------------------------------


def test_multi_document_file_merges_lists(tmp_path: Path) -> None:
    text = (
        "# leading comment\n"
        "---\n"
        + plugin_doc("kv-extra", "1.0.0")
        + "---\n"
        + plugin_doc("jwt-extra", "0.1.0", kind="auth")
        + "runtimes:\n  - name: gvisor\n"
        + "---\n"
        + "---\n"
        + "# an empty document above, a null one here\n"
        + "~\n"
        + "---\n"
        + "runtimes:\n  - name: kata\n    oci_runtime: kata-runtime\n"
        + "pins:\n  - {type: auth, name: jwt-extra, version: 0.1.0}\n"
        + "...\n"
    )
    path = write(tmp_path / "m.yaml", text)
    desired = load(path)
    assert keys(desired) == [PluginKey(SECRET, "kv-extra", "v1.0.0"), PluginKey(AUTH, "jwt-extra", "v0.1.0")]
    assert [r.name for r in desired.state.runtimes] == ["gvisor", "kata"]
    assert desired.state.pins == (Pin(type=AUTH, name="jwt-extra", version="v0.1.0"),)
    assert desired.origins[("plugin", PluginKey(SECRET, "kv-extra", "v1.0.0"))] == f"{path}:7"
    assert desired.origins[("plugin", PluginKey(AUTH, "jwt-extra", "v0.1.0"))] == f"{path}:14"
    assert desired.origins[("runtime", "kata")] == f"{path}:24"


def test_lists_merge_across_files_in_sorted_order(tmp_path: Path) -> None:
    root = tmp_path / "manifests"
    write(root / "b.yaml", plugin_doc("b", "1.0.0"))
    write(root / "a" / "z.yml", plugin_doc("az", "1.0.0"))
    write(root / "c.yml", plugin_doc("c", "1.0.0") + "runtimes: [{name: gvisor}]\n")
    write(root / "a.yaml", plugin_doc("a", "1.0.0", "2.0.0") + "pins: [{type: secret, name: b, version: 1.0.0}]\n")
    write(
        root / "deep" / "er" / "d.yaml", "runtimes: [{name: kata}]\npins: [{type: secret, name: c, version: 1.0.0}]\n"
    )
    desired = load(root)
    assert [(p.name, p.version) for p in desired.state.plugins] == [
        ("az", "v1.0.0"),
        ("a", "v1.0.0"),
        ("a", "v2.0.0"),
        ("b", "v1.0.0"),
        ("c", "v1.0.0"),
    ]
    assert [r.name for r in desired.state.runtimes] == ["gvisor", "kata"]
    assert [p.name for p in desired.state.pins] == ["b", "c"]
    assert desired.origins[("plugin", PluginKey(SECRET, "az", "v1.0.0"))] == f"{root / 'a' / 'z.yml'}:5"


def test_references_resolve_across_files(tmp_path: Path) -> None:
    root = tmp_path / "m"
    write(root / "settings.yaml", "settings:\n  ignore: ['secret/legacy-*', 'auth/*-old']\n  reload: changed\n")
    write(root / "runtimes.yaml", "runtimes:\n  - name: gvisor\n    rootless: true\n    cpu_nanos: 1000000000\n")
    write(
        root / "plugins.yaml",
        y(f"""\
            plugins:
              - name: kv-extra
                type: secret
                versions:
                  - version: 1.4.2
                    sha256: {H1}
                    oci_image: ghcr.io/example/kv-extra
                    runtime: gvisor
            """),
    )
    write(root / "pins.yaml", "pins:\n  - type: secret\n    name: kv-extra\n    version: v1.4.2\n")
    desired = load(root)
    (plugin,) = desired.state.plugins
    assert (plugin.oci_image, plugin.runtime) == ("ghcr.io/example/kv-extra", "gvisor")
    assert desired.state.runtimes == (Runtime(name="gvisor", rootless=True, cpu_nanos=1_000_000_000),)
    assert desired.state.pins == (Pin(type=SECRET, name="kv-extra", version="v1.4.2"),)
    assert desired.state.settings.ignore == ("secret/legacy-*", "auth/*-old")


def test_yml_and_yaml_in_any_case_are_read(tmp_path: Path) -> None:
    root = tmp_path / "manifests"
    write(root / "one.yaml", plugin_doc("one", "1.0.0"))
    write(root / "two.yml", plugin_doc("two", "1.0.0"))
    write(root / "sub" / "Three.YAML", plugin_doc("three", "1.0.0"))
    write(root / "Four.Yml", plugin_doc("four", "1.0.0"))
    assert sorted(p.name for p in load(root).state.plugins) == ["four", "one", "three", "two"]


def test_hidden_files_and_folders_are_skipped(tmp_path: Path) -> None:
    root = tmp_path / "manifests"
    write(root / "visible.yaml", plugin_doc("visible", "1.0.0"))
    write(root / ".hidden.yaml", "plugins: [broken\n")
    write(root / ".git" / "hooks.yaml", "plugins: [broken\n")
    write(root / "sub" / ".cache" / "x.yml", "plugins: [broken\n")
    write(root / "sub" / "ok.yml", plugin_doc("ok", "1.0.0"))
    assert sorted(p.name for p in load(root).state.plugins) == ["ok", "visible"]


def test_a_hidden_folder_given_explicitly_is_read(tmp_path: Path) -> None:
    root = tmp_path / ".manifests"
    write(root / "m.yaml", plugin_doc("kv-extra", "1.0.0"))
    assert keys(load(root)) == [PluginKey(SECRET, "kv-extra", "v1.0.0")]


def test_a_symlinked_manifest_is_read(tmp_path: Path) -> None:
    shared = write(tmp_path / "shared" / "common.yaml", "runtimes: [{name: gvisor}]\n")
    root = tmp_path / "manifests"
    write(root / "m.yaml", plugin_doc("kv-extra", "1.0.0"))
    (root / "common.yaml").symlink_to(shared)
    assert [r.name for r in load(root).state.runtimes] == ["gvisor"]


def test_a_folder_named_like_a_manifest_is_searched(tmp_path: Path) -> None:
    root = tmp_path / "manifests"
    write(root / "plugins.yaml" / "kv.yaml", plugin_doc("kv-extra", "1.0.0"))
    assert keys(load(root)) == [PluginKey(SECRET, "kv-extra", "v1.0.0")]


def test_comment_only_and_empty_files_are_valid(tmp_path: Path) -> None:
    root = tmp_path / "manifests"
    write(root / "empty.yaml", "")
    write(root / "comments.yaml", "# nothing declared here yet\n")
    write(root / "nulls.yaml", "---\n---\nnull\n")
    write(root / "empty-lists.yaml", "plugins: []\nruntimes: []\npins: []\nnomad: {csi_plugins: []}\n")
    state = load(root).state
    assert state.plugins == state.runtimes == state.pins == state.csi_plugins == ()
    assert state.settings == Settings()


# -- encodings and line endings -------------------------------------------------------------------


def test_utf8_bom_is_accepted_and_lines_stay_right(tmp_path: Path) -> None:
    path = write(tmp_path / "m.yaml", b"\xef\xbb\xbf" + plugin_doc("kv-extra", "1.0.0").encode())
    desired = load(path)
    assert desired.origins == {("plugin", PluginKey(SECRET, "kv-extra", "v1.0.0")): f"{path}:5"}


def test_crlf_line_endings(tmp_path: Path) -> None:
    path = write(tmp_path / "m.yaml", plugin_doc("kv-extra", "", "1.0.0").replace("\n", "\r\n").encode())
    desired = load(path)
    assert desired.origins[("plugin", PluginKey(SECRET, "kv-extra", "v1.0.0"))] == f"{path}:6"


def test_non_ascii_utf8_text(tmp_path: Path) -> None:
    text = plugin_doc("kv-extra", "1.0.0") + "        env: {GREETING: 'grüß dich ✓'}\n        args: ['--name=café']\n"
    (plugin,) = load(write(tmp_path / "m.yaml", text)).state.plugins
    assert plugin.env is not None
    assert plugin.env["GREETING"].get_secret_value() == "grüß dich ✓"
    assert plugin.args == ("--name=café",)


# -- anchors and aliases --------------------------------------------------------------------------


def test_reasonable_anchors_and_aliases(tmp_path: Path) -> None:
    text = y(f"""\
        plugins:
          - name: kv-extra
            type: secret
            versions:
              - version: 1.0.0
                sha256: &sha {H1}
                args: &args ["-tls-skip-verify", "-log-level=debug"]
                env: &env
                  LOG_LEVEL: debug
                  REGION: eu-west-1
              - version: 1.0.1
                sha256: *sha
                args: *args
                env: *env
          - name: kv-extra
            type: auth
            versions: &versions
              - version: 2.0.0
                sha256: {H2}
          - name: kv-other
            type: auth
            versions: *versions
        """)
    path = write(tmp_path / "m.yaml", text)
    desired = load(path)
    plugins = by_key(desired)
    first, second = plugins[PluginKey(SECRET, "kv-extra", "v1.0.0")], plugins[PluginKey(SECRET, "kv-extra", "v1.0.1")]
    assert first.sha256 == second.sha256 == H1
    assert first.args == second.args == ("-tls-skip-verify", "-log-level=debug")
    assert second.env is not None
    assert {k: v.get_secret_value() for k, v in second.env.items()} == {"LOG_LEVEL": "debug", "REGION": "eu-west-1"}
    assert plugins[PluginKey(AUTH, "kv-other", "v2.0.0")].command == "kv-other"
    # Something reached through an alias is declared where the alias is.
    assert desired.origins[("plugin", PluginKey(AUTH, "kv-extra", "v2.0.0"))] == f"{path}:18"
    assert desired.origins[("plugin", PluginKey(AUTH, "kv-other", "v2.0.0"))] == f"{path}:22"


def test_an_anchor_reused_many_times_stays_within_the_budget(tmp_path: Path) -> None:
    lines = ["plugins:", "  - name: kv-extra", "    type: secret", "    versions:"]
    lines.append(f"      - {{version: 1.0.0, sha256: &h {H1}, args: &a [a, b, c, d, e, f, g, h]}}")
    lines.extend(f"      - {{version: 1.0.{i}, sha256: *h, args: *a}}" for i in range(1, 500))
    desired = load(write(tmp_path / "m.yaml", "\n".join(lines) + "\n"))
    assert len(desired.state.plugins) == 500
    assert all(p.args == ("a", "b", "c", "d", "e", "f", "g", "h") for p in desired.state.plugins)


# -- scale ----------------------------------------------------------------------------------------


def test_a_large_catalog(tmp_path: Path) -> None:
    root = tmp_path / "manifests"
    for f in range(20):
        docs = [
            plugin_doc(f"p{f}-{d}", "", "1.0.0", "1.1.0", kind=("auth", "database", "secret")[d % 3]) for d in range(25)
        ]
        write(root / f"f{f:02}.yaml", "---\n".join(docs))
    state = load(root).state
    assert len(state.plugins) == 20 * 25 * 3
    assert len({p.key for p in state.plugins}) == len(state.plugins)


def test_a_flood_of_problems_is_capped_but_counted(tmp_path: Path) -> None:
    from tests.cli import reconcile

    text = "plugins:\n" + "".join(f"  - {{name: p{i}, type: nope, versions: []}}\n" for i in range(150))
    (tmp_path / "m.yaml").write_text(text)
    r = reconcile("validate", "--manifests", tmp_path)
    assert r.exit_code == 1
    lines = r.stderr.splitlines()
    assert lines[-1] == "300 problems in the manifests"
    assert lines[-2] == "... and 100 more"
    assert len(lines) == 202


def test_twenty_thousand_plain_plugin_entries_load(tmp_path: Path) -> None:
    """The alias budget counts what aliases add: plain entries are bounded by the file size only."""
    text = "plugins:\n" + "".join(
        f"  - {{name: p{i}, type: secret, versions: [{{sha256: {H1}}}]}}\n" for i in range(20_000)
    )
    assert len(load(write(tmp_path / "m.yaml", text)).state.plugins) == 20_000


def test_twenty_thousand_versions_load(tmp_path: Path) -> None:
    lines = [f"      - {{version: 1.{i // 1000}.{i % 1000}, sha256: {H1}}}\n" for i in range(20_000)]
    text = "plugins:\n  - name: kv-extra\n    type: secret\n    versions:\n" + "".join(lines)
    assert len(load(write(tmp_path / "m.yaml", text)).state.plugins) == 20_000


def _alias_bomb(levels: int = 9) -> str:
    lines = ["a: &a [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]"]
    names = "abcdefghijklmnop"
    for prev, cur in itertools.pairwise(names[: levels + 1]):
        lines.append(f"{cur}: &{cur} [" + ", ".join([f"*{prev}"] * 10) + "]")
    return "\n".join(lines) + "\n"


def _count_conversions(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Count the nodes the loader visits: the work a bomb makes it do, independent of the machine."""
    visited = [0]
    convert = loader._Converter.convert

    def counting(self: loader._Converter, node: object, at: tuple[str | int, ...], alias: int = 0) -> object:
        visited[0] += 1
        return convert(self, node, at, alias)  # type: ignore[arg-type]

    monkeypatch.setattr(loader._Converter, "convert", counting)
    return visited


def test_a_billion_laughs_is_rejected_after_bounded_work(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    visited = _count_conversions(monkeypatch)
    with pytest.raises(ManifestError) as caught:
        load(write(tmp_path / "bomb.yaml", _alias_bomb()))  # 10**9 values if expanded
    assert [d.message for d in caught.value.diagnostics][-1].endswith("(an alias bomb?)")
    assert visited[0] <= MAX_NODES + 200


def test_the_alias_budget_is_per_file_not_per_document(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Many documents that each stay under the budget still add up to a bomb."""
    document = _alias_bomb(levels=3)  # 12,330 values through aliases: well under the budget
    visited = _count_conversions(monkeypatch)
    with pytest.raises(ManifestError) as caught:
        load(write(tmp_path / "many.yaml", "---\n".join([document] * 50)))
    messages = [d.message for d in caught.value.diagnostics]
    assert messages.count(f"aliases expand to more than {MAX_NODES} values (an alias bomb?)") == 1
    assert visited[0] <= 2 * MAX_NODES


# -- discovery: every file and folder is read, or is an error -------------------------------------


def test_a_symlinked_folder_is_followed(tmp_path: Path) -> None:
    shared = tmp_path / "shared"
    write(shared / "kv.yaml", plugin_doc("kv-shared", "1.0.0"))
    write(shared / "deeper" / "auth.yml", plugin_doc("auth-shared", "1.0.0", kind="auth"))
    root = tmp_path / "manifests"
    write(root / "m.yaml", plugin_doc("kv-extra", "1.0.0"))
    (root / "team").symlink_to(shared)
    desired = load(root)
    assert sorted(p.name for p in desired.state.plugins) == ["auth-shared", "kv-extra", "kv-shared"]
    assert desired.origins[("plugin", PluginKey(AUTH, "auth-shared", "v1.0.0"))] == f"{root}/team/deeper/auth.yml:5"


def test_a_folder_linked_twice_is_read_twice_and_says_so(tmp_path: Path) -> None:
    """Not a loop, but every entry in it is then declared twice: an error naming both places."""
    write(tmp_path / "shared" / "kv.yaml", plugin_doc("kv-shared", "1.0.0"))
    root = tmp_path / "manifests"
    root.mkdir()
    (root / "a").symlink_to(tmp_path / "shared")
    (root / "b").symlink_to(tmp_path / "shared")
    with pytest.raises(ManifestError) as caught:
        load(root)
    assert [str(d) for d in caught.value.diagnostics] == [
        f"{root}/b/kv.yaml:5: duplicate plugin secret/kv-shared v1.0.0: already declared at {root}/a/kv.yaml:5"
    ]


def test_a_deep_tree_is_searched(tmp_path: Path) -> None:
    root = tmp_path / "manifests"
    deep = root.joinpath(*["d"] * 200)
    write(deep / "m.yaml", plugin_doc("kv-deep", "1.0.0"))
    assert keys(load(root)) == [PluginKey(SECRET, "kv-deep", "v1.0.0")]


def test_files_are_listed_in_sorted_order_across_linked_folders(tmp_path: Path) -> None:
    write(tmp_path / "elsewhere" / "x.yaml", "")
    root = tmp_path / "manifests"
    write(root / "b.yaml", "")
    write(root / "a" / "z.yml", "")
    (root / "c").symlink_to(tmp_path / "elsewhere")
    files, problems = discover(root)
    assert (files, problems) == ([root / "a" / "z.yml", root / "b.yaml", root / "c" / "x.yaml"], [])


@contextmanager
def permissions_apply() -> Iterator[None]:
    """As root, act as `nobody` for a moment, so that file modes really stop reads.

    Root's CAP_DAC_OVERRIDE ignores `chmod 000`; dropping the effective uid (and with it every
    capability) makes the very same code meet a real EACCES. Non-root users meet it anyway.
    """
    if os.geteuid() != 0:
        yield
        return
    os.setegid(65534)
    os.seteuid(65534)
    try:
        yield
    finally:
        os.seteuid(0)
        os.setegid(0)


@pytest.fixture
def world_readable_tmp() -> Iterator[Path]:
    """A folder `nobody` can reach (pytest's tmp_path is private to root)."""
    path = Path(tempfile.mkdtemp(prefix="reconcile-loader-"))
    path.chmod(0o755)
    try:
        yield path
    finally:
        for folder, _, _ in os.walk(path):
            os.chmod(folder, 0o755)
        shutil.rmtree(path)


def test_an_unreadable_folder_is_an_error_not_a_skip(world_readable_tmp: Path) -> None:
    root = world_readable_tmp / "manifests"
    write(root / "ok.yaml", plugin_doc("kv-extra", "1.0.0"))
    write(root / "team" / "auth.yaml", plugin_doc("auth-x", "1.0.0", kind="auth"))
    write(root / "locked.yaml", plugin_doc("kv-locked", "1.0.0"))
    for path in (root, root / "ok.yaml", root / "team" / "auth.yaml"):
        path.chmod(0o755 if path.is_dir() else 0o644)
    (root / "team").chmod(0)
    (root / "locked.yaml").chmod(0)
    with permissions_apply(), pytest.raises(ManifestError) as caught:
        load(root)
    assert [str(d) for d in caught.value.diagnostics] == [
        f"{root}/locked.yaml: cannot read: Permission denied",
        f"{root}/team: cannot read: Permission denied",
    ]


def test_an_unreadable_manifests_folder_is_an_error(world_readable_tmp: Path) -> None:
    root = world_readable_tmp / "manifests"
    write(root / "ok.yaml", plugin_doc("kv-extra", "1.0.0"))
    root.chmod(0)
    with permissions_apply():
        files, problems = discover(root)
    assert (files, [str(p) for p in problems]) == ([], [f"{root}: cannot read: Permission denied"])


def test_stray_files_are_errors_and_nothing_is_sent(tmp_path: Path) -> None:
    """A plan against a server with problems in the manifests never connects (nothing listens here)."""
    from tests.cli import reconcile
    from tests.servers import free_port

    root = tmp_path / "manifests"
    write(root / "m.yaml", plugin_doc("kv-extra", "1.0.0"))
    write(root / "README.md", "# our plugins\n")
    env = {"VAULT_ADDR": f"http://127.0.0.1:{free_port()}", "VAULT_TOKEN": "t"}
    for command in (["plan"], ["apply", "--auto-approve"]):
        r = reconcile(*command, "--manifests", root, env=env)
        assert (r.exit_code, r.stdout) == (1, "")
        assert r.stderr == f"{root}/README.md: {NOT_A_MANIFEST}\n1 problem in the manifests\n"
