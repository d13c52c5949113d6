"""The leak guard: every CLI run in the tests is checked for secrets in everything it produced.

`tests.cli.reconcile()` runs inside `Guard.watch()`: before the run it snapshots the files under
the test's temporary folders (and the GITHUB_STEP_SUMMARY and `--out` files), after it greps
stdout, stderr and every file created or changed during the run for every known secret:

- the values of VAULT_TOKEN, BAO_TOKEN, NOMAD_TOKEN and of any variable whose name contains
  TOKEN, SECRET or JWT, in the run's environment (except `*_AUDIENCE`); for such a variable whose
  name ends in `_FILE` or `_PATH` (VAULT_SECRET_ID_FILE, BAO_TOKEN_PATH), the content of its file;
- the token in $HOME/.vault-token;
- the userinfo (`user:password`, and the password alone) of every address in VAULT_ADDR,
  BAO_ADDR, NOMAD_ADDR (also per target: RECONCILE_<TARGET>_VAULT_ADDR, ...), `--address` and
  `--nomad-address`;
- the env values of the plugins in the manifests given with `-m` (when they load), and in every
  target's manifests of the targets file (`--config`, or reconcile.yaml in the working directory);
- whatever the test registered with `leaks.secret("...")`.

The fixture `leaks` (autouse, tests/conftest.py) installs one guard per test. Subprocess tests
pass their output through `guard.check_streams()`.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import unquote, urlsplit

MIN_IMPLICIT = 4
"""Secrets found implicitly shorter than this are not searched for: `1` or `on` would match anywhere."""

_TOKEN_VARIABLES = ("VAULT_TOKEN", "BAO_TOKEN", "NOMAD_TOKEN")
_SECRET_WORDS = ("TOKEN", "SECRET", "JWT")
_FILE_SUFFIXES = ("_FILE", "_PATH")
"""VAULT_SECRET_ID_FILE, BAO_TOKEN_PATH, ...: the file's content is searched for, not its name."""
_NOT_SECRET = ("_AUDIENCE",)
"""VAULT_AUTH_JWT_AUDIENCE names who a JWT is for: not a secret."""
_ADDRESS_VARIABLES = ("VAULT_ADDR", "BAO_ADDR", "NOMAD_ADDR")
_ADDRESS_OPTIONS = ("--address", "--nomad-address")
_MANIFEST_OPTIONS = ("-m", "--manifests")


class Leak(AssertionError):
    """A secret was found in the output of a run."""


Stamp = tuple[int, int, int]


@dataclass
class Guard:
    """Known secrets of one test, and the folders whose files its CLI runs may write."""

    roots: list[Path]
    explicit: dict[str, str] = field(default_factory=dict)
    runs: int = 0
    """CLI runs checked (lets a test prove the guard really looked)."""

    def secret(self, value: str, what: str = "a registered secret") -> None:
        """Register a secret that must never appear in any output or file."""
        if not value or any(value in str(p) for p in [*self.roots, os.getcwd()]):
            raise ValueError("a secret must be distinctive: not empty, not part of the test's paths")
        self.explicit[value] = what

    def secrets_for(self, args: Sequence[str], env: Mapping[str, str]) -> dict[str, str]:
        """Every secret of one run: value -> what it is (for the failure message)."""
        found: dict[str, str] = {}
        for name, value in env.items():
            upper = name.upper()
            if upper.endswith(_NOT_SECRET) or not (
                upper in _TOKEN_VARIABLES or any(word in upper for word in _SECRET_WORDS)
            ):
                continue
            if upper.endswith(_FILE_SUFFIXES):  # names a file: its content is the secret, not its path
                with contextlib.suppress(OSError, UnicodeDecodeError, ValueError):
                    _add(found, Path(value.strip()).read_text(), f"the content of the file in {name}")
            else:
                _add(found, value, f"the value of {name}")
        per_target = tuple("_" + name for name in _ADDRESS_VARIABLES)
        addresses = [(n, v) for n, v in env.items() if v and (n in _ADDRESS_VARIABLES or n.endswith(per_target))]
        addresses += [(option, value) for option, value in _option_values(args, _ADDRESS_OPTIONS)]
        for where, address in addresses:
            for value, what in _userinfo(address):
                _add(found, value, f"{what} of {where}")
        home = env.get("HOME")
        if home:  # the token the client falls back to
            with contextlib.suppress(OSError, UnicodeDecodeError):
                _add(found, (Path(home) / ".vault-token").read_text(), "the token in ~/.vault-token")
        for _, manifests in _option_values(args, _MANIFEST_OPTIONS):
            for name, value in _manifest_env(Path(manifests)):
                _add(found, value, f"the env value {name} in {manifests}")
        for where, folders in _targets_manifests(args):
            for name, value in _manifest_env(folders):
                _add(found, value, f"the env value {name} in the manifests of {where}")
        # A value that is part of the test's own paths (`root` in /tmp/pytest-of-root/...) would match
        # every path the CLI prints: it cannot be told apart, so only distinctive values are searched.
        paths = [str(p) for p in self.roots] + [os.getcwd()]
        found = {v: w for v, w in found.items() if not any(v in p for p in paths)}
        found.update(self.explicit)
        return found

    def watched(self, args: Sequence[str], env: Mapping[str, str]) -> list[Path]:
        """Where a run may write: the roots, the job summary, `--out` and the plan file arguments."""
        paths = list(self.roots)
        if env.get("GITHUB_STEP_SUMMARY"):
            paths.append(Path(env["GITHUB_STEP_SUMMARY"]))
        paths += [Path(value) for _, value in _option_values(args, ("--out",))]
        return paths

    @contextlib.contextmanager
    def watch(self, args: Sequence[str], env: Mapping[str, str]) -> Iterator[Streams]:
        """Around one run: yields a `Streams` to fill with the run's output, checks everything after."""
        secrets = self.secrets_for(args, env)
        paths = self.watched(args, env)
        before = snapshot(paths)
        streams = Streams()
        yield streams
        self.runs += 1
        check(secrets, streams.items.items())
        check(secrets, ((str(p), _read(p)) for p in changed(before, snapshot(paths))))

    def check_streams(self, args: Sequence[str], env: Mapping[str, str], **streams: str) -> None:
        """Check output captured elsewhere (a subprocess) for the secrets of `args` and `env`."""
        self.runs += 1
        check(self.secrets_for(args, env), streams.items())


@dataclass
class Streams:
    """Named texts a run produced (stdout, stderr, ...)."""

    items: dict[str, str] = field(default_factory=dict)

    def add(self, name: str, text: str) -> None:
        self.items[name] = self.items.get(name, "") + text


def check(secrets: Mapping[str, str], texts: Iterable[tuple[str, str]]) -> None:
    """Raise `Leak` naming the first secret found, and where (never the secret itself)."""
    for where, text in texts:
        for value, what in secrets.items():
            if value in text:
                line = text[: text.index(value)].count("\n") + 1
                raise Leak(f"{what} leaked into {where} (line {line})")


def snapshot(paths: Iterable[Path]) -> dict[Path, Stamp]:
    """(mtime, size, inode) of every file at or under `paths`."""
    stamps: dict[Path, Stamp] = {}
    for path in paths:
        if path.is_file():
            stamps[path] = _stamp(path)
            continue
        for folder, _, files in os.walk(path):
            for name in files:
                file = Path(folder) / name
                with contextlib.suppress(OSError):
                    stamps[file] = _stamp(file)
    return stamps


def changed(before: Mapping[Path, Stamp], after: Mapping[Path, Stamp]) -> list[Path]:
    """Files created or modified between two snapshots."""
    return sorted(p for p, stamp in after.items() if before.get(p) != stamp)


def _stamp(path: Path) -> Stamp:
    st = path.stat()
    return (st.st_mtime_ns, st.st_size, st.st_ino)


def _read(path: Path) -> str:
    try:
        return path.read_bytes().decode("utf-8", errors="replace")
    except OSError:
        return ""


def _add(found: dict[str, str], value: str, what: str) -> None:
    value = value.strip()
    if len(value) >= MIN_IMPLICIT:
        found.setdefault(value, what)


def _option_values(args: Sequence[str], options: Sequence[str]) -> list[tuple[str, str]]:
    """(option, value) for `--opt value` and `--opt=value` forms."""
    values = []
    for i, arg in enumerate(args):
        for option in options:
            if arg == option and i + 1 < len(args):
                values.append((option, args[i + 1]))
            elif arg.startswith(option + "="):
                values.append((option, arg[len(option) + 1 :]))
    return values


def _userinfo(address: str) -> list[tuple[str, str]]:
    """The credentials in an address: the whole userinfo and the password, raw and decoded."""
    try:
        netloc = urlsplit(address.strip()).netloc
    except ValueError:
        netloc = address.partition("://")[2].partition("/")[0]
    if "@" not in netloc:
        return []
    userinfo = netloc.rpartition("@")[0]
    password = userinfo.partition(":")[2]
    found = [(userinfo, "the userinfo"), (unquote(userinfo), "the userinfo")]
    if password:
        found += [(password, "the password"), (unquote(password), "the password")]
    return found


def _targets_manifests(args: Sequence[str]) -> list[tuple[str, tuple[Path, ...]]]:
    """Each target's manifests in the targets file of a run (those that can be read)."""
    from reconciler.fleet import config

    given = _option_values(args, ("--config",))
    path = Path(given[-1][1]) if given else config.DEFAULT_FILE
    if not path.is_file():
        return []
    return [(str(path), paths) for paths in config.read(path)[0].readable]


def _manifest_env(path: Path | tuple[Path, ...]) -> list[tuple[str, str]]:
    """(name, value) of every plugin env value in the manifests, when they load."""
    from reconciler import loader
    from reconciler.errors import ReconcileError

    try:
        state = loader.load(path).state
    except (ReconcileError, OSError, ValueError):
        return []
    return [(name, value.get_secret_value()) for plugin in state.plugins for name, value in (plugin.env or {}).items()]


_current: list[Guard] = []


def current() -> Guard | None:
    """The guard of the running test (None outside the test fixture)."""
    return _current[-1] if _current else None


@contextlib.contextmanager
def installed(guard: Guard) -> Iterator[Guard]:
    """Make `guard` the one `tests.cli.reconcile()` uses."""
    _current.append(guard)
    try:
        yield guard
    finally:
        _current.remove(guard)
