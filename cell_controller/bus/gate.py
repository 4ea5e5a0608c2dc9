"""Shutdown protocol shared by both adapters: stop from any thread or a signal handler, release once."""
from __future__ import annotations

import threading
from typing import Callable


class StopGate:
    """Runs spin bodies and releases the node's entities exactly once, never under a running body.

    `stop()` only sets flags and calls `wake` (no blocking lock), so it is safe from a signal
    handler that interrupts the spinning thread; the release then happens when the body ends.
    """

    def __init__(self, wake: Callable[[], None], release: Callable[[], None]) -> None:
        self._wake = wake
        self._release = release
        self._release_once = threading.Lock()  # acquired once, never released
        self.stopped = False
        self._busy = False
        self.released = False

    def run(self, body: Callable[[], None]) -> None:
        """Run `body()` unless stopped; release afterwards if a stop came in meanwhile."""
        self._busy = True  # set before reading `stopped`; stop() does the reverse
        try:
            if not self.stopped:
                body()
        finally:
            self._busy = False
            if self.stopped:
                self._release_now()

    def stop(self) -> None:
        """Make spinning return and release the node's entities; idempotent."""
        self.stopped = True
        if self.released:
            return
        self._wake()
        if not self._busy:
            self._release_now()

    def _release_now(self) -> None:
        if self._release_once.acquire(blocking=False):
            self.released = True
            self._release()
