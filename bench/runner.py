"""Runs every measurement on one fresh dev OpenBao and collects `Run`s (see docs/performance.md).

Per network setting (loopback, then the latency proxy) and scenario (apply from empty, no-op plan,
10% change), each repetition runs every tool once, in an order rotated per repetition so that drift
on a shared machine spreads over all tools. Before each run the catalog is put in the scenario's
starting state and after it the catalog is checked (keys and sha256) against the expected result,
so a tool that skipped work would fail the benchmark instead of looking fast. All set-up, checks
and restores are outside the timed section and go straight to the server, not through the proxy.
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from bench import alternatives, procs, seed
from bench.proxy import LatencyProxy

ROOT = Path(__file__).resolve().parent.parent
SCENARIOS = ("apply-empty", "noop-plan", "change")
SCENARIO_TITLES = {
    "apply-empty": "apply from an empty catalog",
    "noop-plan": "no-op plan",
    "change": "apply a 10% change",
}
MEASURED = ("reconcile", "floor-seq", "floor-conc", "hvac")
"""The tools measured by full runs (bao-cli is sampled)."""
RTT_PROBE = """
import statistics, sys, time
import httpx
for address in sys.argv[1:]:
    with httpx.Client(base_url=address) as c:
        c.get("/v1/sys/seal-status")
        times = []
        for _ in range(60):
            start = time.perf_counter()
            c.get("/v1/sys/seal-status")
            times.append(time.perf_counter() - start)
    print(statistics.median(times) * 1000)
"""
"""Median round trip of `GET sys/seal-status` on one keep-alive connection, for each address given."""


@dataclass(frozen=True)
class Options:
    n: int = 1000
    repeat: int = 5
    seq_repeat: int = 1
    """Repetitions of hvac (both settings) and of the sequential floor behind the proxy (N x 20 ms each)."""
    bao_repeat: int = 3
    latency_ms: float = 20.0
    settings: tuple[str, ...] = ("loopback", "latency")
    scaling: tuple[int, ...] = (100, 1000, 5000)
    scale_repeat: int = 2
    bao_sample: int = 10
    parallelism: int = 8
    profile: bool = True
    out: Path = ROOT / "bench" / "results"
    fleet: int = 0
    """--fleet: run only the several-targets case (bench/fleet.py) with this many servers."""


@dataclass
class Run:
    """One measured run (or, for bao-cli, one sample extrapolated to N)."""

    setting: str
    scenario: str
    tool: str
    n: int
    rep: int
    wall: float
    counts: dict[str, int]
    peak_rss_mb: float
    cpu: float
    server_cpu: float
    proxy_counts: dict[str, int] | None = None
    stages: dict[str, float] | None = None
    extrapolated: str = ""
    changes: int = 0


@dataclass
class Results:
    options: dict[str, Any]
    environment: dict[str, Any]
    runs: list[Run] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    profiles: dict[str, str] = field(default_factory=dict)
    """`setting/scenario` -> path of a pyinstrument profile of reconcile (written for goals that fail)."""
    elapsed: float = 0.0


Log = Callable[[str], None]


class Bench:
    def __init__(
        self,
        address: str,
        token: str,
        plugin_dir: Path,
        server_pid: int,
        workdir: Path,
        log: Log,
        *,
        bao_sample: int = 10,
        parallelism: int = 8,
    ) -> None:
        self.address = address
        self.token = token
        self.plugin_dir = plugin_dir
        self.server_pid = server_pid
        self.workdir = workdir
        self.log = log
        self.admin = seed.Admin(address, token)
        self.bao_per_op: dict[str, dict[str, int]] = {}
        self.proxy: LatencyProxy | None = None
        self.bao_sample = bao_sample
        self.parallelism = parallelism

    # -- set-up ----------------------------------------------------------------------------------
    def prepare(self, sizes: Sequence[int]) -> None:
        """Plugin files for the largest catalog and its change; manifests for every size."""
        for n in sorted(set(sizes)):
            change = seed.changed(seed.catalog(n))
            seed.write_plugin_files(self.plugin_dir, [*change.before, *change.after])
            seed.write_manifests(self.manifests(n, "before"), change.before)
            seed.write_manifests(self.manifests(n, "after"), change.after)

    def manifests(self, n: int, variant: str) -> Path:
        return self.workdir / "manifests" / str(n) / variant

    def probe_bao(self) -> None:
        """Requests per `bao` CLI operation, counted by a zero-delay proxy (one call of each)."""
        sample = seed.catalog(1)
        self.admin.clear()
        with LatencyProxy(self.address, 0) as probe:
            for op in ("register", "info", "list", "deregister"):
                alternatives.bao_loop(op, sample, probe.address, self.token)
                self.bao_per_op[op] = probe.take_counts()
        self.admin.clear()

    def calibrate(self, proxy: LatencyProxy) -> dict[str, float]:
        """Measure the round trip the proxy adds (from a separate process, like the clients), then trim
        its one-way delay by half the error and measure again: the wake-ups of three processes on a
        busy machine add ~1-2 ms that the target should not get on top."""
        first = self._rtt(proxy)
        error = first["added_ms"] - proxy.round_trip * 1000
        proxy.one_way = max(0.0, proxy.one_way - error / 2000)
        second = self._rtt(proxy)
        proxy.take_counts()
        return {
            "direct_ms": second["direct_ms"],
            "proxied_ms": second["proxied_ms"],
            "added_ms": second["added_ms"],
            "uncorrected_added_ms": first["added_ms"],
            "one_way_ms": proxy.one_way * 1000,
        }

    def _rtt(self, proxy: LatencyProxy) -> dict[str, float]:
        done = procs.run([sys.executable, "-c", RTT_PROBE, self.address, proxy.address], env=self._env(), cwd=ROOT)
        if done.code != 0:
            raise seed.BenchError(f"round-trip probe failed: {done.stderr[-2000:]}")
        direct, proxied = (float(x) for x in done.stdout.split())
        return {"direct_ms": direct, "proxied_ms": proxied, "added_ms": proxied - direct}

    # -- one run -----------------------------------------------------------------------------------
    def _env(self) -> dict[str, str]:
        home = self.workdir / "home"
        home.mkdir(exist_ok=True)
        return {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": str(home),
            "VAULT_TOKEN": self.token,
            "PYTHONPATH": str(ROOT),
            "NO_COLOR": "1",
        }

    def _worker(self, spec: dict[str, Any]) -> tuple[dict[str, Any], procs.Finished]:
        done = procs.run([sys.executable, "-m", "bench.worker"], env=self._env(), stdin=json.dumps(spec), cwd=ROOT)
        if done.code != 0:
            raise seed.BenchError(f"worker {spec['tool']} {spec['mode']} failed ({done.code}):\n{done.stderr[-3000:]}")
        result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
        return result, done

    def _cli(self, mode: str, manifests: Path, address: str) -> procs.Finished:
        reconcile = Path(sys.executable).parent / "reconcile"
        done = procs.run(
            [str(reconcile), mode, "--manifests", str(manifests), "--address", address], env=self._env(), cwd=ROOT
        )
        if done.code != 0:
            raise seed.BenchError(f"reconcile {mode} failed ({done.code}):\n{done.stderr[-3000:]}")
        return done

    def _start_state(self, scenario: str, change: seed.Change) -> None:
        """Empty for apply-empty; the `before` catalog otherwise (a single list request when it is)."""
        if scenario == "apply-empty":
            self.admin.clear()
        else:
            self.admin.converge(change.before)

    def _check_and_restore(self, scenario: str, change: seed.Change, tool: str) -> None:
        if scenario == "change":
            self.admin.verify(change.after, f"{tool} {scenario}")
            self.admin.register(change.touched_before)
        self.admin.verify(change.before, f"{tool} {scenario} (restored)")

    @contextmanager
    def _measuring(self, setting: str) -> Iterator[dict[str, float]]:
        """Server CPU over the block, and the proxy's request counts (reset first)."""
        box: dict[str, float] = {}
        if setting == "latency" and self.proxy is not None:
            self.proxy.take_counts()
        before = procs.cpu_seconds(self.server_pid)
        yield box
        box["server_cpu"] = procs.cpu_seconds(self.server_pid) - before

    def measure(
        self, setting: str, scenario: str, tool: str, n: int, rep: int, profile: Path | None = None
    ) -> Run | None:
        """Run one tool once; returns None for bao-cli (recorded per operation by `measure_bao`)."""
        change = seed.changed(seed.catalog(n))
        address = self.proxy.address if setting == "latency" and self.proxy is not None else self.address
        self._start_state(scenario, change)
        mode = "plan" if scenario == "noop-plan" else "apply"
        variant = "after" if scenario == "change" else "before"
        stages = None
        with self._measuring(setting) as box:
            if tool == "reconcile-cli":
                done = self._cli(mode, self.manifests(n, variant), address)
                wall, counts, changes = done.wall, {}, -1
            else:
                spec = {
                    "tool": tool,
                    "address": address,
                    "token": self.token,
                    "n": n,
                    "variant": variant,
                    "mode": mode,
                    "manifests": str(self.manifests(n, variant)),
                    "parallelism": self.parallelism,
                }
                if profile is not None:
                    spec["profile"] = str(profile)
                result, done = self._worker(spec)
                wall, counts, changes = result["wall"], result["counts"], result["changes"]
                stages = result.get("stages")
                if not result.get("ok", True):
                    raise seed.BenchError(f"{tool} {scenario}: apply reported failures")
        proxy_counts = self.proxy.take_counts() if setting == "latency" and self.proxy is not None else None
        self._check_and_restore(scenario, change, tool)
        if profile is not None:
            return None
        return Run(
            setting=setting,
            scenario=scenario,
            tool=tool,
            n=n,
            rep=rep,
            wall=wall,
            counts=counts or (proxy_counts or {}),
            peak_rss_mb=done.peak_rss_mb,
            cpu=done.cpu,
            server_cpu=box["server_cpu"],
            proxy_counts=proxy_counts,
            stages=stages,
            changes=changes,
        )

    def measure_bao(self, setting: str, scenario: str, n: int, rep: int, earlier: list[Run]) -> Run:
        """Time a sample of `bao` CLI calls in a shell loop and extrapolate to the scenario (per operation)."""
        change = seed.changed(seed.catalog(n))
        address = self.proxy.address if setting == "latency" and self.proxy is not None else self.address
        k = max(1, min(self.bao_sample, n))
        self._start_state(scenario, change)
        with self._measuring(setting) as box:
            if scenario == "apply-empty":
                done = alternatives.bao_loop("register", change.before[:k], address, self.token)
                per_op = done.wall / k
                wall = n * per_op
                counts = _scale(self.bao_per_op["register"], n)
                how = f"{k} `plugin register` calls timed, x {n}"
                ops = {"register": per_op}
                rss, cpu = done.peak_rss_mb, done.cpu * n / k
            elif scenario == "noop-plan":
                listed = alternatives.bao_loop("list", [], address, self.token)
                info = alternatives.bao_loop("info", change.before[:k], address, self.token)
                per_op = info.wall / k
                wall = listed.wall + n * per_op
                counts = _add(self.bao_per_op["list"], _scale(self.bao_per_op["info"], n))
                how = f"1 `plugin list` + {k} `plugin info` calls timed, info x {n}"
                ops = {"list": listed.wall, "info": per_op}
                rss, cpu = max(listed.peak_rss_mb, info.peak_rss_mb), listed.cpu + info.cpu * n / k
            else:
                gone = change.deleted[:k]
                dereg = alternatives.bao_loop("deregister", gone, address, self.token)
                self.admin.delete(change.deleted[k:])
                self.admin.register(change.updated)
                per_op = dereg.wall / len(gone)
                same_rep = {
                    r.scenario: r
                    for r in earlier
                    if r.tool == "bao-cli" and r.rep == rep and r.setting == setting and r.n == n
                }
                noop, reg = same_rep.get("noop-plan"), same_rep.get("apply-empty")
                if noop is None or reg is None:
                    raise seed.BenchError("bao-cli change needs the same repetition's register and no-op samples")
                u, d = len(change.updated), len(change.deleted)
                wall = noop.wall + u * reg.wall / n + d * per_op
                counts = _add(
                    _add(noop.counts, _scale(self.bao_per_op["register"], u)), _scale(self.bao_per_op["deregister"], d)
                )
                how = (
                    f"no-op estimate + {u} x `plugin register` (apply-empty sample) "
                    f"+ {d} x `plugin deregister` ({len(gone)} timed)"
                )
                ops = {"deregister": per_op}
                rss = max(dereg.peak_rss_mb, noop.peak_rss_mb)
                cpu = noop.cpu + reg.cpu * u / n + dereg.cpu * d / len(gone)
        proxy_counts = self.proxy.take_counts() if setting == "latency" and self.proxy is not None else None
        if scenario == "change":
            self._check_and_restore(scenario, change, "bao-cli")
        return Run(
            setting=setting,
            scenario=scenario,
            tool="bao-cli",
            n=n,
            rep=rep,
            wall=wall,
            counts=counts,
            peak_rss_mb=rss,
            cpu=cpu,
            server_cpu=box["server_cpu"],
            proxy_counts=proxy_counts,
            extrapolated=how + " (per op: " + ", ".join(f"{o} {t * 1000:.0f} ms" for o, t in ops.items()) + ")",
        )


def _scale(counts: dict[str, int], factor: int) -> dict[str, int]:
    return {k: v * factor for k, v in counts.items()}


def _add(a: dict[str, int], b: dict[str, int]) -> dict[str, int]:
    return {k: a.get(k, 0) + b.get(k, 0) for k in sorted(set(a) | set(b))}


def environment(server_version: str) -> dict[str, Any]:
    return {
        "cpus": os.cpu_count(),
        "python": sys.version.split()[0],
        "server": server_version,
        "load_average_start": procs.load_average(),
        "started": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
    }


def serializable(results: Results) -> dict[str, Any]:
    data = asdict(results)
    data["runs"] = [asdict(r) for r in results.runs]
    return data
