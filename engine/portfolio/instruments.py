"""What the portfolio needs to know about an instrument: its kind, currencies and margin terms.

Kinds: `spot`; `linear` perps (USD-M: amount in base units, PnL and margin in the quote/settle
currency); `inverse` perps (COIN-M: amount in contracts of `contract_size` USD, PnL and margin in
the base coin).
"""

from __future__ import annotations

from decimal import Decimal

import msgspec

from engine.core.errors import ConfigError

SPOT, LINEAR, INVERSE = "spot", "linear", "inverse"


class LeverageTier(msgspec.Struct, frozen=True, kw_only=True):
    """One bracket of the venue's leverage tiers (Binance `leverageBracket`).

    Maintenance margin of a position of notional N in this tier is `N * mmr - cum`.
    """

    notional_floor: float
    notional_cap: float
    max_leverage: float
    mmr: float
    cum: float = 0.0


class Instrument(msgspec.Struct, frozen=True, kw_only=True):
    symbol: str
    kind: str
    base: str
    quote: str
    settle: str = ""
    contract_size: Decimal = Decimal(1)
    leverage: float = 1.0
    maintenance_rate: float = 0.004
    tiers: tuple[LeverageTier, ...] = ()
    # a dated (delivery) contract's expiry, ns; None for spot and perpetuals
    expiry_ns: int | None = None

    @property
    def is_perp(self) -> bool:
        """A futures contract (perpetual or dated), as opposed to spot."""
        return self.kind != SPOT

    @property
    def is_dated(self) -> bool:
        return self.expiry_ns is not None

    @property
    def perpetual(self) -> str:
        """The perpetual of the same underlying and settlement (`LINK/USD:LINK` for
        `LINK/USD:LINK-211231`)."""
        return self.symbol.partition("-")[0] if self.is_dated else self.symbol

    def maintenance_margin(self, notional: float) -> float:
        """Maintenance margin (quote currency) of an absolute notional."""
        n = abs(notional)
        for t in self.tiers:
            if t.notional_floor <= n < t.notional_cap:
                return n * t.mmr - t.cum
        if self.tiers:
            t = self.tiers[-1]
            return n * t.mmr - t.cum
        return n * self.maintenance_rate

    def max_leverage_for(self, notional: float) -> float:
        n = abs(notional)
        for t in self.tiers:
            if t.notional_floor <= n < t.notional_cap:
                return t.max_leverage
        return self.tiers[-1].max_leverage if self.tiers else float("inf")


def delivery_ns(symbol: str, yymmdd: str) -> int:
    """A Binance quarterly's delivery time: 08:00 UTC on the date in its name."""
    import datetime as dt

    try:
        d = dt.datetime.strptime(yymmdd, "%y%m%d").replace(hour=8, tzinfo=dt.timezone.utc)
    except ValueError:
        raise ConfigError(f"symbol {symbol!r}: expiry {yymmdd!r} is not a YYMMDD date") from None
    return int(d.timestamp()) * 1_000_000_000


def instrument_from_symbol(symbol: str, *, leverage: float = 1.0, maintenance_rate: float = 0.004,
                           contract_size: Decimal | None = None,
                           tiers: tuple[LeverageTier, ...] = ()) -> Instrument:
    """Build an instrument from a unified symbol: `BTC/USDT`, `BTC/USDT:USDT`, `BTC/USD:BTC`."""
    pair, _, settle = symbol.partition(":")
    base, sep, quote = pair.partition("/")
    if not sep or not base or not quote:
        raise ConfigError(f"symbol {symbol!r}: expected BASE/QUOTE or BASE/QUOTE:SETTLE")
    settle, _, expiry = settle.partition("-")
    expiry_ns = delivery_ns(symbol, expiry) if expiry else None
    if not settle:
        return Instrument(symbol=symbol, kind=SPOT, base=base, quote=quote, settle=quote)
    if leverage <= 0:
        raise ConfigError(f"{symbol}: leverage must be positive, got {leverage}")
    if settle == quote:
        return Instrument(symbol=symbol, kind=LINEAR, base=base, quote=quote, settle=settle,
                          contract_size=contract_size or Decimal(1), leverage=leverage,
                          maintenance_rate=maintenance_rate, tiers=tiers, expiry_ns=expiry_ns)
    if settle == base:
        return Instrument(symbol=symbol, kind=INVERSE, base=base, quote=quote, settle=settle,
                          contract_size=contract_size or Decimal(100 if base == "BTC" else 10),
                          leverage=leverage, maintenance_rate=maintenance_rate, tiers=tiers,
                          expiry_ns=expiry_ns)
    raise ConfigError(f"symbol {symbol!r}: settle currency {settle} is neither base nor quote")
