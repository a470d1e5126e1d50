"""Bybit v5 live: where the ccxt.pro client connects, and its public book frames read by the
engine (a `FrameTap` decoder) instead of ccxt.

Why the engine reads these frames itself:
- ccxt.pro keeps Bybit's book without checking `u` or `seq`: a lost delta leaves it wrong for
  good, silently. Here every frame passes `BybitBookSync` (engine/venues/bybit/books.py); a
  break makes the engine's book invalid at once and asks for a fresh snapshot (the feed closes
  the connection and subscribes again: Bybit sends a snapshot on every subscription).
- ccxt.pro keeps `orderbook.1` (best bid/ask) and `orderbook.50` in one cache per symbol, so
  watching both mixes them. Here depth 1 becomes `BestBidAsk` events and the deeper book its own
  `BookSnapshot`/`BookDelta` events: the two never touch.
"""

from __future__ import annotations

import logging
from typing import Callable

import msgspec

from engine.core.errors import DecodeError
from engine.model.events import BestBidAsk, MarketEvent
from engine.venues.bybit.books import BOOK_FRAME, GAP, depth_of
from engine.venues.bybit.events import EXCHANGE, REFUSED, BybitBookEvents, levels

log = logging.getLogger("engine.venues.bybit")

_MS = 1_000_000
_TOPIC = b'"topic":"orderbook.'
BOOK = b"orderbook"  # the tap's kind for a depth-N book frame
TOP = b"orderbook.1"  # and for a depth-1 frame (best bid and ask)


def point_at(ex, endpoints) -> None:
    """A ccxt.pro `bybit` client's URLs pointed where `endpoints` (`LiveEndpoints`) say: the
    REST host, the public linear, spot and inverse streams, the private stream."""
    if endpoints.rest_base:
        for k, v in list(ex.urls["api"].items()):
            if isinstance(v, str) and v.startswith("https://api.{hostname}"):
                ex.urls["api"][k] = endpoints.rest_base
    public = ex.urls["api"]["ws"]["public"]
    for kind, url in (("linear", endpoints.ws_linear), ("spot", endpoints.ws_spot),
                      ("inverse", endpoints.ws_inverse)):
        if url:
            public[kind] = url
    if endpoints.ws_private:  # the unified account's stream (ccxt reads `/v5/private` in it)
        ex.urls["api"]["ws"]["private"]["contract"] = endpoints.ws_private


def classify(raw: bytes) -> tuple[bytes, bytes] | None:
    """(frame, kind) for an order book frame, None for anything else (left to ccxt). The topic
    is the first key Bybit sends; looking only near the start keeps other frames cheap."""
    at = raw.find(_TOPIC, 0, 32)
    if at < 0:
        return None
    start = at + len(_TOPIC)
    return raw, (TOP if raw.startswith(b'1.', start) else BOOK)


class BybitBookFrames:
    """Decodes the tapped frames of one ccxt.pro client. `symbol_of` maps Bybit's market id to
    the unified symbol (the client's own markets); `on_gap(symbol)` is told of every sequence
    break (the feed then resubscribes)."""

    def __init__(self, symbol_of: Callable[[str], str | None],
                 on_gap: Callable[[str], None]) -> None:
        self.symbol_of, self.on_gap = symbol_of, on_gap
        self.books: dict[int, BybitBookEvents] = {}  # depth -> its frames' checks and ids

    def syncs(self) -> dict:
        """symbol -> its `BybitBookSync` (what was checked, for the feed's report)."""
        return {s: sync for ev in self.books.values() for s, sync in ev.syncs.items()}

    def decode(self, raw: bytes, now: int) -> MarketEvent | None:
        try:
            f = BOOK_FRAME.decode(raw)
            depth = depth_of(f.topic)
        except (msgspec.DecodeError, ValueError) as exc:
            raise DecodeError(f"bybit book frame: {exc}") from None
        symbol = self.symbol_of(f.data.s)
        if symbol is None:
            raise DecodeError(f"bybit book frame for unknown market {f.data.s!r}")
        if depth == 1:
            return self._top(f, symbol, now)
        book = self.books.get(depth)
        if book is None:
            book = self.books[depth] = BybitBookEvents(depth)
        out, ev = book.on_frame(f, symbol, now)
        if out in (GAP, REFUSED):
            log.warning("bybit %s book: %s at u=%d seq=%d; resubscribing", symbol,
                        "sequence break" if out == GAP else "a level no venue sends",
                        f.data.u, f.data.seq)
            self.on_gap(symbol)
        return ev

    @staticmethod
    def _top(f, symbol: str, now: int) -> BestBidAsk | None:
        """Depth 1: every message a snapshot of the best bid and ask (a side with no level
        yields nothing: an empty side is no price)."""
        try:
            bids, asks = levels(f.data.b), levels(f.data.a)
        except ValueError as exc:
            raise DecodeError(f"bybit {symbol} top of book: {exc}") from None
        if not bids or not asks:
            return None
        (bp, bq), (ap, aq) = bids[0], asks[0]
        return BestBidAsk(exchange=EXCHANGE, symbol=symbol, ts_event=(f.cts or f.ts) * _MS,
                          ts_recv=now, update_id=f.data.u, bid_price=bp, bid_size=bq,
                          ask_price=ap, ask_size=aq)


def wake_book_watch(ex, symbol: str) -> None:
    """Fail the feed's pending `watch_order_book(symbol)` with a ccxt `InvalidNonce`, so its
    loop comes round to resubscribe (ccxt's message hash for a Bybit book is
    `orderbook:<symbol>`)."""
    import ccxt

    err = ccxt.InvalidNonce(f"bybit {symbol} book: sequence break")
    for client in list(ex.clients.values()):
        if "orderbook:" + symbol in client.futures:  # (a hash with no future would stay as a rejection)
            client.reject(err, "orderbook:" + symbol)


async def reconnect(ex, symbol: str) -> None:
    """Close the connection carrying `symbol`'s public streams: ccxt then dials anew on the next
    watch and subscribes again, and Bybit answers a subscription with a snapshot (the streams
    sharing that connection resubscribe the same way)."""
    url = await ex.get_url_by_market_type(symbol, False, "watchOrderBook", {})
    client = ex.clients.get(url)
    if client is not None:
        # every watch on this connection fails with a ccxt error first (closing alone would
        # cancel them: their loops would end instead of subscribing again)
        import ccxt

        client.reject(ccxt.NetworkError(f"bybit {symbol} book: resubscribing"))
        await client.close()
