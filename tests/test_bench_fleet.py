"""Smoke test of the several-targets benchmark (`bash run bench --fleet`, bench/fleet.py): two real dev
OpenBao servers, a few entries, one repetition. It keeps the benchmark working and checks the report's
shape, never how long anything took."""

from __future__ import annotations

import json
from pathlib import Path

from bench import fleet
from bench.__main__ import parse


def test_the_fleet_bench_measures_single_and_combined_plans(tmp_path: Path) -> None:
    lines: list[str] = []
    text = fleet.run(servers=2, n=6, repeat=1, settings=("loopback",), out=tmp_path, log=lines.append)
    assert text.startswith("## Several targets (`bash run bench --fleet`)\n")
    assert "| loopback | 2 |" in text
    (case,) = json.loads((tmp_path / "fleet.json").read_text())
    assert case["targets"] == 2
    assert set(case["combined"]) == {"1", "4", "2"}
    assert case["single_max"] >= case["single_median"] > 0
    assert case["ratio"] > 0
    assert (tmp_path / "fleet.md").read_text() == text
    assert lines[0] == "starting 2 dev OpenBao servers on 127.0.0.1"


def test_fleet_options() -> None:
    options = parse(["--fleet", "--fleet-servers", "12", "--fleet-n", "40", "--setting", "latency"])
    assert (options.fleet, options.n, options.repeat, options.settings) == (12, 40, 3, ("latency",))
