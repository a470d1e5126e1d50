"""OKX v5 live: where the ccxt.pro client connects, and its `books` and `trades` frames read by
the engine (a `FrameTap` decoder) instead of ccxt (trades: the same reader as the recordings').

ccxt.pro keeps OKX's 400-level book without checking the CRC32 checksum each message carries or
the `seqId` chain: a lost or garbled update leaves its book wrong, silently. Here every message
passes `OkxBookSync` (engine/venues/okx/books.py, the venue's own checksum as the oracle); a
mismatch or a break makes the engine's book invalid at once and asks for a fresh snapshot (the
feed closes the connection and subscribes again: OKX answers a subscription with a snapshot).
"""

from __future__ import annotations

import logging
from typing import Callable

import msgspec

from engine.core.errors import DecodeError
from engine.model.events import MarketEvent, Trade
from engine.venues.okx.books import APPLIED, BOOKS_FRAME, SYNCED, TRADES_FRAME, WAITING
from engine.venues.okx.events import OkxBookEvents, trade_events

log = logging.getLogger("engine.venues.okx")

BOOK = b"books"  # the tap's kind for a `books` frame
TRADES = b"trades"  # and for a `trades` frame
_HEAD = b'{"arg":{"channel":"books",'
_TRADES_HEAD = b'{"arg":{"channel":"trades",'
CHANNEL = "books"  # ccxt.pro's default depth channel for watch_order_book (400 levels)


def point_at(ex, endpoints) -> None:
    """A ccxt.pro `okx` client's URLs pointed where `endpoints` (`LiveEndpoints`) say: the REST
    host and the WebSocket base (`<ws_linear>/public`, `/private`, `/business`: OKX serves every
    market kind on one set of URLs)."""
    if endpoints.rest_base:
        ex.urls["api"]["rest"] = endpoints.rest_base
    if endpoints.ws_linear:
        ex.urls["api"]["ws"] = endpoints.ws_linear


def classify(raw: bytes) -> tuple[bytes, bytes] | None:
    """(frame, kind) for a `books` or `trades` frame, None for anything else (left to ccxt)."""
    if raw.startswith(_HEAD):
        return raw, BOOK
    if raw.startswith(_TRADES_HEAD):
        return raw, TRADES
    return None


class OkxBookFrames:
    """Decodes the tapped `books` frames of one ccxt.pro client. `symbol_of` maps OKX's
    instrument id to the unified symbol; `on_gap(symbol)` is told of every refused message
    (the feed then resubscribes)."""

    def __init__(self, symbol_of: Callable[[str], str | None],
                 on_gap: Callable[[str], None]) -> None:
        self.symbol_of, self.on_gap = symbol_of, on_gap
        self.books = OkxBookEvents()
        self.bad_trades = 0

    def syncs(self) -> dict:
        return dict(self.books.syncs)

    def decode(self, raw: bytes, now: int) -> MarketEvent | list[Trade] | None:
        if raw.startswith(_TRADES_HEAD):
            return self._trades(raw, now)
        try:
            f = BOOKS_FRAME.decode(raw)
        except msgspec.DecodeError as exc:
            raise DecodeError(f"okx books frame: {exc}") from None
        if len(f.data) != 1:  # OKX sends one book message a frame
            raise DecodeError(f"okx books frame with {len(f.data)} messages")
        symbol = self.symbol_of(f.arg.instId)
        if symbol is None:
            raise DecodeError(f"okx books frame for unknown instrument {f.arg.instId!r}")
        out, ev = self.books.on_message(f.action, f.data[0], symbol, now)
        if out not in (APPLIED, SYNCED, WAITING):
            log.warning("okx %s book refused (%s); resubscribing", symbol,
                        self.books.syncs[symbol].report())
            self.on_gap(symbol)
        return ev


    def _trades(self, raw: bytes, now: int) -> list[Trade]:
        """The frame's trades (OKX may batch several); a bad one is left out and logged."""
        try:
            f = TRADES_FRAME.decode(raw)
        except msgspec.DecodeError as exc:
            raise DecodeError(f"okx trades frame: {exc}") from None

        def bad(kind: str, why: str) -> None:
            self.bad_trades += 1
            log.warning("okx trade left out (%s): %s", kind, why)

        return trade_events(f, self.symbol_of, now, bad)


def wake_book_watch(ex, symbol: str) -> None:
    """Fail the feed's pending `watch_order_book(symbol)` with a ccxt `InvalidNonce`, so its
    loop comes round to resubscribe (ccxt's message hash for it is `books:<symbol>`)."""
    import ccxt

    err = ccxt.InvalidNonce(f"okx {symbol} book: refused by the venue's checks")
    for client in list(ex.clients.values()):
        if f"{CHANNEL}:{symbol}" in client.futures:  # (a hash with no future would stay as a rejection)
            client.reject(err, f"{CHANNEL}:{symbol}")


async def reconnect(ex, symbol: str) -> None:
    """Close the public connection: ccxt dials anew on the next watch and subscribes again,
    and OKX answers a subscription with a snapshot (the other public streams on that connection
    resubscribe the same way)."""
    client = ex.clients.get(ex.get_url(CHANNEL, "public"))
    if client is not None:
        # every watch on this connection fails with a ccxt error first (closing alone would
        # cancel them: their loops would end instead of subscribing again)
        import ccxt

        client.reject(ccxt.NetworkError(f"okx {symbol} book: resubscribing"))
        await client.close()
