"""Live market data through ccxt.pro, translated into the same model events as replay.

One task per (symbol, stream): `watch_order_book` (the book's top levels, copied right after
each await because ccxt mutates the book in place), `watch_bids_asks` (bookTicker),
`watch_trades` and, for perps, `watch_mark_prices` (mark, index, the funding rate and the next
funding time; a `FundingSettler` turns the passing of that time into a `FundingRate`). Every price is validated here (ccxt accepts a "NaN" best bid), a failing watch
reconnects with exponential backoff, and each stream's age is tracked for the risk guard.

Exchange URLs come from configuration (`LiveEndpoints`), so the same code talks to Binance or to
the local exchange used in tests; there is no code path of its own for either.
"""

from __future__ import annotations

import asyncio
import logging
import math
from typing import Callable

import msgspec

from engine.core.clock import Clock
from engine.feeds.frame_tap import FrameTap
from engine.feeds.funding import FundingSettler
from engine.model.events import (BestBidAsk, BookSnapshot, MarketEvent, MarkPrice, OpenInterest,
                                 Trade)

log = logging.getLogger("engine.feeds.live")

_MS = 1_000_000


class LiveEndpoints(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Where the exchange is. Defaults are Binance's; tests point them at 127.0.0.1."""

    ws_linear: str | None = None  # e.g. ws://127.0.0.1:8765/ws
    ws_spot: str | None = None  # spot streams, e.g. ws://127.0.0.1:8765/spot/ws
    ws_inverse: str | None = None  # COIN-M streams, e.g. ws://127.0.0.1:8765/coinm/ws
    ws_api_spot: str | None = None  # spot WebSocket API (the spot user-data stream)
    rest_base: str | None = None  # replaces https://fapi.binance.com (and dapi's) in every URL
    account_base: str | None = None  # replaces https://api.binance.com (sapi: key permissions)
    ws_private: str | None = None  # Bybit: its private stream (…/v5/private)


def make_exchange(endpoints: LiveEndpoints | None = None, exchange: str = "binance",
                  options: dict | None = None, rate_limit: bool = True, spot: bool = False,
                  coinm: bool = False):
    """A ccxt.pro exchange for USD-M perps (or, with `spot`, for the spot market; with
    `coinm`, for the COIN-M inverse contracts), its URLs pointed where `endpoints` say.
    `rate_limit=False` turns ccxt's own limiter off (the live broker throttles itself)."""
    import ccxt.pro as ccxtpro

    kind = "spot" if spot else ("inverse" if coinm else "linear")
    opts = {"defaultType": "spot" if spot else ("delivery" if coinm else "swap"),
            "fetchMarkets": {"types": [kind]},
            "fetchCurrencies": False}
    config: dict = {}
    if exchange == "okx":  # one client for every kind; options are not traded
        opts["fetchMarkets"] = {"types": ["spot", "swap", "future"]}
    if exchange in ("bybit", "okx"):  # the client as the venue's order module wants it
        from engine.venues import orders_of

        orders = orders_of(exchange)
        opts.update(orders.CLIENT_OPTIONS)
        config["has"] = dict(orders.CLIENT_HAS)
    if spot:  # the margin pair lists are for margin trading, which the engine does not do
        opts["fetchMargins"] = False
    opts.update(options or {})
    ex = getattr(ccxtpro, exchange)({"options": opts, "enableRateLimit": rate_limit, **config})
    if endpoints is not None:
        if exchange == "bybit":
            from engine.venues.bybit.live import point_at
        elif exchange == "okx":
            from engine.venues.okx.live import point_at
        else:
            from engine.venues.binance.endpoints import point_at
        point_at(ex, endpoints)
    return ex


def _ok(*xs: float) -> bool:
    return all(isinstance(x, (int, float)) and math.isfinite(x) and x >= 0 for x in xs)


class LiveFeed:
    def __init__(self, exchange, symbols: list[str], emit: Callable[[MarketEvent], None],
                 clock: Clock, depth: int = 50, books: bool = True, tickers: bool = True,
                 trades: bool = True, marks: bool = True, max_backoff_s: float = 10.0,
                 spot_exchange=None, coinm_exchange=None,
                 open_interest: dict[str, float] | None = None,
                 decode_frames: bool = False, venue: str = "binance") -> None:
        """`exchange` serves the USD-M perps, `spot_exchange` the spot symbols (BTC/USDT),
        `coinm_exchange` the COIN-M contracts (BTC/USD:BTC). `decode_frames`: bookTicker and
        trade frames are read through the engine's own decoders (`FrameTap`), not ccxt's.

        `venue="bybit"` or `"okx"`: `exchange` is that venue's ccxt.pro client, and its book
        frames are always read by the engine's decoder for the venue, with the venue's own
        checks (engine/venues/<venue>/live.py): Bybit's linear perps (`depth` 50 or 200) and
        their best bid/ask, OKX's books (400 levels, checksummed) and trades of any
        instrument. The rest (Bybit's trades, mark prices) is not wired yet: refused here."""
        from engine.execution.markets import CCXT_ID, market_kind

        self.ex, self.symbols, self.emit, self.clock = exchange, symbols, emit, clock
        self.spot_ex = spot_exchange
        self.coinm_ex = coinm_exchange
        self.venue = venue
        self._resync: set[str] = set()  # tapped books that broke: resubscribe before watching
        self.book_frames = None  # a tapped venue's book decoder (its checks), once running
        if venue == "bybit":
            not_linear = [s for s in symbols if market_kind(s) != "usdm"]
            if not_linear or trades or marks or open_interest:
                raise ValueError("bybit feed: only linear perpetuals' books and best bid/ask "
                                 "are wired so far"
                                 + (f" (not {not_linear})" if not_linear else
                                    " (turn trades, marks and open interest off)"))
        elif venue == "okx":
            if tickers or marks or open_interest:
                raise ValueError("okx feed: only books and trades are wired so far (turn "
                                 "tickers, marks and open interest off)")
        elif venue != "binance":
            raise ValueError(f"live feed venue {venue!r}: expected binance, bybit or okx")
        if venue == "binance":
            self._kind = {sym: market_kind(sym) for sym in symbols}
            self._venue = {sym: CCXT_ID[k] for sym, k in self._kind.items()}
        else:  # one ccxt client serves every market kind of the venue
            self._kind = {sym: "usdm" for sym in symbols}
            self._venue = {sym: venue for sym in symbols}
        self.depth, self.max_backoff = depth, max_backoff_s
        self.streams = [s for s, on in (("book", books), ("ticker", tickers),
                                        ("trades", trades), ("mark", marks)) if on]
        # symbol -> seconds between open-interest polls (a REST call: no stream carries it)
        self.open_interest = dict(open_interest or {})
        self.settler = FundingSettler()
        self.age: dict[tuple[str, str], int] = {}  # (symbol, stream) -> last receive ns
        self.invalid = 0
        self.reconnects = 0
        self.nonce_backwards = 0
        self._last_nonce: dict[str, int] = {}
        self._tasks: list[asyncio.Task] = []
        self.taps: dict[str, FrameTap] = {}
        self.decode_frames = decode_frames

    def _install_taps(self) -> None:
        if self.venue != "binance":
            self._install_venue_tap()
            return
        from engine.venues.binance.frames import BinanceDecoder, stream_frame

        streams = {b"bookTicker": "ticker", b"trade": "trades", b"aggTrade": "trades"}
        for kind, client in (("usdm", self.ex), ("spot", self.spot_ex), ("coinm", self.coinm_ex)):
            mine = {sym for sym, k in self._kind.items() if k == kind}
            if client is None or not mine:
                continue
            tap = FrameTap(stream_frame, BinanceDecoder(kind).decode_frame, streams, mine,
                           self.emit, self.clock, self.age)
            tap.install(client)
            self.taps[kind] = tap

    def _venue_live(self):
        if self.venue == "bybit":
            from engine.venues.bybit import live
            return live, live.BybitBookFrames, {live.BOOK: "book", live.TOP: "ticker"}
        from engine.venues.okx import live
        return live, live.OkxBookFrames, {live.BOOK: "book", live.TRADES: "trades"}

    def _install_venue_tap(self) -> None:
        live, frames, kinds = self._venue_live()
        ids: dict[str, str] = {}

        def symbol_of(market_id: str) -> str | None:
            if not ids:  # the client's markets are loaded by the time a book frame comes
                ids.update({self.ex.market(s)["id"]: s for s in self.symbols})
            return ids.get(market_id)

        def on_gap(symbol: str) -> None:
            self._resync.add(symbol)
            live.wake_book_watch(self.ex, symbol)

        self.book_frames = frames(symbol_of, on_gap)
        tap = FrameTap(live.classify, self.book_frames.decode, kinds, set(self.symbols),
                       self.emit, self.clock, self.age)
        tap.install(self.ex)
        self.taps[self.venue] = tap

    def exchange_id(self, symbol: str = "") -> str:
        return self._venue.get(symbol, "binanceusdm")

    def _client(self, symbol: str):
        kind = self._kind.get(symbol, "usdm")
        return self.spot_ex if kind == "spot" else (self.coinm_ex if kind == "coinm" else self.ex)

    async def run(self) -> None:
        if self.decode_frames or self.venue != "binance":
            self._install_taps()
        self._tasks = [asyncio.create_task(self._loop(sym, st), name=f"feed:{sym}:{st}")
                       for sym in self.symbols for st in self.streams
                       if st != "mark" or ":" in sym]  # mark prices exist for perps only
        self._tasks += [asyncio.create_task(self._loop(sym, "open_interest"),
                                            name=f"feed:{sym}:open_interest")
                        for sym in self.open_interest]
        self._tasks += [asyncio.create_task(tap.watch(), name=f"feed:{kind}:frames")
                        for kind, tap in self.taps.items()]
        try:
            await asyncio.gather(*self._tasks)
        finally:
            for t in self._tasks:
                t.cancel()
            for tap in self.taps.values():
                tap.uninstall()

    async def stop(self) -> None:
        for t in self._tasks:
            t.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    async def _loop(self, symbol: str, stream: str) -> None:
        import ccxt

        from engine.core.errors import VenueAuthError
        from engine.venues.binance.errors import classify

        backoff = 0.25
        step = {"book": self._book, "ticker": self._ticker, "trades": self._trades,
                "mark": self._mark, "open_interest": self._open_interest}[stream]
        while True:
            subscribed = self.clock.now_ns()
            try:
                await step(symbol)
                backoff = 0.25
            except ccxt.BaseError as exc:  # network, checksum, exchange errors: back off
                if self.age.get((symbol, stream), 0) > subscribed:
                    # data flowed since the last (re)subscription: a fresh failure, not the
                    # same one again (a tapped stream's watch never returns to reset it)
                    backoff = 0.25
                err = classify(exc)
                if isinstance(err, VenueAuthError):
                    raise err from exc
                self.reconnects += 1
                log.warning("%s %s stream failed (%s); retrying in %.2fs", symbol, stream, err,
                            backoff)
                await asyncio.sleep(backoff)  # back-off before resubscribing
                backoff = min(self.max_backoff, backoff * 2)

    async def _book(self, symbol: str) -> None:
        if self.venue != "binance":
            await self._tapped_book(symbol)
            return
        ob = await self._client(symbol).watch_order_book(symbol)
        now = self.clock.now_ns()
        # copy now: ccxt mutates this object in place on the next message
        nonce = ob.get("nonce") or 0
        bids = [(float(p), float(q)) for p, q, *_ in ob["bids"][: self.depth]]
        asks = [(float(p), float(q)) for p, q, *_ in ob["asks"][: self.depth]]
        if not all(_ok(p, q) and p > 0 for p, q in bids + asks):
            self.invalid += 1
            log.warning("%s book has an invalid level at nonce %s; skipped", symbol, nonce)
            return
        last = self._last_nonce.get(symbol)
        if last is not None and nonce < last:
            self.nonce_backwards += 1
        self._last_nonce[symbol] = nonce
        ts = ob.get("timestamp")
        self.age[(symbol, "book")] = now
        self.emit(BookSnapshot(exchange=self.exchange_id(symbol), symbol=symbol,
                               ts_event=ts * _MS if ts else now, ts_recv=now, update_id=nonce,
                               bids=tuple(bids), asks=tuple(asks),
                               has_exchange_time=ts is not None))

    async def _tapped_book(self, symbol: str) -> None:
        """The subscription of a book the tap reads: the frames never reach ccxt, so the watch
        waits until the tap reports a sequence break (or the connection fails); then the
        connection is closed and the watch subscribes anew, for a fresh snapshot."""
        if symbol in self._resync:
            self._resync.discard(symbol)
            await self._venue_live()[0].reconnect(self.ex, symbol)
        await self.ex.watch_order_book(symbol, self.depth if self.venue == "bybit" else None)

    async def _ticker(self, symbol: str) -> None:
        tickers = await self._client(symbol).watch_bids_asks([symbol])
        now = self.clock.now_ns()
        t = tickers.get(symbol)
        if not t:
            return
        b, bq, a, aq = t.get("bid"), t.get("bidVolume"), t.get("ask"), t.get("askVolume")
        if not (_ok(b, bq, a, aq) and b > 0 and a > 0):
            self.invalid += 1
            return
        info = t.get("info") or {}
        ts = t.get("timestamp")
        self.age[(symbol, "ticker")] = now
        self.emit(BestBidAsk(exchange=self.exchange_id(symbol), symbol=symbol,
                             ts_event=ts * _MS if ts else now, ts_recv=now,
                             update_id=int(info.get("u", 0)), bid_price=float(b),
                             bid_size=float(bq), ask_price=float(a), ask_size=float(aq),
                             has_exchange_time=ts is not None))

    async def _trades(self, symbol: str) -> None:
        trades = await self._client(symbol).watch_trades(symbol)
        now = self.clock.now_ns()
        for tr in trades:
            p, q = tr.get("price"), tr.get("amount")
            if not (_ok(p, q) and p > 0):
                self.invalid += 1
                continue
            self.age[(symbol, "trades")] = now
            self.emit(Trade(exchange=self.exchange_id(symbol), symbol=symbol,
                            ts_event=(tr.get("timestamp") or 0) * _MS, ts_recv=now,
                            trade_id=int(tr.get("id") or 0), price=float(p), size=float(q),
                            taker_side=tr.get("side") or "buy"))

    async def _open_interest(self, symbol: str) -> None:
        """One poll of the venue's open interest, then the wait until the next (pacing a REST
        poll, not synchronising anything)."""
        oi = await self._client(symbol).fetch_open_interest(symbol)
        now = self.clock.now_ns()
        amount = oi.get("openInterestAmount")
        ts = oi.get("timestamp")
        if not (_ok(amount) and amount > 0):
            self.invalid += 1
        else:
            self.age[(symbol, "open_interest")] = now
            self.emit(OpenInterest(exchange=self.exchange_id(symbol), symbol=symbol,
                                   ts_event=ts * _MS if ts else now, ts_recv=now,
                                   open_interest=float(amount)))
        await asyncio.sleep(self.open_interest[symbol])

    async def _mark(self, symbol: str) -> None:
        tickers = await self._client(symbol).watch_mark_prices([symbol])
        now = self.clock.now_ns()
        t = tickers.get(symbol)
        if not t:
            return
        m = t.get("info") or {}
        try:
            mark = float(m["p"])
            index = float(m["i"]) if m.get("i") not in (None, "") else None
            rate = float(m["r"]) if m.get("r") not in (None, "") else None
            nxt = int(m["T"]) if m.get("T") else None
            ts = int(m["E"])
        except (KeyError, TypeError, ValueError):
            self.invalid += 1
            return
        if not (_ok(mark) and mark > 0 and (index is None or _ok(index))
                and (rate is None or math.isfinite(rate))):
            self.invalid += 1
            return
        self.age[(symbol, "mark")] = now
        ev = MarkPrice(exchange=self.exchange_id(symbol), symbol=symbol, ts_event=ts * _MS,
                       ts_recv=now, mark_price=mark, index_price=index,
                       funding_rate=rate if nxt else None,
                       next_funding_ts=nxt * _MS if nxt else None)
        self.emit(ev)
        settled = self.settler.on_mark(ev)
        if settled is not None:
            self.emit(settled)
