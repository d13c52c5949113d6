"""`reconcile check`, end to end through the CLI against the fake Nomad served on 127.0.0.1.

The `--wait` tests run the CLI on a thread while the test thread changes the fake; they synchronise
on the fake's blocked queries (`wait_for_waiters`, `wait_for_wakeups`), never on sleeps.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.cli import Run, reconcile, write
from tests.emulator.nomad import NomadFake
from tests.emulator.nomad_fixtures import serve_nomad
from tests.servers import free_port

EBS = "ebs.csi.aws.com"

ONE = """
nomad:
  csi_plugins:
    - id: aws-ebs0
"""


def manifests(tmp_path: Path, text: str) -> Path:
    return write(tmp_path / "manifests" / "nomad.yaml", text)


def check(path: Path, base_url: str, *args: str, **env: str) -> Run:
    return reconcile("check", "-m", path, *args, env={"NOMAD_ADDR": base_url, **env})


def ebs(fake: NomadFake, plugin_id: str = "aws-ebs0", *, controllers: int = 1, nodes: int = 2) -> None:
    """A plugin whose controller and node jobs are fully healthy."""
    if controllers:
        fake.register_job(f"{plugin_id}-controller", plugin_id, "controller", count=controllers)
    fake.register_job(f"{plugin_id}-nodes", plugin_id, "node", count=nodes)
    for n in range(controllers):
        fake.fingerprint(plugin_id, f"c{n}", "controller", requires_controller=True)
    for n in range(nodes):
        fake.fingerprint(plugin_id, f"n{n}", "node", requires_controller=True)


class Background(threading.Thread):
    """`reconcile ...` on another thread; `finish()` returns (run, seconds since `mark()`)."""

    def __init__(self, path: Path, base_url: str, *args: str) -> None:
        super().__init__(daemon=True)
        self._call = (path, base_url, *args)
        self._run: Run | None = None
        self._error: BaseException | None = None
        self._marked = self._ended = 0.0
        self.start()

    def run(self) -> None:
        path, base_url, *args = self._call
        try:
            self._run = check(path, base_url, *args)
        except BaseException as err:
            self._error = err
        self._ended = time.monotonic()

    def mark(self) -> None:
        self._marked = time.monotonic()

    def finish(self, timeout: float = 20.0) -> tuple[Run, float]:
        self.join(timeout)
        assert not self.is_alive(), "reconcile check did not return"
        if self._error is not None:
            raise self._error
        assert self._run is not None
        return self._run, self._ended - self._marked


def wait_until_blocked(fake: NomadFake, nth: int) -> None:
    """Until the `nth` blocking query has arrived and is blocked. A query's waiter is removed before
    its answer is sent, so any waiter present once the nth query arrived is the nth one's."""

    def blocked() -> bool:
        return sum("index=" in p for _, p in fake.requests) >= nth and bool(fake._waiters)

    with fake._cond:  # the fake notifies it whenever a query blocks or stops blocking
        assert fake._cond.wait_for(blocked, 10), f"blocking query {nth} never arrived"


@pytest.fixture
def fast_nomad() -> Iterator[tuple[NomadFake, str]]:
    """A fake whose blocking queries wait at most 1 s (Nomad caps at 300 s), without jitter."""
    fake = NomadFake(max_wait=1.0, jitter=lambda _wait: 0.0)
    with serve_nomad(fake) as base_url:
        yield fake, base_url


# -- one-shot checks -------------------------------------------------------------------------------


def test_all_checks_pass(served_nomad: tuple[NomadFake, str], tmp_path: Path) -> None:
    fake, base_url = served_nomad
    ebs(fake)
    ebs(fake, "nfs", controllers=0, nodes=1)
    path = manifests(
        tmp_path,
        f"""
nomad:
  csi_plugins:
    - id: aws-ebs0
      provider: {EBS}
      version: 1.5.0
      controller_required: true
    - id: nfs
      nodes_healthy: 1
""",
    )
    result = check(path, base_url)
    assert (result.exit_code, result.stderr) == (0, "")
    assert result.stdout == "  ok   aws-ebs0\n  ok   nfs\nAll 2 checks pass.\n"
    assert [p.split("?")[0] for _, p in fake.requests] == [
        "/v1/plugins",
        "/v1/plugin/csi/aws-ebs0",
        "/v1/plugin/csi/nfs",
    ]
    assert fake.requests[0] == ("GET", "/v1/plugins?type=csi")


def test_each_kind_of_failure_says_why(served_nomad: tuple[NomadFake, str], tmp_path: Path) -> None:
    fake, base_url = served_nomad
    ebs(fake, "default-min", nodes=3)
    fake.fingerprint("default-min", "n2", "node", healthy=False)
    ebs(fake, "explicit-min", nodes=3)
    fake.fingerprint("explicit-min", "n1", "node", healthy=False)
    fake.fingerprint("explicit-min", "n2", "node", healthy=False)
    ebs(fake, "old-version", controllers=0, nodes=1)
    fake.fingerprint("old-version", "n0", "node", version="1.4.0")
    ebs(fake, "wrong-provider", controllers=0, nodes=1)
    ebs(fake, "node-only", controllers=0, nodes=1)
    ebs(fake, "unmanaged-b", controllers=0, nodes=1)
    ebs(fake, "unmanaged-a", controllers=0, nodes=1)
    path = manifests(
        tmp_path,
        """
nomad:
  csi_plugins:
    - id: default-min
    - id: explicit-min
      nodes_healthy: 2
    - id: old-version
      version: 1.5.0
    - id: wrong-provider
      provider: disk.csi.azure.com
    - id: node-only
      controller_required: true
      controllers_healthy: 1
    - id: gone
""",
    )
    result = check(path, base_url)
    assert result.exit_code == 2
    assert result.stdout == (
        "  FAIL default-min: 2 of 3 nodes healthy, need 3\n"
        "  FAIL explicit-min: 1 of 3 nodes healthy, need 2\n"
        "  FAIL gone: missing\n"
        "  FAIL node-only: controller_required is false, want true; 0 controllers healthy, need 1\n"
        "  FAIL old-version: 0 of 1 nodes healthy at version 1.5.0, need 1 (1 healthy at 1.4.0)\n"
        f"  FAIL wrong-provider: provider is {EBS}, want disk.csi.azure.com; 0 of 1 nodes healthy, need 1\n"
        "Unmanaged CSI plugins: unmanaged-a, unmanaged-b\n"
        "6 of 6 checks failing.\n"
    )
    assert "/v1/plugin/csi/gone" not in [p for _, p in fake.requests]  # missing from the list: not read


def test_json_output(served_nomad: tuple[NomadFake, str], tmp_path: Path) -> None:
    fake, base_url = served_nomad
    ebs(fake)
    ebs(fake, "extra", controllers=0, nodes=1)
    path = manifests(tmp_path, ONE + "    - id: gone\n")
    result = check(path, base_url, "--format", "json")
    assert result.exit_code == 2
    assert json.loads(result.stdout) == {
        "format_version": 1,
        "checks": [
            {"kind": "nomad_csi_plugin", "id": "aws-ebs0", "ok": True, "reason": ""},
            {"kind": "nomad_csi_plugin", "id": "gone", "ok": False, "reason": "missing"},
        ],
        "unmanaged_csi_plugins": ["extra"],
    }


def test_no_nomad_section_sends_nothing(served_nomad: tuple[NomadFake, str], tmp_path: Path) -> None:
    fake, base_url = served_nomad
    path = manifests(tmp_path, "plugins: []\n")
    result = check(path, base_url)
    assert result.exit_code == 0
    assert "nothing to check" in result.stdout
    assert fake.requests == []


def test_nomad_address_option_wins_and_token_is_sent(tmp_path: Path) -> None:
    fake = NomadFake(acl=True)
    fake.add_token("reader", "read")
    ebs(fake)
    with serve_nomad(fake) as base_url:
        result = check(
            manifests(tmp_path, ONE), "http://127.0.0.1:1", "--nomad-address", base_url, NOMAD_TOKEN="reader"
        )
    assert (result.exit_code, result.stdout) == (0, "  ok   aws-ebs0\nAll 1 check passes.\n")


def test_403_names_the_missing_policy(tmp_path: Path) -> None:
    fake = NomadFake(acl=True)
    fake.add_token("lister", "list")
    ebs(fake)
    with serve_nomad(fake) as base_url:
        result = check(manifests(tmp_path, ONE), base_url, NOMAD_TOKEN="lister")
    assert result.exit_code == 1
    assert "Error: GET /v1/plugin/csi/aws-ebs0: 403 Permission denied" in result.stderr
    assert 'Hint: set NOMAD_TOKEN to a token whose policy has `plugin { policy = "read" }`' in result.stderr
    assert result.stdout == ""


def test_unreachable_nomad_is_an_error(tmp_path: Path) -> None:
    address = f"http://127.0.0.1:{free_port()}"
    result = check(manifests(tmp_path, ONE), address)
    assert result.exit_code == 1
    assert f"GET /v1/plugins: cannot reach {address}" in result.stderr
    assert "NOMAD_ADDR" in result.stderr


def test_bad_wait_duration_is_a_usage_error(served_nomad: tuple[NomadFake, str], tmp_path: Path) -> None:
    fake, base_url = served_nomad
    result = check(manifests(tmp_path, ONE), base_url, "--wait", "30")
    assert result.exit_code == 1
    assert "invalid duration '30'" in result.stderr
    assert fake.requests == []


# -- --wait ------------------------------------------------------------------------------------------


def test_wait_returns_as_soon_as_the_plugin_is_healthy(served_nomad: tuple[NomadFake, str], tmp_path: Path) -> None:
    fake, base_url = served_nomad
    fake.register_job("aws-ebs0-nodes", "aws-ebs0", "node", count=2)
    fake.fingerprint("aws-ebs0", "n0", "node")
    cli = Background(manifests(tmp_path, ONE), base_url, "--wait", "1m")
    assert fake.wait_for_waiters(1)  # the initial read is done and the blocking list is in place
    fake.fingerprint("aws-ebs0", "n1", "node")
    cli.mark()
    result, elapsed = cli.finish()
    assert result.exit_code == 0, result.output
    assert elapsed < 3  # the blocking query returned on the change, far before its 5 s wait or the 1m deadline
    assert result.stdout == (
        "Waiting up to 1m for the Nomad CSI plugins:\n"
        "  FAIL aws-ebs0: 1 of 2 nodes healthy, need 2\n"
        "  ok   aws-ebs0\n"
        "\n"
        "  ok   aws-ebs0\n"
        "All 1 check passes.\n"
    )
    blocking = [p for _, p in fake.requests if "index=" in p]
    assert len(blocking) == 1
    assert "wait=5000ms" in blocking[0]


def test_wait_prints_one_line_per_change(served_nomad: tuple[NomadFake, str], tmp_path: Path) -> None:
    fake, base_url = served_nomad
    fake.register_job("aws-ebs0-nodes", "aws-ebs0", "node", count=2)
    cli = Background(manifests(tmp_path, ONE), base_url, "--wait", "1m", "--format", "json")
    wait_until_blocked(fake, 1)
    fake.fingerprint("aws-ebs0", "n0", "node")
    wait_until_blocked(fake, 2)  # the CLI read the change and blocks again
    fake.fingerprint("other", "n9", "node")  # another plugin: the query returns, aws-ebs0 is not read
    wait_until_blocked(fake, 3)
    fake.fingerprint("aws-ebs0", "n1", "node")
    result, _ = cli.finish()
    assert result.exit_code == 0
    assert result.stderr == (
        "Waiting up to 1m for the Nomad CSI plugins:\n"
        "  FAIL aws-ebs0: 0 of 2 nodes healthy, need 2\n"
        "  FAIL aws-ebs0: 1 of 2 nodes healthy, need 2\n"
        "  ok   aws-ebs0\n"
    )
    assert json.loads(result.stdout)["checks"][0]["ok"] is True
    assert json.loads(result.stdout)["unmanaged_csi_plugins"] == ["other"]
    reads = [p for _, p in fake.requests if p.startswith("/v1/plugin/csi/")]
    assert len(reads) == 3  # the first read, then one per change of aws-ebs0


def test_wait_sees_a_change_that_does_not_raise_the_index(fast_nomad: tuple[NomadFake, str], tmp_path: Path) -> None:
    fake, base_url = fast_nomad
    ebs(fake, controllers=0, nodes=1)
    fake.fingerprint("aws-ebs0", "n0", "node", healthy=False)
    cli = Background(manifests(tmp_path, ONE), base_url, "--wait", "1m")
    assert fake.wait_for_waiters(1)
    fake.fingerprint("aws-ebs0", "n0", "node", bump_index=False)  # alloc-driven: X-Nomad-Index stays
    cli.mark()
    assert fake.wait_for_wakeups(1)  # the blocked query woke, saw the same index and kept waiting
    result, elapsed = cli.finish()
    assert result.exit_code == 0, result.output
    assert elapsed < 3  # seen when the short wait ran out, not at the 1m deadline
    assert "  ok   aws-ebs0\n" in result.stdout


def test_wait_times_out_with_exit_2(fast_nomad: tuple[NomadFake, str], tmp_path: Path) -> None:
    fake, base_url = fast_nomad
    fake.register_job("aws-ebs0-nodes", "aws-ebs0", "node", count=1)
    start = time.monotonic()
    result = check(manifests(tmp_path, ONE), base_url, "--wait", "700ms")
    elapsed = time.monotonic() - start
    assert result.exit_code == 2
    assert 0.7 <= elapsed < 5
    assert result.stdout.endswith("  FAIL aws-ebs0: 0 of 1 nodes healthy, need 1\n1 of 1 check failing.\n")
    blocking = [p for _, p in fake.requests if "index=" in p]
    assert 1 <= len(blocking) <= 3  # no spinning


def test_wait_returns_at_once_when_everything_passes(served_nomad: tuple[NomadFake, str], tmp_path: Path) -> None:
    fake, base_url = served_nomad
    ebs(fake)
    result = check(manifests(tmp_path, ONE), base_url, "--wait", "5m")
    assert (result.exit_code, result.stdout) == (0, "  ok   aws-ebs0\nAll 1 check passes.\n")
    assert not any("index=" in p for _, p in fake.requests)
