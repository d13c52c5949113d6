"""`python -m bench`: start a fresh dev OpenBao, measure, print the markdown report, write bench/results/."""

from __future__ import annotations

import argparse
import contextlib
import statistics
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

from bench import procs, report, runner, schedule
from bench.proxy import LatencyProxy
from bench.runner import Bench, Options, Results

T0 = time.perf_counter()


def log(message: str) -> None:
    sys.stderr.write(f"[{time.perf_counter() - T0:6.0f}s] {message}\n")
    sys.stderr.flush()


def parse(argv: Sequence[str] | None) -> Options:
    p = argparse.ArgumentParser(prog="python -m bench", description="Benchmark reconcile (docs/performance.md).")
    p.add_argument("--n", type=int, default=1000, help="catalog entries (default 1000 = 250 plugins x 4 versions)")
    p.add_argument("--repeat", type=int, default=5, help="repetitions per measurement (default 5)")
    p.add_argument(
        "--seq-repeat",
        type=int,
        default=1,
        help="repetitions of hvac and, behind the proxy, of the sequential floor (default 1; no goal needs more)",
    )
    p.add_argument("--bao-repeat", type=int, default=3, help="repetitions of the bao CLI samples (default 3)")
    p.add_argument("--latency-ms", type=float, default=20.0, help="round trip added by the proxy (default 20)")
    p.add_argument(
        "--setting", choices=("loopback", "latency", "both"), default="both", help="network settings (default both)"
    )
    p.add_argument(
        "--scaling",
        default="100,1000,5000",
        help="catalog sizes for the growth table, loopback only ('' to skip; default 100,1000,5000)",
    )
    p.add_argument("--scale-repeat", type=int, default=2, help="repetitions in the growth table (default 2)")
    p.add_argument("--bao-sample", type=int, default=10, help="bao CLI calls timed per repetition (default 10)")
    p.add_argument("--no-profile", action="store_true", help="skip pyinstrument profiles of goals that fail")
    p.add_argument("--quick", action="store_true", help="N=50, 1 repetition, loopback only (or --setting), no growth")
    p.add_argument("--out", type=Path, default=runner.ROOT / "bench" / "results", help="where latest.md/json go")
    p.add_argument(
        "--fleet",
        action="store_true",
        help="only the several-targets case (bench/fleet.py): 20 servers; uses --repeat (default 3 here), --latency-ms",
    )
    p.add_argument("--fleet-servers", type=int, default=20, help="servers (targets) of --fleet (default 20)")
    p.add_argument("--fleet-n", type=int, default=100, help="catalog entries per server in --fleet (default 100)")
    a = p.parse_args(argv)
    if a.fleet:
        return Options(
            n=a.fleet_n,
            repeat=a.repeat if "--repeat" in (argv or sys.argv) else 3,
            seq_repeat=1,
            bao_repeat=1,
            latency_ms=a.latency_ms,
            settings=("loopback", "latency") if a.setting == "both" else (a.setting,),
            scaling=(),
            scale_repeat=1,
            bao_sample=1,
            profile=False,
            out=a.out,
            fleet=a.fleet_servers,
        )
    settings = ("loopback", "latency") if a.setting == "both" else (a.setting,)
    scaling = tuple(int(x) for x in a.scaling.split(",") if x.strip())
    if a.quick:
        return Options(
            n=50,
            repeat=1,
            seq_repeat=1,
            bao_repeat=1,
            latency_ms=a.latency_ms,
            settings=settings if a.setting != "both" else ("loopback",),
            scaling=(),
            scale_repeat=1,
            bao_sample=min(a.bao_sample, 3),
            profile=False,
            out=a.out,
        )
    if min(a.n, a.repeat, a.seq_repeat, a.bao_repeat, a.scale_repeat, a.bao_sample) < 1:
        p.error("--n, --repeat, --seq-repeat, --bao-repeat, --scale-repeat and --bao-sample must be at least 1")
    return Options(
        n=a.n,
        repeat=a.repeat,
        seq_repeat=a.seq_repeat,
        bao_repeat=a.bao_repeat,
        latency_ms=a.latency_ms,
        settings=settings,
        scaling=scaling,
        scale_repeat=a.scale_repeat,
        bao_sample=a.bao_sample,
        profile=not a.no_profile,
        out=a.out,
    )


def profile_failures(bench: Bench, results: Results, goals: list[report.Goal], options: Options) -> None:
    """One pyinstrument-profiled reconcile run per (setting, scenario) with a time goal that does not hold."""
    done = set()
    for goal in goals:
        if goal.holds is not False or not goal.setting or not goal.scenario:
            continue
        key = (goal.setting, goal.scenario)
        if key in done:
            continue
        done.add(key)
        path = options.out / f"profile-{goal.setting}-{goal.scenario}.txt"
        log(f"profiling reconcile: {goal.setting} {goal.scenario} ({goal.name})")
        bench.measure(goal.setting, goal.scenario, "reconcile", options.n, 0, profile=path)
        results.profiles[f"{goal.setting} / {runner.SCENARIO_TITLES[goal.scenario]}"] = str(path)


def main(argv: Sequence[str] | None = None) -> int:
    options = parse(argv)
    if options.fleet:
        from bench import fleet

        text = fleet.run(
            servers=options.fleet,
            n=options.n,
            repeat=options.repeat,
            latency_ms=options.latency_ms,
            settings=options.settings,
            out=options.out,
            log=log,
        )
        sys.stdout.write(text)
        return 0
    from tests.servers import run_bao

    options.out.mkdir(parents=True, exist_ok=True)
    for stale in options.out.glob("profile-*.txt"):
        stale.unlink()
    sizes = sorted({options.n, *options.scaling})
    with contextlib.ExitStack() as stack:
        log("starting a dev OpenBao server on 127.0.0.1")
        bao = stack.enter_context(run_bao())
        workdir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="reconcile-bench-")))
        bench = Bench(
            bao.address,
            bao.token,
            bao.plugin_dir,
            bao.process.pid,
            workdir,
            log,
            bao_sample=options.bao_sample,
        )
        with bao.client() as c:
            version = str(c.get("/v1/sys/seal-status").json().get("version", ""))
        results = Results(options=_options_dict(options), environment=runner.environment(f"{version}"))
        log(f"OpenBao {version} at {bao.address}; writing plugin files and manifests for N = {sizes}")
        bench.prepare(sizes)
        bench.probe_bao()
        log(f"bao CLI requests per operation: {bench.bao_per_op}")
        for setting in options.settings:
            if setting == "latency":
                proxy = stack.enter_context(LatencyProxy(bao.address, options.latency_ms))
                bench.proxy = proxy
                results.environment["proxy"] = bench.calibrate(proxy)
                log(f"latency proxy at {proxy.address}: {results.environment['proxy']}")
            log(f"setting {setting}: N = {options.n}")
            schedule.run_setting(bench, setting, options.n, options, results)
        if options.profile:  # before the growth table, while the server holds N entries
            profile_failures(bench, results, report.goals(results, options.n, options.settings, ()), options)
        if options.scaling:
            log(f"growth with N: {options.scaling}")
            schedule.run_scaling(bench, options, results)
        _notes(results, options)
        goals = report.goals(results, options.n, options.settings, options.scaling)
        if bench.proxy is not None and bench.proxy.unparsed_connections:
            results.notes.append(f"the proxy could not follow {bench.proxy.unparsed_connections} connection(s)")
    results.environment["load_average_end"] = procs.load_average()
    results.elapsed = time.perf_counter() - T0
    md, js, text = report.write(results, goals, options.out)
    sys.stdout.write(text + "\n")
    log(f"wrote {md} and {js}")
    return 0


def _options_dict(options: Options) -> dict[str, object]:
    return {
        "n": options.n,
        "repeat": options.repeat,
        "seq_repeat": options.seq_repeat,
        "bao_repeat": options.bao_repeat,
        "latency_ms": options.latency_ms,
        "settings": list(options.settings),
        "scaling": list(options.scaling),
        "scale_repeat": options.scale_repeat,
        "bao_sample": options.bao_sample,
        "parallelism": options.parallelism,
    }


def _notes(results: Results, options: Options) -> None:
    empty = [r for r in results.runs if r.scenario == "apply-empty" and r.tool in ("floor-conc", "reconcile")]
    per_n = [r.server_cpu / r.n for r in empty if r.n]
    if per_n:
        results.notes.append(
            f"server CPU per registration (median over apply-from-empty runs): "
            f"{statistics.median(per_n) * 1000:.1f} ms - OpenBao runs the plugin command on every registration "
            "(reference §2.5.3), so registering is server-bound for every client"
        )
    for size in options.scaling:
        seeded = [r for r in results.runs if r.n == size and r.tool == "reconcile-cli" and r.scenario == "apply-empty"]
        if seeded and size != options.n:
            results.notes.append(
                f"N = {size:,} was seeded on the real server by `reconcile apply` in {seeded[0].wall:.1f} s"
            )


if __name__ == "__main__":
    sys.exit(main())
