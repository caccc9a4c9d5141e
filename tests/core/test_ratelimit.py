"""core.ratelimit: the per-socket token bucket."""

from core.ratelimit import TokenBucket


def test_it_refills_a_token_bucket_over_time():
    now = [0.0]
    bucket = TokenBucket(5, 10, clock=lambda: now[0])
    assert [bucket.take() for _ in range(6)] == [True] * 5 + [False]
    now[0] = 2.0  # one message per 2 s comes back
    assert (bucket.take(), bucket.take()) == (True, False)
    now[0] = 100.0
    assert sum(bucket.take() for _ in range(10)) == 5
