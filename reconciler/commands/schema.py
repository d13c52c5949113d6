"""`reconcile schema`: the JSON Schema of a manifest document (for editors and other tools)."""

from __future__ import annotations

import json

from reconciler import manifest
from reconciler.commands.console import EXIT_OK, out


def run() -> int:
    out(json.dumps(manifest.json_schema(), indent=2) + "\n")
    return EXIT_OK
