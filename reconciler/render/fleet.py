"""Combined output of a run over several targets (reconcile.yaml). Pure, like every renderer.

Each target's part is drawn by the single-target renderer of the same format, so a section reads
exactly like that target's own output:

- text: one section per target, in the file's order, then one combined summary line;
- json: `{"format_version": 1, "targets": [...]}`, each element the target's single-target document
  plus its `name` and `error` (null, or why it failed; a target that failed early has only those);
- markdown: one summary table, then one collapsible section per target, within GitHub's limit.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from reconciler import render
from reconciler.fleet.part import Part
from reconciler.plan import FORMAT_VERSION
from reconciler.render.markdown import GITHUB_LIMIT, MarkdownRenderer

LISTED = 10
"""The combined summary line names at most this many targets per outcome."""
_SECTION_OVERHEAD = 200  # <details>, <summary> and the blank lines around a section
_RESERVE = 200


@dataclass(frozen=True)
class Words:
    """How a command speaks of its outcomes."""

    title: str
    """`reconcile plan`: the markdown heading."""
    ok: str
    """A target with nothing to report: `no changes`, `in sync`, `nothing to do`, `passing`."""
    changed: str
    """A target with something to report: `with changes`, `drifted`, `applied`, `failing checks`."""


PLAN = Words("reconcile plan", "no changes", "with changes")
DRIFT = Words("reconcile drift", "in sync", "drifted")
APPLY = Words("reconcile apply", "nothing to do", "applied")
CHECK = Words("reconcile check", "passing", "failing checks")


def summary_line(parts: Sequence[Part], words: Words) -> str:
    """`3 targets: 1 with changes (staging), 1 no changes (dev), 1 failed (production).`"""
    groups: list[tuple[str, list[str]]] = [
        (words.changed, [p.name for p in parts if p.changed and not p.failed]),
        (words.ok, [p.name for p in parts if not p.changed and not p.failed]),
        ("failed", [p.name for p in parts if p.failed]),
    ]
    shown = [f"{len(names)} {label} ({_names(names)})" for label, names in groups if names]
    noun = "target" if len(parts) == 1 else "targets"
    return f"{len(parts)} {noun}: {', '.join(shown)}."


def _names(names: list[str]) -> str:
    more = f" and {len(names) - LISTED} more" if len(names) > LISTED else ""
    return ", ".join(names[:LISTED]) + more


def render_text(parts: Sequence[Part], words: Words, color: bool = False) -> str:
    """One section per target (its single-target text, or its error), then the combined summary."""
    renderer = render.get("text", color=color)
    sections = []
    for part in parts:
        body = part.draw(renderer) if part.draw is not None else ""
        if part.error:
            body += _error_text(part.error)
        sections.append(f"=== {part.name} ===\n{body}")
    return "\n".join(sections) + "\n" + summary_line(parts, words) + "\n"


def _error_text(error: str) -> str:
    return f"Error: {error}\n"


def render_json(parts: Sequence[Part]) -> str:
    """`{"format_version": 1, "targets": [...]}`; every element has `name` and `error`."""
    renderer = render.get("json")
    elements: list[dict[str, Any]] = []
    for part in parts:
        element: dict[str, Any] = {"name": part.name}
        if part.draw is None:
            element["target"] = {"address": part.address}
        else:
            element.update(json.loads(part.draw(renderer)))
        element["error"] = part.error or None
        elements.append(element)
    return json.dumps({"format_version": FORMAT_VERSION, "targets": elements}, indent=2) + "\n"


def render_markdown(parts: Sequence[Part], words: Words, limit: int = GITHUB_LIMIT) -> str:
    """One summary table, then one collapsible section per target; less than `limit` characters.

    Sections share what the table leaves: one that does not fit its share is drawn again with
    fewer details (the single-target markdown's own cut), or replaced by a note. A fleet too big
    for even that keeps the table only, and then as many rows as fit.
    """
    title = f"### {words.title}: {len(parts)} target{'s' if len(parts) != 1 else ''}"
    tail = summary_line(parts, words)
    rows = _rows(parts)
    table = "\n".join(rows)
    budget = limit - len(title) - len(table) - len(tail) - _RESERVE
    sections = _sections(parts, words, budget)
    text = "\n".join([title, "", table, "", *sections, tail]) + "\n"
    if len(text) < limit:
        return text
    note = f"> ⚠️ Details left out: the comment would exceed GitHub's {GITHUB_LIMIT:,} characters. Run `{words.title}`."
    kept = rows[:2]
    room = limit - len(title) - len(note) - len(tail) - _RESERVE
    for row in rows[2:]:
        if len(row) + 1 > room - len("\n".join(kept)):
            break
        kept.append(row)
    if len(kept) < len(rows):
        kept.append(f"| … | | {len(rows) - len(kept)} more targets |")
    return "\n".join([title, "", *kept, "", note, "", tail]) + "\n"


def _sections(parts: Sequence[Part], words: Words, budget: int) -> list[str]:
    bodies = {p.name: _body(p, GITHUB_LIMIT) for p in parts}
    shares = _shares({n: len(b) + _SECTION_OVERHEAD for n, b in bodies.items()}, budget)
    sections = []
    for part in parts:
        share = shares[part.name] - _SECTION_OVERHEAD
        body = bodies[part.name]
        if len(body) > share:
            body = _body(part, share)
        if len(body) > share:
            body = (
                f"> ⚠️ Details left out: the comment would exceed GitHub's {GITHUB_LIMIT:,} characters. "
                f"Run `{words.title} --target {part.name}` to see them.\n"
            )
        sections.append(f"<details><summary><b>{part.name}</b>: {_cell(part)}</summary>\n\n{body}\n</details>\n")
    return sections


def _body(part: Part, limit: int) -> str:
    body = part.draw(MarkdownRenderer(limit=max(limit, 0))) if part.draw is not None else ""
    if part.error:
        body += "\n❌ **Error:**\n\n```text\n" + part.error.replace("```", "'''") + "\n```\n"
    return body


def _shares(sizes: dict[str, int], budget: int) -> dict[str, int]:
    """Split `budget` so that small sections keep their size and large ones share the rest evenly."""
    shares = dict(sizes)
    left = dict(sizes)
    while left:
        even = max(budget, 0) // len(left)
        small = {n: s for n, s in left.items() if s <= even}
        if not small:
            for name in left:
                shares[name] = even
            break
        for name, size in small.items():
            budget -= size
            del left[name]
    return shares


def _rows(parts: Sequence[Part]) -> list[str]:
    rows = ["| target | address | result |", "|---|---|---|"]
    return rows + [f"| **{p.name}** | `{_escape(p.address)}` | {_cell(p)} |" for p in parts]


def _cell(part: Part) -> str:
    if part.error:
        return "❌ failed: " + _escape(part.error.splitlines()[0][:200])
    icon = "❌" if part.failed else ("✏️" if part.changed else "✅")
    return f"{icon} {_escape(part.status)}".rstrip()


def _escape(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ").replace("`", "'")
