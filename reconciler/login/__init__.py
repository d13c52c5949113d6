"""Logging in to Vault/OpenBao: `inputs` reads and checks what users give (no network), `session`
logs in once per run and revokes the token at its end."""
