"""Summaries, goals and the markdown / JSON report of a benchmark run."""

from __future__ import annotations

import itertools
import json
import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from bench.counting import cross_check, describe, reads, total, writes
from bench.runner import SCENARIO_TITLES, SCENARIOS, Results, Run, serializable
from bench.stages import STAGES

SETTING_TITLES = {"loopback": "loopback (127.0.0.1, no added latency)", "latency": "through the latency proxy"}
ROW_ORDER = ("reconcile", "reconcile-cli", "floor-conc", "floor-seq", "hvac", "bao-cli")
LABELS = {
    "reconcile": "reconcile",
    "reconcile-cli": "reconcile CLI process",
    "floor-conc": "floor, concurrent (8)",
    "floor-seq": "floor, sequential",
    "hvac": "hvac, sequential",
    "bao-cli": "bao CLI shell loop",
}
MARGINAL_GROWTH_LIMIT = 1.25


@dataclass(frozen=True)
class Stat:
    tool: str
    runs: int
    min: float
    median: float
    counts: dict[str, int]
    counts_vary: bool
    peak_rss_mb: float
    cpu: float
    server_cpu: float
    extrapolated: str


@dataclass(frozen=True)
class Goal:
    name: str
    measured: str
    target: str
    holds: bool | None
    setting: str = ""
    scenario: str = ""


def select(runs: Sequence[Run], setting: str, scenario: str, n: int, tool: str) -> list[Run]:
    return [r for r in runs if r.setting == setting and r.scenario == scenario and r.n == n and r.tool == tool]


def stat(runs: Sequence[Run]) -> Stat | None:
    if not runs:
        return None
    walls = [r.wall for r in runs]
    first = runs[0].counts
    return Stat(
        tool=runs[0].tool,
        runs=len(runs),
        min=min(walls),
        median=statistics.median(walls),
        counts=first,
        counts_vary=any(r.counts != first for r in runs),
        peak_rss_mb=max(r.peak_rss_mb for r in runs),
        cpu=statistics.median(r.cpu for r in runs),
        server_cpu=statistics.median(r.server_cpu for r in runs),
        extrapolated=runs[0].extrapolated,
    )


def stats(results: Results, setting: str, scenario: str, n: int) -> dict[str, Stat]:
    out = {}
    for tool in ROW_ORDER:
        s = stat(select(results.runs, setting, scenario, n, tool))
        if s is not None:
            out[tool] = s
    return out


def floor_of(table: dict[str, Stat]) -> Stat | None:
    """The faster (by median) of the two floor variants."""
    floors = [table[t] for t in ("floor-seq", "floor-conc") if t in table]
    return min(floors, key=lambda s: s.median) if floors else None


def _ratio(a: Stat | None, b: Stat | None) -> float | None:
    if a is None or b is None or b.median <= 0:
        return None
    return a.median / b.median


def _fmt(x: float | None, digits: int = 2) -> str:
    return "n/a" if x is None else f"{x:.{digits}f}"


def goals(results: Results, n: int, settings: Sequence[str], scaling: Sequence[int]) -> list[Goal]:
    out: list[Goal] = []
    for setting in settings:
        for scenario in SCENARIOS:
            table = stats(results, setting, scenario, n)
            rec = table.get("reconcile")
            if rec is None:
                continue
            title = SCENARIO_TITLES[scenario]
            where = "loopback" if setting == "loopback" else "latency"
            floor = floor_of(table) if setting == "loopback" else table.get("floor-conc")
            r = _ratio(rec, floor)
            floor_name = "the floor" if setting == "loopback" else "the concurrent floor"
            if setting != "loopback" or scenario != "change":  # the stated goals: table rows show the rest
                out.append(
                    Goal(
                        f"{where}: {title} <= 1.3x {floor_name}",
                        f"{_fmt(r)}x ({rec.median:.2f} s vs {floor.median:.2f} s)" if floor and r else "n/a",
                        "<= 1.30x",
                        None if r is None else r <= 1.3,
                        setting,
                        scenario,
                    )
                )
            if scenario != "noop-plan" and setting == "loopback":
                bao = table.get("bao-cli")
                speed = _ratio(bao, rec)
                out.append(
                    Goal(
                        f"{where}: {title} >= 10x faster than the bao CLI loop",
                        f"{_fmt(speed, 1)}x (bao CLI est. {bao.median:.1f} s)" if bao and speed else "n/a",
                        ">= 10x",
                        None if speed is None else speed >= 10,
                        setting,
                        scenario,
                    )
                )
            if setting == "latency":
                hvac = table.get("hvac")
                speed = _ratio(hvac, rec)
                out.append(
                    Goal(
                        f"{where}: {title} >= 5x faster than sequential hvac",
                        f"{_fmt(speed, 1)}x (hvac {hvac.median:.1f} s)" if hvac and speed else "n/a",
                        ">= 5x",
                        None if speed is None else speed >= 5,
                        setting,
                        scenario,
                    )
                )
        table = stats(results, setting, "noop-plan", n)
        rec, floor = table.get("reconcile"), floor_of(table)
        if rec is not None and floor is not None:
            ok = writes(rec.counts) == 0 and reads(rec.counts) <= reads(floor.counts)
            out.append(
                Goal(
                    f"{setting}: no-op plan sends no writes and no more reads than the floor",
                    f"reconcile {describe(rec.counts)}; floor {describe(floor.counts)}",
                    "0 writes, reads <= floor (+1 seal-status)",
                    ok,
                    setting,
                    "noop-plan",
                )
            )
    out += _linearity(results, n, scaling)
    out += _rss(results, scaling or (n,))
    return out


def scaling_points(results: Results, n: int, scaling: Sequence[int]) -> list[dict[str, float | int | None]]:
    points: list[dict[str, float | int | None]] = []
    for size in sorted(set(scaling) | {n}) if scaling else []:
        noop = stats(results, "loopback", "noop-plan", size)
        empty = stats(results, "loopback", "apply-empty", size)
        rec, floor, cli_plan = noop.get("reconcile"), noop.get("floor-conc"), noop.get("reconcile-cli")
        cli_apply = empty.get("reconcile-cli")
        if rec is None:
            continue
        points.append(
            {
                "n": size,
                "noop_reconcile": rec.median,
                "noop_floor": floor.median if floor else None,
                "noop_ratio": _ratio(rec, floor),
                "apply_cli": cli_apply.median if cli_apply else None,
                "rss_plan": cli_plan.peak_rss_mb if cli_plan else None,
                "rss_apply": cli_apply.peak_rss_mb if cli_apply else None,
            }
        )
    return points


def _marginal(points: list[dict[str, float | int | None]], key: str) -> list[float]:
    """Seconds per added entry between successive sizes."""
    pts = [(int(p["n"] or 0), float(v)) for p in points if (v := p[key]) is not None]
    return [(t2 - t1) / (n2 - n1) for (n1, t1), (n2, t2) in itertools.pairwise(pts)]


def _linearity(results: Results, n: int, scaling: Sequence[int]) -> list[Goal]:
    points = scaling_points(results, n, scaling)
    out = []
    for key, title in (("noop_reconcile", "no-op plan"), ("apply_cli", "apply from empty (CLI)")):
        marg = _marginal(points, key)
        if len(marg) < 2:
            continue
        growth = marg[-1] / marg[0] if marg[0] > 0 else None
        per = ", ".join(f"{m * 1e6:.0f}" for m in marg)
        out.append(
            Goal(
                f"cost linear in N: {title}",
                f"marginal cost per entry {per} µs between successive N (growth {_fmt(growth)}x)",
                f"growth <= {MARGINAL_GROWTH_LIMIT}x",
                None if growth is None else growth <= MARGINAL_GROWTH_LIMIT,
            )
        )
    return out


def _rss(results: Results, sizes: Sequence[int]) -> list[Goal]:
    biggest = max(sizes)
    cli = [r for r in results.runs if r.tool == "reconcile-cli" and r.n == biggest]
    if not cli:
        return []
    peak = max(r.peak_rss_mb for r in cli)
    return [
        Goal(
            f"peak RSS of the reconcile CLI < 150 MB at N = {biggest:,}",
            f"{peak:.0f} MB (max over {len(cli)} CLI runs: plan and apply)",
            "< 150 MB",
            peak < 150,
        )
    ]


def _check(holds: bool | None) -> str:
    return {True: "yes", False: "**no**", None: "n/a"}[holds]


def _requests(s: Stat) -> str:
    text = describe(s.counts)
    if s.tool == "bao-cli":
        return f"{text} (est.)"
    if s.tool == "reconcile-cli" and not s.counts:
        return "as the library run"
    return text + (" (varies)" if s.counts_vary else "")


def results_table(results: Results, setting: str, n: int) -> list[str]:
    lines = [
        "| scenario | tool | runs | wall min (s) | wall median (s) | x floor | requests | peak RSS (MB) "
        "| client CPU (s) | server CPU (s) |",
        "|---|---|---:|---:|---:|---:|---|---:|---:|---:|",
    ]
    for scenario in SCENARIOS:
        table = stats(results, setting, scenario, n)
        floor = floor_of(table)
        for tool, s in table.items():
            ratio = _ratio(s, floor)
            mark = " (floor)" if floor is not None and s is floor else ""
            label = LABELS[tool] + mark
            if tool == "bao-cli":
                label += " *"
            elif tool == "reconcile-cli":
                label += " †"
            lines.append(
                f"| {SCENARIO_TITLES[scenario]} | {label} | {s.runs} | {s.min:.2f} | {s.median:.2f} | "
                f"{_fmt(ratio)} | {_requests(s)} | {s.peak_rss_mb:.0f} | {s.cpu:.2f} | {s.server_cpu:.2f} |"
            )
    return lines


def stages_table(results: Results, settings: Sequence[str], n: int) -> list[str]:
    lines = [
        "| setting | scenario | " + " | ".join(STAGES) + " | total |",
        "|---|---|" + "---:|" * (len(STAGES) + 1),
    ]
    for setting in settings:
        for scenario in SCENARIOS:
            runs = [r for r in select(results.runs, setting, scenario, n, "reconcile") if r.stages]
            if not runs:
                continue
            med = {st: statistics.median((r.stages or {}).get(st, 0.0) for r in runs) for st in STAGES}
            cells = " | ".join(f"{med[st]:.3f}" for st in STAGES)
            lines.append(f"| {setting} | {SCENARIO_TITLES[scenario]} | {cells} | {sum(med.values()):.3f} |")
    return lines


def scaling_table(results: Results, n: int, scaling: Sequence[int]) -> list[str]:
    points = scaling_points(results, n, scaling)
    if not points:
        return []
    lines = [
        "| N | no-op plan: reconcile (s) | floor, concurrent (s) | x floor | µs per entry "
        "| apply from empty, CLI (s) | ms per entry | peak RSS plan / apply (MB) |",
        "|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for p in points:
        size = int(p["n"] or 0)
        noop = float(p["noop_reconcile"] or 0)
        apply = p["apply_cli"]
        per_apply = "n/a" if apply is None else f"{float(apply) / size * 1000:.1f}"
        rss = f"{_fmt(_opt(p['rss_plan']), 0)} / {_fmt(_opt(p['rss_apply']), 0)}"
        lines.append(
            f"| {size:,} | {noop:.2f} | {_fmt(_opt(p['noop_floor']))} | {_fmt(_opt(p['noop_ratio']))} | "
            f"{noop / size * 1e6:.0f} | {_fmt(_opt(apply))} | {per_apply} | {rss} |"
        )
    return lines


def _opt(x: float | int | None) -> float | None:
    return None if x is None else float(x)


def markdown(results: Results, goal_list: list[Goal]) -> str:
    opts = results.options
    env = results.environment
    n = int(opts["n"])
    settings: list[str] = list(opts["settings"])
    scaling: list[int] = list(opts["scaling"])
    plugins = (n + 3) // 4
    out = [
        f"# reconcile benchmark ({env.get('started', '')})",
        "",
        f"N = {n:,} catalog entries ({plugins} plugins x 4 versions) on a fresh OpenBao {env.get('server', '')} "
        f"dev server; {env.get('cpus')} CPUs; Python {env.get('python')}; load average "
        f"{env.get('load_average_start', 0):.1f} at the start, {env.get('load_average_end', 0):.1f} at the end; "
        f"repetitions {opts['repeat']} (hvac and the sequential floor behind the proxy: {opts['seq_repeat']}; "
        f"bao CLI samples: {opts.get('bao_repeat', opts['repeat'])}); "
        f"whole run {results.elapsed / 60:.1f} min.",
        "",
    ]
    for setting in settings:
        title = SETTING_TITLES[setting]
        if setting == "latency":
            cal = env.get("proxy", {})
            title += (
                f": +{opts['latency_ms']:.0f} ms per round trip (measured: +{cal.get('added_ms', 0):.1f} ms, "
                f"{cal.get('direct_ms', 0):.2f} -> {cal.get('proxied_ms', 0):.2f} ms for one GET; "
                f"+{cal.get('uncorrected_added_ms', 0):.1f} ms before calibration)"
            )
        out += [f"## {title}", "", *results_table(results, setting, n), ""]
    out += [
        "Ratios are of medians; `x floor` compares with the faster floor variant of the same scenario and setting.",
        "\\* bao CLI rows are extrapolated from timed samples (see the requests and per-operation costs below).",
        "† the `reconcile` console script in its own process, timed from spawn to exit (interpreter start-up "
        "included); peak RSS is each measured process's own `ru_maxrss` (see bench/procs.py).",
        "",
        "## Goals",
        "",
        "| goal | measured | target | holds |",
        "|---|---|---|---|",
    ]
    out += [f"| {g.name} | {g.measured} | {g.target} | {_check(g.holds)} |" for g in goal_list]
    out += ["", "## reconcile, stage by stage (median seconds)", "", *stages_table(results, settings, n), ""]
    table = scaling_table(results, n, scaling)
    if table:
        out += ["## Growth with N (loopback)", "", *table, ""]
    bao = [
        f"- {setting}/{scenario}: {r.extrapolated}"
        for setting in settings
        for scenario in SCENARIOS
        for r in select(results.runs, setting, scenario, n, "bao-cli")[:1]
    ]
    if bao:
        out += ["## bao CLI extrapolation (first repetition)", "", *bao, ""]
    checks = cross_check(results)
    if "latency" in settings:
        out += [
            "Proxy cross-check: "
            + ("every client-side request count matched the proxy's count." if not checks else "MISMATCHES:"),
            *[f"- {c}" for c in checks],
            "",
        ]
    if results.notes:
        out += ["## Notes", "", *[f"- {note}" for note in results.notes], ""]
    if results.profiles:
        out += ["## Profiles (pyinstrument) of reconcile for goals that do not hold", ""]
        for name, path in results.profiles.items():
            text = Path(path).read_text() if Path(path).exists() else ""
            head = "\n".join(text.splitlines()[:45])
            out += [f"### {name} (`{path}`)", "", "```text", head, "```", ""]
    return "\n".join(out)


def write(results: Results, goal_list: list[Goal], folder: Path) -> tuple[Path, Path, str]:
    folder.mkdir(parents=True, exist_ok=True)
    text = markdown(results, goal_list)
    md = folder / "latest.md"
    md.write_text(text)
    data = serializable(results)
    data["goals"] = [g.__dict__ for g in goal_list]
    data["totals"] = {f"{r.setting}/{r.scenario}/{r.tool}/{r.n}": total(r.counts) for r in results.runs if r.rep == 0}
    js = folder / "latest.json"
    js.write_text(json.dumps(data, indent=2, default=str))
    return md, js, text
