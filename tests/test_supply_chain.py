"""The supply chain: requirements.lock (what the action installs), the action's install step, and packaging.

The lock is checked against pyproject.toml and against the metadata of the installed packages (their
own requirements, wherever the installed version is the locked one); the install step is run as a
runner runs it, with a stand-in for Python that records every pip call instead of downloading.
"""

from __future__ import annotations

import json
import re
import sys
import textwrap
import tomllib
from importlib import metadata
from pathlib import Path
from typing import Any

import pytest
import yaml
from packaging.markers import default_environment
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from tests.test_github import ACTION, ROOT, run_step

LOCK = ROOT / "requirements.lock"
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
# The action's runner: setup-python 3.11 on Linux (action.yml and docs/ci.md).
RUNNER = {**default_environment(), "python_version": "3.11", "sys_platform": "linux", "platform_system": "Linux"}
HASH = re.compile(r"--hash=sha256:[0-9a-f]{64}")


def lock_entries() -> dict[str, tuple[Requirement, list[str]]]:
    """Each requirement of the lock by canonical name, with its --hash options (continuations joined)."""
    logical = re.sub(r"\\\n", " ", LOCK.read_text())
    entries: dict[str, tuple[Requirement, list[str]]] = {}
    for raw in logical.splitlines():
        line = "" if raw.lstrip().startswith("#") else raw.strip()
        if not line:
            continue
        spec, _, options = line.partition(" --")
        requirement = Requirement(spec.strip())
        entries[canonicalize_name(requirement.name)] = (requirement, HASH.findall("--" + options))
    return entries


def pinned_version(requirement: Requirement) -> str:
    (specifier,) = requirement.specifier
    assert specifier.operator == "==", f"{requirement} is not pinned with =="
    return specifier.version


def needed(requirements: list[str]) -> list[Requirement]:
    """The requirements that apply on the runner (markers evaluated, no extras)."""
    parsed = [Requirement(r) for r in requirements]
    return [r for r in parsed if r.marker is None or r.marker.evaluate({**RUNNER, "extra": ""})]


def test_every_line_of_the_lock_is_pinned_with_hashes() -> None:
    text = LOCK.read_text()
    assert "bash run lock" in text.splitlines()[1], "the header says how to regenerate the lock"
    entries = lock_entries()
    assert len(entries) >= 10
    for name, (requirement, hashes) in entries.items():
        pinned_version(requirement)
        assert not requirement.url, name
        assert not requirement.extras, name
        assert hashes, f"{name} has no --hash"
    # No option line could widen what pip may install (an index, find-links, an editable install).
    assert not re.search(r"^\s*-(-index-url|-extra-index-url|-find-links|e|f|i)\b", text, re.MULTILINE)


def test_every_runtime_dependency_and_the_build_backend_are_locked_within_their_specifiers() -> None:
    entries = lock_entries()
    wanted = [*PYPROJECT["project"]["dependencies"], *PYPROJECT["build-system"]["requires"]]
    for requirement in needed(wanted):
        name = canonicalize_name(requirement.name)
        assert name in entries, f"{requirement} is not in requirements.lock: run `bash run lock`"
        version = pinned_version(entries[name][0])
        assert requirement.specifier.contains(version, prereleases=True), (
            f"requirements.lock pins {name}=={version}, outside pyproject.toml's {requirement}: run `bash run lock`"
        )


def test_the_locked_packages_requirements_are_locked_too() -> None:
    """pip --require-hashes fails on a runner when a dependency of a locked package is missing."""
    entries = lock_entries()
    checked = 0
    for name, (requirement, _) in entries.items():
        try:
            installed = metadata.distribution(name)
        except metadata.PackageNotFoundError:
            continue
        if installed.version != pinned_version(requirement):
            continue  # another version here: its requirements say nothing about the locked one
        checked += 1
        for dependency in needed(installed.requires or []):
            dep = canonicalize_name(dependency.name)
            assert dep in entries, f"{name} needs {dependency}, which is not in requirements.lock"
            assert dependency.specifier.contains(pinned_version(entries[dep][0]), prereleases=True)
    assert checked >= len(entries) // 2, "too few locked versions installed here to check the lock's closure"


def test_the_project_itself_is_not_in_the_lock() -> None:
    """It is installed from the action's checkout with --no-deps; a pinned copy from the index would shadow it."""
    names = set(lock_entries())
    assert canonicalize_name(PYPROJECT["project"]["name"]) not in names
    assert "reconcile" not in names


# --- the action installs only what is locked --------------------------------------------------------


def install_script() -> str:
    document: dict[str, Any] = yaml.safe_load(ACTION.read_text())
    (step,) = (s for s in document["runs"]["steps"] if s.get("id") == "install")
    script: str = step["run"]
    return script


def test_every_install_command_of_the_action_is_pinned() -> None:
    text = ACTION.read_text()
    for tool in ("pipx", "uv ", "easy_install", "setup.py", "curl", "wget"):
        assert tool not in text, f"action.yml installs with {tool}"
    commands = [line for line in re.sub(r"\\\n\s*", " ", install_script()).splitlines() if "pip install" in line]
    assert text.count("pip install") == len(commands) == 2
    locked, project = (c.split() for c in commands)
    assert {"--require-hashes", "--only-binary", ":all:", "-r", '"$GITHUB_ACTION_PATH/requirements.lock"'} <= set(
        locked
    )
    # The project: nothing fetched (no index, no dependencies, no isolated build environment).
    assert {"--no-deps", "--no-index", "--no-build-isolation"} <= set(project)
    assert project[-1] == '"$GITHUB_ACTION_PATH"'


FAKE_PYTHON = textwrap.dedent(
    """\
    import json, os, subprocess, sys
    args = sys.argv[1:]
    if args[:1] == ["-c"]:
        sys.exit(subprocess.call([REAL, *args]))
    if args[:2] == ["-m", "venv"]:
        os.makedirs(os.path.join(args[2], "bin"), exist_ok=True)
        target = os.path.join(args[2], "bin", "python")
        with open(target, "w") as f:
            f.write(open(__file__).read())
        os.chmod(target, 0o755)
        sys.exit(0)
    assert args[:3] == ["-m", "pip", "install"], args
    with open(os.environ["PIP_LOG"], "a") as f:
        f.write(json.dumps(args[3:]) + "\\n")
    if "--require-hashes" in args and os.environ.get("FAIL_LOCKED") == "1":
        print("ERROR: THESE PACKAGES DO NOT MATCH THE HASHES FROM THE REQUIREMENTS FILE.")
        sys.exit(1)
    if "--no-index" in args:
        bin_dir = os.path.dirname(os.path.abspath(sys.argv[0]))
        with open(os.path.join(bin_dir, "reconcile"), "w") as f:
            f.write("#!/bin/sh\\necho reconcile 0.1.0\\n")
        os.chmod(os.path.join(bin_dir, "reconcile"), 0o755)
    """
)


@pytest.fixture
def fake_python(tmp_path: Path) -> Path:
    """A stand-in for setup-python's interpreter: its venvs' pip records its calls and downloads nothing."""
    path = tmp_path / "fake-python"
    path.write_text(f"#!{sys.executable}\nREAL = {sys.executable!r}\n{FAKE_PYTHON}")
    path.chmod(0o755)
    return path


def pip_calls(tmp_path: Path) -> list[list[str]]:
    log = tmp_path / "pip.json"
    return [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []


def test_install_step_installs_the_lock_with_hashes_then_reconcile_without_fetching(
    tmp_path: Path, fake_python: Path
) -> None:
    env = {"GITHUB_ACTION_PATH": str(ROOT), "PIP_LOG": str(tmp_path / "pip.json")}
    code, out, log = run_step("install", {}, tmp_path, tmp_path, env, python=str(fake_python))
    assert code == 0, log
    locked, project = pip_calls(tmp_path)
    assert locked[locked.index("-r") + 1] == str(LOCK)
    assert "--require-hashes" in locked
    assert project[-1] == str(ROOT)
    assert {"--no-deps", "--no-index", "--no-build-isolation"} <= set(project)
    assert "reconcile 0.1.0" in log
    assert Path(out["bin"], "reconcile").is_file()

    # The same action checkout again in the job: the venv is reused, nothing installed twice.
    code, again, log = run_step("install", {}, tmp_path, tmp_path, env, python=str(fake_python))
    assert code == 0, log
    assert again["bin"] == out["bin"]
    assert len(pip_calls(tmp_path)) == 2


def test_a_hash_mismatch_fails_the_install_and_reconcile_is_not_installed(tmp_path: Path, fake_python: Path) -> None:
    env = {"GITHUB_ACTION_PATH": str(ROOT), "PIP_LOG": str(tmp_path / "pip.json"), "FAIL_LOCKED": "1"}
    code, out, log = run_step("install", {}, tmp_path, tmp_path, env, python=str(fake_python))
    assert code == 1
    assert "DO NOT MATCH THE HASHES" in log
    assert len(pip_calls(tmp_path)) == 1
    assert "bin" not in out
    assert not list((tmp_path / "runner-temp").glob("reconcile-venv-*/bin/reconcile"))


# --- packaging ------------------------------------------------------------------------------------------


def test_license_file_is_the_mpl_2_0_that_pyproject_declares() -> None:
    assert PYPROJECT["project"]["license"] == "MPL-2.0"
    text = (ROOT / "LICENSE").read_text()
    assert text.startswith("Mozilla Public License Version 2.0\n==================================\n")
    for section in (
        "1. Definitions",
        "10.4. Distributing Source Code Form that is Incompatible With Secondary",
        "Exhibit B",
    ):
        assert section in text
    assert len(text.splitlines()) == 373


def test_distribution_name_is_not_the_taken_reconcile_and_the_command_stays() -> None:
    name = PYPROJECT["project"]["name"]
    assert name == "plugin-catalog-reconcile"
    assert PYPROJECT["project"]["scripts"] == {"reconcile": "reconciler.__main__:main"}
    assert metadata.distribution(name).entry_points.select(group="console_scripts", name="reconcile")
    for doc in ("README.md", "CHANGELOG.md", "docs/ci.md"):
        assert name in (ROOT / doc).read_text(), f"{doc} does not name the distribution"
    assert name in ACTION.read_text()
