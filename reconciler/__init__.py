"""reconcile: declarative GitOps for Vault and OpenBao plugin catalogs.

Where to start: `pipeline.py` (one target: load -> validate -> read live -> diff -> plan), then
`commands/` (one module per command) and `kinds/` (one module per resource kind). README.md,
"Development", has the whole layout. Kept free of imports: `reconcile version` reads only this file.
"""

__version__ = "0.1.0"
