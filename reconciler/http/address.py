"""Server addresses as users give them, and as they may be shown.

An address may carry credentials (`https://user:pass@server:8200`, for a proxy in front of the
server). They are used to connect and never shown: every message, plan, saved plan and summary
uses `display()`, which drops the userinfo. Saved plans compare displayed addresses.
"""

from __future__ import annotations

import re

_USERINFO = re.compile(r"^(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*://)[^/?#]*@")


def display(address: str) -> str:
    """`address` without any `user:password@` part; safe to print, log and store."""
    # A regex rather than urlsplit: it must also clean addresses that do not parse (`http://u:p@[::1`).
    return _USERINFO.sub(r"\g<scheme>", address.strip(), count=1)
