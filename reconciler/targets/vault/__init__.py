"""The Vault/OpenBao target: settings (VAULT_*, BAO_*, ~/.vault-token), auth (VaultToken, the login
seam), api (VaultApi), models, hints (error hints and policy text), kv (the apply lock's KV v2 key)."""
