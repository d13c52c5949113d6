"""Which files under the manifests path are manifests: every one is read, or is an error.

The manifests are the whole desired catalog, so a file or folder skipped without a word would
have its entries pruned. Hence the rule: under a folder, every entry whose name does not start
with '.' is either read (a `*.yaml`/`*.yml` file, in any letter case, or a folder, searched in
turn) or reported as a problem (anything else, and anything that cannot be read). Symbolic links
are followed, to files and to folders alike; a link that leads back into a folder being searched
is an error that names the link.
"""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path

from reconciler.errors import Diagnostic

SUFFIXES = (".yaml", ".yml")
"""Manifest file suffixes, compared case-insensitively (`Catalog.YAML` is read too)."""

NOT_A_MANIFEST = (
    "not a manifest (only *.yaml and *.yml files are read): remove it, or hide it with a leading '.' to keep it here"
)


def discover(path: Path) -> tuple[list[Path], list[Diagnostic]]:
    """The manifest files under `path` in sorted order, and every problem found on the way.

    A `path` that is not a folder is the one manifest file, whatever its name (it was asked for).
    """
    try:
        info = path.stat()
    except OSError as exc:
        if exc.errno == errno.ENOENT and not path.is_symlink():
            return [], [Diagnostic(str(path), 0, "no such file or directory")]
        # Not readable as a folder: reading it as a file reports why (broken link, loop, ...).
        return [path], []
    if not stat.S_ISDIR(info.st_mode):
        return [path], []
    walk = _Walk()
    walk.search(path, info)
    if not walk.files and not walk.problems:
        return [], [Diagnostic(str(path), 0, "no *.yaml or *.yml manifest files found here")]
    return sorted(walk.files), walk.problems


def is_manifest_name(name: str) -> bool:
    """Does a file of this name hold manifests (when found in a folder)?"""
    return name.lower().endswith(SUFFIXES)


def cannot_read(path: Path, exc: OSError) -> Diagnostic:
    """`path: cannot read: <reason>`, saying when a symbolic link is broken."""
    reason = exc.strerror or str(exc)
    if exc.errno == errno.ENOENT and path.is_symlink():
        reason += " (a broken symbolic link)"
    return Diagnostic(str(path), 0, f"cannot read: {reason}")


class _Walk:
    """A depth-first search with an explicit stack (no recursion limit on deep trees)."""

    def __init__(self) -> None:
        self.files: list[Path] = []
        self.problems: list[Diagnostic] = []

    def search(self, root: Path, info: os.stat_result) -> None:
        # Each folder carries the identities of the folders above it: meeting one again is a loop.
        stack: list[tuple[Path, dict[tuple[int, int], Path]]] = [(root, {_identity(info): root})]
        while stack:
            folder, above = stack.pop()
            try:
                with os.scandir(folder) as entries:
                    names = sorted(e.name for e in entries)
            except OSError as exc:
                self.problems.append(cannot_read(folder, exc))
                continue
            for name in names:
                if name.startswith("."):
                    continue  # hidden: .git, editor swap files, notes kept on purpose
                entry = folder / name
                found = self._entry(entry, above)
                if found is not None:
                    stack.append((entry, {**above, found: entry}))

    def _entry(self, entry: Path, above: dict[tuple[int, int], Path]) -> tuple[int, int] | None:
        """Sort one entry into files or problems; a folder to search returns its identity."""
        try:
            info = entry.stat()  # follows symbolic links
        except OSError as exc:
            self.problems.append(cannot_read(entry, exc))
            return None
        if stat.S_ISDIR(info.st_mode):
            identity = _identity(info)
            if identity in above:
                what = "symbolic link loop" if entry.is_symlink() else "folder loop"
                self.problems.append(Diagnostic(str(entry), 0, f"{what}: it leads back to {above[identity]}"))
                return None
            return identity
        if not stat.S_ISREG(info.st_mode):
            self.problems.append(Diagnostic(str(entry), 0, "cannot read: not a regular file"))
        elif is_manifest_name(entry.name):
            self.files.append(entry)
        else:
            self.problems.append(Diagnostic(str(entry), 0, NOT_A_MANIFEST))
        return None


def _identity(info: os.stat_result) -> tuple[int, int]:
    return (info.st_dev, info.st_ino)
