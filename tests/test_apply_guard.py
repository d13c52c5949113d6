"""Check before writing, verify after (issue 10 §7): another writer changes entries while apply runs.

The other writer acts in apply's `on_result` callback, between two changes, through the server's
own API: the real OpenBao for plugins, the Vault emulator for pins and runtimes.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

import httpx

from reconciler import loader
from reconciler.apply import Outcome, Report, Result, apply
from reconciler.pipeline import Options, plan
from reconciler.targets.vault.api import VaultApi, connect
from reconciler.targets.vault.settings import VaultTarget
from tests.cli import SHA_A, SHA_B, SHA_C, reconcile, write
from tests.servers import BaoServer

TWO = f"""
plugins:
  - {{name: auth-x, type: auth, versions: [{{version: 1.0.0, sha256: {SHA_A}}}]}}
  - {{name: other, type: secret, versions: [{{version: 1.0.0, sha256: {SHA_B}}}]}}
"""


def run_apply(
    address: str, token: str, manifests: Path, on_result: Callable[[Result], None]
) -> tuple[Report, dict[str, int]]:
    """Plan and apply in-process (parallelism 1, so changes run in plan order); also the requests sent."""
    desired = loader.load(manifests)
    target = VaultTarget.from_env(address, {"VAULT_TOKEN": token})

    async def go() -> tuple[Report, dict[str, int]]:
        async with connect(target, parallelism=1).http as http:
            api = VaultApi(http)
            computed = await plan(api, desired, Options(manifests, address, parallelism=1), address, {})
            before = dict(http.sent)
            report = await apply(computed.plan, api, computed.live.server, parallelism=1, on_result=on_result)
            return report, {m: http.sent[m] - before.get(m, 0) for m in http.sent}

    return asyncio.run(go())


def register(bao: BaoServer, t: str, name: str, sha: str, version: str = "v1.0.0") -> None:
    with bao.client() as c:
        body = {"sha256": sha, "command": name, "version": version}
        c.post(f"/v1/sys/plugins/catalog/{t}/{name}", json=body).raise_for_status()


def sha_of(bao: BaoServer, t: str, name: str, version: str = "v1.0.0") -> str | None:
    with bao.client() as c:
        r = c.get(f"/v1/sys/plugins/catalog/{t}/{name}", params={"version": version})
        return None if r.status_code == 404 else str(r.json()["data"]["sha256"])


def lines(report: Report) -> list[tuple[str, str, str]]:
    return [(r.change.name, r.outcome.value, r.error) for r in report.ordered()]


def test_update_is_refused_when_the_entry_changed_since_the_plan(bao: BaoServer, tmp_path: Path) -> None:
    for name in ("auth-x", "other"):
        bao.add_plugin_file(name)
    register(bao, "secret", "other", SHA_A)
    m = write(tmp_path / "m.yaml", TWO)

    def other_writer(result: Result) -> None:
        if result.change.name == "auth-x":
            register(bao, "secret", "other", SHA_C)

    report, sent = run_apply(bao.address, bao.token, m, other_writer)
    assert not report.ok
    (_, first, _), (_, second, error) = lines(report)
    assert first == "done"
    assert second == "failed"
    assert error.startswith(
        "secret/other v1.0.0 changed since the plan was made (sha256 now differs); not written: "
        "another writer may be changing the catalog"
    )
    assert "Hint: run plan again; set settings.lock" in error
    assert sha_of(bao, "secret", "other") == SHA_C  # the other writer's entry is left alone
    # One read before the update, the create's and the update's writes, one read-back of the create.
    assert sent == {"GET": 2, "POST": 1}


def test_delete_is_refused_when_the_entry_changed_since_the_plan(bao: BaoServer, tmp_path: Path) -> None:
    for name in ("auth-x", "other"):
        bao.add_plugin_file(name)
    register(bao, "secret", "other", SHA_A)
    m = write(
        tmp_path / "m.yaml",
        f"plugins:\n  - {{name: auth-x, type: auth, versions: [{{version: 1.0.0, sha256: {SHA_A}}}]}}\n",
    )

    def other_writer(result: Result) -> None:
        if result.change.name == "auth-x":
            register(bao, "secret", "other", SHA_C)

    report, _ = run_apply(bao.address, bao.token, m, other_writer)
    assert [(n, o) for n, o, _ in lines(report)] == [("auth-x", "done"), ("other", "failed")]
    assert (
        "secret/other v1.0.0 changed since the plan was made (sha256 now differs); not written" in lines(report)[1][2]
    )
    assert sha_of(bao, "secret", "other") == SHA_C


def test_verify_after_reports_an_entry_another_writer_changed(bao: BaoServer, tmp_path: Path) -> None:
    for name in ("auth-x", "other"):
        bao.add_plugin_file(name)
    m = write(tmp_path / "m.yaml", TWO)

    def other_writer(result: Result) -> None:
        if result.change.name == "other" and result.outcome is Outcome.DONE:
            register(bao, "auth", "auth-x", SHA_C)

    report, sent = run_apply(bao.address, bao.token, m, other_writer)
    assert not report.ok
    assert lines(report) == [
        ("auth-x", "failed", "changed by another writer during apply: auth/auth-x v1.0.0: sha256 now differs"),
        ("other", "done", ""),
    ]
    assert sent == {"POST": 2, "GET": 2}  # creates are not read first; both are read once after


def test_saved_plan_is_refused_when_the_entry_changed_in_between(bao: BaoServer, tmp_path: Path) -> None:
    bao.add_plugin_file("other")
    register(bao, "secret", "other", SHA_A)
    m = write(
        tmp_path / "m.yaml",
        f"plugins:\n  - {{name: other, type: secret, versions: [{{version: 1.0.0, sha256: {SHA_B}}}]}}\n",
    )
    env = {"VAULT_ADDR": bao.address, "VAULT_TOKEN": bao.token}
    saved = tmp_path / "plan.json"
    assert reconcile("plan", "-m", m, "--out", saved, env=env).exit_code == 0
    register(bao, "secret", "other", SHA_C)
    r = reconcile("apply", saved, "-m", m, env=env)
    assert r.exit_code == 1
    assert "stale plan" in r.stderr
    assert "nothing was applied" in r.stderr
    assert sha_of(bao, "secret", "other") == SHA_C


# -- Vault-only kinds, on the emulator ---------------------------------------------------------------

PINNED = f"""
plugins:
  - name: kv-extra
    type: secret
    versions:
      - {{version: 1.0.0, sha256: {SHA_A}}}
      - {{version: 2.0.0, sha256: {SHA_A}}}
      - {{version: 3.0.0, sha256: {SHA_A}}}
pins:
  - {{type: secret, name: kv-extra, version: 2.0.0}}
"""


def test_pin_update_is_refused_when_the_pin_moved_since_the_plan(served_vault, tmp_path: Path) -> None:
    emu, url = served_vault
    emu.register_plugin("secret", "kv-extra", version="v1.0.0", sha256=SHA_A)
    emu.register_plugin("secret", "kv-extra", version="v2.0.0", sha256=SHA_A)
    emu.add_pin("secret", "kv-extra", "v1.0.0")
    m = write(tmp_path / "m.yaml", PINNED)

    def other_writer(result: Result) -> None:
        if result.change.version == "v3.0.0":  # the registration before the pin phase
            emu.add_pin("secret", "kv-extra", "v3.0.0")

    report, _ = run_apply(url, "root", m, other_writer)
    assert [(r.change.kind.value, r.outcome.value) for r in report.ordered()] == [
        ("plugin", "done"),
        ("pin", "failed"),
    ]
    assert report.ordered()[1].error.startswith(
        "the pin of secret/kv-extra changed since the plan was made (version now differs); not written"
    )
    assert emu.pins[("secret", "kv-extra")] == "v3.0.0"


def test_runtime_delete_is_refused_and_a_pin_change_is_caught_after(served_vault, tmp_path: Path) -> None:
    emu, url = served_vault
    emu.add_runtime("stale", cpu_nanos=1)
    m = write(tmp_path / "m.yaml", PINNED.replace("2.0.0}", "1.0.0}"))

    def other_writer(result: Result) -> None:
        if result.change.kind.value == "pin":
            emu.add_runtime("stale", cpu_nanos=2)  # before the runtime's delete
            emu.add_pin("secret", "kv-extra", "v2.0.0")  # undoes apply's pin

    report, _ = run_apply(url, "root", m, other_writer)
    outcomes = {
        (r.change.kind.value, r.change.name, r.change.version): (r.outcome.value, r.error) for r in report.ordered()
    }
    assert outcomes[("runtime", "stale", "")][0] == "failed"
    assert (
        "runtime container/stale changed since the plan was made (cpu_nanos now differs)"
        in outcomes[("runtime", "stale", "")][1]
    )
    assert outcomes[("pin", "kv-extra", "v1.0.0")] == (
        "failed",
        "changed by another writer during apply: the pin of secret/kv-extra: version now differs",
    )
    assert emu.runtimes["stale"].cpu_nanos == 2


def test_verify_after_reports_an_entry_another_writer_deleted(bao: BaoServer, tmp_path: Path) -> None:
    bao.add_plugin_file("other")
    m = write(
        tmp_path / "m.yaml",
        f"plugins:\n  - {{name: other, type: secret, versions: [{{version: 1.0.0, sha256: {SHA_B}}}]}}\n",
    )

    def other_writer(result: Result) -> None:
        with httpx.Client(base_url=bao.address, headers={"X-Vault-Token": bao.token}) as c:
            c.delete("/v1/sys/plugins/catalog/secret/other", params={"version": "v1.0.0"}).raise_for_status()

    report, _ = run_apply(bao.address, bao.token, m, other_writer)
    assert lines(report) == [
        ("other", "failed", "changed by another writer during apply: secret/other v1.0.0: it is now missing")
    ]
