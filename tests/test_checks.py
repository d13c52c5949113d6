"""Pure evaluation of CSI plugin expectations against plugin reads: tables, no server."""

from __future__ import annotations

from typing import Any

import pytest

from reconciler.checks import Check
from reconciler.kinds.csi import evaluate, unmanaged
from reconciler.resources import CsiPlugin
from reconciler.targets.nomad.models import CsiPluginRead

EBS = "ebs.csi.aws.com"


def inst(healthy: bool = True, provider: str = EBS, version: str = "1.5.0") -> dict[str, Any]:
    return {"Healthy": healthy, "Provider": provider, "ProviderVersion": version, "HealthDescription": "healthy"}


def read(
    controllers: list[dict[str, Any]] | None = None,
    nodes: list[dict[str, Any]] | None = None,
    *,
    provider: str = EBS,
    controller_required: bool = False,
    controllers_expected: int | None = None,
    nodes_expected: int | None = None,
) -> dict[str, Any]:
    """A plugin read; expected counts default to the number of instances (a rolled-out job)."""
    controllers = controllers or []
    nodes = nodes or []
    return {
        "ID": "aws-ebs0",
        "Provider": provider,
        "Version": "1.5.0",
        "ControllerRequired": controller_required,
        "Controllers": {f"c{i}": x for i, x in enumerate(controllers)},
        "Nodes": {f"n{i}": x for i, x in enumerate(nodes)},
        # The counters lie on purpose: evaluation must count the maps itself (reference §7.1).
        "ControllersHealthy": 99,
        "NodesHealthy": 99,
        "ControllersExpected": len(controllers) if controllers_expected is None else controllers_expected,
        "NodesExpected": len(nodes) if nodes_expected is None else nodes_expected,
    }


def typed(plugin: dict[str, Any] | None) -> CsiPluginRead | None:
    """A read as the Nomad client returns it: decoded into its model."""
    return None if plugin is None else CsiPluginRead.model_validate(plugin)


def one(expectation: CsiPlugin, plugin: dict[str, Any] | None) -> Check:
    [result] = evaluate([expectation], {expectation.id: typed(plugin)})
    return result


CASES: list[tuple[str, CsiPlugin, dict[str, Any] | None, str]] = [
    ("missing", CsiPlugin(id="aws-ebs0"), None, "missing"),
    ("everything healthy by default", CsiPlugin(id="aws-ebs0"), read([inst()], [inst(), inst(), inst()]), ""),
    (
        "default minimum: every expected node",
        CsiPlugin(id="aws-ebs0"),
        read([inst()], [inst(), inst(), inst(healthy=False)]),
        "2 of 3 nodes healthy, need 3",
    ),
    (
        "default minimum counts expected instances that never reported",
        CsiPlugin(id="aws-ebs0"),
        read([], [inst()], nodes_expected=3),
        "1 of 3 nodes healthy, need 3",
    ),
    (
        "explicit minimum below expected passes",
        CsiPlugin(id="aws-ebs0", nodes_healthy=2),
        read([], [inst(), inst(), inst(healthy=False)]),
        "",
    ),
    (
        "explicit minimum not met",
        CsiPlugin(id="aws-ebs0", nodes_healthy=2),
        read([], [inst(), inst(healthy=False), inst(healthy=False)]),
        "1 of 3 nodes healthy, need 2",
    ),
    (
        "explicit controller minimum with nothing expected",
        CsiPlugin(id="aws-ebs0", controllers_healthy=1),
        read([], [inst()]),
        "0 controllers healthy, need 1",
    ),
    ("node-only plugin needs no controller", CsiPlugin(id="aws-ebs0"), read([], [inst()]), ""),
    (
        "counters are not trusted",
        CsiPlugin(id="aws-ebs0"),
        read([inst(healthy=False)], []),
        "0 of 1 controllers healthy, need 1",
    ),
    (
        "provider differs",
        CsiPlugin(id="aws-ebs0", provider="disk.csi.azure.com"),
        read([], [inst(provider="disk.csi.azure.com")]),
        f"provider is {EBS}, want disk.csi.azure.com",
    ),
    (
        "provider never fingerprinted",
        CsiPlugin(id="aws-ebs0", provider=EBS),
        read([], [], provider="", nodes_expected=0),
        f"provider is (none), want {EBS}",
    ),
    (
        "instances of another provider do not count",
        CsiPlugin(id="aws-ebs0", provider=EBS),
        read([], [inst(), inst(provider="other")]),
        "1 of 2 nodes healthy, need 2",
    ),
    (
        "version: only matching instances count",
        CsiPlugin(id="aws-ebs0", version="1.5.0"),
        read([], [inst(version="1.5.0"), inst(version="1.4.0"), inst(version="1.4.0")]),
        "1 of 3 nodes healthy at version 1.5.0, need 3 (2 healthy at 1.4.0)",
    ),
    (
        "version with an explicit minimum",
        CsiPlugin(id="aws-ebs0", version="1.5.0", nodes_healthy=1),
        read([], [inst(version="1.5.0"), inst(version="1.4.0")]),
        "",
    ),
    (
        "unhealthy instances at the right version do not count",
        CsiPlugin(id="aws-ebs0", version="1.5.0"),
        read([], [inst(healthy=False)]),
        "0 of 1 nodes healthy at version 1.5.0, need 1",
    ),
    (
        "controller_required differs",
        CsiPlugin(id="aws-ebs0", controller_required=True),
        read([], [inst()]),
        "controller_required is false, want true",
    ),
    (
        "controller_required matches",
        CsiPlugin(id="aws-ebs0", controller_required=True),
        read([inst()], [inst()], controller_required=True),
        "",
    ),
    (
        "several reasons, joined",
        CsiPlugin(id="aws-ebs0", provider="x", controller_required=True, nodes_healthy=2),
        read([inst(healthy=False, provider="x")], [inst(provider="x")], provider="y"),
        "provider is y, want x; controller_required is false, want true; "
        "0 of 1 controllers healthy, need 1; 1 of 1 nodes healthy, need 2",
    ),
]


@pytest.mark.parametrize(("expectation", "plugin", "reason"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_evaluate(expectation: CsiPlugin, plugin: dict[str, Any] | None, reason: str) -> None:
    assert one(expectation, plugin) == Check(id="aws-ebs0", ok=not reason, reason=reason)


def test_null_maps_and_missing_fields_read_as_empty() -> None:
    plugin = {"ID": "p", "Controllers": None, "Nodes": None}
    assert one(CsiPlugin(id="p"), plugin).ok
    assert one(CsiPlugin(id="p", nodes_healthy=1), plugin).reason == "0 nodes healthy, need 1"


def test_an_absent_id_is_missing_and_checks_are_sorted_by_id() -> None:
    results = evaluate([CsiPlugin(id="b"), CsiPlugin(id="a")], {"b": typed(read([], [inst()]))})
    assert results == [Check(id="a", ok=False, reason="missing"), Check(id="b", ok=True)]
    assert results[0].kind == "nomad_csi_plugin"


def test_unmanaged_lists_undeclared_live_plugins_sorted() -> None:
    assert unmanaged([CsiPlugin(id="a")], ["z", "a", "m"]) == ["m", "z"]
    assert unmanaged([CsiPlugin(id="a")], []) == []
