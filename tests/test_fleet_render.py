"""Combined output of several targets (render/fleet.py) and the combined exit code: pure, no server."""

from __future__ import annotations

import json

import pytest

from reconciler import render
from reconciler.fleet.part import Part, exit_code
from reconciler.render import fleet as combined
from reconciler.render.markdown import GITHUB_LIMIT
from tests import render_samples as samples

PLAN = samples.plan()


def _planned(name: str) -> Part:
    return Part(name, "https://vault.example:8200", lambda r: r.render_plan(PLAN), changed=True, status="2 to register")


def _failed(name: str) -> Part:
    return Part(
        name, "https://down.example:8200", failed=True, error="GET /v1/sys/seal-status: cannot reach it\nHint: x"
    )


def _in_sync(name: str) -> Part:
    return Part(name, "https://ok.example:8200", lambda r: r.render_checks([], []), status="no changes")


@pytest.mark.parametrize(
    ("parts", "changes_exit", "expected"),
    [
        ([], True, 0),
        ([_in_sync("a")], True, 0),
        ([_in_sync("a"), _planned("b")], True, 2),
        ([_in_sync("a"), _planned("b")], False, 0),
        ([_planned("a"), _failed("b")], True, 1),
        ([Part("a", "x", changed=True, failed=True)], False, 1),
    ],
)
def test_the_combined_exit_code(parts: list[Part], changes_exit: bool, expected: int) -> None:
    assert exit_code(parts, changes_exit=changes_exit) == expected


def test_the_summary_line_names_the_targets_of_each_outcome() -> None:
    parts = [_planned("a"), _failed("b"), _in_sync("c"), _planned("d")]
    assert (
        combined.summary_line(parts, combined.PLAN)
        == "4 targets: 2 with changes (a, d), 1 no changes (c), 1 failed (b)."
    )
    assert combined.summary_line([_in_sync("x")], combined.DRIFT) == "1 target: 1 in sync (x)."
    many = [_planned(f"t{i:02d}") for i in range(12)]
    assert combined.summary_line(many, combined.APPLY).endswith("t09 and 2 more).")


def test_text_has_a_section_per_target_with_its_error() -> None:
    text = combined.render_text([_planned("a"), _failed("b")], combined.PLAN)
    assert text.startswith("=== a ===\nreconcile: vault")
    assert "=== b ===\nError: GET /v1/sys/seal-status: cannot reach it\nHint: x\n" in text
    assert text.endswith("\n2 targets: 1 with changes (a), 1 failed (b).\n")
    assert samples.SECRET not in text


def test_json_elements_are_the_single_target_documents_plus_name_and_error() -> None:
    document = json.loads(combined.render_json([_planned("a"), _failed("b")]))
    assert document["format_version"] == 1
    first, second = document["targets"]
    assert list(first)[:2] == ["name", "format_version"]
    assert first["error"] is None
    assert (
        first["changes"] == json.loads(samples.plan and combined.render_json([_planned("a")]))["targets"][0]["changes"]
    )
    assert second == {
        "name": "b",
        "target": {"address": "https://down.example:8200"},
        "error": "GET /v1/sys/seal-status: cannot reach it\nHint: x",
    }


def test_markdown_has_one_table_and_a_collapsible_section_per_target() -> None:
    text = combined.render_markdown([_planned("a"), _failed("b")], combined.PLAN)
    assert text.startswith("### reconcile plan: 2 targets\n\n| target | address | result |\n|---|---|---|\n")
    assert "| **a** | `https://vault.example:8200` | ✏️ 2 to register |" in text
    assert "| **b** | `https://down.example:8200` | ❌ failed: GET /v1/sys/seal-status: cannot reach it |" in text
    assert "<details><summary><b>a</b>: ✏️ 2 to register</summary>" in text
    assert "```text\nGET /v1/sys/seal-status: cannot reach it\nHint: x\n```" in text
    assert text.endswith("2 targets: 1 with changes (a), 1 failed (b).\n")


@pytest.mark.parametrize("count", [1, 5, 60, 400])
def test_markdown_of_any_fleet_stays_under_the_limit(count: int) -> None:
    big = "x" * 50_000

    def draw(renderer: object) -> str:
        limit = getattr(renderer, "limit", GITHUB_LIMIT)
        return big[: max(limit - 100, 0)] + "\n"

    parts = [Part(f"t{i}", "https://v:8200", draw, changed=True, status="1 to register") for i in range(count)]
    text = combined.render_markdown(parts, combined.PLAN)
    assert len(text) < GITHUB_LIMIT
    assert text.count("<details>") == count or count > 300  # hundreds of targets: at least the table
    assert "| **t0** |" in text
    assert f"| **t{count - 1}** |" in text or text.count("| **t") + int(text.split("| … | | ")[1].split()[0]) == count


def test_a_small_section_keeps_its_details_when_a_big_one_is_cut() -> None:
    def huge(renderer: object) -> str:
        return "y" * min(getattr(renderer, "limit", GITHUB_LIMIT), 200_000) + "\n"

    parts = [Part("big", "https://v:8200", huge, changed=True), _planned("small")]
    text = combined.render_markdown(parts, combined.PLAN)
    assert len(text) < GITHUB_LIMIT
    assert render.get("markdown").render_plan(PLAN) in text  # the small one, whole
