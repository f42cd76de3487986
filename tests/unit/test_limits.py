"""Tests of the per-client limits: the request token bucket and open streams per client."""

from __future__ import annotations

from tickwire_server.limits import ClientStreams, TokenBucket


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_a_full_bucket_lets_a_burst_through_then_refills_at_its_rate() -> None:
    clock = Clock()
    bucket = TokenBucket(rate=2.0, burst=3, clock=clock)
    assert [bucket.take() for _ in range(4)] == [True, True, True, False]
    clock.now += 0.4  # 0.8 of a token
    assert not bucket.take()
    clock.now += 0.1  # a whole one
    assert bucket.take() and not bucket.take()
    clock.now += 60.0  # a long pause saves up no more than the burst
    assert sum(bucket.take() for _ in range(10)) == 3


def test_client_streams_cap_each_key_and_forget_keys_with_none_open() -> None:
    streams = ClientStreams(limit=2)
    assert streams.open("alice") and streams.open("alice")
    assert not streams.open("alice")
    assert streams.open("bob")  # another client has its own slots
    streams.close("alice")
    assert streams.count("alice") == 1 and streams.open("alice")
    for key in ("alice", "alice", "bob"):
        streams.close(key)
    assert len(streams) == 0  # no memory kept for clients gone
