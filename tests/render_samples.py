"""Plans, drift and reports that exercise every part of every renderer (no server).

The JSON goldens in tests/golden/*.json were written from these by the renderers as they were
before issue #11; test_render.py checks the output is still byte for byte the same.
"""

from __future__ import annotations

import dataclasses

from reconciler.apply import Outcome, Report, Result
from reconciler.checks import Check
from reconciler.diff import diff
from reconciler.drift import Drift, detect
from reconciler.plan import Plan, build_plan
from reconciler.resources import Mount, Settings
from tests.factories import SHA2, VAULT, desired, live, live_plugin, pin, plugin

SECRET = "s3cr3t-env-value"

CHECKS = (
    Check(id="aws-ebs0", ok=True),
    Check(id="hostpath", ok=False, reason="1 of 2 nodes healthy, need 2"),
)
UNMANAGED_CSI = ("other-csi", "zz-csi")


def plan() -> Plan:
    """Updates, creates, deletes, pins, a reload, a blocked delete, CSI checks and unmanaged plugins."""
    mounts = (
        Mount(path="team-a/", plugin="kv-extra", running_plugin_version="v0.9.0"),
        Mount(path="busy/", plugin="busy", running_plugin_version="v1.0.0"),
    )
    want = desired(
        plugin("kv-extra", "v1.0.0", sha=SHA2, env={"TOKEN": SECRET}),
        plugin("new-one", "v2.0.0", args=("-x",)),
        pins=(pin("kv-extra", "v1.0.0"),),
        settings=Settings(reload="changed"),
    )
    have = live(
        live_plugin("kv-extra", "v1.0.0"),
        live_plugin("kv-extra", "v0.9.0"),
        live_plugin("busy", "v1.0.0"),
        server=VAULT,
        mounts=mounts,
    )
    the_plan = build_plan(diff(want, have), have, want.state.settings, "https://vault.example:8200")
    return dataclasses.replace(the_plan, checks=CHECKS, unmanaged_csi=UNMANAGED_CSI, unpruned=("secret/left",))


def drift() -> Drift:
    return detect(plan())


def report() -> Report:
    """An apply that did the first change, failed the second and never started the rest."""
    the_plan = plan()
    done = Report(the_plan)
    done.results[0] = Result(the_plan.changes[0], Outcome.DONE)
    done.results[1] = Result(the_plan.changes[1], Outcome.FAILED, "permission denied\nsecond line")
    return done
