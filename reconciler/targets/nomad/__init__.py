"""The Nomad target (CSI plugin checks)."""
