"""`python -m bench.startup`: start-up and the no-op plan, each timed as a whole process.

The goals of issue 11: `reconcile version` and `reconcile validate` of a few files in <= 0.12 s of
wall time, and a no-op plan within 1.3x of a raw-httpx script doing the same reads (N = 400, on
loopback). Every command is a fresh process, timed from spawn to exit by bench/procs.py; each runs
`--repeat` times, interleaved, so load on a shared machine spreads over all of them. Reported: best
and median, and the load average before and after (docs/performance.md, "Start-up").
"""

from __future__ import annotations

import argparse
import contextlib
import os
import statistics
import sys
import tempfile
import tomllib
from collections.abc import Sequence
from pathlib import Path

from bench import procs, seed

ROOT = Path(__file__).resolve().parent.parent
GOAL_START = 0.12
GOAL_RATIO = 1.3


def _baseline(root: Path) -> list[str]:
    """How to start the `reconcile` of another checkout (`git archive REV | tar -x -C DIR`) with this
    interpreter: its console entry point from its pyproject.toml."""
    module, _, func = tomllib.loads((root / "pyproject.toml").read_text())["project"]["scripts"]["reconcile"].partition(
        ":"
    )
    # First on sys.path: `python -c` puts the working directory (this checkout) before PYTHONPATH.
    launch = f"import sys; sys.path.insert(0, {str(root)!r}); sys.argv[0] = 'reconcile'; "
    launch += f"from {module} import {func}; {func}()"
    return [sys.executable, "-c", launch]


def _commands(address: str, manifests: Path, few: Path, n: int, baseline: Path | None) -> dict[str, list[str]]:
    py, reconcile = sys.executable, str(Path(sys.executable).parent / "reconcile")
    floor = [py, "-m", "bench.floor", address, str(n)]
    before: dict[str, list[str]] = {}
    if baseline is not None:
        old = _baseline(baseline)
        before = {
            "before: reconcile version": [*old, "version"],
            "before: reconcile validate (3 files)": [*old, "validate", "-m", str(few)],
            f"before: reconcile plan (no-op, N={n})": [*old, "plan", "-m", str(manifests), "--address", address],
        }
    return {
        **before,
        "python -c pass": [py, "-c", "pass"],
        "python -c 'import httpx, asyncio'": [py, "-c", "import httpx, asyncio"],
        "reconcile version": [reconcile, "version"],
        "reconcile --version": [reconcile, "--version"],
        "reconcile validate (3 files)": [reconcile, "validate", "-m", str(few)],
        f"reconcile plan (no-op, N={n})": [reconcile, "plan", "-m", str(manifests), "--address", address],
        "floor, sequential": floor,
        "floor, concurrent": [*floor, "--concurrent"],
        "floor, sequential, plain httpx import": ["env", "BENCH_FLOOR_PLAIN=1", *floor],
    }


def measure(commands: dict[str, list[str]], env: dict[str, str], repeat: int) -> dict[str, list[float]]:
    walls: dict[str, list[float]] = {name: [] for name in commands}
    for _ in range(repeat):
        for name, argv in commands.items():
            done = procs.run(argv, env=env, cwd=ROOT)
            if done.code != 0:
                raise seed.BenchError(f"{name} failed ({done.code}):\n{done.stderr[-2000:]}")
            walls[name].append(done.wall)
    return walls


def report(walls: dict[str, list[float]], n: int, loads: tuple[float, float]) -> str:
    best = {k: min(v) for k, v in walls.items()}
    median = {k: statistics.median(v) for k, v in walls.items()}
    lines = [
        f"load average {loads[0]:.2f} before, {loads[1]:.2f} after; {len(next(iter(walls.values())))} runs each",
        "",
        "| command | best (s) | median (s) |",
        "|---|---:|---:|",
        *(f"| {k} | {best[k]:.3f} | {median[k]:.3f} |" for k in walls),
        "",
        "| goal | best | median | holds (median) |",
        "|---|---:|---:|---|",
    ]
    for name in ("reconcile version", "reconcile --version", "reconcile validate (3 files)"):
        holds = _yes(median[name] <= GOAL_START)
        lines.append(f"| {name} <= {GOAL_START} s | {best[name]:.3f} s | {median[name]:.3f} s | {holds} |")
    plan = f"reconcile plan (no-op, N={n})"
    floor = min(("floor, sequential", "floor, concurrent"), key=lambda k: median[k])
    for against in (floor, "floor, sequential, plain httpx import"):
        ratio_best, ratio_median = best[plan] / best[against], median[plan] / median[against]
        lines.append(
            f"| no-op plan <= {GOAL_RATIO}x {against} | {ratio_best:.2f}x | {ratio_median:.2f}x | "
            f"{_yes(ratio_median <= GOAL_RATIO)} |"
        )
    return "\n".join(lines) + "\n"


def _yes(holds: bool) -> str:
    return "yes" if holds else "**no**"


def main(argv: Sequence[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="python -m bench.startup", description=__doc__.splitlines()[0])
    p.add_argument("--n", type=int, default=400, help="catalog entries for the no-op plan (default 400)")
    p.add_argument("--repeat", type=int, default=10, help="runs of every command (default 10)")
    p.add_argument("--baseline", type=Path, help="also time the reconcile of this checkout (e.g. of an older commit)")
    a = p.parse_args(argv)
    from tests.servers import run_bao

    with contextlib.ExitStack() as stack:
        bao = stack.enter_context(run_bao())
        work = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="reconcile-startup-")))
        entries = seed.catalog(a.n)
        seed.write_plugin_files(bao.plugin_dir, entries)
        manifests = seed.write_manifests(work / "manifests", entries)
        few = work / "few"
        few.mkdir()
        for path in sorted(manifests.glob("*.yaml"))[:3]:
            (few / path.name).write_text(path.read_text())
        seed.Admin(bao.address, bao.token).converge(entries)
        (work / "home").mkdir()
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": str(work / "home"),
            "VAULT_TOKEN": bao.token,
            "PYTHONPATH": str(ROOT),
            "NO_COLOR": "1",
        }
        before = procs.load_average()
        walls = measure(_commands(bao.address, manifests, few, a.n, a.baseline), env, a.repeat)
        sys.stdout.write(report(walls, a.n, (before, procs.load_average())))


if __name__ == "__main__":
    main()
