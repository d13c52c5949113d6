"""Targets: the servers reconcile talks to, each owning its world (environment, login, API client,
response models, error hints).
"""
