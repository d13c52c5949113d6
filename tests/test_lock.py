"""The apply lock (`settings.lock`, issue 10 §7) on the real OpenBao, whose dev server mounts
`secret/` as KV version 2."""

from __future__ import annotations

import signal
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from reconciler.lock import run_url
from tests.cli import SHA_A, SHA_B, reconcile, write
from tests.servers import BaoServer

OTHER = {"id": "0123abcd", "host": "ci-runner-7", "pid": 4242, "since": "2026-01-02T03:04:05+00:00"}
RUN = "https://github.com/acme/catalog/actions/runs/99"


@pytest.fixture
def key(bao: BaoServer) -> Iterator[str]:
    """A lock key of this test's own, removed after."""
    name = f"reconcile/{uuid.uuid4().hex[:8]}"
    yield name
    with bao.client() as c:
        c.delete(f"/v1/secret/metadata/{name}").raise_for_status()


@pytest.fixture
def env(bao: BaoServer) -> dict[str, str]:
    for n in range(4):
        bao.add_plugin_file(f"p{n}")
    return {"VAULT_ADDR": bao.address, "VAULT_TOKEN": bao.token}


def manifest(tmp_path: Path, key: str, *, sha: str = SHA_A, names: range = range(2), lock: str = "") -> Path:
    plugins = "".join(
        f"  - {{name: p{n}, type: secret, versions: [{{version: 1.0.0, sha256: {sha}}}]}}\n" for n in names
    )
    settings = lock or f"settings:\n  lock: {{kv_mount: secret, key: {key}}}\n"
    return write(tmp_path / f"m-{sha[:4]}.yaml", "plugins:\n" + plugins + settings)


def hold(bao: BaoServer, key: str, data: dict[str, Any]) -> None:
    with bao.client() as c:
        c.post(f"/v1/secret/data/{key}", json={"data": data}).raise_for_status()


def lock_data(bao: BaoServer, key: str) -> dict[str, Any] | None:
    """The lock's data, or None when there is no lock (no key, or a deleted latest version)."""
    with bao.client() as c:
        r = c.get(f"/v1/secret/data/{key}")
    if r.status_code == 404:
        return None
    r.raise_for_status()
    data: dict[str, Any] = r.json()["data"]["data"]
    return data


def catalog(bao: BaoServer) -> set[tuple[str, str]]:
    with bao.client() as c:
        detailed = c.get("/v1/sys/plugins/catalog").json()["data"]["detailed"]
    return {(e["name"], e["sha256"]) for e in detailed if not e["builtin"]}


def test_apply_takes_and_releases_the_lock_and_plan_never_locks(bao: BaoServer, env, key, tmp_path: Path) -> None:
    m = manifest(tmp_path, key)
    r = reconcile("apply", "-m", m, "--auto-approve", env=env)
    assert r.exit_code == 0, r.output
    assert f"Lock secret/{key} taken: ID " in r.stderr
    assert lock_data(bao, key) is None
    with bao.client() as c:  # released with its metadata: the next create-only write succeeds
        assert c.get(f"/v1/secret/metadata/{key}").status_code == 404
    hold(bao, key, {**OTHER, "run_url": RUN})
    assert reconcile("plan", "-m", m, env=env).exit_code == 0
    assert reconcile("drift", "-m", m, env=env).exit_code == 0


def test_held_lock_fails_naming_the_holder(bao: BaoServer, env, key, tmp_path: Path) -> None:
    hold(bao, key, {**OTHER, "run_url": RUN})
    r = reconcile("apply", "-m", manifest(tmp_path, key), "--auto-approve", env=env)
    assert r.exit_code == 1
    assert (
        f"Error: lock secret/{key} is held by another run: ID 0123abcd (host ci-runner-7, pid 4242, "
        f"since 2026-01-02T03:04:05+00:00, run {RUN}); nothing was applied"
    ) in r.stderr
    assert "Hint: wait for it to finish (--lock-timeout 10m waits for it), or, if that run is gone, " in r.stderr
    assert "reconcile force-unlock 0123abcd" in r.stderr
    assert r.stdout == ""
    assert catalog(bao) == set()
    assert lock_data(bao, key) == {**OTHER, "run_url": RUN}


def test_malformed_lock_is_an_error_never_free(bao: BaoServer, env, key, tmp_path: Path) -> None:
    hold(bao, key, {"owner": "someone"})
    r = reconcile("apply", "-m", manifest(tmp_path, key), "--auto-approve", env=env)
    assert r.exit_code == 1
    assert f"Error: the lock key secret/{key} holds something reconcile did not write" in r.stderr
    assert catalog(bao) == set()


def test_lock_timeout_waits_then_takes_the_lock_once_released(bao: BaoServer, env, key, tmp_path: Path) -> None:
    hold(bao, key, OTHER)
    proc = subprocess.Popen(
        [reconcile_bin(), "apply", "-m", str(manifest(tmp_path, key)), "--auto-approve", "--lock-timeout", "2m"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**env, "PATH": "/usr/bin:/bin", "NO_COLOR": "1"},
    )
    assert proc.stderr is not None
    first = proc.stderr.readline()
    assert first.startswith(f"Waiting up to 120s for the lock secret/{key}, held by ID 0123abcd (host ci-runner-7")
    assert catalog(bao) == set()  # nothing read or written while waiting
    with bao.client() as c:
        c.delete(f"/v1/secret/metadata/{key}").raise_for_status()
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, out + err
    assert f"Lock secret/{key} taken: ID " in err
    assert "Apply complete: 2 done." in out
    assert lock_data(bao, key) is None


def test_stale_lock_is_taken_over_with_a_warning(bao: BaoServer, env, key, tmp_path: Path) -> None:
    hold(bao, key, OTHER)
    settings = f"settings:\n  lock: {{kv_mount: secret, key: {key}, ttl: 1ms}}\n"
    r = reconcile("apply", "-m", manifest(tmp_path, key, lock=settings), "--auto-approve", env=env)
    assert r.exit_code == 0, r.output
    assert (
        f"Warning: took over the lock secret/{key} from ID 0123abcd (host ci-runner-7, pid 4242, "
        "since 2026-01-02T03:04:05+00:00): it is older than the ttl of 1ms"
    ) in r.stderr
    assert lock_data(bao, key) is None
    assert len(catalog(bao)) == 2


def test_deleted_lock_version_is_free(bao: BaoServer, env, key, tmp_path: Path) -> None:
    """`bao kv delete` soft-deletes the latest version: no lock, though create-only writes fail."""
    hold(bao, key, OTHER)
    with bao.client() as c:
        c.delete(f"/v1/secret/data/{key}").raise_for_status()
    r = reconcile("apply", "-m", manifest(tmp_path, key), "--auto-approve", env=env)
    assert r.exit_code == 0, r.output
    assert "Warning" not in r.stderr


def test_force_unlock_refuses_a_wrong_id_and_removes_the_right_one(bao: BaoServer, env, key, tmp_path: Path) -> None:
    hold(bao, key, OTHER)
    m = manifest(tmp_path, key)
    r = reconcile("force-unlock", "ffff", "-m", m, env=env)
    assert r.exit_code == 1
    assert f"Error: refusing to unlock: the lock secret/{key} is held by ID 0123abcd (host ci-runner-7" in r.stderr
    assert "not by 'ffff'" in r.stderr
    assert lock_data(bao, key) == OTHER
    r = reconcile("force-unlock", "0123abcd", "-m", m, env=env)
    assert r.exit_code == 0, r.output
    assert (
        r.stdout
        == f"Removed the lock secret/{key} held by ID 0123abcd (host ci-runner-7, pid 4242, since 2026-01-02T03:04:05+00:00)\n"
    )
    assert lock_data(bao, key) is None
    r = reconcile("force-unlock", "0123abcd", "-m", m, env=env)
    assert r.exit_code == 1
    assert f"Error: no lock is held at secret/{key}" in r.stderr
    assert reconcile("apply", "-m", m, "--auto-approve", env=env).exit_code == 0


def test_lock_is_released_when_a_phase_fails(bao: BaoServer, env, key, tmp_path: Path) -> None:
    m = manifest(tmp_path, key, names=range(3, 6))  # p4 and p5 have no plugin file: registering fails
    r = reconcile("apply", "-m", m, "--auto-approve", "--parallelism", "1", env=env)
    assert r.exit_code == 1
    assert "FAILED register secret/p4 v1.0.0" in r.stdout
    assert lock_data(bao, key) is None


def test_lock_is_released_on_ctrl_c_and_names_the_ci_run(bao: BaoServer, key, tmp_path: Path) -> None:
    names = [f"q{i:02d}" for i in range(40)]
    for name in names:
        bao.add_plugin_file(name)
    text = "plugins:\n" + "".join(
        f"  - {{name: {n}, type: secret, versions: [{{version: 1.0.0, sha256: {SHA_A}}}]}}\n" for n in names
    )
    m = write(tmp_path / "m.yaml", text + f"settings:\n  lock: {{kv_mount: secret, key: {key}}}\n")
    github = {"GITHUB_SERVER_URL": "https://github.com", "GITHUB_REPOSITORY": "acme/catalog", "GITHUB_RUN_ID": "99"}
    env = {"VAULT_ADDR": bao.address, "VAULT_TOKEN": bao.token, "PATH": "/usr/bin:/bin", "NO_COLOR": "1", **github}
    proc = subprocess.Popen(
        [reconcile_bin(), "apply", "-m", str(m), "--parallelism", "1", "--auto-approve"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    assert proc.stdout is not None
    for line in proc.stdout:
        if line.startswith("  ok "):
            held = lock_data(bao, key)
            proc.send_signal(signal.SIGINT)
            break
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, out + err
    assert held is not None
    assert (held["pid"], held["run_url"]) == (proc.pid, RUN)
    assert "Interrupted." in err
    assert "Traceback" not in out + err
    assert lock_data(bao, key) is None


def test_missing_and_kv_v1_mounts_are_clear_errors(bao: BaoServer, env, key, tmp_path: Path) -> None:
    lock = "settings:\n  lock: {{kv_mount: {mount}, key: {key}}}\n"
    r = reconcile("apply", "-m", manifest(tmp_path, key, lock=lock.format(mount="nope", key=key)), env=env)
    assert r.exit_code == 1
    assert "Error: lock: cannot use the KV mount 'nope': it does not exist or the token has no access to it" in r.stderr
    assert f'path "nope/data/{key}" {{ capabilities = ["create", "read", "update"] }}' in r.stderr
    mount = f"kv1-{uuid.uuid4().hex[:6]}"
    with bao.client() as c:
        c.post(f"/v1/sys/mounts/{mount}", json={"type": "kv", "options": {"version": "1"}}).raise_for_status()
    try:
        r = reconcile("apply", "-m", manifest(tmp_path, key, lock=lock.format(mount=mount, key=key)), env=env)
    finally:
        with bao.client() as c:
            c.delete(f"/v1/sys/mounts/{mount}").raise_for_status()
    assert r.exit_code == 1
    assert f"Error: lock: '{mount}' is a kv version 1 mount; the lock needs a KV version 2 mount" in r.stderr
    assert "Hint: point settings.lock.kv_mount at a KV version 2 mount, or upgrade this one" in r.stderr
    assert catalog(bao) == set()


def test_token_without_the_lock_policy_gets_the_policy_in_the_hint(bao: BaoServer, env, key, tmp_path: Path) -> None:
    policy = 'path "secret/metadata/*" { capabilities = ["list"] }'
    with bao.client() as c:
        c.post("/v1/sys/policy/lock-list-only", json={"policy": policy}).raise_for_status()
        token = c.post("/v1/auth/token/create", json={"policies": ["lock-list-only"]}).json()["auth"]["client_token"]
    r = reconcile("apply", "-m", manifest(tmp_path, key), env={**env, "VAULT_TOKEN": token})
    assert r.exit_code == 1
    assert f"Error: lock: POST /v1/secret/data/{key}: 403 permission denied" in r.stderr
    assert f'Hint: a policy with path "secret/data/{key}" {{ capabilities = ["create", "read", "update"] }}' in r.stderr
    assert token not in r.output


def test_two_applies_at_once_end_as_exactly_one_manifest_set(bao: BaoServer, env, key, tmp_path: Path) -> None:
    """Real concurrency: two processes, different manifest sets, the same lock."""
    a = manifest(tmp_path, key, sha=SHA_A, names=range(4))
    b = manifest(tmp_path, key, sha=SHA_B, names=range(1, 3))
    procs = [
        subprocess.Popen(
            [reconcile_bin(), "apply", "-m", str(m), "--auto-approve", "--lock-timeout", "2m", "--parallelism", "1"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env={**env, "PATH": "/usr/bin:/bin", "NO_COLOR": "1"},
        )
        for m in (a, b)
    ]
    outputs = [p.communicate(timeout=120) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outputs
    sets = {"a": {(f"p{n}", SHA_A) for n in range(4)}, "b": {(f"p{n}", SHA_B) for n in range(1, 3)}}
    assert catalog(bao) in sets.values()
    assert lock_data(bao, key) is None
    waited = [err for _, err in outputs if "Waiting up to 120s for the lock" in err]
    assert len(waited) <= 1


def test_lock_settings_are_validated_offline(tmp_path: Path) -> None:
    m = write(tmp_path / "m.yaml", "settings:\n  lock:\n    kv_mount: ''\n    key: \"a\\tb\"\n    ttl: -5m\n")
    r = reconcile("validate", "-m", m)
    assert r.exit_code == 1
    assert f"{m}:3: settings.lock.kv_mount: '' must be a non-empty path without control characters" in r.stderr
    assert f"{m}:4: settings.lock.key: 'a\\tb' must be a non-empty path without control characters" in r.stderr
    assert f"{m}:5: settings.lock.ttl: invalid duration '-5m'" in r.stderr
    m2 = write(tmp_path / "n.yaml", "settings:\n  lock:\n    ttl: 0s\n")
    r = reconcile("validate", "-m", m2)
    assert f"{m2}:2: settings.lock.kv_mount: missing required key" in r.stderr
    assert f"{m2}:3: settings.lock.ttl: ttl '0s' must be a positive duration" in r.stderr


def test_lock_timeout_needs_a_lock_and_a_duration(bao: BaoServer, env, tmp_path: Path) -> None:
    m = write(tmp_path / "m.yaml", "plugins: []\n")
    r = reconcile("apply", "-m", m, "--lock-timeout", "5m", "--auto-approve", env=env)
    assert r.exit_code == 1
    assert "Error: --lock-timeout needs a lock: set settings.lock in the manifests" in r.stderr
    r = reconcile("apply", "-m", m, "--lock-timeout", "soon", "--auto-approve", env=env)
    assert r.exit_code == 1
    assert "Error: invalid duration 'soon'" in r.stderr


@pytest.mark.parametrize(
    ("environ", "expected"),
    [
        ({"GITHUB_SERVER_URL": "https://github.com", "GITHUB_REPOSITORY": "acme/catalog", "GITHUB_RUN_ID": "99"}, RUN),
        (
            {"CI_JOB_URL": "https://ci-user:s3cret@gitlab.example.com/acme/catalog/-/jobs/7"},
            "https://gitlab.example.com/acme/catalog/-/jobs/7",
        ),
        ({"GITHUB_RUN_ID": "99"}, ""),
        ({}, ""),
    ],
)
def test_run_url_comes_from_the_ci_environment_without_credentials(environ: dict[str, str], expected: str) -> None:
    assert run_url(environ) == expected


def reconcile_bin() -> str:
    return str(Path(sys.executable).parent / "reconcile")
