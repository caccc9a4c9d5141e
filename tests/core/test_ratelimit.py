"""Per-socket rate limits (core.ratelimit): exactly the documented number of messages
in any window, the boundary included."""

from __future__ import annotations

import pytest

from core.ratelimit import RateWindow


class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.mark.parametrize(("capacity", "seconds"), [(300, 10), (600, 10), (5, 10), (40, 1)])
def test_it_lets_exactly_capacity_through_in_any_window(capacity, seconds):
    clock = Clock()
    window = RateWindow(capacity, seconds, clock=clock)
    # Spread over less than the window: the capacity and not one more.
    step = (seconds * 0.52) / capacity
    taken = 0
    for _ in range(capacity + capacity // 3):
        taken += window.take()
        clock.now += step
    assert taken == capacity


def test_it_counts_the_window_from_the_oldest_message_let_through():
    clock = Clock()
    window = RateWindow(3, 10, clock=clock)
    assert window.take()
    clock.now = 1005.0
    assert window.take() and window.take()
    clock.now = 1009.5
    assert not window.take()  # all three are inside the window
    clock.now = 1010.0
    assert window.take()  # exactly 10 s after the first, which leaves the window
    assert not window.take()  # the two of 1005 are still in it
    clock.now = 1015.0
    assert window.take() and window.take()


def test_refused_messages_do_not_count():
    clock = Clock()
    window = RateWindow(2, 10, clock=clock)
    assert window.take() and window.take()
    for _ in range(50):
        clock.now += 0.1
        assert not window.take()
    clock.now = 1010.0
    assert window.take()


def test_a_steady_sender_at_the_documented_rate_is_never_refused():
    clock = Clock()
    clock.now = 0
    window = RateWindow(300, 10_000, clock=clock)  # milliseconds: exact arithmetic
    for message in range(3000):
        clock.now = message * 10_000 // 300 + (1 if message * 10_000 % 300 else 0)
        assert window.take()


def test_it_lets_messages_through_again_once_the_window_moved_on():
    now = [0.0]
    window = RateWindow(5, 10, clock=lambda: now[0])
    assert [window.take() for _ in range(6)] == [True] * 5 + [False]
    now[0] = 9.9  # the five are still in the window
    assert not window.take()
    now[0] = 10.0
    assert sum(window.take() for _ in range(10)) == 5
