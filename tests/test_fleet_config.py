"""The targets file (reconcile.yaml): its schema, every problem at once, and each target's environment."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from reconciler.errors import ManifestError, UsageError
from reconciler.fleet import config, environ
from reconciler.fleet.config import Auth, Target


def _file(tmp_path: Path, text: str, folders: tuple[str, ...] = ("m/base", "m/staging", "m/prod")) -> Path:
    for folder in folders:
        (tmp_path / folder).mkdir(parents=True, exist_ok=True)
    path = tmp_path / "reconcile.yaml"
    path.write_text(textwrap.dedent(text))
    return path


GOOD = """\
    targets:
      - name: staging
        address: https://vault.staging.example.com:8200
        namespace: ""
        manifests: [m/base, m/staging]
        auth: {method: jwt, role: reconcile-staging, audience: reconcile}
        nomad_address: https://nomad.staging.example.com:4646
      - name: prod-eu
        address: https://vault.example.com:8200/
        manifests: [m/base, m/prod]
    """


def test_a_good_file_gives_the_targets_in_order_with_paths_relative_to_the_file(tmp_path: Path) -> None:
    fleet = config.load(_file(tmp_path, GOOD))
    assert [t.name for t in fleet.targets] == ["staging", "prod-eu"]
    staging, prod = fleet.targets
    assert staging.manifests == (tmp_path / "m/base", tmp_path / "m/staging")
    assert staging.auth == Auth("jwt", role="reconcile-staging", audience="reconcile")
    assert staging.namespace == ""
    assert staging.nomad_address == "https://nomad.staging.example.com:4646"
    assert prod.address == "https://vault.example.com:8200"  # trailing slash removed, as for VAULT_ADDR
    assert (prod.namespace, prod.auth, prod.nomad_address) == (None, None, None)
    assert prod.env_prefix == "RECONCILE_PROD_EU_"


def test_every_problem_is_reported_at_once_with_its_line(tmp_path: Path) -> None:
    path = _file(
        tmp_path,
        """\
        targets:
          - name: staging
            address: https://vault.staging.example.com:8200
            manifests: [m/base, m/missing]
            token: hvs.not-a-secret-here
          - name: production
            address: https://user:hunter2@vault.example.com:8200
            manifests: [m/base, m/prod, m/base/inner]
            auth: {method: jwt, rol: x}
          - name: 9lives
            address: vault.example.com
            manifests: m/base
            nomad_addres: http://nomad:4646
          - name: Staging
            address: http://127.0.0.1:8200
            manifests: [m/prod]
        tragets: []
        """,
    )
    (tmp_path / "m/base/inner").mkdir()
    with pytest.raises(ManifestError) as caught:
        config.load(path)
    message = str(caught.value)
    assert message.splitlines() == [
        f"{path}:4: targets[0].manifests[1]: {tmp_path}/m/missing: no such file or directory",
        f"{path}:5: targets[0].token: secrets never live in this file: set RECONCILE_STAGING_VAULT_TOKEN "
        "(this target) or VAULT_TOKEN (every target) instead",
        f"{path}:7: targets[1].address: must not hold credentials (user:password@): secrets never live in "
        "this file; set RECONCILE_PRODUCTION_VAULT_ADDR instead",
        f"{path}:8: targets[1].manifests[2]: {tmp_path}/m/base/inner is inside manifests[0] ({tmp_path}/m/base): "
        "its manifests would be read twice",
        f"{path}:9: targets[1].auth.rol: unknown key (did you mean 'role'?)",
        f"{path}:10: targets[2].name: invalid target name '9lives': use letters, digits, '-' and '_', starting "
        "with a letter (at most 63 characters)",
        f"{path}:11: targets[2].address: 'vault.example.com' is not a valid server address: it must start with "
        "http:// or https://",
        f"{path}:12: targets[2].manifests: expected a list, got a string",
        f"{path}:13: targets[2].nomad_addres: unknown key (did you mean 'nomad_address'?)",
        f"{path}:14: target 'Staging': same name as 'staging' (line 2)",
        f"{path}:17: tragets: unknown key (did you mean 'targets'?)",
        f"11 problems in {path}",
    ]
    assert "hunter2" not in message
    assert "hvs.not-a-secret-here" not in message


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("targets: []\n", ":1: targets: must not be empty"),
        ("{}\n", ":1: targets: missing required key"),
        ("- a\n", ":1: must be a mapping with targets:"),
        ("targets:\n  - name: a\n", ":2: targets[0].address: missing required key"),
        ("targets: [a]\n", ":1: targets[0]: expected a mapping, got a string"),
        ("targets:\n - name: [\n", ":3: invalid YAML"),
        ("a: 1\n---\nb: 2\n", ": must hold exactly one YAML document"),
        ("targets:\n  - name: a\n    name: b\n", ":3: duplicate key 'name' (first at line 2)"),
        (
            "targets:\n  - {name: a, address: 'http://h:1', manifests: [m/base], auth: {method: ldap}}\n",
            ":2: targets[0].auth.method: must be one of 'token', 'approle', 'jwt' or 'kubernetes', got 'ldap'",
        ),
        (
            "targets:\n  - {name: a, address: 'http://h:1', manifests: [m/base], auth: {method: approle, secret_id: x}}\n",
            "targets[0].auth.secret_id: secrets never live in this file: set RECONCILE_A_VAULT_SECRET_ID",
        ),
        (
            "targets:\n  - {name: a, address: 'http://h:1', manifests: [m/base, m/base]}\n",
            "targets[0].manifests[1]: " + "{tmp}/m/base is the same as manifests[0]",
        ),
        (
            "targets:\n  - {name: a, address: 'http://h:1', manifests: ['']}\n",
            "targets[0].manifests[0]: must not be empty",
        ),
        (
            "targets:\n  - {name: a, address: 'http://h:1', manifests: [m/base], namespace: \"t\\u00e9am\"}\n",
            "targets[0].namespace: must be printable ASCII",
        ),
        (
            "targets:\n  - {name: a, address: 'http://h:1', manifests: [m/base], nomad_address: 'nomad:4646'}\n",
            "targets[0].nomad_address: 'nomad:4646' is not a valid server address",
        ),
    ],
)
def test_bad_files_say_where_and_what(tmp_path: Path, text: str, expected: str) -> None:
    path = _file(tmp_path, text)
    with pytest.raises(ManifestError) as caught:
        config.load(path)
    assert expected.replace("{tmp}", str(tmp_path)) in str(caught.value)


def test_a_file_that_cannot_be_read_is_a_problem_not_a_traceback(tmp_path: Path) -> None:
    folder = tmp_path / "reconcile.yaml"
    folder.mkdir()
    with pytest.raises(ManifestError, match="cannot read: not a regular file"):
        config.load(folder)
    binary = tmp_path / "b.yaml"
    binary.write_bytes(b"targets:\n  - \xff\n")
    with pytest.raises(ManifestError, match=r"b.yaml:2: not valid UTF-8 \(byte 0xff\)"):
        config.load(binary)
    with pytest.raises(ManifestError, match=r"(?i)no such file or directory"):
        config.load(tmp_path / "missing.yaml")


def test_select_keeps_the_file_order_and_names_unknown_targets(tmp_path: Path) -> None:
    fleet = config.load(_file(tmp_path, GOOD))
    assert [t.name for t in fleet.select([])] == ["staging", "prod-eu"]
    assert [t.name for t in fleet.select(["prod-eu", "staging", "prod-eu"])] == ["staging", "prod-eu"]
    with pytest.raises(UsageError, match="--target prod: no such target in") as caught:
        fleet.select(["prod"])
    assert caught.value.hint == "did you mean 'prod-eu'? the targets are: staging, prod-eu"


TARGET = Target(
    name="prod-eu",
    address="https://vault.eu.example.com:8200",
    manifests=(Path("m"),),
    namespace="",
    auth=Auth("approle", path="ci-approle"),
    nomad_address="https://nomad.eu.example.com:4646",
)


def test_shared_variables_serve_every_target_and_the_file_wins_over_them() -> None:
    env = environ.for_target(
        TARGET,
        {
            "VAULT_TOKEN": "shared",
            "VAULT_ADDR": "https://elsewhere:8200",
            "BAO_NAMESPACE": "team",
            "VAULT_AUTH_METHOD": "jwt",
            "NOMAD_ADDR": "http://127.0.0.1:4646",
            "VAULT_ROLE_ID": "role",
        },
    )
    assert env["VAULT_TOKEN"] == "shared"
    assert env["VAULT_ROLE_ID"] == "role"
    assert env["VAULT_ADDR"] == "https://vault.eu.example.com:8200"
    assert env["VAULT_NAMESPACE"] == ""
    assert "BAO_NAMESPACE" not in env
    assert (env["VAULT_AUTH_METHOD"], env["VAULT_AUTH_PATH"]) == ("approle", "ci-approle")
    assert "VAULT_AUTH_ROLE" not in env
    assert env["NOMAD_ADDR"] == "https://nomad.eu.example.com:4646"


def test_a_per_target_variable_overrides_both_twins_and_the_file() -> None:
    env = environ.for_target(
        TARGET,
        {
            "VAULT_TOKEN": "shared",
            "RECONCILE_PROD_EU_BAO_TOKEN": "own",
            "RECONCILE_PROD_EU_VAULT_ADDR": "https://proxy.example.com:8200",
            "RECONCILE_PROD_EU_NOMAD_TOKEN": "nomad-own",
            "RECONCILE_STAGING_VAULT_TOKEN": "not-mine",
            "RECONCILE_PROD_EU_": "empty name: ignored",
        },
    )
    assert "VAULT_TOKEN" not in env
    assert env["BAO_TOKEN"] == "own"
    assert env["VAULT_ADDR"] == "https://proxy.example.com:8200"
    assert env["NOMAD_TOKEN"] == "nomad-own"
    assert "" not in env
    assert environ.own_variables(TARGET, env) == [
        "RECONCILE_PROD_EU_BAO_TOKEN",
        "RECONCILE_PROD_EU_NOMAD_TOKEN",
        "RECONCILE_PROD_EU_VAULT_ADDR",
    ]
