"""Heartbeats: one timer beats every stream once an interval, in spread groups."""

from __future__ import annotations

from tickwire.v1 import market_data_pb2 as pb
from tickwire_server.heartbeats import SLOTS, Heartbeats
from tickwire_server.subscriber import Subscriber


def beats(sub: Subscriber) -> int:
    frames = [pb.SubscribeResponse.FromString(f) for f in sub._controls]
    return sum(f.WhichOneof("response") == "heartbeat" for f in frames)


async def test_one_turn_of_the_wheel_beats_every_stream_once() -> None:
    wheel = Heartbeats(interval=3600.0)  # its own timer never fires here: the ticks are ours
    subs = [Subscriber() for _ in range(2 * SLOTS + 3)]
    slots = [wheel.add(s) for s in subs]
    assert sorted(set(slots)) == list(range(SLOTS))  # dealt over every group
    ticks = 0
    for _ in range(SLOTS):  # one interval: one beat each, spread over its ticks
        wheel._tick()
        ticks += 1
        beaten = sum(beats(s) > 0 for s in subs)
        assert beaten < len(subs) or ticks == SLOTS
    assert [beats(s) for s in subs] == [1] * len(subs)
    quiet = subs[0]
    wheel.discard(quiet, slots[0])
    for _ in range(SLOTS):
        wheel._tick()
    assert beats(quiet) == 1 and all(beats(s) == 2 for s in subs[1:])
    for sub, slot in zip(subs[1:], slots[1:], strict=True):
        wheel.discard(sub, slot)
    assert wheel._timer is None  # nobody left: no timer runs


async def test_only_streams_quiet_since_their_last_turn_are_beaten() -> None:
    wheel = Heartbeats(interval=3600.0)
    subs = [Subscriber() for _ in range(SLOTS)]  # one per group: each tick is one stream's turn
    slots = [wheel.add(s) for s in subs]
    busy, quiet = subs[0], subs[1]

    def interval() -> None:
        for _ in range(SLOTS):
            wheel._tick()

    def sent(sub: Subscriber) -> None:  # what the send loop counts for each frame it writes
        sub._controls.clear()
        sub.frames_written += 1

    interval()
    assert beats(busy) == 1 and beats(quiet) == 1
    sent(quiet)  # its heartbeat went out, nothing else
    sent(busy)  # its heartbeat went out,
    sent(busy)  # and a price
    interval()
    assert beats(quiet) == 1, "a stream that sent only its heartbeat is quiet"
    assert beats(busy) == 0, "a stream that sent data is alive without one"
    interval()
    assert beats(busy) == 1, "silent for a whole interval since: beaten again"
    assert beats(quiet) == 2, "a heartbeat not yet taken is no sign of life either"
    for sub, slot in zip(subs, slots, strict=True):
        wheel.discard(sub, slot)
