"""An in-process Vault 1.16+ CE / OpenBao 2.7.2 emulator (a Starlette ASGI app) for tests.

It emulates every HTTP path the `reconcile` tool uses: the plugin catalog, pins, runtimes, reload,
mounts, seal-status/health, with the wire behaviour of /work/shared/reference/vault-plugin-api.md
(§1-§9). `tests/test_emulator_conformance.py` runs one suite against both the real OpenBao 2.7.2 dev
server and this emulator in `openbao` flavor; where the reference and the real server disagree, the
emulator follows the real server. Vault-only behaviour (pins, runtimes, reload by name, pinned
mounts) follows the reference, with its per-release differences keyed on `version`.

Reference vs real OpenBao 2.7.2 - disagreements (reference says -> the server does):

 1. §2.5.1 OpenBao table, "sha256 not hex / odd length / JSON number -> Could not decode SHA-256
    value from Hex": a JSON number is first converted to its decimal text, so `"sha256": 12` is the
    valid hex "12" and answers `Decoded SHA-256 value is not 32 bytes`; only a number whose text is
    not even-length hex (e.g. `1.50`) gives `Could not decode SHA-256 value from Hex`.
 2. §8 "Sudo (root-protected) paths ... OpenBao `plugins/catalog/*`": OpenBao also requires sudo on
    `sys/auth/*` (a token with every capability but sudo on `sys/*` gets the 403 ACL body for
    `GET sys/auth/token` and `POST sys/auth/x`; `GET sys/auth` works).
 3. §6.2 / checklist 49 "a non-builtin version of a builtin -> 400 cannot select non-builtin version
    of secrets plugin <n>": only for backends compiled into the server (`kv`, `database`,
    singletons). For catalog builtins such as `pki`, `transit`, `jwt`, `userpass` the answer is
    `400 plugin not found in the catalog: pki, version=v1.0.0`.
 4. §1.1 / checklist 8 "any other HTTP method -> 405 {"errors":[]}": true for TRACE/FOO (even
    without a token), but `OPTIONS` answers `400 {"errors":["cannot handle internal-only request
    operation"]}`, and `HEAD` is authenticated (403 without a token) then 405, both with no body.

Details the reference leaves open, as observed on the real server (the emulator does the same):

 5. Register validation order on OpenBao: field types, version, builtin version, missing sha256,
    missing command, args in both, hex decode, 32-byte length, `..` in name/command, command path.
    A command whose first word is empty (`" "`) or is in a sub-directory answers `cannot execute
    files outside of configured plugin directory`; a directory name is accepted (204); a path below
    a regular file (`my-plugin/x`) answers `error while validating the command path: not a
    directory` (no lstat text); `./my-plugin/` is stored and read back as `my-plugin`.
 6. `GET .../catalog/<type>/` and `GET .../catalog/<type>?list=false` hit the typed list route with
    a read -> 405; `?list=` (empty) is a read; `?list=1` is a list. `LIST sys/plugins/reload/backend`
    -> 404 (LIST appends "/").
 7. OpenBao reload/backend: the plugin/mounts checks come before the scope check
    (`{"scope":"bogus"}` -> `plugin or mounts must be provided`); Vault checks scope first.
 8. `max_request_json_strings` counts object keys and string values: 1000 strings pass, 1001 fail.
 9. `?help` is triggered by the parameter's presence (`?help=0` too) on any verb; `see_also` is null.
10. An unknown `X-Vault-Namespace` is rejected (404 `namespace not found`) before the token check;
    the header is echoed back. The ACL check precedes routing: a token lacking capabilities gets 403
    even on unknown paths or wrong verbs (root gets 404/405).
11. Sealed: seal-status omits `cluster_name`/`cluster_id`; health answers 503 with `standby: true`
    and replication modes `unknown`.
12. Args: a JSON string is one element (`"a,b"` -> `["a,b"]`, `""` -> `[]`), numbers/bools become
    their text (`[true, null, 1.5]` -> `["1", "", "1.5"]`), form bodies join repeated keys with ",".

Public interface: see `VaultEmulator`. State lives in `tests/emulator/vault_state.py`.
"""

from __future__ import annotations

import json
import posixpath
import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal
from urllib.parse import parse_qs, quote

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Mount
from starlette.types import Receive, Scope, Send

from tests.emulator.vault_state import (
    PLUGIN_TYPES,
    ApiError,
    CatalogEntry,
    Flavor,
    MountEntry,
    PluginRuntime,
    VaultState,
    bad_request,
    core_error,
    reload_backend,
    reload_by_type,
)

__all__ = ["ApiError", "CatalogEntry", "MountEntry", "PluginRuntime", "VaultEmulator"]

FieldType = Literal["string", "slice", "comma_slice", "bool", "int", "map"]
Op = Literal["read", "list", "update", "delete", "patch", "header"]

DEFAULT_VERSIONS: dict[str, str] = {"vault": "1.17.6", "openbao": "2.7.2"}
MAX_REQUEST_SIZE = 32 * 1024 * 1024
MAX_JSON_STRINGS = 1000
_NAME = r"\w(([\w.-]+)?\w)?"
_UNSUPPORTED_PATH = "unsupported path"
_CAPABILITY = {"read": "read", "list": "list", "update": "update", "delete": "delete", "patch": "patch"}
_CAPABILITY["header"] = "read"


class JsonNumber(str):
    """A JSON number kept as its literal text, like Go's `json.Number`."""


# --------------------------------------------------------------------------- logical requests


@dataclass
class Reply:
    """A handler's non-nil response: `data` may be None (-> `"data": null`, still 200)."""

    data: dict[str, Any] | None = None
    warnings: list[str] = field(default_factory=list)
    status: int = 200


Handler = Callable[["LogicalRequest"], Reply | None]


@dataclass
class LogicalRequest:
    op: Op
    path: str  # relative to sys/
    captures: dict[str, str]
    values: dict[str, Any]  # coerced known fields (captures included)
    request_id: str
    present: set[str]

    def text(self, name: str) -> str:
        return str(self.values.get(name, ""))

    def strings(self, name: str) -> list[str]:
        return list(self.values.get(name) or [])

    def flag(self, name: str) -> bool:
        return bool(self.values.get(name, False))

    def number(self, name: str) -> int:
        return int(self.values.get(name, 0))


@dataclass
class Route:
    pattern: str
    ops: dict[str, Handler]
    fields: dict[str, FieldType] = field(default_factory=dict)
    synopsis: str = ""
    regex: re.Pattern[str] = field(init=False)

    def __post_init__(self) -> None:
        self.regex = re.compile(f"^{self.pattern}$")


# --------------------------------------------------------------------------- field coercion


def _go_type(value: Any) -> str:
    if isinstance(value, list):
        return "[]interface {}"
    if isinstance(value, dict):
        return "map[string]interface {}"
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, JsonNumber):
        return "json.Number"
    return "string"


def _to_string(value: Any, where: str = "''") -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, str):
        return str(value)
    raise ValueError(f"{where} expected type 'string', got unconvertible type '{_go_type(value)}'")


_TRUE = {"1", "t", "T", "TRUE", "true", "True"}
_FALSE = {"0", "f", "F", "FALSE", "false", "False"}


def _parse_go_bool(text: str) -> bool | None:
    return True if text in _TRUE else False if text in _FALSE else None


def _coerce(ftype: FieldType, value: Any) -> Any:
    """mapstructure's weakly-typed decode of the framework field types we use."""
    if ftype == "string":
        return _to_string(value)
    if ftype in ("slice", "comma_slice"):
        if value is None:
            return []
        if isinstance(value, str) and not isinstance(value, JsonNumber):
            if ftype == "comma_slice":
                return [p.strip() for p in value.split(",") if p.strip()]
            return [] if value == "" else [value]
        items = value if isinstance(value, list) else [value]
        errors = []
        out = []
        for i, item in enumerate(items):
            try:
                out.append(_to_string(item, f"'[{i}]'"))
            except ValueError as exc:
                errors.append(str(exc))
        if errors:
            raise ValueError("decoding failed due to the following error(s):\n\n" + "\n".join(errors))
        return out
    if ftype == "bool":
        if value is None:
            return False
        if isinstance(value, bool):
            return value
        if isinstance(value, str):
            parsed = _parse_go_bool(value)
            if parsed is None:
                raise ValueError("'' cannot parse value as 'bool': strconv.ParseBool: invalid syntax")
            return parsed
        raise ValueError(f"'' expected type 'bool', got unconvertible type '{_go_type(value)}'")
    if ftype == "int":
        if value is None:
            return 0
        if isinstance(value, bool):
            return int(value)
        if isinstance(value, str) and re.fullmatch(r"[+-]?\d+", value):
            return int(value)
        if isinstance(value, str):
            raise ValueError(f"cannot parse '' as int: strconv.ParseInt: parsing {json.dumps(value)}: invalid syntax")
        raise ValueError(f"'' expected type 'int64', got unconvertible type '{_go_type(value)}'")
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise ValueError(f"'' expected a map, got '{type(value).__name__}'")
    return value


def _count_strings(value: Any) -> int:
    if isinstance(value, dict):
        return sum(1 + _count_strings(v) for v in value.values())
    if isinstance(value, list):
        return sum(_count_strings(v) for v in value)
    return 1 if isinstance(value, str) and not isinstance(value, JsonNumber) else 0


def _go_json_error(text: str, exc: json.JSONDecodeError) -> str:
    if exc.pos >= len(text.rstrip()):
        return "unexpected EOF"
    char = text[exc.pos]
    return f"invalid character {char!r} looking for beginning of value"


# --------------------------------------------------------------------------- the emulator


class VaultEmulator:
    """A Vault 1.16+ CE (`flavor="vault"`) or OpenBao 2.7.2 (`flavor="openbao"`) server, in process.

    Attributes:
      app:       the Starlette ASGI app (serve it with `tests.servers.serve_asgi`, or httpx.ASGITransport)
      requests:  every request received, as (METHOD, path with query), in order
      state:     the `VaultState`; shortcuts below
      catalog:   (type, name, version) -> CatalogEntry of registered (external) plugins
      pins:      (type, name) -> pinned version (Vault)
      runtimes:  name -> PluginRuntime (Vault)
      mounts:    "path/" -> MountEntry (secrets engines); auth_mounts: "path/" -> MountEntry (auth)
    """

    def __init__(
        self,
        *,
        flavor: Flavor = "vault",
        version: str | None = None,
        plugin_dir: Path | None = None,
        root_token: str = "root",
    ) -> None:
        self.flavor: Flavor = flavor
        self.version = version or DEFAULT_VERSIONS[flavor]
        self.root_token = root_token
        self.state = VaultState(flavor, self.version, Path(plugin_dir) if plugin_dir is not None else None)
        self.requests: list[tuple[str, str]] = []
        self.tokens: dict[str, dict[str, set[str]] | None] = {root_token: None}
        self.cluster_id = str(uuid.uuid4())
        self.cluster_name = f"vault-cluster-{self.cluster_id[:8]}"
        self._faults: list[_Fault] = []
        self._routes = self._build_routes()
        self.app = Starlette(routes=[Mount("/", app=self._asgi)])

    # ---- state access

    @property
    def plugin_dir(self) -> Path | None:
        return self.state.plugin_dir

    @property
    def catalog(self) -> dict[tuple[str, str, str], CatalogEntry]:
        return self.state.catalog

    @property
    def pins(self) -> dict[tuple[str, str], str]:
        return self.state.pins

    @property
    def runtimes(self) -> dict[str, PluginRuntime]:
        return self.state.runtimes

    @property
    def mounts(self) -> dict[str, MountEntry]:
        return self.state.mounts

    @property
    def auth_mounts(self) -> dict[str, MountEntry]:
        return self.state.auth_mounts

    @property
    def sealed(self) -> bool:
        return self.state.sealed

    def plugin(self, ptype: str, name: str, version: str = "") -> CatalogEntry | None:
        """What a read of the catalog would return (external entry or synthesised builtin), or None."""
        return self.state.get_plugin(ptype, name, version)

    def mount(self, path: str, *, auth: bool = False) -> MountEntry | None:
        return self.state.find_mount(path, auth=auth)

    # ---- state set-up (bypassing HTTP, same validation)

    def add_token(self, token: str, policy: dict[str, set[str]]) -> None:
        """A token whose ACL is `policy`: path glob ('*' suffix = prefix, '+' = one segment) -> capabilities."""
        self.tokens[token] = {path: set(caps) for path, caps in policy.items()}

    def register_plugin(
        self,
        ptype: str,
        name: str,
        *,
        version: str = "",
        command: str | None = None,
        sha256: str | None = None,
        args: list[str] | None = None,
        env: list[str] | None = None,
        oci_image: str = "",
        runtime: str = "",
    ) -> CatalogEntry:
        """Register like `POST sys/plugins/catalog/:type/:name` (ApiError on failure); sha256 defaults to the
        file's digest when plugin_dir is set, else a fixed digest."""
        command = name if command is None else command
        if sha256 is None:
            sha256 = self.state.file_sha256(command.split(" ")[0]) or "ab" * 32
        self.state.register(
            ptype,
            name,
            version=version,
            sha256=sha256,
            command=command,
            args=args,
            env=env,
            oci_image=oci_image,
            runtime=runtime,
        )
        entry = self.state.get_plugin(ptype, name, self.state.normalise_version(version))
        assert entry is not None
        return entry

    def add_declarative_plugin(
        self,
        ptype: str,
        name: str,
        version: str,
        *,
        command: str | None = None,
        sha256: str = "ab" * 32,
        args: list[str] | None = None,
        env: list[str] | None = None,
    ) -> CatalogEntry:
        """An OpenBao config-declared plugin (`declarative: true`; version stored as written)."""
        return self.state.add_declarative(ptype, name, version, command or name, sha256, args, env)

    def add_pin(self, ptype: str, name: str, version: str) -> None:
        self.state.set_pin(ptype, name, version)

    def add_runtime(self, name: str, **fields: Any) -> PluginRuntime:
        runtime = PluginRuntime(name=name, **fields)
        self.state.set_runtime(runtime)
        return runtime

    def add_mount(self, path: str, plugin: str, *, auth: bool = False, plugin_version: str = "") -> MountEntry:
        """Enable a mount as `POST sys/mounts|auth/:path` would (version selection; running_* as just started)."""
        return self.state.enable_mount(path, plugin, auth=auth, plugin_version=plugin_version)

    def mark_broken(self, command: str) -> None:
        """The plugin file `command` exits at once (a `bash run plugin --broken` build): enabling or
        reloading a mount on it fails as on OpenBao 2.7.2 (docs/plugin-behaviour.md)."""
        self.state.broken_commands.add(command)

    def reload(self, plugin: str) -> None:
        """Restart every mount of `plugin` (as a reload by name would)."""
        reload_backend(self.state, plugin, [], "")

    def seal(self) -> None:
        self.state.sealed = True

    def unseal(self) -> None:
        """Unseal: every backend restarts, so mounts now run their resolved versions. OpenBao re-registers its
        declarative plugins first; a declared entry overwritten through the API fails the unseal (ApiError 500,
        the server stays sealed)."""
        if self.state.sealed:
            if self.flavor == "openbao":
                self.state.unseal_declarative()
            self.state.sealed = False
            self.state.reload_all()

    def inject_fault(
        self, method: str, path_regex: str, status: int, errors: list[str] | None = None, times: int = 1
    ) -> None:
        """The next `times` requests with `method` ('*' = any) whose URL path matches `re.search(path_regex)`
        get `status` and `{"errors": errors or []}` before anything else happens."""
        self._faults.append(_Fault(method.upper(), re.compile(path_regex), status, list(errors or []), times))

    # ---- ASGI

    async def _asgi(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        request = Request(scope, receive)
        response = await self._handle(request)
        if request.method.upper() == "HEAD":
            response = Response(status_code=response.status_code, media_type="application/json")
        namespace = request.headers.get("x-vault-namespace")
        if namespace is not None:
            response.headers["X-Vault-Namespace"] = namespace
        await response(scope, receive, send)

    async def _handle(self, request: Request) -> Response:
        method = request.method.upper()
        raw_path = request.scope.get("raw_path", b"").decode("latin-1").split("?", 1)[0] or request.url.path
        path = request.url.path
        query = request.scope.get("query_string", b"").decode("latin-1")
        self.requests.append((method, path + (f"?{query}" if query else "")))
        for fault in self._faults:
            if fault.times > 0 and fault.method in ("*", method) and fault.regex.search(path):
                fault.times -= 1
                return _error(fault.status, fault.errors)
        try:
            return await self._dispatch(request, method, raw_path, path, query)
        except ApiError as exc:
            return _error(exc.status, exc.errors)

    async def _dispatch(self, request: Request, method: str, raw_path: str, path: str, query: str) -> Response:
        if path == "/":
            return _redirect("/ui/")
        if not path.startswith("/v1/"):
            return _error(404, [])
        cleaned = posixpath.normpath(raw_path) + ("/" if raw_path.endswith("/") and raw_path != "/" else "")
        if cleaned.startswith("//"):
            cleaned = cleaned[1:]
        if cleaned != raw_path:
            return _redirect(cleaned + (f"?{query}" if query else ""))
        rel = path[len("/v1/") :]
        qs = parse_qs(query, keep_blank_values=True)

        # -- build the logical request (before authentication, like http/logical.go)
        op: Op
        if method == "GET":
            op = "read"
            list_value = qs.get("list", [""])[0]
            if list_value:
                parsed = _parse_go_bool(list_value)
                if parsed is None:
                    return _error(400, [])
                if parsed:
                    op = "list"
        elif method == "LIST":
            op = "list"
        elif method in ("POST", "PUT"):
            op = "update"
        elif method == "DELETE":
            op = "delete"
        elif method == "PATCH":
            op = "patch"
            ctype = request.headers.get("content-type", "")
            if ctype.split(";")[0].strip() != "application/merge-patch+json":
                return _error(415, [f"PATCH requires Content-Type of application/merge-patch+json, provided {ctype}"])
        elif method == "HEAD":
            op = "header"
        elif method == "OPTIONS":
            return _error(400, ["cannot handle internal-only request operation"])
        else:
            return _error(405, [])
        if op == "list" and not rel.endswith("/"):
            rel += "/"

        if op in ("read", "list", "delete", "header"):
            raw: dict[str, Any] = {k: (v[0] if len(v) == 1 else v) for k, v in qs.items()}
            raw.pop("list", None)
        else:
            body = await request.body()
            if len(body) > MAX_REQUEST_SIZE:
                return _error(413, ["http: request body too large"])
            raw = self._parse_body(request, body)

        # -- unauthenticated endpoints
        help_requested = "help" in qs
        if rel in ("sys/seal-status", "sys/health", "sys/unseal") and not help_requested:
            return self._unauthenticated(rel, op, qs, raw)

        if self.state.sealed:
            return _error(503, ["Vault is sealed"])

        # Vault CE ignores X-Vault-Namespace; OpenBao resolves it (only the root namespace exists here).
        namespace = request.headers.get("x-vault-namespace", "")
        if self.flavor == "openbao" and namespace.strip("/") not in ("", "root"):
            return _error(404, ["namespace not found"])

        token = request.headers.get("x-vault-token", "")
        if not token:
            for value in request.headers.getlist("authorization"):
                if value.startswith("Bearer "):
                    token = value[len("Bearer ") :].strip()
                    break
        if token not in self.tokens:
            return _error(403, ["permission denied"])
        policy = self.tokens[token]

        if help_requested:
            return self._help(rel)

        if policy is not None and not self._allowed(policy, rel, op):
            return _error(403, ["1 error occurred:\n\t* permission denied\n\n"])

        if not rel.startswith("sys/") and rel != "sys":
            entry = self.state.matching_mount(rel + ("" if rel.endswith("/") else "/"))
            if entry is None or entry.type == "system":
                return _error(404, [f'no handler for route "{rel}". route entry not found.'])
            if entry.running_sha256:
                return self._through_plugin(entry, rel, op)
            return _error(404, [_multi(_UNSUPPORTED_PATH)])

        sys_path = rel[len("sys/") :]
        route, match = self._match(sys_path)
        if route is None or match is None:
            return _error(404, [_multi(_UNSUPPORTED_PATH)])
        handler = route.ops.get(op)
        if handler is None:
            return _error(405, [_multi("unsupported operation")])

        captures = {k: v for k, v in match.groupdict().items() if v is not None}
        values: dict[str, Any] = {}
        unknown: list[str] = []
        for key, value in raw.items():
            if key == "help":
                continue
            ftype = route.fields.get(key)
            if ftype is None:
                if key not in captures:
                    unknown.append(key)
                continue
            try:
                values[key] = _coerce(ftype, value)
            except ValueError as exc:
                raise bad_request(f'Field validation failed: error converting input for field "{key}": {exc}') from None
        present = set(values) | set(captures)
        values.update(captures)
        request_id = str(uuid.uuid4())
        reply = handler(LogicalRequest(op, sys_path, captures, values, request_id, present))
        if reply is None:
            return Response(status_code=204, media_type="application/json")
        warnings = list(reply.warnings)
        if unknown:
            warnings.append(f"Endpoint ignored these unrecognized parameters: [{' '.join(sorted(unknown))}]")
        inject = sys_path in ("mounts", "auth") or sys_path.startswith(("mounts/", "auth/"))
        return self._envelope(request_id, reply.data, warnings, reply.status, inject=inject)

    def _parse_body(self, request: Request, body: bytes) -> dict[str, Any]:
        ctype = request.headers.get("content-type", "").split(";")[0].strip()
        if ctype == "application/x-www-form-urlencoded":
            form = parse_qs(body.decode("utf-8", "replace"), keep_blank_values=True)
            return {k: ",".join(v) for k, v in form.items()}
        text = body.decode("utf-8", "replace")
        if not text.strip():
            return {}
        try:
            parsed = json.loads(text, parse_int=JsonNumber, parse_float=JsonNumber)
        except json.JSONDecodeError as exc:
            raise bad_request(f"failed to decode JSON input: {_go_json_error(text, exc)}") from None
        if self.flavor == "openbao" and _count_strings(parsed) > MAX_JSON_STRINGS:
            raise bad_request("refused JSON input due to high complexity: exceeded maximum number of strings")
        if parsed is None:
            return {}
        if not isinstance(parsed, dict):
            kind = "array" if isinstance(parsed, list) else type(parsed).__name__
            raise bad_request(
                f"failed to decode JSON input: json: cannot unmarshal {kind} into Go value of type "
                "map[string]interface {}"
            )
        return parsed

    def _through_plugin(self, entry: MountEntry, rel: str, op: Op) -> Response:
        """A request routed to an external plugin's mount, answered like the test plugin (testplugin/):
        a read of `version` gives the running version and process; no backend -> 404 `backend is nil`."""
        route = rel if rel.startswith(entry.router_path) else entry.router_path
        if not entry.serving:
            return _error(404, [f'no handler for route "{route}". route entry found, but backend is nil.'])
        if op != "read":
            return _error(405, [_multi("unsupported operation")])
        if route != entry.router_path + "version":
            return _error(404, [])
        data = {"pid": entry.pid, "version": entry.running_plugin_version}
        return self._envelope(str(uuid.uuid4()), data, [], 200, inject=False)

    # ---- envelope and ACL

    def _envelope(
        self, request_id: str, data: dict[str, Any] | None, warnings: list[str], status: int, *, inject: bool
    ) -> Response:
        body: dict[str, Any] = {
            "request_id": request_id,
            "lease_id": "",
            "renewable": False,
            "lease_duration": 0,
            "data": data,
            "wrap_info": None,
            "warnings": warnings or None,
            "auth": None,
        }
        if self.state.vault_at_least(1, 15):
            body["mount_type"] = "system"
        if inject and data is not None:
            body = {**data, **body}
        return _json(status, body)

    def _allowed(self, policy: dict[str, set[str]], rel: str, op: Op) -> bool:
        caps = _policy_capabilities(policy, rel)
        if "deny" in caps or _CAPABILITY[op] not in caps:
            return False
        return not self._needs_sudo(rel) or "sudo" in caps

    def _needs_sudo(self, rel: str) -> bool:
        prefixes = ["sys/auth/", "sys/plugins/catalog/"]
        if self.flavor == "vault":
            prefixes.append("sys/plugins/runtimes/catalog/")
        return rel == "sys/seal" or rel.startswith(tuple(prefixes))

    # ---- unauthenticated endpoints and help

    def _unauthenticated(self, rel: str, op: Op, qs: dict[str, list[str]], raw: dict[str, Any]) -> Response:
        if rel == "sys/seal-status" and op == "read":
            return _json(200, self._seal_status())
        if rel == "sys/unseal" and op == "update":
            if not raw.get("key") and not raw.get("reset"):
                return _error(400, ["'key' must be specified in request body as JSON, or 'reset' set to true"])
            self.unseal()
            return _json(200, self._seal_status())
        if rel == "sys/health" and op in ("read", "header"):
            return self._health(qs)
        return _error(405, [_multi("unsupported operation")])

    def _seal_status(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "type": "shamir",
            "initialized": True,
            "sealed": self.state.sealed,
            "t": 1,
            "n": 1,
            "progress": 0,
            "nonce": "",
            "recovery_seal": False,
            "version": self.version,
        }
        if self.flavor == "vault":
            body["build_date"] = "2024-09-24T19:48:40Z"
        else:
            body["commit_date"] = "2026-10-26T20:32:27Z"
        body["migration"] = False
        if not self.state.sealed:
            body["cluster_name"] = self.cluster_name
            body["cluster_id"] = self.cluster_id
        body["storage_type"] = "inmem"
        return body

    def _health(self, qs: dict[str, list[str]]) -> Response:
        import time

        sealed = self.state.sealed
        mode = "unknown" if sealed else "disabled"
        body: dict[str, Any] = {
            "initialized": True,
            "sealed": sealed,
            "standby": sealed,
        }
        if self.flavor == "vault":
            body["performance_standby"] = False
        body |= {
            "replication_performance_mode": mode,
            "replication_dr_mode": mode,
            "server_time_utc": int(time.time()),
            "version": self.version,
        }
        if self.state.vault_at_least(1, 16):
            body["enterprise"] = False
        if not sealed:
            body["cluster_name"] = self.cluster_name
            body["cluster_id"] = self.cluster_id
        if self.flavor == "vault":
            body |= {"echo_duration_ms": 0, "clock_skew_ms": 0, "replication_primary_canary_age_ms": 0}
        code_param = "sealedcode" if sealed else "activecode"
        status = 503 if sealed else 200
        if code_param in qs:
            try:
                status = int(qs[code_param][0])
            except ValueError:
                return _error(400, [f"unable to parse {code_param} value: {qs[code_param][0]}"])
        return _json(status, body)

    def _help(self, rel: str) -> Response:
        if not rel.startswith("sys/"):
            return _error(404, [_multi(_UNSUPPORTED_PATH)])
        sys_path = rel[len("sys/") :]
        route, _ = self._match(sys_path)
        if route is None:
            return _error(404, [_multi(_UNSUPPORTED_PATH)])
        product = "HashiCorp Vault" if self.flavor == "vault" else "OpenBao"
        methods = {"read": "get", "list": "get", "update": "post", "delete": "delete"}
        operations = {
            methods[op]: {"summary": route.synopsis, "responses": {"200": {"description": "OK"}}} for op in route.ops
        }
        body = {
            "help": f"Request:        {sys_path}\nMatching Route: ^{route.pattern}$\n\n{route.synopsis}\n",
            "openapi": {
                "openapi": "3.0.2",
                "info": {"title": f"{product} API", "version": self.version},
                "paths": {
                    _openapi_path(route.pattern): {
                        "description": route.synopsis,
                        "x-vault-sudo": self._needs_sudo(rel),
                        **operations,
                    }
                },
            },
            "see_also": None,
        }
        return _json(200, body)

    # ---- routing

    def _match(self, sys_path: str) -> tuple[Route | None, re.Match[str] | None]:
        for route in self._routes:
            match = route.regex.match(sys_path)
            if match:
                return route, match
        return None, None

    def _build_routes(self) -> list[Route]:
        vault = self.flavor == "vault"
        catalog_fields: dict[str, FieldType] = {
            "name": "string",
            "type": "string",
            "sha256": "string",
            "sha_256": "string",
            "command": "string",
            "args": "slice",
            "env": "slice",
            "version": "string",
        }
        if vault and self.state.vault_at_least(1, 15):
            catalog_fields |= {"oci_image": "string", "runtime": "string"}
            if self.state.vault_at_least(1, 20, 1):
                catalog_fields["download"] = "bool"
        else:
            catalog_fields["oci"] = "bool"
        mount_fields: dict[str, FieldType] = {
            "path": "string",
            "type": "string",
            "description": "string",
            "config": "map",
            "options": "map",
            "local": "bool",
            "seal_wrap": "bool",
            "external_entropy_access": "bool",
            "plugin_name": "string",
            "plugin_version": "string",
        }
        tune_fields: dict[str, FieldType] = {
            "path": "string",
            "description": "string",
            "plugin_version": "string",
            "default_lease_ttl": "string",
            "max_lease_ttl": "string",
            "options": "map",
        }
        routes = [
            Route(
                "plugins/catalog/?", {"read": self._catalog_list_all}, synopsis="Lists all the plugins known to Vault"
            ),
            Route(
                "plugins/catalog/(?P<type>auth|database|secret)/?",
                {"list": self._catalog_list_typed},
                {"type": "string"},
                synopsis="Lists the plugins of one type",
            ),
            Route(
                "plugins/catalog(/(?P<type>auth|database|secret))?/(?P<name>.+)",
                {"read": self._catalog_read, "update": self._catalog_update, "delete": self._catalog_delete},
                catalog_fields,
                synopsis="Configures the plugins known to " + ("Vault" if vault else "OpenBao"),
            ),
            Route(
                "plugins/reload/backend",
                {"update": self._reload_backend},
                {"plugin": "string", "mounts": "comma_slice", "scope": "string"},
                synopsis="Reload mounted plugin backends.",
            ),
        ]
        if vault:
            routes.append(
                Route(
                    "plugins/reload/backend/status",
                    {"read": self._enterprise_only},
                    {"reload_id": "string"},
                    synopsis="Get the status of a cluster-scoped reload.",
                )
            )
        if self.state.vault_at_least(1, 16):  # pins and reload by type/name
            routes += [
                Route(
                    f"plugins/reload/(?P<type>auth|database|secret|unknown)/(?P<name>{_NAME})",
                    {"update": self._reload_typed},
                    {"type": "string", "name": "string", "scope": "string"},
                    synopsis="Reload all instances of a specific plugin.",
                ),
                Route("plugins/pins/?", {"read": self._pins_list}, synopsis="Get the list of pinned plugin versions"),
                Route(
                    f"plugins/pins/(?P<type>auth|database|secret)/(?P<name>{_NAME})",
                    {"read": self._pin_read, "update": self._pin_write, "delete": self._pin_delete},
                    {"type": "string", "name": "string", "version": "string"},
                    synopsis="Pin a plugin version",
                ),
            ]
        if self.state.vault_at_least(1, 15):  # plugin runtimes
            routes += [
                Route(
                    "plugins/runtimes/catalog/?",
                    {"read": self._runtimes_list, "list": self._runtimes_list},
                    {"type": "string"},
                    synopsis="List all plugin runtimes",
                ),
                Route(
                    f"plugins/runtimes/catalog/(?P<type>container)/(?P<name>{_NAME})",
                    {"read": self._runtime_read, "update": self._runtime_write, "delete": self._runtime_delete},
                    {
                        "type": "string",
                        "name": "string",
                        "oci_runtime": "string",
                        "cgroup_parent": "string",
                        "cpu_nanos": "int",
                        "memory_bytes": "int",
                        "rootless": "bool",
                    },
                    synopsis="Configures plugin runtimes",
                ),
            ]
        routes += [
            Route("mounts", {"read": self._mounts_list(auth=False)}, synopsis="List the currently mounted backends."),
            Route(
                "mounts/(?P<path>.+?)/tune/?",
                {"read": self._tune_read(auth=False), "update": self._tune_write(auth=False)},
                tune_fields,
                synopsis="Tune backend configuration parameters for this mount.",
            ),
            Route(
                "mounts/(?P<path>.+?)",
                {
                    "read": self._mount_read(auth=False),
                    "update": self._mount_enable(auth=False),
                    "delete": self._mount_disable(auth=False),
                },
                mount_fields,
                synopsis="Mount a new backend at a new path.",
            ),
            Route(
                "auth",
                {"read": self._mounts_list(auth=True)},
                synopsis="List the currently enabled credential backends.",
            ),
            Route(
                "auth/(?P<path>.+?)/tune/?",
                {"read": self._tune_read(auth=True), "update": self._tune_write(auth=True)},
                tune_fields,
                synopsis="Tune configuration parameters for a given auth path.",
            ),
            Route(
                "auth/(?P<path>.+?)",
                {
                    "read": self._mount_read(auth=True),
                    "update": self._mount_enable(auth=True),
                    "delete": self._mount_disable(auth=True),
                },
                mount_fields,
                synopsis="Enables a new auth method.",
            ),
            Route("seal-status", {"read": self._seal_status_route}, synopsis="Returns the seal status."),
            Route("health", {"read": self._seal_status_route}, synopsis="Checks the health status."),
            Route("seal", {"update": self._seal_route}, synopsis="Seal the server."),
            Route(
                "unseal", {"update": self._seal_status_route}, {"key": "string", "reset": "bool"}, synopsis="Unseal."
            ),
            Route(
                "version-history/?",
                {"list": self._version_history},
                synopsis="Returns map of historical version change entries",
            ),
        ]
        return routes

    # ---- catalog handlers

    def _catalog_list_all(self, req: LogicalRequest) -> Reply:
        data: dict[str, Any] = {}
        detailed: list[dict[str, Any]] = []
        for ptype in PLUGIN_TYPES:
            names = self.state.plugin_names(ptype)
            if names:
                data[ptype] = names
            detailed += [self._detailed(e) for e in self.state.list_versioned(ptype)]
        if detailed:
            data["detailed"] = detailed
        return Reply(data)

    def _detailed(self, entry: CatalogEntry) -> dict[str, Any]:
        item: dict[str, Any] = {
            "builtin": entry.builtin,
            "name": entry.name,
            "type": entry.type,
            "version": entry.version,
        }
        if entry.sha256:
            item["sha256"] = entry.sha256
        if entry.builtin:
            item["deprecation_status"] = entry.deprecation_status
        if self.flavor == "vault":
            if entry.oci_image:
                item["oci_image"] = entry.oci_image
            if entry.runtime:
                item["runtime"] = entry.runtime
        return item

    def _catalog_list_typed(self, req: LogicalRequest) -> Reply:
        return Reply({"keys": self.state.plugin_names(req.text("type"))})

    def _catalog_read(self, req: LogicalRequest) -> Reply | None:
        name = req.text("name").rstrip("/")
        ptype = req.captures.get("type", "")
        if not ptype:
            return Reply(None, [f"Deprecated API endpoint, cannot read plugin information from catalog for {_q(name)}"])
        version = self.state.normalise_version(req.text("version"))
        entry = self.state.get_plugin(ptype, name, version)
        if entry is None:
            raise _not_found_error()
        command = "" if entry.builtin else entry.command
        if not entry.builtin and not entry.oci_image and not entry.declarative:
            command = posixpath.normpath(command) if command else "."
        data: dict[str, Any] = {
            "args": entry.args,
            "builtin": entry.builtin,
            "command": command,
            "name": entry.name,
            "sha256": entry.sha256,
            "version": entry.version,
        }
        if entry.builtin:
            data["deprecation_status"] = entry.deprecation_status
        if self.flavor == "openbao":
            data["oci"] = entry.oci
            data["declarative"] = entry.declarative
        else:
            if entry.oci_image:
                data["oci_image"] = entry.oci_image
            if entry.runtime:
                data["runtime"] = entry.runtime
        return Reply(dict(sorted(data.items())))

    def _catalog_update(self, req: LogicalRequest) -> Reply | None:
        name = req.text("name")
        ptype = req.captures.get("type", "") or "unknown"
        sha256 = req.text("sha256") or req.text("sha_256")
        warnings = self.state.register(
            ptype,
            name,
            version=req.text("version"),
            sha256=sha256,
            command=req.text("command"),
            args=req.strings("args"),
            env=req.strings("env"),
            oci=req.flag("oci"),
            oci_image=req.text("oci_image"),
            runtime=req.text("runtime"),
            download=req.flag("download"),
        )
        return Reply(None, warnings) if warnings else None

    def _catalog_delete(self, req: LogicalRequest) -> Reply | None:
        name = req.text("name").rstrip("/")
        ptype = req.captures.get("type", "")
        if not ptype:  # legacy untyped path: deletes type "unknown" entries, which are never stored here
            self.state.delete_plugin("unknown", name, req.text("version"))
            return Reply(None, [f"Deprecated API endpoint, cannot deregister plugin from catalog for {_q(name)}"])
        self.state.delete_plugin(ptype, name, req.text("version"))
        return None

    # ---- reload handlers

    def _reload_backend(self, req: LogicalRequest) -> Reply:
        warnings, status = reload_backend(self.state, req.text("plugin"), req.strings("mounts"), req.text("scope"))
        return Reply({"reload_id": req.request_id}, warnings, status)

    def _reload_typed(self, req: LogicalRequest) -> Reply:
        warnings, status = reload_by_type(self.state, req.text("type"), req.text("name"), req.text("scope"))
        return Reply({"reload_id": req.request_id}, warnings, status)

    def _enterprise_only(self, req: LogicalRequest) -> Reply:
        raise ApiError(404, ["enterprise-only feature"])

    # ---- pins and runtimes (Vault)

    def _pins_list(self, req: LogicalRequest) -> Reply:
        return Reply({"pinned_versions": self.state.list_pins()})

    def _pin_read(self, req: LogicalRequest) -> Reply:
        return Reply(self.state.get_pin(req.text("type"), req.text("name")))

    def _pin_write(self, req: LogicalRequest) -> Reply:
        self.state.set_pin(req.text("type"), req.text("name"), req.text("version"))
        return Reply(None)

    def _pin_delete(self, req: LogicalRequest) -> Reply:
        self.state.delete_pin(req.text("type"), req.text("name"))
        return Reply(None)

    def _runtimes_list(self, req: LogicalRequest) -> Reply:
        rtype = req.text("type")
        if rtype and rtype != "container":
            raise bad_request(f'"{rtype}" is not a supported plugin runtime type')
        rootless = self.state.vault_at_least(1, 16)
        runtimes = [r.as_data(rootless=rootless) for _, r in sorted(self.state.runtimes.items())]
        if not runtimes and not rootless:  # Vault 1.15 omitted the empty key, so LIST found nothing
            if req.op == "list":
                raise _not_found_error()
            return Reply({})
        return Reply({"runtimes": runtimes})

    def _runtime_read(self, req: LogicalRequest) -> Reply:
        runtime = self.state.runtimes.get(req.text("name"))
        if runtime is None:
            raise _not_found_error()
        return Reply(runtime.as_data(rootless=self.state.vault_at_least(1, 16)))

    def _runtime_write(self, req: LogicalRequest) -> None:
        self.state.set_runtime(
            PluginRuntime(
                name=req.text("name"),
                oci_runtime=req.text("oci_runtime"),
                cgroup_parent=req.text("cgroup_parent"),
                cpu_nanos=req.number("cpu_nanos"),
                memory_bytes=req.number("memory_bytes"),
                rootless=req.flag("rootless"),
            )
        )

    def _runtime_delete(self, req: LogicalRequest) -> None:
        self.state.delete_runtime(req.text("name"))

    # ---- mounts

    def _mounts_list(self, *, auth: bool) -> Handler:
        def handler(req: LogicalRequest) -> Reply:
            return Reply({path: self.state.mount_info(e) for path, e in self.state.table(auth).items()})

        return handler

    def _mount_read(self, *, auth: bool) -> Handler:
        def handler(req: LogicalRequest) -> Reply:
            entry = self.state.find_mount(req.text("path"), auth=auth)
            if entry is None:
                kind = "auth engine" if auth else "secret engine mount"
                raise bad_request(f"No {kind} at {req.text('path').strip('/')}/")
            return Reply(self.state.mount_info(entry))

        return handler

    def _mount_enable(self, *, auth: bool) -> Handler:
        def handler(req: LogicalRequest) -> None:
            config = req.values.get("config") or {}
            version = config.get("plugin_version", "") if isinstance(config, dict) else ""
            options = req.values.get("options") or {}
            self.state.enable_mount(
                req.text("path"),
                req.text("type"),
                auth=auth,
                plugin_version=_coerce("string", version),
                description=req.text("description"),
                options={str(k): _coerce("string", v) for k, v in options.items()},
            )

        return handler

    def _mount_disable(self, *, auth: bool) -> Handler:
        def handler(req: LogicalRequest) -> None:
            self.state.disable_mount(req.text("path"), auth=auth)

        return handler

    def _tune_read(self, *, auth: bool) -> Handler:
        def handler(req: LogicalRequest) -> Reply:
            entry = self.state.find_mount(req.text("path"), auth=auth)
            if entry is None:
                raise bad_request(f'cannot fetch sysview for path "{req.text("path").strip("/")}/"')
            return Reply(self.state.tune_info(entry))

        return handler

    def _tune_write(self, *, auth: bool) -> Handler:
        def handler(req: LogicalRequest) -> None:
            entry = self.state.find_mount(req.text("path"), auth=auth)
            if entry is None:
                raise bad_request(f'tune of path "{req.text("path").strip("/")}/" failed: no mount entry found')
            if "plugin_version" in req.present:
                self.state.tune_plugin_version(req.text("path"), req.text("plugin_version"), auth=auth)
            if "description" in req.present:
                entry.description = req.text("description")

        return handler

    # ---- misc sys

    def _seal_status_route(self, req: LogicalRequest) -> Reply:  # only reached through ?help
        raise core_error(_UNSUPPORTED_PATH, status=404)

    def _seal_route(self, req: LogicalRequest) -> None:
        self.seal()

    def _version_history(self, req: LogicalRequest) -> Reply:
        date_key = "build_date" if self.flavor == "vault" else "commit_date"
        info = {
            self.version: {
                date_key: self._seal_status()[date_key],
                "previous_version": None,
                "timestamp_installed": "2026-01-01T00:00:00Z",
            }
        }
        return Reply({"keys": [self.version], "key_info": info})


# --------------------------------------------------------------------------- helpers


@dataclass
class _Fault:
    method: str
    regex: re.Pattern[str]
    status: int
    errors: list[str]
    times: int


def _multi(message: str) -> str:
    return f"1 error occurred:\n\t* {message}\n\n"


def _q(text: str) -> str:
    return json.dumps(text)


def _json(status: int, body: Any) -> Response:
    return Response(
        json.dumps(body, separators=(",", ":")),
        status_code=status,
        media_type="application/json",
        headers={"Cache-Control": "no-store"},
    )


def _error(status: int, errors: list[str]) -> Response:
    return _json(status, {"errors": errors})


def _not_found_error() -> ApiError:
    return ApiError(404, [])


def _redirect(location: str) -> Response:
    href = quote(location, safe="/?=&%:+@-._~")
    return Response(
        f'<a href="{href}">Temporary Redirect</a>.\n\n',
        status_code=307,
        media_type="text/html; charset=utf-8",
        headers={"Location": location},
    )


def _openapi_path(pattern: str) -> str:
    """`plugins/catalog(/(?P<type>a|b))?/(?P<name>.+)` -> `/plugins/catalog/{type}/{name}`."""
    out: list[str] = []
    i = 0
    while i < len(pattern):
        if pattern.startswith("(?P<", i):
            end = pattern.index(">", i)
            out.append("{" + pattern[i + 4 : end] + "}")
            depth, i = 1, end + 1
            while depth:
                depth += {"(": 1, ")": -1}.get(pattern[i], 0)
                i += 1
        elif pattern[i] in "()?":
            i += 1
        else:
            out.append(pattern[i])
            i += 1
    return "/" + "".join(out).rstrip("/")


def _policy_capabilities(policy: dict[str, set[str]], path: str) -> set[str]:
    """Vault ACL: an exact rule wins, else the highest-priority glob ('*' suffix, '+' segment)."""
    if path in policy:
        return policy[path]
    best: tuple[tuple[int, int, int, int, str], set[str]] | None = None
    for pattern, caps in policy.items():
        regex = "^" + "/".join("[^/]+" if seg == "+" else re.escape(seg) for seg in pattern.rstrip("*").split("/"))
        regex += ".*$" if pattern.endswith("*") else "$"
        if not re.match(regex, path):
            continue
        wildcards = [i for i, c in enumerate(pattern) if c in "+*"]
        rank = (
            wildcards[0] if wildcards else len(pattern),
            0 if pattern.endswith("*") else 1,
            -pattern.count("+"),
            len(pattern),
            pattern,
        )
        if best is None or rank > best[0]:
            best = (rank, caps)
    return best[1] if best else set()
