"""A sliding one-second rate limit, for inputs whose every instance costs a journal row or a log line."""
from __future__ import annotations

from collections import deque


class RateLimit:
    """At most `per_s` events in any second (times in monotonic s)."""

    def __init__(self, per_s: int) -> None:
        self.per_s = per_s
        self._times: deque[float] = deque()

    def allow(self, now_s: float) -> bool:
        """True, and the event counted, when fewer than `per_s` were allowed in the second before `now_s`."""
        while self._times and self._times[0] <= now_s - 1.0:
            self._times.popleft()
        if len(self._times) >= self.per_s:
            return False
        self._times.append(now_s)
        return True
