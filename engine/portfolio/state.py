"""The portfolio reducer: an exact ledger plus an incrementally marked valuation.

Ledger (exact, `Decimal`): cash in stablecoins, coin holdings, perp quantities and entry prices,
realized PnL, fees and funding. It changes only on fills and funding settlements.

Valuation (floats, for weights and risk statistics): every price event re-marks just the
instrument it names and moves the portfolio aggregates by the difference (NAV, exposure per
underlying, perp notional, unrealized PnL, initial and maintenance margin), so an update costs
the same with 2 instruments or 200. Ledger changes rebuild the aggregates from scratch, which
also clears float drift; a spot fill re-reads only the entries it moved and re-sums.

Conventions (quote currency = USD-stable, valued 1:1):
- Wallets as on the venue: the spot wallet (coins and stablecoins that spot trades move), the
  USD-M futures wallet (the stablecoin margin that linear perp fills, fees and funding move)
  and the COIN-M wallet (coins: each coin margins the inverse perps on it and takes their
  PnL, fees and funding). `pooled=True` keeps one pool for all (the bar backtest, which models
  no transfers; coin settlements join the holdings there).
- NAV = cash in both wallets + Σ coins (spot and COIN-M) × price + Σ perp unrealized PnL.
- Net exposure of an underlying = spot holding value + COIN-M coin value (a margin coin is
  held coin) + Σ perp notional on it (linear: qty × mark; inverse: contracts × contract size
  USD), signed: a COIN-M wallet of 1 BTC short 1 BTC's worth of contracts is flat.
- Weight = exposure / NAV. Gross leverage = (Σ|spot value| + Σ|perp notional|) / NAV;
  net leverage = Σ exposure / NAV.
- Initial margin = |notional| / leverage; maintenance from the leverage tiers (or a flat rate).
  Two margin accounts, as on the venue. USD-M: margin balance = futures wallet cash + linear
  perp unrealized PnL (+ spot coin holdings × `collateral_haircut`, where spot counts as
  collateral), utilisation = linear initial margin / that balance. COIN-M, one per coin: the
  coin's wallet value + its inverse perps' unrealized PnL, against their initial margin. The
  portfolio's utilisation is the highest of them (the cap applies to every account).
- Distance to liquidation = (margin balance − maintenance margin) / Σ|perp notional|: the
  uniform adverse move, as a fraction of price, that would eat the buffer (None without perps).
- Funding at a settlement: a position pays `qty × mark × rate` (linear, in quote) or
  `contracts × size / mark × rate` (inverse, in coin) when it is long and the rate is positive.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Iterable, Mapping

import msgspec

from engine.core.errors import ConfigError
from engine.core.numeric import to_decimal
from engine.model.events import Fill, FundingPayment, FundingRate, Transfer
from engine.model.orders import COINM_WALLET, FUTURES_WALLET, SPOT_WALLET, WALLETS
from engine.portfolio.instruments import LINEAR, SPOT, Instrument
from engine.portfolio.view import PortfolioView

STABLES = frozenset({"USDT", "USD", "USDC", "BUSD", "FDUSD", "TUSD", "DAI"})
_ZERO = Decimal(0)
_FEE_Q = Decimal("1e-8")


def fee_in_quote(f: Fill, stables: frozenset[str] = STABLES) -> Decimal:
    """A fill's fee in the quote currency: a fee paid in the fill's own coin (a spot buy's,
    an inverse perp's) at the fill's price, which is that coin's price in quote. A fee in
    another coin (BNB) has no price here and is left out (it stays in `fees_paid`)."""
    ccy = f.fee_currency or "USDT"
    if not f.fee or ccy in stables:
        return f.fee
    if ccy == f.symbol.partition("/")[0]:
        return (f.fee * f.price).quantize(_FEE_Q)
    return Decimal(0)


class PortfolioSnapshot(msgspec.Struct, frozen=True, kw_only=True):
    """Everything a strategy, a report or a status page reads, at one instant."""

    ts: int
    nav: float
    cash: float
    spot_value: dict[str, float]
    perp_notional: dict[str, float]
    exposure: dict[str, float]
    weights: dict[str, float]
    prices: dict[str, float]
    gross_leverage: float
    net_leverage: float
    unrealized_pnl: float
    realized_pnl: float
    initial_margin: float
    maintenance_margin: float
    margin_balance: float
    margin_utilisation: float
    distance_to_liquidation: float | None
    fees: float
    funding: float
    funding_by_sleeve: dict[str, float]
    positions: dict[str, float]
    holdings: dict[str, float]
    # balances per wallet ("spot", "futures": stablecoins; "coinm": coins)
    wallets: dict[str, dict[str, float]] = {}
    coinm: dict[str, float] = {}  # COIN-M wallet coins (inverse perps' margin)
    # dated contract -> its basis F / S − 1 annualised by days to expiry, against the coin's
    # price (spot, or the perpetual's where no spot is traded)
    basis: dict[str, float] = {}


class _Perp:
    __slots__ = ("inst", "asset", "qty", "entry", "qty_f", "entry_f", "cs_f", "mark", "notional",
                 "exp",
                 "upnl", "im", "mm", "realized", "funding", "fees", "lev", "linear", "coinm",
                 "wallet")

    def __init__(self, inst: Instrument) -> None:
        self.inst = inst
        self.asset = inst.base
        self.qty = _ZERO
        self.entry = _ZERO
        self.qty_f = 0.0
        self.entry_f = 0.0
        self.cs_f = float(inst.contract_size)
        self.mark = 0.0
        self.notional = 0.0
        # its share of the underlying's exposure: the notional, and for an inverse contract
        # its coin PnL too (q × size × price / entry: the coin it is owed moves with the price)
        self.exp = 0.0
        self.upnl = 0.0  # quote currency
        self.im = 0.0
        self.mm = 0.0
        self.realized = _ZERO  # settle currency
        self.funding = _ZERO  # settle currency, + received / - paid
        self.fees = _ZERO
        self.lev = inst.leverage
        self.linear = inst.kind == LINEAR
        self.coinm = False  # margined by its coin in the COIN-M wallet (set by the portfolio)
        self.wallet = FUTURES_WALLET  # where its PnL, fees and funding settle


def _utilisation(im: float, balance: float) -> float:
    if im == 0.0:
        return 0.0
    return im / balance if balance > 0 else float("inf")


def _notional_im(p: "_Perp", qty: float, mark: float) -> tuple[float, float]:
    notional = qty * (mark if p.linear else p.cs_f)
    return notional, abs(notional) / p.lev


class Portfolio:
    """Spot holdings and perp positions of one account, marked on every price event."""

    def __init__(self, instruments: Iterable[Instrument], cash: Mapping[str, Decimal | str | int],
                 holdings: Mapping[str, Decimal | str | int] | None = None,
                 collateral_haircut: float = 0.0, stables: frozenset[str] = STABLES,
                 spot_cash: Mapping[str, Decimal | str | int] | None = None,
                 futures_cash: Mapping[str, Decimal | str | int] | None = None,
                 pooled: bool = False,
                 coinm: Mapping[str, Decimal | str | int] | None = None) -> None:
        """`cash`: stablecoins of the futures wallet when any perp is declared (the margin),
        else of the spot wallet; `spot_cash` and `futures_cash`: stablecoins of each wallet;
        `holdings`: coins of the spot wallet; `coinm`: coins of the COIN-M wallet."""
        self.instruments: dict[str, Instrument] = {}
        self.stables = stables
        self.collateral_haircut = collateral_haircut
        # stablecoins per wallet; with `pooled` both names are one dict (one pool)
        pool: dict[str, Decimal] = {}
        self.wallets: dict[str, dict[str, Decimal]] = (
            {SPOT_WALLET: pool, FUTURES_WALLET: pool} if pooled
            else {SPOT_WALLET: {}, FUTURES_WALLET: {}, COINM_WALLET: {}})
        self.pooled = pooled
        self._seen_transfers: set[str] = set()
        self.holdings: dict[str, Decimal] = {}
        self.spot_cost: dict[str, Decimal] = {}  # average cost per coin, for spot realized PnL
        self.spot_realized = _ZERO
        self.perps: dict[str, _Perp] = {}
        self.fees_paid: dict[str, Decimal] = {}
        self.funding_by_sleeve: dict[str, Decimal] = {}
        self.sleeve_of: dict[str, str] = {}
        self._seen_trades: set[tuple[str, str, str]] = set()
        self._spot_asset: dict[str, str] = {}  # spot symbol -> coin
        self._perps_on: dict[str, list[_Perp]] = {}  # coin -> perps on it
        self.assets: list[str] = []
        self.px: dict[str, float] = {}  # coin -> price in quote
        self._has_spot_px: set[str] = set()
        self._has_perpetual_px: set[str] = set()  # coins a perpetual prices (no spot)
        self._mark_from_mark_price: set[str] = set()
        self.ts = 0
        for inst in instruments:
            self.add_instrument(inst)
        main = FUTURES_WALLET if self.perps else SPOT_WALLET
        for ccy, amt in cash.items():
            self._credit(ccy, Decimal(str(amt)), main)
        for ccy, amt in (spot_cash or {}).items():
            self._credit(ccy, Decimal(str(amt)), SPOT_WALLET)
        for ccy, amt in (futures_cash or {}).items():
            self._credit(ccy, Decimal(str(amt)), FUTURES_WALLET)
        for ccy, amt in (holdings or {}).items():
            self._credit(ccy, Decimal(str(amt)), SPOT_WALLET)
        for ccy, amt in (coinm or {}).items():
            if ccy in self.stables:
                raise ConfigError(f"the COIN-M wallet holds coins (its margin), not {ccy}")
            self._credit(ccy, Decimal(str(amt)), COINM_WALLET)
        self._rebuild()

    @property
    def cash(self) -> dict[str, Decimal]:
        """Stablecoins per currency across both wallets (a copy: wallets change by events)."""
        if self.pooled:
            return dict(self.wallets[SPOT_WALLET])
        out = dict(self.wallets[SPOT_WALLET])
        for ccy, amt in self.wallets[FUTURES_WALLET].items():
            out[ccy] = out.get(ccy, _ZERO) + amt
        return out

    def cash_in(self, ccy: str) -> Decimal:
        """`cash.get(ccy, 0)` without copying the wallets (a bar backtest asks per order)."""
        spot = self.wallets[SPOT_WALLET]
        if self.pooled:
            return spot.get(ccy, _ZERO)
        fut = self.wallets[FUTURES_WALLET]
        if ccy in fut:
            return spot.get(ccy, _ZERO) + fut[ccy]
        return spot.get(ccy, _ZERO)

    def wallet(self, name: str) -> dict[str, Decimal]:
        """One wallet's balances ("spot" or "futures": stablecoins; "coinm": coins; a copy)."""
        return dict(self.wallets.get(name, {}))

    # -- set-up -------------------------------------------------------------------------------
    def add_instrument(self, inst: Instrument) -> None:
        if inst.symbol in self.instruments:
            raise ConfigError(f"instrument {inst.symbol} declared twice")
        self.instruments[inst.symbol] = inst
        if inst.base not in self.assets and inst.base not in self.stables:
            self.assets.append(inst.base)
        if inst.kind == SPOT:
            self._spot_asset[inst.symbol] = inst.base
        else:
            p = _Perp(inst)
            if not p.linear and not self.pooled:
                p.coinm, p.wallet = True, COINM_WALLET
            self.perps[inst.symbol] = p
            self._perps_on.setdefault(inst.base, []).append(p)

    def seed_position(self, symbol: str, qty: Decimal, entry: Decimal) -> None:
        """Start with an open perp position (signed `qty` at average `entry`), no cash moved."""
        p = self.perps.get(symbol)
        if p is None:
            raise ConfigError(f"position for unknown perp {symbol}")
        if qty and entry <= 0:
            raise ConfigError(f"{symbol}: entry price must be positive, got {entry}")
        p.qty, p.entry = Decimal(qty), (Decimal(entry) if qty else _ZERO)
        p.qty_f, p.entry_f = float(p.qty), float(p.entry)
        if not p.mark and qty:
            p.mark = p.entry_f
        self._rebuild()

    def set_cash(self, ccy: str, amount: Decimal, wallet: str = FUTURES_WALLET) -> None:
        """Start from this stablecoin balance in `wallet` (live runs adopting the venue's)."""
        if ccy not in self.stables:
            raise ConfigError(f"{ccy} is not a stablecoin cash currency")
        self.wallets[wallet][ccy] = Decimal(amount)
        self._rebuild()

    def set_holding(self, coin: str, amount: Decimal) -> None:
        """Start from this coin balance in the spot wallet (live runs adopting the venue's)."""
        if coin in self.stables:
            raise ConfigError(f"{coin} is a stablecoin: set_cash holds it")
        self.holdings[coin] = Decimal(amount)
        if coin not in self.assets:
            self.assets.append(coin)
        self._rebuild()

    def set_coinm(self, coin: str, amount: Decimal) -> None:
        """Start from this coin balance in the COIN-M wallet (live runs adopting the venue's)."""
        self.wallets[COINM_WALLET][coin] = Decimal(amount)
        self._rebuild()

    def set_sleeve(self, symbol: str, sleeve: str) -> None:
        """Funding on `symbol` accrues under `sleeve` from now on (default: the symbol)."""
        self.sleeve_of[symbol] = sleeve

    def _credit(self, ccy: str, amount: Decimal, wallet: str) -> None:
        # coins are the spot wallet's, or the COIN-M wallet's (pooled: one pool, the holdings)
        if ccy in self.stables:
            book = self.wallets[wallet]
        elif wallet == COINM_WALLET and not self.pooled:
            book = self.wallets[COINM_WALLET]
        else:
            book = self.holdings
        book[ccy] = book.get(ccy, _ZERO) + amount
        if ccy not in self.stables and ccy not in self.assets:
            self.assets.append(ccy)

    # -- marking (hot path) -------------------------------------------------------------------
    def on_price(self, symbol: str, price: float, ts: int = 0, *, is_mark: bool = False) -> str | None:
        """Re-mark one instrument. Returns the underlying whose exposure changed, or None.

        Perps are marked by their mark price once one has been seen (`is_mark=True`), by their
        book mid until then.
        """
        if not price > 0.0:
            return None
        self.ts = ts
        asset = self._spot_asset.get(symbol)
        if asset is not None:
            self._has_spot_px.add(asset)
            self._set_coin_price(asset, price)
            return asset
        p = self.perps.get(symbol)
        if p is None:
            return None
        if is_mark:
            self._mark_from_mark_price.add(symbol)
        elif symbol in self._mark_from_mark_price:
            return None
        self._mark_perp(p, price)
        if p.asset not in self._has_spot_px and (
                not p.inst.is_dated or p.asset not in self._has_perpetual_px):
            if not p.inst.is_dated:
                self._has_perpetual_px.add(p.asset)
            self._set_coin_price(p.asset, price)
        return p.asset

    def _set_coin_price(self, asset: str, price: float) -> None:
        old = self.px.get(asset, 0.0)
        self.px[asset] = price
        q = self._hold_f.get(asset, 0.0)
        if q:
            v = q * price
            self._spot_val[asset] = v
            self._sum_spot += v - q * old
        q = self._cm_f.get(asset, 0.0)
        if q:
            v = q * price
            self._cm_val[asset] = v
            self._sum_cm += v - q * old
        for p in self._perps_on.get(asset, ()):
            if not p.linear and p.qty_f:
                self._remark_perp(p)

    def _mark_perp(self, p: _Perp, price: float) -> None:
        p.mark = price
        if p.qty_f:
            self._remark_perp(p)

    def perp_margin(self, symbol: str, qty: float, mark: float) -> tuple[float, float]:
        """(notional in quote, initial margin) of `qty` of a perp at `mark`: the one margin
        rule, which the risk guard's projections use too."""
        return _notional_im(self.perps[symbol], qty, mark)

    def _remark_perp(self, p: _Perp) -> None:
        q = p.qty_f
        notional, im = _notional_im(p, q, p.mark)
        if p.linear:
            upnl = q * (p.mark - p.entry_f)
        else:
            coin_px = self.px.get(p.asset, p.mark)
            upnl = q * p.cs_f * (1.0 / p.entry_f - 1.0 / p.mark) * coin_px if p.mark else 0.0
        an = abs(notional)
        mm = p.inst.maintenance_margin(notional)
        exp = notional if p.linear else notional + upnl
        self._perp_exp[p.asset] += exp - p.exp
        self._sum_abs_perp += an - abs(p.notional)
        self._sum_upnl += upnl - p.upnl
        self._sum_im += im - p.im
        self._sum_mm += mm - p.mm
        if p.coinm:  # the coin's own margin account
            a = p.asset
            self._cm_upnl[a] = self._cm_upnl.get(a, 0.0) + upnl - p.upnl
            self._cm_im[a] = self._cm_im.get(a, 0.0) + im - p.im
            self._cm_mm[a] = self._cm_mm.get(a, 0.0) + mm - p.mm
        else:
            self._lin_upnl += upnl - p.upnl
            self._lin_im += im - p.im
        p.notional, p.exp, p.upnl, p.im, p.mm = notional, exp, upnl, im, mm

    # -- ledger -------------------------------------------------------------------------------
    def apply(self, ev: Fill | FundingPayment | Transfer) -> str | None:
        """One account event (a fill, a settled funding payment, a transfer between our
        wallets); returns the underlying it changed (None for a transfer)."""
        t = type(ev)
        if t is FundingPayment:
            self.book_funding(ev.symbol, ev.amount, ev.ts_recv)
            return self.instruments[ev.symbol].base
        if t is Transfer:
            self.transfer(ev)
            return None
        return self.on_fill(ev)

    def transfer(self, ev: Transfer) -> bool:
        """Move a settled transfer's amount between the wallets, once per transfer id (a
        failed one moves nothing). Returns whether anything moved."""
        if ev.status != "done" or ev.transfer_id in self._seen_transfers:
            return False
        if ev.from_wallet not in WALLETS or ev.to_wallet not in WALLETS \
                or ev.from_wallet == ev.to_wallet:
            raise ValueError(f"transfer {ev.transfer_id}: wallets must be two of {WALLETS}, "
                             f"got {ev.from_wallet!r} -> {ev.to_wallet!r}")
        if ev.amount <= 0:
            raise ValueError(f"transfer {ev.transfer_id}: a positive amount, got {ev.amount}")
        coin_leg = COINM_WALLET in (ev.from_wallet, ev.to_wallet)
        if coin_leg == (ev.asset in self.stables) or (coin_leg and SPOT_WALLET not in (
                ev.from_wallet, ev.to_wallet)):
            raise ValueError(f"transfer {ev.transfer_id}: stablecoins move between the spot and "
                             f"futures wallets, coins between the spot and COIN-M wallets; got "
                             f"{ev.asset} {ev.from_wallet} -> {ev.to_wallet}")
        self._seen_transfers.add(ev.transfer_id)
        self._credit(ev.asset, -ev.amount, ev.from_wallet)
        self._credit(ev.asset, ev.amount, ev.to_wallet)
        self.ts = max(self.ts, ev.ts)
        self._rebuild()
        return True

    def on_fill(self, f: Fill) -> str | None:
        """Apply one fill exactly once (by venue, symbol and trade id). Returns its underlying."""
        key = (f.exchange, f.symbol, f.trade_id)
        if key in self._seen_trades:
            return None
        inst = self.instruments.get(f.symbol)
        if inst is None:
            raise ConfigError(f"fill for unknown instrument {f.symbol}")
        if f.side not in ("buy", "sell"):
            raise ValueError(f"fill side must be buy or sell, got {f.side!r}")
        if f.qty <= 0 or f.price <= 0:
            raise ValueError(f"fill qty and price must be positive: {f.qty} @ {f.price}")
        self._seen_trades.add(key)
        signed = f.qty if f.side == "buy" else -f.qty
        if inst.kind == SPOT:
            self._spot_fill(inst, signed, f.price)
        else:
            self._perp_fill(self.perps[f.symbol], signed, f.price)
        if f.fee:
            ccy = f.fee_currency or inst.settle or inst.quote
            self._credit(ccy, -f.fee, SPOT_WALLET if inst.kind == SPOT
                         else self.perps[f.symbol].wallet)
            self.fees_paid[ccy] = self.fees_paid.get(ccy, _ZERO) + f.fee
            if inst.kind != SPOT:
                self.perps[f.symbol].fees += f.fee
        self.ts = max(self.ts, f.ts_recv)
        if inst.kind == SPOT:
            self._refresh_spot(inst.base, f.fee_currency)
        else:
            self._rebuild()
        return inst.base

    def _refresh_spot(self, coin: str, other: str | None) -> None:
        """The aggregates after a spot fill, which moves the spot wallet only (cash, `coin`
        and the fee's coin `other`): those entries re-read from the ledger, the sums taken
        afresh as `_rebuild` takes them (a bar backtest books ~10^5 fills; a whole rebuild
        each was a quarter of its time). Perps, margins and the COIN-M wallet are untouched."""
        self._refresh_cash()
        hold_f, spot_val, px = self._hold_f, self._spot_val, self.px
        for c in (coin, other) if other and other != coin else (coin,):
            q = self.holdings.get(c)
            if q is not None:
                qf = float(q)
                hold_f[c] = qf
                spot_val[c] = qf * px.get(c, 0.0)
        self._sum_spot = sum(spot_val.values())

    def _refresh_cash(self) -> None:
        """The stablecoin cash as floats, re-read from the wallets."""
        fut = float(sum(self.wallets[FUTURES_WALLET].values(), _ZERO))
        self._fut_cash_f = fut
        self._cash_f = fut if self.pooled else fut + float(
            sum(self.wallets[SPOT_WALLET].values(), _ZERO))

    def _spot_fill(self, inst: Instrument, signed: Decimal, price: Decimal) -> None:
        base = inst.base
        held = self.holdings.get(base, _ZERO)
        cost = self.spot_cost.get(base, _ZERO)
        if signed > 0:
            new = held + signed
            if held >= 0:
                self.spot_cost[base] = (held * cost + signed * price) / new if new else _ZERO
        else:
            sold = min(-signed, max(held, _ZERO))
            self.spot_realized += sold * (price - cost)
        self._credit(base, signed, SPOT_WALLET)
        self._credit(inst.quote, -signed * price, SPOT_WALLET)

    def _perp_fill(self, p: _Perp, signed: Decimal, price: Decimal) -> None:
        old = p.qty
        new = old + signed
        cs = p.inst.contract_size
        if old == 0 or (old > 0) == (signed > 0):
            if p.linear:
                p.entry = (abs(old) * p.entry + abs(signed) * price) / abs(new)
            else:  # inverse: entry is the contract-weighted harmonic mean
                p.entry = abs(new) / ((abs(old) / p.entry if old else _ZERO) + abs(signed) / price)
        else:
            closed = min(abs(signed), abs(old))
            sign = 1 if old > 0 else -1
            if p.linear:
                pnl = closed * (price - p.entry) * sign
            else:
                pnl = closed * cs * (1 / p.entry - 1 / price) * sign
            p.realized += pnl
            self._credit(p.inst.settle, pnl, p.wallet)
            if new == 0:
                p.entry = _ZERO
            elif (new > 0) != (old > 0):
                p.entry = price
        p.qty = new
        p.qty_f = float(new)
        p.entry_f = float(p.entry)
        if not p.mark:
            p.mark = float(price)

    def on_funding(self, ev: FundingRate) -> Decimal | None:
        """Settle funding on the named perp. Returns the amount credited (settle currency)."""
        p = self.perps.get(ev.symbol)
        if p is None or p.qty == 0 or p.inst.is_dated:  # dated contracts pay no funding
            return None
        mark = to_decimal(ev.mark_price) if ev.mark_price else to_decimal(p.mark)
        if mark <= 0:
            return None
        rate = to_decimal(ev.rate)
        if p.linear:
            amount = -p.qty * mark * rate
        else:
            amount = -p.qty * p.inst.contract_size / mark * rate
        self.book_funding(ev.symbol, amount, ev.ts_recv)
        return amount

    def book_funding(self, symbol: str, amount: Decimal, ts: int = 0) -> None:
        """Credit a funding amount already known (settled, or read back from the journal)."""
        p = self.perps[symbol]
        p.funding += amount
        sleeve = self.sleeve_of.get(symbol, symbol)
        self.funding_by_sleeve[sleeve] = self.funding_by_sleeve.get(sleeve, _ZERO) + amount
        self._credit(p.inst.settle, amount, p.wallet)
        self.ts = max(self.ts, ts)
        self._rebuild()

    # -- aggregates ---------------------------------------------------------------------------
    def _rebuild(self) -> None:
        """Recompute every aggregate from the ledger and the current marks."""
        self._refresh_cash()
        self._hold_f = {a: float(q) for a, q in self.holdings.items()}
        self._spot_val = {a: q * self.px.get(a, 0.0) for a, q in self._hold_f.items()}
        self._sum_spot = sum(self._spot_val.values())
        self._cm_f = {a: float(q) for a, q in self.wallets.get(COINM_WALLET, {}).items()}
        self._cm_val = {a: q * self.px.get(a, 0.0) for a, q in self._cm_f.items()}
        self._sum_cm = sum(self._cm_val.values())
        self._cm_upnl: dict[str, float] = {}
        self._cm_im: dict[str, float] = {}
        self._cm_mm: dict[str, float] = {}
        self._perp_exp = {a: 0.0 for a in self.assets}
        self._sum_abs_perp = self._sum_upnl = self._sum_im = self._sum_mm = 0.0
        self._lin_upnl = self._lin_im = 0.0
        for p in self.perps.values():
            p.notional = p.exp = p.upnl = p.im = p.mm = 0.0
            if p.qty_f and p.mark:
                self._remark_perp(p)

    # -- reads --------------------------------------------------------------------------------
    @property
    def cash_value(self) -> float:
        """Stablecoin cash, valued 1:1 (float, for ratios)."""
        return self._cash_f

    @property
    def futures_cash_value(self) -> float:
        """Stablecoins in the futures wallet (all cash when pooled): what margins perps."""
        return self._fut_cash_f

    @property
    def spot_only(self) -> bool:
        """Coins and cash alone: no perp or dated contract, no COIN-M wallet coin."""
        return not self.perps and not self._cm_f

    @property
    def unrealized_pnl(self) -> float:
        return self._sum_upnl

    @property
    def usdm_unrealized_pnl(self) -> float:
        """The USD-M account's perps' (all perps when pooled), in quote."""
        return self._lin_upnl

    def coin_amounts(self) -> dict[str, float]:
        """Coin holdings as floats (a copy)."""
        return dict(self._hold_f)

    def coinm_amounts(self) -> dict[str, float]:
        """COIN-M wallet coins as floats (a copy)."""
        return dict(self._cm_f)

    @property
    def nav(self) -> float:
        return self._cash_f + self._sum_spot + self._sum_cm + self._sum_upnl

    def exposure(self, asset: str) -> float:
        return (self._spot_val.get(asset, 0.0) + self._cm_val.get(asset, 0.0)
                + self._perp_exp.get(asset, 0.0))

    def legs(self) -> list[tuple[str, str, str, str, float, float]]:
        """Each part of each underlying's net exposure, for a person to read: (coin, symbol,
        leg "spot" | "perp" | "dated" | "margin coin", wallet, amount, exposure in quote).
        The amounts are floats: this is a view, not a ledger."""
        spot_symbol = {coin: sym for sym, coin in self._spot_asset.items()}
        out = [(coin, spot_symbol.get(coin, coin), "spot", SPOT_WALLET,
                self._hold_f.get(coin, 0.0), value) for coin, value in self._spot_val.items()]
        out += [(p.asset, sym, "dated" if p.inst.expiry_ns is not None else "perp", p.wallet,
                 p.qty_f, p.exp) for sym, p in self.perps.items()]
        out += [(coin, coin, "margin coin", COINM_WALLET, self._cm_f.get(coin, 0.0), value)
                for coin, value in self._cm_val.items()]
        return out

    def spot_value(self, asset: str) -> float:
        return self._spot_val.get(asset, 0.0)

    def perp_notional(self, symbol: str) -> float:
        return self.perps[symbol].notional

    def weight(self, asset: str) -> float:
        nav = self.nav
        return self.exposure(asset) / nav if nav > 0 else 0.0

    def weights(self) -> dict[str, float]:
        nav = self.nav
        if nav <= 0:
            return {a: 0.0 for a in self.assets}
        return {a: self.exposure(a) / nav for a in self.assets}

    @property
    def margin_balance(self) -> float:
        """The USD-M account's (all perps when pooled)."""
        return self._fut_cash_f + self._lin_upnl + self.collateral_haircut * self._sum_spot

    @property
    def initial_margin(self) -> float:
        """The USD-M account's (all perps when pooled)."""
        return self._lin_im

    def coinm_accounts(self) -> dict[str, tuple[float, float]]:
        """COIN-M margin accounts: coin -> (initial margin, margin balance), both in quote."""
        coins = set(self._cm_im) | set(self._cm_f)
        return {a: (self._cm_im.get(a, 0.0), self._cm_val.get(a, 0.0) + self._cm_upnl.get(a, 0.0))
                for a in coins}

    @property
    def usdm_utilisation(self) -> float:
        """The USD-M account's (what transfers between spot and futures can change)."""
        return _utilisation(self._lin_im, self.margin_balance)

    @property
    def margin_utilisation(self) -> float:
        """The highest utilisation of any margin account (USD-M, each COIN-M coin). A coin
        not priced yet has no utilisation to tell (not an infinite one: its balance is
        unknown, not zero); nothing trades on it before it is priced."""
        util = _utilisation(self._lin_im, self.margin_balance)
        for coin, (im, mb) in self.coinm_accounts().items():
            if self.px.get(coin):
                util = max(util, _utilisation(im, mb))
        return util

    def dated_basis(self, at_ns: int | None = None, min_left_ns: int = 0) -> dict[str, float]:
        """Each dated contract's basis over its coin's price, annualised by the days to its
        expiry from `at_ns` (default: the last update's receive time; the exchange's time
        where it differs, as for a recording played to a paper run); contracts with no more
        than `min_left_ns` left (inside their roll window) are left out."""
        now = self.ts if at_ns is None else at_ns
        out = {}
        for sym, p in self.perps.items():
            exp = p.inst.expiry_ns
            spot = self.px.get(p.asset)
            if exp is None or not p.mark or not spot or now >= exp - min_left_ns \
                    or p.mark == spot:
                continue  # p.mark == spot: the coin is priced by this contract itself
            days = (exp - now) / 86_400e9
            out[sym] = (p.mark / spot - 1.0) * 365.0 / days
        return out

    def gross_leverage(self) -> float:
        nav = self.nav
        gross = (sum(abs(v) for v in self._spot_val.values()) + self._sum_abs_perp
                 + sum(abs(v) for v in self._cm_val.values()))
        return gross / nav if nav > 0 else float("inf")

    def view(self) -> PortfolioView:
        """A read-only view for strategies (engine.portfolio.view): live, no copy."""
        return PortfolioView(self)

    def snapshot(self) -> PortfolioSnapshot:
        """This instant, frozen: the view's figures, copied."""
        return self.view().snapshot()
