"""The manifest document schema (a contract: users and other tools write these files) and its
conversion to the desired `State`, with the checks that span documents.

A document is a mapping with any of `plugins`, `runtimes`, `pins`, `settings` and `nomad`; lists
from all documents merge. Field docs here become the JSON Schema that `reconcile schema` prints.
"""

from __future__ import annotations

import fnmatch
import re
import unicodedata
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, SecretStr, field_validator

from reconciler.errors import Diagnostic
from reconciler.resources import (
    CsiPlugin,
    Pin,
    Plugin,
    PluginKey,
    PluginType,
    Runtime,
    Settings,
    State,
    normalize_version,
)

NAME_PATTERN = r"[A-Za-z0-9_]([A-Za-z0-9_.-]*[A-Za-z0-9_])?"
_NAME_RE = re.compile(NAME_PATTERN)
_SHA256_RE = re.compile(r"[0-9a-fA-F]{64}")
# Always fullmatch: `re.match` with `$` also matches before a trailing newline ("kv\n").

_INVISIBLE = {"Cc", "Cf", "Zl", "Zp"}
"""Unicode categories of control and format characters: never part of an identifier."""


def _plain(value: Any) -> Any:
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


Plain = BeforeValidator(_plain)
Text = Annotated[str, Plain]
"""A string that must be free of control characters (names, versions, digests, references)."""
Name = Annotated[str, Plain, Field(min_length=1, max_length=128)]


class _Doc(BaseModel):
    model_config = ConfigDict(strict=True, frozen=True, extra="forbid")


def _check_name(value: str) -> str:
    if ".." in value or not _NAME_RE.fullmatch(value):
        raise ValueError(
            f"invalid name {value!r}: use letters, digits, '_', '-' and '.', "
            "starting and ending with a letter, digit or '_'"
        )
    return value


class PluginVersionDoc(_Doc):
    """One registered version of a plugin."""

    version: Annotated[str | None, Plain] = Field(
        default=None,
        description="Semantic version; 'v' is prefixed when missing. Omit for the unversioned entry.",
    )
    sha256: Text = Field(description="SHA-256 of the plugin binary (or OCI image digest): 64 hex characters, any case.")
    command: Annotated[str | None, Plain] = Field(
        default=None, description="Command relative to the plugin directory; default: the plugin name."
    )
    args: list[str] = Field(default_factory=list, description="Arguments passed to the plugin.")
    env: dict[str, str] = Field(
        default_factory=dict, description="Environment for the plugin; values are secrets and never printed."
    )
    oci_image: Text = Field(default="", description="OCI image for container plugins (Vault 1.15+).")
    runtime: Text = Field(default="", description="Name of a declared container runtime (Vault 1.15+).")

    @field_validator("version")
    @classmethod
    def _version(cls, value: str | None) -> str | None:
        if value is not None:
            normalize_version(value)
        return value

    @field_validator("sha256")
    @classmethod
    def _sha256(cls, value: str) -> str:
        if not _SHA256_RE.fullmatch(value):
            raise ValueError(f"sha256 must be 64 hexadecimal characters, got {len(value)} characters {value[:16]!r}")
        return value

    @field_validator("command")
    @classmethod
    def _command(cls, value: str | None) -> str | None:
        if value is not None and (not value.strip() or ".." in value.split("/") or value.startswith("/")):
            raise ValueError(f"command {value!r} must be a file name relative to the server's plugin directory")
        return value

    @field_validator("env")
    @classmethod
    def _env(cls, value: dict[str, str]) -> dict[str, str]:
        for key in value:
            if not key or "=" in key:
                raise ValueError(f"env key {key!r} must be non-empty and contain no '='")
            try:
                _plain(key)
            except ValueError as exc:
                raise ValueError(f"env key {key!r}: {exc}") from None
        return value


class PluginDoc(_Doc):
    """A plugin and the versions of it the catalog must hold."""

    name: Name = Field(description="The catalog name.")
    type: Literal["auth", "database", "secret"] = Field(description="Plugin type.")
    versions: list[PluginVersionDoc] = Field(min_length=1, description="At least one version.")

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        return _check_name(value)


class RuntimeDoc(_Doc):
    """A container plugin runtime (Vault 1.15+)."""

    name: Name
    type: Literal["container"] = "container"
    oci_runtime: Text = "runsc"
    cgroup_parent: Text = ""
    cpu_nanos: int = Field(default=0, ge=0)
    memory_bytes: int = Field(default=0, ge=0)
    rootless: bool = False

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        return _check_name(value)


class PinDoc(_Doc):
    """Pins a plugin to one of its declared versions (Vault 1.16+)."""

    type: Literal["auth", "database", "secret"]
    name: Name
    version: Text

    @field_validator("version")
    @classmethod
    def _version(cls, value: str) -> str:
        if not normalize_version(value):
            raise ValueError("a pin needs a version: the unversioned entry cannot be pinned")
        return value


class LockDoc(_Doc):
    """Where `apply` takes its lock: a key of a KV version 2 mount, written with check-and-set."""

    kv_mount: str = Field(description="Path of a KV version 2 mount, e.g. 'secret' (required).")
    key: str = Field(default="reconcile/lock", description="Key of the lock inside the mount.")
    ttl: str = Field(
        default="15m", description="A lock older than this (30s, 15m, 1h30m) is taken over, with a warning."
    )

    @field_validator("kv_mount", "key")
    @classmethod
    def _path(cls, value: str) -> str:
        if not value.strip("/") or any(ord(ch) < 32 or ord(ch) == 127 for ch in value):
            raise ValueError(f"{value!r} must be a non-empty path without control characters")
        return value.strip("/")

    @field_validator("ttl")
    @classmethod
    def _ttl(cls, value: str) -> str:
        # Imported here: manifest.py stays free of the client modules nomad_live brings along.
        from reconciler.errors import UsageError
        from reconciler.nomad_live import parse_duration

        try:
            seconds = parse_duration(value)
        except UsageError as exc:
            raise ValueError(f"{exc} ({exc.hint})") from None
        if seconds <= 0:
            raise ValueError(f"ttl {value!r} must be a positive duration")
        return value


class SettingsDoc(_Doc):
    """Run-wide settings; at most one `settings` block across all documents."""

    prune: bool = Field(default=True, description="Delete catalog entries that no manifest declares.")
    ignore: list[Text] = Field(default_factory=list, description="'type/name' globs that reconcile never plans for.")
    reload: Literal["none", "changed"] = Field(
        default="none",
        description="Reload plugins whose pin changed or whose in-use version was re-registered.",
    )
    max_deletes: int | None = Field(default=None, ge=0, description="Refuse plans with more deletions than this.")
    lock: LockDoc | None = Field(default=None, description="Opt-in: the lock `apply` holds so applies cannot overlap.")

    @field_validator("ignore")
    @classmethod
    def _globs(cls, value: list[str]) -> list[str]:
        for glob in value:
            if "/" not in glob:
                raise ValueError(f"ignore glob {glob!r} must have the form 'type/name' (e.g. 'secret/legacy-*')")
        return value


class CsiPluginDoc(_Doc):
    """A Nomad CSI plugin that must be running and healthy."""

    id: Name
    provider: Annotated[str | None, Plain] = None
    version: Annotated[str | None, Plain] = None
    controllers_healthy: int | None = Field(default=None, ge=0)
    nodes_healthy: int | None = Field(default=None, ge=0)
    controller_required: bool | None = None


class NomadDoc(_Doc):
    """Expectations of the Nomad cluster."""

    csi_plugins: list[CsiPluginDoc] = Field(default_factory=list)


class Document(_Doc):
    """One YAML document of a manifest file."""

    plugins: list[PluginDoc] = Field(default_factory=list)
    runtimes: list[RuntimeDoc] = Field(default_factory=list)
    pins: list[PinDoc] = Field(default_factory=list)
    settings: SettingsDoc | None = None
    nomad: NomadDoc | None = None


Path = tuple[str | int, ...]


@dataclass
class SourceDocument:
    """A validated document with the line of every key and list item in it."""

    path: str
    document: Document
    lines: dict[Path, int]

    def line(self, at: Path) -> int:
        """The line of `at`, or of its nearest ancestor that has one."""
        while at not in self.lines and at:
            at = at[:-1]
        return self.lines.get(at, 1)


@dataclass
class Desired:
    """The desired state and where each of its parts was declared (for later messages)."""

    state: State
    origins: dict[object, str] = field(default_factory=dict)
    """Resource key -> `path:line` of its declaration."""


def build_state(sources: Sequence[SourceDocument], *, complete: bool = True) -> tuple[Desired, list[Diagnostic]]:
    """Merge documents into one desired State, reporting every cross-document problem.

    `complete=False` says some documents were left out (invalid): "X is not declared" checks are
    skipped then, as X may be declared in one of those.
    """
    builder = _Builder()
    for source in sources:
        builder.add(source)
    builder.check_references(complete=complete)
    return builder.result(), builder.problems


class _Builder:
    def __init__(self) -> None:
        self.plugins: dict[PluginKey, Plugin] = {}
        self.runtimes: dict[str, Runtime] = {}
        self.pins: dict[tuple[PluginType, str], Pin] = {}
        self.csi: dict[str, CsiPlugin] = {}
        self.settings: Settings | None = None
        self.origins: dict[object, str] = {}
        self.where: dict[object, tuple[SourceDocument, Path]] = {}
        self.problems: list[Diagnostic] = []

    def _claim(self, key: object, what: str, source: SourceDocument, at: Path) -> bool:
        """Record where `key` was declared; report a duplicate naming both places."""
        here = f"{source.path}:{source.line(at)}"
        if key in self.origins:
            self._problem(source, at, f"duplicate {what}: already declared at {self.origins[key]}")
            return False
        self.origins[key] = here
        self.where[key] = (source, at)
        return True

    def _problem(self, source: SourceDocument, at: Path, message: str) -> None:
        self.problems.append(Diagnostic(source.path, source.line(at), message))

    def add(self, source: SourceDocument) -> None:
        doc = source.document
        for i, p in enumerate(doc.plugins):
            for j, v in enumerate(p.versions):
                self._add_plugin(source, ("plugins", i, "versions", j), p, v)
        for i, r in enumerate(doc.runtimes):
            runtime = Runtime(**r.model_dump())
            if self._claim(("runtime", r.name), f"runtime {r.name!r}", source, ("runtimes", i)):
                self.runtimes[r.name] = runtime
        for i, pin_doc in enumerate(doc.pins):
            pin = Pin(type=PluginType(pin_doc.type), name=pin_doc.name, version=normalize_version(pin_doc.version))
            label = f"pin for {pin.type}/{pin.name} (one pin per plugin)"
            if self._claim(("pin", pin.key), label, source, ("pins", i)):
                self.pins[pin.key] = pin
        if doc.settings is not None and self._claim(
            "settings", "settings block (at most one across all documents)", source, ("settings",)
        ):
            self.settings = Settings(**doc.settings.model_dump())
        if doc.nomad is not None:
            for i, c in enumerate(doc.nomad.csi_plugins):
                if self._claim(("csi", c.id), f"CSI plugin {c.id!r}", source, ("nomad", "csi_plugins", i)):
                    self.csi[c.id] = CsiPlugin(**c.model_dump())

    def _add_plugin(self, source: SourceDocument, at: Path, p: PluginDoc, v: PluginVersionDoc) -> None:
        plugin = Plugin(
            type=PluginType(p.type),
            name=p.name,
            version=normalize_version(v.version or ""),
            sha256=v.sha256.lower(),
            command=v.command if v.command is not None else p.name,
            args=tuple(v.args),
            env={k: SecretStr(val) for k, val in v.env.items()},
            oci_image=v.oci_image,
            runtime=v.runtime,
        )
        if self._claim(plugin.key, f"plugin {plugin.key}", source, at):
            self.plugins[plugin.key] = plugin

    def check_references(self, *, complete: bool = True) -> None:
        settings = self.settings or Settings()
        ignored_reported: set[tuple[PluginType, str]] = set()
        for key, plugin in self.plugins.items():
            if complete and plugin.runtime and plugin.runtime not in self.runtimes:
                self._problem_at(key, ("runtime",), f"runtime {plugin.runtime!r} is not declared under runtimes:")
            glob = _matching_glob(settings.ignore, f"{plugin.type}/{plugin.name}")
            if glob and (plugin.type, plugin.name) not in ignored_reported:
                ignored_reported.add((plugin.type, plugin.name))
                source, at = self.where[key]
                self._problem(
                    source,
                    (*at[:2], "name"),
                    f"plugin {plugin.type}/{plugin.name} is declared but matches ignore glob {glob!r}",
                )
        if not complete:
            return
        for pin_key, pin in self.pins.items():
            target = PluginKey(pin.type, pin.name, pin.version)
            if target not in self.plugins:
                self._problem_at(
                    ("pin", pin_key),
                    ("version",),
                    f"pin {pin.type}/{pin.name} {pin.version}: no such plugin version is declared under plugins:",
                )

    def _problem_at(self, key: object, suffix: Path, message: str) -> None:
        source, at = self.where[key]
        self._problem(source, at + suffix, message)

    def result(self) -> Desired:
        state = State(
            plugins=tuple(self.plugins.values()),
            runtimes=tuple(self.runtimes.values()),
            pins=tuple(self.pins.values()),
            csi_plugins=tuple(self.csi.values()),
            settings=self.settings or Settings(),
        )
        return Desired(state=state, origins=self.origins)


def _matching_glob(globs: Sequence[str], text: str) -> str | None:
    return next((g for g in globs if fnmatch.fnmatchcase(text, g)), None)


def ignored(settings: Settings) -> Callable[[str], bool]:
    """A predicate on `type/name` for the settings' ignore globs."""
    return lambda text: _matching_glob(settings.ignore, text) is not None


def json_schema() -> dict[str, Any]:
    """The JSON Schema of one manifest document."""
    schema = Document.model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "reconcile manifest"
    return schema
