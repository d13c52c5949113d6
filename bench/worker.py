"""One measured run in a fresh process: `python -m bench.worker` with a JSON spec on stdin, JSON on stdout.

The clock starts after the interpreter and the tool's modules are loaded and stops when the tool is
done, so every tool is timed on the same basis; the parent reads the process's peak RSS and CPU from
`os.wait4`. With `"profile": PATH` the run is profiled with pyinstrument (async mode) into PATH.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from pathlib import Path
from typing import Any

from bench import seed
from bench.counting import as_dict


def _desired(spec: dict[str, Any]) -> list[seed.Entry]:
    entries = seed.catalog(int(spec["n"]))
    return seed.changed(entries).after if spec["variant"] == "after" else entries


def _run(spec: dict[str, Any]) -> dict[str, Any]:
    tool, address, token = spec["tool"], spec["address"], spec["token"]
    apply = spec["mode"] == "apply"
    if tool == "reconcile":
        from bench import stages

        start = time.perf_counter()
        timed = stages.run(Path(spec["manifests"]), address, spec["mode"], int(spec.get("parallelism", 8)))
        wall = time.perf_counter() - start
        return {
            "wall": wall,
            "counts": stages.counts_of(timed),
            "changes": timed.changes,
            "stages": timed.stages,
            "sent": timed.sent,
            "ok": timed.ok,
        }
    desired = _desired(spec)
    if tool == "hvac":
        import hvac  # type: ignore[import-untyped]  # noqa: F401 - loaded before the clock starts

        from bench.alternatives import hvac_script

        start = time.perf_counter()
        outcome = hvac_script(address, token, desired, apply=apply)
    elif tool == "floor-seq":
        from bench import floor

        start = time.perf_counter()
        outcome = floor.sequential(address, token, desired, apply=apply)
    elif tool == "floor-conc":
        from bench import floor

        start = time.perf_counter()
        outcome = asyncio.run(
            floor.concurrent(address, token, desired, concurrency=int(spec.get("parallelism", 8)), apply=apply)
        )
    else:
        raise SystemExit(f"unknown tool {tool!r}")
    wall = time.perf_counter() - start
    return {"wall": wall, "counts": as_dict(outcome.counts), "changes": outcome.changes, "ok": True}


def main() -> None:
    spec = json.loads(sys.stdin.read())
    profile_path = spec.get("profile")
    if profile_path:
        from pyinstrument import Profiler

        profiler = Profiler(async_mode="enabled", interval=0.0005)
        profiler.start()
        result = _run(spec)
        profiler.stop()
        Path(profile_path).write_text(profiler.output_text(unicode=True, color=False, show_all=False))
    else:
        result = _run(spec)
    sys.stdout.write(json.dumps(result) + "\n")


if __name__ == "__main__":
    main()
