"""diff(desired, live): pure, table-driven, no server."""

from __future__ import annotations

import pytest

from reconciler.diff import Action, DiffOptions, Kind, diff
from reconciler.errors import PlanError, UsageError
from reconciler.resources import Runtime, Settings
from tests.factories import SHA1, SHA2, VAULT, desired, live, live_plugin, pin, plugin


def summary(changes: list) -> list[tuple[str, str, str, str, tuple[str, ...]]]:
    return sorted((c.kind.value, c.action.value, f"{c.type}/{c.name}", c.version, c.fields) for c in changes)


@pytest.mark.parametrize(
    ("want", "have", "expected"),
    [
        pytest.param((plugin(),), (), [("plugin", "create", "secret/kv-extra", "v1.0.0", ())], id="missing->create"),
        pytest.param((plugin(),), (live_plugin(),), [], id="equal->nothing"),
        pytest.param(
            (plugin(sha=SHA2),),
            (live_plugin(),),
            [("plugin", "update", "secret/kv-extra", "v1.0.0", ("sha256",))],
            id="sha256",
        ),
        pytest.param(
            (plugin(args=("-a",), command="other"),),
            (live_plugin(),),
            [("plugin", "update", "secret/kv-extra", "v1.0.0", ("command", "args"))],
            id="command+args",
        ),
        pytest.param(
            (plugin(env={"A": "1"}),), (live_plugin(),), [], id="env is invisible: no change without --replace"
        ),
        pytest.param((), (live_plugin(),), [("plugin", "delete", "secret/kv-extra", "v1.0.0", ())], id="prune"),
        pytest.param((), (live_plugin(builtin=True, version="v2.7.2+builtin.bao"),), [], id="builtin kept"),
        pytest.param((), (live_plugin(declarative=True),), [], id="declarative kept"),
        pytest.param((), (live_plugin(version="1.0.0"),), [], id="unnormalised live version is opaque"),
        pytest.param(
            (plugin(version=""),),
            (live_plugin(version="v1.0.0"),),
            [
                ("plugin", "create", "secret/kv-extra", "", ()),
                ("plugin", "delete", "secret/kv-extra", "v1.0.0", ()),
            ],
            id="unversioned and versioned are different entries",
        ),
        pytest.param(
            (plugin(t="auth"),),
            (live_plugin(),),
            [
                ("plugin", "create", "auth/kv-extra", "v1.0.0", ()),
                ("plugin", "delete", "secret/kv-extra", "v1.0.0", ()),
            ],
            id="type is part of identity",
        ),
    ],
)
def test_plugin_changes(want, have, expected) -> None:
    assert summary(diff(desired(*want), live(*have))) == expected


def test_prune_off_by_option_and_by_settings() -> None:
    assert diff(desired(), live(live_plugin()), DiffOptions(prune=False)) == []
    assert diff(desired(settings=Settings(prune=False)), live(live_plugin())) == []


def test_ignore_globs_match_type_slash_name() -> None:
    settings = Settings(ignore=("secret/legacy-*",))
    changes = diff(desired(settings=settings), live(live_plugin("legacy-a"), live_plugin("keep", t="auth")))
    assert summary(changes) == [("plugin", "delete", "auth/keep", "v1.0.0", ())]


def test_replace_selects_by_type_name_and_optional_version() -> None:
    want = desired(plugin(version="v1.0.0"), plugin(version="v2.0.0"))
    have = live(live_plugin(version="v1.0.0"), live_plugin(version="v2.0.0"))
    assert len(diff(want, have, DiffOptions(replace=("secret/kv-extra",)))) == 2
    only = diff(want, have, DiffOptions(replace=("secret/kv-extra@2.0.0",)))
    assert [(c.action, c.version, c.fields, c.reason) for c in only] == [
        (Action.UPDATE, "v2.0.0", (), "re-register requested with --replace")
    ]


@pytest.mark.parametrize(
    ("selector", "message"),
    [
        ("kv-extra", "expected TYPE/NAME or TYPE/NAME@VERSION"),
        ("secret/kv-extra@1.2", "is not a valid semantic version"),
        ("secret/nope", "matches no plugin declared in the manifests"),
        ("auth/kv-extra", "matches no plugin declared in the manifests"),
    ],
)
def test_replace_errors(selector: str, message: str) -> None:
    with pytest.raises(UsageError, match=message):
        diff(desired(plugin()), live(), DiffOptions(replace=(selector,)))


def test_overwriting_a_declarative_entry_is_an_error() -> None:
    want = desired(plugin(sha=SHA2))
    want.origins[(Kind.PLUGIN, plugin().key)] = "m.yaml:4"
    with pytest.raises(PlanError, match=r"m.yaml:4: secret/kv-extra v1.0.0 is declared in the OpenBao server"):
        diff(want, live(live_plugin(sha=SHA1, declarative=True)))


def test_identical_declarative_entry_is_fine() -> None:
    assert diff(desired(plugin()), live(live_plugin(declarative=True))) == []


def test_pins_and_runtimes_on_vault() -> None:
    want = desired(plugin(), pins=(pin(),), runtimes=(Runtime(name="gvisor", cpu_nanos=5),))
    have = live(
        live_plugin(),
        server=VAULT,
        pins=(pin(version="v0.9.0"), pin("other")),
        runtimes=(Runtime(name="gvisor"), Runtime(name="old")),
    )
    assert summary(diff(want, have)) == [
        ("pin", "delete", "secret/other", "v1.0.0", ()),
        ("pin", "update", "secret/kv-extra", "v1.0.0", ("version",)),
        ("runtime", "delete", "container/old", "", ()),
        ("runtime", "update", "container/gvisor", "", ("cpu_nanos",)),
    ]


def test_features_the_server_lacks_fail_naming_feature_and_version() -> None:
    want = desired(plugin(oci_image="ghcr.io/x/kv"), pins=(pin(),))
    want.origins[("pin", pin().key)] = "m.yaml:9"
    with pytest.raises(PlanError) as info:
        diff(want, live())
    text = str(info.value)
    assert "m.yaml:9: pin secret/kv-extra: pins need Vault 1.16+, but the server is OpenBao 2.7.2" in text
    assert "container plugins (oci_image, runtime) need Vault 1.15+" in text


def test_pins_are_not_pruned_where_the_server_has_none() -> None:
    changes = diff(desired(), live(pins=(pin(),)))
    assert [c for c in changes if c.kind is Kind.PIN] == []
