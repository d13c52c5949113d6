"""`bash run bench --fleet`: several clusters from one repository (issue #15), on real servers.

K real dev OpenBao servers (default 20), each seeded with the same N catalog entries (default 100)
and declared by the same manifests, so every plan is a no-op; reconcile.yaml files name the first
10 and all 20. Each measurement is the wall time of the `reconcile` CLI process (interpreter start
included, as a CI job pays it), median of R repetitions (default 3), in two settings: loopback, and
behind a 20 ms latency proxy per server (bench/proxy.py).

- single: `reconcile plan --target t` for each target: the slowest (the goal's yardstick) and the sum
  (a script that loops over the targets, one process each);
- combined: `reconcile plan` over all targets, with the default `--target-parallelism 4`, with 1
  (one process, one target after another) and with K (all at once).

Goal (issue #15): a combined no-op plan of 10 targets costs at most 1.5x the slowest single plan.
Writes bench/results/fleet.md and fleet.json.
"""

from __future__ import annotations

import contextlib
import json
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path

from bench import procs, seed
from bench.proxy import LatencyProxy

GOAL = 1.5
"""Combined no-op plan of 10 targets / slowest single-target plan (issue #15)."""


@dataclass
class Case:
    """One fleet size in one setting."""

    setting: str
    targets: int
    single_max: float = 0.0
    """The slowest target's `plan --target t` (median of its repetitions): the goal's yardstick."""
    single_median: float = 0.0
    """The median target's."""
    single_sum: float = 0.0
    """Every target's, one after another (a script looping over the targets)."""
    single_cpu: float = 0.0
    """CPU seconds of one single-target run (median over every run)."""
    combined: dict[int, float] = field(default_factory=dict)
    """--target-parallelism -> median wall seconds."""
    combined_cpu: float = 0.0
    """CPU seconds of the combined run with the default parallelism (median)."""

    @property
    def ratio(self) -> float:
        """Combined (default parallelism 4) / slowest single target."""
        return self.combined[4] / self.single_max if self.single_max else 0.0


def run(
    *,
    servers: int = 20,
    n: int = 100,
    repeat: int = 3,
    latency_ms: float = 20.0,
    settings: Sequence[str] = ("loopback", "latency"),
    out: Path,
    log: Callable[[str], None],
) -> str:
    """Start the servers, measure every case, write fleet.md and fleet.json; return the markdown."""
    from tests.servers import run_bao

    sizes = sorted({min(10, servers), servers})
    entries = seed.catalog(n)
    cases: list[Case] = []
    started = time.perf_counter()
    with contextlib.ExitStack() as stack, ThreadPoolExecutor(4) as pool:
        log(f"starting {servers} dev OpenBao servers on 127.0.0.1")
        baos = list(pool.map(lambda _: stack.enter_context(run_bao()), range(servers)))
        work = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="reconcile-fleet-bench-")))
        seed.write_manifests(work / "manifests", entries)
        for bao in baos:
            seed.write_plugin_files(bao.plugin_dir, entries)
        log(f"seeding {n} entries on each server")
        list(pool.map(lambda b: seed.Admin(b.address, b.token).converge(entries), baos))
        env = _env(work, baos[0].token)
        for setting in settings:
            addresses = [b.address for b in baos]
            if setting == "latency":
                addresses = [stack.enter_context(LatencyProxy(a, latency_ms)).address for a in addresses]
            for size in sizes:
                config = _config(work, f"{setting}-{size}", addresses[:size])
                log(f"{setting}: {size} targets")
                cases.append(_measure(setting, size, config, env, repeat, log))
    text = _report(cases, servers, n, repeat, latency_ms, time.perf_counter() - started)
    out.mkdir(parents=True, exist_ok=True)
    (out / "fleet.md").write_text(text)
    (out / "fleet.json").write_text(json.dumps([asdict(c) | {"ratio": c.ratio} for c in cases], indent=2) + "\n")
    return text


def _env(work: Path, token: str) -> dict[str, str]:
    home = work / "home"
    home.mkdir(exist_ok=True)
    return {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(home), "VAULT_TOKEN": token, "NO_COLOR": "1"}


def _config(work: Path, name: str, addresses: Sequence[str]) -> Path:
    lines = ["targets:"]
    for i, address in enumerate(addresses, start=1):
        lines += [f"  - name: t{i:02d}", f"    address: {address}", "    manifests: [manifests]"]
    path = work / f"{name}.yaml"
    path.write_text("\n".join(lines) + "\n")
    return path


def _plan(config: Path, env: dict[str, str], *args: str) -> procs.Finished:
    reconcile = Path(sys.executable).parent / "reconcile"
    done = procs.run([str(reconcile), "plan", "--detailed-exitcode", "--config", str(config), *args], env=env)
    if done.code != 0:
        raise seed.BenchError(f"reconcile plan {' '.join(args)} exited {done.code}:\n{done.stderr[-2000:]}")
    return done


def _measure(
    setting: str, size: int, config: Path, env: dict[str, str], repeat: int, log: Callable[[str], None]
) -> Case:
    case = Case(setting, size)
    singles: list[float] = []
    cpus: list[float] = []
    for i in range(1, size + 1):
        runs = [_plan(config, env, "--target", f"t{i:02d}") for _ in range(repeat)]
        singles.append(statistics.median(r.wall for r in runs))
        cpus += [r.cpu for r in runs]
    case.single_max, case.single_median, case.single_sum = max(singles), statistics.median(singles), sum(singles)
    case.single_cpu = statistics.median(cpus)
    for parallelism in sorted({1, 4, size}):
        runs = [_plan(config, env, "--target-parallelism", str(parallelism)) for _ in range(repeat)]
        case.combined[parallelism] = statistics.median(r.wall for r in runs)
        if parallelism == 4:
            case.combined_cpu = statistics.median(r.cpu for r in runs)
    log(
        f"  single: slowest {case.single_max:.2f} s, median {case.single_median:.2f} s, sum {case.single_sum:.2f} s, "
        f"{case.single_cpu:.2f} s CPU; combined "
        + ", ".join(f"p{p} {s:.2f} s" for p, s in case.combined.items())
        + f", {case.combined_cpu:.2f} s CPU: {case.ratio:.2f}x"
    )
    return case


def _report(cases: Sequence[Case], servers: int, n: int, repeat: int, latency_ms: float, elapsed: float) -> str:
    lines = [
        "## Several targets (`bash run bench --fleet`)",
        "",
        f"{servers} dev OpenBao servers, {n} entries each, no-op plans; wall time and CPU of the `reconcile` "
        f"CLI process, median of {repeat}; latency: +{latency_ms:g} ms per round trip (one proxy per server); "
        f"load average {os.getloadavg()[0]:.1f} at the end; {elapsed / 60:.1f} min.",
        "",
        "| setting | targets | single: slowest (s) | single: median (s) | singles one after another (s) "
        "| combined, parallelism 1 (s) | combined, 4 = default (s) | combined, all at once (s) "
        "| CPU single / combined (s) | combined / slowest single |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for c in cases:
        lines.append(
            f"| {c.setting} | {c.targets} | {c.single_max:.2f} | {c.single_median:.2f} | {c.single_sum:.2f} | "
            f"{c.combined[1]:.2f} | {c.combined[4]:.2f} | {c.combined[c.targets]:.2f} | "
            f"{c.single_cpu:.2f} / {c.combined_cpu:.2f} | {c.ratio:.2f}x |"
        )
    lines.append("")
    for c in cases:
        if c.targets == 10:
            verdict = "holds" if c.ratio <= GOAL else "does not hold"
            lines.append(
                f"Goal, {c.setting}: combined plan of 10 targets <= {GOAL}x the slowest single: "
                f"{c.ratio:.2f}x, {verdict}."
            )
    return "\n".join(lines) + "\n"
