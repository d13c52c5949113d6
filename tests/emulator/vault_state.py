"""Pure state model of the Vault / OpenBao plugin catalog, pins, runtimes and mounts.

No HTTP here: `tests/emulator/vault.py` routes requests to the methods of `VaultState`, which either
return plain data or raise `ApiError(status, errors)` carrying the exact wire error of the real server.

Version strings follow hashicorp/go-version (`GoVersion`), which is what both servers use.
"""

from __future__ import annotations

import hashlib
import itertools
import os
import posixpath
import re
import secrets
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import cmp_to_key
from pathlib import Path
from typing import Any, Literal

Flavor = Literal["vault", "openbao"]
PLUGIN_TYPES = ("auth", "database", "secret")

# --------------------------------------------------------------------------- errors


def multierror(*messages: str) -> str:
    """go-multierror's text: `1 error occurred:\\n\\t* msg\\n\\n`."""
    head = "1 error occurred" if len(messages) == 1 else f"{len(messages)} errors occurred"
    return head + ":\n" + "".join(f"\t* {m}\n" for m in messages) + "\n"


class ApiError(Exception):
    """An error response: HTTP status and the `errors` list of the body."""

    def __init__(self, status: int, errors: list[str]) -> None:
        super().__init__(f"{status}: {errors}")
        self.status = status
        self.errors = errors


def bad_request(message: str) -> ApiError:
    """`logical.ErrorResponse`: 400 with the plain message."""
    return ApiError(400, [message])


def core_error(*messages: str, status: int = 500) -> ApiError:
    """An error returned through the core: multierror text, 500 unless coded."""
    return ApiError(status, [multierror(*messages)])


# --------------------------------------------------------------------------- go-version

_NUM_RE = r"([0-9]+(\.[0-9]+)*?)"
_PRE_TAIL = r"[0-9A-Za-z\-~]*(\.[0-9A-Za-z\-~]+)*"
_META_RE = r"(\+([0-9A-Za-z\-~]+(\.[0-9A-Za-z\-~]+)*))??"
# NewSemver: a '-' is required before a pre-release; NewVersion: optional before an alphabetic one.
_SEMVER_RE = re.compile(rf"^v?{_NUM_RE}(-([0-9]+{_PRE_TAIL})|(-([A-Za-z\-~]+{_PRE_TAIL})))?{_META_RE}$")
_LOOSE_RE = re.compile(rf"^v?{_NUM_RE}(-([0-9]+{_PRE_TAIL})|(-?([A-Za-z\-~]+{_PRE_TAIL})))?{_META_RE}$")
_INT64_MAX = 2**63 - 1


class VersionError(ValueError):
    """go-version's parse error; `str()` is Go's message."""


@dataclass(frozen=True)
class GoVersion:
    """A parsed hashicorp/go-version `Version` (segments padded to 3, pre-release, metadata)."""

    segments: tuple[int, ...]
    pre: str
    metadata: str

    @classmethod
    def parse(cls, text: str, *, strict: bool = True, capital_malformed: bool = False) -> GoVersion:
        """`NewSemver` (strict) or `NewVersion`; raise VersionError with go-version's text."""
        m = (_SEMVER_RE if strict else _LOOSE_RE).match(text)
        if m is None or text.endswith("\n"):
            word = "Malformed version" if capital_malformed else "malformed version"
            raise VersionError(f"{word}: {text}")
        segs: list[int] = []
        for part in m.group(1).split("."):
            value = int(part)
            if value > _INT64_MAX:
                raise VersionError(f'error parsing version: strconv.ParseInt: parsing "{part}": value out of range')
            segs.append(value)
        while len(segs) < 3:
            segs.append(0)
        return cls(tuple(segs), m.group(7) or m.group(4) or "", m.group(10) or "")

    def __str__(self) -> str:
        text = ".".join(str(s) for s in self.segments)
        if self.pre:
            text += f"-{self.pre}"
        if self.metadata:
            text += f"+{self.metadata}"
        return text

    def compare(self, other: GoVersion) -> int:
        """go-version `Compare`: metadata ignored, jagged segments compared against zeros."""
        if str(self) == str(other):
            return 0
        if self.segments == other.segments:
            if not self.pre and not other.pre:
                return 0
            if not self.pre:
                return 1
            if not other.pre:
                return -1
            return _compare_prereleases(self.pre, other.pre)
        mine, theirs = self.segments, other.segments
        for i in range(max(len(mine), len(theirs))):
            if i > len(mine) - 1:
                return -1 if any(theirs[i:]) else 0
            if i > len(theirs) - 1:
                return 1 if any(mine[i:]) else 0
            if mine[i] != theirs[i]:
                return -1 if mine[i] < theirs[i] else 1
        return 0


def _parse_int(text: str) -> int | None:
    try:
        value = int(text, 10)
    except ValueError:
        return None
    return value if re.fullmatch(r"[+-]?[0-9]+", text) else None


def _compare_part(mine: str, theirs: str) -> int:
    if mine == theirs:
        return 0
    mine_int, theirs_int = _parse_int(mine), _parse_int(theirs)
    if mine == "":
        return -1 if theirs_int is not None else 1
    if theirs == "":
        return 1 if mine_int is not None else -1
    if mine_int is not None and theirs_int is None:
        return -1
    if mine_int is None and theirs_int is not None:
        return 1
    if mine_int is None and theirs_int is None:
        return 1 if mine > theirs else -1
    return 1 if (mine_int or 0) > (theirs_int or 0) else -1


def _compare_prereleases(mine: str, theirs: str) -> int:
    if mine == theirs:
        return 0
    a, b = mine.split("."), theirs.split(".")
    for i in range(max(len(a), len(b))):
        result = _compare_part(a[i] if i < len(a) else "", b[i] if i < len(b) else "")
        if result:
            return result
    return 0


def is_builtin_version(version: str) -> bool:
    """`versions.IsBuiltinVersion`: any dot-separated metadata identifier equals `builtin`."""
    try:
        parsed = GoVersion.parse(version)
    except VersionError:
        return False
    return "builtin" in parsed.metadata.split(".")


def sort_key_version(version: str) -> GoVersion:
    """The semantic version used for ordering (`""` counts as 0.0.0; unparsable as 0.0.0)."""
    try:
        return GoVersion.parse(version or "0.0.0", strict=False)
    except VersionError:
        return GoVersion((0, 0, 0), "", "")


# --------------------------------------------------------------------------- builtins

# Names a real server has compiled in as "logical"/"credential" backends rather than catalog plugins
# (selecting a non-builtin version of them fails), and singleton mounts that cannot be reloaded.
CORE_SECRET_BACKENDS = ("kv", "database")
CORE_AUTH_BACKENDS = ("token",)
SINGLETON_TYPES = ("cubbyhole", "system", "token", "identity")

_OPENBAO_BUILTINS: dict[str, tuple[str, ...]] = {
    "auth": ("approle", "cert", "jwt", "kubernetes", "oidc", "userpass"),
    "database": (
        "cassandra-database-plugin",
        "influxdb-database-plugin",
        "mysql-aurora-database-plugin",
        "mysql-database-plugin",
        "mysql-legacy-database-plugin",
        "mysql-rds-database-plugin",
        "postgresql-database-plugin",
        "redis-database-plugin",
        "valkey-database-plugin",
    ),
    "secret": ("kubernetes", "kv", "pki", "rabbitmq", "ssh", "totp", "transit"),
}

# A realistic handful of Vault builtins: in-tree ones carry `v<vault>+builtin.vault` (None below),
# `hashicorp/vault-plugin-*` modules their own `<module version>+builtin`.
_VAULT_BUILTINS: dict[str, dict[str, str | None]] = {
    "auth": {"approle": None, "jwt": "v0.21.1+builtin", "kubernetes": "v0.19.0+builtin", "userpass": None},
    "database": {
        "mysql-database-plugin": None,
        "postgresql-database-plugin": None,
        "redis-database-plugin": "v0.3.0+builtin",
    },
    "secret": {"kv": "v0.19.0+builtin", "pki": None, "ssh": None, "transit": None},
}


def builtin_catalog(flavor: Flavor, version: str) -> dict[tuple[str, str], str]:
    """(type, name) -> builtin version string for the synthesised builtins of a server."""
    if flavor == "openbao":
        return {(t, n): f"v{version}+builtin.bao" for t, names in _OPENBAO_BUILTINS.items() for n in names}
    return {
        (t, n): module or f"v{version}+builtin.vault"
        for t, names in _VAULT_BUILTINS.items()
        for n, module in names.items()
    }


# --------------------------------------------------------------------------- records


@dataclass
class CatalogEntry:
    """One catalog entry, keyed by (type, name, version); `version == ""` is the unversioned entry.

    `command` is stored relative to the plugin directory, as registered (first word of `command`).
    Builtins are synthesised on the fly with `builtin=True` (never stored).
    """

    type: str
    name: str
    version: str
    command: str = ""
    args: list[str] | None = field(default_factory=list)
    env: list[str] = field(default_factory=list)
    sha256: str = ""
    builtin: bool = False
    deprecation_status: str = ""
    oci: bool = False
    declarative: bool = False
    oci_image: str = ""
    runtime: str = ""

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.type, self.name, self.version)


@dataclass
class PluginRuntime:
    """A Vault plugin runtime (`sys/plugins/runtimes/catalog/container/:name`)."""

    name: str
    type: str = "container"
    oci_runtime: str = ""
    cgroup_parent: str = ""
    cpu_nanos: int = 0
    memory_bytes: int = 0
    rootless: bool = False

    def as_data(self, *, rootless: bool = True) -> dict[str, Any]:
        data: dict[str, Any] = {
            "name": self.name,
            "type": self.type,
            "oci_runtime": self.oci_runtime,
            "cgroup_parent": self.cgroup_parent,
            "cpu_nanos": self.cpu_nanos,
            "memory_bytes": self.memory_bytes,
        }
        if rootless:  # Vault >= 1.16
            data["rootless"] = self.rootless
        return data


@dataclass
class MountEntry:
    """A secrets or auth mount. `path` ends with '/', auth paths are without the `auth/` prefix."""

    path: str
    type: str
    auth: bool = False
    description: str = ""
    plugin_version: str = ""
    running_plugin_version: str = ""
    running_sha256: str = ""
    accessor: str = ""
    uuid: str = field(default_factory=lambda: str(uuid.uuid4()))
    local: bool = False
    seal_wrap: bool = False
    options: dict[str, str] | None = field(default_factory=dict)
    config_extra: dict[str, Any] = field(default_factory=dict)
    serving: bool = True
    """A backend serves the mount. A failed reload stops the old process before the new one fails:
    then False, and running_plugin_version keeps naming the old version (docs/plugin-behaviour.md)."""
    pid: int = 0
    """The emulated plugin process: a new number at every (re)start of an external plugin."""

    @property
    def plugin_type(self) -> str:
        return "auth" if self.auth else "secret"

    @property
    def router_path(self) -> str:
        return ("auth/" if self.auth else "") + self.path


# --------------------------------------------------------------------------- the state


def _version_tuple(version: str) -> tuple[int, ...]:
    return tuple(int(p) for p in re.findall(r"\d+", version.split("+", 1)[0])[:3])


class VaultState:
    """All server state the emulator models; every mutating method validates like the real server.

    Public attributes (read them in tests; mutate through methods):
      catalog:     (type, name, version) -> CatalogEntry   (external entries only; builtins synthesised)
      pins:        (type, name) -> version                (Vault only)
      runtimes:    name -> PluginRuntime                  (Vault only)
      mounts:      "path/" -> MountEntry                  (secrets engines, incl. sys/, secret/...)
      auth_mounts: "path/" -> MountEntry                  (auth methods, incl. token/)
      declared:    [CatalogEntry]                        (OpenBao plugins declared in the server configuration)
      sealed:      bool
    """

    def __init__(self, flavor: Flavor, version: str, plugin_dir: Path | None) -> None:
        self.flavor: Flavor = flavor
        self.version = version
        self.plugin_dir = plugin_dir
        self.builtins = builtin_catalog(flavor, version)
        self.catalog: dict[tuple[str, str, str], CatalogEntry] = {}
        self.pins: dict[tuple[str, str], str] = {}
        self.runtimes: dict[str, PluginRuntime] = {}
        self.mounts: dict[str, MountEntry] = {}
        self.auth_mounts: dict[str, MountEntry] = {}
        self.sealed = False
        self.declared: list[CatalogEntry] = []
        self.broken_commands: set[str] = set()
        """Plugin files that exit at once (`bash run plugin --broken`): starting them fails."""
        self._pids = itertools.count(4000)
        self._default_mounts()

    # ---- flavor helpers

    @property
    def is_vault(self) -> bool:
        return self.flavor == "vault"

    def vault_at_least(self, *release: int) -> bool:
        return self.is_vault and _version_tuple(self.version) >= release

    @property
    def server_builtin_version(self) -> str:
        return f"v{self.version}+builtin." + ("vault" if self.is_vault else "bao")

    def parse_version(self, text: str, *, strict: bool = True) -> GoVersion:
        """Parse with this server's go-version (Vault < 1.21 still says `Malformed version`)."""
        capital = self.is_vault and not self.vault_at_least(1, 21)
        return GoVersion.parse(text, strict=strict, capital_malformed=capital)

    def normalise_version(self, text: str) -> str:
        """`getVersion`: "" stays "", otherwise "v" + canonical; 400 when not semver."""
        if text == "":
            return ""
        try:
            return "v" + str(self.parse_version(text))
        except VersionError as exc:
            raise bad_request(f"version {_go_quote(text)} is not a valid semantic version: {exc}") from None

    # ---- catalog reads

    def builtin_version(self, ptype: str, name: str) -> str | None:
        return self.builtins.get((ptype, name))

    def _builtin_entry(self, ptype: str, name: str) -> CatalogEntry:
        return CatalogEntry(
            type=ptype,
            name=name,
            version=self.builtins[(ptype, name)],
            args=None,
            builtin=True,
            deprecation_status="supported",
        )

    def get_plugin(self, ptype: str, name: str, version: str = "") -> CatalogEntry | None:
        """`PluginCatalog.Get`: exact external entry, else the builtin unless shadowed."""
        entry = self.catalog.get((ptype, name, version))
        if entry is not None:
            return entry
        builtin = self.builtin_version(ptype, name)
        if builtin is None or version not in ("", builtin):
            return None
        if version == builtin and (ptype, name, "") in self.catalog:
            return None  # an unversioned external entry replaces the builtin
        return self._builtin_entry(ptype, name)

    def list_versioned(self, ptype: str) -> list[CatalogEntry]:
        """The `detailed` entries of one type: externals, then unshadowed builtins, sorted stably."""
        externals = sorted(
            (e for e in self.catalog.values() if e.type == ptype),
            key=lambda e: (e.name, e.version != "", e.version),
        )
        unversioned = {e.name for e in externals if e.version == ""}
        builtins = [
            self._builtin_entry(ptype, name)
            for (t, name) in sorted(self.builtins)
            if t == ptype and name not in unversioned
        ]

        def cmp(a: CatalogEntry, b: CatalogEntry) -> int:
            if a.name != b.name:
                return -1 if a.name < b.name else 1
            if a.version == b.version:
                return 0
            return sort_key_version(a.version).compare(sort_key_version(b.version))

        return sorted(externals + builtins, key=cmp_to_key(cmp))

    def plugin_names(self, ptype: str) -> list[str]:
        """Name arrays / typed LIST: Vault omits versioned-only plugins, OpenBao (>= 2.5.5) includes them."""
        names = {n for (t, n) in self.builtins if t == ptype}
        names |= {e.name for e in self.catalog.values() if e.type == ptype and (e.version == "" or not self.is_vault)}
        return sorted(names)

    def types_from_name(self, name: str) -> set[str]:
        types = {e.type for e in self.catalog.values() if e.name == name}
        return types | {t for (t, n) in self.builtins if n == name}

    # ---- catalog writes

    def register(
        self,
        ptype: str,
        name: str,
        *,
        version: str = "",
        sha256: str = "",
        command: str = "",
        args: list[str] | None = None,
        env: list[str] | None = None,
        oci: bool = False,
        oci_image: str = "",
        runtime: str = "",
        download: bool = False,
    ) -> list[str]:
        """Register (full overwrite). Returns warnings. Raises ApiError exactly like the flavor."""
        if self.is_vault:
            return self._register_vault(
                ptype, name, version, sha256, command, args or [], env or [], oci_image, runtime, download
            )
        self._register_openbao(ptype, name, version, sha256, command, args or [], env or [], oci)
        return []

    def _register_openbao(
        self,
        ptype: str,
        name: str,
        version: str,
        sha256: str,
        command: str,
        args: list[str],
        env: list[str],
        oci: bool,
    ) -> None:
        version = self._checked_register_version(version)
        if sha256 == "":
            raise bad_request("missing SHA-256 value")
        if command == "":
            raise bad_request("missing command value")
        parts = command.split(" ")
        if len(parts) > 1 and args:
            raise bad_request("must not specify args in command and args field")
        if len(parts) > 1:
            args = parts[1:]
        try:
            digest = bytes.fromhex(sha256) if _is_go_hex(sha256) else None
        except ValueError:
            digest = None
        if digest is None:
            raise bad_request("Could not decode SHA-256 value from Hex")
        if len(digest) != 32:
            raise bad_request("Decoded SHA-256 value is not 32 bytes")
        self._check_parent_references(name, parts[0])
        self._check_command_path(parts[0], detailed_outside=False)
        if ptype == "unknown":
            raise self._type_detection_error(parts[0], digest)
        self._store(CatalogEntry(ptype, name, version, parts[0], list(args), list(env), digest.hex(), oci=oci))

    def _register_vault(
        self,
        ptype: str,
        name: str,
        version: str,
        sha256: str,
        command: str,
        args: list[str],
        env: list[str],
        oci_image: str,
        runtime: str,
        download: bool,
    ) -> list[str]:
        warnings: list[str] = []
        version = self._checked_register_version(version)
        if download and self.vault_at_least(1, 20, 1):
            raise bad_request("download is an enterprise only feature")
        artifact = False
        if sha256 == "":
            if not self.vault_at_least(1, 19, 5):
                raise bad_request("missing SHA-256 value")
            if version == "":
                raise bad_request(
                    "must provide at least one of sha256 or version: use sha256 for binary registration "
                    "(version optional) or version only for artifact registration"
                )
            artifact = True
            if command:
                warnings.append(
                    "When sha256 is unspecified, a plugin artifact is expected for registration and the "
                    f'command parameter "{command}" will be ignored.'
                )
        elif command == "" and oci_image == "":
            raise bad_request("must provide at least one of command or oci_image")
        if runtime and runtime not in self.runtimes:
            raise bad_request(
                f'specified plugin runtime "{runtime}", but failed to retrieve config: '
                "%!w(*errors.errorString=&{plugin runtime not found})"
            )
        parts = command.split(" ") if command else [""]
        if len(parts) > 1 and args:
            raise bad_request("must not specify args in command and args field")
        if len(parts) > 1:
            args = parts[1:]
        digest = b""
        if not artifact:
            error = _go_hex_error(sha256)
            if error:
                raise bad_request(f"Could not decode SHA256 value from Hex {sha256}: {error}")
            digest = bytes.fromhex(sha256)
        if artifact:
            self._check_parent_references(name, "")
            self._check_artifact(name, version)
            parts = [""]
        else:
            self._check_parent_references(name, parts[0])
            if not oci_image:
                self._check_command_path(parts[0], detailed_outside=self.vault_at_least(1, 20))
        if ptype == "unknown":
            raise self._type_detection_error(parts[0], digest)
        self._store(
            CatalogEntry(
                ptype,
                name,
                version,
                parts[0],
                list(args),
                list(env),
                digest.hex(),
                oci_image=oci_image,
                runtime=runtime,
            )
        )
        return warnings

    def _checked_register_version(self, version: str) -> str:
        version = self.normalise_version(version)
        if is_builtin_version(version):
            raise bad_request(
                f"version {_go_quote(version)} is not allowed because 'builtin' is a reserved metadata identifier"
            )
        return version

    def _store(self, entry: CatalogEntry) -> None:
        self.catalog[entry.key] = entry

    @staticmethod
    def _check_parent_references(name: str, command: str) -> None:
        if ".." in name or ".." in command:
            raise core_error("path cannot contain parent references")

    def _check_command_path(self, command: str, *, detailed_outside: bool) -> None:
        """`filepath.EvalSymlinks(Join(dir, command))` must exist and sit directly in the directory."""
        if self.plugin_dir is None:
            return
        base = str(self.plugin_dir)
        full = posixpath.normpath(posixpath.join(base, command.lstrip("/")))
        # Walk like Go's EvalSymlinks: the first missing component is reported by lstat.
        current = base
        for part in [p for p in full[len(base) :].split("/") if p]:
            if os.path.exists(current) and not os.path.isdir(current):
                raise core_error("error while validating the command path: not a directory")
            current = posixpath.join(current, part)
            if not os.path.lexists(current):
                raise core_error(f"error while validating the command path: lstat {current}: no such file or directory")
        resolved_dir = os.path.dirname(os.path.realpath(full))
        expected = os.path.realpath(base)
        if resolved_dir != expected:
            if detailed_outside:
                raise core_error(
                    f"cannot execute files outside of configured plugin directory {base}: "
                    f"expected {expected}, got {resolved_dir}"
                )
            raise core_error("cannot execute files outside of configured plugin directory")

    def _check_artifact(self, name: str, version: str) -> None:
        if self.plugin_dir is None:
            return
        directory = self.plugin_dir / f"{name}_{version.removeprefix('v')}_linux_amd64"
        if not directory.is_dir():
            raise core_error(
                f'failed to verify plugin plugin "{name}" version "{version}": '
                f"extracted artifact directory not found: {directory}"
            )

    def _type_detection_error(self, command: str, digest: bytes) -> ApiError:
        """Untyped (legacy) registration must start the binary to learn its type: never possible here."""
        reason = (
            "Unrecognized remote plugin message: \n\nThis usually means that the plugin is either "
            "invalid or simply\nneeds to be recompiled to support the latest protocol."
        )
        if self.plugin_dir is not None and self.file_sha256(command) != digest.hex():
            reason = "checksums did not match"
        return core_error(
            f"failed to load plugin as database v5: {reason}",
            f"failed to load plugin as database v4: {reason}",
            f"failed to dispense v4 backend plugin: {reason}",
        )

    def file_sha256(self, command: str) -> str:
        if self.plugin_dir is None:
            return ""
        path = self.plugin_dir / command
        return hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() else ""

    def delete_plugin(self, ptype: str, name: str, version: str) -> None:
        """`DELETE`: idempotent; builtin version 400; Vault: the pinned version 500."""
        version = self.normalise_version(version)
        if is_builtin_version(version):
            raise bad_request(f"version {_go_quote(version)} cannot be deleted")
        if self.is_vault and version and self.pins.get((ptype, name)) == version:
            raise core_error("cannot delete a pinned version")
        self.catalog.pop((ptype, name, version), None)

    def add_declarative(
        self,
        ptype: str,
        name: str,
        version: str,
        command: str,
        sha256: str,
        args: list[str] | None = None,
        env: list[str] | None = None,
        oci: bool = False,
    ) -> CatalogEntry:
        """An OpenBao config-file plugin: stored as written (version not normalised), declarative=True.

        It is also remembered as declared by the server configuration: `unseal_declarative()` re-creates it if
        it was deleted through the API, and fails the unseal if it was overwritten by a normal registration.
        """
        entry = CatalogEntry(ptype, name, version, command, list(args or []), list(env or []), sha256.lower(), oci=oci)
        entry.declarative = True
        self.declared = [d for d in self.declared if d.key != entry.key] + [CatalogEntry(**vars(entry))]
        self._store(entry)
        return entry

    def unseal_declarative(self) -> None:
        """`registerDeclarativePlugins` at unseal: re-create missing entries; an API overwrite poisons the unseal."""
        for index, declared in enumerate(self.declared):
            existing = self.catalog.get(declared.key)
            if existing is not None and not existing.declarative:
                raise ApiError(
                    500,
                    [
                        f"failed to set up declarative plugins: [plugin {index} (name: {declared.name} / type: "
                        f"{declared.type})]: conflicts with existing non-declarative plugin; do not specify existing "
                        "plugins in the server configuration"
                    ],
                )
        for declared in self.declared:
            self.catalog.setdefault(declared.key, CatalogEntry(**vars(declared)))

    # ---- pins (Vault)

    def set_pin(self, ptype: str, name: str, version: str) -> None:
        if version == "":
            raise bad_request("missing plugin version")
        version = self.normalise_version(version)
        if is_builtin_version(version):
            raise bad_request(f"cannot pin a builtin plugin: {_go_quote(version)}")
        if (ptype, name, version) not in self.catalog:
            raise bad_request(
                f'plugin not found in the catalog; {ptype} plugin "{name}" version {version} does not exist'
            )
        self.pins[(ptype, name)] = version

    def get_pin(self, ptype: str, name: str) -> dict[str, str]:
        version = self.pins.get((ptype, name))
        if version is None:
            raise core_error("no pinned version for this plugin", status=404)
        return {"name": name, "type": ptype, "version": version}

    def delete_pin(self, ptype: str, name: str) -> None:
        self.pins.pop((ptype, name), None)

    def list_pins(self) -> list[dict[str, str]]:
        return [{"name": n, "type": t, "version": v} for (t, n), v in sorted(self.pins.items())]

    # ---- runtimes (Vault)

    def set_runtime(self, runtime: PluginRuntime) -> None:
        if runtime.cpu_nanos < 0:
            raise bad_request("runtime cpu in nanos cannot be negative")
        if runtime.memory_bytes < 0:
            raise bad_request("runtime memory in bytes cannot be negative")
        self.runtimes[runtime.name] = runtime

    def delete_runtime(self, name: str) -> None:
        users = [e.name for e in self.catalog.values() if e.runtime == name]
        if users:
            raise bad_request(
                f'unable to delete "{name}" runtime. Registered plugins=[{" ".join(users)}] are referencing it.'
            )
        if name not in self.runtimes:
            raise core_error("plugin runtime not found")
        del self.runtimes[name]

    # ---- mounts

    def _default_mounts(self) -> None:
        self.mounts["sys/"] = self._core_mount(
            "sys/",
            "system",
            "system endpoints used for control, policy and debugging",
            options=None,
            seal_wrap=True,
            config_extra={"passthrough_request_headers": ["Accept"]},
        )
        self.mounts["identity/"] = self._core_mount(
            "identity/",
            "identity",
            "identity store",
            options=None,
            config_extra={"passthrough_request_headers": ["Authorization"]},
        )
        self.mounts["cubbyhole/"] = self._core_mount(
            "cubbyhole/", "cubbyhole", "per-token private secret storage", options=None, local=True
        )
        self.auth_mounts["token/"] = self._core_mount(
            "token/",
            "token",
            "token based credentials",
            options=None,
            auth=True,
            config_extra={"token_type": "default-service"},
        )
        secret = self.enable_mount("secret/", "kv", options={"version": "2"})
        secret.description = "key/value secret storage"

    def _core_mount(
        self,
        path: str,
        mtype: str,
        description: str,
        *,
        options: dict[str, str] | None,
        auth: bool = False,
        local: bool = False,
        seal_wrap: bool = False,
        config_extra: dict[str, Any] | None = None,
    ) -> MountEntry:
        return MountEntry(
            path=path,
            type=mtype,
            auth=auth,
            description=description,
            running_plugin_version=self.server_builtin_version,
            accessor=_accessor(mtype, auth),
            local=local,
            seal_wrap=seal_wrap,
            options=options,
            config_extra=dict(config_extra or {}),
        )

    def table(self, auth: bool) -> dict[str, MountEntry]:
        return self.auth_mounts if auth else self.mounts

    def find_mount(self, path: str, *, auth: bool) -> MountEntry | None:
        return self.table(auth).get(_mount_path(path))

    def matching_mount(self, router_path: str) -> MountEntry | None:
        """The router's longest-prefix match over secrets mounts and `auth/`-prefixed auth mounts."""
        best: MountEntry | None = None
        for entry in [*self.mounts.values(), *self.auth_mounts.values()]:
            if router_path.startswith(entry.router_path) and (
                best is None or len(entry.router_path) > len(best.router_path)
            ):
                best = entry
        return best

    def mount_info(self, entry: MountEntry) -> dict[str, Any]:
        config: dict[str, Any] = {"default_lease_ttl": 0, "force_no_cache": False, "max_lease_ttl": 0}
        config.update(entry.config_extra)
        info: dict[str, Any] = {
            "accessor": entry.accessor,
            "config": config,
            "description": entry.description,
            "external_entropy_access": False,
            "local": entry.local,
            "options": entry.options,
            "plugin_version": entry.plugin_version,
            "running_plugin_version": entry.running_plugin_version,
            "running_sha256": entry.running_sha256,
            "seal_wrap": entry.seal_wrap,
            "type": entry.type,
            "uuid": entry.uuid,
        }
        if (entry.plugin_type, entry.type) in self.builtins:
            info["deprecation_status"] = "supported"
        return info

    def tune_info(self, entry: MountEntry) -> dict[str, Any]:
        info: dict[str, Any] = {
            "default_lease_ttl": 2764800,
            "description": entry.description,
            "force_no_cache": False,
            "max_lease_ttl": 2764800,
        }
        if entry.auth:
            info["token_type"] = entry.config_extra.get("token_type", "default-service")
        if entry.plugin_version:
            info["plugin_version"] = entry.plugin_version
        return info

    def _is_core_backend(self, name: str, *, auth: bool) -> bool:
        return name in (CORE_AUTH_BACKENDS if auth else (*CORE_SECRET_BACKENDS, *SINGLETON_TYPES))

    def _select_version(self, ptype: str, name: str) -> str:
        """`selectPluginVersion`: pin (Vault) > unversioned external ("") > highest version > builtin ("")."""
        if self.is_vault and (ptype, name) in self.pins:
            return self.pins[(ptype, name)]
        if (ptype, name, "") in self.catalog:
            return ""
        return self._highest_version(ptype, name)

    def _highest_version(self, ptype: str, name: str) -> str:
        """The highest registered semantic version of a plugin ("" when none): what `latest` runs."""
        candidates = [e for e in self.catalog.values() if e.type == ptype and e.name == name and e.version]
        if not candidates:
            return ""
        versions = [sort_key_version(e.version) for e in candidates]
        best = max(versions, key=cmp_to_key(GoVersion.compare))
        return "v" + str(best)

    @property
    def has_latest(self) -> bool:
        """OpenBao 2.7 accepts `plugin_version: "latest"` on enable and tune (stored literally)."""
        return not self.is_vault and _version_tuple(self.version) >= (2, 7)

    def _validate_mount_version(self, ptype: str, name: str, version: str, *, auth: bool) -> str:
        """`validateVersion` of the enable handlers."""
        kind = "auth" if auth else "secret"
        if self.is_vault and version and (ptype, name) in self.pins:
            raise bad_request(
                f'cannot specify plugin_version for {kind} plugin "{name}", as it is pinned to version '
                f"{self.pins[(ptype, name)]}"
            )
        if version == "":
            version = self._select_version(ptype, name)
        elif version == LATEST and self.has_latest:
            pass
        else:
            try:
                version = "v" + str(self.parse_version(version, strict=False))
            except VersionError as exc:
                raise bad_request(f"version {_go_quote(version)} is not a valid semantic version: {exc}") from None
            if version == self.builtin_version(ptype, name):
                if (ptype, name, "") in self.catalog:
                    raise bad_request(
                        f'{ptype} plugin "{name}", version {version} not found, as it is overridden by an '
                        "unversioned plugin of the same name. Omit `plugin_version` to use the unversioned plugin"
                    )
                version = ""
        if version and self._is_core_backend(name, auth=auth) and version != self.builtin_version(ptype, name):
            word = "auth" if auth else "secrets"
            raise bad_request(f"cannot select non-builtin version of {word} plugin {name}")
        return version

    def _resolve(self, entry: MountEntry) -> tuple[str, str]:
        """(running_plugin_version, running_sha256) a backend start would give; raise when not found.

        Resolution: pin (Vault) > mount plugin_version > unversioned external > builtin.
        """
        if self._is_core_backend(entry.type, auth=entry.auth):
            # Compiled-in backends (kv, database, singletons) always run the builtin factory, whatever the
            # catalog holds; the running version is the configured one, else the builtin version.
            builtin = self.builtin_version(entry.plugin_type, entry.type) or self.server_builtin_version
            return entry.plugin_version or builtin, ""
        version = entry.plugin_version
        if self.is_vault and (entry.plugin_type, entry.type) in self.pins:
            version = self.pins[(entry.plugin_type, entry.type)]
        if version == LATEST:  # resolved at every (re)start: the highest registered, broken or not
            version = self._highest_version(entry.plugin_type, entry.type) or LATEST
        plugin = self.get_plugin(entry.plugin_type, entry.type, version)
        if plugin is None:
            context = entry.type + (f", version={version}" if version else "")
            raise bad_request(f"plugin not found in the catalog: {context}")
        if plugin.builtin:
            return plugin.version, ""
        if self.plugin_dir is not None and not plugin.oci_image and self.file_sha256(plugin.command) != plugin.sha256:
            raise bad_request(
                "invalid backend version: " + multierror("checksums did not match", "checksums did not match")
            )
        if plugin.command in self.broken_commands:
            failure = _no_handshake(self.plugin_dir / plugin.command if self.plugin_dir else Path(plugin.command))
            raise bad_request("invalid backend version: " + multierror(failure, failure))
        return plugin.version, plugin.sha256

    def enable_mount(
        self,
        path: str,
        mtype: str,
        *,
        auth: bool = False,
        plugin_version: str = "",
        description: str = "",
        options: dict[str, str] | None = None,
    ) -> MountEntry:
        """Enable a secrets engine / auth method like `POST sys/mounts/:path` / `sys/auth/:path`."""
        if not mtype:
            raise bad_request("backend type must be specified as a string")
        path = _mount_path(path)
        ptype = "auth" if auth else "secret"
        version = self._validate_mount_version(ptype, mtype, plugin_version, auth=auth)
        table = self.table(auth)
        for existing in table:
            if existing.startswith(path) or path.startswith(existing):
                raise bad_request(f"path is already in use at {existing}")
        entry = MountEntry(
            path=path,
            type=mtype,
            auth=auth,
            description=description,
            plugin_version=version,
            accessor=_accessor(mtype, auth),
            options=dict(options or {}),
            config_extra={"token_type": "default-service"} if auth else {},
        )
        resolved = self._highest_version(ptype, mtype) if version == LATEST else version
        if not self._is_core_backend(mtype, auth=auth) and self.get_plugin(ptype, mtype, resolved) is None:
            raise bad_request(f"plugin not found in the catalog: {mtype}" + (f", version={version}" if version else ""))
        entry.running_plugin_version, entry.running_sha256 = self._resolve(entry)
        entry.pid = next(self._pids) if entry.running_sha256 else 0
        table[path] = entry
        return entry

    def disable_mount(self, path: str, *, auth: bool) -> None:
        self.table(auth).pop(_mount_path(path), None)

    def tune_plugin_version(self, path: str, version: str, *, auth: bool) -> None:
        entry = self.find_mount(path, auth=auth)
        if entry is None:
            raise bad_request(f'tune of path "{_mount_path(path)}" failed: no mount entry found')
        ptype = entry.plugin_type
        if self.is_vault and (ptype, entry.type) in self.pins:
            raise bad_request(
                f'plugin_version cannot be set for {ptype} plugin "{entry.type}" as a pinned version '
                f"{self.pins[(ptype, entry.type)]} is in effect."
            )
        if version == LATEST and self.has_latest:
            entry.plugin_version = version  # no check: resolved at the next (re)start
            return
        try:
            version = "v" + str(self.parse_version(version, strict=False))
        except VersionError as exc:
            raise bad_request(f"version {_go_quote(version)} is not a valid semantic version: {exc}") from None
        if self.get_plugin(ptype, entry.type, version) is None:
            raise bad_request(f"plugin not found in the catalog: {entry.type}, version={version}")
        entry.plugin_version = version

    def reload_mount(self, entry: MountEntry) -> None:
        """Restart the backend: running version/sha become the resolved ones. The old process is gone
        first, so a failure leaves the mount without a backend and its running_* fields stale."""
        entry.serving = False
        entry.running_plugin_version, entry.running_sha256 = self._resolve(entry)
        entry.serving = True
        entry.pid = next(self._pids) if entry.running_sha256 else 0

    def reload_all(self) -> None:
        """What an unseal does: every backend restarts (mounts whose plugin vanished keep their state)."""
        for entry in [*self.mounts.values(), *self.auth_mounts.values()]:
            try:
                self.reload_mount(entry)
            except ApiError:
                continue

    def mounts_using(self, name: str, *, auth: bool | None = None) -> list[MountEntry]:
        tables: Iterable[dict[str, MountEntry]] = (
            (self.mounts, self.auth_mounts) if auth is None else (self.table(auth),)
        )
        return [e for table in tables for e in table.values() if e.type == name]


# --------------------------------------------------------------------------- small helpers

LATEST = "latest"


def _no_handshake(path: Path) -> str:
    """go-plugin's text for a plugin that exits before its handshake, as OpenBao 2.7.2 answers it."""
    return (
        "Unrecognized remote plugin message: \n"
        "Failed to read any lines from plugin's stdout\n"
        "This usually means\n"
        "  the plugin was not compiled for this architecture,\n"
        "  the plugin is missing dynamic-link libraries necessary to run,\n"
        "  the plugin is not executable by this process due to file permissions, or\n"
        "  the plugin failed to negotiate the initial go-plugin protocol handshake\n\n"
        f"Additional notes about plugin:\n  Path: {path}"
    )


def _mount_path(path: str) -> str:
    path = path.strip("/")
    return path + "/"


def _accessor(mtype: str, auth: bool) -> str:
    return ("auth_" if auth else "") + f"{mtype}_{secrets.token_hex(4)}"


def _go_quote(text: str) -> str:
    """Go's %q for the strings we meet (quotes and backslashes escaped)."""
    escaped = text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n").replace("\t", "\\t")
    return f'"{escaped}"'


_HEX = set("0123456789abcdefABCDEF")


def _is_go_hex(text: str) -> bool:
    return len(text) % 2 == 0 and all(c in _HEX for c in text)


def _go_hex_error(text: str) -> str:
    """The error of Go's `hex.DecodeString`, or "" when it decodes."""
    for i in range(1, len(text), 2):
        for c in (text[i - 1], text[i]):
            if c not in _HEX:
                return f"encoding/hex: invalid byte: {_go_unicode(c)}"
    if len(text) % 2 == 1:
        if text[-1] not in _HEX:
            return f"encoding/hex: invalid byte: {_go_unicode(text[-1])}"
        return "encoding/hex: odd length hex string"
    return ""


def _go_unicode(char: str) -> str:
    """Go's `%#U` of a byte."""
    code = f"U+{ord(char):04X}"
    return f"{code} '{char}'" if char.isprintable() else code


# --------------------------------------------------------------------------- reload


def reload_backend(state: VaultState, plugin: str, mounts: list[str], scope: str) -> tuple[list[str], int]:
    """`PUT sys/plugins/reload/backend`: returns (warnings, status); raises ApiError per flavor."""
    if state.is_vault:
        if scope not in ("", "global"):
            raise bad_request("reload scope must be omitted or 'global'")
        _check_plugin_xor_mounts(plugin, mounts)
    else:
        _check_plugin_xor_mounts(plugin, mounts)
        if scope not in ("", "global"):
            raise bad_request('scope must be unset or "global"')
    warnings: list[str] = []
    if plugin:
        if state.is_vault:
            reloaded = _reload_named(state, plugin, auth=None)
            if reloaded == 0 and state.vault_at_least(1, 16):
                warnings.append(_nothing_reloaded(scope))
        else:
            if plugin in SINGLETON_TYPES:
                raise bad_request(f'singleton plugin cannot be reloaded: "{plugin}"')
            types = state.types_from_name(plugin)
            if not types:
                raise bad_request(f'plugin not found in the catalog: "{plugin}"')
            if not types & {"auth", "secret"}:
                raise bad_request(
                    f'plugin "{plugin}" cannot be reloaded, only plugins of type auth and secret can be reloaded'
                )
            _reload_named(state, plugin, auth=None)
    else:
        _reload_mounts(state, mounts)
    status = 202 if state.is_vault and scope == "global" else 200
    return warnings, status


def reload_by_type(state: VaultState, ptype: str, name: str, scope: str) -> tuple[list[str], int]:
    """Vault `POST sys/plugins/reload/:type/:name`."""
    if scope not in ("", "global"):
        raise bad_request("reload scope must be omitted or 'global'")
    auth = {"auth": True, "secret": False, "unknown": None}.get(ptype, False)
    reloaded = 0 if ptype == "database" else _reload_named(state, name, auth=auth)
    warnings = [_nothing_reloaded(scope)] if reloaded == 0 else []
    return warnings, 202 if scope == "global" else 200


def _nothing_reloaded(scope: str) -> str:
    if scope == "global":
        return "no plugins were reloaded locally (but they may be reloaded on other nodes)"
    return "no plugins were reloaded"


def _check_plugin_xor_mounts(plugin: str, mounts: list[str]) -> None:
    if plugin and mounts:
        raise bad_request("plugin and mounts cannot be set at the same time")
    if not plugin and not mounts:
        raise bad_request("plugin or mounts must be provided")


def _reload_named(state: VaultState, name: str, *, auth: bool | None) -> int:
    """Reload by plugin name: mount-table order, stopping at the first failure. OpenBao answers that
    mount's error as it is (400, no `cannot reload plugin on` wrapper); later mounts keep running."""
    count = 0
    for entry in state.mounts_using(name, auth=auth):
        if entry.type in SINGLETON_TYPES:
            continue
        try:
            state.reload_mount(entry)
        except ApiError as exc:
            if not state.is_vault:
                raise ApiError(400, [exc.errors[0]]) from None
            raise _reload_failure(state, exc.errors[0]) from None
        count += 1
    return count


def _reload_mounts(state: VaultState, mounts: list[str]) -> None:
    errors: list[str] = []
    for raw in mounts:
        mount = raw
        if mount.startswith("sys/auth/"):
            mount = mount.removeprefix("sys/")
        if not mount.endswith("/"):
            mount += "/"
        entry = state.matching_mount(mount)
        if entry is None:
            errors.append(f'cannot fetch mount entry on "{mount}"')
            continue
        if entry.type in SINGLETON_TYPES:
            if not state.is_vault:  # Vault skips singletons silently
                errors.append(f'cannot reload plugin on "{mount}": singleton plugin cannot be reloaded: "{entry.type}"')
            continue
        try:
            state.reload_mount(entry)
        except ApiError as exc:
            errors.append(f'cannot reload plugin on "{mount}": {exc.errors[0]}')
    if errors:
        raise core_error(*errors, status=500 if state.is_vault else 400)


def _reload_failure(state: VaultState, message: str) -> ApiError:
    return core_error(message, status=500 if state.is_vault else 400)
