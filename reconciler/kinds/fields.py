"""Building blocks of the manifest document models: strict, frozen, free of control characters.

Shared by manifest.py (settings) and every kind's document model (kinds/*.py).
"""

from __future__ import annotations

import re
import unicodedata
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

NAME_PATTERN = r"[A-Za-z0-9_]([A-Za-z0-9_.-]*[A-Za-z0-9_])?"
_NAME_RE = re.compile(NAME_PATTERN)
SHA256_RE = re.compile(r"[0-9a-fA-F]{64}")
# Always fullmatch: `re.match` with `$` also matches before a trailing newline ("kv\n").

_INVISIBLE = {"Cc", "Cf", "Zl", "Zp"}
"""Unicode categories of control and format characters: never part of an identifier."""


def plain(value: Any) -> Any:
    """Refuse control characters (a trailing newline from a `|` block, a tab) in identifiers.

    Runs before any other check, so the message names the character rather than some rule the
    value breaks because of it; and never echoes the value.
    """
    if isinstance(value, str) and not value.isprintable():  # isprintable: the fast, common case
        for index, char in enumerate(value):
            category = unicodedata.category(char)
            if category in _INVISIBLE:
                what = "control character" if category == "Cc" else "invisible character"
                where = "at the end" if index == len(value) - 1 else f"at position {index + 1}"
                raise ValueError(f"{what} U+{ord(char):04X} {where} is not allowed")
    return value


Plain = BeforeValidator(plain)
Text = Annotated[str, Plain]
"""A string that must be free of control characters (names, versions, digests, references)."""
Name = Annotated[str, Plain, Field(min_length=1, max_length=128)]


class Doc(BaseModel):
    """Base of every manifest document model: strict types, frozen, no unknown keys."""

    model_config = ConfigDict(strict=True, frozen=True, extra="forbid")


def check_name(value: str) -> str:
    """A catalog or runtime name: letters, digits, '_', '-' and '.' (no '..')."""
    if ".." in value or not _NAME_RE.fullmatch(value):
        raise ValueError(
            f"invalid name {value!r}: use letters, digits, '_', '-' and '.', "
            "starting and ending with a letter, digit or '_'"
        )
    return value
