"""The bridge's event loop: one selector over non-blocking sockets, calls from other threads,
and timers, all run by the one thread that owns the sockets.

Other threads never touch a socket: they :meth:`EventLoop.call` a function into the loop thread
and wait for its result. Timers (:meth:`EventLoop.after`) re-check whatever state they need when
they fire. A wake-up socket pair interrupts ``select`` when a call or a stop arrives.
"""

from __future__ import annotations

import heapq
import itertools
import queue
import selectors
import socket
import time
from concurrent.futures import Future
from typing import Any, Callable


class EventLoop:
    """Selector + call queue + timer heap (see the module text). Registered sockets carry a
    ``(kind, obj)`` tuple that :meth:`select` hands back with the ready events."""

    def __init__(self) -> None:
        self._sel = selectors.DefaultSelector()
        self._wake_r, self._wake_w = socket.socketpair()
        self._wake_r.setblocking(False)
        self._wake_w.setblocking(False)
        self._sel.register(self._wake_r, selectors.EVENT_READ, ("wake", None))
        self._calls: queue.SimpleQueue = queue.SimpleQueue()
        self._timers: list[tuple[float, int, Callable[[], None]]] = []
        self._timer_seq = itertools.count()

    # -- from any thread ---------------------------------------------------------------
    def call(self, fn: Callable[[], Any], timeout: float = 5.0) -> Any:
        """Run ``fn`` in the loop thread; its result (or exception) here."""
        fut: Future = Future()
        self._calls.put((fn, fut))
        self.wake()
        return fut.result(timeout=timeout)

    def wake(self) -> None:
        try:
            self._wake_w.send(b"x")
        except OSError:
            pass

    # -- in the loop thread --------------------------------------------------------------
    def after(self, delay: float, fn: Callable[[], None]) -> None:
        """Run ``fn`` in the loop thread after ``delay`` s."""
        heapq.heappush(self._timers, (time.monotonic() + delay, next(self._timer_seq), fn))

    def next_timer(self) -> float | None:
        """Monotonic time of the next timer, if any."""
        return self._timers[0][0] if self._timers else None

    def select(self, timeout: float) -> list[tuple[str, Any, int]]:
        """(kind, obj, events) of every ready socket, waiting at most ``timeout`` s."""
        ready = []
        for key, events in self._sel.select(timeout):
            kind, obj = key.data
            if kind == "wake":
                try:
                    self._wake_r.recv(4096)
                except OSError:
                    pass
                continue
            ready.append((kind, obj, events))
        return ready

    def run_calls(self) -> None:
        while True:
            try:
                fn, fut = self._calls.get_nowait()
            except queue.Empty:
                return
            try:
                fut.set_result(fn())
            except BaseException as e:
                fut.set_exception(e)

    def run_timers(self, on_error: Callable[[Exception], None]) -> None:
        now = time.monotonic()
        while self._timers and self._timers[0][0] <= now:
            _, _, fn = heapq.heappop(self._timers)
            try:
                fn()
            except Exception as e:
                on_error(e)

    def want(self, sock: socket.socket | None, events: int, data) -> None:
        """Register/modify/unregister ``sock`` for ``events`` (0 = not at all)."""
        if sock is None:
            return
        try:
            fd = sock.fileno()
        except OSError:
            return
        if fd < 0:
            return
        key = self._sel.get_map().get(fd)
        if key is not None and key.fileobj is not sock:
            # a closed socket whose fd number the kernel has handed out again
            try:
                self._sel.unregister(key.fileobj)
            except (KeyError, ValueError, OSError):
                pass
            key = None
        old = key.events if key is not None else 0
        try:
            if not events:
                if old:
                    self._sel.unregister(sock)
            elif not old:
                self._sel.register(sock, events, data)
            elif key is not None and (events != old or key.data != data):
                self._sel.modify(sock, events, data)
        except (KeyError, ValueError, OSError):
            pass

    def forget(self, sock: socket.socket | None) -> None:
        if sock is not None:
            self.want(sock, 0, None)

    def close(self) -> None:
        try:
            self._sel.close()
        except Exception:
            pass
        for s in (self._wake_r, self._wake_w):
            s.close()
