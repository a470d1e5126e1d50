"""Live broker: child orders through ccxt (REST); fills, order states, positions and the wallet
from the user-data stream.

`submit` and `cancel` start a task and return at once; what comes back (fills, order updates)
is collected and handed to the execution engine on its next `on_time`, exactly as the paper
broker's events are. The deterministic client order id goes with every attempt, so a retry
can never create a second order. Everything the venue decides (the parameters carrying that
id, its codes, its user-data fields, its request costs) comes from the venue's order module
(`engine/venues/<venue>/orders.py`; Binance's by default). What an error means comes from the
venue's map (onto `engine.core.errors`): `VenueUnavailable` (network,
timeouts, 429, 5xx) is retried with back-off, a "duplicate client order id" means an earlier
attempt got through, so the order is looked up instead; `OrderRejected` (margin, filters,
reduce-only) is final and never retried; `VenueAuthError` and anything that is not a venue
error at all propagate: the supervisor halts the run.

Every request first waits in the broker's `PriorityThrottle` for room in the venue's budget
(weights and limits from `engine.venues`); ccxt's own limiter is off, since it queues all
requests in one line and lets an account lookup hold a child order back.

COIN-M contracts (BTC/USD:BTC, BTC/USD:BTC-250627) go through a third, `coinm_exchange`
(binancecoinm), with COIN-M's budget, its own user-data stream (fills, order ends, positions,
the wallets in coins) and income history.

Spot symbols (BTC/USDT) go through a second ccxt client, `spot_exchange` (binance spot), with
its own budget; its user data (fills, order ends, the spot wallet) comes from the spot
WebSocket API stream. Transfers between the spot and the futures wallet are Binance's universal
transfer (ccxt `transfer`); an answer lost after the retries is settled by looking the
transfer up in the venue's history (it carries no id of ours: matched by type, asset, amount
and time, each venue transfer claimed once).

The user-data stream (`run_streams`) keeps four views: `watch_my_trades` (fills, merged with the
REST ones by trade id), `watch_orders` (an order that ends at the venue: a resting order filled
or cancelled there), `watch_positions` and `watch_balance` (what the venue holds, for the
runner's reconciliation). An order's final state is handed on only once its fills have been:
the execution engine must never see "filled" before the fill itself, or it would send more.
"""

from __future__ import annotations

import asyncio
import logging
from decimal import Decimal

from engine.brokers.throttle import PriorityThrottle
from engine.core.errors import OrderRejected, VenueAuthError, VenueUnavailable
from engine.core.ratelimit import RateBudget, RequestCost
from engine.execution.markets import MarketSpec, market_kind
from engine.model.events import Fill, Transfer
from engine.model.orders import (POST_ONLY_WOULD_TAKE, OrderRequest, OrderUpdate,
                                 TransferRequest)
from engine.brokers.order_tracker import OrderTracker
from engine.venues.binance.rate_limits import COINM_COSTS, SPOT_COSTS

log = logging.getLogger("engine.brokers.live")


class LiveBroker:
    def __init__(self, exchange, markets: dict[str, MarketSpec], clock, retries: int = 4,
                 backoff_s: float = 0.2, throttle: PriorityThrottle | None = None,
                 costs: dict[str, RequestCost] | None = None, spot_exchange=None,
                 spot_throttle: PriorityThrottle | None = None, coinm_exchange=None,
                 coinm_throttle: PriorityThrottle | None = None, venue_orders=None) -> None:
        """`venue_orders`: the venue's order module (engine/venues/<venue>/orders.py: client
        id parameters, codes, user-data reader, request costs); default Binance's."""
        if venue_orders is None:
            from engine.venues.binance import orders as venue_orders
        self.vo = venue_orders
        self.ud, self.classify = venue_orders.ud, venue_orders.classify
        self.ex, self.markets, self.clock = exchange, markets, clock
        self.spot_ex = spot_exchange
        self.coinm_ex = coinm_exchange
        if coinm_exchange is not None and coinm_throttle is None:
            from engine.execution.markets import BUNDLED_COINM
            from engine.venues.binance.rate_limits import load_windows

            coinm_throttle = PriorityThrottle(RateBudget(load_windows(BUNDLED_COINM)), clock)
        self.coinm_throttle = coinm_throttle
        if spot_exchange is not None and spot_throttle is None:
            from engine.execution.markets import BUNDLED_SPOT
            from engine.venues.binance.rate_limits import load_windows

            spot_throttle = PriorityThrottle(RateBudget(load_windows(BUNDLED_SPOT)), clock)
        self.spot_throttle = spot_throttle
        if throttle is None:
            from engine.execution.markets import BUNDLED_USDM
            from engine.venues.binance.rate_limits import load_windows

            throttle = PriorityThrottle(RateBudget(load_windows(BUNDLED_USDM)), clock)
        self.throttle = throttle
        self.costs = costs if costs is not None else venue_orders.COSTS
        self.max_send_delay_ns = 0  # worst time from a child's release to its request leaving
        # starts each request task; the runner hands in its supervisor's `spawn`
        self.spawner = None
        self.retries, self.backoff_s = retries, backoff_s
        self.inbox: list[Fill | OrderUpdate] = []
        self.tasks: set[asyncio.Task] = set()
        self.fill_log: list[tuple[Fill, bool]] = []
        self.orders = OrderTracker()  # what every source said of each order (pure)
        self.attempts: dict[str, int] = {}
        self.latency_ns = 0
        self.stream_fills = 0
        self.rest_fills = 0
        self.venue_positions_seen: dict[str, Decimal] = {}  # from watch_positions
        self.venue_cash: dict[str, Decimal] = {}  # wallet balance, from watch_balance
        self.venue_spot: dict[str, Decimal] = {}  # the spot wallet, from the spot stream
        self.venue_coinm: dict[str, Decimal] = {}  # the COIN-M wallets, from their stream
        self._claimed_transfers: set[str] = set()  # venue tranIds matched to ours
        self.stream_updates = 0
        self._placing: dict[str, asyncio.Task] = {}  # client id -> its create_order task
        # funding as the venue charged it (income history), for the runner to book
        self.funding_fees: list[tuple[str, int, Decimal, str]] = []  # symbol, ts ns, amount, id
        self._seen_funding: set[tuple[str, str]] = set()  # (market, income id)
        self._funding_task: asyncio.Task | None = None
        self._funding_dirty = False
        # per market (usdm, coinm): none from before this run
        start_ms = clock.now_ns() // 1_000_000
        self.funding_since_ms = {"usdm": start_ms, "coinm": start_ms}

    # -- the broker interface ---------------------------------------------------------------
    def submit(self, order: OrderRequest, now: int) -> None:
        cid = order.client_order_id
        self.orders.submit(order)
        self._placing[cid] = t = self._spawn(self._place(order), f"order {cid}")
        t.add_done_callback(lambda _: self._placing.pop(cid, None))

    def cancel(self, client_order_id: str, now: int) -> None:
        self._spawn(self._cancel(client_order_id), f"cancel {client_order_id}")

    def on_time(self, now: int) -> list[Fill | OrderUpdate]:
        out, self.inbox = self.inbox, []
        return out

    def on_trade(self, trade) -> list:
        return []

    def on_delta(self, delta) -> None:
        return None

    @property
    def in_flight(self) -> int:
        return len(self.tasks)

    async def drain(self) -> None:
        while self.tasks:
            await asyncio.gather(*list(self.tasks), return_exceptions=True)

    def _spawn(self, coro, name: str = "order") -> asyncio.Task:
        if self.spawner is not None:  # the run's supervisor owns it (a failure halts)
            t = self.spawner(coro, name)
        else:
            t = asyncio.get_running_loop().create_task(coro, name=name)
        self.tasks.add(t)
        t.add_done_callback(self.tasks.discard)
        return t

    # -- calls --------------------------------------------------------------------------------
    @property
    def orders_per_s(self) -> float | None:
        """The sustained order rate the venue's budget allows (the executor plans with it)."""
        return self.throttle.budget.orders_per_s()

    def _venue(self, symbol: str) -> str:
        """The market a symbol trades on, and so the client its requests go through:
        `spot`, `usdm` or `coinm` (a venue whose one client serves every kind: `usdm`)."""
        return "usdm" if self.vo.ONE_CLIENT else market_kind(symbol)

    async def _call(self, what: str, method: str, *args, released_ns: int | None = None,
                    venue: str = "usdm", retries: int | None = None, **kw):
        """`method` of `venue`'s ccxt client (spot, usdm, coinm), inside that market's
        budget, retried while transient (`retries`, default the broker's); `released_ns`:
        when the engine released this request (its send delay is measured)."""
        import ccxt

        client, throttle = {"spot": (self.spot_ex, self.spot_throttle),
                            "coinm": (self.coinm_ex, self.coinm_throttle)}.get(
            venue, (self.ex, self.throttle))
        if client is None:
            raise OrderRejected(f"{what}: no {venue} client (live {venue} trading needs its "
                                "client)", 0, f"no {venue} client")
        fn = getattr(client, method)
        cost = {"spot": SPOT_COSTS, "coinm": COINM_COSTS}.get(venue, self.costs)[method]
        delay = self.backoff_s
        retries = self.retries if retries is None else retries
        for attempt in range(retries + 1):
            await throttle.acquire(cost)
            if released_ns is not None and attempt == 0:
                self.max_send_delay_ns = max(self.max_send_delay_ns,
                                             self.clock.now_ns() - released_ns)
            try:
                return await fn(*args, **kw)
            except ccxt.BaseError as exc:
                err = self.classify(exc)
                if not isinstance(err, VenueUnavailable) or attempt == retries:
                    raise err from exc
                log.warning("%s failed (%s); retry %d in %.2fs", what, err, attempt + 1, delay)
                await asyncio.sleep(delay)  # back-off before the same request again
                delay *= 2

    async def _place(self, o: OrderRequest) -> None:
        venue = self._venue(o.symbol)
        params = self.vo.order_params(o, venue == "spot")
        kind = "limit" if o.price is not None else "market"
        self.attempts[o.client_order_id] = self.attempts.get(o.client_order_id, 0) + 1
        now = self.clock.now_ns()
        try:
            res = await self._call(f"order {o.client_order_id}", "create_order", o.symbol,
                                   kind, o.side, float(o.qty),
                                   None if o.price is None else float(o.price), params,
                                   released_ns=o.ts_created or now, venue=venue)
        except VenueUnavailable as exc:
            # one of the attempts may have reached the venue with its answer lost: ask for the
            # order by its id before calling it rejected
            try:
                res = await self._lookup(o.symbol, o.client_order_id)
            except (VenueUnavailable, OrderRejected):
                self.inbox += self.orders.refused(
                    o.client_order_id, o.symbol, "rejected", exc.code,
                    f"gave up after retries: {exc.venue_message}", now)
                return
        except OrderRejected as exc:
            if exc.code == self.vo.DUPLICATE_CLIENT_ID:  # an earlier attempt got through
                res = await self._lookup(o.symbol, o.client_order_id)
            else:
                self.inbox += self.orders.refused(
                    o.client_order_id, o.symbol, "rejected", exc.code, exc.venue_message, now,
                    POST_ONLY_WOULD_TAKE if exc.code in self.vo.POST_ONLY_WOULD_TAKE else "")
                return
        await self._report(o, await self._with_state(o.symbol, o.client_order_id, res))

    async def _lookup(self, symbol: str, cid: str) -> dict:
        """The venue's view of an order, by our client id (unknown: `OrderRejected` with the
        venue's unknown-order code)."""
        for method, args in self.vo.lookups(symbol, cid):
            res = await self._call("fetch order", method, *args, venue=self._venue(symbol))
            if not isinstance(res, list):
                return res
            found = next((o for o in res if o.get("clientOrderId") == cid), None)
            if found is not None:
                return found
        code = self.vo.UNKNOWN_ORDER[0]
        raise OrderRejected(f"fetch order: {cid} not at the venue", code,
                            "order does not exist")

    async def _with_state(self, symbol: str, cid: str, res: dict) -> dict:
        """`res` (a create or cancel answer) with the order's state: a venue whose answers
        carry ids only is asked for it (if that fails, the user-data stream brings it)."""
        if self.vo.ANSWERS_WITH_STATE or res.get("status") is not None:
            return res
        try:
            return await self._lookup(symbol, cid)
        except (VenueUnavailable, OrderRejected) as exc:
            log.warning("order %s: state not read after the answer (%s); the stream tells",
                        cid, exc)
            return res

    async def _report(self, o: OrderRequest, res: dict) -> None:
        """The venue's answer for an order (its own, a lookup's, a cancel's)."""
        filled = self.ud.filled_of(res)
        await self._catch_up(o.client_order_id, o.symbol, o.side, res)
        status = self.ud.order_status(res)
        now = self.clock.now_ns()
        if status == "accepted":
            self.inbox += self.orders.accepted(o, filled, now)
        else:
            self.inbox += self.orders.end(o.client_order_id, o.symbol, status, filled, now)

    def _take_fill(self, f: Fill) -> bool:
        out = self.orders.fill(f)
        if not out:
            return False
        self.fill_log.append((f, True))
        self.inbox += out
        return True

    async def recover(self, cid: str, symbol: str, side: str) -> str:
        """A restart found `cid` unfinished in the journal: ask the venue. Its fills are taken
        in (the inbox), an open order is cancelled, one the venue never saw is `unsent`."""
        self.attempts.setdefault(cid, 0)
        try:
            res = await self._lookup(symbol, cid)
        except OrderRejected as exc:
            if exc.code not in self.vo.UNKNOWN_ORDER:
                raise
            self.inbox += self.orders.refused(cid, symbol, "unsent", 0,
                                              "not at the venue: never arrived",
                                              self.clock.now_ns())
            return "unsent"
        await self._catch_up(cid, symbol, side, res)
        status = self.ud.order_status(res)
        if status == "accepted":
            res = await self._call(f"cancel {cid}", "cancel_order", None, symbol,
                                   self.vo.by_client_id(cid), venue=self._venue(symbol))
            res = await self._with_state(symbol, cid, res)
            await self._catch_up(cid, symbol, side, res)
            status = "canceled"
        self.inbox += self.orders.end(cid, symbol, status, self.ud.filled_of(res),
                                      self.clock.now_ns())
        return status

    async def _catch_up(self, cid: str, symbol: str, side: str, res: dict) -> None:
        """Fetch the order's fills by REST when the venue says more filled than we have."""
        if self.orders.filled(cid) < self.ud.filled_of(res) and res.get("id"):
            now = self.clock.now_ns()
            for t in await self._call("fetch trades", "fetch_my_trades", symbol,
                                      params=self.vo.trades_of(res["id"]),
                                      venue=self._venue(symbol)):
                if t.get("order") not in (None, res["id"]):
                    continue  # another order's trade (a venue that filtered less than asked)
                if self._take_fill(self.ud.fill_from_trade(t, cid, symbol, side, now)):
                    self.rest_fills += 1

    async def run_streams(self) -> None:
        """The user-data stream, one ccxt watcher per view, each reconnecting on its own."""
        views = [self._watch("my trades", self.ex.watch_my_trades, self._on_trades),
                 self._watch("orders", self.ex.watch_orders, self._on_orders),
                 self._watch("positions", self.ex.watch_positions, self._on_positions),
                 self._watch("balance", self.ex.watch_balance, self._on_balance)]
        if self.spot_ex is not None:
            views += [self._watch("spot trades", self.spot_ex.watch_my_trades, self._on_trades),
                      self._watch("spot orders", self.spot_ex.watch_orders, self._on_orders),
                      self._watch("spot balance", self.spot_ex.watch_balance,
                                  self._on_spot_balance)]
        if self.coinm_ex is not None:
            views += [self._watch("COIN-M trades", self.coinm_ex.watch_my_trades,
                                  self._on_trades),
                      self._watch("COIN-M orders", self.coinm_ex.watch_orders, self._on_orders),
                      self._watch("COIN-M positions", self.coinm_ex.watch_positions,
                                  self._on_positions),
                      self._watch("COIN-M balance", self.coinm_ex.watch_balance,
                                  self._on_coinm_balance)]
        await asyncio.gather(*views)

    async def _watch(self, name: str, fn, handle) -> None:
        import ccxt

        backoff = 0.25
        while True:
            try:
                got = await fn()
                backoff = 0.25
            except ccxt.BaseError as exc:
                err = self.classify(exc)
                if isinstance(err, VenueAuthError):
                    raise err from exc  # a key the venue refuses: no retry can help
                log.warning("user-data %s stream failed (%s); retrying in %.2fs", name, err,
                            backoff)
                await asyncio.sleep(backoff)  # back-off before reconnecting
                backoff = min(10.0, backoff * 2)
                continue
            try:
                handle(got)
            except (KeyError, TypeError, ValueError, ArithmeticError) as exc:
                log.warning("malformed user-data %s message skipped: %s", name, exc)

    def _on_trades(self, trades: list) -> None:
        now = self.clock.now_ns()
        for t in trades:
            cid = self.ud.trade_client_id(t)
            if cid and self._take_fill(self.ud.fill_from_trade(t, cid, t["symbol"],
                                                          t.get("side") or "", now)):
                self.stream_fills += 1

    def _on_orders(self, orders: list) -> None:
        for o in orders:
            end = self.ud.order_end(o)
            if end is None or end[0] not in self.attempts:
                continue  # not ours, or not over yet
            self.stream_updates += 1
            self.inbox += self.orders.end(*end, now=self.clock.now_ns())

    def _on_positions(self, positions: list) -> None:
        for p in positions:
            got = self.ud.position_amount(p)
            if got is not None:
                self.venue_positions_seen[got[0]] = got[1]

    def _on_balance(self, balance: dict) -> None:
        wallet, funding = self.ud.wallet_update(balance)
        self.venue_cash.update(wallet)
        if self.vo.ONE_CLIENT:  # one account holds every coin: an inverse contract's margin
            self.venue_coinm.update(wallet)  # coin is compared as a COIN-M wallet
        if funding:  # the wallet moved by funding: read what, per symbol
            self._funding_dirty = True
            if self._funding_task is None or self._funding_task.done():
                self._funding_task = self._spawn(self._funding_loop(), "funding lookup")

    def _on_spot_balance(self, balance: dict) -> None:
        self.venue_spot.update(self.ud.spot_balances(balance))

    def _on_coinm_balance(self, balance: dict) -> None:
        wallet, funding = self.ud.wallet_update(balance)  # the same ACCOUNT_UPDATE, in coins
        self.venue_coinm.update(wallet)
        if funding:
            self._funding_dirty = True
            if self._funding_task is None or self._funding_task.done():
                self._funding_task = self._spawn(self._funding_loop(), "funding lookup")

    # -- transfers between the wallets ----------------------------------------------------------
    def transfer(self, req: TransferRequest, now: int) -> None:
        self._spawn(self._transfer(req), f"transfer {req.transfer_id}")

    async def _transfer(self, req: TransferRequest) -> None:
        kind = self.ud.TRANSFER_TYPE[(req.from_wallet, req.to_wallet)]
        try:
            # never resent: a transfer carries no id of ours, so a second request after a
            # lost answer would move the money twice; the venue's history says what happened
            res = await self._call(f"transfer {req.transfer_id}", "transfer", req.asset,
                                   float(req.amount), self.ud.CCXT_ACCOUNT[req.from_wallet],
                                   self.ud.CCXT_ACCOUNT[req.to_wallet], {"type": kind},
                                   venue="spot",
                                   retries=0)
            venue_id = str(res.get("id"))
            self._claimed_transfers.add(venue_id)
            self.inbox.append(self._transfer_done(req, "done", "", venue_id))
        except OrderRejected as exc:  # the venue said no: nothing moved
            self.inbox.append(self._transfer_done(req, "failed", f"{exc.code} "
                                                  f"{exc.venue_message}"))
        except VenueUnavailable:  # the answer is lost: did it happen?
            settled = await self.recover_transfer(req)
            # appended after the await: `on_time` swaps the inbox for a new list meanwhile
            self.inbox.append(settled)

    def _transfer_done(self, req: TransferRequest, status: str, why: str,
                       venue_id: str = "") -> Transfer:
        return Transfer(transfer_id=req.transfer_id, asset=req.asset, amount=req.amount,
                        from_wallet=req.from_wallet, to_wallet=req.to_wallet, status=status,
                        ts=self.clock.now_ns(), reason=why, venue_id=venue_id)

    def claim_transfers(self, venue_ids) -> None:
        """Venue transfers already matched to ours (a restart reads them from the journal):
        a history lookup never takes one of them for another."""
        self._claimed_transfers.update(v for v in venue_ids if v)

    async def recover_transfer(self, req: TransferRequest) -> Transfer:
        """Whether a transfer whose answer never came happened at the venue: its history
        since the request (less a minute of clock skew) holds a confirmed, unclaimed transfer
        of the same type, asset and amount, or it does not (then it never arrived: failed)."""
        kind = self.ud.TRANSFER_TYPE[(req.from_wallet, req.to_wallet)]
        since = req.ts_created // 1_000_000 - 60_000
        rows = await self._call("transfer history", "fetch_transfers", req.asset, since, 100,
                                {"type": kind, "size": 100}, venue="spot")
        for t in rows:
            tid, asset, amount, typ, confirmed = self.ud.transfer_row(t)
            if confirmed and (typ, asset, amount) == (kind, req.asset, req.amount) and \
                    tid not in self._claimed_transfers:
                self._claimed_transfers.add(tid)
                return self._transfer_done(req, "done", "", tid)
        return self._transfer_done(req, "failed", "not at the venue: never arrived")

    async def venue_spot_wallet(self) -> dict[str, Decimal]:
        """The spot wallet as the venue holds it (GET /api/v3/account)."""
        return self.ud.spot_balances(await self._call("fetch spot balance", "fetch_balance",
                                                 venue="spot"))

    @property
    def funding_pending(self) -> bool:
        """A funding fee was announced and its amounts are not read yet."""
        return self._funding_dirty or (self._funding_task is not None
                                       and not self._funding_task.done())

    async def _funding_loop(self) -> None:
        # one income request at a time (it weighs 30 on Binance's limiter), however many
        # symbols' fees were announced meanwhile
        failures = 0
        while self._funding_dirty:
            self._funding_dirty = False
            try:
                await self.poll_funding()
            except VenueUnavailable as exc:  # after its retries: asked again a little later,
                failures += 1  # twice, then on the next announcement (a drain must end)
                log.warning("funding history request failed: %s", exc)
                if failures <= 2:
                    self._funding_dirty = True  # (the wallets are not compared meanwhile)
                    await asyncio.sleep(2.0)  # back-off before the venue is asked again

    async def poll_funding(self, since_ms: int | None = None) -> int:
        """New funding fees from the venue's income history (each once, by its id): USD-M's,
        and COIN-M's (in coins) where COIN-M contracts are traded."""
        if not self.vo.FUNDING_HISTORY:
            return 0
        n = 0
        failed = None
        for venue in ("usdm", "coinm") if self.coinm_ex is not None else ("usdm",):
            # each market numbers its income and is read from its own cursor
            since = since_ms if since_ms is not None else self.funding_since_ms[venue]
            try:
                rows = await self._call(f"fetch {venue} funding", "fetch_funding_history",
                                        None, since, venue=venue)
            except VenueUnavailable as exc:  # the other market's rows are still taken
                failed = exc
                continue
            for r in rows:
                fid, symbol, ms, amount = self.ud.funding_row(r)
                if (venue, fid) in self._seen_funding:
                    continue
                self._seen_funding.add((venue, fid))
                self.funding_fees.append((symbol, ms * 1_000_000, amount, fid))
                self.funding_since_ms[venue] = max(self.funding_since_ms[venue], ms)
                n += 1
        if failed is not None:
            raise failed
        return n

    async def venue_account(self, symbols: list[str]
                            ) -> tuple[dict[str, Decimal], dict[str, tuple[Decimal, Decimal]]]:
        """What the venue holds: wallet balance per asset, and (quantity, entry price) per
        symbol, from `GET /fapi/v3/account` and the position risk."""
        cash = self.ud.wallet_balances(await self._call("fetch balance", "fetch_balance"))
        positions = {s: (Decimal(0), Decimal(0)) for s in symbols}
        for p in await self._fetch_positions(symbols):
            got = self.ud.position_entry(p)
            if got is not None and got[0] in positions:
                positions[got[0]] = got[1:]
        return cash, positions

    async def venue_positions(self, symbols: list[str]) -> dict[str, Decimal]:
        """Signed position per symbol as the venue reports it."""
        out = {s: Decimal(0) for s in symbols}
        for p in await self._fetch_positions(symbols):
            got = self.ud.position_entry(p)
            if got is not None and got[0] in out:
                out[got[0]] = got[1]
        return out

    async def _fetch_positions(self, symbols: list[str]) -> list[dict]:
        """The venue's positions of `symbols`, each market's from its own client."""
        if not self.vo.POSITIONS_BY_SYMBOLS:  # all of the account's, then ours
            wanted = set(symbols)
            return [p for p in await self._call("fetch positions", "fetch_positions")
                    if p.get("symbol") in wanted]
        out = []
        for venue in ("usdm", "coinm"):
            mine = [s for s in symbols if self._venue(s) == venue]
            if mine:
                out += await self._call(f"fetch {venue} positions", "fetch_positions", mine,
                                        venue=venue)
        return out

    async def venue_coinm_wallet(self) -> dict[str, Decimal]:
        """The COIN-M wallets (one per coin) as the venue holds them (GET /dapi/v1/account)."""
        return self.ud.wallet_balances(await self._call("fetch COIN-M balance", "fetch_balance",
                                                   venue="coinm"))

    async def _cancel(self, cid: str) -> None:
        placing = self._placing.get(cid)
        if placing is not None and not placing.done():
            await asyncio.wait([placing])  # a cancel must not overtake its own order
        # resting, or sent with its answer lost (it may rest at the venue all the same)
        o = self.orders.to_cancel(cid)
        now = self.clock.now_ns()
        if o is None:
            self.inbox.append(OrderUpdate(client_order_id=cid, symbol="", status="cancel_rejected",
                                          ts=now, reason="not resting", code=-2011))
            return
        try:
            res = await self._call(f"cancel {cid}", "cancel_order", None, o.symbol,
                                   self.vo.by_client_id(cid), venue=self._venue(o.symbol))
            res = await self._with_state(o.symbol, cid, res)
            await self._catch_up(cid, o.symbol, o.side, res)  # filled in part before?
            self.inbox += self.orders.end(cid, o.symbol, "canceled", self.ud.filled_of(res),
                                          self.clock.now_ns())
        except (OrderRejected, VenueUnavailable) as exc:
            self.inbox.append(OrderUpdate(client_order_id=cid, symbol=o.symbol,
                                          status="cancel_rejected", ts=now, code=exc.code,
                                          reason=exc.venue_message))
            if isinstance(exc, OrderRejected) and exc.code in self.vo.UNKNOWN_ORDER:
                # it ended at the venue (filled) before the cancel: its fills and its end
                # may come only by the stream, which may be gone (shutdown): ask for them
                try:
                    res = await self._lookup(o.symbol, cid)
                except OrderRejected:  # the venue never had it: nothing rests, nothing filled
                    return
                await self._report(o, res)
