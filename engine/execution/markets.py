"""Market trading rules in exact units, taken from ccxt's market structures.

Offline the markets come from a recorded `exchangeInfo` parsed by ccxt's own `parse_market`
(the bundled `scripts/data/binance/usdm_exchange_info.json` or a path); live, from
`load_markets`. Either way the engine reads one `MarketSpec` per symbol: amount step (lot),
price tick, minimum/maximum amount, minimum notional, contract size, linear or inverse.
"""

from __future__ import annotations

from decimal import ROUND_CEILING, ROUND_DOWN, ROUND_FLOOR, Decimal
from pathlib import Path

import msgspec
import orjson

from engine.core.errors import ConfigError

# Far above a double's relative error after a few operations (~1e-15), far below any price move
# or lot that matters (a 0.001 BTC lot is 1e-3 relative of 1 BTC).
SNAP_REL = Decimal("1e-9")
_MICRO = Decimal("1e-6")

_BUNDLED = Path(__file__).resolve().parents[2] / "scripts/data/binance"
BUNDLED_USDM = _BUNDLED / "usdm_exchange_info.json"
BUNDLED_SPOT = _BUNDLED / "spot_exchange_info.json"
BUNDLED_COINM = _BUNDLED / "coinm_exchange_info.json"


class MarketSpec(msgspec.Struct, frozen=True, kw_only=True):
    symbol: str
    market_id: str
    kind: str  # spot | linear | inverse
    base: str
    quote: str
    settle: str
    contract_size: Decimal = Decimal(1)
    amount_step: Decimal
    price_tick: Decimal
    min_amount: Decimal = Decimal(0)
    max_amount: Decimal | None = None
    max_market_amount: Decimal | None = None
    min_notional: Decimal = Decimal(0)

    def round_amount(self, amount: Decimal) -> Decimal:
        """Down to the lot step, toward zero (the exchange rejects anything finer)."""
        step = self.amount_step
        return (amount / step).to_integral_value(rounding=ROUND_DOWN) * step

    def snap_amount(self, amount: Decimal) -> Decimal:
        """Down to the lot step, except that an amount within `SNAP_REL` (relative, and at most
        a millionth of a lot) under a lot boundary is that boundary: a target computed in floating point (weights × NAV) can
        come out a hair under a whole lot (0.24999999999999988 for 0.25), and flooring it
        would lose the lot."""
        step = self.amount_step
        up = (amount / step).to_integral_value(rounding=ROUND_CEILING) * step
        # the tolerance is relative to the amount and never more than a millionth of a lot,
        # so a huge amount cannot be rounded up by a visible part of one
        if up > amount and up - amount <= min(abs(amount) * SNAP_REL, step * _MICRO):
            return up
        return self.round_amount(amount)

    def round_price(self, price: Decimal, side: str) -> Decimal:
        """To the tick, never past `price`: buys round down, sells up (a limit stays a limit)."""
        tick = self.price_tick
        mode = ROUND_FLOOR if side == "buy" else ROUND_CEILING
        return (price / tick).to_integral_value(rounding=mode) * tick

    def notional(self, amount: Decimal, price: Decimal) -> Decimal:
        """Quote-currency value of `amount` (contracts × size for inverse)."""
        if self.kind == "inverse":
            return abs(amount) * self.contract_size
        return abs(amount) * price * self.contract_size

    def amount_for(self, notional: Decimal, price: Decimal) -> Decimal:
        """Signed amount (base units, or contracts for inverse) worth `notional`, unrounded."""
        if self.kind == "inverse":
            return notional / self.contract_size
        return notional / (price * self.contract_size)

    def tradable(self, amount: Decimal, price: Decimal) -> str | None:
        """None if the exchange would accept this amount at this price, else why not."""
        a = abs(amount)
        if a == 0:
            return "zero amount"
        if a < self.min_amount:
            return f"amount {a} below minimum {self.min_amount}"
        if self.max_amount is not None and a > self.max_amount:
            return f"amount {a} above maximum {self.max_amount}"
        if a != self.round_amount(a):
            return f"amount {a} not a multiple of step {self.amount_step}"
        if self.min_notional and self.notional(a, price) < self.min_notional:
            return f"notional {self.notional(a, price)} below minimum {self.min_notional}"
        return None


def _dec(x) -> Decimal | None:
    return None if x is None else Decimal(str(x))


def spec_from_ccxt(m: dict) -> MarketSpec:
    """A `MarketSpec` from one ccxt unified market (precision mode TICK_SIZE)."""
    kind = "spot" if m.get("spot") else ("inverse" if m.get("inverse") else "linear")
    lim = m.get("limits") or {}
    return MarketSpec(
        symbol=m["symbol"], market_id=m["id"], kind=kind, base=m["base"], quote=m["quote"],
        settle=m.get("settle") or m["quote"],
        contract_size=_dec(m.get("contractSize")) or Decimal(1),
        amount_step=_dec(m["precision"]["amount"]), price_tick=_dec(m["precision"]["price"]),
        min_amount=_dec((lim.get("amount") or {}).get("min")) or Decimal(0),
        max_amount=_dec((lim.get("amount") or {}).get("max")),
        max_market_amount=_dec((lim.get("market") or {}).get("max")),
        min_notional=_dec((lim.get("cost") or {}).get("min")) or Decimal(0),
    )


def load_markets_offline(path: str | Path = BUNDLED_USDM, exchange: str = "binanceusdm"
                         ) -> dict[str, MarketSpec]:
    """Markets from a recorded exchangeInfo, parsed by ccxt's own parser (no network)."""
    import ccxt

    try:
        raw = Path(path).read_bytes()
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read exchangeInfo: {exc.strerror}") from None
    if b" -> " in raw[:200]:  # cryptofeed's recorder prefix: "<url> -> <ts>: <body>"
        raw = raw.split(b"\n", 1)[0]
        raw = raw[raw.index(b": ", raw.index(b" -> ")) + 2:]
    info = orjson.loads(raw)
    from engine.venues.binance.offline_markets import offline_options

    ex = getattr(ccxt, exchange)()
    ex.options.update(offline_options(exchange))
    out = {}
    for s in info.get("symbols", []):
        m = ex.parse_market(s)
        if m:
            out[m["symbol"]] = spec_from_ccxt(m)
    if not out:
        raise ConfigError(f"{path}: no markets in exchangeInfo")
    return out


def market_kind(symbol: str) -> str:
    """`spot` (BTC/USDT), `usdm` (BTC/USDT:USDT, settled in the quote) or `coinm`
    (BTC/USD:BTC, settled in the base), from a unified symbol."""
    pair, _, settle = symbol.partition(":")
    if not settle:
        return "spot"
    base, _, quote = pair.partition("/")
    return "coinm" if settle.split("-")[0] == base else "usdm"


CCXT_ID = {"spot": "binance", "usdm": "binanceusdm", "coinm": "binancecoinm"}


def load_markets_for(symbols, usdm: str | Path | None = None, spot: str | Path | None = None,
                     coinm: str | Path | None = None) -> dict[str, MarketSpec]:
    """The rules of every symbol's market, each kind from its recorded exchangeInfo (the
    bundled ones by default); only the kinds the symbols need are read."""
    kinds = {market_kind(s) for s in symbols}
    files = {"usdm": usdm or BUNDLED_USDM, "spot": spot or BUNDLED_SPOT,
             "coinm": coinm or BUNDLED_COINM}
    out: dict[str, MarketSpec] = {}
    for kind in sorted(kinds):
        out.update(load_markets_offline(files[kind], CCXT_ID[kind]))
    return out
