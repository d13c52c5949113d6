"""The environment each target sees: the shared variables, the file's settings, the target's own.

The rule (README, "Several clusters"), from weakest to strongest:

1. the usual variables (`VAULT_TOKEN`, `VAULT_ROLE_ID`, `NOMAD_TOKEN`, `VAULT_CACERT`, ...) serve every target;
2. the targets file's settings for the target: `address` (VAULT_ADDR), `namespace` (VAULT_NAMESPACE),
   `auth` (VAULT_AUTH_METHOD, _PATH, _ROLE, _JWT_AUDIENCE) and `nomad_address` (NOMAD_ADDR);
3. `RECONCILE_<TARGET>_<VARIABLE>` sets `<VARIABLE>` for that target only, for every variable
   reconcile reads (`RECONCILE_PROD_EU_VAULT_TOKEN` for the target `prod-eu`: the name in capitals,
   `-` as `_`).

A `VAULT_` setting and its `BAO_` twin are one setting: setting one at a stronger level removes both
at the weaker levels, so a per-target `BAO_TOKEN` is not shadowed by a shared `VAULT_TOKEN`.
"""

from __future__ import annotations

from collections.abc import Mapping

from reconciler.fleet.config import Target

_FAMILIES = ("VAULT_", "BAO_")


def for_target(target: Target, environ: Mapping[str, str]) -> dict[str, str]:
    """The variables `target` is planned, applied and checked with."""
    env = dict(environ)
    _layer(env, _file_settings(target))
    prefix = target.env_prefix
    _layer(env, {k[len(prefix) :]: v for k, v in environ.items() if k.startswith(prefix) and len(k) > len(prefix)})
    return env


def own_variables(target: Target, environ: Mapping[str, str]) -> list[str]:
    """The names of the `RECONCILE_<TARGET>_*` variables set for `target` (names only, never values)."""
    return sorted(k for k in environ if k.startswith(target.env_prefix) and len(k) > len(target.env_prefix))


def _layer(env: dict[str, str], stronger: Mapping[str, str]) -> None:
    for name, value in stronger.items():
        for twin in _twins(name):
            env.pop(twin, None)
        env[name] = value


def _twins(name: str) -> tuple[str, ...]:
    for family in _FAMILIES:
        if name.startswith(family):
            rest = name[len(family) :]
            return tuple(f + rest for f in _FAMILIES)
    return (name,)


def _file_settings(target: Target) -> dict[str, str]:
    settings = {"VAULT_ADDR": target.address}
    if target.namespace is not None:
        settings["VAULT_NAMESPACE"] = target.namespace
    if target.auth is not None:
        settings["VAULT_AUTH_METHOD"] = target.auth.method
        for variable, value in (
            ("VAULT_AUTH_PATH", target.auth.path),
            ("VAULT_AUTH_ROLE", target.auth.role),
            ("VAULT_AUTH_JWT_AUDIENCE", target.auth.audience),
        ):
            if value:
                settings[variable] = value
    if target.nomad_address is not None:
        settings["NOMAD_ADDR"] = target.nomad_address
    return settings
