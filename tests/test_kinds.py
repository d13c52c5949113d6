"""The kind registry, the generic diff, plan-time safety rules and the validation stage. Pure."""

from __future__ import annotations

import pytest

from reconciler import manifest, safety
from reconciler.diff import Action, Change, Kind, changes
from reconciler.errors import PlanError, UsageError
from reconciler.kinds import keyed, phase_of, select
from reconciler.kinds.reload import BACKEND, BY_NAME
from reconciler.plan import build_plan
from reconciler.resources import Mount, PluginKey, PluginType, Runtime, Settings, State
from reconciler.validate import Valid, refused_overwrites, replace_selection, unsupported_features, validate
from tests.factories import OPENBAO, SHA2, VAULT, desired, live, live_plugin, pin, plugin


def test_registry_keys_sections_and_phases() -> None:
    assert [k.value for k in Kind] == ["plugin", "runtime", "pin", "mount", "reload", "nomad_csi_plugin"]
    assert Kind.PIN.spec.key == "pin"
    sections = {k.spec.section for k in Kind if k.spec.section}
    assert sections == {"plugins", "runtimes", "pins", "mounts", "nomad"}
    # The Document model and the JSON schema come from the registry.
    assert set(manifest.json_schema()["properties"]) == sections | {"settings"}
    order = [
        (Kind.RUNTIME, Action.CREATE),
        (Kind.PLUGIN, Action.CREATE),
        (Kind.PIN, Action.UPDATE),
        (Kind.MOUNT, Action.UPDATE),
        (Kind.RELOAD, Action.RELOAD),
        (Kind.PIN, Action.DELETE),
        (Kind.PLUGIN, Action.DELETE),
        (Kind.RUNTIME, Action.DELETE),
    ]
    assert [phase_of(k, a) for k, a in order] == list(range(8))


def test_state_is_keyed_by_identity_per_kind() -> None:
    state = State(plugins=(plugin(), plugin(version="")), pins=(pin(),), runtimes=(Runtime(name="g"),))
    assert set(keyed(state, Kind.PLUGIN)) == {PluginKey(PluginType.SECRET, "kv-extra", v) for v in ("v1.0.0", "")}
    assert keyed(state, Kind.PIN) == {(PluginType.SECRET, "kv-extra"): pin()}
    assert list(keyed(state, Kind.RUNTIME)) == ["g"]
    assert select(state, Kind.RELOAD) == ()
    # A kind registered later keeps its objects under its own attribute, without a State field.
    assert State(mount_versions=(1, 2)).mount_versions == (1, 2)  # type: ignore[call-arg, attr-defined]


def test_generic_diff_pairs_by_key_and_leaves_validation_to_validate() -> None:
    want = desired(plugin(sha=SHA2), plugin("new"), pins=(pin(),), runtimes=(Runtime(name="g", cpu_nanos=1),))
    have = live(
        live_plugin(declarative=True),
        live_plugin("gone"),
        live_plugin("builtin", builtin=True),
        server=VAULT,
        pins=(pin(version="v0.1.0"),),
        runtimes=(Runtime(name="g"), Runtime(name="old")),
    )
    found = {(c.kind.value, c.action.value, c.name, c.fields, c.reason) for c in changes(want, have, Valid())}
    assert found == {
        # diff does not refuse the declarative entry: validate does, before diff runs.
        ("plugin", "update", "kv-extra", ("sha256",), "differs from the manifests"),
        ("plugin", "create", "new", (), "declared in the manifests, missing on the server"),
        ("plugin", "delete", "gone", (), "not declared in any manifest (prune)"),
        ("pin", "update", "kv-extra", ("version",), "pinned to v0.1.0 on the server"),
        ("runtime", "update", "g", ("cpu_nanos",), "differs from the manifests"),
        ("runtime", "delete", "old", (), "not declared in any manifest (prune)"),
    }
    assert changes(want, have, Valid(), prune=False) == [
        c for c in changes(want, have, Valid()) if c.action != "delete"
    ]
    forced = Valid(forced=frozenset({(Kind.PLUGIN, plugin("new").key)}))
    assert len(changes(desired(plugin("new")), live(live_plugin("new")), forced)) == 1


def test_validation_reports_every_unsupported_feature_at_once() -> None:
    want = desired(plugin(runtime="g"), pins=(pin(), pin("other")), runtimes=(Runtime(name="g"),))
    want.origins[(Kind.PIN, pin().key)] = "a.yaml:3"
    want.origins[(Kind.RUNTIME, "g")] = "a.yaml:9"
    lines = unsupported_features(want, OPENBAO)
    assert lines == [
        "?: pin secret/other: pins need Vault 1.16+, but the server is OpenBao 2.7.2",
        "?: secret/kv-extra v1.0.0: container plugins (oci_image, runtime) need Vault 1.15+, but the server is OpenBao 2.7.2",
        "a.yaml:3: pin secret/kv-extra: pins need Vault 1.16+, but the server is OpenBao 2.7.2",
        "a.yaml:9: runtime g: plugin runtimes need Vault 1.15+, but the server is OpenBao 2.7.2",
    ]
    assert unsupported_features(want, VAULT) == []
    with pytest.raises(PlanError, match=r"pins need Vault 1\.16"):
        validate(want, live())


def test_validation_lists_every_declarative_overwrite_and_resolves_replace() -> None:
    want = desired(plugin(sha=SHA2), plugin("b", sha=SHA2), plugin("same"))
    have = live(
        live_plugin(declarative=True), live_plugin("b", declarative=True), live_plugin("same", declarative=True)
    )
    assert len(refused_overwrites(want, have, frozenset())) == 2
    forced = replace_selection(["secret/same"], want.state.plugins)
    assert forced == {(Kind.PLUGIN, plugin("same").key)}
    assert len(refused_overwrites(want, have, forced)) == 3
    with pytest.raises(UsageError, match="matches no plugin"):
        validate(want, have, ["secret/nope"])


def test_reload_steps_carry_the_endpoint_plan_chose() -> None:
    change = Change(Kind.PIN, Action.CREATE, "secret", "kv", "v1.0.0")
    for server, endpoint in ((VAULT, BY_NAME), (OPENBAO, BACKEND)):
        plan = build_plan([change], live(server=server, mounts=()), Settings(reload="changed"), "x")
        assert [(s.kind, s.endpoint) for s in plan.steps] == [(Kind.PIN, ""), (Kind.RELOAD, endpoint)]
        assert plan.changes == plan.steps


def test_safety_rules_run_once_over_the_whole_plan() -> None:
    mount = Mount(path="m/", plugin="kv", running_plugin_version="v1.0.0")
    have = live(
        live_plugin("kv", "v1.0.0"),
        live_plugin("kv", "v2.0.0", runtime="r"),
        server=VAULT,
        pins=(pin("kv", "v1.0.0"),),
        runtimes=(Runtime(name="r"),),
        mounts=(mount,),
    )
    deletes = [
        Change(Kind.PLUGIN, Action.DELETE, "secret", "kv", "v1.0.0", before=live_plugin("kv", "v1.0.0")),
        Change(Kind.RUNTIME, Action.DELETE, "container", "r"),
        Change(Kind.PIN, Action.UPDATE, "secret", "kv", "v2.0.0", after=pin("kv", "v2.0.0")),
        Change(Kind.RELOAD, Action.RELOAD, "secret", "kv"),
    ]
    verdicts = safety.delete_verdicts(deletes, have, have.mounts or (), {})
    assert verdicts.blocked == {1: "runtime r is referenced by secret/kv v2.0.0"}
    assert verdicts.recheck == {0}  # repinned and reloaded: apply re-reads the mounts first
    skipped = {3: "no"}
    assert safety.delete_verdicts(deletes, have, have.mounts or (), skipped).blocked[0] == (
        "v1.0.0 is in use by mounts: m/"
    )
    assert safety.skipped_reloads(deletes, VAULT) == {}
