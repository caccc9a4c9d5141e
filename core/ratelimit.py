"""Per-socket rate limits: a token bucket per kind of message."""

from __future__ import annotations

import time


class TokenBucket:
    """``capacity`` messages, refilled evenly over ``seconds``."""

    def __init__(self, capacity: int, seconds: float, clock=time.monotonic):
        self.capacity = capacity
        self.per_second = capacity / seconds
        self.tokens = float(capacity)
        self.clock = clock
        self.stamp = clock()

    def take(self) -> bool:
        now = self.clock()
        self.tokens = min(self.capacity, self.tokens + (now - self.stamp) * self.per_second)
        self.stamp = now
        if self.tokens < 1:
            return False
        self.tokens -= 1
        return True
