"""A paper-trading session: the pipeline (books, portfolio, triggers) plus execution, the risk
guard and the paper broker, driven by one stream of recorded or live market events."""

from __future__ import annotations

from collections import deque

from engine.brokers.paper import PaperBroker
from engine.core.clock import ReplayClock
from engine.execution.engine import ExecutionEngine
from engine.execution.markets import MarketSpec, load_markets_for
from engine.execution.transfers import TransferPolicy
from engine.model.events import (BestBidAsk, BookDelta, MarketEvent, MarkPrice, RebalanceIntent,
                                 Trade)
from engine.feeds.warm_history import History
from engine.node.bars_wiring import bar_builders, from_bar_files, warm_symbol
from engine.node.build import build
from engine.node.config import EngineConfig, check_streaming_wallets
from engine.node.pipeline import Pipeline
from engine.risk.guard import RiskGuard
from engine.risk.quote_delay import QuoteDelay


# events stamped with the venue's own clock: what says a contract's expiry has come
_EXCHANGE_TIMED = (BestBidAsk, Trade, BookDelta, MarkPrice)


class PaperSession:
    def __init__(self, cfg: EngineConfig, markets: dict[str, MarketSpec] | None = None,
                 clock: ReplayClock | None = None,
                 price_from_depth: bool | frozenset[str] = False,
                 whole_books: bool = False, broker=None, book_funding: bool = True,
                 verify_books: bool = False, cfg_path: str | None = None) -> None:
        self.cfg = cfg
        check_streaming_wallets(cfg, "<config>" if cfg_path is None else cfg_path)
        self.clock = clock or ReplayClock()
        portfolio, strategy, stats, trigger = build(cfg, self.clock)
        self.pipeline = Pipeline(
            portfolio, stats, trigger, self.clock, price_from_depth=price_from_depth,
            whole_books=whole_books, book_funding=book_funding,
            quote_delay=QuoteDelay(late_ns=int(cfg.risk.max_quote_delay_ms * 1e6)),
            verify_books=verify_books)
        self.portfolio, self.strategy, self.trigger = portfolio, strategy, trigger
        self.cfg_path = cfg_path
        self.pipeline.bar_builders = bar_builders(cfg)
        # `[bars]` warm-up, per symbol before its first trade (its exchange time): from bar
        # files here; paper and live without files from the venue's klines, which the runner
        # fetches (`warm_bars`) before it hands that trade over
        self.bars_pending: set[str] = set(self.pipeline.bar_builders)
        self.bars_warmed: dict[str, dict] = {}  # symbol -> what its warm-up used
        self._next_bar_check = 0
        # dated contracts by expiry: a position still open at its expiry is delivered
        self._expiries = sorted((i.expiry_ns, sym) for sym, i in portfolio.instruments.items()
                                if i.is_dated)
        self.deliveries: list[dict] = []
        self.books = self.pipeline.books
        if markets is None:
            markets = venue_markets(cfg, cfg_path, portfolio.instruments)
        missing = [s for s in portfolio.instruments if s not in markets]
        if missing:
            from engine.core.errors import ConfigError

            raise ConfigError(f"no market rules for {missing}; give [markets].exchange_info "
                              "(binance) or [markets].listings.<venue>")
        self.markets = markets
        self.guard = RiskGuard(portfolio, cfg.risk, prices=self.pipeline.prices,
                               price_ts=self.pipeline.price_ts,
                               price_delay=self.pipeline.quote_delay.delay,
                               book_faults=self.pipeline.book_faults,
                               book_valid=self._book_valid)
        self.broker = broker if broker is not None else PaperBroker(
            self.books, markets, portfolio, cfg.paper.fees, int(cfg.paper.latency_ms * 1e6),
            spot_fees=cfg.paper.spot_fees)
        self.trades: dict[str, deque] = {}
        self.execution = ExecutionEngine(portfolio, markets, self.guard, self.broker,
                                         cfg.execution, self.pipeline.prices, books=self.books,
                                         trades=self.trades,
                                         book_fill=self.pipeline.on_account,
                                         transfers=(TransferPolicy(cfg.accounts)
                                                    if cfg.accounts.enabled else None))
        # rolls and carry moves wait for a working rebalance to end
        trigger.busy = lambda: self.execution.busy
        self._keep_ns = int(cfg.execution.vwap_window_s * 1e9)
        self._next_guard_update = 0
        self.guard_every_ns = 50_000_000  # feed ages are judged in seconds: 50 ms is plenty

    def _book_valid(self, symbol: str) -> bool:
        s = self.books.syncs.get(symbol)
        return s is not None and s.valid

    def on_event(self, ev: MarketEvent) -> RebalanceIntent | None:
        """Process one event and send what it decided right away (no journal in between)."""
        intent = self.process(ev)
        self.execution.dispatch(self.clock.now_ns())
        return intent

    def warm_bars(self, symbol: str, history, start_ns: int) -> None:
        self.bars_pending.discard(symbol)
        self.bars_warmed[symbol] = warm_symbol(self.pipeline, symbol, history, start_ns)

    def process(self, ev: MarketEvent) -> RebalanceIntent | None:
        """Process one event; children it decides wait in `execution.outbox` for `dispatch`."""
        if self.bars_pending and type(ev) is Trade and ev.symbol in self.bars_pending:
            self.warm_bars(ev.symbol, from_bar_files(self.cfg, self.cfg_path, ev.symbol,
                                                     ev.ts_event) if self.cfg.bars.history
                           else History(), ev.ts_event)
        if self._expiries and ev.ts_event >= self._expiries[0][0] and type(ev) in _EXCHANGE_TIMED:
            # expiry is exchange time; before this event's prices: a contract is delivered at
            # its last price before expiry
            self.clock.advance_to(ev.ts_recv)
            self._deliver_due(ev.ts_event, self.clock.now_ns())
        intent = self.pipeline.on_event(ev)
        now = self.clock.now_ns()
        if self.pipeline.bar_builders and now >= self._next_bar_check and intent is None:
            # (with an intent from this event, the quiet bars close on the next one)
            self._next_bar_check = now + 1_000_000_000
            intent = self.pipeline.close_bars(now)
        t = type(ev)
        if t is Trade:
            q = self.trades.get(ev.symbol)
            if q is None:
                q = self.trades[ev.symbol] = deque()
            q.append((ev.ts_recv, ev.size))
            while q and q[0][0] < now - self._keep_ns:
                q.popleft()
            self.execution.on_broker_events(self.broker.on_trade(ev), now)
        elif t is BookDelta:
            self.broker.on_delta(ev)
        if now >= self._next_guard_update:
            self.guard.update(now, list(self.pipeline.price_ts))
            self._next_guard_update = now + self.guard_every_ns
        if intent is not None:
            self.execution.on_intent(intent, now)
        else:
            self.execution.on_time(now)
        return intent

    def _deliver_due(self, market_ns: int, now: int) -> None:
        """Cash-settle each dated contract whose expiry has passed, at its last price before
        expiry (Binance uses the index's average over the last 30 minutes, which no recording
        here holds). Working parents on it end first."""
        from engine.core.numeric import to_decimal

        while self._expiries and market_ns >= self._expiries[0][0]:
            expiry, sym = self._expiries.pop(0)
            for p in list(self.execution.parents.values()):
                if p.symbol == sym and p.active:
                    self.execution.abort(p.parent_id, "contract delivered", now)
            px = self.pipeline.prices.pop(sym, None)
            # an expired contract is no longer priced, aged by the guard, nor required
            self.pipeline.price_ts.pop(sym, None)
            self.pipeline.required.discard(sym)
            self.pipeline.expired.add(sym)
            qty = self.portfolio.perps[sym].qty
            deliver = getattr(self.broker, "deliver", None)
            if not qty or deliver is None:  # live: the venue delivers, and its streams say so
                continue
            if not px:
                raise RuntimeError(f"{sym} expired with {qty} open and no price to deliver at")
            fill = deliver(sym, to_decimal(px), expiry, now)
            if fill is not None:
                self.execution.on_broker_events([fill], now)
                self.deliveries.append({"symbol": sym, "qty": str(qty), "price": str(fill.price),
                                        "expiry_ns": expiry})

    def idle(self, now: int) -> None:
        """No market event for a while (live): let time pass for the guard and the slicer."""
        self.clock.advance_to(now)
        now = self.clock.now_ns()
        self.guard.update(now, list(self.pipeline.price_ts))
        self._next_guard_update = now + self.guard_every_ns
        intent = self.pipeline.close_bars(now) if self.pipeline.bar_builders else None
        if intent is not None:
            self.execution.on_intent(intent, now)
        else:
            self.execution.on_time(now)


def venue_markets(cfg: EngineConfig, cfg_path: str | None, symbols) -> dict[str, MarketSpec]:
    """The market rules of every instrument, each from its venue: Binance's recorded
    exchangeInfo per market kind (`[markets]`), Bybit's and OKX's instrument listings
    (`[markets].listings`, relative to the config file; default: the bundled ones,
    scripts/data/<venue>/README.md)."""
    import os

    from engine.node.config import instrument_venues

    venue_of = instrument_venues(cfg)
    by_venue: dict[str, list[str]] = {}
    for sym in symbols:
        by_venue.setdefault(venue_of.get(sym, cfg.live.exchange), []).append(sym)
    out: dict[str, MarketSpec] = {}
    for venue, mine in sorted(by_venue.items()):
        if venue == "binance":
            m = cfg.markets
            out.update(load_markets_for(mine, usdm=m.exchange_info, spot=m.spot_exchange_info,
                                        coinm=m.coinm_exchange_info))
            continue
        if venue == "bybit":
            from engine.venues.bybit.markets import BUNDLED, read_markets
        else:
            from engine.venues.okx.markets import BUNDLED, read_markets
        listing = cfg.markets.listings.get(venue)
        if listing is not None and cfg_path is not None and not os.path.isabs(listing):
            listing = os.path.join(os.path.dirname(os.path.abspath(cfg_path)), listing)
        rules = read_markets(listing or BUNDLED)
        out.update({s: rules[s] for s in mine if s in rules})
    return out
