"""Renderers: Plan | Drift | Report | checks -> str. Pure; they never recompute anything.

Every output format implements `Renderer` and has one line in `_FACTORIES`; commands pick a renderer
by format name with `get`. A renderer module is imported only when its format is asked for, so a
command pays for the formats it prints (start-up time, issue #11).

- common.py: shared vocabulary (verbs, subjects, redacted resource views).
- text.py: terminal output in the style of `terraform plan`, with progress lines.
- json.py: the versioned JSON contract (`format_version` 1); plain data comes from plan_data.py.
- markdown.py: pull-request comments and GitHub job summaries, within GitHub's size limit.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Protocol

from reconciler.errors import UsageError

if TYPE_CHECKING:  # only for annotations: importing them here would load every stage at start-up
    from reconciler.apply import Report
    from reconciler.checks import Check
    from reconciler.drift import Drift
    from reconciler.plan import Plan


class Renderer(Protocol):
    """One output format. Every method returns the whole text, ending with a newline."""

    def render_plan(self, plan: Plan) -> str:
        """`reconcile plan`: the changes, the Nomad CSI checks, the summary."""
        ...

    def render_drift(self, drift: Drift) -> str:
        """`reconcile drift`: the plan's changes grouped by cause."""
        ...

    def render_report(self, report: Report) -> str:
        """`reconcile apply`: what was done, failed or not started."""
        ...

    def render_checks(self, checks: Sequence[Check], unmanaged: Sequence[str]) -> str:
        """`reconcile check`: the Nomad CSI checks and the live CSI plugins no manifest declares."""
        ...


def _text(color: bool) -> Renderer:
    from reconciler.render.text import TextRenderer

    return TextRenderer(color=color)


def _json(_color: bool) -> Renderer:
    from reconciler.render.json import JsonRenderer

    return JsonRenderer()


def _markdown(_color: bool) -> Renderer:
    from reconciler.render.markdown import MarkdownRenderer

    return MarkdownRenderer()


_FACTORIES: dict[str, Callable[[bool], Renderer]] = {
    "text": _text,
    "json": _json,
    "markdown": _markdown,
}

FORMATS: tuple[str, ...] = tuple(_FACTORIES)
"""The format names `get` knows, in the order the command line lists them."""


def get(name: str, *, color: bool = False) -> Renderer:
    """The renderer for format `name` (`color`: ANSI colours, where the format has any)."""
    try:
        factory = _FACTORIES[name]
    except KeyError:
        raise UsageError(f"unknown output format {name!r}", hint=f"use one of: {', '.join(FORMATS)}") from None
    return factory(color)
