"""Typed decoders for Binance WebSocket payloads (spot, USD-M, COIN-M) into model events.

Wire structs keep Binance's field names and live only here; what leaves this module is a model
event. Values are validated by msgspec while decoding (prices > 0, sizes >= 0, both finite and
below `MAX_VALUE`), so NaN, negative or infinite numbers never reach a book.

One real USD-M depth payload, as recorded (combined stream):

    {"stream":"btcusdt@depth@0ms","data":{"e":"depthUpdate","E":1723161256299,"T":1723161256298,
     "s":"BTCUSDT","U":5123107832006,"u":5123107837557,"pu":5123107831937,
     "b":[["58710.20","0.014"],...],"a":[...]}}
"""

from __future__ import annotations

from typing import Annotated, Callable

import msgspec

from engine.core.errors import DecodeError, UnknownStreamError
from engine.core.numeric import MAX_VALUE
from engine.feeds.binance_symbols import COINM, EXCHANGE_ID, SPOT, unified_symbol
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


def _decoder(t: type) -> msgspec.json.Decoder:
    # strict=False lets msgspec parse Binance's decimal strings ("61800.20") into floats in C.
    return msgspec.json.Decoder(t, strict=False)


_ENVELOPE = _decoder(WireEnvelope)
_DEPTH = _decoder(WireDepth)
_TICKER = _decoder(WireBookTicker)
_TRADE = _decoder(WireTrade)
_AGG = _decoder(WireAggTrade)
_MARK = _decoder(WireMarkPrice)
_SNAPSHOT = _decoder(WireSnapshot)

Handler = Callable[[bytes, int], MarketEvent]


class BinanceDecoder:
    """Decodes one market kind's frames (`spot`, `usdm` or `coinm`) into model events.

    Stream names are resolved once and cached, so the per-message cost is one envelope decode,
    one dict lookup and one payload decode. `default_symbol` (the capture file's symbol) names
    REST depth snapshots, which carry no symbol of their own.
    """

    def __init__(self, market: str, default_symbol: str | None = None) -> None:
        self.market = market
        self.exchange = EXCHANGE_ID[market]
        self.default_symbol = default_symbol
        self._handlers: dict[str, Handler] = {}
        self._symbols: dict[str, str] = {}
        self._is_spot = market == SPOT

    # -- symbols ---------------------------------------------------------------------------
    def symbol(self, market_id: str) -> str:
        sym = self._symbols.get(market_id)
        if sym is None:
            sym = self._symbols[market_id] = unified_symbol(market_id, self.market)
        return sym

    # -- entry points ------------------------------------------------------------------------
    def decode_frame(self, payload: bytes, ts_recv: int) -> MarketEvent:
        """Decode one raw frame: a combined-stream message or a REST depth snapshot."""
        if payload.startswith(b'{"stream"'):
            try:
                env = _ENVELOPE.decode(payload)
            except msgspec.DecodeError as exc:
                raise DecodeError("malformed_json", str(exc)) from None
            handler = self._handlers.get(env.stream)
            if handler is None:
                handler = self._handlers[env.stream] = self._resolve(env.stream)
            try:
                return handler(env.data, ts_recv)
            except msgspec.ValidationError as exc:
                raise DecodeError("invalid_value", f"{env.stream}: {exc}") from None
            except msgspec.DecodeError as exc:
                raise DecodeError("malformed_json", f"{env.stream}: {exc}") from None
        if payload.startswith(b'{"lastUpdateId"'):
            return self.decode_snapshot(payload, ts_recv)
        try:
            msgspec.json.decode(payload)
        except msgspec.DecodeError as exc:
            raise DecodeError("malformed_json", str(exc)) from None
        raise UnknownStreamError("unknown_message", payload[:80].decode("utf-8", "replace"))

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
        parts = stream.split("@")
        kind = parts[1] if len(parts) > 1 else ""
        if kind == "depth":
            return self._depth
        if kind == "bookTicker":
            return self._book_ticker
        if kind == "trade":
            return self._trade
        if kind == "aggTrade":
            return self._agg_trade
        if kind == "markPrice":
            return self._mark_price
        raise UnknownStreamError("unknown_stream", stream)

    def _depth(self, raw: bytes, ts_recv: int) -> BookDelta:
        w = _DEPTH.decode(raw)
        if self._is_spot:
            prev = None
        else:
            if w.pu is None:
                raise DecodeError("invalid_value", "futures depth update without 'pu'")
            prev = w.pu
        if w.u < w.U:
            raise DecodeError("invalid_value", f"depth update ids reversed: U={w.U} u={w.u}")
        return BookDelta(
            exchange=self.exchange,
            symbol=self.symbol(w.s),
            ts_event=(w.T or w.E) * _MS,
            ts_recv=ts_recv,
            first_update_id=w.U,
            final_update_id=w.u,
            prev_final_update_id=prev,
            bids=w.b,
            asks=w.a,
        )

    def _book_ticker(self, raw: bytes, ts_recv: int) -> BestBidAsk:
        w = _TICKER.decode(raw)
        ts = w.T or w.E
        return BestBidAsk(
            exchange=self.exchange,
            symbol=self.symbol(w.s),
            ts_event=ts * _MS if ts else ts_recv,
            ts_recv=ts_recv,
            update_id=w.u,
            bid_price=w.b,
            bid_size=w.B,
            ask_price=w.a,
            ask_size=w.A,
            has_exchange_time=ts is not None,
        )

    def _trade(self, raw: bytes, ts_recv: int) -> Trade:
        w = _TRADE.decode(raw)
        return Trade(
            exchange=self.exchange,
            symbol=self.symbol(w.s),
            ts_event=w.T * _MS,
            ts_recv=ts_recv,
            trade_id=w.t,
            price=w.p,
            size=w.q,
            taker_side="sell" if w.m else "buy",
        )

    def _agg_trade(self, raw: bytes, ts_recv: int) -> Trade:
        w = _AGG.decode(raw)
        return Trade(
            exchange=self.exchange,
            symbol=self.symbol(w.s),
            ts_event=w.T * _MS,
            ts_recv=ts_recv,
            trade_id=w.a,
            price=w.p,
            size=w.q,
            taker_side="sell" if w.m else "buy",
        )

    def _mark_price(self, raw: bytes, ts_recv: int) -> MarkPrice:
        if self._is_spot:
            raise UnknownStreamError("unknown_stream", "markPrice on a spot market")
        w = _MARK.decode(raw)
        return MarkPrice(
            exchange=self.exchange,
            symbol=self.symbol(w.s),
            ts_event=w.E * _MS,
            ts_recv=ts_recv,
            mark_price=w.p,
            index_price=w.i,
            funding_rate=w.r if (w.r is not None and w.T) else None,
            next_funding_ts=w.T * _MS if w.T else None,
        )


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
