"""Renderers behind one interface: the registry, the JSON contract, CSI checks in every format."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from reconciler import render
from reconciler.checks import Check
from reconciler.cli import Format
from reconciler.errors import UsageError
from reconciler.render import markdown, text
from reconciler.render.json import JsonRenderer
from reconciler.render.markdown import MarkdownRenderer
from reconciler.render.text import TextRenderer
from tests import render_samples as samples

GOLDEN = Path(__file__).parent / "golden"


def test_the_registry_has_one_renderer_per_cli_format() -> None:
    assert render.FORMATS == tuple(f.value for f in Format) == ("text", "json", "markdown")
    assert isinstance(render.get("text"), TextRenderer)
    assert isinstance(render.get("json"), JsonRenderer)
    assert isinstance(render.get("markdown"), MarkdownRenderer)


def test_an_unknown_format_is_a_usage_error_with_the_known_ones() -> None:
    with pytest.raises(UsageError, match="unknown output format 'yaml'") as caught:
        render.get("yaml")
    assert caught.value.hint == "use one of: text, json, markdown"


@pytest.mark.parametrize("name", render.FORMATS)
def test_every_renderer_draws_everything_without_secrets(name: str) -> None:
    renderer = render.get(name)
    outputs = [
        renderer.render_plan(samples.plan()),
        renderer.render_drift(samples.drift()),
        renderer.render_report(samples.report()),
        renderer.render_checks(samples.CHECKS, samples.UNMANAGED_CSI),
    ]
    for output in outputs:
        assert output.endswith("\n")
        assert samples.SECRET not in output
        assert "hostpath" in output or "1 of 2 checks failing" in output  # the CSI checks are in every output
    assert "other-csi" in outputs[0]
    assert "other-csi" in outputs[3]


@pytest.mark.parametrize(
    ("golden", "draw"),
    [
        ("plan.json", lambda r: r.render_plan(samples.plan())),
        ("drift.json", lambda r: r.render_drift(samples.drift())),
        ("report.json", lambda r: r.render_report(samples.report())),
    ],
)
def test_json_format_version_1_is_byte_for_byte_what_it_was(golden: str, draw) -> None:
    # Written by the renderers before issue #11; regenerate only for an intended contract change.
    assert draw(render.get("json")) == (GOLDEN / golden).read_text()


def test_check_json_names_unmanaged_plugins_with_the_plans_key() -> None:
    checks_doc = render.get("json").render_checks(samples.CHECKS, samples.UNMANAGED_CSI)
    assert checks_doc == (GOLDEN / "checks.json").read_text()
    plan_doc = json.loads(render.get("json").render_plan(samples.plan()))
    assert (
        json.loads(checks_doc)["unmanaged_csi_plugins"] == plan_doc["unmanaged_csi_plugins"] == ["other-csi", "zz-csi"]
    )
    assert json.loads(checks_doc)["checks"] == plan_doc["checks"]
    assert "unmanaged" not in json.loads(checks_doc)


def test_check_json_without_declared_plugins() -> None:
    assert json.loads(render.get("json").render_checks([], [])) == {
        "format_version": 1,
        "checks": [],
        "unmanaged_csi_plugins": [],
    }


def test_text_checks() -> None:
    results = [Check(id="a", ok=True), Check(id="b", ok=False, reason="missing")]
    assert text.check_line(results[1]) == "  FAIL b: missing"
    assert render.get("text").render_checks(results, ["x", "y"]) == (
        "  ok   a\n  FAIL b: missing\nUnmanaged CSI plugins: x, y\n1 of 2 checks failing.\n"
    )
    assert render.get("text").render_checks(results[:1], []) == "  ok   a\nAll 1 check passes.\n"
    assert text.checks_summary([Check(id="a", ok=True), Check(id="b", ok=True)]) == "All 2 checks pass."


def test_text_colour_is_the_renderers_choice() -> None:
    plain = render.get("text").render_plan(samples.plan())
    coloured = render.get("text", color=True).render_plan(samples.plan())
    assert "\x1b[" not in plain
    assert "\x1b[31m-\x1b[0m delete secret/kv-extra v0.9.0" in coloured
    assert "\x1b[" not in render.get("json", color=True).render_plan(samples.plan())
    assert "\x1b[" not in render.get("markdown", color=True).render_plan(samples.plan())


def test_text_plan_shows_the_checks_block() -> None:
    assert (
        "Nomad CSI plugins:\n  ok   aws-ebs0\n  FAIL hostpath: 1 of 2 nodes healthy, need 2\n"
        "  unmanaged: other-csi, zz-csi\n1 of 2 checks failing.\n"
    ) in render.get("text").render_plan(samples.plan())


def test_markdown_checks() -> None:
    assert render.get("markdown").render_checks(samples.CHECKS, samples.UNMANAGED_CSI) == (
        "#### Nomad CSI plugins\n\n| plugin | status |\n|---|---|\n| `aws-ebs0` | ✅ ok |\n"
        "| `hostpath` | ❌ 1 of 2 nodes healthy, need 2 |\n\nUnmanaged: `other-csi`, `zz-csi`\n\n"
        "❌ 1 of 2 failing\n"
    )
    assert render.get("markdown").render_checks([Check(id="a", ok=True)], []).endswith("\n✅ all 1 pass\n")


def test_markdown_renderer_keeps_its_limit() -> None:
    short = MarkdownRenderer(limit=1300).render_plan(samples.plan())
    assert len(short) <= 1300
    assert "changes are not shown" in short
    assert render.get("markdown").render_plan(samples.plan()) == markdown.render_plan(samples.plan())


def test_renderers_are_imported_only_when_asked_for_and_saved_plans_need_none() -> None:
    probe = (
        "import sys\n"
        "import reconciler.render, reconciler.saved\n"
        "print(sorted(m for m in sys.modules if m.startswith('reconciler.render.')))\n"
        "reconciler.render.get('json')\n"
        "print(sorted(m for m in sys.modules if m.startswith('reconciler.render.')))\n"
    )
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert result.stdout.splitlines() == [
        "['reconciler.render.common']",  # the redacted views that plan data uses: no renderer
        "['reconciler.render.common', 'reconciler.render.json']",
    ]
