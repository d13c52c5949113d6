"""Plugin reloads: a derived kind. Never declared; plan adds them (`settings.reload: changed`)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from reconciler.kinds.base import Action, Change, Defaults, Resource

if TYPE_CHECKING:
    from reconciler.targets.vault.api import VaultApi

BY_NAME = "by_name"
"""`sys/plugins/reload/:type/:name` (Vault 1.16+): any plugin type."""
BACKEND = "backend"
"""`sys/plugins/reload/backend`: auth and secret plugins only."""


class ReloadKind(Defaults):
    """Restarts the mounts of a plugin after its pin moved or its in-use version was re-registered."""

    key = "reload"
    diffed = False
    checked = False
    create_rank = 3

    def identity(self, resource: Resource) -> Any:  # pragma: no cover - reloads carry no object
        raise NotImplementedError

    def coordinates(self, resource: Resource) -> tuple[str, str, str]:  # pragma: no cover
        raise NotImplementedError

    async def write(self, api: VaultApi, change: Change, endpoint: str) -> None:
        if endpoint == BY_NAME:
            await api.reload_by_name(change.type, change.name)
        else:
            await api.reload_backend(change.name)

    def label(self, change: Change) -> str:
        return f"{change.type}/{change.name}"

    def verb(self, action: Action) -> str:
        return "reload"

    def subject(self, change: Change) -> str:
        return f"{change.type}/{change.name}"

    def view(self, resource: Resource) -> dict[str, Any]:  # pragma: no cover - reloads carry no object
        return {}


KIND = ReloadKind()
