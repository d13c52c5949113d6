"""The exceptions of `reconcile`. A leaf module: it imports nothing from the package.

ReconcileError                   anything reconcile reports without a traceback (exit 1)
├── ManifestError                bad manifests: every problem at once, as `path:line: message`
├── UsageError                   bad options or environment (no address, bad --replace, ...)
├── LoginFailed                  a login (approle, jwt, kubernetes) was refused: method, mount, role, why
├── ApiError                     the server answered with an error status
│   └── PermissionDenied         403, with the capability the token lacks
├── ConnectionFailed             the server could not be reached (after retries)
│   └── NoAnswer                 it accepted the request but sent no answer within the timeout
├── UnexpectedResponse           a success status whose body is not what the API documents
├── RedirectRefused              a redirect to another origin (or of a kind) reconcile does not follow
├── PlanError                    a plan that must not be applied (declarative entries, ...)
└── LockError                    the apply lock is held by another run, or its KV mount is unusable
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass


class ReconcileError(Exception):
    """Base class: an expected failure, shown to the user as its message, exit code 1."""

    hint: str = ""

    def __init__(self, message: str, *, hint: str = "") -> None:
        super().__init__(message)
        self.hint = hint


@dataclass(frozen=True)
class Diagnostic:
    """One problem in a manifest file. `line` is 0 when the problem concerns the whole file."""

    path: str
    line: int
    message: str

    def __str__(self) -> str:
        if self.line:
            return f"{self.path}:{self.line}: {self.message}"
        return f"{self.path}: {self.message}"


class ManifestError(ReconcileError):
    """The manifests are invalid; `diagnostics` holds every problem found, in file and line order."""

    SHOWN = 200
    """At most this many diagnostics are printed; the count line still gives the total."""

    def __init__(self, diagnostics: Sequence[Diagnostic], *, what: str = "the manifests") -> None:
        self.diagnostics = sorted(set(diagnostics), key=lambda d: (d.path, d.line, d.message))
        count = len(self.diagnostics)
        noun = "problem" if count == 1 else "problems"
        lines = [str(d) for d in self.diagnostics[: self.SHOWN]]
        if count > self.SHOWN:
            lines.append(f"... and {count - self.SHOWN} more")
        super().__init__("\n".join(lines) + f"\n{count} {noun} in {what}")


class UsageError(ReconcileError):
    """An option, argument or environment variable is wrong or missing."""


class LoginFailed(ReconcileError):
    """The server (or GitHub Actions, for the JWT) refused the login; the message never shows a credential."""


class ApiError(ReconcileError):
    """The server answered `status`; `messages` are its own error texts."""

    def __init__(self, method: str, path: str, status: int, messages: Sequence[str], *, hint: str = "") -> None:
        self.method = method
        self.path = path
        self.status = status
        self.messages = [m.strip() for m in messages if m.strip()]
        detail = "; ".join(_squash(m) for m in self.messages) or "(no message)"
        super().__init__(f"{method} {path}: {status} {detail}", hint=hint)


class PermissionDenied(ApiError):
    """The token is missing, unknown, or lacks a capability on the path."""


class ConnectionFailed(ReconcileError):
    """The server could not be reached, even after retrying."""


class NoAnswer(ConnectionFailed):
    """The server accepted the connection (or request) but did not answer within the timeout."""


class UnexpectedResponse(ReconcileError):
    """A 2xx answer that is not the documented shape: nothing is read into it, nothing is written."""

    def __init__(self, server: str, method: str, path: str, problem: str, *, hint: str = "") -> None:
        self.server = server
        self.method = method
        self.path = path
        self.problem = problem
        super().__init__(f"unexpected response from {server} to {method} {path}: {problem}", hint=hint)


class RedirectRefused(ReconcileError):
    """The server redirected elsewhere; the request (token, body) was not sent there."""


class PlanError(ReconcileError):
    """The plan cannot be applied as it stands; the message says why and what to change."""


class LockError(ReconcileError):
    """The apply lock (`settings.lock`) could not be taken, released or read; nothing was applied."""


_MULTIERROR_HEADER = re.compile(r"(?:^|\s)\d+ errors? occurred:$")


def _squash(message: str) -> str:
    """Vault wraps core errors as go-multierror text: keep only the messages, each once.

    Headers may be nested (`cannot reload plugin on "x/": invalid backend version: 2 errors
    occurred:`): only the header is dropped, never the text before it. go-plugin repeats its whole
    explanation for each protocol version it tried; repeated lines are shown once.
    """
    lines = [_MULTIERROR_HEADER.sub("", ln.strip().removeprefix("* ")).rstrip() for ln in message.splitlines()]
    kept = list(dict.fromkeys(ln for ln in lines if ln))
    return "; ".join(kept) if kept else message.strip()
