"""The designs tickwire is compared to, each what a competent engineer would write.

- `naive`: grpc.aio with the generated stubs, one `PriceUpdate` message per update
  per subscriber, serialised per subscriber, an unbounded queue per subscriber.
- `ceiling`: a bare server streaming one pre-encoded `PriceBatch` frame over and
  over: no source, cache, hub or validation; the most the transport gives.
- `sse`: FastAPI + uvicorn server-sent events, a JSON snapshot of all prices every 500 ms.
"""
