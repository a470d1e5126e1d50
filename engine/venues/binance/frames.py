"""Typed decoders for Binance WebSocket payloads (spot, USD-M, COIN-M) into model events.

Wire structs keep Binance's field names and live only here; what leaves this module is a model
event. The busiest streams (bookTicker, trade, depth) are read by compiled readers
(`_frames.pyx`) that build the same events from the bytes directly and hand any frame
outside their fast layout to the msgspec handler below, which decodes it or raises. Values are validated by msgspec while decoding (prices > 0, sizes >= 0, both finite and
below `MAX_VALUE`), so NaN, negative or infinite numbers never reach a book.

One real USD-M depth payload, as recorded (combined stream):

    {"stream":"btcusdt@depth@0ms","data":{"e":"depthUpdate","E":1723161256299,"T":1723161256298,
     "s":"BTCUSDT","U":5123107832006,"u":5123107837557,"pu":5123107831937,
     "b":[["58710.20","0.014"],...],"a":[...]}}
"""

from __future__ import annotations

import re
from typing import Annotated, Callable

import msgspec

from engine.core.errors import DecodeError, UnknownStreamError
from engine.core.numeric import MAX_VALUE
from engine.venues.binance._frames import BookTickerStream, DepthStream, FrameRouter, TradeStream
from engine.venues.binance.symbols import COINM, EXCHANGE_ID, SPOT, unified_symbol
from engine.model.events import (
    BestBidAsk,
    BookDelta,
    BookSnapshot,
    MarketEvent,
    MarkPrice,
    Trade,
)

Price = Annotated[float, msgspec.Meta(gt=0.0, lt=MAX_VALUE)]
Size = Annotated[float, msgspec.Meta(ge=0.0, lt=MAX_VALUE)]
Rate = Annotated[float, msgspec.Meta(gt=-1.0, lt=1.0)]
WireLevel = tuple[Price, Size]

_MS = 1_000_000
# Binance market ids: BTCUSDT, 1000PEPEUSDT, BTCUSD_PERP, BTCUSD_240927
_MARKET_ID = re.compile(r"^[A-Z0-9]{2,30}(?:_[A-Z0-9]{4,8})?$")


class _Wire(msgspec.Struct, kw_only=True, gc=False):
    pass


class WireDepth(_Wire, kw_only=True, gc=False):
    e: str
    E: int
    T: int | None = None
    s: str
    U: int
    u: int
    pu: int | None = None
    b: tuple[WireLevel, ...]
    a: tuple[WireLevel, ...]


class WireBookTicker(_Wire, kw_only=True, gc=False):
    u: int
    s: str
    b: Price
    B: Size
    a: Price
    A: Size
    E: int | None = None
    T: int | None = None


class WireTrade(_Wire, kw_only=True, gc=False):
    E: int
    T: int
    s: str
    t: int
    p: Price
    q: Size
    m: bool


class WireAggTrade(_Wire, kw_only=True, gc=False):
    E: int
    T: int
    s: str
    a: int
    p: Price
    q: Size
    m: bool


class WireMarkPrice(_Wire, kw_only=True, gc=False):
    E: int
    s: str
    p: Price
    i: Price | None = None
    r: Rate | None = None
    T: int | None = None


class WireSnapshot(_Wire, kw_only=True, gc=False):
    lastUpdateId: int
    E: int | None = None
    T: int | None = None
    bids: tuple[WireLevel, ...]
    asks: tuple[WireLevel, ...]


class WireEnvelope(_Wire, kw_only=True, gc=False):
    stream: str
    data: msgspec.Raw


# Typed combined-stream envelopes: one decode per frame once the stream name is known. The
# `stream` field is not declared, so msgspec skips it without building a string.
class _DepthFrame(_Wire, kw_only=True, gc=False):
    data: WireDepth


class _TickerFrame(_Wire, kw_only=True, gc=False):
    data: WireBookTicker


class _TradeFrame(_Wire, kw_only=True, gc=False):
    data: WireTrade


class _AggFrame(_Wire, kw_only=True, gc=False):
    data: WireAggTrade


class _MarkFrame(_Wire, kw_only=True, gc=False):
    data: WireMarkPrice


def _decoder(t: type) -> msgspec.json.Decoder:
    # strict=False lets msgspec parse Binance's decimal strings ("61800.20") into floats in C.
    return msgspec.json.Decoder(t, strict=False)


_ENVELOPE = _decoder(WireEnvelope)
_DEPTH = _decoder(_DepthFrame)
_TICKER = _decoder(_TickerFrame)
_TRADE = _decoder(_TradeFrame)
_AGG = _decoder(_AggFrame)
_MARK = _decoder(_MarkFrame)
_SNAPSHOT = _decoder(WireSnapshot)
_PREFIX = b'{"stream":"'

Handler = Callable[[bytes, int], MarketEvent]


class BinanceDecoder:
    """Decodes one market kind's frames (`spot`, `usdm` or `coinm`) into model events.

    Stream names are resolved once and cached, so the per-message cost is one envelope decode,
    one dict lookup and one payload decode. `default_symbol` (the capture file's symbol) names
    REST depth snapshots, which carry no symbol of their own.
    """

    def __init__(self, market: str, default_symbol: str | None = None,
                 allowed_ids: set[str] | None = None) -> None:
        self.market = market
        # market ids this source subscribed to (a capture file's own symbol, the market list);
        # a stream for any other id is refused, so no phantom book is ever created
        self.allowed_ids = allowed_ids
        self.exchange = EXCHANGE_ID[market]
        self.default_symbol = default_symbol
        self._handlers: dict[bytes, Handler] = {}
        self._symbols: dict[str, str] = {}
        self._is_spot = market == SPOT
        self._route = FrameRouter(self._handlers, self._resolve_name, self._other_frame,
                                  _raise_decode_error, (msgspec.ValidationError,
                                                        msgspec.DecodeError))
        self.decode_frame = self._route  # the method's body, minus one Python call per frame

    # -- symbols ---------------------------------------------------------------------------
    def symbol(self, market_id: str) -> str:
        sym = self._symbols.get(market_id)
        if sym is None:
            sym = self._symbols[market_id] = unified_symbol(market_id, self.market)
        return sym

    # -- entry points ------------------------------------------------------------------------
    def decode_frame(self, payload: bytes, ts_recv: int) -> MarketEvent:
        """Decode one raw frame: a combined-stream message or a REST depth snapshot.

        Combined-stream frames take the compiled fast path: the stream name sits at a fixed
        offset in Binance's frames and picks the stream's handler (resolved once, cached), so
        the frame is parsed once. Replaced per instance by that router (see __init__)."""
        return self._route(payload, ts_recv)

    def _other_frame(self, payload: bytes, ts_recv: int) -> MarketEvent:
        """A frame without the combined-stream prefix: a REST snapshot, or the envelope laid out
        differently (rebuilt and routed again), else an error naming what it is."""
        if payload.startswith(b'{"lastUpdateId"'):
            return self.decode_snapshot(payload, ts_recv)
        try:
            msgspec.json.decode(payload)
        except msgspec.DecodeError as exc:
            raise DecodeError("malformed_json", str(exc)) from None
        if payload.lstrip().startswith(b"{"):
            try:
                env = _ENVELOPE.decode(payload)
            except (msgspec.ValidationError, msgspec.DecodeError):
                env = None
            if env is not None:  # a combined-stream frame laid out differently
                return self.decode_frame(
                    b'{"stream":"' + env.stream.encode() + b'","data":' + bytes(env.data) + b"}",
                    ts_recv)
        raise UnknownStreamError("unknown_message", payload[:80].decode("utf-8", "replace"))

    def _resolve_name(self, name: bytes) -> Handler:
        return self._resolve(name.decode("utf-8", "replace"))

    def decode_snapshot(self, payload: bytes, ts_recv: int, symbol: str | None = None) -> BookSnapshot:
        """A REST `depth` response. Spot snapshots carry no exchange time."""
        try:
            w = _SNAPSHOT.decode(payload)
        except msgspec.ValidationError as exc:
            raise DecodeError("invalid_value", f"snapshot: {exc}") from None
        except msgspec.DecodeError as exc:
            raise DecodeError("malformed_json", f"snapshot: {exc}") from None
        sym = symbol or self.default_symbol
        if sym is None:
            raise DecodeError("unknown_symbol", "depth snapshot with no symbol to attach it to")
        ts = w.T or w.E
        return BookSnapshot(
            exchange=self.exchange,
            symbol=sym,
            ts_event=ts * _MS if ts else ts_recv,
            ts_recv=ts_recv,
            update_id=w.lastUpdateId,
            bids=w.bids,
            asks=w.asks,
            has_exchange_time=ts is not None,
        )

    # -- stream handlers ---------------------------------------------------------------------
    def _resolve(self, stream: str) -> Handler:
        """Build the handler of one stream, with its symbol and venue bound once.

        Binance names streams `<lowercase market id>@<kind>[@<speed>]`.
        """
        market_id, _, rest = stream.partition("@")
        kind = rest.partition("@")[0]
        if kind.startswith("kline_"):  # bars come from trades; the venue's klines are unused
            raise UnknownStreamError(UNUSED_STREAM, stream)
        if kind not in ("depth", "bookTicker", "trade", "aggTrade", "markPrice"):
            raise UnknownStreamError("unknown_stream", stream)
        if kind == "markPrice" and self._is_spot:
            raise UnknownStreamError("unknown_stream", f"{stream}: markPrice on a spot market")
        mid = market_id.upper()
        if not _MARKET_ID.match(mid):
            raise UnknownStreamError("unknown_stream", f"{stream}: not a market id")
        if self.allowed_ids is not None and mid not in self.allowed_ids:
            raise UnknownStreamError("foreign_stream",
                                     f"{stream}: not subscribed here ({sorted(self.allowed_ids)})")
        symbol = self.symbol(mid)
        exchange = self.exchange
        ms = _MS

        if kind == "depth":
            decode = _DEPTH.decode
            spot = self._is_spot

            def depth(raw: bytes, ts_recv: int) -> BookDelta:
                w = decode(raw).data
                if w.s != mid:
                    raise DecodeError("symbol_mismatch", f"{stream} carries s={w.s!r}")
                if spot:
                    prev = None
                elif w.pu is None:
                    raise DecodeError("invalid_value", "futures depth update without 'pu'")
                else:
                    prev = w.pu
                if w.u < w.U:
                    raise DecodeError("invalid_value", f"depth ids reversed: U={w.U} u={w.u}")
                return BookDelta(exchange=exchange, symbol=symbol, ts_event=(w.T or w.E) * ms,
                                 ts_recv=ts_recv, first_update_id=w.U, final_update_id=w.u,
                                 prev_final_update_id=prev, bids=w.b, asks=w.a)

            return DepthStream(mid, symbol, exchange, depth, spot)

        if kind == "bookTicker":
            decode = _TICKER.decode

            def book_ticker(raw: bytes, ts_recv: int) -> BestBidAsk:
                w = decode(raw).data
                if w.s != mid:
                    raise DecodeError("symbol_mismatch", f"{stream} carries s={w.s!r}")
                ts = w.T or w.E
                return BestBidAsk(exchange=exchange, symbol=symbol,
                                  ts_event=ts * ms if ts else ts_recv, ts_recv=ts_recv,
                                  update_id=w.u, bid_price=w.b, bid_size=w.B, ask_price=w.a,
                                  ask_size=w.A, has_exchange_time=ts is not None)

            return BookTickerStream(mid, symbol, exchange, book_ticker)

        if kind in ("trade", "aggTrade"):
            agg = kind == "aggTrade"
            decode = _AGG.decode if agg else _TRADE.decode

            def trade(raw: bytes, ts_recv: int) -> Trade:
                w = decode(raw).data
                if w.s != mid:
                    raise DecodeError("symbol_mismatch", f"{stream} carries s={w.s!r}")
                return Trade(exchange=exchange, symbol=symbol, ts_event=w.T * ms,
                             ts_recv=ts_recv, trade_id=w.a if agg else w.t, price=w.p,
                             size=w.q, taker_side="sell" if w.m else "buy")

            return trade if agg else TradeStream(mid, symbol, exchange, trade)

        decode = _MARK.decode

        def mark_price(raw: bytes, ts_recv: int) -> MarkPrice:
            w = decode(raw).data
            if w.s != mid:
                raise DecodeError("symbol_mismatch", f"{stream} carries s={w.s!r}")
            return MarkPrice(exchange=exchange, symbol=symbol, ts_event=w.E * ms,
                             ts_recv=ts_recv, mark_price=w.p, index_price=w.i,
                             funding_rate=w.r if (w.r is not None and w.T) else None,
                             next_funding_ts=w.T * ms if w.T else None)

        return mark_price


UNUSED_STREAM = "unused_stream"


def _raise_decode_error(name: bytes, exc: Exception) -> None:
    """A stream handler's msgspec error as the decoder's own, naming the stream."""
    stream = name.decode("utf-8", "replace")
    if isinstance(exc, msgspec.ValidationError):
        raise DecodeError("invalid_value", f"{stream}: {exc}") from None
    raise DecodeError("malformed_json", f"{stream}: {exc}") from None

# `e` of a single-stream event payload -> the stream kind its combined-stream name carries
_KIND_OF_EVENT = {b"bookTicker": b"bookTicker", b"trade": b"trade", b"aggTrade": b"aggTrade",
                  b"depthUpdate": b"depth", b"markPriceUpdate": b"markPrice"}


def stream_frame(payload: bytes) -> tuple[bytes, bytes] | None:
    """(combined-stream frame, stream kind) of one WebSocket frame as Binance sends it.

    A combined-stream frame (`/stream`, and the local exchange) is returned as it is; an event
    payload of a raw stream (`/ws` with SUBSCRIBE, ccxt.pro's way) is wrapped into one, its
    stream named from its `s` and its `e` (spot bookTicker, the one payload without an `e`,
    from its leading `u`). None for anything else: subscription replies, user data, a frame
    too short to tell.
    """
    if payload.startswith(_PREFIX):
        name = payload[11:payload.find(b'"', 11)]
        at = name.find(b"@")
        if at < 0:
            return None
        return payload, name[at + 1:].partition(b"@")[0]
    if payload.startswith(b'{"u":'):
        kind = b"bookTicker"
    elif payload.startswith(b'{"e":"'):
        kind = _KIND_OF_EVENT.get(payload[6:payload.find(b'"', 6)])
    else:
        return None
    i = payload.find(b'"s":"')
    if kind is None or i < 0:
        return None
    market_id = payload[i + 5:payload.find(b'"', i + 5)].lower()
    return b'{"stream":"' + market_id + b"@" + kind + b'","data":' + payload + b"}", kind


def market_of_stream_payload(payload: bytes) -> str | None:
    """Guess the market kind from one frame's shape (None when the frame cannot tell).

    Futures depth carries `pu`; COIN-M symbols contain `_` (`BTCUSD_PERP`); spot bookTicker has
    no event type; futures trades carry `X`.
    """
    try:
        env = _ENVELOPE.decode(payload)
        data = msgspec.json.decode(env.data)
    except (msgspec.DecodeError, msgspec.ValidationError):
        return None
    if not isinstance(data, dict):
        return None
    sym = str(data.get("s", ""))
    futures = "pu" in data or "X" in data or data.get("e") in ("bookTicker", "markPriceUpdate")
    if "_" in sym or "ps" in data:
        return COINM
    if data.get("e") == "depthUpdate":
        return "usdm" if "pu" in data else SPOT
    if data.get("e") == "trade":
        return "usdm" if "X" in data else SPOT
    if "e" not in data and "u" in data and "b" in data:
        return SPOT
    return "usdm" if futures else None
