"""Checks: the outcome of one expectation of a check-only kind (Nomad CSI plugins, kinds/csi.py).

Plan and `check` evaluate expectations into checks instead of changes; render/ draws them (text,
json, markdown). A failing check is drift, never something apply writes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

CheckKind = Literal["nomad_csi_plugin"]


@dataclass(frozen=True, kw_only=True)
class Check:
    """The outcome of one expectation."""

    kind: CheckKind = "nomad_csi_plugin"
    id: str
    """The plugin ID the expectation names."""
    ok: bool
    reason: str = ""
    """Why it fails, for a person (`1 of 3 nodes healthy, need 2`); "" when ok."""
