"""Market events: frozen, keyword-only msgspec Structs, never mutated.

Every event carries the venue (`exchange`, a ccxt id: `binance`, `binanceusdm`, `binancecoinm`),
a unified ccxt-style `symbol` (`BTC/USDT` spot, `BTC/USDT:USDT` USD-M perp, `BTC/USD:BTC` COIN-M
inverse perp) and two clocks in integer nanoseconds since the epoch:

- `ts_event`: the exchange's own timestamp (transaction time where the venue sends one, else its
  event time). Binance spot `bookTicker` and spot REST snapshots carry no exchange time; for those
  `ts_event == ts_recv` and `has_exchange_time` is False.
- `ts_recv`: when this machine received the message (for replays, the recorded local clock,
  which runs about 1.2 s behind Binance's clock in the bundled captures).

Precision: prices and sizes are IEEE doubles parsed from the exchange's decimal strings. Binance
sends at most 15 significant digits, for which the double is a lossless encoding of the decimal
(distinct decimals stay distinct, `repr` gives the decimal back), so comparisons, hashing and
book keys are exact. Money arithmetic converts first with `engine.core.numeric.to_decimal`.
Sizes are in the instrument's own amount unit: base currency for spot and linear contracts,
contracts for inverse (COIN-M) contracts.

Structs are declared with `gc=False`: they hold no reference cycles, and keeping a replay's
retained events out of the garbage collector's scans keeps throughput flat.
"""

from __future__ import annotations

from decimal import Decimal

import msgspec

Level = tuple[float, float]
"""One price level: (price, size). Size 0 in a delta removes the level."""


class MarketEvent(msgspec.Struct, frozen=True, kw_only=True, gc=False):
    exchange: str
    symbol: str
    ts_event: int
    ts_recv: int


class BookSnapshot(MarketEvent, frozen=True, kw_only=True, gc=False, tag=True):
    """Full depth at `update_id` (a REST depth response)."""

    update_id: int
    bids: tuple[Level, ...]
    asks: tuple[Level, ...]
    has_exchange_time: bool = True


class BookDelta(MarketEvent, frozen=True, kw_only=True, gc=False, tag=True):
    """Level changes covering update ids `first_update_id..final_update_id`.

    `prev_final_update_id` is the futures chain link (`pu`); spot deltas have None and chain by
    `first_update_id == previous final_update_id + 1`.
    """

    first_update_id: int
    final_update_id: int
    prev_final_update_id: int | None = None
    bids: tuple[Level, ...]
    asks: tuple[Level, ...]


class BestBidAsk(MarketEvent, frozen=True, kw_only=True, gc=False, tag=True):
    """Top of book as published by the venue, at book update id `update_id`."""

    update_id: int
    bid_price: float
    bid_size: float
    ask_price: float
    ask_size: float
    has_exchange_time: bool = True


class Trade(MarketEvent, frozen=True, kw_only=True, gc=False, tag=True):
    """One public trade. `taker_side` is the aggressor: "buy" lifted the ask, "sell" hit the bid."""

    trade_id: int
    price: float
    size: float
    taker_side: str


class MarkPrice(MarketEvent, frozen=True, kw_only=True, gc=False, tag=True):
    """Mark price of a perpetual with its current (predicted) funding rate.

    `funding_rate` applies at `next_funding_ts` (ns); both None where the venue gives none.
    """

    mark_price: float
    index_price: float | None = None
    funding_rate: float | None = None
    next_funding_ts: int | None = None


class OpenInterest(MarketEvent, frozen=True, kw_only=True, gc=False, tag=True):
    """Open interest of a futures contract, as the venue reported it when asked (polled)."""

    open_interest: float  # contracts (base units on USD-M)


class FundingRate(MarketEvent, frozen=True, kw_only=True, gc=False, tag=True):
    """A funding settlement: at `ts_event` longs pay `rate` × position notional to shorts.

    `mark_price` is the mark at settlement where it is known (None otherwise).
    """

    rate: float
    mark_price: float | None = None


class FundingPayment(MarketEvent, frozen=True, kw_only=True, gc=False, tag=True):
    """Funding already settled on our position, as an exact amount in the perp's settle
    currency (positive: received): what the venue charged, or what a journal recorded."""

    amount: Decimal


class Bar(MarketEvent, frozen=True, kw_only=True, gc=False, tag=True):
    """OHLCV over `[ts_open, ts_event)`: `ts_event` is the bar's close, when it became known."""

    timeframe: str
    ts_open: int
    open: float
    high: float
    low: float
    close: float
    volume: float


class BookStatus(MarketEvent, frozen=True, kw_only=True, gc=False, tag=True):
    """A local book became valid (synced) or invalid (gap, waiting for a snapshot).

    `update_id` is the book's last applied id (for a gap: the id before the offending delta);
    `reason` is a short machine-readable cause (`synced`, `gap`, `stale_snapshot`, ...).
    """

    valid: bool
    reason: str
    update_id: int


class Fill(MarketEvent, frozen=True, kw_only=True, gc=False, tag=True):
    """One execution of one of our orders. Exact amounts: `qty` in the instrument's amount unit
    (base for spot and linear, contracts for inverse), `price` in quote, `fee` in `fee_currency`.

    `trade_id` is unique per venue and symbol; fills are applied idempotently by it.
    """

    order_id: str
    trade_id: str
    side: str  # "buy" | "sell"
    qty: Decimal
    price: Decimal
    fee: Decimal = Decimal(0)
    fee_currency: str = ""
    liquidity: str = "taker"


class Transfer(msgspec.Struct, frozen=True, kw_only=True, gc=False, tag=True):
    """A transfer between our wallets as the venue settled it: `status` "done" (the amount
    left `from_wallet` and reached `to_wallet`) or "failed" (nothing moved, `reason` says
    why). Applied to the portfolio once per `transfer_id`."""

    transfer_id: str
    asset: str
    amount: Decimal
    from_wallet: str
    to_wallet: str
    status: str
    ts: int
    reason: str = ""
    venue_id: str = ""  # the venue's own id of the transfer (Binance: tranId), when known


class PortfolioUpdate(msgspec.Struct, frozen=True, kw_only=True, gc=False):
    """The portfolio changed because of one event (`ts_recv`: when the engine took it in).

    `assets` are the underlyings whose own exposure changed; every weight moves with NAV.
    """

    ts_event: int
    ts_recv: int
    cause: str  # "price" | "fill" | "funding" | "bar"
    assets: tuple[str, ...]
    nav: float


class LegTarget(msgspec.Struct, frozen=True, kw_only=True, gc=False):
    """Target signed notional (quote currency) of one instrument."""

    symbol: str
    notional: float


class RebalanceIntent(msgspec.Struct, frozen=True, kw_only=True, gc=False):
    """A rule fired: bring these instruments to these notionals.

    `ts_recv` is the receive time of the event that caused it, `ts_decided` when the trigger
    decided (same clock), so their difference is the reaction time.
    """

    intent_id: str
    rule: str
    reason: str
    ts_recv: int
    ts_decided: int
    targets: tuple[LegTarget, ...]
    nav: float = 0.0
    weights: dict[str, float] = {}
    target_weights: dict[str, float] = {}
    sleeves: dict[str, str] = {}  # symbol -> the sleeve its funding and PnL are booked under
