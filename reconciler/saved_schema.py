"""The schema of a saved plan file, and reading one safely.

A saved plan is untrusted input: it may be hand-edited, truncated, or not a plan at all. It is
validated as a whole, with strict types (no `"1"` for 1, no `1.0` or `true` for 1, no null where
a value is expected), before anything is sent to the server.

Extra keys: the sections apply reads (`target`, `saved`, `saved.options`, each change) forbid
unknown keys, since an unknown key there is a typo or a file from another tool. The top level
allows them: it also carries information for people (`summary`, `checks`, ...) that apply does not
read, and that later versions may extend without a new `format_version`.
"""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictInt, ValidationError, field_validator

from reconciler.errors import UsageError
from reconciler.plan import FORMAT_VERSION

MAX_BYTES = 64 * 1024 * 1024
"""A saved plan larger than this is refused unread (a plan of 100,000 changes is about 60 MiB)."""

_SHOWN = 5
"""At most this many schema problems are listed in the message."""


class _Strict(BaseModel):
    model_config = ConfigDict(strict=True, extra="forbid", frozen=True)


class SavedTarget(_Strict):
    """The server the plan was made against (address without credentials)."""

    address: str
    server: str
    version: str


class SavedChangeData(_Strict):
    """One change, as `plan_data.change_data` writes it; compared whole with the fresh plan."""

    kind: str
    action: str
    type: str
    name: str
    version: str
    fields: list[str]
    before: dict[str, Any] | None
    after: dict[str, Any] | None
    reason: str
    blocked: str | None
    skipped: str | None


class SavedOptionsData(_Strict):
    """The plan options apply must re-plan with."""

    prune: bool
    replace: list[str]


class SavedMeta(_Strict):
    """What the plan was computed from."""

    # pydantic's regex engine (Rust) reads `$` as the end of the text: no trailing newline slips through.
    manifests_digest: str = Field(pattern=r"^[0-9a-f]{64}$")
    live_fingerprint: str = Field(pattern=r"^[0-9a-f]{64}$")
    options: SavedOptionsData
    salt: str = Field(pattern=r"^[0-9a-f]{32}$")
    """The per-plan key of the env values' HMAC (`stale.desired_snapshot`)."""
    desired: dict[str, Any]
    """Snapshot of the parsed desired state, for explaining what changed (`stale.explain`)."""
    live: dict[str, Any]
    """Snapshot of the live state the plan was computed from."""


class SavedDocument(BaseModel):
    """A whole saved plan file (`reconcile plan --out FILE`)."""

    model_config = ConfigDict(strict=True, extra="allow", frozen=True)

    format_version: StrictInt
    target: SavedTarget
    changes: list[SavedChangeData]
    saved: SavedMeta

    @field_validator("format_version")
    @classmethod
    def _supported(cls, value: int) -> int:
        if value != FORMAT_VERSION:
            raise ValueError(f"unsupported format_version {value} (this reconcile reads {FORMAT_VERSION})")
        return value


def validate(text: str, source: str) -> tuple[SavedDocument, dict[str, Any]]:
    """Parse and validate a saved plan's text; every problem is a `UsageError` `source: message`.

    Returns the typed document and the raw JSON object (for comparisons with a fresh plan).
    """
    try:
        data = json.loads(text)
    except RecursionError:
        raise _bad(source, "invalid JSON: nested too deeply") from None
    except ValueError as exc:  # JSONDecodeError, and ints too long to convert
        raise _bad(source, f"invalid JSON: {exc}") from None
    if not isinstance(data, dict):
        raise _bad(source, f"expected a JSON object, got {_json_kind(data)}")
    if "saved" not in data and "targets" in data:
        raise UsageError(
            f"{source}: a saved plan of several targets (reconcile.yaml), not of one",
            hint="apply it where its targets file is (or pass --config FILE)",
        )
    if "saved" not in data:
        raise UsageError(f"{source}: not a saved plan (write one with `reconcile plan --out FILE`)")
    try:
        document = SavedDocument.model_validate(data)
    except ValidationError as exc:
        raise _bad(source, _describe(exc)) from None
    return document, data


def read_text(path: Path) -> str:
    """The text of a saved plan file: a regular file, at most MAX_BYTES, UTF-8; else a `UsageError`."""
    # Refuse anything but a regular file before opening it: opening a FIFO would block forever.
    try:
        info = os.stat(path)
    except OSError as exc:
        raise UsageError(f"{path}: cannot read the saved plan: {exc.strerror or exc}") from None
    if stat.S_ISDIR(info.st_mode):
        raise UsageError(f"{path}: is a directory, not a saved plan file")
    if not stat.S_ISREG(info.st_mode):
        raise UsageError(f"{path}: not a regular file, not a saved plan file")
    if info.st_size > MAX_BYTES:
        raise _bad(path, f"{info.st_size:,} bytes is more than the limit of {MAX_BYTES:,}")
    try:
        with open(path, "rb") as f:
            raw = f.read(MAX_BYTES + 1)  # the file may have grown since stat
    except OSError as exc:
        raise UsageError(f"{path}: cannot read the saved plan: {exc.strerror or exc}") from None
    if len(raw) > MAX_BYTES:
        raise _bad(path, f"more than the limit of {MAX_BYTES:,} bytes")
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise _bad(path, f"not UTF-8 text (invalid byte at offset {exc.start})") from None


def _bad(path: Path | str, why: str) -> UsageError:
    return UsageError(
        f"{path}: not a valid saved plan: {why}",
        hint="make a new one with `reconcile plan --out FILE`",
    )


def _describe(exc: ValidationError) -> str:
    """Where and what, never the offending values (a field could hold anything)."""
    problems = []
    for error in exc.errors(include_input=False, include_url=False):
        where = ".".join(str(p) for p in error["loc"]) or "(document)"
        problems.append(f"{where}: {_message(error)}")
    more = len(problems) - _SHOWN
    shown = "; ".join(problems[:_SHOWN])
    return shown + (f"; and {more} more" if more > 0 else "")


def _message(error: Any) -> str:
    kind: str = error["type"]
    if kind == "missing":
        return "missing"
    if kind == "extra_forbidden":
        return "unknown key"
    if kind == "value_error":
        return str(error["msg"]).removeprefix("Value error, ")
    return str(error["msg"]).replace("Input should be", "expected")


def _json_kind(value: object) -> str:
    names: dict[type, Literal["null", "a boolean", "a number", "a string", "a list"]] = {
        type(None): "null",
        bool: "a boolean",
        int: "a number",
        float: "a number",
        str: "a string",
        list: "a list",
    }
    return names.get(type(value), "a value")
