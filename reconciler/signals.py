"""SIGTERM is Ctrl-C: CI systems cancel a job with SIGTERM, and it must stop reconcile the same way.

While `terminate_as_interrupt()` is active, SIGTERM runs whatever SIGINT would run at that moment:
inside `asyncio.run` that is the runner's handler (it cancels the main task, so `finally:` blocks
and async context managers run, then `KeyboardInterrupt` comes out of `asyncio.run`); outside it,
Python's default handler (`KeyboardInterrupt` where the program is). The CLI then reports what was
done exactly as for Ctrl-C, and exits 143 (128 + SIGTERM) instead of 130.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Callable, Iterator
from types import FrameType
from typing import TypeVar

T = TypeVar("T")

EXIT_SIGINT = 128 + signal.SIGINT
EXIT_SIGTERM = 128 + signal.SIGTERM

_state = {"terminated": False, "installed": False}


def terminated() -> bool:
    """Did a SIGTERM arrive while the handler was installed?"""
    return _state["terminated"]


def interrupted_exit_code() -> int:
    """143 after a SIGTERM, else 130 (Ctrl-C)."""
    return EXIT_SIGTERM if terminated() else EXIT_SIGINT


def _on_sigterm(_signum: int, frame: FrameType | None) -> None:
    _state["terminated"] = True
    handler = signal.getsignal(signal.SIGINT)
    if callable(handler):
        handler(signal.SIGINT, frame)  # the runner's or Python's: the same path as Ctrl-C
        return
    # SIGINT ignored (a background job of a non-interactive shell): still stop like Ctrl-C.
    raise KeyboardInterrupt


@contextlib.contextmanager
def terminate_as_interrupt() -> Iterator[None]:
    """Handle SIGTERM like SIGINT for the duration (main thread only; nested uses are no-ops)."""
    if _state["installed"] or threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGTERM, _on_sigterm)
    _state["installed"], _state["terminated"] = True, False
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)
        _state["installed"] = False


def call_with_sigterm_as_interrupt(body: Callable[[], T]) -> T:
    """`body()` with SIGTERM handled like SIGINT (see `terminate_as_interrupt`)."""
    with terminate_as_interrupt():
        return body()
