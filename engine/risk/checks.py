"""Pure risk checks on the *projected* state: the portfolio as it would be if every open order
and the unfilled rest of every running parent filled, plus the order being checked."""

from __future__ import annotations

from decimal import Decimal
from typing import Literal

import msgspec

from engine.portfolio.state import Portfolio

_ZERO = Decimal(0)


class RiskLimits(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    max_margin_utilisation: float = 0.8
    max_gross_leverage: float = 3.0
    max_order_notional: float | None = None
    max_position_notional: float | None = None  # per underlying, absolute net exposure
    price_band_bps: float = 200.0
    max_price_age_s: float = 5.0
    # a quote later than its feed's usual latency by more than this (by exchange time) is stale
    max_quote_delay_ms: float = 2000.0
    # a book that went invalid (a sequence gap): "reduce" while it resyncs, or "halt" (a kill:
    # stays halted until a person resumes)
    on_data_fault: Literal["reduce", "halt"] = "reduce"
    reduce_above_utilisation: float | None = 0.9  # go REDUCING above this, even without orders


class Verdict(msgspec.Struct, frozen=True, kw_only=True):
    ok: bool
    rule: str = ""
    reason: str = ""


OK = Verdict(ok=True)


class Projection(msgspec.Struct, frozen=True, kw_only=True):
    initial_margin: float  # the USD-M account's
    margin_balance: float  # the USD-M account's
    utilisation: float  # the highest of every margin account (USD-M, each COIN-M coin)
    usdm_utilisation: float  # the USD-M account's alone (what a stablecoin transfer changes)
    gross_leverage: float
    exposure: dict[str, float]
    position: dict[str, float]  # projected signed amount per symbol


class OrderSides(msgspec.Struct, frozen=True, kw_only=True):
    """What the limits read of the projected state without and with one order, as (without,
    with): the order's position, the margin utilisation, the gross leverage and the exposure of
    the order's underlying."""

    position: tuple[float, float]
    utilisation: tuple[float, float]
    gross_leverage: tuple[float, float]
    exposure: tuple[float, float]


def order_sides(portfolio: Portfolio, pending: dict[str, Decimal], prices: dict[str, float],
                symbol: str, asset: str, signed: Decimal) -> OrderSides:
    """`project_order`, reduced to what the limits read. A portfolio of coins and cash alone
    with nothing pending (a bar backtest's every order) takes a short path that does the same
    float operations in the same order on those values alone (tested bit for bit). `asset`:
    the underlying of `symbol`."""
    if not pending and portfolio.spot_only:
        return _spot_order_sides(portfolio, prices, symbol, asset, signed)
    before, after = project_order(portfolio, pending, prices, symbol, signed)
    return sides_of(before, after, symbol, asset)


def sides_of(before: Projection, after: Projection, symbol: str, asset: str) -> OrderSides:
    """What the limits read of two whole projections, without and with the order."""
    return OrderSides(position=(before.position.get(symbol, 0.0),
                                after.position.get(symbol, 0.0)),
                      utilisation=(before.utilisation, after.utilisation),
                      gross_leverage=(before.gross_leverage, after.gross_leverage),
                      exposure=(before.exposure.get(asset, 0.0), after.exposure.get(asset, 0.0)))


def _spot_order_sides(portfolio: Portfolio, prices: dict[str, float], symbol: str, base: str,
                      signed: Decimal) -> OrderSides:
    """`order_sides` of coins and cash alone, nothing pending: `_project`'s spot sums (in its
    order, so the same floats) without its dictionaries and margin accounts. No margin:
    utilisation 0 on both sides."""
    hold = portfolio.coin_amounts()
    px_of = portfolio.px
    add = float(_ZERO + signed)  # as `_project` adds the order to what is pending (nothing)
    q0 = hold.get(base, 0.0)
    q1 = q0 + add if add else q0
    cash_b = portfolio.cash_value
    cash_a = cash_b - add * (prices.get(symbol) or 0.0) if add else cash_b
    spot_b = gross_b = spot_a = gross_a = exp_b = exp_a = 0.0
    for coin, q in hold.items():
        v = q * px_of.get(coin, 0.0)
        spot_b += v
        gross_b += abs(v)
        if coin == base:
            exp_b = 0.0 + v
            if add:
                v = q1 * px_of.get(coin, 0.0)
            exp_a = 0.0 + v
        spot_a += v
        gross_a += abs(v)
    if add and base not in hold:  # a coin the order brings in comes last, as in `_project`
        v = q1 * px_of.get(base, 0.0)
        spot_a += v
        gross_a += abs(v)
        exp_a = 0.0 + v
    upnl = portfolio.unrealized_pnl
    nav_b = cash_b + spot_b + 0.0 + upnl
    nav_a = cash_a + spot_a + 0.0 + upnl
    inf = float("inf")
    return OrderSides(position=(q0, q1), utilisation=(0.0, 0.0),
                      gross_leverage=(gross_b / nav_b if nav_b > 0 else inf,
                                      gross_a / nav_a if nav_a > 0 else inf),
                      exposure=(exp_b, exp_a))


def project(portfolio: Portfolio, pending: dict[str, Decimal], prices: dict[str, float]
            ) -> Projection:
    """The portfolio after `pending` signed amounts per symbol fill at `prices` (float maths:
    these are ratios for limits, not money that moves)."""
    return _project(portfolio, pending, prices, None, None)[0]


def project_order(portfolio: Portfolio, pending: dict[str, Decimal], prices: dict[str, float],
                  symbol: str, signed: Decimal) -> tuple[Projection, Projection]:
    """`project` of `pending`, and of `pending` plus one more order of `signed` on `symbol`,
    in one pass over the portfolio (a guard checks every order against both). Each side does
    the float operations of its own `project` call in the same order: both are bit for bit
    what two calls would give (tested)."""
    return _project(portfolio, pending, prices, symbol, signed)


def _project(portfolio: Portfolio, pending: dict[str, Decimal], prices: dict[str, float],
             osym: str | None, osigned: Decimal | None) -> tuple[Projection, Projection | None]:
    """Side b: `pending`; side a (when `osym` is given): `pending` plus the order. The sides
    differ in the order's instrument only; the portfolio is read once for both."""
    two = osym is not None
    pooled = portfolio.pooled
    cash_b = cash_a = portfolio.cash_value  # both wallets: NAV
    mcash_b = mcash_a = portfolio.futures_cash_value  # the futures wallet: margin
    im_b = im_a = 0.0  # USD-M
    gross_b = gross_a = 0.0
    cm_im_b: dict[str, float] = {}  # COIN-M, per coin
    cm_im_a: dict[str, float] = {}
    exp_b = {a: 0.0 for a in portfolio.assets}
    exp_a = dict(exp_b)
    pos_b: dict[str, float] = {}
    pos_a: dict[str, float] = {}
    hold_b = portfolio.coin_amounts()
    hold_a = dict(hold_b)
    for sym, inst in portfolio.instruments.items():
        px = prices.get(sym) or 0.0
        add_b = float(pending.get(sym, 0))
        add_a = (float(pending.get(sym, _ZERO) + osigned) if two and sym == osym else add_b)
        if inst.kind == "spot":
            base = inst.base
            if add_b:
                hold_b[base] = hold_b.get(base, 0.0) + add_b
                cash_b -= add_b * px
                if pooled:
                    mcash_b -= add_b * px
            pos_b[sym] = hold_b.get(base, 0.0)
            if two:
                if add_a:
                    hold_a[base] = hold_a.get(base, 0.0) + add_a
                    cash_a -= add_a * px
                    if pooled:
                        mcash_a -= add_a * px
                pos_a[sym] = hold_a.get(base, 0.0)
            continue
        p = portfolio.perps[sym]
        mark = p.mark or px
        notional_b, perp_im_b = _perp(portfolio, sym, p, add_b, mark)
        pos_b[sym] = p.qty_f + add_b
        if p.coinm:
            cm_im_b[inst.base] = cm_im_b.get(inst.base, 0.0) + perp_im_b
        else:
            im_b += perp_im_b
        gross_b += abs(notional_b)
        exp_b[inst.base] = exp_b.get(inst.base, 0.0) + notional_b
        if two:
            notional_a, perp_im_a = ((notional_b, perp_im_b) if add_a is add_b
                                     else _perp(portfolio, sym, p, add_a, mark))
            pos_a[sym] = p.qty_f + add_a
            if p.coinm:
                cm_im_a[inst.base] = cm_im_a.get(inst.base, 0.0) + perp_im_a
            else:
                im_a += perp_im_a
            gross_a += abs(notional_a)
            exp_a[inst.base] = exp_a.get(inst.base, 0.0) + notional_a
    coinm = portfolio.coinm_accounts()
    cm_values = [(coin, q * portfolio.px.get(coin, 0.0))
                 for coin, q in portfolio.coinm_amounts().items()]
    before = _projection(portfolio, hold_b, cash_b, mcash_b, im_b, cm_im_b, gross_b, exp_b,
                         pos_b, cm_values, coinm)
    if not two:
        return before, None
    return before, _projection(portfolio, hold_a, cash_a, mcash_a, im_a, cm_im_a, gross_a,
                               exp_a, pos_a, cm_values, coinm)


def _perp(portfolio: Portfolio, sym: str, p, add: float, mark: float) -> tuple[float, float]:
    """(notional, initial margin) of a perp with `add` more contracts."""
    notional, im = portfolio.perp_margin(sym, p.qty_f + add, mark)
    if not p.linear and p.entry_f and p.mark:  # held contracts' coin PnL is exposure too
        notional = p.qty_f * p.cs_f * p.mark / p.entry_f + add * p.cs_f
    return notional, im


def _projection(portfolio: Portfolio, hold: dict[str, float], cash: float, margin_cash: float,
                im: float, cm_im: dict[str, float], gross: float, exposure: dict[str, float],
                position: dict[str, float], cm_values: list[tuple[str, float]],
                coinm: dict[str, tuple[float, float]]) -> Projection:
    spot_total = 0.0
    for coin, q in hold.items():
        v = q * portfolio.px.get(coin, 0.0)
        spot_total += v
        gross += abs(v)
        exposure[coin] = exposure.get(coin, 0.0) + v
    cm_total = 0.0
    for coin, v in cm_values:
        cm_total += v
        gross += abs(v)
        exposure[coin] = exposure.get(coin, 0.0) + v
    mb = margin_cash + portfolio.usdm_unrealized_pnl + portfolio.collateral_haircut * spot_total
    nav = cash + spot_total + cm_total + portfolio.unrealized_pnl
    util = usdm = _utilisation(im, mb)
    for coin, coin_im in cm_im.items():
        util = max(util, _utilisation(coin_im, coinm.get(coin, (0.0, 0.0))[1]))
    return Projection(initial_margin=im, margin_balance=mb, utilisation=util,
                      usdm_utilisation=usdm,
                      gross_leverage=gross / nav if nav > 0 else float("inf"),
                      exposure=exposure, position=position)


def _utilisation(im: float, balance: float) -> float:
    return im / balance if balance > 0 else (0.0 if im == 0 else float("inf"))


def reduces_position(before: float, after: float) -> bool:
    """The order shrinks the position without flipping through zero past its size."""
    return abs(after) < abs(before) and (after == 0 or (after > 0) == (before > 0))


def check_limits(limits: RiskLimits, sides: OrderSides, symbol: str, asset: str,
                 order_notional: float, limit_price: float | None, mid: float | None,
                 reduces: bool) -> Verdict:
    """Every limit that applies to a new order, on the projected state without and with it."""
    if limits.max_order_notional is not None and order_notional > limits.max_order_notional:
        return Verdict(ok=False, rule="max_order_notional",
                       reason=f"order notional {order_notional:,.2f} > "
                              f"{limits.max_order_notional:,.2f}")
    if limit_price is not None and mid:
        dev = abs(limit_price - mid) / mid * 1e4
        if dev > limits.price_band_bps:
            return Verdict(ok=False, rule="price_band",
                           reason=f"limit {limit_price} is {dev:.1f} bps from mid {mid} "
                                  f"(band {limits.price_band_bps} bps)")
    cap = limits.max_margin_utilisation
    util_b, util_a = sides.utilisation
    if util_a > cap and util_a > util_b + 1e-12:
        return Verdict(ok=False, rule="margin_utilisation",
                       reason=f"projected margin utilisation {util_a:.4f} > cap {cap}")
    lev_b, lev_a = sides.gross_leverage
    if lev_a > limits.max_gross_leverage and lev_a > lev_b + 1e-12:
        return Verdict(ok=False, rule="gross_leverage",
                       reason=f"projected gross leverage {lev_a:.4f} > cap "
                              f"{limits.max_gross_leverage}")
    mp = limits.max_position_notional
    if mp is not None:
        a, b = abs(sides.exposure[1]), abs(sides.exposure[0])
        if a > mp and a > b:
            return Verdict(ok=False, rule="max_position",
                           reason=f"projected {asset} exposure {a:,.2f} > {mp:,.2f}")
    return OK
