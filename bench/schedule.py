"""What a benchmark run measures, in which order: the scenarios of each setting, and the growth with N."""

from __future__ import annotations

import time

from bench.runner import MEASURED, SCENARIOS, Bench, Options, Results, Run


def reps_for(tool: str, setting: str, options: Options) -> int:
    """`repeat` for what the goals compare (reconcile, the floor variants that can be the floor);
    fewer for the costly comparisons no goal needs at full precision (see docs/performance.md)."""
    if tool == "hvac" or (tool == "floor-seq" and setting == "latency"):
        return min(options.seq_repeat, options.repeat)
    if tool == "bao-cli":
        return min(options.bao_repeat, options.repeat)
    return options.repeat


def run_setting(bench: Bench, setting: str, n: int, options: Options, results: Results) -> None:
    """Every scenario x tool in one network setting; then one `reconcile` CLI run per scenario (RSS)."""
    log = bench.log

    def log_run(run: Run) -> None:
        results.runs.append(run)
        note = " (extrapolated)" if run.extrapolated else ""
        log(f"  {setting:8} {run.scenario:11} {run.tool:10} rep {run.rep + 1}: {run.wall:7.2f} s{note}")

    for scenario in SCENARIOS:
        started = time.perf_counter()
        for rep in range(options.repeat):
            # bao-cli samples first (they leave a partial catalog), then the others in rotated order
            # so drift on a shared machine spreads over all tools; the last full run leaves the
            # catalog as the next scenario starts from.
            if scenario != "change" and rep < reps_for("bao-cli", setting, options):
                log_run(bench.measure_bao(setting, scenario, n, rep, results.runs))
            shift = rep % len(MEASURED)
            for tool in MEASURED[shift:] + MEASURED[:shift]:
                if rep < reps_for(tool, setting, options):
                    measured = bench.measure(setting, scenario, tool, n, rep)
                    assert measured is not None
                    log_run(measured)
            if scenario == "change" and rep < reps_for("bao-cli", setting, options):
                log_run(bench.measure_bao(setting, scenario, n, rep, results.runs))
        if setting != "loopback":
            log(f"  {setting:8} {scenario:11} [{time.perf_counter() - started:.0f} s]")
            continue  # the CLI process (peak RSS, start-up included) is measured on loopback only
        cli = bench.measure(setting, scenario, "reconcile-cli", n, 0)
        assert cli is not None
        results.runs.append(cli)
        log(
            f"  {setting:8} {scenario:11} reconcile CLI: {cli.wall:.2f} s, peak RSS {cli.peak_rss_mb:.0f} MB"
            f"  [{time.perf_counter() - started:.0f} s]"
        )


def run_scaling(bench: Bench, options: Options, results: Results) -> None:
    """Loopback only: no-op plan (library and floor) and apply from empty (CLI) at each N."""
    for n in options.scaling:
        if n == options.n and "loopback" in options.settings:
            continue  # measured above, in the same run
        started = time.perf_counter()
        bench.admin.clear()
        seed_run = bench.measure("loopback", "apply-empty", "reconcile-cli", n, 0)
        assert seed_run is not None
        results.runs.append(seed_run)
        bench.log(f"  scaling N={n}: apply from empty (CLI) {seed_run.wall:.1f} s, RSS {seed_run.peak_rss_mb:.0f} MB")
        for rep in range(options.scale_repeat):
            for tool in ("reconcile", "floor-conc") if rep % 2 == 0 else ("floor-conc", "reconcile"):
                run = bench.measure("loopback", "noop-plan", tool, n, rep)
                assert run is not None
                results.runs.append(run)
        plan = bench.measure("loopback", "noop-plan", "reconcile-cli", n, 0)
        assert plan is not None
        results.runs.append(plan)
        bench.log(f"  scaling N={n}: done in {time.perf_counter() - started:.0f} s")
