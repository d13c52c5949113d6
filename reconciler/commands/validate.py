"""`reconcile validate`: the manifests checked offline, every problem as path:line: message."""

from __future__ import annotations

from pathlib import Path

from reconciler import loader
from reconciler.commands.console import EXIT_OK, out


def run(manifests: Path) -> int:
    s = loader.load(manifests).state
    out(
        f"{manifests}: valid ({len(s.plugins)} plugin versions, {len(s.runtimes)} runtimes, "
        f"{len(s.pins)} pins, {len(s.csi_plugins)} CSI plugins)\n"
    )
    return EXIT_OK
