"""Market events → books → portfolio → statistics → trigger actor, in one synchronous call.

This is the hot path every mode shares: a replay, a live feed task or a benchmark hands each
event to `on_event` and gets back the intent it caused, if any.

The pipeline is the portfolio's one writer once a run is going: market events through
`on_event`, account events (fills from any broker, funding the venue charged) through
`on_account`. Everything else reads the portfolio.
"""

from __future__ import annotations

from collections import deque
from decimal import Decimal

from engine.book.manager import BookManager
from engine.book.sync import APPLIED
from engine.book.verify import BboVerifier
from engine.core.clock import ReplayClock, utc_text
from engine.model.events import (
    Bar,
    BestBidAsk,
    BookDelta,
    BookSnapshot,
    Fill,
    FundingPayment,
    FundingRate,
    MarketEvent,
    MarkPrice,
    OpenInterest,
    PortfolioUpdate,
    RebalanceIntent,
    Trade,
    Transfer,
)
from engine.feeds.bar_builder import BarBuilder
from engine.portfolio.state import Portfolio
from engine.portfolio.stats import MarketStats
from engine.risk.quote_delay import QuoteDelay
from engine.triggers.actor import TriggerActor


class Pipeline:
    def __init__(self, portfolio: Portfolio, stats: MarketStats, trigger: TriggerActor,
                 clock: ReplayClock, books: BookManager | None = None,
                 price_from_depth: bool | frozenset[str] = False, whole_books: bool = False,
                 book_funding: bool = True, quote_delay: QuoteDelay | None = None,
                 verify_books: bool = False) -> None:
        """`price_from_depth`: every symbol (True), or those named (a venue whose feed has
        books alone), is priced from its book's top after each diff, not from best bid/ask."""
        self.portfolio, self.stats, self.trigger, self.clock = portfolio, stats, trigger, clock
        self.books = books if books is not None else BookManager()
        self.price_from_depth = price_from_depth
        self._depth_all = price_from_depth is True
        self._depth_priced = price_from_depth if isinstance(price_from_depth, frozenset) \
            else frozenset()
        self.whole_books = whole_books  # live feeds hand over whole books, not diffs
        # live trading books funding as the venue charged it, not from the rate stream
        self.book_funding = book_funding
        self.intents: list[RebalanceIntent] = []
        # funding settled from the rate stream, (settlement, amount), for the caller to journal
        # and take (`take_funding`)
        self.funding_booked: list[tuple[FundingRate, Decimal]] = []
        self.prices: dict[str, float] = {}  # symbol -> latest mid (or mark)
        self.price_ts: dict[str, int] = {}  # symbol -> receive time of that price
        # symbol -> where its book went invalid, while it is (the guard's data-fault rule)
        self.book_faults: dict[str, str] = {}
        # how late each symbol's latest price was, by its exchange time against its feed's
        # usual latency (the guard's delayed-quote rule)
        self.quote_delay = quote_delay if quote_delay is not None else QuoteDelay()
        # replay: every book's top checked against the venue's recorded bookTicker
        self.verifiers: dict[str, BboVerifier] | None = {} if verify_books else None
        # Triggers stay quiet until every instrument the strategy trades has a live price and
        # a synced book where books are kept (no decision on half-known markets).
        self.required = {sym for legs in trigger.strategy.universe.values()
                         for sym in (legs.spot, legs.perp) if sym is not None}
        # dated contracts are rolled on their own price: no decision before they have one
        self.required |= {s for s, i in portfolio.instruments.items() if i.is_dated}
        # asset -> the one symbol whose bars feed its bar statistics (its spot, else its perp):
        # a spot and a perp bar of the same period are one bar of the asset, not two
        self.bar_source = {a: legs.spot or legs.perp
                           for a, legs in trigger.strategy.universe.items()}
        self.ready = False
        # symbol -> (asset, its bar builder): bars built from that symbol's trades (`[bars]`)
        self.bar_builders: dict[str, tuple[str, BarBuilder]] = {}
        self.bars_built: deque[Bar] = deque(maxlen=10_000)  # the latest, oldest first
        self.bar_sink = None  # called with each bar built (the journal's recorder)
        self.expired: set[str] = set()  # dated contracts past their expiry
        spot = {s: i.base for s, i in portfolio.instruments.items() if i.kind == "spot"}
        perp = {s: i.base for s, i in portfolio.instruments.items() if i.kind != "spot"}
        self._spot, self._perp = spot, perp
        self._has_dated = any(i.is_dated for i in portfolio.instruments.values())

    def _warm(self) -> bool:
        """Every traded instrument has a price, and every book that is being kept is synced."""
        if not self.required <= self.prices.keys():
            return False
        syncs = self.books.syncs
        if self.whole_books:  # live: every traded instrument's book must have arrived
            return all(s in syncs and syncs[s].valid for s in self.required)
        return all(syncs[s].valid for s in self.required if s in syncs)

    def _verifier(self, symbol: str) -> BboVerifier:
        v = self.verifiers.get(symbol)
        if v is None:
            v = self.verifiers[symbol] = BboVerifier(symbol)
        return v

    def books_verified(self) -> dict[str, dict[str, int]]:
        """Per symbol: book tops compared with the recorded bookTicker, and how many agreed."""
        out = {}
        for sym, v in sorted((self.verifiers or {}).items()):
            v.finish()
            out[sym] = {"compared": v.compared, "agreed": v.agreed,
                        "not_comparable": v.no_ticker}
        return out

    def _bars_closed(self, asset: str, bars: list[Bar]) -> None:
        on_bar = self.stats.on_bar
        for b in bars:
            on_bar(asset, b.open, b.high, b.low, b.close)
            self.bars_built.append(b)
            if self.bar_sink is not None:
                self.bar_sink(b)

    def _refresh_dated(self, market_ns: int) -> None:
        """The dated contracts' annualised basis, for the rules (`dated_basis`), by exchange
        time; a contract inside its roll window is left out (a basis trade leaves it)."""
        if self._has_dated:
            roll = self.trigger.roll
            self.stats.dated_basis = self.portfolio.dated_basis(
                market_ns, roll.roll_ns if roll is not None else 0)

    def close_bars(self, now: int, grace_ns: int = 2_000_000_000) -> RebalanceIntent | None:
        """Time passed (`now`, receive time): close the bars that ended more than `grace_ns`
        ago with no trade since (a quiet market; a late trade of them arrives within the
        grace), and let the rules look."""
        intent = None
        for sym, (asset, b) in self.bar_builders.items():
            bars = b.on_time(now - grace_ns, now)
            if not bars:
                continue
            self._bars_closed(asset, bars)
            if self.ready:
                self._refresh_dated(bars[-1].ts_event)
                got = self.trigger.on_update(PortfolioUpdate(
                    ts_event=bars[-1].ts_event, ts_recv=now, cause="bar", assets=(asset,),
                    nav=self.portfolio.nav))
                if got is not None:  # one decision at a time: the other builders close
                    self._decided(got)  # on the next call
                    return got
        return intent

    def take_funding(self) -> list[tuple[FundingRate, Decimal]]:
        out, self.funding_booked = self.funding_booked, []
        return out

    def on_account(self, ev: Fill | FundingPayment | Transfer) -> str | None:
        """A fill, a settled funding payment or a transfer between our wallets into the
        portfolio (exactly once per trade or transfer id); returns the underlying it changed. No rule is evaluated here: the next market event
        sees the new positions."""
        return self.portfolio.apply(ev)

    def on_event(self, ev: MarketEvent, evaluate: bool = True) -> RebalanceIntent | None:
        """Apply one event; with `evaluate` off (a bar backtest, before the last event of a
        timestamp) the state is updated but no rule looks at it yet."""
        self.clock.advance_to(ev.ts_recv)
        if self.expired and ev.symbol in self.expired:
            return None  # a delivered contract's market is over
        t = type(ev)
        cause = "price"
        ts_event = ev.ts_event
        if t is BestBidAsk:
            if self.verifiers is not None:
                self._verifier(ev.symbol).on_ticker(ev)
            if self._depth_all or ev.symbol in self._depth_priced:
                return None
            price = (ev.bid_price + ev.ask_price) * 0.5
            asset = self.portfolio.on_price(ev.symbol, price, ev.ts_recv)
        elif t is BookDelta:
            out, status = self.books.on_delta(ev)
            if self.verifiers is not None and out == APPLIED:
                book = self.books.syncs[ev.symbol].book
                self._verifier(ev.symbol).on_book(book.update_id, book.top())
            if status is not None and ev.symbol in self.portfolio.instruments:
                # a book we trade went invalid: a data fault until it resyncs
                where = utc_text(ev.ts_recv, ms=True)
                self.book_faults[ev.symbol] = f"gap after update {status.update_id} at {where}"
            if out != APPLIED or not (self._depth_all or ev.symbol in self._depth_priced):
                return None
            top = self.books.syncs[ev.symbol].book.top()
            if top is None:
                return None
            price = (top[0] + top[2]) * 0.5
            asset = self.portfolio.on_price(ev.symbol, price, ev.ts_recv)
        elif t is BookSnapshot:
            _, status = self.books.on_snapshot(ev, replace=self.whole_books)
            if status is not None and status.valid:
                if self.book_faults:
                    self.book_faults.pop(ev.symbol, None)
                if self.verifiers is not None:
                    book = self.books.syncs[ev.symbol].book
                    self._verifier(ev.symbol).on_book(book.update_id, book.top())
            return None
        elif t is MarkPrice:
            if ev.funding_rate is not None:
                self.stats.predicted_funding[ev.symbol] = ev.funding_rate
            price = ev.mark_price
            asset = self.portfolio.on_price(ev.symbol, price, ev.ts_recv, is_mark=True)
        elif t is Bar:
            price = ev.close
            asset = self.portfolio.on_price(ev.symbol, price, ev.ts_event)
            if asset is not None and self.bar_source.get(asset, ev.symbol) == ev.symbol:
                self.stats.on_bar(asset, ev.open, ev.high, ev.low, ev.close)
            cause = "bar"
        elif t is Trade:
            built = self.bar_builders.get(ev.symbol)
            if built is None:
                return None
            bars = built[1].on_trade(ev.ts_event, ev.ts_recv, ev.price, ev.size)
            if not bars:
                return None
            asset = built[0]
            self._bars_closed(asset, bars)
            price = 0.0
            cause = "bar"
            ts_event = bars[-1].ts_event  # the rules look at the bar that closed
        elif t is OpenInterest:
            px = self.prices.get(ev.symbol)
            if not px:  # the rule weighs open interest against the price: none yet
                return None
            asset = self._perp.get(ev.symbol)
            self.stats.on_open_interest(ev.symbol, ev.ts_event, ev.open_interest, px)
            price = 0.0
            cause = "sample"
        elif t is FundingRate:
            if self.book_funding:
                amount = self.portfolio.on_funding(ev)
                if amount:
                    self.funding_booked.append((ev, amount))
            self.stats.on_funding(ev.symbol, ev.rate)
            asset = self._perp.get(ev.symbol)
            price = 0.0
            cause = "funding"
        else:
            return None
        if price and ev.symbol in self.portfolio.instruments:  # a recording's other symbols
            # are replayed and verified, but neither price nor age a book we do not trade
            self.prices[ev.symbol] = price
            self.price_ts[ev.symbol] = ev.ts_recv
            if cause != "bar" and ev.ts_event != ev.ts_recv:  # it carries an exchange time
                self.quote_delay.observe(ev.symbol, ev.ts_event, ev.ts_recv)
        if asset is None:
            return None
        if price:
            if ev.symbol in self._spot:
                self.stats.spot_px[asset] = price
                if self.stats.on_price(asset, price, ev.ts_event) and cause == "price":
                    cause = "sample"
            else:
                self.stats.perp_px[asset] = price
                if asset not in self.stats.spot_px and self.stats.on_price(
                        asset, price, ev.ts_event) and cause == "price":
                    cause = "sample"
        if not evaluate:
            return None
        if not self.ready:
            self.ready = self._warm()
            if not self.ready:
                return None
        if cause != "price":
            self._refresh_dated(ts_event)
        intent = self.trigger.on_update(PortfolioUpdate(
            ts_event=ts_event, ts_recv=ev.ts_recv, cause=cause, assets=(asset,),
            nav=self.portfolio.nav))
        if intent is not None:
            self._decided(intent)
        return intent

    def remark(self, symbol: str, price: float, ts: int) -> None:
        """An instrument at a price it closed at earlier, no rule looking (a bar backtest
        skipping bars: the state just before the next bar it runs)."""
        self.portfolio.on_price(symbol, price, ts)
        self.prices[symbol] = price
        self.price_ts[symbol] = ts

    def force(self, rule: str, reason: str, ts: int) -> RebalanceIntent:
        """An intent to the current targets now (a backtest's initial allocation)."""
        intent = self.trigger.force(rule, reason, ts)
        self._decided(intent)
        return intent

    def _decided(self, intent: RebalanceIntent) -> None:
        for sym, sleeve in intent.sleeves.items():
            self.portfolio.set_sleeve(sym, sleeve)
        self.intents.append(intent)
