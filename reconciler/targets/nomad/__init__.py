"""The Nomad target: settings (NOMAD_*), auth (NomadToken), api (NomadApi: the CSI plugin list and
read, as blocking queries), models, hints. Read-only: reconcile only checks Nomad."""
