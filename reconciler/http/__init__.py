"""The only package that talks HTTP: one `httpx.AsyncClient` per run, errors mapped to `reconciler.errors`."""
