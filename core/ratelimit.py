"""Per-socket rate limits, exactly as docs/protocol.md states them: at most
``capacity`` messages in any ``seconds`` long window (a sliding window over the times
of the messages let through). A token bucket would let ``capacity`` through at once
and then ``capacity / seconds`` more every second: 456 signals in 5.2 s where the
protocol says 300 per 10 s."""

from __future__ import annotations

import time
from collections import deque


class RateWindow:
    """``capacity`` messages in any window of ``seconds``."""

    def __init__(self, capacity: int, seconds: float, clock=time.monotonic):
        self.capacity = capacity
        self.seconds = seconds
        self.clock = clock
        self.times: deque[float] = deque(maxlen=capacity)

    def take(self) -> bool:
        """Let one message through now, if the window has room for it."""
        now = self.clock()
        if len(self.times) == self.capacity and now - self.times[0] < self.seconds:
            return False
        self.times.append(now)
        return True
