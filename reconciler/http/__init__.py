"""The HTTP layer, product-neutral: one pooled `httpx.AsyncClient` per server and run, bounded
concurrency, retries, redirect policy, a response size cap, TLS, and every httpx error mapped to
`reconciler.errors`. Targets (`reconciler/targets/`) bring their own words (`failures.Hints`),
credentials (`auth.HeaderToken`) and response models (`decode.parse`).

    client.py    Http: send, retry, cap, redirect; Response, Retry, RetryEvent
    failures.py  httpx exceptions -> errors; Hints (a target's wording); server error messages
    decode.py    answers -> pydantic models, or UnexpectedResponse saying what is wrong
    auth.py      HeaderToken: a token in a header (httpx.Auth), the address's userinfo as Basic
    tls.py       TLS settings from <PREFIX>_CACERT..., and their SSL context
    settings.py  addresses, tokens, timeouts and retries as users give them, checked
    address.py   addresses without credentials: the only form ever shown
"""

import sys

# httpx's package imports its own command-line client (`httpx._main`: click, rich, pygments) whenever
# those are installed, as they are here: ~0.05 s of start-up for nothing reconcile uses. A None in
# sys.modules makes that import fail, and httpx then defines a stub `main` instead (its documented
# fallback when the `cli` extra is missing). No effect when httpx was imported before.
sys.modules.setdefault("httpx._main", None)  # type: ignore[arg-type]
