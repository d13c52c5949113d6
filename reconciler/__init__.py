"""reconcile: declarative GitOps for Vault and OpenBao plugin catalogs."""

__version__ = "0.1.0"
