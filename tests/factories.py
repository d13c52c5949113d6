"""Small builders for pure-stage tests (no server)."""

from __future__ import annotations

from pydantic import SecretStr

from reconciler.live import Live
from reconciler.manifest import Desired
from reconciler.resources import Mount, Pin, Plugin, PluginType, Runtime, ServerInfo, Settings, State

SHA1 = "1" * 64
SHA2 = "2" * 64

OPENBAO = ServerInfo(kind="openbao", version="2.7.2")
VAULT = ServerInfo(kind="vault", version="1.17.6", pins=True, runtimes=True, reload_by_name=True)


def plugin(
    name: str = "kv-extra", version: str = "v1.0.0", *, t: str = "secret", sha: str = SHA1, **kw: object
) -> Plugin:
    fields: dict[str, object] = {
        "type": PluginType(t),
        "name": name,
        "version": version,
        "sha256": sha,
        "command": name,
    }
    fields.update(kw)
    if "env" in fields and isinstance(fields["env"], dict):
        fields["env"] = {k: SecretStr(str(v)) for k, v in fields["env"].items()}
    return Plugin.model_validate(fields)


def live_plugin(name: str = "kv-extra", version: str = "v1.0.0", **kw: object) -> Plugin:
    return plugin(name, version, **kw)


def desired(
    *plugins: Plugin, pins: tuple[Pin, ...] = (), runtimes: tuple[Runtime, ...] = (), settings: Settings | None = None
) -> Desired:
    state = State(plugins=plugins, pins=pins, runtimes=runtimes, settings=settings or Settings())
    return Desired(state=state, origins={})


def live(
    *plugins: Plugin,
    server: ServerInfo = OPENBAO,
    pins: tuple[Pin, ...] = (),
    runtimes: tuple[Runtime, ...] = (),
    mounts: tuple[Mount, ...] | None = None,
) -> Live:
    return Live(server=server, state=State(plugins=plugins, pins=pins, runtimes=runtimes), mounts=mounts)


def pin(name: str = "kv-extra", version: str = "v1.0.0", t: str = "secret") -> Pin:
    return Pin(type=PluginType(t), name=name, version=version)
