"""Tests of the client's Inbox: latest-wins mailbox, gap and conflation counting, acks."""

from __future__ import annotations

from tickwire import TickerResult, TickerStatus
from tickwire._inbox import Inbox
from tickwire.v1 import market_data_pb2 as pb


def _prices(*updates: tuple[str, float, int], conflated: int = 0) -> pb.SubscribeResponse:
    batch = pb.PriceBatch(
        updates=[pb.PriceUpdate(ticker=t, price=p, sequence=n) for t, p, n in updates],
        conflated=conflated,
    )
    return pb.SubscribeResponse(prices=batch)


def _ack(action: int, *results: tuple[str, int], request_id: str = "") -> pb.SubscriptionAck:
    return pb.SubscriptionAck(
        request_id=request_id,
        action=action,  # type: ignore[arg-type]
        results=[pb.TickerResult(ticker=t, status=s) for t, s in results],  # type: ignore[arg-type]
    )


def _drain(inbox: Inbox) -> list[tuple[str, float]]:
    out = []
    while (update := inbox.take()) is not None:
        out.append((update.ticker, update.price))
    return out


def test_updates_are_taken_oldest_ticker_first_each_at_its_latest() -> None:
    inbox = Inbox(["AAPL", "MSFT"])
    inbox.receive(_prices(("AAPL", 1.0, 1), ("MSFT", 2.0, 1)))
    inbox.receive(_prices(("AAPL", 1.5, 2)))
    assert inbox.readable.is_set()
    assert _drain(inbox) == [("AAPL", 1.5), ("MSFT", 2.0)]
    assert inbox.take() is None
    assert inbox.stats.updates == 3 and inbox.stats.batches == 2


def test_an_update_replaced_before_it_is_read_counts_as_conflated() -> None:
    inbox = Inbox(["AAPL"])
    inbox.receive(_prices(("AAPL", 1.0, 1), conflated=4))  # the server conflated 4
    inbox.receive(_prices(("AAPL", 1.1, 2)))  # replaces the unread one here
    assert inbox.stats.conflated == 5
    assert _drain(inbox) == [("AAPL", 1.1)]
    assert inbox.stats.gaps == 0


def test_a_sequence_jump_is_one_gap_and_counts_what_it_skipped() -> None:
    inbox = Inbox(["AAPL", "MSFT"])
    inbox.receive(_prices(("AAPL", 1.0, 7), ("MSFT", 1.0, 1)))
    inbox.receive(_prices(("AAPL", 1.0, 8), ("MSFT", 1.0, 5)))  # MSFT skipped 2, 3, 4
    inbox.receive(_prices(("AAPL", 1.0, 11)))  # AAPL skipped 9, 10
    assert (inbox.stats.gaps, inbox.stats.missed) == (2, 5)
    inbox.receive(_prices(("AAPL", 1.0, 11)))  # a snapshot repeats the sequence: no gap
    assert (inbox.stats.gaps, inbox.stats.missed) == (2, 5)


def test_the_first_update_of_a_ticker_is_never_a_gap() -> None:
    inbox = Inbox(["AAPL"])
    inbox.receive(_prices(("AAPL", 1.0, 900)))
    assert inbox.stats.gaps == 0


def test_updates_of_tickers_no_longer_wanted_are_dropped() -> None:
    inbox = Inbox(["AAPL", "MSFT"])
    inbox.receive(_prices(("MSFT", 2.0, 1)))
    inbox.forget("MSFT")  # its pending update goes too
    inbox.receive(_prices(("MSFT", 2.1, 2), ("AAPL", 1.0, 1)))
    assert _drain(inbox) == [("AAPL", 1.0)]


def test_acks_are_handed_back_and_heartbeats_and_statuses_recorded() -> None:
    inbox = Inbox([])
    ack = _ack(pb.SUBSCRIPTION_ACTION_SUBSCRIBE, ("AAPL", pb.TICKER_STATUS_OK))
    assert inbox.receive(pb.SubscribeResponse(ack=ack)) == ack
    assert inbox.receive(pb.SubscribeResponse(heartbeat=pb.Heartbeat())) is None
    status = pb.MarketStatus(market=pb.MARKET_STATE_CLOSED)
    inbox.receive(pb.SubscribeResponse(market_status=status))
    assert inbox.stats.heartbeats == 1
    assert inbox.market_status == status


def test_a_subscribe_ack_puts_the_servers_names_in_the_wanted_set() -> None:
    inbox = Inbox(["aapl ", "NVDA", "BAD$"])
    results = inbox.apply(
        _ack(
            pb.SUBSCRIPTION_ACTION_SUBSCRIBE,
            ("AAPL", pb.TICKER_STATUS_OK),
            ("BAD$", pb.TICKER_STATUS_INVALID_SYMBOL),
        )
    )
    assert [r.status for r in results] == [TickerStatus.OK, TickerStatus.INVALID_SYMBOL]
    assert list(inbox.wanted) == ["NVDA", "AAPL"]
    assert set(inbox.rejected) == {"BAD$"}


def test_a_rejection_is_cleared_when_a_later_ack_accepts_the_ticker() -> None:
    inbox = Inbox(["NVDA"])
    inbox.apply(_ack(pb.SUBSCRIPTION_ACTION_SUBSCRIBE, ("NVDA", pb.TICKER_STATUS_LIMIT_EXCEEDED)))
    assert inbox.rejected == {"NVDA": TickerResult("NVDA", TickerStatus.LIMIT_EXCEEDED)}
    assert "NVDA" not in inbox.wanted
    inbox.apply(_ack(pb.SUBSCRIPTION_ACTION_SUBSCRIBE, ("NVDA", pb.TICKER_STATUS_OK)))
    assert inbox.rejected == {}
    assert list(inbox.wanted) == ["NVDA"]


def test_not_subscribed_on_an_unsubscribe_is_no_rejection() -> None:
    inbox = Inbox(["AAPL"])
    inbox.apply(_ack(pb.SUBSCRIPTION_ACTION_UNSUBSCRIBE, ("MSFT", pb.TICKER_STATUS_NOT_SUBSCRIBED)))
    assert inbox.rejected == {}
    assert list(inbox.wanted) == ["AAPL"]


def test_a_server_side_rejection_stops_wanting_the_ticker() -> None:
    inbox = Inbox(["AAPL", "ZZZZ"])
    inbox.receive(_prices(("ZZZZ", 1.0, 1)))
    inbox.apply(_ack(pb.SUBSCRIPTION_ACTION_SERVER, ("ZZZZ", pb.TICKER_STATUS_UNKNOWN_TICKER)))
    assert list(inbox.wanted) == ["AAPL"]
    assert inbox.take() is None  # its undelivered update is dropped
