"""`reconcile validate`: the manifests checked offline, every problem as path:line: message."""

from __future__ import annotations

from pathlib import Path

from reconciler import loader
from reconciler.commands.console import EXIT_OK, out


def run(manifests: Path, targets_file: Path | None = None, names: tuple[str, ...] = ()) -> int:
    if targets_file is not None:  # the targets file and every selected target's manifests
        from reconciler.fleet import plans

        return plans.validate(targets_file, list(names))
    from reconciler.kinds import census

    out(f"{manifests}: valid ({census(loader.load(manifests).state)})\n")
    return EXIT_OK
