"""What crosses the bus: subjects, key-value buckets and the contract's messages on them.

Prices go as `PriceBatch` bytes, joined from the elements the ingest's
cache already encoded, on one subject per shard:

- `tickwire.prices.<shard>`: the accepted updates of the shard's tickers in
  one source batch. A shard is a ticker (shards=0), a hash bucket of
  tickers (shards=N), or everything (shards=1).
- key-value bucket `tickwire-prices`, key `<shard>`: the latest update of
  every ticker of the shard, written just before each live message, so an
  edge that subscribes and then reads the key misses nothing.
- `tickwire.status`: the source's `MarketStatus`, on every change and each
  second (the ingest's heartbeat); also kept in `tickwire-ingest` under
  `status`, with the universe (`ListTickersResponse`) under `universe`,
  which also goes on `tickwire.universe` when it changes.
- `tickwire.rejects`: a `SubscriptionAck` of tickers the upstream does not know.
- `tickwire.rpc.<service>.<method>`: unary calls an edge forwards to the
  leader, request bytes in, response bytes (or a status in headers) out.
- `tickwire.interest.<edge>`, and key `<edge>` of bucket `tickwire-interest`:
  the edge's wanted tickers as a `StreamPricesRequest`, said again within
  its lease (a new leader reads the bucket; the leader follows the subject).
- `tickwire.candle-interest.<edge>.<interval>`, and key `<edge>.c<interval>`:
  the tickers whose bars of that interval (its `CandleInterval` number)
  the edge's streams watch, as a `StreamCandlesRequest`, leased the same way.
- `tickwire.candles.<edge>`: the bars the leader's book sends for them
  (forming at most every 250 ms, closed, corrected), as a `GetCandlesResponse`
  joined from the book's own `SubscribeResponse` frames: a frame and an
  element differ only in their first byte (the field's tag), so neither side
  encodes a bar again.
- `tickwire.drop`: a `DropStreamsRequest` the leader sends every edge (a
  forwarded `ScenarioControl.DropStreams`); each answers its
  `DropStreamsResponse`, and the caller gets the sum.
- key-value bucket `tickwire-leader`, key `leader`: the ingest holding the lead.
"""

from __future__ import annotations

import re
import zlib
from collections.abc import Iterable, Sequence

from tickwire.v1 import candles_pb2 as cpb
from tickwire.v1 import market_data_pb2 as pb
from tickwire_server import codec
from tickwire_server.codec import CachedPrice
from tickwire_server.domain import MarketState, SourceState, SourceStatus

PRICES = "tickwire.prices"
STATUS = "tickwire.status"
REJECTS = "tickwire.rejects"
RPC = "tickwire.rpc"
INTEREST = "tickwire.interest"
CANDLE_INTEREST = "tickwire.candle-interest"
CANDLES = "tickwire.candles"
DROP = "tickwire.drop"
UNIVERSE = "tickwire.universe"

PRICES_BUCKET = "tickwire-prices"
INGEST_BUCKET = "tickwire-ingest"
INTEREST_BUCKET = "tickwire-interest"
LEADER_BUCKET = "tickwire-leader"
LEADER_KEY = "leader"
BUCKETS = (PRICES_BUCKET, INGEST_BUCKET, INTEREST_BUCKET, LEADER_BUCKET)

# The method a forwarded call runs, and its answer's status when it failed.
METHOD_HEADER = "Tickwire-Method"
CODE_HEADER = "Tickwire-Status"
MESSAGE_HEADER = "Tickwire-Message"

_MARKETS = {v: k for k, v in codec.MARKET_STATES.items()}
_STATES = {v: k for k, v in codec.SOURCE_STATES.items()}
_NAME = re.compile(r"[^A-Za-z0-9_-]")


class Shards:
    """Which price subject (and key) each ticker goes on.

    Args:
        count: 0 for one subject per ticker, 1 for a single subject, N for
            N buckets by a hash of the ticker (CRC-32, so every process
            agrees).
    """

    def __init__(self, count: int) -> None:
        if count < 0:
            raise ValueError(f"shards must be 0 or more, got {count}")
        self.count = count
        self._of: dict[str, str] = {}

    def of(self, ticker: str) -> str:
        """The shard token of `ticker` (a subject token and a key)."""
        shard = self._of.get(ticker)
        if shard is None:
            if self.count == 0:
                shard = ticker.replace(".", "_")  # tickers never hold '_'
            elif self.count == 1:
                shard = "all"
            else:
                shard = str(zlib.crc32(ticker.encode()) % self.count)
            if len(self._of) >= 100_000:
                self._of.clear()
            self._of[ticker] = shard
        return shard

    def subject(self, shard: str) -> str:
        return f"{PRICES}.{shard}"


def node_key(name: str) -> str:
    """`name` as a key-value key and subject token (letters, digits, '_' and '-')."""
    return _NAME.sub("_", name) or "node"


def rpc_subject(method: str) -> str:
    """The subject of a forwarded call: '/tickwire.v1.X/Y' -> 'tickwire.rpc.tickwire_v1_X.Y'."""
    service, _, name = method.strip("/").partition("/")
    return f"{RPC}.{service.replace('.', '_')}.{name}"


def batch(entries: Iterable[CachedPrice]) -> bytes:
    """The entries as one `PriceBatch`: their elements, joined (no re-encoding)."""
    return b"".join([entry.element for entry in entries])


def entries(data: bytes) -> list[CachedPrice]:
    """The entries of a `PriceBatch` from the bus, each holding its slice of `data`.

    The batch is parsed once (in C); each element's bytes are cut out of
    `data` by its length prefix, so the edge sends the ingest's bytes as
    they came.
    """
    updates = pb.PriceBatch.FromString(data).updates
    return [
        CachedPrice.of(update, data[at:stop])
        for update, (at, stop) in zip(updates, _elements(data, 0x0A), strict=True)
    ]


def _elements(data: bytes, tag: int) -> list[tuple[int, int]]:
    """(start, end) of each element of a message holding one repeated field, with `tag`.

    Raises:
        ValueError: a byte where a tag should be is another field's.
    """
    out = []
    at, end = 0, len(data)
    while at < end:
        if data[at] != tag:  # the bus writes only the one field
            raise ValueError(f"unexpected field tag {data[at]:#x} (expected {tag:#x})")
        size, body = _varint(data, at + 1)
        out.append((at, body + size))
        at = body + size
    return out


def _varint(data: bytes, at: int) -> tuple[int, int]:
    """The varint at `at` and where the bytes after it start."""
    value = shift = 0
    while True:
        byte = data[at]
        at += 1
        value |= (byte & 0x7F) << shift
        if byte < 0x80:
            return value, at
        shift += 7


_CANDLE_FRAME = 0x2A  # SubscribeResponse.candle: field 5, length-delimited
_CANDLE_ELEMENT = 0x0A  # GetCandlesResponse.candles: field 1, length-delimited


def candle_batch(frames: Iterable[bytes]) -> bytes:
    """Candle frames (`SubscribeResponse`s) as one `GetCandlesResponse`: a tag swap each."""
    out = bytearray()
    for frame in frames:
        if frame[0] != _CANDLE_FRAME:
            raise ValueError("not a candle frame")
        out.append(_CANDLE_ELEMENT)
        out += memoryview(frame)[1:]
    return bytes(out)


def candle_frames(data: bytes) -> list[tuple[cpb.Candle, bytes]]:
    """Each candle of a `GetCandlesResponse` from the bus, with its `SubscribeResponse` frame."""
    candles = cpb.GetCandlesResponse.FromString(data).candles
    frame_tag = bytes([_CANDLE_FRAME])
    return [
        (candle, frame_tag + data[at + 1 : stop])
        for candle, (at, stop) in zip(candles, _elements(data, _CANDLE_ELEMENT), strict=True)
    ]


def status_message(status: SourceStatus) -> bytes:
    return codec.market_status(status).SerializeToString()


def status_of(data: bytes) -> SourceStatus:
    message = pb.MarketStatus.FromString(data)
    return SourceStatus(
        message.source,
        _MARKETS.get(message.market, MarketState.CLOSED),
        _STATES.get(message.source_state, SourceState.ERROR),
        message.message,
    )


def tickers_message(tickers: Iterable[str]) -> bytes:
    return pb.StreamPricesRequest(tickers=sorted(tickers)).SerializeToString()


def tickers_of(data: bytes) -> list[str]:
    return list(pb.StreamPricesRequest.FromString(data).tickers)


def rejects_message(tickers: Sequence[str], reason: str) -> bytes:
    results = [
        pb.TickerResult(ticker=t, status=pb.TICKER_STATUS_UNKNOWN_TICKER, message=reason)
        for t in tickers
    ]
    return pb.SubscriptionAck(
        action=pb.SUBSCRIPTION_ACTION_SERVER, results=results
    ).SerializeToString()


def rejects_of(data: bytes) -> tuple[list[str], str]:
    ack = pb.SubscriptionAck.FromString(data)
    reason = ack.results[0].message if ack.results else ""
    return [r.ticker for r in ack.results], reason
