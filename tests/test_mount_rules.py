"""Plan rules for declared mounts, pure (mount_rules.py, safety.py): tunes, reloads, deletes, pins."""

from __future__ import annotations

from reconciler.diff import Action, Kind, diff
from reconciler.kinds.mount import PINNED, DeclaredMount
from reconciler.kinds.reload import BACKEND, BY_NAME, ReloadMounts
from reconciler.manifest import Desired
from reconciler.plan import Plan, build_plan
from reconciler.resources import Mount, Settings, State
from tests.factories import OPENBAO, SHA1, SHA2, VAULT, live, live_plugin, pin, plugin

V1, V2 = "v1.0.0", "v2.0.0"


def declared(version: str = V2, path: str = "up/", **kw: object) -> DeclaredMount:
    return DeclaredMount(path=path, plugin="kv-extra", plugin_version=version, **kw)  # type: ignore[arg-type]


def mount(path: str = "up/", pv: str = V1, rpv: str | None = None, sha: str = SHA1) -> Mount:
    return Mount(path=path, plugin="kv-extra", plugin_version=pv, running_plugin_version=rpv or pv, running_sha256=sha)


def planned(want: State, *plugins, mounts=(), server=OPENBAO, pins=(), settings: Settings | None = None) -> Plan:
    desired = Desired(state=want.model_copy(update={"settings": settings or Settings()}), origins={})
    have = live(*plugins, server=server, pins=pins, mounts=tuple(mounts))
    have = have.__class__(
        server=have.server, state=have.state.model_copy(update={"mounts": tuple(mounts)}), mounts=have.mounts
    )
    return build_plan(diff(desired, have), have, desired.state.settings, "http://x", desired.state)


def rows(plan: Plan) -> list[tuple[str, str, str, str]]:
    return [(s.kind.value, s.action.value, s.name, s.version) for s in plan.steps]


def test_upgrade_tunes_reloads_the_mount_and_deletes_the_old_version_after_a_read_back() -> None:
    want = State(plugins=(plugin(version=V2),), mounts=(declared(),))  # type: ignore[call-arg]
    plan = planned(want, live_plugin(version=V1), mounts=[mount()])
    assert rows(plan) == [
        ("plugin", "create", "kv-extra", V2),
        ("mount", "update", "up/", V2),
        ("reload", "reload", "kv-extra", ""),
        ("plugin", "delete", "kv-extra", V1),
    ]
    _tune, reload, delete = plan.steps[1:]
    assert [s.phase for s in plan.steps] == [1, 3, 4, 6]
    assert (reload.endpoint, reload.after) == (BACKEND, ReloadMounts(mounts=("up/",)))
    assert reload.reason == "declared mounts must run their version: up/ v1.0.0 -> v2.0.0"
    assert (delete.blocked, delete.recheck_mounts) == (None, True)


def test_a_mount_that_already_runs_its_version_needs_nothing() -> None:
    want = State(plugins=(plugin(version=V2),), mounts=(declared(),))  # type: ignore[call-arg]
    assert planned(want, live_plugin(version=V2), mounts=[mount(pv=V2)]).steps == ()


def test_a_stale_running_version_or_another_build_is_reloaded_without_a_tune() -> None:
    want = State(plugins=(plugin(version=V2, sha=SHA2),), mounts=(declared(),))  # type: ignore[call-arg]
    stale = planned(want, live_plugin(version=V2, sha=SHA2), mounts=[mount(pv=V2, rpv=V1)])
    assert rows(stale) == [("reload", "reload", "kv-extra", "")]
    rebuilt = planned(want, live_plugin(version=V2, sha=SHA2), mounts=[mount(pv=V2, sha=SHA1)])
    assert rows(rebuilt) == [("reload", "reload", "kv-extra", "")]
    assert "up/ v2.0.0 sha256 11111111…1111 -> 22222222…2222" in rebuilt.steps[0].reason


def test_undeclared_mounts_are_not_tuned_or_reloaded_and_block_deletes_of_what_they_run() -> None:
    want = State(plugins=(plugin(version=V2),), mounts=(declared(),))  # type: ignore[call-arg]
    plan = planned(want, live_plugin(version=V1), mounts=[mount(), mount("other/", rpv=V2)])
    reload = next(s for s in plan.steps if s.kind is Kind.RELOAD)
    assert reload.after == ReloadMounts(mounts=("up/",))
    delete = next(s for s in plan.steps if s.action is Action.DELETE)
    assert delete.blocked == "v1.0.0 is in use by mounts: other/"


def test_latest_resolves_to_the_highest_version_after_the_plan() -> None:
    want = State(plugins=(plugin(version=V1), plugin(version=V2)), mounts=(declared("latest"),))  # type: ignore[call-arg]
    plan = planned(want, live_plugin(version=V1), mounts=[mount(pv="latest", rpv=V1)])
    assert rows(plan) == [("plugin", "create", "kv-extra", V2), ("reload", "reload", "kv-extra", "")]
    assert plan.steps[1].reason.endswith("up/ v1.0.0 -> v2.0.0")


def test_a_plugin_wide_reload_covers_the_declared_mounts() -> None:
    want = State(plugins=(plugin(version=V1, sha=SHA2), plugin(version=V2)), mounts=(declared(),))  # type: ignore[call-arg]
    plan = planned(
        want, live_plugin(version=V1), mounts=[mount(), mount("other/")], settings=Settings(reload="changed")
    )
    (reload,) = [s for s in plan.steps if s.kind is Kind.RELOAD]
    assert reload.after is None  # every mount of the plugin
    assert reload.reason.startswith("v1.0.0 re-registered while mounts run it: up/, other/; declared mounts")


def test_vault_reloads_by_name_and_a_pin_decides_what_mounts_run() -> None:
    want = State(
        plugins=(plugin(version=V1), plugin(version=V2)),
        pins=(pin(version=V2),),
        mounts=(declared(V1), declared(V1, path="new/", create=True)),
    )  # type: ignore[call-arg]
    plan = planned(want, live_plugin(version=V1), live_plugin(version=V2), mounts=[mount()], server=VAULT)
    assert rows(plan) == [
        ("pin", "create", "kv-extra", V2),
        ("mount", "create", "new/", V2),  # enabled under the pin, without a version
        ("reload", "reload", "kv-extra", ""),
    ]
    enable, reload = plan.steps[1:]
    assert enable.endpoint == PINNED
    assert enable.after.plugin_version == V2
    assert reload.endpoint == BY_NAME
    assert plan.notes == tuple(
        f"mount {p} declares v1.0.0, but secret/kv-extra is pinned to v2.0.0: the pin decides what it runs "
        "(Vault refuses a mount version while a pin is in effect); declare v2.0.0 or remove the pin"
        for p in ("up/", "new/")
    )


def test_notes_are_shown_in_every_format() -> None:
    from reconciler import render

    want = State(plugins=(plugin(version=V1), plugin(version=V2)), pins=(pin(version=V2),), mounts=(declared(V1),))  # type: ignore[call-arg]
    plan = planned(
        want,
        live_plugin(version=V1),
        live_plugin(version=V2),
        pins=(pin(version=V2),),
        mounts=[mount(rpv=V2)],
        server=VAULT,
    )
    assert plan.steps == ()
    assert "Note: mount up/ declares v1.0.0" in render.get("text").render_plan(plan)
    assert "ℹ️ mount up/ declares v1.0.0" in render.get("markdown").render_plan(plan)
    assert '"notes": [' in render.get("json").render_plan(plan)


def test_a_reload_of_many_mounts_names_five_and_lists_all() -> None:
    paths = [f"m{i}/" for i in range(7)]
    want = State(plugins=(plugin(version=V2),), mounts=tuple(declared(path=p) for p in paths))  # type: ignore[call-arg]
    plan = planned(want, live_plugin(version=V2), mounts=[mount(p) for p in paths])
    (reload,) = [s for s in plan.steps if s.kind is Kind.RELOAD]
    assert reload.after == ReloadMounts(mounts=tuple(paths))
    assert reload.reason.endswith("m4/ v1.0.0 -> v2.0.0 and 2 more")
