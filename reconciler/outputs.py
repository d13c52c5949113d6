"""Files the CLI writes (`plan --out FILE`, the GitHub job summary), and the last line of defence
that keeps address credentials out of messages.

Every problem with a file is a `UsageError` naming the option or variable and the file, found
before the server is contacted where possible, so a bad path never half-runs a command.
"""

from __future__ import annotations

import contextlib
import os
import re
from collections.abc import Mapping
from pathlib import Path

from reconciler.errors import UsageError

SUMMARY_VARIABLE = "GITHUB_STEP_SUMMARY"

_USERINFO_ANYWHERE = re.compile(r"(?P<scheme>\b[A-Za-z][A-Za-z0-9+.-]*://)[^/?#\s@]*@")


def scrub(text: str) -> str:
    """`text` with the `user:password@` part of every URL in it removed.

    Messages are built from addresses in many places (the client, staleness checks, hints); this
    makes sure none of them can print credentials, whatever code produced the message.
    """
    return _USERINFO_ANYWHERE.sub(r"\g<scheme>", text)


def check_out(path: Path) -> None:
    """Refuse an `--out` path that cannot be written, before any work is done.

    Like Terraform's `-out`, the folder is not created: a missing folder is usually a typo.
    """
    folder = path.parent
    if path.is_dir():
        raise UsageError(f"--out {path}: is a directory", hint="give a file name, e.g. --out plan.json")
    if not folder.is_dir():
        raise UsageError(
            f"--out {path}: the folder {folder} does not exist", hint="create it first (reconcile does not)"
        )
    if not os.access(folder, os.W_OK | os.X_OK):
        raise UsageError(f"--out {path}: the folder {folder} is not writable")


def write_atomic(path: Path, text: str, option: str = "--out") -> None:
    """Write `text` to `path` through a temporary file in the same folder and a rename.

    A reader (or an interrupted run) sees the old file or the whole new one, never half a plan.
    """
    import tempfile  # only when writing: every command imports this module, few write files

    fd = -1
    tmp = ""
    try:
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            fd = -1  # owned by the file object now
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o644)  # mkstemp creates 0600; a plan has no secrets, share it like any output
        os.replace(tmp, path)
        tmp = ""
    except OSError as exc:
        raise UsageError(f"{option} {path}: cannot write: {exc.strerror or exc}") from None
    finally:
        if fd >= 0:
            os.close(fd)
        if tmp:
            with contextlib.suppress(OSError):
                os.unlink(tmp)


def summary_path(environ: Mapping[str, str]) -> Path | None:
    """The job summary file from GITHUB_STEP_SUMMARY, checked by opening it (None: not set).

    Checked before any work, so a bad summary path fails a run before it writes anything.
    """
    raw = environ.get(SUMMARY_VARIABLE, "")
    if not raw:
        return None
    path = Path(raw)
    os.close(_open_append(path))
    return path


def append_summary(path: Path | None, markdown: str) -> None:
    """Append to the GitHub Actions job summary; a failure names the variable and the file."""
    if path is None:
        return
    data = (markdown + "\n").encode("utf-8")
    fd = _open_append(path)
    try:
        while data:
            data = data[os.write(fd, data) :]
    except OSError as exc:
        raise _summary_error(path, exc.strerror or str(exc)) from None
    finally:
        os.close(fd)


def _open_append(path: Path) -> int:
    # O_NONBLOCK: a FIFO without a reader is an error (ENXIO) instead of a hang; no effect on files.
    try:
        if path.is_dir():
            raise _summary_error(path, "is a directory")
        return os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_NONBLOCK, 0o644)
    except OSError as exc:
        raise _summary_error(path, exc.strerror or str(exc)) from None


def _summary_error(path: Path, why: str) -> UsageError:
    return UsageError(
        f"{SUMMARY_VARIABLE}={path}: cannot write the job summary: {why}",
        hint=f"point {SUMMARY_VARIABLE} at a writable file, or unset it outside GitHub Actions",
    )
