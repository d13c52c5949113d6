"""`status` without a server: every verdict from `inventory`, and the three renderings. Pure."""

from __future__ import annotations

import json

import pytest

from reconciler.errors import UsageError
from reconciler.kinds.mount import DeclaredMount
from reconciler.plan import Target
from reconciler.render import status as render_status
from reconciler.resources import Mount, Pin, Plugin, PluginType, State
from reconciler.status import Inventory, Verdict, inventory
from tests.factories import SHA1, SHA2, plugin

TARGET = Target(address="http://x", server="openbao", version="2.7.2")
SECRET = PluginType.SECRET


def live(name: str, version: str, sha: str = SHA1, builtin: bool = False) -> Plugin:
    return Plugin(type=SECRET, name=name, version=version, sha256=sha, builtin=builtin)


def mount(path: str, name: str = "kv-extra", pv: str = "v1.0.0", rpv: str | None = None, sha: str = SHA1) -> Mount:
    return Mount(path=path, plugin=name, plugin_version=pv, running_plugin_version=rpv or pv, running_sha256=sha)


def build() -> Inventory:
    desired = State(
        plugins=(plugin(version="v1.0.0"), plugin(version="v1.1.0", sha=SHA2)),
        mounts=(
            DeclaredMount(path="ok/", plugin="kv-extra", plugin_version="v1.0.0"),
            DeclaredMount(path="differs/", plugin="kv-extra", plugin_version="v1.1.0"),
            DeclaredMount(path="absent/", plugin="kv-extra", plugin_version="v1.1.0", create=True),
            DeclaredMount(path="newest/", plugin="kv-extra", plugin_version="latest"),
        ),
    )  # type: ignore[call-arg]
    catalog = [
        live("kv-extra", "v0.9.0"),
        live("kv-extra", "v1.0.0"),
        live("kv-extra", "v1.1.0", SHA2),
        live("kv", "v2.7.2+builtin.bao", "", builtin=True),
        live("other", "v3.0.0"),
    ]
    mounts = [
        mount("ok/"),
        mount("differs/"),
        mount("newest/", pv="latest", rpv="v1.1.0", sha=SHA2),
        mount("stale/", pv="v1.1.0", rpv="v1.0.0"),
        mount("old/", pv="v0.9.0"),
        mount("broken/"),
        mount("orphan/", name="gone"),
        mount("third/", name="other", pv="v3.0.0"),
        Mount(path="secret/", plugin="kv", running_plugin_version="v2.7.2+builtin.bao"),
        Mount(path="token/", plugin="token", auth=True, running_plugin_version="v2.7.2+builtin.bao"),
    ]
    return inventory(desired, TARGET, catalog, [], mounts, frozenset({"broken/"}))


def test_every_verdict() -> None:
    found = {m.path: (m.verdict, m.detail) for m in build().mounts}
    assert found == {
        "absent/": (Verdict.NOT_ENABLED, "declared in the manifests, not enabled on the server"),
        "broken/": (
            Verdict.NOT_RUNNING,
            "no backend serves it (a reload failed); sys/mounts still says v1.0.0",
        ),
        "differs/": (Verdict.DIFFERS, "configured v1.0.0, manifests say v1.1.0"),
        "newest/": (Verdict.OK, "runs v1.1.0"),
        "ok/": (Verdict.OK, "runs v1.0.0"),
        "old/": (Verdict.NOT_DECLARED, "runs v0.9.0, not declared for secret/kv-extra"),
        "orphan/": (Verdict.PLUGIN_MISSING, "no secret plugin 'gone' in the catalog: it cannot start again"),
        "stale/": (Verdict.NEEDS_RELOAD, "runs v1.0.0, configured v1.1.0"),
        "third/": (Verdict.NOT_DECLARED, "runs v3.0.0; secret/other is not in the manifests"),
    }
    assert [m.path for m in build().mismatches] == ["orphan/", "broken/", "old/", "stale/", "third/"]


def test_versions_per_plugin_and_pins() -> None:
    found = inventory(
        State(plugins=(plugin(version="v1.2.0"),)),
        TARGET.__class__(address="http://x", server="vault", version="1.17.6"),
        [live("kv-extra", "v1.0.0")],
        [Pin(type=SECRET, name="kv-extra", version="v1.0.0")],
        [mount("pinned/", pv="v1.2.0", rpv="v1.0.0")],
    )
    (p,) = found.plugins
    assert [(v.version, v.registered, v.declared) for v in p.versions] == [
        ("v1.0.0", True, False),
        ("v1.2.0", False, True),
    ]
    assert p.pinned == "v1.0.0"
    (m,) = p.mounts
    assert (m.expected, m.verdict) == ("v1.0.0", Verdict.NOT_DECLARED)  # the pin decides what it should run


def test_renderings() -> None:
    found = build()
    text = render_status.render(found, "text")
    assert "secret/kv-extra\n  versions: v0.9.0 (not in the manifests), v1.0.0 (declared), v1.1.0 (declared)" in text
    assert "    needs reload                         stale/  runs v1.0.0, configured v1.1.0" in text
    assert text.endswith(
        "3 plugins, 9 mounts: 1 not enabled, 1 plugin missing from the catalog, 1 not running, "
        "1 needs reload, 1 differs from the manifests, 2 runs a version not in the manifests, 2 ok.\n"
    )
    doc = json.loads(render_status.render(found, "json"))
    assert doc["format_version"] == 1
    assert doc["summary"]["ok"] == 2
    assert [p["name"] for p in doc["plugins"]] == ["gone", "kv-extra", "other"]
    markdown = render_status.render(found, "markdown")
    assert (
        "| `stale/` | secret/kv-extra | v1.1.0 | v1.0.0 (`11111111…1111`) | 🔄 needs reload: runs v1.0.0, configured v1.1.0 |"
        in markdown
    )
    with pytest.raises(UsageError):
        render_status.render(found, "yaml")
    empty = inventory(State(), TARGET, [], [], [])
    assert render_status.render(empty, "text").endswith("0 plugins, no mounts of them.\n")
