"""The Vault/OpenBao target."""
