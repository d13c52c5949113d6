"""build_plan: ordering, reloads and plan-time safety. Pure, no server."""

from __future__ import annotations

from reconciler.diff import diff
from reconciler.plan import build_plan, needs_mounts
from reconciler.render.common import subject, verb
from reconciler.resources import Mount, Runtime, Settings
from tests.factories import OPENBAO, SHA2, VAULT, desired, live, live_plugin, pin, plugin

CHANGED = Settings(reload="changed")


def steps(plan) -> list[str]:
    return [f"{verb(c)} {subject(c)}" for c in plan.changes]


def make(want, have, settings=None):
    settings = settings or want.state.settings
    return build_plan(diff(want, have), have, settings, "http://x")


def test_order_is_phase_then_type_then_name_then_semver() -> None:
    want = desired(
        plugin("b", "v1.10.0"),
        plugin("b", "v1.2.0"),
        plugin("b", ""),
        plugin("a", "v1.0.0", t="secret"),
        plugin("z", "v1.0.0", t="auth"),
        plugin("d", "v1.0.0", t="database"),
    )
    have = live(live_plugin("old", "v2.0.0"), live_plugin("old", "v1.0.0"))
    assert steps(make(want, have)) == [
        "register auth/z v1.0.0",
        "register database/d v1.0.0",
        "register secret/a v1.0.0",
        "register secret/b (unversioned)",
        "register secret/b v1.2.0",
        "register secret/b v1.10.0",
        "delete secret/old v1.0.0",
        "delete secret/old v2.0.0",
    ]


def test_every_phase_in_order() -> None:
    want = desired(
        plugin("kv", "v2.0.0", runtime="gvisor"),
        pins=(pin("kv", "v2.0.0"),),
        runtimes=(Runtime(name="gvisor"),),
        settings=CHANGED,
    )
    have = live(
        live_plugin("kv", "v1.0.0"),
        live_plugin("gone", "v1.0.0"),
        server=VAULT,
        pins=(pin("kv", "v1.0.0"), pin("gone", "v1.0.0")),
        runtimes=(Runtime(name="old"),),
        mounts=(Mount(path="kv/", plugin="kv", plugin_version="v1.0.0", running_plugin_version="v1.0.0"),),
    )
    plan = make(want, have)
    assert steps(plan) == [
        "register runtime gvisor",
        "register secret/kv v2.0.0",
        "pin secret/kv v2.0.0",
        "reload secret/kv",
        "unpin secret/gone v1.0.0",
        "delete secret/gone v1.0.0",
        "delete secret/kv v1.0.0",
        "delete runtime old",
    ]
    assert plan.blocked == []
    kv_delete = next(c for c in plan.changes if c.name == "kv" and c.action.value == "delete")
    assert kv_delete.recheck_mounts
    assert [len(p) for p in plan.phases()] == [1, 1, 1, 1, 1, 2, 1]


def test_version_in_use_is_blocked_unless_repinned_and_reloaded() -> None:
    have = live(
        live_plugin("kv", "v1.0.0"),
        server=VAULT,
        mounts=(Mount(path="team-a/", plugin="kv", running_plugin_version="v1.0.0"),),
    )
    plan = make(desired(), have)
    assert [c.blocked for c in plan.changes] == ["v1.0.0 is in use by mounts: team-a/"]


def test_version_a_mount_would_run_after_reload_is_blocked() -> None:
    mount = Mount(path="m/", plugin="kv", plugin_version="v1.0.0", running_plugin_version="v0.9.0")
    have = live(live_plugin("kv", "v1.0.0"), live_plugin("kv", "v0.9.0"), mounts=(mount,))
    plan = make(desired(plugin("kv", "v0.9.0")), have)
    assert [c.blocked for c in plan.changes] == ["v1.0.0 is in use by mounts: m/"]


def test_auth_mounts_only_count_for_auth_plugins() -> None:
    mount = Mount(path="auth/x/", plugin="kv", auth=True, running_plugin_version="v1.0.0")
    plan = make(desired(), live(live_plugin("kv", "v1.0.0"), mounts=(mount,)))
    assert plan.blocked == []


def test_pinned_version_kept_pinned_is_blocked() -> None:
    have = live(live_plugin("kv", "v1.0.0"), server=VAULT, pins=(pin("kv", "v1.0.0"),), mounts=())
    want = desired(settings=Settings(ignore=("secret/kv",)))
    # The pin is ignored (kept); deleting the version it names would fail on the server.
    plan = build_plan(diff(want, have) + diff(desired(), live(live_plugin("kv", "v1.0.0"))), have, Settings(), "x")
    assert [c.blocked for c in plan.changes] == ["v1.0.0 is pinned and the plan keeps that pin"]


def test_runtime_referenced_by_a_remaining_plugin_is_blocked() -> None:
    have = live(
        live_plugin("legacy", "v1.0.0", runtime="old"),
        server=VAULT,
        runtimes=(Runtime(name="old"),),
    )
    plan = make(desired(settings=Settings(ignore=("secret/legacy",))), have)
    assert [(steps(plan), c.blocked) for c in plan.changes] == [
        (["delete runtime old"], "runtime old is referenced by secret/legacy v1.0.0")
    ]


def test_reload_only_for_changed_pins_and_reregistered_versions_in_use() -> None:
    mounts = (
        Mount(path="a/", plugin="used", running_plugin_version="v1.0.0"),
        Mount(path="b/", plugin="unused", running_plugin_version="v9.0.0"),
    )
    want = desired(
        plugin("used", "v1.0.0", sha=SHA2),
        plugin("unused", "v1.0.0", sha=SHA2),
        plugin("same", "v1.0.0"),
        plugin("db", "v1.0.0", t="database", sha=SHA2),
        pins=(pin("same", "v1.0.0"),),
        settings=CHANGED,
    )
    have = live(
        live_plugin("used", "v1.0.0"),
        live_plugin("unused", "v1.0.0"),
        live_plugin("same", "v1.0.0"),
        live_plugin("db", "v1.0.0", t="database"),
        server=VAULT,
        pins=(),
        mounts=mounts,
    )
    plan = make(want, have)
    reloads = [(c.name, c.reason) for c in plan.changes if c.kind.value == "reload"]
    assert reloads == [
        ("same", "pin moved to v1.0.0"),
        ("used", "v1.0.0 re-registered while mounts run it: a/"),
    ]


def test_no_reload_without_the_setting_and_none_for_a_removed_pin() -> None:
    have = live(live_plugin("kv", "v1.0.0"), server=VAULT, pins=(pin("kv", "v1.0.0"),), mounts=())
    plan = make(desired(plugin("kv", "v1.0.0"), settings=CHANGED), have)
    assert steps(plan) == ["unpin secret/kv v1.0.0"]
    plan = make(desired(plugin("kv", "v1.0.0"), pins=(pin("kv", "v1.0.0"),)), live(live_plugin("kv"), server=VAULT))
    assert steps(plan) == ["pin secret/kv v1.0.0"]


def test_openbao_cannot_reload_database_plugins_so_the_reload_is_skipped() -> None:
    mount_less = live(live_plugin("db", "v1.0.0", t="database"), server=OPENBAO, mounts=())
    from reconciler.diff import Action, Change, Kind

    change = Change(Kind.PIN, Action.CREATE, "database", "db", "v1.0.0")
    (reload,) = [s for s in build_plan([change], mount_less, CHANGED, "x").steps if s.kind is Kind.RELOAD]
    assert reload.skipped is not None
    assert "can only reload auth and secret plugins" in reload.skipped


def test_needs_mounts_only_for_deletes_or_possible_reloads() -> None:
    creates = diff(desired(plugin()), live())
    assert not needs_mounts(creates, Settings(), live())
    assert needs_mounts(diff(desired(), live(live_plugin())), Settings(), live())
    updates = diff(desired(plugin(sha=SHA2)), live(live_plugin()))
    assert not needs_mounts(updates, Settings(), live())
    assert needs_mounts(updates, CHANGED, live())
    pinned = live(live_plugin(), server=VAULT, pins=(pin(),))
    assert not needs_mounts([], Settings(), pinned)
    assert needs_mounts([], CHANGED, pinned)


def test_summary_counts_by_action() -> None:
    plan = make(desired(plugin("a"), plugin("b", sha=SHA2)), live(live_plugin("b"), live_plugin("c"), mounts=()))
    assert plan.summary == {"create": 1, "update": 1, "delete": 1, "reload": 0}
    assert plan.deletions == 1
