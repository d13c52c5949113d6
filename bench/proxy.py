"""A latency proxy: an asyncio TCP relay on 127.0.0.1 that adds a fixed round-trip time, like netem.

What it does, exactly (`round_trip_ms` = R, one way = R/2):

* Every chunk read from either side is forwarded R/2 after it arrived, in order, through a per-
  direction queue: a client->server byte reaches the server R/2 late and a server->client byte
  reaches the client R/2 late, so each request/response exchange takes R longer. Chunks are not
  serialised behind each other's delays (a queue of due times, not a sleep per chunk), so it adds
  latency only, no bandwidth limit, and concurrent connections are independent.
* A new connection pays one more round trip before its first byte reaches the server, as a TCP
  handshake would over a real network (the local connect itself completes at once).
* Connection close (EOF) is forwarded after the data queued before it.
* Due chunks are handed to the proxy's event loop by a timer thread (`Scheduler`), which keeps the
  delay within ~0.1-0.3 ms; asyncio's own timers would add ~1 ms per hop. The benchmark measures the
  added round trip at start-up and reports it next to the target.

It also counts HTTP/1.1 requests by kind (`bench.counting.classify`), by finding request heads and
skipping `Content-Length` bodies in the client->server stream, as an independent check of the
counts the clients report. It runs its own event loop in a thread of the benchmark process.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import heapq
import threading
import time
from collections import Counter
from collections.abc import Callable
from urllib.parse import urlsplit

from bench.counting import as_dict, classify

MAX_HEAD = 64 * 1024


class Scheduler:
    """Runs callbacks on an event loop at given `time.monotonic()` instants, to ~0.1 ms.

    asyncio's own timers wake about 1 ms late here (CPython rounds an epoll timeout up to a whole
    millisecond twice), which would add ~2 ms to every round trip. A thread waiting on a condition
    variable is precise; it hands each due callback to the loop with `call_soon_threadsafe`.
    """

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._heap: list[tuple[float, int, Callable[[], None]]] = []
        self._seq = 0
        self._cond = threading.Condition()
        self._stopped = False
        self._thread = threading.Thread(target=self._run, name="latency-proxy-clock", daemon=True)
        self._thread.start()

    def at(self, when: float, callback: Callable[[], None]) -> None:
        with self._cond:
            self._seq += 1
            heapq.heappush(self._heap, (when, self._seq, callback))
            if self._heap[0][1] == self._seq:
                self._cond.notify()

    def stop(self) -> None:
        with self._cond:
            self._stopped = True
            self._cond.notify()
        self._thread.join(timeout=5)

    def _run(self) -> None:
        with self._cond:
            while not self._stopped:
                if not self._heap:
                    self._cond.wait()
                    continue
                wait = self._heap[0][0] - time.monotonic()
                if wait > 0:
                    self._cond.wait(wait)
                    continue
                _, _, callback = heapq.heappop(self._heap)
                with contextlib.suppress(RuntimeError):  # the loop is closing
                    self._loop.call_soon_threadsafe(callback)


class RequestCounter:
    """Finds request boundaries in one connection's client->server bytes (HTTP/1.1, Content-Length bodies)."""

    def __init__(self, on_request: Callable[[str, str], None]) -> None:
        self._buf = bytearray()
        self._body_left = 0
        self.broken = False
        """Set when the stream cannot be followed (chunked body, malformed head): counting stops."""
        self._on_request = on_request

    def feed(self, data: bytes) -> None:
        if self.broken:
            return
        if self._body_left:
            take = min(self._body_left, len(data))
            self._body_left -= take
            data = data[take:]
            if not data:
                return
        self._buf += data
        while not self._body_left and not self.broken:
            end = self._buf.find(b"\r\n\r\n")
            if end < 0:
                self.broken = len(self._buf) > MAX_HEAD
                return
            head = bytes(self._buf[:end]).decode("latin-1")
            del self._buf[: end + 4]
            self._head(head)

    def _head(self, head: str) -> None:
        lines = head.split("\r\n")
        parts = lines[0].split(" ")
        if len(parts) != 3:
            self.broken = True
            return
        length = 0
        for line in lines[1:]:
            name, _, value = line.partition(":")
            name = name.strip().lower()
            if name == "content-length":
                length = int(value.strip())
            elif name == "transfer-encoding" and "chunked" in value.lower():
                self.broken = True
        self._on_request(parts[0], parts[1])
        if len(self._buf) >= length:
            del self._buf[:length]
        else:
            self._body_left = length - len(self._buf)
            self._buf.clear()


class LatencyProxy:
    """`with LatencyProxy(upstream, 20) as proxy:` -> `proxy.address` adds 20 ms to each round trip."""

    def __init__(self, upstream: str, round_trip_ms: float) -> None:
        parts = urlsplit(upstream)
        self.host = parts.hostname or "127.0.0.1"
        self.port_upstream = parts.port or 80
        self.round_trip = round_trip_ms / 1000
        self.one_way = self.round_trip / 2
        self.port = 0
        self.connections = 0
        self.unparsed_connections = 0
        self._counts: Counter[str] = Counter()
        self._lock = threading.Lock()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="latency-proxy", daemon=True)
        self._server: asyncio.Server | None = None
        self._clock: Scheduler | None = None
        self._handlers: set[asyncio.Task[None]] = set()
        self._writers: set[asyncio.StreamWriter] = set()

    @property
    def address(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> LatencyProxy:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> None:
        self._clock = Scheduler(self._loop)
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._serve(), self._loop).result(timeout=10)

    def stop(self) -> None:
        if not self._thread.is_alive():
            return
        asyncio.run_coroutine_threadsafe(self._shutdown(), self._loop).result(timeout=10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)
        if self._clock is not None:
            self._clock.stop()
        self._loop.close()

    def take_counts(self) -> dict[str, int]:
        """Requests seen since the last call, by kind."""
        with self._lock:
            counts = as_dict(self._counts)
            self._counts.clear()
        return counts

    def _count(self, method: str, target: str) -> None:
        with self._lock:
            self._counts[classify(method, target)] += 1

    async def _serve(self) -> None:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        self.port = int(self._server.sockets[0].getsockname()[1])

    async def _shutdown(self) -> None:
        """Stop accepting, close every connection, let the handlers finish (cancel only stragglers)."""
        if self._server is not None:
            self._server.close()
        for writer in list(self._writers):
            writer.close()
        if self._handlers:
            _, stragglers = await asyncio.wait(list(self._handlers), timeout=2)
            for task in stragglers:
                task.cancel()
            await asyncio.gather(*stragglers, return_exceptions=True)
        if self._server is not None:
            await self._server.wait_closed()

    async def _handle(self, client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter) -> None:
        accepted = time.monotonic()
        self.connections += 1
        task = asyncio.current_task()
        assert task is not None
        self._handlers.add(task)
        task.add_done_callback(self._handlers.discard)
        try:
            upstream_r, upstream_w = await asyncio.open_connection(self.host, self.port_upstream)
        except OSError:
            client_w.close()
            return
        self._writers.update((client_w, upstream_w))
        counter = RequestCounter(self._count)
        # The first byte to the server waits for a handshake round trip plus its own one-way delay.
        first = accepted + self.round_trip + self.one_way
        await asyncio.gather(
            self._pipe(client_r, upstream_w, first, counter.feed),
            self._pipe(upstream_r, client_w, 0.0, None),
            return_exceptions=True,
        )
        if counter.broken:
            self.unparsed_connections += 1
        for writer in (client_w, upstream_w):
            writer.close()
            self._writers.discard(writer)

    async def _pipe(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        not_before: float,
        observe: Callable[[bytes], None] | None,
    ) -> None:
        """Forward each chunk `one_way` after it arrived (in order: due times never decrease)."""
        assert self._clock is not None
        done = asyncio.get_running_loop().create_future()

        def deliver(data: bytes) -> None:
            if writer.is_closing():
                pass
            elif data:
                writer.write(data)
                return
            elif writer.can_write_eof():
                with contextlib.suppress(OSError):
                    writer.write_eof()
            if not done.done():
                done.set_result(None)

        last = not_before
        try:
            while True:
                data = await reader.read(65536)
                if data and observe is not None:
                    observe(data)
                last = max(time.monotonic() + self.one_way, last)
                self._clock.at(last, functools.partial(deliver, data))
                if not data:
                    break
        except OSError:
            self._clock.at(last, functools.partial(deliver, b""))
        await done
