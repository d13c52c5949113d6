"""Good manifests: what `reconciler.loader.load` makes of them, and `reconcile validate` accepting them."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
from pydantic import SecretStr
from typer.testing import CliRunner

from reconciler.cli import app
from reconciler.loader import load
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
    assert state.mounts == ()
    assert desired.origins == {
        PluginKey(SECRET, "kv-extra", "v1.4.2"): f"{path}:5",
        ("runtime", "gvisor"): f"{path}:13",
        ("pin", (SECRET, "kv-extra")): f"{path}:21",
        "settings": f"{path}:24",
        ("csi", "aws-ebs0"): f"{path}:31",
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
    assert result.stdout == f"{tmp_path / 'manifests'}: valid (1 plugin versions, 1 runtimes, 1 pins, 1 CSI plugins)\n"
    assert result.stderr == ""


def test_validate_counts_everything_across_files(tmp_path: Path) -> None:
    root = tmp_path / "manifests"
    write(root / "a.yaml", plugin_doc("kv-extra", "1.0.0", "1.1.0", ""))
    write(root / "b" / "c.yml", plugin_doc("jwt-extra", "0.1.0", kind="auth") + "---\nruntimes: [{name: gvisor}]\n")
    write(root / "d.yaml", "nomad:\n  csi_plugins: [{id: a}, {id: b}]\n")
    result = CliRunner().invoke(app, ["validate", "-m", str(root)])
    assert result.exit_code == 0, result.output
    assert result.stdout == f"{root}: valid (4 plugin versions, 1 runtimes, 0 pins, 2 CSI plugins)\n"


def test_validate_accepts_a_single_file(tmp_path: Path) -> None:
    path = write(tmp_path / "only.yml", plugin_doc("kv-extra", "1.0.0"))
    result = CliRunner().invoke(app, ["validate", "--manifests", str(path)])
    assert result.exit_code == 0, result.output
    assert result.stdout == f"{path}: valid (1 plugin versions, 0 runtimes, 0 pins, 0 CSI plugins)\n"


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
    assert desired.origins[PluginKey(SECRET, "kv-extra", "")] == f"{tmp_path / 'm.yaml'}:5"
    assert desired.origins[PluginKey(DATABASE, "kv-extra", "")] == f"{tmp_path / 'm.yaml'}:16"


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
    assert desired.origins[PluginKey(SECRET, "kv-extra", "v1.0.0")] == f"{path}:7"
    assert desired.origins[PluginKey(AUTH, "jwt-extra", "v0.1.0")] == f"{path}:14"
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
    assert desired.origins[PluginKey(SECRET, "az", "v1.0.0")] == f"{root / 'a' / 'z.yml'}:5"


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


def test_yml_and_yaml_both_read_and_other_files_ignored(tmp_path: Path) -> None:
    root = tmp_path / "manifests"
    write(root / "one.yaml", plugin_doc("one", "1.0.0"))
    write(root / "two.yml", plugin_doc("two", "1.0.0"))
    for name in ("README.md", "notes.txt", "three.json", "four.yaml.bak", "five.yaml~", "six.yamlx", "Makefile"):
        write(root / name, "plugins: [this is not a manifest\n\t")
    assert sorted(p.name for p in load(root).state.plugins) == ["one", "two"]


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
    assert desired.origins == {PluginKey(SECRET, "kv-extra", "v1.0.0"): f"{path}:5"}


def test_crlf_line_endings(tmp_path: Path) -> None:
    path = write(tmp_path / "m.yaml", plugin_doc("kv-extra", "", "1.0.0").replace("\n", "\r\n").encode())
    desired = load(path)
    assert desired.origins[PluginKey(SECRET, "kv-extra", "v1.0.0")] == f"{path}:6"


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
    assert desired.origins[PluginKey(AUTH, "kv-extra", "v2.0.0")] == f"{path}:18"
    assert desired.origins[PluginKey(AUTH, "kv-other", "v2.0.0")] == f"{path}:22"


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
