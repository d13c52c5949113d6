"""Targets: the servers reconcile talks to, each owning its world, on top of the product-neutral
`reconciler.http`. Every target package has the same modules:

    settings.py   where and how to connect: options and environment variables, checked (UsageError)
    auth.py       credentials as an httpx.Auth (a token header; a login method is another Auth)
    api.py        the API client: one method per request, answers decoded into models; connect()
    models.py     the documented shapes of the answers (strict pydantic models)
    hints.py      the target's words for failures (options, variables, policies): an http.Hints

vault/ is the Vault/OpenBao target (plugin catalog, pins, runtimes, mounts, reloads; kv.py holds
the apply lock's key); nomad/ is the Nomad target (CSI plugins, read-only, blocking queries).
"""
