"""The headless run: a recorded (or, later, live) stream through a paper session, journaled.

Recovery. A run is identified by its config and inputs. Starting with a journal that already
holds the run, the engine replays the recorded input from its start: the core is deterministic,
so it rebuilds exactly the state it had (books, portfolio, trigger and execution state, the
paper exchange's resting orders). Every order the rebuild produces must already be in the
journal with the same parameters, and it is recognised as sent, not sent again; from the
journal's last checkpoint on, new orders are journaled, made durable (flushed) and only then
dispatched. Journal rows are idempotent (keys: intent id, client order id, trade id), so what
the crashed attempt had written is neither lost nor duplicated. A live run cannot replay the
market; there recovery reconciles with the exchange instead.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import os
import signal
import time
from dataclasses import dataclass, field
from pathlib import Path

from engine.core.errors import ConfigError, FatalError, one_line
from engine.feeds.capture import CaptureStats, merge_captures, sniff
from engine.feeds.warm_history import History
from engine.journal.lock import JournalLock
from engine.journal.recorder import Recorder
from engine.journal.store import Journal, JournalError
from engine.model.events import Fill, Trade, Transfer
from engine.model.orders import OrderUpdate
from engine.node.config import EngineConfig, instrument_venues
from engine.node.journal_start import KillReplay, start_journaled_run
from engine.node.heap import HeapSettler
from engine.node.live_wiring import (
    live_exchange_and_broker,
    coinm_market_data_exchange,
    market_data_exchange,
    open_interest_polls,
    spot_market_data_exchange,
)
from engine.node.session import PaperSession
from engine.node.recovery import resume_outside
from engine.node.recent import RecentActivity
from engine.node.report import Progress
from engine.node.run_report import run_summary
from engine.node.supervisor import Supervisor
from engine.node.venue_sync import VenueSync

log = logging.getLogger("engine.run")

CRASH_ENV = "BALLAST_CRASH_AT_EVENT"  # test hook: SIGKILL self after this event index
# test hook: SIGKILL self when the k-th new order batch is durable but not yet sent
CRASH_DISPATCH_ENV = "BALLAST_CRASH_BEFORE_DISPATCH"


@dataclass
class RunState:
    """What the status server and the alerts read while the run goes on."""

    mode: str
    events: int = 0
    started: float = field(default_factory=time.monotonic)
    max_margin_utilisation: float = 0.0
    intents: int = 0
    orders: int = 0
    fills: int = 0
    rejects: int = 0
    stopped: str | None = None
    finished: bool = False
    recent: RecentActivity = field(default_factory=RecentActivity)


def run_identity(cfg_text: str, inputs: list[str]) -> str:
    h = hashlib.sha256(cfg_text.encode())
    for p in inputs:
        st = os.stat(p)
        h.update(f"|{Path(p).name}|{st.st_size}".encode())
    return h.hexdigest()[:16]


def resolve_inputs(cfg: EngineConfig, cfg_path: str, override: list[str] | None) -> list[str]:
    if override:
        files = [str(Path(f)) for f in override]
    else:
        base = Path(cfg_path).resolve().parent
        files = [str((base / f).resolve()) for f in cfg.replay.files]
    if not files:
        raise ConfigError(f"{cfg_path}: at `$.replay.files`: no input files to replay")
    where = "--input" if override else f"{cfg_path}: at `$.replay.files`"
    for f in files:
        if not os.path.isfile(f):
            raise ConfigError(f"{where}: no such file: {f}")
        try:
            sniff(f, cfg.replay.market)
        except (ValueError, OSError) as exc:
            raise ConfigError(f"{where}: not a capture this engine reads: {exc}") from None
    return files


class Runner:
    def __init__(self, cfg: EngineConfig, cfg_path: str, cfg_text: str, inputs: list[str],
                 journal_path: str | None, mode: str = "replay", progress: bool = False,
                 speed: float = 0.0, duration_s: float | None = None,
                 adopt_venue: bool = False) -> None:
        self.cfg, self.cfg_path, self.cfg_text = cfg, cfg_path, cfg_text
        self.inputs, self.journal_path, self.mode = inputs, journal_path, mode
        self.progress = progress
        self.speed = speed  # 0: as fast as possible; else recorded time × speed
        self.duration_s = duration_s  # live modes: stop after this long
        # live: a venue whose account differs from [account] is adopted instead of refused
        self.adopt_venue = adopt_venue
        self.state = RunState(mode=mode)
        self.exchange = None
        broker = None
        if mode == "live":
            self.exchange, broker = live_exchange_and_broker(cfg, cfg_path)
        self.session = PaperSession(cfg, whole_books=mode != "replay", broker=broker,
                                    # OKX's feed has books alone: prices from their tops
                                    price_from_depth=frozenset(
                                        s for s, v in instrument_venues(cfg).items()
                                        if v == "okx" and mode != "replay"),
                                    book_funding=mode != "live",
                                    verify_books=mode == "replay" and cfg.replay.verify_books,
                                    cfg_path=cfg_path)
        self.venue = VenueSync(self.session, cfg, cfg_path, adopt_venue)  # live only
        self.feed = None
        # replay: (symbol, stream) -> receive time of its latest event, as a live feed keeps it
        self.replay_age: dict[tuple[str, str], int] = {}
        self.track_streams = False  # kept only for a reader (the status server sets it)
        self.journal: Journal | None = None
        self.rec: Recorder | None = None
        self.run_id = run_identity(cfg_text, inputs)
        self.known_orders: dict[str, tuple] = {}
        self.checkpoint = -1
        self.recovered_orders = 0
        self.new_orders = 0
        self._stop: str | None = None
        self.captures: list[CaptureStats] = []
        self.on_tick = None  # called every few hundred events (status, alerts)
        self.resuming = False  # paper/live: the journal holds an earlier attempt of this run
        self.resumed: dict = {}  # what the restart found and settled
        self.lock: JournalLock | None = None
        self._opened = False
        # every long-lived task is owned here; the first unexpected exception halts the run
        self.supervisor = Supervisor(on_failure=self._task_failed)
        self.on_failure = None  # called with the TaskFailed (the command line alerts)
        self._market_exchange = None
        self._spot_exchange = None
        self._coinm_exchange = None
        self._venue_exchanges: list = []  # Bybit's, OKX's market data clients
        self._user_data: asyncio.Task | None = None
        if hasattr(self.session.broker, "spawner"):
            self.session.broker.spawner = self.supervisor.spawn
        if mode == "live":  # no order before the venue has agreed with us once
            self.session.guard.hold("venue", "waiting for the first reconciliation with the "
                                    "venue", 0)
        self.halted_at_start: str | None = None  # a kill standing in the journal
        self.spot_start: dict[str, str] = {}
        self.kills = KillReplay([], self.session.guard)  # journaled kills not applied yet
        from engine.node.status import LatencyHistogram

        self.latency = LatencyHistogram()

    # -- journal ----------------------------------------------------------------------------
    async def _open_journal(self) -> None:
        if self.journal_path is None:
            return
        j = self.journal = await Journal.open(self.journal_path)
        self.supervisor.watch(j.writer_task)
        try:
            await self._start_journaled_run(j)
        except BaseException:
            await j.close()
            self.journal = None
            raise

    async def _start_journaled_run(self, j: Journal) -> None:
        start = await start_journaled_run(
            j, run_id=self.run_id, mode=self.mode, cfg_text=self.cfg_text, inputs=self.inputs,
            journal_path=self.journal_path, guard=self.session.guard,
            start_from_venue=self.venue.start_from_venue)
        self.halted_at_start, self.resuming = start.halted_at_start, start.resuming
        self.checkpoint, self.known_orders = start.checkpoint, start.known_orders
        self.rec = self.venue.rec = start.rec
        self.kills = start.kills
        guard = self.session.guard
        guard.on_change = self.rec.risk
        rec = self.rec
        self.session.pipeline.bar_sink = lambda b: rec.bar(b, "built")
        if self.mode != "replay":
            self.kills.apply(None)
        guard.on_kill = lambda action, why, now: self.rec.kill_action(action, why, now)
        self.session.execution.on_event = self._broker_event

    # live: what the venue sync saw (status, tests)
    @property
    def reconciliations(self) -> int:
        return self.venue.reconciliations

    @property
    def cash_reconciled(self) -> int:
        return self.venue.cash_reconciled

    @property
    def venue_start(self) -> dict:
        return self.venue.start

    def stream_ages(self) -> tuple[dict[tuple[str, str], int], int]:
        """(symbol, stream) -> receive time (ns) of its latest message, and the time now on
        the clock those were read by: the wall clock on live feeds (frames arrive ahead of
        the events the run has taken), the recording's receive time in a replay."""
        if self.feed is not None:
            return self.feed.age, time.time_ns()
        return self.replay_age, self.session.clock.now_ns()

    @property
    def failure(self):
        return self.supervisor.failure

    def _task_failed(self, failure) -> None:
        """A supervised task died: kill (journaled, so it stays killed), stop, alert."""
        s = self.session
        if self.journal is not None and self.journal.error is not None:
            log.error("the journal writer died: what follows (the kill, the cancels) is not "
                      "journaled")
            self.journal.discarding = True
        s.guard.kill(f"task failure: {failure}", s.clock.now_ns())
        self.request_stop("failure")
        if self.on_failure is not None:
            self.on_failure(failure)

    def _broker_event(self, ev) -> None:
        rec = self.rec
        if isinstance(ev, Fill):
            rec.fill(ev)
            self.state.fills += 1
            self.state.recent.fill(ev)
        elif type(ev) is Transfer:
            rec.transfer_settled(ev)
            self.state.recent.transfer(ev)
        elif isinstance(ev, OrderUpdate):
            if ev.status == "rejected":
                self.state.rejects += 1
            if ev.status == "rejected" and ev.reason.startswith("risk:"):
                p = self.session.execution.parents.get(ev.client_order_id.rsplit("-", 1)[0])
                rec.refused(ev, p.parent_id if p else "", p.side if p else "")
            else:
                rec.order_update(ev)

    async def _resume_outside(self) -> None:
        self.resumed = await resume_outside(self.journal, self.session, self.run_id, self.mode,
                                            self.rec, self.venue)

    # -- the loop -------------------------------------------------------------------------
    def request_stop(self, why: str) -> None:
        self._stop = why

    async def open(self) -> None:
        """Take the journal's lock (one run per journal), check a live key, open the journal
        and learn what it holds (a standing kill, an earlier attempt). `run` calls it when
        the caller has not: the command line opens first, so nothing (not even the status
        server) starts on a journal in use."""
        if self._opened:
            return
        self._opened = True
        if self.journal_path is not None:
            self.lock = JournalLock(self.journal_path).acquire()
        try:
            if self.mode == "live":
                from engine.venues import orders_of

                check_key_permissions = orders_of(self.cfg.live.exchange).check_key_permissions
                try:
                    from engine.node.config import buys_spot

                    await check_key_permissions(
                        self.exchange, spot=any(":" not in i.symbol for i in self.cfg.instruments)
                        and buys_spot(self.cfg.strategy), transfers=self.cfg.accounts.enabled)
                except BaseException as exc:
                    await self.exchange.close()
                    import ccxt

                    if isinstance(exc, ccxt.AuthenticationError):  # a person must look
                        raise FatalError(f"the venue refused the key: "
                                         f"{one_line(str(exc))}") from None
                    raise
            await self._open_journal()
        except BaseException:
            self._release()
            raise

    def _release(self) -> None:
        if self.lock is not None:
            self.lock.release()

    async def run(self) -> dict:
        await self.open()
        try:
            if self.resuming:
                await self._resume_outside()
            return await self._run()
        finally:
            if self.journal is not None:
                # aiosqlite's worker thread would keep the process alive if left open
                await self.journal.close()
            self._release()

    async def _run(self) -> dict:
        s = self.session
        # the spot wallet at the start (after a live start from the venue, or a restart's ledger)
        self.spot_start = {a: str(q) for a, q in s.portfolio.holdings.items()}
        ex = s.execution
        rec = self.rec
        crash_at = int(os.environ.get(CRASH_ENV, "-1"))
        crash_dispatch = int(os.environ.get(CRASH_DISPATCH_ENV, "-1"))
        batches = 0
        snap_every = int(self.cfg.run.snapshot_every_s * 1e9)
        cp_every = self.cfg.run.checkpoint_every
        next_snap = None
        restart_cancel = self.cfg.run.on_restart == "cancel" and self.checkpoint >= 0
        events = self._source()
        venue_funding = self.mode == "live"
        progress = Progress(self.progress)
        perf = time.perf_counter_ns
        # live and paper: start-up's heap out of the collector's way (replay has no deadline)
        settler = HeapSettler() if self.mode != "replay" else None
        settle_until = settler.again_at if settler is not None else -1
        yield_mask = 63 if self.mode != "replay" else 511
        if settler is not None:
            settler.settle("start-up")
        i = -1
        last_ts = 0
        try:
            kills = self.kills
            async for ev in events:
                i += 1
                if self._stop is not None:
                    break
                if i <= settle_until:
                    settler.on_event(i)
                if ev is None:  # live: no market event for a while; time still passes
                    s.idle(time.time_ns())
                    intent = None
                else:
                    if kills.pending and kills.due(ev.ts_recv):
                        kills.apply(ev.ts_recv)
                    if s.bars_pending and self.mode != "replay" and type(ev) is Trade \
                            and ev.symbol in s.bars_pending and not self.cfg.bars.history:
                        await self._warm_bars_from_venue(ev)
                    t0 = perf()
                    intent = s.process(ev)
                    if intent is not None or i & 63 == 0:
                        self.latency.observe((perf() - t0) / 1000.0)
                now = s.clock.now_ns()
                last_ts = now
                self.state.events = i + 1
                effects = False
                if intent is not None:
                    self.state.intents += 1
                    if rec:
                        rec.decision(intent)
                    effects = True
                if s.pipeline.funding_booked:
                    for fr, amt in s.pipeline.take_funding():
                        if rec:
                            rec.funding(fr.symbol, fr.ts_event, fr.rate, amt,
                                        s.portfolio.sleeve_of.get(fr.symbol, fr.symbol))
                if venue_funding and s.broker.funding_fees:
                    self.venue.book_funding()
                    effects = True
                if ex.outbox or ex.transfer_outbox:
                    effects = True
                    fresh = self._journal_orders(ex.outbox, now)
                    if ex.transfer_outbox:
                        fresh += len(ex.transfer_outbox)
                        if rec:
                            for t in ex.transfer_outbox:
                                rec.transfer_request(t, now)
                    if fresh and self.journal is not None:
                        await self.journal.flush()  # durable before it leaves
                        batches += 1
                        if batches == crash_dispatch:
                            os.kill(os.getpid(), signal.SIGKILL)
                    ex.dispatch(now)
                if restart_cancel and i >= self.checkpoint:
                    restart_cancel = False
                    if ex.busy:
                        log.warning("on_restart=cancel: aborting running parents")
                        ex.abort_all("cancelled on restart", now)
                        ex.dispatch(now)
                if ex.dirty and rec:
                    for p in ex.take_dirty():
                        rec.parent(p, now)
                    effects = True
                u = s.portfolio.margin_utilisation
                if u > self.state.max_margin_utilisation:
                    self.state.max_margin_utilisation = u
                if rec:
                    if next_snap is None:
                        next_snap = now - now % snap_every + snap_every
                    elif now >= next_snap:
                        rec.snapshot(now, s.portfolio.snapshot())
                        next_snap = now - now % snap_every + snap_every
                    if effects or i % cp_every == 0:
                        rec.checkpoint(i, now, time.time_ns())
                if i == crash_at:
                    os.kill(os.getpid(), signal.SIGKILL)
                if i & yield_mask == 0 and i & 511:
                    # live: other tasks (user data, order acks, timers) wait at most this many
                    # events while queued ones are taken without a pause
                    await asyncio.sleep(0)
                elif i & 511 == 0:
                    if self.journal is not None and self.journal.needs_flush:
                        await self.journal.flush()  # back-pressure: SQLite is behind
                    progress.update(i + 1)
                    if self.on_tick is not None:
                        self.on_tick()
                    await asyncio.sleep(0)
        except JournalError:
            if self.journal is None or self.journal.error is None:
                raise  # a journal that cannot be used: exit 3
            if self.failure is None:  # the writer died just now: its task's end comes later
                self.supervisor.fail("journal-writer", self.journal.error)
        except (ConfigError, FatalError):
            raise  # expected ends with their own exit codes
        except Exception as exc:  # a bug in the run loop itself: halt loudly, as for a task
            self.supervisor.fail("trader", exc)
        finally:
            progress.close()
            try:
                await events.aclose()  # the feeds stop here; the exchange stays open for cancels
            finally:
                if settler is not None:
                    settler.release()
        self.state.stopped = self._stop
        if self._stop is not None and self.cfg.run.on_shutdown == "cancel" and ex.busy:
            log.warning("stopping (%s): cancelling working orders", self._stop)
            ex.abort_all(f"shutdown: {self._stop}", last_ts)
            ex.dispatch(last_ts)
            for ev in s.broker.on_time(last_ts + s.broker.latency_ns):
                ex.on_broker_events([ev], last_ts)
        broker = s.broker
        if hasattr(broker, "drain"):
            await broker.drain()  # orders and cancels in flight come back before the close
            ex.poll_broker(s.clock.now_ns())
        if self._user_data is not None:
            self.supervisor.cancel(self._user_data)
            await asyncio.gather(self._user_data, return_exceptions=True)
        if self._market_exchange is not None:
            await self._market_exchange.close()
        for client in (self._spot_exchange, self._coinm_exchange, *self._venue_exchanges):
            if client is not None:
                await client.close()
        if rec and self.journal.error is None:
            for p in ex.take_dirty():
                rec.parent(p, last_ts)
            rec.snapshot(last_ts, s.portfolio.snapshot())
            if self._stop is None:
                rec.checkpoint(i, last_ts, time.time_ns())
            self.journal.write("UPDATE runs SET status=? WHERE run_id=?",
                               ("stopped" if self._stop else "finished", self.run_id))
            await self.journal.flush()
        self.state.finished = self._stop is None
        await self.supervisor.shutdown()
        return await self.report()

    async def _warm_bars_from_venue(self, first: Trade) -> None:
        """`[bars]` without files in paper and live: the venue's klines up to the symbol's
        first trade, before that trade is handed over. A venue that cannot serve them leaves
        the asset cold (its first, partial bar dropped): said in the log and the report."""
        import ccxt

        from engine.node.bars_wiring import from_venue

        sym, start = first.symbol, first.ts_event
        client = self.feed._client(sym) if self.feed is not None else None
        kept = await self._journaled_bars(sym, start)  # a restart: what the journal has
        try:
            h = await from_venue(self.cfg, client, sym, start,
                                 since_ns=kept[-1].ts_event if kept else None)
        except ccxt.BaseError as exc:
            log.warning("bar history for %s not fetched (%s): its statistics start cold",
                        sym, exc)
            h = History(source=f"not fetched: {type(exc).__name__}")
        else:
            h.source = f"{sym} klines from the venue"
        if kept:
            new = [b for b in h.closed if b.ts_open > kept[-1].ts_open]
            h.closed = (kept + new)[-self.cfg.bars.history_bars:]
            h.source += f", {len(kept)} from the journal"
        if self.rec is not None:
            for b in h.closed:
                self.rec.bar(b, "history")
        self.session.warm_bars(sym, h, start)

    async def _journaled_bars(self, symbol: str, start_ns: int) -> list:
        """The bars of `symbol` this run's journal holds (history and built), closed by
        `start_ns`, oldest first."""
        from engine.feeds.bars import timeframe_ns
        from engine.model.events import Bar

        if self.journal is None:
            return []
        tf = self.cfg.bars.interval
        step = timeframe_ns(tf)
        rows = await self.journal.fetchall(
            "SELECT ts_open, open, high, low, close, volume FROM bars WHERE run_id=? AND "
            "symbol=? AND timeframe=? AND ts_open + ? <= ? ORDER BY ts_open",
            (self.run_id, symbol, tf, step, start_ns))
        return [Bar(exchange="journal", symbol=symbol, ts_event=t + step, ts_recv=t + step,
                    timeframe=tf, ts_open=t, open=o, high=h, low=lo, close=c, volume=v)
                for t, o, h, lo, c, v in rows]

    def _binance_feed(self, symbols: list[str], queue: asyncio.Queue, clock) -> LiveFeed:
        """Binance's feed of `symbols`: USD-M through the run's client (live: the broker's),
        spot and COIN-M through their own clients."""
        from engine.execution.markets import market_kind
        from engine.feeds.live import LiveFeed

        live = self.cfg.live
        usdm = any(market_kind(s) == "usdm" for s in symbols)
        ex = self.exchange or (market_data_exchange(self.cfg, "binance") if usdm or
                               live.exchange == "binance" else None)
        self._market_exchange = ex  # closed by the run once working orders are settled
        # live: the broker's spot client (with the key) serves the spot feed too
        spot_ex = getattr(self.session.broker, "spot_ex", None) or \
            spot_market_data_exchange(self.cfg)
        self._spot_exchange = spot_ex
        # live: the broker's COIN-M client (with the key) serves the COIN-M feed too
        self._coinm_exchange = coinm_ex = getattr(self.session.broker, "coinm_ex", None) or \
            coinm_market_data_exchange(self.cfg)
        return LiveFeed(ex, symbols, queue.put_nowait, clock, depth=live.depth,
                        marks=live.mark_prices, spot_exchange=spot_ex, coinm_exchange=coinm_ex,
                        open_interest=open_interest_polls(self.cfg),
                        decode_frames=live.decode_frames)

    async def _source(self):
        """Market events: the recorded captures (replay) or the live feed (paper)."""
        if self.mode == "replay":
            from engine.feeds.replay import STREAM_OF, replay

            events = replay(merge_captures(self.inputs, market=self.cfg.replay.market,
                                           stats=self.captures), speed=self.speed or None)
            if not self.track_streams:
                async for ev in events:
                    yield ev
                return
            age, stream_of = self.replay_age, STREAM_OF
            async for ev in events:
                age[(ev.symbol, stream_of.get(type(ev), "other"))] = ev.ts_recv
                yield ev
            return
        from engine.core.clock import LiveClock
        from engine.feeds.live import LiveFeed
        from engine.feeds.venue_feeds import VenueFeeds

        live = self.cfg.live
        queue: asyncio.Queue = asyncio.Queue()
        clock = LiveClock()
        # every declared instrument: the universe's legs and those held outside it (dated)
        symbols = sorted(self.session.pipeline.required | set(self.session.portfolio.instruments))
        venue_of = instrument_venues(self.cfg)
        by_venue: dict[str, list[str]] = {}
        for sym in symbols:
            by_venue.setdefault(venue_of.get(sym, live.exchange), []).append(sym)
        feeds = {}
        for venue, mine in sorted(by_venue.items()):
            if venue == "binance":
                feeds[venue] = self._binance_feed(mine, queue, clock)
                continue
            if venue == live.exchange and self.exchange is not None:
                ex = self.exchange  # live: the broker's client (with the key) serves the feed
                self._market_exchange = ex
            else:
                ex = market_data_exchange(self.cfg, venue)
                self._venue_exchanges.append(ex)  # closed by the run, as Binance's are
            if any(":" in sym for sym in mine):
                log.warning("%s: mark prices and funding are not wired yet: no funding is "
                            "booked on its contracts (a live run's wallet then differs from "
                            "the venue's at the first settlement, and the run halts)", venue)
            # the streams wired for the venue so far: books, Bybit's best bid/ask, OKX's trades
            feeds[venue] = LiveFeed(ex, mine, queue.put_nowait, clock, depth=live.depth,
                                    tickers=venue == "bybit", trades=venue == "okx",
                                    marks=False, venue=venue)
        self.feed = next(iter(feeds.values())) if len(feeds) == 1 else VenueFeeds(feeds)
        sup = self.supervisor
        tasks = [sup.spawn(self.feed.run(), "live-feed")]
        if hasattr(self.session.broker, "run_streams"):
            # the user-data stream outlives this generator: it carries the fills of the
            # orders still being cancelled at the stop (cancelled once they are settled)
            self._user_data = sup.spawn(self.session.broker.run_streams(), "user-data")
            tasks.append(sup.spawn(self.venue.reconcile_loop(symbols, clock), "reconcile"))
        idle = live.idle_tick_ms / 1000.0
        end = None if self.duration_s is None else time.monotonic() + self.duration_s
        try:
            get_now = queue.get_nowait
            while self._stop is None and (end is None or time.monotonic() < end):
                try:
                    ev = get_now()  # most events are waiting already: no timer, no task
                except asyncio.QueueEmpty:
                    try:
                        ev = await asyncio.wait_for(queue.get(), idle)
                    except asyncio.TimeoutError:
                        yield None  # an idle tick: slices and the guard move on wall time
                        continue
                yield ev
            if self._stop is None:  # the time given by --duration is up: a stop, not an end
                self._stop = "duration"
        finally:
            for t in tasks:
                sup.cancel(t)
            await asyncio.gather(*tasks, return_exceptions=True)

    def _journal_orders(self, orders, now: int) -> int:
        fresh = 0
        for o in orders:
            self.state.orders += 1
            known = self.known_orders.get(o.client_order_id)
            if known is not None:
                mine = (o.symbol, o.side, str(o.qty), None if o.price is None else str(o.price))
                if known != mine:
                    raise JournalError(
                        f"{self.journal_path}: replay diverged from the journal at order "
                        f"{o.client_order_id}: journal {known}, now {mine}")
                self.recovered_orders += 1
                continue
            self.new_orders += 1
            fresh += 1
            if self.rec:
                self.rec.order(o, now, new=True)
        return fresh

    # -- the report -------------------------------------------------------------------------
    async def report(self) -> dict:
        return await run_summary(self)
