"""The targets file, `reconcile.yaml`: which clusters one repository manages (issue #15).

```yaml
targets:
  - name: staging                                   # letters, digits, '-' and '_'; unique
    address: https://vault.staging.example.com:8200 # no credentials: secrets never live here
    namespace: ""                                   # optional
    manifests: [manifests/base, manifests/staging]  # union of these paths, relative to this file
    auth: {method: jwt, role: reconcile-staging}    # optional login settings (no secrets)
    nomad_address: https://nomad.staging.example.com:4646   # optional
```

Read like manifests: every problem at once as `path:line: message`, nothing sent when there is one.
Tokens and login inputs come from the environment (`environ.py`), never from this file.
"""

from __future__ import annotations

import os
import re
import stat
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, TypeGuard

import yaml
from pydantic import BaseModel, Field, ValidationError, field_validator

from reconciler import fleet
from reconciler.errors import Diagnostic, ManifestError, UsageError
from reconciler.http import settings
from reconciler.http.address import display
from reconciler.kinds.fields import Doc, Text
from reconciler.yamlread import Budget, Converter, compose, dotted, friendly, line_for, yaml_message

DEFAULT_FILE = Path(fleet.DEFAULT_FILE)
"""Looked for in the working directory when `--config` is not given."""
MAX_BYTES = 1024 * 1024
NAME_RE = re.compile(r"[A-Za-z][A-Za-z0-9_-]{0,62}")

SECRET_KEYS = {
    "token": "VAULT_TOKEN",
    "secret_id": "VAULT_SECRET_ID",
    "role_id": "VAULT_ROLE_ID",
    "jwt": "VAULT_AUTH_JWT",
    "nomad_token": "NOMAD_TOKEN",
}
"""Keys people may try to put secrets under, and the variable that holds that secret instead."""
_SECRET_WORDS = ("token", "secret", "password", "jwt", "credential")


class AuthDoc(Doc):
    """How reconcile logs in to this target: the same settings as the VAULT_AUTH_* variables."""

    method: Literal["token", "approle", "jwt", "kubernetes"] = Field(description="VAULT_AUTH_METHOD.")
    path: Text = Field(default="", description="Mount path of the auth method (VAULT_AUTH_PATH).")
    role: Text = Field(default="", description="Role to log in as (VAULT_AUTH_ROLE).")
    audience: Text = Field(default="", description="jwt: audience of the GitHub OIDC token (VAULT_AUTH_JWT_AUDIENCE).")


class TargetDoc(Doc):
    """One cluster: where it is, and which manifests describe it."""

    name: Text = Field(description="Letters, digits, '-' and '_', starting with a letter; unique.")
    address: Text = Field(description="Vault/OpenBao address, without credentials.")
    manifests: list[Text] = Field(min_length=1, description="Manifest files or folders, relative to this file.")
    namespace: Text | None = Field(default=None, description="Vault namespace (VAULT_NAMESPACE); '' for none.")
    auth: AuthDoc | None = None
    nomad_address: Text | None = Field(default=None, description="Nomad address (NOMAD_ADDR).")

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        if not NAME_RE.fullmatch(value):
            raise ValueError(
                f"invalid target name {value!r}: use letters, digits, '-' and '_', starting with a letter "
                "(at most 63 characters)"
            )
        return value


class TargetsDoc(Doc):
    """The whole file. Each target is validated alone (`TargetDoc`), so one bad target spares the rest."""

    targets: list[Any] = Field(min_length=1, description="The targets, in the order runs show them.")


@dataclass(frozen=True)
class Auth:
    """Login settings of a target (no secrets: those come from the environment)."""

    method: str
    path: str = ""
    role: str = ""
    audience: str = ""


@dataclass(frozen=True)
class Target:
    """One target of the file, with its paths resolved against the file's folder."""

    name: str
    address: str
    manifests: tuple[Path, ...]
    namespace: str | None = None
    auth: Auth | None = None
    nomad_address: str | None = None

    @property
    def env_prefix(self) -> str:
        """`RECONCILE_<NAME>_`: variables with this prefix apply to this target only (environ.py)."""
        return env_prefix(self.name)


def env_prefix(name: str) -> str:
    """`prod-eu` -> `RECONCILE_PROD_EU_`."""
    return "RECONCILE_" + name.upper().replace("-", "_") + "_"


@dataclass(frozen=True)
class Fleet:
    """The targets of one file, in the file's order."""

    path: Path
    targets: tuple[Target, ...]
    readable: tuple[tuple[Path, ...], ...] = ()
    """The manifests of every target whose paths are fine, also of targets with other problems:
    `validate` reads them all, so every problem shows at once."""

    def select(self, names: Sequence[str]) -> tuple[Target, ...]:
        """The targets named (in the file's order); all of them when `names` is empty."""
        if not names:
            return self.targets
        known = {t.name: t for t in self.targets}
        unknown = [n for n in names if n not in known]
        if unknown:
            import difflib

            close = difflib.get_close_matches(unknown[0], list(known), n=1)
            hint = f"did you mean {close[0]!r}? " if close else ""
            raise UsageError(
                f"--target {unknown[0]}: no such target in {self.path}",
                hint=f"{hint}the targets are: {', '.join(known)}",
            )
        wanted = set(names)
        return tuple(t for t in self.targets if t.name in wanted)


def load(path: Path) -> Fleet:
    """The targets file; ManifestError with every problem when there is any."""
    fleet, problems = read(path)
    if problems:
        raise ManifestError(problems, what=str(path))
    return fleet


def read(path: Path) -> tuple[Fleet, list[Diagnostic]]:
    """The valid targets of the file and every problem found (`validate` adds the manifests')."""
    name = str(path)
    text, problem = _text(path)
    if problem is not None:
        return Fleet(path, ()), [problem]
    try:
        nodes, aliases = compose(text, fast=False)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        return Fleet(path, ()), [Diagnostic(name, mark.line + 1 if mark else 0, yaml_message(exc))]
    except (yaml.YAMLError, RecursionError) as exc:
        return Fleet(path, ()), [Diagnostic(name, 0, f"invalid YAML: {exc}")]
    if len(nodes) != 1:
        return Fleet(path, ()), [Diagnostic(name, 0, "must hold exactly one YAML document (a mapping with targets:)")]
    converter = Converter(name, aliases, Budget())
    data = converter.convert(nodes[0], ())
    if converter.problems:
        return Fleet(path, ()), converter.problems
    if not isinstance(data, dict):
        return Fleet(path, ()), [Diagnostic(name, 1, "must be a mapping with targets:")]
    return _validated(path, data, converter)


def _text(path: Path) -> tuple[str, Diagnostic | None]:
    name = str(path)
    try:
        info = path.stat()
        if not stat.S_ISREG(info.st_mode):
            return "", Diagnostic(name, 0, "cannot read: not a regular file")
        if info.st_size > MAX_BYTES:
            return "", Diagnostic(name, 0, f"file is too large ({info.st_size} bytes; the limit is {MAX_BYTES})")
        data = path.read_bytes()
    except OSError as exc:
        return "", Diagnostic(name, 0, f"cannot read: {exc.strerror or exc}")
    try:
        return data.decode("utf-8-sig"), None
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        return "", Diagnostic(name, line, f"not valid UTF-8 (byte 0x{data[exc.start]:02x})")


def _validated(path: Path, data: dict[str, Any], conv: Converter) -> tuple[Fleet, list[Diagnostic]]:
    problems: list[Diagnostic] = []
    try:
        rows = TargetsDoc.model_validate(data).targets
    except ValidationError as exc:
        problems += _diagnostics(path, exc, conv, ())
        given = data.get("targets")
        rows = given if isinstance(given, list) else []
    targets: list[Target] = []
    readable: list[tuple[Path, ...]] = []
    seen: dict[str, tuple[str, int]] = {}
    for index, row in enumerate(rows):
        at: tuple[str | int, ...] = ("targets", index)
        found = _checked(path, row, conv, at) if isinstance(row, dict) else []
        doc = None
        try:
            doc = TargetDoc.model_validate(row)
        except ValidationError as exc:
            found += _diagnostics(path, exc, conv, at)
        name = row.get("name") if isinstance(row, dict) else None
        if isinstance(name, str) and NAME_RE.fullmatch(name):
            line = line_for(at, conv.lines)
            key = env_prefix(name)
            if key in seen:
                clash = f"target {name!r}: same name as {seen[key][0]!r} (line {seen[key][1]})"
                found.append(Diagnostic(str(path), line, clash))
            seen.setdefault(key, (name, line))
        problems += found
        if doc is not None and not found:
            targets.append(_target(path, doc))
        paths = row.get("manifests") if isinstance(row, dict) else None
        if _strings(paths) and not _paths(path, paths, conv, at):
            readable.append(tuple(path.parent / p for p in paths))
    return Fleet(path, tuple(targets), tuple(readable)), problems


def _checked(path: Path, row: dict[str, Any], conv: Converter, at: tuple[str | int, ...]) -> list[Diagnostic]:
    """The checks pydantic cannot make (addresses, header values, the manifests paths), on the raw
    row: a target with a schema problem still gets these checks, so every problem shows at once."""
    problems: list[Diagnostic] = []
    name = str(row.get("name"))
    prefix = env_prefix(name) if NAME_RE.fullmatch(name) else "RECONCILE_<TARGET>_"

    def problem(key: str, message: str) -> None:
        problems.append(Diagnostic(str(path), line_for((*at, key), conv.lines), f"{dotted((*at, key))}: {message}"))

    for key, variable in (("address", "VAULT_ADDR"), ("nomad_address", "NOMAD_ADDR")):
        value = row.get(key)
        if not isinstance(value, str):
            continue
        if display(value) != value.strip():
            problem(
                key,
                "must not hold credentials (user:password@): secrets never live in this file; "
                f"set {prefix}{variable} instead",
            )
            continue
        try:
            settings.address(settings.Setting(value, "address"), "")
        except UsageError as exc:
            problem(key, str(exc).removeprefix("address: "))
    namespace = row.get("namespace")
    if isinstance(namespace, str) and not all(0x20 <= ord(c) <= 0x7E for c in namespace):
        problem("namespace", "must be printable ASCII (it is sent as a header)")
    paths = row.get("manifests")
    if isinstance(paths, list) and all(isinstance(p, str) for p in paths):
        problems += _paths(path, paths, conv, at)
    return problems


def _paths(path: Path, manifests: list[str], conv: Converter, at: tuple[str | int, ...]) -> list[Diagnostic]:
    """Each manifests path exists, and none is listed twice or lies inside another (read twice)."""
    problems: list[Diagnostic] = []
    resolved: list[tuple[int, Path]] = []
    for i, raw in enumerate(manifests):
        line = line_for((*at, "manifests", i), conv.lines)
        where = dotted((*at, "manifests", i))
        if not raw.strip():
            problems.append(Diagnostic(str(path), line, f"{where}: must not be empty"))
            continue
        full = path.parent / raw
        if not os.path.lexists(full):
            problems.append(Diagnostic(str(path), line, f"{where}: {full}: no such file or directory"))
            continue
        real = full.resolve()
        for j, other in resolved:
            if real == other or other in real.parents or real in other.parents:
                inside = "is the same as" if real == other else ("is inside" if other in real.parents else "holds")
                problems.append(
                    Diagnostic(
                        str(path),
                        line,
                        f"{where}: {full} {inside} manifests[{j}] ({path.parent / manifests[j]}): "
                        "its manifests would be read twice",
                    )
                )
        resolved.append((i, real))
    return problems


def _strings(value: object) -> TypeGuard[list[str]]:
    return isinstance(value, list) and bool(value) and all(isinstance(v, str) for v in value)


def _target(path: Path, doc: TargetDoc) -> Target:
    auth = doc.auth
    return Target(
        name=doc.name,
        address=settings.address(settings.Setting(doc.address, "address"), ""),
        manifests=tuple(path.parent / p for p in doc.manifests),
        namespace=doc.namespace,
        auth=Auth(auth.method, auth.path, auth.role, auth.audience) if auth else None,
        nomad_address=settings.address(settings.Setting(doc.nomad_address, "nomad_address"), "")
        if doc.nomad_address
        else None,
    )


def _model_at(loc: tuple[str | int, ...]) -> type[BaseModel] | None:
    """The model of the mapping at `loc` (for "did you mean" on unknown keys)."""
    keys = [part for part in loc if isinstance(part, str)]
    models: dict[tuple[str, ...], type[BaseModel]] = {
        (): TargetsDoc,
        ("targets",): TargetDoc,
        ("targets", "auth"): AuthDoc,
    }
    return models.get(tuple(keys))


def _diagnostics(path: Path, exc: ValidationError, conv: Converter, at: tuple[str | int, ...]) -> list[Diagnostic]:
    out = []
    for err in exc.errors(include_url=False):
        loc = (*at, *err["loc"])
        line = line_for(loc, conv.lines)
        key = str(loc[-1])
        if err["type"] == "extra_forbidden" and _secret_key(key):
            variable = SECRET_KEYS.get(key.lower(), "")
            name = _row_name(conv, at)
            where = (
                f"{env_prefix(name)}{variable} (this target) or {variable} (every target)"
                if variable and name
                else (f"{variable} or RECONCILE_<TARGET>_{variable}" if variable else "the environment")
            )
            out.append(
                Diagnostic(str(path), line, f"{dotted(loc)}: secrets never live in this file: set {where} instead")
            )
            continue
        model = _model_at(loc[:-1])
        vocabulary = sorted(model.model_fields) if model is not None else []
        message = friendly(err, conv.raw.get(loc), vocabulary)
        out.append(Diagnostic(str(path), line, f"{dotted(loc)}: {message}" if loc else message))
    return out


def _secret_key(key: str) -> bool:
    return key.lower() in SECRET_KEYS or any(word in key.lower() for word in _SECRET_WORDS)


def _row_name(conv: Converter, at: tuple[str | int, ...]) -> str:
    raw = conv.raw.get((*at[:2], "name"), "")
    return raw if NAME_RE.fullmatch(raw) else ""
