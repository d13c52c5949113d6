"""A corpus of bad manifests, run through `reconcile validate`: every diagnostic's exact line and
exact message, exit code 1, and the closing count line.

Each case writes its files under a fresh folder and validates that folder (or `target` in it).
Diagnostics are expected in the order the CLI prints them: by path, then line, then message.
"""

from __future__ import annotations

import os
import textwrap
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from reconciler.cli import app
from reconciler.discovery import NOT_A_MANIFEST
from reconciler.loader import MAX_DEPTH, MAX_FILE_BYTES, MAX_NODES

H1 = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"
H2 = "60303ae22b998861bce3b28f33eec1be758a213c86c93c076dbe9f558c11c752"
NAME_RULE = "use letters, digits, '_', '-' and '.', starting and ending with a letter, digit or '_'"
SEMVER_RULE = "is not a valid semantic version (MAJOR.MINOR.PATCH[-PRERELEASE][+BUILD])"


def y(text: str) -> str:
    """A YAML text written indented in the test; line 1 is the first line after the opening quotes."""
    return textwrap.dedent(text)


Expected = tuple[str, int, str]
"""(file relative to the case folder, "" for the folder itself; line, 0 for file-level; message)."""


@dataclass(frozen=True)
class Case:
    files: Mapping[str, str | bytes]
    expected: Sequence[Expected]
    target: str = ""
    setup: Callable[[Path], None] | None = field(default=None, compare=False)


def validate(target: Path) -> Result:
    return CliRunner().invoke(app, ["validate", "--manifests", str(target)])


def write_files(root: Path, files: Mapping[str, str | bytes]) -> None:
    root.mkdir(parents=True, exist_ok=True)
    for rel, content in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content, encoding="utf-8")


def assert_diagnostics(result: Result, root: Path, expected: Sequence[Expected]) -> None:
    """Exit 1, nothing on stdout, exactly the expected diagnostics in order, then the count line."""
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    assert result.exit_code == 1, result.output
    assert result.stdout == ""
    *lines, summary = result.stderr.splitlines()
    noun = "problem" if len(expected) == 1 else "problems"
    assert summary == f"{len(expected)} {noun} in the manifests", result.stderr
    assert len(lines) == len(expected), result.stderr
    for got, (rel, line, message) in zip(lines, expected, strict=True):
        prefix = str(root / rel) + (f":{line}: " if line else ": ")
        assert got.startswith(prefix), f"{got!r} does not start with {prefix!r}"
        assert got[len(prefix) :] == message, got


def plugin_with(version_lines: str, *, name: str = "kv-extra", kind: str = "secret") -> str:
    """One plugin with one version whose keys are `version_lines` (lines 5 on)."""
    body = textwrap.indent(textwrap.dedent(version_lines), " " * 8).lstrip()
    return f"plugins:\n  - name: {name}\n    type: {kind}\n    versions:\n      - {body}"


def _alias_bomb() -> str:
    lines = ["a: &a [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]"]
    for prev, cur in zip("abcdefgh", "bcdefghi", strict=True):
        lines.append(f"{cur}: &{cur} [" + ", ".join([f"*{prev}"] * 10) + "]")
    return "\n".join(lines) + "\n"


def _broken_symlink(root: Path) -> None:
    (root / "gone.yaml").symlink_to(root / "never-written.yaml")


def _symlink_loop(root: Path) -> None:
    (root / "loop.yaml").symlink_to(root / "loop.yaml")


def _fifo(root: Path) -> None:
    os.mkfifo(root / "pipe.yaml")


def _empty_dir_named_yaml(root: Path) -> None:
    (root / "x.yaml").mkdir()


def _folder_link_to_root(root: Path) -> None:
    (root / "sub" / "back").symlink_to("..")


def _folder_link_to_itself(root: Path) -> None:
    (root / "here").symlink_to(".")


def _fifo_not_named_yaml(root: Path) -> None:
    os.mkfifo(root / "pipe")


def _link_to_proc_mem(root: Path) -> None:
    """A file even root cannot read: /proc/self/mem fails with EIO at offset 0."""
    (root / "mem.yaml").symlink_to("/proc/self/mem")


def _folder_link_to_proc_mem(root: Path) -> None:
    (root / "shared").symlink_to("/proc/self/mem")


def _broken_folder_link(root: Path) -> None:
    (root / "shared").symlink_to(root.parent / "not-checked-out")


def _nested(depth: int) -> str:
    return "plugins: " + "[" * depth + "]" * depth + "\n"


NOT_SEMVER = f"plugins[0].versions[0].version: version {{!r}} {SEMVER_RULE}"


CASES = [
    # -- YAML syntax ---------------------------------------------------------------------------
    pytest.param(
        Case(
            {"m.yaml": "plugins: [\n  - name: kv-extra\n"},
            [("m.yaml", 2, "invalid YAML: expected the node content, but found '-' (while parsing a flow node)")],
        ),
        id="syntax-block-item-in-flow-list",
    ),
    pytest.param(
        Case(
            {
                "m.yaml": y("""\
                plugins:
                  - name: "kv-extra
                    type: secret


                """)
            },
            [
                (
                    "m.yaml",
                    6,
                    "invalid YAML: found unexpected end of stream "
                    "(while scanning a quoted scalar that starts at line 2)",
                )
            ],
        ),
        id="syntax-unclosed-quote",
    ),
    pytest.param(
        Case(
            {
                "m.yaml": y("""\
                plugins:
                  - name: kv-extra
                   type: secret
                """)
            },
            [
                (
                    "m.yaml",
                    3,
                    "invalid YAML: expected <block end>, but found '<block mapping start>' "
                    "(while parsing a block collection that starts at line 2)",
                )
            ],
        ),
        id="syntax-bad-indentation",
    ),
    pytest.param(
        Case(
            {"m.yaml": "plugins: kv-extra: secret\n"},
            [("m.yaml", 1, "invalid YAML: mapping values are not allowed here")],
        ),
        id="syntax-two-colons",
    ),
    pytest.param(
        Case(
            {"m.yaml": "plugins:\n\t- name: kv-extra\n"},
            [("m.yaml", 2, "tab character: YAML indentation must use spaces")],
        ),
        id="tab-indentation",
    ),
    pytest.param(
        Case(
            {"m.yaml": "plugins: []\nsettings:\n  prune: true\n  ignore:\n\t- secret/x\n"},
            [("m.yaml", 5, "tab character: YAML indentation must use spaces")],
        ),
        id="tab-indentation-deeper",
    ),
    pytest.param(
        Case(
            {"m.yaml": "plugins:\n  - name: kv\x07extra\n"},
            [("m.yaml", 2, "invalid YAML: control character U+0007 is not allowed")],
        ),
        id="control-character",
    ),
    pytest.param(
        Case({"m.yaml": "plugins: *nowhere\n"}, [("m.yaml", 1, "invalid YAML: found undefined alias 'nowhere'")]),
        id="undefined-alias",
    ),
    pytest.param(
        Case(
            {"m.yaml": "runtimes: &r []\npins: &r []\n"},
            [("m.yaml", 2, "invalid YAML: duplicate anchor 'r' (first at line 1)")],
        ),
        id="duplicate-anchor",
    ),
    pytest.param(
        Case(
            {"m.yaml": b"plugins:\n  - name: kv-extra\n    type: secret\n  - name: caf\xe9\n"},
            [("m.yaml", 4, "not valid UTF-8 (byte 0xe9)")],
        ),
        id="non-utf8-byte",
    ),
    pytest.param(
        Case(
            {"m.yaml": "\ufeff".encode("utf-16-le") + b"p\x00:\x00"},
            [("m.yaml", 1, "not valid UTF-8 (byte 0xff)")],
        ),
        id="utf16-file",
    ),
    # -- wrong types ---------------------------------------------------------------------------
    pytest.param(
        Case({"m.yaml": "plugins: kv-extra\n"}, [("m.yaml", 1, "plugins: expected a list, got a string")]),
        id="string-where-list",
    ),
    pytest.param(
        Case({"m.yaml": "plugins:\n"}, [("m.yaml", 1, "plugins: expected a list, got nothing (null)")]),
        id="null-where-list",
    ),
    pytest.param(
        Case(
            {"m.yaml": "plugins:\n  - kv-extra\n"},
            [("m.yaml", 2, "plugins[0]: expected a mapping, got a string")],
        ),
        id="string-where-mapping",
    ),
    pytest.param(
        Case(
            {"m.yaml": plugin_with(f"version: 1.10\nsha256: {H1}\n")},
            [
                (
                    "m.yaml",
                    5,
                    "plugins[0].versions[0].version: expected a string, got a decimal number (quote it: '1.10')",
                )
            ],
        ),
        id="version-is-a-float",
    ),
    pytest.param(
        Case(
            {"m.yaml": plugin_with(f"sha256: {H1}\nversion: 2\n")},
            [("m.yaml", 6, "plugins[0].versions[0].version: expected a string, got a number (quote it: '2')")],
        ),
        id="version-is-an-int",
    ),
    pytest.param(
        Case(
            {"m.yaml": plugin_with(f"version: 2024-01-31\nsha256: {H1}\n")},
            [
                (
                    "m.yaml",
                    5,
                    "plugins[0].versions[0].version: expected a string, got a date (quote it: '2024-01-31')",
                )
            ],
        ),
        id="version-is-a-date",
    ),
    pytest.param(
        Case(
            {"m.yaml": plugin_with("sha256: yes\n")},
            [("m.yaml", 5, "plugins[0].versions[0].sha256: expected a string, got a boolean (quote it: 'yes')")],
        ),
        id="sha256-is-a-bool",
    ),
    pytest.param(
        Case(
            {"m.yaml": plugin_with(f"sha256: {H1}\nargs: -tls-skip-verify\n")},
            [("m.yaml", 6, "plugins[0].versions[0].args: expected a list, got a string")],
        ),
        id="args-is-a-string",
    ),
    pytest.param(
        Case(
            {"m.yaml": plugin_with(f"sha256: {H1}\nenv:\n  LOG_LEVEL: debug\n  RETRIES: 3\n  VERBOSE: true\n")},
            [
                ("m.yaml", 8, "plugins[0].versions[0].env.RETRIES: expected a string, got a number (quote the value)"),
                ("m.yaml", 9, "plugins[0].versions[0].env.VERBOSE: expected a string, got a boolean (quote the value)"),
            ],
        ),
        id="env-values-not-strings",
    ),
    pytest.param(
        Case(
            {"m.yaml": plugin_with(f"sha256: {H1}\nenv: [LOG_LEVEL=debug]\n")},
            [("m.yaml", 6, "plugins[0].versions[0].env: expected a mapping, got a list")],
        ),
        id="env-is-a-list",
    ),
    pytest.param(
        Case(
            {"m.yaml": "plugins:\n  - name: 1234\n    type: secret\n    versions:\n      - sha256: " + H1 + "\n"},
            [("m.yaml", 2, "plugins[0].name: expected a string, got a number (quote it: '1234')")],
        ),
        id="name-is-a-number",
    ),
    pytest.param(
        Case(
            {"m.yaml": "runtimes:\n  - name: gvisor\n    cpu_nanos: 1.5\n    rootless: 'no'\n"},
            [
                ("m.yaml", 3, "runtimes[0].cpu_nanos: expected a whole number, got a decimal number"),
                ("m.yaml", 4, "runtimes[0].rootless: expected true or false, got a string"),
            ],
        ),
        id="runtime-number-and-bool-types",
    ),
    pytest.param(
        Case(
            {"m.yaml": "settings:\n  max_deletes: '10'\n  reload: always\n"},
            [
                ("m.yaml", 2, "settings.max_deletes: expected a whole number, got a string"),
                ("m.yaml", 3, "settings.reload: must be one of 'none' or 'changed', got 'always'"),
            ],
        ),
        id="settings-types",
    ),
    pytest.param(
        Case({"m.yaml": "settings:\n  - prune: true\n"}, [("m.yaml", 1, "settings: expected a mapping, got a list")]),
        id="settings-is-a-list",
    ),
    pytest.param(
        Case(
            {"m.yaml": "settings:\n  max_deletes: !!int ten\n"},
            [("m.yaml", 2, "invalid value 'ten' for the tag !!int")],
        ),
        id="explicit-tag-bad-value",
    ),
    pytest.param(
        Case(
            {"m.yaml": "settings:\n  prune: !!python/name:os.system\n"},
            [
                (
                    "m.yaml",
                    2,
                    "invalid value: could not determine a constructor for the tag "
                    "'tag:yaml.org,2002:python/name:os.system'",
                )
            ],
        ),
        id="python-tag-refused",
    ),
    # -- unknown keys (did you mean) -------------------------------------------------------------
    pytest.param(
        Case(
            {"m.yaml": "plugin:\n  - name: kv-extra\n"},
            [("m.yaml", 1, "plugin: unknown key (did you mean 'plugins'?)")],
        ),
        id="unknown-key-top-level",
    ),
    pytest.param(
        Case(
            {"m.yaml": "name: kv-extra\nplugins: []\n"},
            [("m.yaml", 1, "name: unknown key")],
        ),
        id="unknown-key-top-level-without-a-close-match",
    ),
    pytest.param(
        Case(
            {"m.yaml": f"plugins:\n  - name: kv-extra\n    type: secret\n    verisons:\n      - sha256: {H1}\n"},
            [
                ("m.yaml", 2, "plugins[0].versions: missing required key"),
                ("m.yaml", 4, "plugins[0].verisons: unknown key (did you mean 'versions'?)"),
            ],
        ),
        id="unknown-key-plugin",
    ),
    pytest.param(
        Case(
            {"m.yaml": plugin_with(f"version: 1.4.2\nsha265: {H1}\n")},
            [
                ("m.yaml", 5, "plugins[0].versions[0].sha256: missing required key"),
                ("m.yaml", 6, "plugins[0].versions[0].sha265: unknown key (did you mean 'sha256'?)"),
            ],
        ),
        id="unknown-key-version",
    ),
    pytest.param(
        Case(
            {"m.yaml": "runtimes:\n  - name: gvisor\n    oci-runtime: runsc\n"},
            [("m.yaml", 3, "runtimes[0].oci-runtime: unknown key (did you mean 'oci_runtime'?)")],
        ),
        id="unknown-key-runtime",
    ),
    pytest.param(
        Case(
            {"m.yaml": "pins:\n  - type: secret\n    name: kv-extra\n    verison: 1.4.2\n"},
            [
                ("m.yaml", 2, "pins[0].version: missing required key"),
                ("m.yaml", 4, "pins[0].verison: unknown key (did you mean 'version'?)"),
            ],
        ),
        id="unknown-key-pin",
    ),
    pytest.param(
        Case(
            {"m.yaml": "settings:\n  prune: false\n  max_delete: 3\n"},
            [("m.yaml", 3, "settings.max_delete: unknown key (did you mean 'max_deletes'?)")],
        ),
        id="unknown-key-settings",
    ),
    pytest.param(
        Case(
            {"m.yaml": "nomad:\n  csi-plugins: []\n"},
            [("m.yaml", 2, "nomad.csi-plugins: unknown key (did you mean 'csi_plugins'?)")],
        ),
        id="unknown-key-nomad",
    ),
    pytest.param(
        Case(
            {"m.yaml": "nomad:\n  csi_plugins:\n    - id: aws-ebs0\n      node_healthy: 2\n"},
            [("m.yaml", 4, "nomad.csi_plugins[0].node_healthy: unknown key (did you mean 'nodes_healthy'?)")],
        ),
        id="unknown-key-csi-plugin",
    ),
    pytest.param(
        Case(
            {"m.yaml": "runtimes:\n  - name: gvisor\n    version: 1.0.0\n"},
            [("m.yaml", 3, "runtimes[0].version: unknown key")],
        ),
        id="unknown-key-valid-elsewhere-is-not-suggested-as-itself",
    ),
    # -- sha256 and versions -------------------------------------------------------------------
    pytest.param(
        Case(
            {"m.yaml": plugin_with("sha256: 9f86d081\n")},
            [
                (
                    "m.yaml",
                    5,
                    "plugins[0].versions[0].sha256: sha256 must be 64 hexadecimal characters, "
                    "got 8 characters '9f86d081'",
                )
            ],
        ),
        id="sha256-too-short",
    ),
    pytest.param(
        Case(
            {"m.yaml": plugin_with("sha256: " + "z" + H1[1:] + "\n")},
            [
                (
                    "m.yaml",
                    5,
                    "plugins[0].versions[0].sha256: sha256 must be 64 hexadecimal characters, "
                    "got 64 characters 'zf86d081884c7d65'",
                )
            ],
        ),
        id="sha256-not-hex",
    ),
    pytest.param(
        Case(
            {"m.yaml": plugin_with(f"version: '1.2'\nsha256: {H1}\n")},
            [("m.yaml", 5, NOT_SEMVER.format("1.2"))],
        ),
        id="semver-two-parts",
    ),
    pytest.param(
        Case(
            {"m.yaml": plugin_with(f"version: latest\nsha256: {H1}\n")},
            [("m.yaml", 5, NOT_SEMVER.format("latest"))],
        ),
        id="semver-latest",
    ),
    pytest.param(
        Case(
            {"m.yaml": plugin_with(f"version: V1.2.3\nsha256: {H1}\n")},
            [("m.yaml", 5, NOT_SEMVER.format("V1.2.3"))],
        ),
        id="semver-capital-v",
    ),
    pytest.param(
        Case(
            {"m.yaml": plugin_with(f"sha256: {H1}\nversion: v1.0.0+builtin\n")},
            [
                (
                    "m.yaml",
                    6,
                    "plugins[0].versions[0].version: version 'v1.0.0+builtin' uses the reserved build metadata "
                    "'builtin'",
                )
            ],
        ),
        id="semver-builtin-build-metadata",
    ),
    pytest.param(
        Case(
            {"m.yaml": "plugins:\n  - name: kv-extra\n    type: secret\n    versions: []\n"},
            [("m.yaml", 4, "plugins[0].versions: must not be empty")],
        ),
        id="empty-versions",
    ),
    pytest.param(
        Case(
            {"m.yaml": "plugins:\n  - type: secret\n    versions:\n      - version: 1.0.0\n  - name: kv\n"},
            [
                ("m.yaml", 2, "plugins[0].name: missing required key"),
                ("m.yaml", 4, "plugins[0].versions[0].sha256: missing required key"),
                ("m.yaml", 5, "plugins[1].type: missing required key"),
                ("m.yaml", 5, "plugins[1].versions: missing required key"),
            ],
        ),
        id="missing-required-keys",
    ),
    pytest.param(
        Case(
            {"m.yaml": plugin_with(f"sha256: {H1}\n", kind="secrets")},
            [("m.yaml", 3, "plugins[0].type: must be one of 'auth', 'database' or 'secret', got 'secrets'")],
        ),
        id="bad-type-literal",
    ),
    pytest.param(
        Case(
            {"m.yaml": "pins:\n  - type: plugin\n    name: kv-extra\n    version: 1.0.0\n"},
            [("m.yaml", 2, "pins[0].type: must be one of 'auth', 'database' or 'secret', got 'plugin'")],
        ),
        id="bad-pin-type-literal",
    ),
    # -- names, globs, numbers -----------------------------------------------------------------
    pytest.param(
        Case(
            {"m.yaml": plugin_with(f"sha256: {H1}\n", name="'..'")},
            [("m.yaml", 2, f"plugins[0].name: invalid name '..': {NAME_RULE}")],
        ),
        id="name-dot-dot",
    ),
    pytest.param(
        Case(
            {"m.yaml": plugin_with(f"sha256: {H1}\n", name="kv extra")},
            [("m.yaml", 2, f"plugins[0].name: invalid name 'kv extra': {NAME_RULE}")],
        ),
        id="name-with-space",
    ),
    pytest.param(
        Case(
            {"m.yaml": plugin_with(f"sha256: {H1}\n", name="../../bin/sh")},
            [("m.yaml", 2, f"plugins[0].name: invalid name '../../bin/sh': {NAME_RULE}")],
        ),
        id="name-path-traversal",
    ),
    pytest.param(
        Case(
            {"m.yaml": plugin_with(f"sha256: {H1}\n", name="''")},
            [("m.yaml", 2, "plugins[0].name: must not be empty")],
        ),
        id="name-empty",
    ),
    pytest.param(
        Case(
            {"m.yaml": plugin_with(f"sha256: {H1}\ncommand: ../../bin/sh\n")},
            [
                (
                    "m.yaml",
                    6,
                    "plugins[0].versions[0].command: command '../../bin/sh' must be a file name relative "
                    "to the server's plugin directory",
                )
            ],
        ),
        id="command-escapes-plugin-directory",
    ),
    pytest.param(
        Case(
            {"m.yaml": "runtimes:\n  - name: gvisor\n    cpu_nanos: -1\n    memory_bytes: -5\n"},
            [
                ("m.yaml", 3, "runtimes[0].cpu_nanos: must be >= 0"),
                ("m.yaml", 4, "runtimes[0].memory_bytes: must be >= 0"),
            ],
        ),
        id="negative-runtime-limits",
    ),
    pytest.param(
        Case(
            {"m.yaml": "settings:\n  ignore: ['secret/ok-*', 'legacy-*']\n"},
            [
                (
                    "m.yaml",
                    2,
                    "settings.ignore: ignore glob 'legacy-*' must have the form 'type/name' (e.g. 'secret/legacy-*')",
                )
            ],
        ),
        id="ignore-glob-without-slash",
    ),
    # -- control characters in identifiers: offline errors, not failures at apply ---------------
    pytest.param(
        Case(
            {"m.yaml": plugin_with(f"sha256: {H1}\n", name='"kv\\n"')},
            [("m.yaml", 2, "plugins[0].name: control character U+000A at the end is not allowed")],
        ),
        id="name-trailing-newline",
    ),
    pytest.param(
        Case(
            {"m.yaml": f"plugins:\n  - name: |\n      kv\n    type: secret\n    versions:\n      - sha256: {H1}\n"},
            [("m.yaml", 2, "plugins[0].name: control character U+000A at the end is not allowed")],
        ),
        id="name-from-a-block-scalar",
    ),
    pytest.param(
        Case(
            {"m.yaml": plugin_with(f"sha256: {H1}\n", name='"kv\\u200bextra"')},
            [("m.yaml", 2, "plugins[0].name: invisible character U+200B at position 3 is not allowed")],
        ),
        id="name-zero-width-space",
    ),
    pytest.param(
        Case(
            {"m.yaml": plugin_with(f'sha256: "{H1}\\n"\n')},
            [("m.yaml", 5, "plugins[0].versions[0].sha256: control character U+000A at the end is not allowed")],
        ),
        id="sha256-trailing-newline",
    ),
    pytest.param(
        Case(
            {"m.yaml": plugin_with(f'sha256: {H1}\nversion: "1.0.0\\n"\n')},
            [("m.yaml", 6, "plugins[0].versions[0].version: control character U+000A at the end is not allowed")],
        ),
        id="version-trailing-newline",
    ),
    pytest.param(
        Case(
            {"m.yaml": plugin_with(f'sha256: {H1}\ncommand: "kv\\t"\n')},
            [("m.yaml", 6, "plugins[0].versions[0].command: control character U+0009 at the end is not allowed")],
        ),
        id="command-trailing-tab",
    ),
    pytest.param(
        Case(
            {
                "m.yaml": plugin_with(
                    f'sha256: {H1}\noci_image: "ghcr.io/x\\r"\nruntime: "gvi\\x00sor"\nenv: {{"A\\nB": x}}\n'
                )
                + "runtimes:\n"
                + '  - {name: "gvisor\\n", oci_runtime: "runsc\\x1b", cgroup_parent: "\\x7fx"}\n'
            },
            [
                (
                    "m.yaml",
                    6,
                    "plugins[0].versions[0].oci_image: control character U+000D at the end is not allowed",
                ),
                (
                    "m.yaml",
                    7,
                    "plugins[0].versions[0].runtime: control character U+0000 at position 4 is not allowed",
                ),
                (
                    "m.yaml",
                    8,
                    "plugins[0].versions[0].env: env key 'A\\nB': control character U+000A at position 2 "
                    "is not allowed",
                ),
                ("m.yaml", 10, "runtimes[0].cgroup_parent: control character U+007F at position 1 is not allowed"),
                ("m.yaml", 10, "runtimes[0].name: control character U+000A at the end is not allowed"),
                ("m.yaml", 10, "runtimes[0].oci_runtime: control character U+001B at the end is not allowed"),
            ],
        ),
        id="control-characters-in-runtime-fields-and-env-keys",
    ),
    pytest.param(
        Case(
            {
                "m.yaml": 'pins:\n  - {type: secret, name: "kv\\n", version: "1.0.0\\n"}\n'
                + 'settings:\n  ignore: ["secret/ok-*", "auth/x\\n"]\n'
                + 'nomad:\n  csi_plugins:\n    - id: "ebs\\n"\n      provider: "ebs\\t"\n      version: "1\\u2028"\n'
            },
            [
                ("m.yaml", 2, "pins[0].name: control character U+000A at the end is not allowed"),
                ("m.yaml", 2, "pins[0].version: control character U+000A at the end is not allowed"),
                ("m.yaml", 4, "settings.ignore[1]: control character U+000A at the end is not allowed"),
                ("m.yaml", 7, "nomad.csi_plugins[0].id: control character U+000A at the end is not allowed"),
                ("m.yaml", 8, "nomad.csi_plugins[0].provider: control character U+0009 at the end is not allowed"),
                ("m.yaml", 9, "nomad.csi_plugins[0].version: invisible character U+2028 at the end is not allowed"),
            ],
        ),
        id="control-characters-in-pins-globs-and-csi-fields",
    ),
    # -- env values are secrets: no diagnostic shows one ----------------------------------------
    pytest.param(
        Case(
            {"m.yaml": plugin_with(f"sha256: {H1}\nenv:\n  PORT: 8200\n  SINCE: 2024-01-31\n  RATIO: 0.25\n")},
            [
                ("m.yaml", 7, "plugins[0].versions[0].env.PORT: expected a string, got a number (quote the value)"),
                ("m.yaml", 8, "plugins[0].versions[0].env.SINCE: expected a string, got a date (quote the value)"),
                (
                    "m.yaml",
                    9,
                    "plugins[0].versions[0].env.RATIO: expected a string, got a decimal number (quote the value)",
                ),
            ],
        ),
        id="env-unquoted-values-are-not-echoed",
    ),
    pytest.param(
        Case(
            {"m.yaml": plugin_with(f"sha256: {H1}\nenv:\n  TOKEN: !!int hunter2\n  WHEN: 2024-13-45\n")},
            [
                ("m.yaml", 7, "invalid value for the tag !!int (quote the value)"),
                ("m.yaml", 8, "invalid value for the tag !!timestamp (quote the value)"),
            ],
        ),
        id="env-values-bad-for-their-tag-are-not-echoed",
    ),
    pytest.param(
        Case(
            {"m.yaml": "settings:\n  max_deletes: !!int hunter2\n"},
            [("m.yaml", 2, "invalid value 'hunter2' for the tag !!int")],
        ),
        id="bad-tag-value-outside-env-is-shown",
    ),
    # -- YAML features that are refused ----------------------------------------------------------
    pytest.param(
        Case(
            {"m.yaml": "plugins: []\nruntimes: []\nplugins: []\n"},
            [("m.yaml", 3, "duplicate key 'plugins' (first at line 1)")],
        ),
        id="duplicate-mapping-key",
    ),
    pytest.param(
        Case(
            {"m.yaml": plugin_with(f"sha256: {H1}\nsha256: {H2}\n")},
            [("m.yaml", 6, "duplicate key 'sha256' (first at line 5)")],
        ),
        id="duplicate-mapping-key-nested",
    ),
    pytest.param(
        Case(
            {"m.yaml": "- plugins: []\n- runtimes: []\n"},
            [("m.yaml", 1, "a manifest document must be a mapping")],
        ),
        id="document-is-a-list",
    ),
    pytest.param(
        Case(
            {"m.yaml": "plugins: []\n---\njust a string\n"},
            [("m.yaml", 3, "a manifest document must be a mapping")],
        ),
        id="second-document-is-a-scalar",
    ),
    pytest.param(
        Case(
            {"m.yaml": "plugins: []\n1: one\n? [a, b]\n: c\n"},
            [
                ("m.yaml", 2, "keys must be strings, got '1'"),
                ("m.yaml", 3, "keys must be strings, got a list"),
            ],
        ),
        id="keys-not-strings",
    ),
    pytest.param(
        Case(
            {
                "m.yaml": y(f"""\
                plugins:
                  - &kv
                    name: kv-extra
                    type: secret
                    versions:
                      - sha256: {H1}
                  - <<: *kv
                    name: kv-other
                """)
            },
            [("m.yaml", 7, "merge keys ('<<') are not supported; repeat the keys")],
        ),
        id="merge-key",
    ),
    pytest.param(
        Case(
            {"m.yaml": _alias_bomb()},
            [("m.yaml", 5, f"aliases expand to more than {MAX_NODES} values (an alias bomb?)")],
        ),
        id="alias-bomb",
    ),
    pytest.param(
        Case({"m.yaml": "plugins: &p\n  - *p\n"}, [("m.yaml", 2, "recursive alias: a value contains itself")]),
        id="recursive-alias",
    ),
    pytest.param(
        Case(
            {"m.yaml": "settings: &s\n  prune: true\n  ignore: [secret/x]\n  max_deletes: *s\n"},
            [("m.yaml", 4, "recursive alias: a value contains itself")],
        ),
        id="recursive-alias-in-mapping",
    ),
    pytest.param(
        Case({"m.yaml": _nested(MAX_DEPTH + 50)}, [("m.yaml", 1, f"nested more than {MAX_DEPTH} levels deep")]),
        id="nested-too-deep",
    ),
    pytest.param(
        Case(
            {
                "m.yaml": "a: &a " + "[" * 60 + "1" + "]" * 60 + "\n" + "b: " + "[" * 60 + "*a" + "]" * 60 + "\n",
            },
            [
                ("m.yaml", 1, "a: unknown key"),
                ("m.yaml", 2, "b: unknown key"),
                ("m.yaml", 2, f"nested more than {MAX_DEPTH} levels deep"),
            ],
        ),
        id="nested-too-deep-through-an-alias",
    ),
    # -- duplicates and cross-document checks ------------------------------------------------------
    pytest.param(
        Case(
            {
                "m.yaml": y(f"""\
                plugins:
                  - name: kv-extra
                    type: secret
                    versions:
                      - version: 1.0.0
                        sha256: {H1}
                      - version: v1.0.0
                        sha256: {H2}
                """)
            },
            [("m.yaml", 7, "duplicate plugin secret/kv-extra v1.0.0: already declared at {root}/m.yaml:5")],
        ),
        id="duplicate-version-same-list-v-prefix",
    ),
    pytest.param(
        Case(
            {
                "m.yaml": y(f"""\
                    plugins:
                      - name: kv-extra
                        type: secret
                        versions:
                          - sha256: {H1}
                      - name: kv-extra
                        type: secret
                        versions:
                          - sha256: {H2}
                    """)
            },
            [("m.yaml", 9, "duplicate plugin secret/kv-extra (unversioned): already declared at {root}/m.yaml:5")],
        ),
        id="duplicate-unversioned-same-file",
    ),
    pytest.param(
        Case(
            {
                "a.yaml": plugin_with(f"version: 1.4.2\nsha256: {H1}\n"),
                "sub/b.yaml": "# the same plugin again\n" + plugin_with(f"version: v1.4.2\nsha256: {H2}\n"),
            },
            [("sub/b.yaml", 6, "duplicate plugin secret/kv-extra v1.4.2: already declared at {root}/a.yaml:5")],
        ),
        id="duplicate-across-files",
    ),
    pytest.param(
        Case(
            {
                "m.yaml": plugin_with(f"version: 1.4.2\nsha256: {H1}\n")
                + "---\n"
                + plugin_with(f"version: 1.4.2\nsha256: {H1}\n")
            },
            [("m.yaml", 12, "duplicate plugin secret/kv-extra v1.4.2: already declared at {root}/m.yaml:5")],
        ),
        id="duplicate-across-documents",
    ),
    pytest.param(
        Case(
            {
                "m.yaml": y(f"""\
                plugins:
                  - &kv
                    name: kv-extra
                    type: secret
                    versions:
                      - sha256: {H1}
                  - *kv
                """)
            },
            [("m.yaml", 7, "duplicate plugin secret/kv-extra (unversioned): already declared at {root}/m.yaml:6")],
        ),
        id="duplicate-through-an-alias-names-the-alias-line",
    ),
    pytest.param(
        Case(
            {"a.yaml": "settings:\n  prune: true\n", "b.yaml": "runtimes: []\n---\nsettings:\n  prune: false\n"},
            [
                (
                    "b.yaml",
                    3,
                    "duplicate settings block (at most one across all documents): already declared at {root}/a.yaml:1",
                )
            ],
        ),
        id="two-settings-blocks",
    ),
    pytest.param(
        Case(
            {"m.yaml": "runtimes:\n  - name: gvisor\n  - name: gvisor\n    rootless: true\n"},
            [("m.yaml", 3, "duplicate runtime 'gvisor': already declared at {root}/m.yaml:2")],
        ),
        id="duplicate-runtime",
    ),
    pytest.param(
        Case(
            {
                "m.yaml": plugin_with(f"version: 1.0.0\nsha256: {H1}\n")
                + "pins:\n  - {type: secret, name: kv-extra, version: 1.0.0}\n"
                + "  - {type: secret, name: kv-extra, version: v1.0.0}\n"
            },
            [
                (
                    "m.yaml",
                    9,
                    "duplicate pin for secret/kv-extra (one pin per plugin): already declared at {root}/m.yaml:8",
                )
            ],
        ),
        id="two-pins-for-one-plugin",
    ),
    pytest.param(
        Case(
            {"m.yaml": "nomad:\n  csi_plugins:\n    - id: aws-ebs0\n    - id: aws-ebs0\n"},
            [("m.yaml", 4, "duplicate CSI plugin 'aws-ebs0': already declared at {root}/m.yaml:3")],
        ),
        id="duplicate-csi-plugin",
    ),
    pytest.param(
        Case(
            {
                "m.yaml": plugin_with(f"version: 1.4.2\nsha256: {H1}\n")
                + "pins:\n  - type: secret\n    name: kv-extra\n    version: 1.4.3\n"
            },
            [("m.yaml", 10, "pin secret/kv-extra v1.4.3: no such plugin version is declared under plugins:")],
        ),
        id="pin-names-undeclared-version",
    ),
    pytest.param(
        Case(
            {
                "m.yaml": plugin_with(f"sha256: {H1}\n")
                + "pins:\n  - type: secret\n    name: kv-extra\n    version: ''\n"
            },
            [("m.yaml", 9, "pins[0].version: a pin needs a version: the unversioned entry cannot be pinned")],
        ),
        id="pin-to-the-unversioned-entry",
    ),
    pytest.param(
        Case(
            {"m.yaml": "pins:\n  - type: auth\n    name: jwt-extra\n    version: 0.1.0\n"},
            [("m.yaml", 4, "pin auth/jwt-extra v0.1.0: no such plugin version is declared under plugins:")],
        ),
        id="pin-names-undeclared-plugin",
    ),
    pytest.param(
        Case(
            {
                "plugins.yaml": plugin_with(f"version: 1.4.2\nsha256: {H1}\nruntime: gvisr\n"),
                "runtimes.yaml": "runtimes:\n  - name: gvisor\n",
            },
            [("plugins.yaml", 7, "runtime 'gvisr' is not declared under runtimes:")],
        ),
        id="runtime-not-declared",
    ),
    pytest.param(
        Case(
            {
                "m.yaml": y(f"""\
                    settings:
                      ignore: ["secret/legacy-*"]
                    plugins:
                      - name: legacy-kv
                        type: secret
                        versions:
                          - version: 1.0.0
                            sha256: {H1}
                          - version: 2.0.0
                            sha256: {H2}
                      - name: legacy-kv
                        type: auth
                        versions:
                          - sha256: {H1}
                    """)
            },
            [
                (
                    "m.yaml",
                    4,
                    "plugin secret/legacy-kv is declared but matches ignore glob 'secret/legacy-*'",
                )
            ],
        ),
        id="declared-plugin-is-ignored",
    ),
    pytest.param(
        Case(
            {
                "a.yaml": "runtimes:\n  - name: gvisor\n    cpu_nanos: -1\n",
                "b.yaml": plugin_with(f"version: 1.0.0\nsha256: {H1}\nruntime: gvisor\n"),
                "c.yaml": "pins:\n  - type: secret\n    name: kv-extra\n    version: 1.0.0\n",
            },
            [("a.yaml", 3, "runtimes[0].cpu_nanos: must be >= 0")],
        ),
        id="no-not-declared-noise-when-the-declaration-is-invalid",
    ),
    # -- files and folders --------------------------------------------------------------------
    pytest.param(
        Case({}, [("missing", 0, "no such file or directory")], target="missing"),
        id="missing-path",
    ),
    pytest.param(
        Case({}, [("", 0, "no *.yaml or *.yml manifest files found here")]),
        id="empty-folder",
    ),
    pytest.param(
        Case(
            {".hidden.yaml": "plugins: nope\n", ".git/x.yaml": "x: 1\n", ".notes/README.md": "# x\n"},
            [("", 0, "no *.yaml or *.yml manifest files found here")],
        ),
        id="folder-without-visible-manifests",
    ),
    pytest.param(
        Case(
            {"README.md": "# manifests\n", "m.json": "{}", ".hidden.yaml": "plugins: nope\n", ".git/x.yaml": "x: 1\n"},
            [("README.md", 0, NOT_A_MANIFEST), ("m.json", 0, NOT_A_MANIFEST)],
        ),
        id="folder-with-only-other-files",
    ),
    pytest.param(
        Case(
            {"big.yaml": b"plugins: []\n" + b"#" * MAX_FILE_BYTES},
            [("big.yaml", 0, f"file is too large ({MAX_FILE_BYTES + 12} bytes; the limit is {MAX_FILE_BYTES})")],
        ),
        id="huge-file",
    ),
    pytest.param(
        Case(
            {"ok.yaml": "plugins: []\n"},
            [("gone.yaml", 0, "cannot read: No such file or directory (a broken symbolic link)")],
            setup=_broken_symlink,
        ),
        id="broken-symlink-in-folder",
    ),
    pytest.param(
        Case(
            {},
            [("gone.yaml", 0, "cannot read: No such file or directory (a broken symbolic link)")],
            target="gone.yaml",
            setup=_broken_symlink,
        ),
        id="broken-symlink-given-directly",
    ),
    pytest.param(
        Case(
            {"ok.yaml": "plugins: []\n"},
            [("loop.yaml", 0, "cannot read: Too many levels of symbolic links")],
            setup=_symlink_loop,
        ),
        id="symlink-loop",
    ),
    pytest.param(
        Case({"ok.yaml": "plugins: []\n"}, [("pipe.yaml", 0, "cannot read: not a regular file")], setup=_fifo),
        id="fifo-named-yaml",
    ),
    pytest.param(
        Case(
            {},
            [("x.yaml", 0, "no *.yaml or *.yml manifest files found here")],
            target="x.yaml",
            setup=_empty_dir_named_yaml,
        ),
        id="empty-directory-named-x-yaml",
    ),
    pytest.param(
        Case(
            {"x.yaml/inner.yml": "plugins: {}\n"}, [("x.yaml/inner.yml", 1, "plugins: expected a list, got a mapping")]
        ),
        id="directory-named-x-yaml-is-searched",
    ),
    pytest.param(
        Case(
            {
                "ok.yaml": "plugins: []\n",
                "README.md": "# what this folder is\n",
                "notes.txt": "todo\n",
                "Makefile": "all:\n",
                "sub/m.yaml.bak": "plugins: []\n",
                "sub/m.yaml~": "plugins: []\n",
                "sub/m.yamlx": "plugins: []\n",
                "sub/.m.yaml.swp": "hidden: skipped\n",
            },
            [
                ("Makefile", 0, NOT_A_MANIFEST),
                ("README.md", 0, NOT_A_MANIFEST),
                ("notes.txt", 0, NOT_A_MANIFEST),
                ("sub/m.yaml.bak", 0, NOT_A_MANIFEST),
                ("sub/m.yamlx", 0, NOT_A_MANIFEST),
                ("sub/m.yaml~", 0, NOT_A_MANIFEST),
            ],
        ),
        id="other-files-are-errors-not-silence",
    ),
    pytest.param(
        Case({"Catalog.YAML": "plugins: {}\n"}, [("Catalog.YAML", 1, "plugins: expected a list, got a mapping")]),
        id="upper-case-suffix-is-read",
    ),
    pytest.param(
        Case(
            {"ok.yaml": "plugins: []\n", "sub/m.yaml": "runtimes: []\n"},
            [("sub/back", 0, "symbolic link loop: it leads back to {root}")],
            setup=_folder_link_to_root,
        ),
        id="folder-symlink-loop",
    ),
    pytest.param(
        Case(
            {"ok.yaml": "plugins: []\n"},
            [("here", 0, "symbolic link loop: it leads back to {root}")],
            setup=_folder_link_to_itself,
        ),
        id="folder-symlink-to-itself",
    ),
    pytest.param(
        Case(
            {"ok.yaml": "plugins: []\n"}, [("pipe", 0, "cannot read: not a regular file")], setup=_fifo_not_named_yaml
        ),
        id="fifo-not-named-yaml",
    ),
    pytest.param(
        Case(
            {"ok.yaml": "plugins: []\n"}, [("mem.yaml", 0, "cannot read: Input/output error")], setup=_link_to_proc_mem
        ),
        id="file-even-root-cannot-read",
    ),
    pytest.param(
        Case({"ok.yaml": "plugins: []\n"}, [("shared", 0, NOT_A_MANIFEST)], setup=_folder_link_to_proc_mem),
        id="folder-symlink-to-a-non-directory",
    ),
    pytest.param(
        Case(
            {"ok.yaml": "plugins: []\n"},
            [("shared", 0, "cannot read: No such file or directory (a broken symbolic link)")],
            setup=_broken_folder_link,
        ),
        id="broken-folder-symlink",
    ),
]


@pytest.mark.parametrize("case", CASES)
def test_bad_manifest(case: Case, tmp_path: Path) -> None:
    root = tmp_path / "manifests"
    write_files(root, case.files)
    root.mkdir(exist_ok=True)
    if case.setup is not None:
        case.setup(root)
    expected = [(rel, line, message.replace("{root}", str(root))) for rel, line, message in case.expected]
    assert_diagnostics(validate(root / case.target), root, expected)


def test_corpus_is_large_enough() -> None:
    assert len(CASES) >= 30


def test_unreadable_file(tmp_path: Path) -> None:
    """chmod 000 stops everyone but root; as root (or with CAP_DAC_OVERRIDE) a broken symlink stands in."""
    root = tmp_path / "manifests"
    root.mkdir()
    (root / "ok.yaml").write_text("plugins: []\n")
    locked = root / "locked.yaml"
    locked.write_text("plugins: []\n")
    locked.chmod(0)
    try:
        try:
            locked.open("rb").close()
        except PermissionError:
            message = "cannot read: Permission denied"
        else:
            locked.chmod(0o644)
            locked.unlink()
            locked.symlink_to(root / "elsewhere.yaml")
            message = "cannot read: No such file or directory (a broken symbolic link)"
        assert_diagnostics(validate(root), root, [("locked.yaml", 0, message)])
    finally:
        if locked.exists() and not locked.is_symlink():
            locked.chmod(0o644)


def test_every_problem_of_every_file_at_once(tmp_path: Path) -> None:
    """One run reports the problems of all files, sorted by path then line, with the count at the end."""
    root = tmp_path / "manifests"
    write_files(
        root,
        {
            "b.yaml": plugin_with(f"version: 1.0.0\nsha256: {H1}\n")
            + "---\n"
            + plugin_with("version: '1.2'\nsha256: abc\n", name="kv-other"),
            "a.yaml": "plugins:\n  - name: kv-extra\n    type: secrets\n    versions: []\nruntimes: nope\n",
            "c/d.yml": "settings:\n  prune: maybe\n---\nsettings: {}\n",
            "c/e.yaml": b"pins:\n  - type: secret\n    name: \xff\n",
            "z.yaml": "plugins:\n\t- name: x\n",
            "c/f.yaml": plugin_with(f"version: v1.0.0\nsha256: {H2}\n"),
            "notes.txt": "plugins: [not, yaml, checked]\n",
        },
    )
    assert_diagnostics(
        validate(root),
        root,
        [
            ("a.yaml", 3, "plugins[0].type: must be one of 'auth', 'database' or 'secret', got 'secrets'"),
            ("a.yaml", 4, "plugins[0].versions: must not be empty"),
            ("a.yaml", 5, "runtimes: expected a list, got a string"),
            ("b.yaml", 12, NOT_SEMVER.format("1.2")),
            (
                "b.yaml",
                13,
                "plugins[0].versions[0].sha256: sha256 must be 64 hexadecimal characters, got 3 characters 'abc'",
            ),
            ("c/d.yml", 2, "settings.prune: expected true or false, got a string"),
            ("c/e.yaml", 3, "not valid UTF-8 (byte 0xff)"),
            ("c/f.yaml", 5, f"duplicate plugin secret/kv-extra v1.0.0: already declared at {root}/b.yaml:5"),
            ("notes.txt", 0, NOT_A_MANIFEST),
            ("z.yaml", 2, "tab character: YAML indentation must use spaces"),
        ],
    )


def test_a_single_problem_says_problem(tmp_path: Path) -> None:
    (tmp_path / "m.yaml").write_text("plugins: 1\n")
    result = validate(tmp_path / "m.yaml")
    assert result.exit_code == 1
    assert result.stderr == f"{tmp_path}/m.yaml:1: plugins: expected a list, got a number\n1 problem in the manifests\n"
