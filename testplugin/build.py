"""Build the real test plugin (testplugin/main.go) into a directory, one file per version.

    python3 testplugin/build.py DIR [VERSION...] [--broken VERSION]...   (or: bash run plugin ...)
    python3 testplugin/build.py --cache-only [VERSION...] [--broken VERSION]...

Writes `reconcile-test-plugin-<version>` into DIR for each version (default v1.0.0 v1.1.0) and prints
`<file name> <version> <sha256>` per line: the catalog `command` is the file name. A `--broken`
version is built to exit at once, so mounting or reloading it fails. Builds are offline (Go 1.19 and
go-plugin from Debian's packages, GOPATH mode) and cached under build/testplugin/ by source hash, with a
file lock so parallel test workers build once. Standard library only: runs without the virtualenv.
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import hashlib
import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
CACHE = HERE.parent / "build" / "testplugin"
PREFIX = "reconcile-test-plugin-"
DEFAULT_VERSIONS = ("v1.0.0", "v1.1.0")
# Debian's Go sources (golang-github-hashicorp-go-plugin-dev, golang-google-grpc-dev, ...).
DEBIAN_GOPATH = "/usr/share/gocode"
GO_PACKAGE = "reconcile-test-plugin"
SOURCES = ("main.go", "proto/pb/backend.proto", "proto/logical/version.proto", "build.py")
# OpenBao stores and compares plugin versions as semantic versions with a leading "v".
_VERSION = re.compile(r"v\d+\.\d+\.\d+(-[0-9A-Za-z.-]+)?")


class BuildError(Exception):
    """The plugin could not be built; the message says why and what to do."""


@dataclass(frozen=True)
class Plugin:
    """One built plugin file: its catalog command (file name), version, sha256 and full path."""

    name: str
    version: str
    sha256: str
    path: Path
    broken: bool = False


def file_name(version: str) -> str:
    """The file (and catalog `command`) name of a version."""
    return PREFIX + version


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _source_hash() -> str:
    digest = hashlib.sha256()
    for rel in SOURCES:
        digest.update(rel.encode() + b"\0" + (HERE / rel).read_bytes() + b"\0")
    # A different toolchain is a different build.
    digest.update(_run(["go", "version"], os.environ.copy()).encode())
    return digest.hexdigest()[:16]


def _run(argv: list[str], env: dict[str, str], cwd: Path | None = None) -> str:
    try:
        done = subprocess.run(argv, env=env, cwd=cwd, capture_output=True, text=True, check=False)
    except FileNotFoundError:
        raise BuildError(
            f"`{argv[0]}` is not installed: `bash run plugin` installs the Go toolchain from Debian's packages"
        ) from None
    if done.returncode != 0:
        raise BuildError(f"`{' '.join(argv[:2])}` failed:\n{done.stderr.strip() or done.stdout.strip()}")
    return done.stdout


@contextlib.contextmanager
def _locked() -> Iterator[None]:
    CACHE.mkdir(parents=True, exist_ok=True)
    with (CACHE / ".lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def _go_env(gopath: Path) -> dict[str, str]:
    env = os.environ.copy()
    env.update(
        GO111MODULE="off",
        GOPROXY="off",
        GOFLAGS="",
        CGO_ENABLED="0",
        GOPATH=f"{gopath}{os.pathsep}{DEBIAN_GOPATH}",
        GOCACHE=str(CACHE / "gocache"),
    )
    env.setdefault("HOME", str(CACHE))
    return env


def _prepare(work: Path) -> Path:
    """Lay out the GOPATH workspace and generate the Go code, one protoc run per Go package."""
    src = work / "gopath" / "src" / GO_PACKAGE
    if (src / "main.go").exists():
        return work / "gopath"
    tmp = Path(tempfile.mkdtemp(dir=work))
    pkg = tmp / "src" / GO_PACKAGE
    pkg.mkdir(parents=True)
    shutil.copy(HERE / "main.go", pkg / "main.go")
    for sub, proto in (("pb", "backend.proto"), ("logical", "version.proto")):
        (pkg / sub).mkdir()
        shutil.copy(HERE / "proto" / sub / proto, pkg / sub / proto)
        # The APIv1 generator refuses two Go packages in one run ("inconsistent package import paths").
        protoc = ["protoc", f"-I{pkg / sub}", "--go_out=plugins=grpc,paths=source_relative:.", proto]
        _run(protoc, os.environ.copy(), pkg / sub)
    os.replace(tmp, work / "gopath")
    return work / "gopath"


def _build_one(work: Path, version: str, broken: bool) -> Path:
    out = work / (file_name(version) + (".broken" if broken else ""))
    if out.exists():
        return out
    gopath = _prepare(work)
    flags = f"-s -w -X main.version={version} -X main.broken={'true' if broken else 'false'}"
    tmp = out.with_name(out.name + ".tmp")
    _run(["go", "build", "-trimpath", "-ldflags", flags, "-o", str(tmp), GO_PACKAGE], _go_env(gopath))
    os.replace(tmp, out)
    return out


def build(
    directory: Path | None, versions: Sequence[str] = DEFAULT_VERSIONS, broken: Sequence[str] = ()
) -> list[Plugin]:
    """Build (or take from the cache) each version and write it into `directory`; return what was written.

    With `directory` None only the cache is filled (and the cached files are returned).
    """
    wanted = list(dict.fromkeys([*versions, *broken]))
    for version in wanted:
        if not _VERSION.fullmatch(version):
            raise BuildError(f"{version!r} is not a plugin version like v1.0.0")
    with _locked():
        key = _source_hash()
        work = CACHE / key
        work.mkdir(exist_ok=True)
        for old in CACHE.iterdir():  # builds of older sources are never used again
            if old.is_dir() and old.name not in (key, "gocache"):
                shutil.rmtree(old, ignore_errors=True)
        built = [(v, v in broken, _build_one(work, v, v in broken)) for v in wanted]
    if directory is None:
        return [Plugin(c.name, v, _sha256(c), c, b) for v, b, c in built]
    directory.mkdir(parents=True, exist_ok=True)
    result = []
    for version, is_broken, cached in built:
        target = directory / file_name(version)
        # Copy, not link: OpenBao rejects a command that resolves outside its plugin directory.
        # Replace, never edit in place: a running plugin keeps its file, and the next spawn re-hashes.
        tmp = directory / f".{target.name}.{os.getpid()}.tmp"
        shutil.copyfile(cached, tmp)
        tmp.chmod(0o755)
        os.replace(tmp, target)
        result.append(Plugin(target.name, version, _sha256(target), target, is_broken))
    return result


def main(argv: Sequence[str] | None = None) -> int:
    """Command line: build into DIR and print `name version sha256` per file."""
    parser = argparse.ArgumentParser(prog="bash run plugin", description=__doc__.split("\n\n")[0])
    parser.add_argument("dir", type=Path, nargs="?", help="directory to write the plugin files into")
    parser.add_argument("versions", nargs="*", help=f"versions to build (default: {' '.join(DEFAULT_VERSIONS)})")
    parser.add_argument("--broken", action="append", default=[], metavar="VERSION", help="a version that cannot start")
    parser.add_argument("--cache-only", action="store_true", help="only fill the build cache (no DIR)")
    args = parser.parse_args(argv)
    if args.cache_only and args.dir is not None:  # no DIR: the first positional is a version
        args.versions.insert(0, str(args.dir))
    elif args.dir is None and not args.cache_only:
        parser.error("DIR is required (or --cache-only)")
    versions = args.versions or ([] if args.broken else list(DEFAULT_VERSIONS))
    try:
        plugins = build(None if args.cache_only else args.dir, versions, args.broken)
    except BuildError as exc:
        print(f"Error: {exc}", file=sys.stderr)
        return 1
    for p in plugins:
        print(f"{p.name} {p.version} {p.sha256}")
        if p.broken and not args.cache_only:
            print(f"{p.name} is built broken: it exits at once, so mounting or reloading it fails", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
