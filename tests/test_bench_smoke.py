"""Smoke test of the benchmark (`bench/`, docs/performance.md): N = 50 on the real dev OpenBao.

It keeps the benchmark working and checks what it counts, never how long anything took: the requests
each tool sends (reported by the client and seen independently by the latency proxy), that a no-op
plan writes nothing and reads no more than the floor (plus one seal-status), and that the report
renders.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from bench import report, seed
from bench.counting import classify
from bench.proxy import LatencyProxy, RequestCounter
from bench.runner import Bench, Options, Results, Run
from tests.servers import BaoServer

N = 50
CHANGE = seed.changed(seed.catalog(N))
UPDATES, DELETES = len(CHANGE.updated), len(CHANGE.deleted)


@pytest.fixture
def bench(bao: BaoServer, tmp_path: Path) -> Iterator[Bench]:
    b = Bench(bao.address, bao.token, bao.plugin_dir, bao.process.pid, tmp_path, log=lambda _: None, bao_sample=1)
    b.prepare([N])
    with LatencyProxy(bao.address, 20) as proxy:
        b.proxy = proxy
        yield b


def measure(bench: Bench, scenario: str, tool: str) -> Run:
    run = bench.measure("latency", scenario, tool, N, 0)
    assert run is not None
    assert run.proxy_counts == run.counts, f"{tool} {scenario}: the client and the proxy disagree"
    return run


def test_the_change_is_ten_percent_split_between_updates_and_deletes() -> None:
    assert (UPDATES, DELETES) == (3, 2)
    assert len(CHANGE.after) == N - DELETES
    assert {e.command for e in CHANGE.updated} == {f"{e.name}-r2" for e in CHANGE.updated}


def test_request_counter_follows_requests_split_anywhere() -> None:
    seen: list[tuple[str, str]] = []
    counter = RequestCounter(lambda method, target: seen.append((method, target)))
    stream = (
        b"GET /v1/sys/plugins/catalog HTTP/1.1\r\nHost: x\r\n\r\n"
        b'POST /v1/sys/plugins/catalog/secret/kv HTTP/1.1\r\ncontent-length: 13\r\n\r\n{"a": "\r\n\r\n"}'
        b"DELETE /v1/sys/plugins/catalog/secret/kv?version=v1.0.0 HTTP/1.1\r\n\r\n"
    )
    for i in range(0, len(stream), 7):
        counter.feed(stream[i : i + 7])
    assert [classify(m, t) for m, t in seen] == ["list", "write", "delete"]
    assert not counter.broken


def test_every_tool_sends_the_requests_expected(bench: Bench) -> None:
    runs: list[Run] = []
    for tool in ("reconcile", "floor-conc"):
        run = measure(bench, "apply-empty", tool)
        floor_part = {"list": 1, "write": N}
        # reconcile also reads every entry it wrote back after the last phase (another writer?).
        expected = floor_part if tool != "reconcile" else {"seal-status": 1, **floor_part, "read": N}
        assert run.counts == expected
        runs.append(run)

    noop = {tool: measure(bench, "noop-plan", tool) for tool in ("reconcile", "floor-seq", "floor-conc", "hvac")}
    floor = {"list": 1, "read": N}
    for tool in ("floor-seq", "floor-conc", "hvac"):
        assert noop[tool].counts == floor
    # The no-op plan: no writes, exactly the floor's list and reads, plus one seal-status.
    assert noop["reconcile"].counts == {"seal-status": 1, **floor}
    assert noop["reconcile"].changes == 0
    runs += noop.values()

    change = {tool: measure(bench, "change", tool) for tool in ("reconcile", "floor-conc")}
    assert change["floor-conc"].counts == {"list": 1, "read": N, "write": UPDATES, "delete": DELETES}
    # reconcile also detects the server, reads the mounts before deleting, reads each delete back, and
    # reads each update and delete once before it (still what the plan saw?) and once after the last phase.
    assert change["reconcile"].counts == {
        "seal-status": 1,
        "list": 1,
        "read": N + DELETES + 2 * (UPDATES + DELETES),
        "write": UPDATES,
        "delete": DELETES,
        "mounts": 2,
    }
    runs += change.values()

    # The stage breakdown covers the pipeline.
    assert set(change["reconcile"].stages or {}) >= {"load", "read live", "diff", "plan", "apply"}

    options = {"n": N, "repeat": 1, "seq_repeat": 1, "latency_ms": 20.0, "settings": ["latency"], "scaling": []}
    results = Results(options=options, environment={}, runs=runs)
    goals = report.goals(results, N, ["latency"], [])
    no_writes = [g for g in goals if "no writes" in g.name]
    assert [g.holds for g in no_writes] == [True]
    assert "| no-op plan | reconcile |" in report.markdown(results, goals)


def test_bao_cli_samples_are_extrapolated_per_operation(bench: Bench) -> None:
    bench.probe_bao()
    assert bench.bao_per_op == {
        "register": {"write": 1},
        "info": {"read": 1},
        "list": {"list": 1},
        "deregister": {"delete": 1},
    }
    empty = bench.measure_bao("loopback", "apply-empty", N, 0, [])
    noop = bench.measure_bao("loopback", "noop-plan", N, 0, [])
    assert empty.counts == {"write": N}
    assert noop.counts == {"list": 1, "read": N}
    assert "x 50" in empty.extrapolated


def test_quick_options() -> None:
    from bench.__main__ import parse

    quick = parse(["--quick"])
    assert (quick.n, quick.repeat, quick.settings, quick.scaling) == (50, 1, ("loopback",), ())
    assert parse([]) == Options(bao_sample=10)
