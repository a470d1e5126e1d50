"""Engine configuration: TOML decoded by msgspec into frozen, typed structs, then checked.

Every error is a `ConfigError` naming the file, the field path (`$.strategy.weights`) and what
was expected. No secrets live here: API keys come from the environment only.
"""

from __future__ import annotations

import math
import re
from decimal import Decimal
from typing import Annotated, Literal, Union

import msgspec

from engine.core.errors import ConfigError, DecodeError
from engine.brokers.paper import FeeSchedule
from engine.execution.engine import ExecConfig
from engine.execution.transfers import AccountsCfg
from engine.portfolio.state import STABLES
from engine.risk.checks import RiskLimits
from engine.triggers.regime import Regime
from strategies.base import AssetLegs

Pos = Annotated[float, msgspec.Meta(gt=0)]
NonNeg = Annotated[float, msgspec.Meta(ge=0)]
Frac = Annotated[float, msgspec.Meta(ge=0, le=1)]
Weight = Annotated[float, msgspec.Meta(ge=-10, le=10)]


class _Cfg(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    pass


Venue = Literal["binance", "bybit", "okx"]


class InstrumentCfg(_Cfg, frozen=True, kw_only=True, forbid_unknown_fields=True):
    symbol: str
    # where it trades in paper and live runs (default: [live].exchange); spot on one venue and
    # perps on another is the cross-venue portfolio (the spot wallet one venue's account, the
    # futures wallet the other's)
    venue: Venue | None = None
    leverage: Annotated[float, msgspec.Meta(gt=0, le=125)] = 1.0
    maintenance_rate: Annotated[float, msgspec.Meta(ge=0, lt=1)] = 0.004
    contract_size: Decimal | None = None


class PositionCfg(_Cfg, frozen=True, kw_only=True, forbid_unknown_fields=True):
    qty: Decimal
    entry_price: Decimal


class AccountCfg(_Cfg, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """The starting balances, in one of two forms. By wallet, as on the venue: `spot` (every
    asset of the spot wallet, coins and stablecoins) and `futures` (the stablecoin margin of
    the futures wallet). Or `cash` and `holdings`: coins in the spot wallet, cash in the
    futures wallet when the config declares a perp (its margin), else in the spot wallet."""

    cash: dict[str, Decimal] = {}
    holdings: dict[str, Decimal] = {}
    spot: dict[str, Decimal] = {}
    futures: dict[str, Decimal] = {}
    # the COIN-M wallet: coins, each the margin (and PnL currency) of its inverse perps
    coinm: dict[str, Decimal] = {}
    positions: dict[str, PositionCfg] = {}
    # spot coins counted as futures margin at this fraction of their value (0: not at all)
    collateral_haircut: Frac = 0.0

    def by_wallet(self, has_perps: bool) -> tuple[dict, dict, dict]:
        """(spot wallet stablecoins, spot wallet coins, futures wallet stablecoins)."""
        if self.spot or self.futures:
            cash = {a: q for a, q in self.spot.items() if a in STABLES}
            coins = {a: q for a, q in self.spot.items() if a not in STABLES}
            return cash, coins, dict(self.futures)
        if has_perps:
            return {}, dict(self.holdings), dict(self.cash)
        return dict(self.cash), dict(self.holdings), {}


class FixedWeightsCfg(_Cfg, frozen=True, kw_only=True, forbid_unknown_fields=True,
                      tag_field="kind", tag="fixed_weights"):
    weights: dict[str, Weight]
    weights_sum: float | None = 1.0
    leg: Literal["spot", "perp"] = "spot"
    max_gross_leverage: Pos = 1.0


class EqualNotionalCfg(_Cfg, frozen=True, kw_only=True, forbid_unknown_fields=True,
                       tag_field="kind", tag="equal_notional"):
    gross: Pos = 1.0
    leg: Literal["spot", "perp"] = "spot"
    max_gross_leverage: Pos = 1.0


class RiskParityCfg(_Cfg, frozen=True, kw_only=True, forbid_unknown_fields=True,
                    tag_field="kind", tag="risk_parity"):
    method: Literal["inverse_vol", "erc"] = "inverse_vol"
    gross: Pos = 1.0
    window: Annotated[int, msgspec.Meta(ge=2)] | None = None
    min_returns: Annotated[int, msgspec.Meta(ge=2)] = 20
    leg: Literal["spot", "perp"] = "spot"
    max_gross_leverage: Pos = 1.0


class CoreSatelliteCfg(_Cfg, frozen=True, kw_only=True, forbid_unknown_fields=True,
                       tag_field="kind", tag="core_satellite"):
    weights: dict[str, Weight]
    weights_sum: float | None = 1.0
    max_gross_leverage: Pos = 2.0


class BtcAnchorCfg(_Cfg, frozen=True, kw_only=True, forbid_unknown_fields=True,
                   tag_field="kind", tag="btc_anchor"):
    weights: dict[str, Weight]
    anchor: str = "BTC"
    window: Annotated[int, msgspec.Meta(ge=2)] | None = None
    min_returns: Annotated[int, msgspec.Meta(ge=2)] = 20
    default_beta: float = 1.0
    max_gross_leverage: Pos = 2.0


BaseStrategyCfg = Union[FixedWeightsCfg, EqualNotionalCfg, RiskParityCfg, CoreSatelliteCfg,
                        BtcAnchorCfg]


class VolTargetCfg(_Cfg, frozen=True, kw_only=True, forbid_unknown_fields=True,
                   tag_field="kind", tag="vol_target"):
    target_vol: Pos
    base: BaseStrategyCfg
    window: Annotated[int, msgspec.Meta(ge=2)] | None = None
    min_returns: Annotated[int, msgspec.Meta(ge=2)] = 20


class CarrySwitchCfg(_Cfg, frozen=True, kw_only=True, forbid_unknown_fields=True,
                     tag_field="kind", tag="carry_switch"):
    base: BaseStrategyCfg
    funding_threshold: float = 0.0001
    streak: Annotated[int, msgspec.Meta(ge=1)] = 3
    basis_threshold: float | None = None
    rich_perp_fraction: Frac = 0.0
    neutral_fraction: NonNeg = 0.0


StrategyCfg = Union[FixedWeightsCfg, EqualNotionalCfg, RiskParityCfg, CoreSatelliteCfg,
                    BtcAnchorCfg, VolTargetCfg, CarrySwitchCfg]


DEFAULT_ABS_BAND = 0.03


class DriftCfg(_Cfg, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """One band: `abs_band` (|w − w*| > band) or `rel_band` (> band × w*), not both; neither
    given means an absolute band of 3%."""

    abs_band: Pos | None = None
    rel_band: Pos | None = None
    mode: Literal["target", "edge"] = "target"
    hysteresis: Annotated[float, msgspec.Meta(ge=0, lt=1)] = 0.0
    cooldown_s: NonNeg = 0.0
    min_trade_notional: NonNeg = 0.0

    def bands(self) -> tuple[float | None, float | None]:
        """(absolute, relative) as the rule uses them: exactly one is set."""
        if self.abs_band is None and self.rel_band is None:
            return DEFAULT_ABS_BAND, None
        return self.abs_band, self.rel_band


class ScheduleCfg(_Cfg, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """`every`: "day", "week" (Monday), "month" (the 1st), 00:00 UTC, or a fixed interval
    ("30d", "8h"); `every_minutes`: a fixed interval in minutes. One of the two."""

    every: str | None = None
    every_minutes: Pos | None = None


class AtrCfg(_Cfg, frozen=True, kw_only=True, forbid_unknown_fields=True, tag_field="kind", tag="atr_expansion"):
    asset: str
    period: Annotated[int, msgspec.Meta(ge=1)] = 14
    lookback: Annotated[int, msgspec.Meta(ge=1)] = 7
    expansion: Pos = 0.5
    name: str = "atr_expansion"


class FundingStreakCfg(_Cfg, frozen=True, kw_only=True, forbid_unknown_fields=True,
                       tag_field="kind", tag="funding_streak"):
    symbol: str
    threshold: float
    k: Annotated[int, msgspec.Meta(ge=1)] = 3
    name: str = "funding_streak"


class BasisCfg(_Cfg, frozen=True, kw_only=True, forbid_unknown_fields=True, tag_field="kind", tag="basis"):
    """A perp's premium annualised by its funding (rate per interval × intervals a year)."""
    symbol: str
    threshold: float = 0.15
    exit_below: float | None = None  # default: half the threshold
    interval_hours: Pos = 8.0
    name: str = "basis"


_DATED = re.compile(r":[A-Z0-9]+-\d{6}$")


class DatedBasisCfg(_Cfg, frozen=True, kw_only=True, forbid_unknown_fields=True,
                    tag_field="kind", tag="dated_basis"):
    """A dated contract's basis annualised by its days to expiry above threshold (a
    cash-and-carry: long spot, short the contract); exit below exit_below."""
    symbol: str
    threshold: float = 0.15
    exit_below: float | None = None  # default: half the threshold
    name: str = "dated_basis"


class SmaCfg(_Cfg, frozen=True, kw_only=True, forbid_unknown_fields=True, tag_field="kind", tag="sma_break"):
    asset: str
    period: Annotated[int, msgspec.Meta(ge=1)]
    above: bool = False
    margin: Annotated[float, msgspec.Meta(ge=0, lt=1)] = 0.0
    name: str = "sma_break"


class CorrelationCfg(_Cfg, frozen=True, kw_only=True, forbid_unknown_fields=True,
                     tag_field="kind", tag="correlation"):
    a: str
    b: str
    threshold: Annotated[float, msgspec.Meta(ge=-1, le=1)]
    window: Annotated[int, msgspec.Meta(ge=2)] | None = None
    min_returns: Annotated[int, msgspec.Meta(ge=2)] = 20
    name: str = "correlation"


class AtrSpikeCfg(_Cfg, frozen=True, kw_only=True, forbid_unknown_fields=True,
                  tag_field="kind", tag="atr_spike"):
    """ATR(period) up ≥ expansion over lookback bars; exit at its median of median_bars."""
    asset: str
    period: Annotated[int, msgspec.Meta(ge=1)] = 14
    lookback: Annotated[int, msgspec.Meta(ge=1)] = 7
    expansion: Pos = 0.5
    median_bars: Annotated[int, msgspec.Meta(ge=1)] = 30
    name: str = "atr_spike"


class FundingRichCfg(_Cfg, frozen=True, kw_only=True, forbid_unknown_fields=True,
                     tag_field="kind", tag="funding_rich"):
    """Funding above threshold k settlements in a row (or above high for high_hours); exit
    after exit_after settlements at or below threshold."""
    symbol: str
    threshold: float = 0.0005
    k: Annotated[int, msgspec.Meta(ge=1)] = 3
    high: float | None = 0.001
    high_hours: Pos = 48.0
    interval_hours: Pos = 8.0
    exit_after: Annotated[int, msgspec.Meta(ge=1)] = 3
    name: str = "funding_rich"


class SmaTrendCfg(_Cfg, frozen=True, kw_only=True, forbid_unknown_fields=True,
                  tag_field="kind", tag="sma_trend"):
    """Close below (or above) SMA(period); exit after exit_after closes on the other side."""
    asset: str
    period: Annotated[int, msgspec.Meta(ge=1)] = 200
    below: bool = True
    exit_after: Annotated[int, msgspec.Meta(ge=1)] = 3
    name: str = "sma_trend"


class SmaCrossCfg(_Cfg, frozen=True, kw_only=True, forbid_unknown_fields=True,
                  tag_field="kind", tag="sma_cross"):
    """SMA(fast) above SMA(slow) (golden) or below (death); exit on the opposite cross."""
    asset: str
    fast: Annotated[int, msgspec.Meta(ge=1)] = 50
    slow: Annotated[int, msgspec.Meta(ge=2)] = 200
    golden: bool = True
    name: str = "sma_cross"


class SigmaBandCfg(_Cfg, frozen=True, kw_only=True, forbid_unknown_fields=True,
                   tag_field="kind", tag="sigma_band"):
    """Close more than k σ above (or below) SMA(period); exit back within exit_k σ."""
    asset: str
    period: Annotated[int, msgspec.Meta(ge=2)] = 20
    k: Pos = 2.0
    above: bool = True
    exit_k: Annotated[float, msgspec.Meta(ge=0)] = 0.0
    name: str = "sigma_band"


class SupportBreachCfg(_Cfg, frozen=True, kw_only=True, forbid_unknown_fields=True,
                       tag_field="kind", tag="support_breach"):
    """closes closes below the lowest low of the lookback bars before them (or level); exit
    after hold closes at or above the level broken."""
    asset: str
    closes: Annotated[int, msgspec.Meta(ge=1)] = 2
    lookback: Annotated[int, msgspec.Meta(ge=1)] = 30
    level: Pos | None = None
    hold: Annotated[int, msgspec.Meta(ge=1)] = 3
    name: str = "support_breach"


class OpenInterestCfg(_Cfg, frozen=True, kw_only=True, forbid_unknown_fields=True,
                      tag_field="kind", tag="open_interest"):
    """Open interest up ≥ rise over window samples with the price within ±flat."""
    symbol: str
    rise: Pos = 0.15
    flat: Pos = 0.01
    window: Annotated[int, msgspec.Meta(ge=1)] = 24
    poll_s: Pos = 3600.0  # paper and live: how often the venue is asked
    name: str = "open_interest"


SignalCfg = Union[AtrCfg, FundingStreakCfg, BasisCfg, DatedBasisCfg, SmaCfg, CorrelationCfg, AtrSpikeCfg,
                  FundingRichCfg, SmaTrendCfg, SmaCrossCfg, SigmaBandCfg, SupportBreachCfg,
                  OpenInterestCfg]


class RegimesCfg(_Cfg, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """The regime matrix: the first row whose signals are all active wins, else the baseline;
    a regime is held at least `min_hold_hours` before another is taken."""
    baseline: Regime
    regimes: list[Regime] = []
    min_hold_hours: Annotated[float, msgspec.Meta(ge=0)] = 0.0


class CarryCfg(_Cfg, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """The futures hedge of each underlying held in whichever of its perpetual and declared
    dated contracts earns the most carry (funding against basis), moved as a calendar spread
    once the gain over `horizon_days` exceeds `switch_cost_bps` (engine/triggers/dated.py)."""
    horizon_days: Pos = 30.0
    switch_cost_bps: Annotated[float, msgspec.Meta(ge=0)] = 10.0
    interval_hours: Pos = 8.0  # the perpetuals' funding interval
    # perp -> funding rate per interval assumed until the venue's own rate is seen
    expected_funding: dict[str, Annotated[float, msgspec.Meta(ge=-0.05, le=0.05)]] = {}


class TriggersCfg(_Cfg, frozen=True, kw_only=True, forbid_unknown_fields=True):
    drift: DriftCfg | None = None
    schedule: ScheduleCfg | None = None
    signals: list[SignalCfg] = []
    regimes: RegimesCfg | None = None
    # a dated contract held this many days before its expiry is rolled (one rebalance, the
    # two legs paced together) into the perpetual of the same underlying (`roll_into =
    # "perp"`) or its next dated contract ("next"): never held into delivery unless
    # `hold_to_delivery` (then delivered at expiry in paper and replay)
    roll_days_before: Annotated[float, msgspec.Meta(gt=0)] = 3.0
    roll_into: Literal["perp", "next"] = "perp"
    hold_to_delivery: bool = False
    carry: CarryCfg | None = None


class StatsCfg(_Cfg, frozen=True, kw_only=True, forbid_unknown_fields=True):
    sample_seconds: Pos = 3600.0
    lookback: Annotated[int, msgspec.Meta(ge=2)] = 720


class BarsCfg(_Cfg, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Bars built from trades while streaming (replay, paper, live), for the bar rules and
    statistics (ATR, SMA), warmed up from history at the start."""

    interval: str = "1m"  # 1m and up: 5m, 1h, 4h, 1d, ...
    # asset -> the symbol whose trades build its bars (default: its spot, else its perp)
    symbols: dict[str, str] = {}
    # bar files (freqtrade feather; paths relative to the config): closed bars of `interval`
    # before the start, and a finer file's bars for the bar in progress. Without files, paper
    # and live fetch the venue's klines (ccxt fetch_ohlcv).
    history: list[str] = []
    history_bars: Annotated[int, msgspec.Meta(ge=0, le=5000)] = 400


class PaperCfg(_Cfg, frozen=True, kw_only=True, forbid_unknown_fields=True):
    fees: FeeSchedule = FeeSchedule()  # futures (USD-M, COIN-M)
    spot_fees: FeeSchedule = FeeSchedule(maker_bps=Decimal("10"), taker_bps=Decimal("10"))
    latency_ms: NonNeg = 0.0


class MarketsCfg(_Cfg, frozen=True, kw_only=True, forbid_unknown_fields=True):
    # recorded exchangeInfo per market kind (default: the bundled ones, scripts/data/binance)
    exchange_info: str | None = None  # USD-M futures
    spot_exchange_info: str | None = None
    coinm_exchange_info: str | None = None
    exchange: str = "binanceusdm"  # the ccxt id of the futures venue
    # bybit, okx: the venue's instrument listing (a saved instruments response; OKX:
    # cryptofeed's OKX.0 too) by venue, relative to the config file; default: the bundled one
    # (scripts/data/<venue>/README.md: Bybit's hand-written, OKX's recorded)
    listings: dict[Literal["bybit", "okx"], str] = {}


class ReplayCfg(_Cfg, frozen=True, kw_only=True, forbid_unknown_fields=True):
    files: list[str] = []  # captures, relative to the config file's folder
    market: Literal["spot", "usdm", "coinm"] | None = None
    # every book's top checked against the recorded bookTicker, counts in the run summary
    verify_books: bool = True


class RunCfg(_Cfg, frozen=True, kw_only=True, forbid_unknown_fields=True):
    on_restart: Literal["resume", "cancel"] = "resume"  # running TWAPs found in the journal
    on_shutdown: Literal["cancel", "keep"] = "cancel"  # working orders at SIGTERM/SIGINT
    snapshot_every_s: Pos = 10.0  # portfolio snapshot cadence, in the run's clock
    checkpoint_every: Annotated[int, msgspec.Meta(ge=1)] = 2000  # events between checkpoints


class StatusCfg(_Cfg, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """The status server: /status, /metrics, the dashboard at /. Kill and resume over HTTP
    need the token held by the variable `token_env` names; without it the server is
    read-only, and it may bind beyond loopback only with it."""

    enabled: bool = False
    host: Annotated[str, msgspec.Meta(min_length=1)] = "127.0.0.1"
    port: Annotated[int, msgspec.Meta(ge=0, le=65535)] = 8787
    token_env: Annotated[str, msgspec.Meta(min_length=1)] = "BALLAST_STATUS_TOKEN"
    push_interval_s: Annotated[float, msgspec.Meta(gt=0, le=60)] = 0.5  # the page's updates
    # the names (or addresses) a browser reaches this server by, beside loopback's and
    # `host`: any other Host header is refused (a page elsewhere rebinding its name)
    allowed_hosts: list[str] = []


class AlertsCfg(_Cfg, frozen=True, kw_only=True, forbid_unknown_fields=True):
    webhook_env: str | None = None  # name of the environment variable holding the URL
    webhook_url: str | None = None  # for local receivers; secrets belong in webhook_env
    timeout_s: Pos = 3.0
    rejects_threshold: Annotated[int, msgspec.Meta(ge=1)] = 5
    rejects_window_s: Pos = 60.0


class RateLimitCfg(_Cfg, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """One of the venue's request budgets: `limit` of `counts` per `window_s` seconds."""

    counts: Literal["weight", "orders"]
    limit: Annotated[int, msgspec.Meta(ge=1)]
    window_s: Pos


class VenueEndpointsCfg(_Cfg, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Where a second venue of a cross-venue run is (default: the venue's own URLs)."""

    ws_linear: str | None = None  # Bybit: its public linear stream; OKX: its WebSocket base
    ws_spot: str | None = None
    ws_inverse: str | None = None
    rest_base: str | None = None
    account_base: str | None = None
    ws_private: str | None = None  # Bybit's private stream


class LiveCfg(_Cfg, frozen=True, kw_only=True, forbid_unknown_fields=True):
    # the venue of paper and live runs; bybit and okx: paper runs on their books (one client
    # for every market kind, the book frames read and checked by engine/venues/<venue>)
    exchange: Venue = "binance"
    # the other venues of a cross-venue run (instruments with their own `venue`): endpoints
    venues: dict[Venue, VenueEndpointsCfg] = {}
    ws_linear: str | None = None  # default: Binance's; tests point it at the local exchange
    ws_spot: str | None = None  # spot streams (default: Binance's)
    ws_inverse: str | None = None  # COIN-M streams (default: Binance's)
    ws_api_spot: str | None = None  # spot WebSocket API: the spot user-data stream
    ws_private: str | None = None  # Bybit: its private stream (default: Bybit's)
    rest_base: str | None = None
    account_base: str | None = None
    depth: Annotated[int, msgspec.Meta(ge=1, le=1000)] = 50
    idle_tick_ms: Annotated[float, msgspec.Meta(gt=0)] = 100.0
    # names of the environment variables holding the API key and secret (never the values)
    api_key_env: str = "BINANCE_API_KEY"
    api_secret_env: str = "BINANCE_API_SECRET"
    api_passphrase_env: str | None = None  # OKX: its key's passphrase
    reconcile_every_s: Annotated[float, msgspec.Meta(gt=0)] = 5.0  # live: venue positions check
    # live: the venue's wallet balance may differ from ours by this much (its own rounding)
    cash_tolerance: Decimal = Decimal("0.01")
    # COIN-M wallets (coins): the venue rounds each fill's PnL and fee to 8 decimals, the
    # engine does not; a few units of the 8th decimal per check are rounding, not a mismatch
    coin_tolerance: Decimal = Decimal("0.000001")
    mark_prices: bool = True  # perps: watch the mark price stream (mark, funding rate)
    # bookTicker and trade frames read by the engine's own decoders as they arrive, not
    # parsed by ccxt.pro first (see engine/feeds/frame_tap.py); false: ccxt.pro's parsing
    decode_frames: bool = True
    # the venue's request budgets (default: the rateLimits of [markets].exchange_info)
    rate_limits: list[RateLimitCfg] = []


class PolicyCfg(_Cfg, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """One rebalancing policy of a backtest: a strategy (default: the config's) and when it
    trades. No drift and no schedule is buy-and-hold (allocated once at the start)."""

    name: str
    strategy: StrategyCfg | None = None
    drift: DriftCfg | None = None
    # calendar: "day", "week" (Mondays), "month" (the 1st), 00:00 UTC; or "30d", "8h", ...
    schedule: str | None = None
    schedule_minutes: Pos | None = None  # a fixed interval in minutes (1440: every 24 h)
    # signal rules and regimes of this policy; `signals_from_triggers`: the config's
    # [triggers] ones (what a replay or live run of the same config fires)
    signals: list[SignalCfg] = []
    regimes: RegimesCfg | None = None
    signals_from_triggers: bool = False


class FundingFileCfg(_Cfg, frozen=True, kw_only=True, forbid_unknown_fields=True):
    rates: str  # freqtrade *-8h-funding_rate.feather
    mark: str | None = None  # the matching *-8h-mark.feather (mark at each settlement)


class SweepCfg(_Cfg, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """A grid of threshold policies added to the listed ones: every band × mode × kind."""

    abs_bands: list[Pos] = []
    rel_bands: list[Pos] = []
    modes: list[Literal["target", "edge"]] = msgspec.field(default_factory=lambda: ["target"])


class BacktestCfg(_Cfg, frozen=True, kw_only=True, forbid_unknown_fields=True):
    # instrument symbol -> freqtrade feather bar file (paths relative to the config file)
    bars: dict[str, str]
    funding: dict[str, FundingFileCfg] = {}
    start: str | None = None  # ISO date/time, UTC (inclusive)
    end: str | None = None  # ISO date/time, UTC (exclusive)
    fee_bps: NonNeg = 10.0  # per fill, on the traded notional
    slippage_bps: NonNeg = 2.0  # fills at close × (1 ± slippage)
    qty_decimals: Annotated[int, msgspec.Meta(ge=0, le=12)] = 6  # amounts rounded down to this
    min_notional: NonNeg = 10.0  # smaller trades are skipped (the exchange minimum)
    band_for_metrics: Pos = 0.05  # "time in band" for policies without a drift band
    policies: list[PolicyCfg] = []
    sweep: SweepCfg | None = None
    html: str | None = None  # report path (default out/backtest.html)
    workers: Annotated[int, msgspec.Meta(ge=1)] = 2
    ray_address: str | None = None  # run the policies on this Ray cluster (optional dependency)


class EngineConfig(_Cfg, frozen=True, kw_only=True, forbid_unknown_fields=True):
    account: AccountCfg
    instruments: list[InstrumentCfg]
    accounts: AccountsCfg = AccountsCfg()
    universe: dict[str, AssetLegs]
    strategy: StrategyCfg = msgspec.field(default=None)  # type: ignore[assignment]
    triggers: TriggersCfg = TriggersCfg()
    stats: StatsCfg = StatsCfg()
    bars: BarsCfg | None = None
    execution: ExecConfig = ExecConfig()
    risk: RiskLimits = RiskLimits()
    paper: PaperCfg = PaperCfg()
    markets: MarketsCfg = MarketsCfg()
    replay: ReplayCfg = ReplayCfg()
    run: RunCfg = RunCfg()
    status: StatusCfg = StatusCfg()
    alerts: AlertsCfg = AlertsCfg()
    live: LiveCfg = LiveCfg()
    backtest: BacktestCfg | None = None


def load_config(path: str) -> EngineConfig:
    """Read, decode and check a TOML config; any problem raises `ConfigError`."""
    try:
        with open(path, "rb") as fh:
            raw = fh.read()
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read config: {exc.strerror}") from None
    return parse_config(raw, path)


def parse_config(raw: bytes | str, path: str = "<config>") -> EngineConfig:
    try:
        cfg = msgspec.toml.decode(raw, type=EngineConfig, strict=True)
    except msgspec.ValidationError as exc:
        raise ConfigError(f"{path}: {_where(str(exc))}") from None
    except msgspec.DecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from None
    if cfg.strategy is None:
        raise ConfigError(f"{path}: at `$.strategy`: a [strategy] table with a `kind` is required")
    bad = first_non_finite(cfg)
    if bad is not None:
        where, value = bad
        raise ConfigError(f"{path}: at `{where}`: must be a finite number, got {value}")
    check_config(cfg, path)
    return cfg


def first_non_finite(obj, where: str = "$") -> tuple[str, object] | None:
    """The first NaN, infinity or signalling NaN anywhere in a decoded config (floats and
    Decimals, in structs, tables and lists), with its path: no number field means "no limit"
    by being infinite (None does that), and NaN compares false to every bound."""
    if isinstance(obj, float):
        return None if math.isfinite(obj) else (where, obj)
    if isinstance(obj, Decimal):
        return None if obj.is_finite() else (where, obj)
    if isinstance(obj, msgspec.Struct):
        for name in obj.__struct_fields__:
            got = first_non_finite(getattr(obj, name), f"{where}.{name}")
            if got is not None:
                return got
    elif isinstance(obj, dict):
        for k, v in obj.items():
            got = first_non_finite(v, f"{where}.{k}")
            if got is not None:
                return got
    elif isinstance(obj, (list, tuple)):
        for i, v in enumerate(obj):
            got = first_non_finite(v, f"{where}[{i}]")
            if got is not None:
                return got
    return None


def _where(msg: str) -> str:
    """msgspec says '<what> - at `$.a.b`'; lead with the path."""
    what, sep, at = msg.rpartition(" - at ")
    return f"at {at}: {what}" if sep else msg


def check_config(cfg: EngineConfig, path: str) -> None:
    def fail(where: str, what: str) -> None:
        raise ConfigError(f"{path}: at `{where}`: {what}")

    for table in ("fees", "spot_fees"):
        for name in ("maker_bps", "taker_bps"):
            v = getattr(getattr(cfg.paper, table), name)
            if v < 0:
                fail(f"$.paper.{table}.{name}", f"must be >= 0 (rebates are not modelled), "
                     f"got {v}")
    venue_of = instrument_venues(cfg)
    on_bybit = [s for s, v in venue_of.items() if v == "bybit"]
    not_linear = [s for s in on_bybit
                  if ":" not in s or s.split(":")[1] != s.split("/")[1].split(":")[0]]
    if not_linear:
        fail("$.instruments", f"Bybit trades linear perpetuals only so far, not {not_linear}")
    if on_bybit and cfg.live.depth not in (50, 200, 1000):
        fail("$.live.depth", f"Bybit serves linear books at 50, 200 or 1000 levels, got "
             f"{cfg.live.depth}")
    others = sorted({v for v in venue_of.values() if v != "binance"})
    if others:
        needs = sorted({type(s).__name__ for s in cfg.triggers.signals
                        if isinstance(s, (FundingStreakCfg, FundingRichCfg, BasisCfg,
                                          OpenInterestCfg))})
        if needs:
            fail("$.triggers.signals", f"{needs} read mark prices, funding or open interest, "
                 f"which are not wired for {others} yet")
    venues = set(venue_of.values())
    if len(venues) > 1:
        spot_v = {v for s, v in venue_of.items() if ":" not in s}
        perp_v = {v for s, v in venue_of.items() if ":" in s}
        if len(spot_v) > 1 or len(perp_v) > 1:
            fail("$.instruments", "a cross-venue run holds its spot instruments on one venue "
                 f"and its contracts on one venue (the two wallets); got spot on "
                 f"{sorted(spot_v)}, contracts on {sorted(perp_v)}")
        if cfg.accounts.enabled:
            fail("$.accounts", "transfers between the spot and futures wallets of two venues "
                 "are withdrawals, which the engine does not make: turn [accounts] off")
        missing = sorted(venues - {cfg.live.exchange} - set(cfg.live.venues))
        if missing and any(getattr(cfg.live, f) for f in ("ws_linear", "rest_base")):
            fail("$.live.venues", f"[live] points {cfg.live.exchange} elsewhere; give "
                 f"[live.venues.<venue>] endpoints for {missing} too")
    symbols = [i.symbol for i in cfg.instruments]
    dup = {s for s in symbols if symbols.count(s) > 1}
    if dup:
        fail("$.instruments", f"symbols declared twice: {sorted(dup)}")
    for i, inst in enumerate(cfg.instruments):
        if "/" not in inst.symbol:
            fail(f"$.instruments[{i}].symbol", f"expected BASE/QUOTE[:SETTLE], got {inst.symbol!r}")
    for sym, pos in cfg.account.positions.items():
        if sym not in symbols or ":" not in sym:
            fail(f"$.account.positions.{sym}", f"not a declared perp instrument; declared: {symbols}")
        if pos.entry_price <= 0:
            fail(f"$.account.positions.{sym}.entry_price", f"must be > 0, got {pos.entry_price}")
    acct = cfg.account
    if (acct.spot or acct.futures) and (acct.cash or acct.holdings):
        fail("$.account", "give the wallets (spot, futures) or cash and holdings, not both")
    for name in ("cash", "holdings", "spot", "futures", "coinm"):
        for ccy, amt in getattr(acct, name).items():
            if amt < 0:
                fail(f"$.account.{name}.{ccy}", f"balance must not be negative, got {amt}")
    for ccy in acct.futures:
        if ccy not in STABLES:
            fail(f"$.account.futures.{ccy}", f"the futures wallet holds stablecoin margin "
                 f"({', '.join(sorted(STABLES))}); coins belong in [account.spot]")
    inverse_bases = {sym.split("/")[0] for sym in symbols
                     if ":" in sym and sym.split(":")[1].split("-")[0] == sym.split("/")[0]}
    for ccy in acct.coinm:
        if ccy in STABLES:
            fail(f"$.account.coinm.{ccy}", "the COIN-M wallet holds coins (each margins its "
                 "inverse perps); stablecoin margin belongs in [account.futures]")
        if ccy not in inverse_bases:
            fail(f"$.account.coinm.{ccy}", f"no inverse perp on {ccy} is declared "
                 f"(COIN-M symbols look like {ccy}/USD:{ccy})")
    tr = cfg.accounts
    if tr.enabled:
        if tr.max_transfer <= 0:
            fail("$.accounts.max_transfer", f"must be > 0, got {tr.max_transfer}")
        if tr.min_transfer < 0:
            fail("$.accounts.min_transfer", f"must be >= 0, got {tr.min_transfer}")
        if tr.asset not in STABLES:
            fail("$.accounts.asset", f"must be a stablecoin, got {tr.asset!r}")
        if not tr.return_below < tr.margin_target < tr.top_up_above:
            fail("$.accounts", f"needs return_below < margin_target < top_up_above, got "
                 f"{tr.return_below} / {tr.margin_target} / {tr.top_up_above}")
        if tr.top_up_above > cfg.risk.max_margin_utilisation:
            fail("$.accounts.top_up_above", f"must not exceed the risk cap "
                 f"max_margin_utilisation = {cfg.risk.max_margin_utilisation}, got "
                 f"{tr.top_up_above}")
        if tr.min_transfer > tr.max_transfer:
            fail("$.accounts.min_transfer", f"exceeds max_transfer ({tr.max_transfer})")
        if not any(":" in sym for sym in symbols):
            fail("$.accounts", "transfers move futures margin, but no perp is declared")
    for asset, legs in cfg.universe.items():
        for leg in ("spot", "perp"):
            sym = getattr(legs, leg)
            if sym is None:
                continue
            if sym not in symbols:
                fail(f"$.universe.{asset}.{leg}", f"unknown symbol {sym!r}; declared: {symbols}")
            if not sym.startswith(asset + "/"):
                fail(f"$.universe.{asset}.{leg}", f"{sym} is not an instrument on {asset}")
            if (leg == "perp") != (":" in sym):
                fail(f"$.universe.{asset}.{leg}", f"{sym} is not a {leg} instrument")
        if legs.spot is None and legs.perp is None:
            fail(f"$.universe.{asset}", "needs a spot or a perp symbol")
    _check_strategy(cfg.strategy, cfg, "$.strategy", fail)
    drift = cfg.triggers.drift
    sched = cfg.triggers.schedule
    if sched is not None:
        if (sched.every is None) == (sched.every_minutes is None):
            fail("$.triggers.schedule", "give every (\"day\", \"week\", \"month\", \"30d\", ...) "
                 "or every_minutes, one of them")
        _check_period(sched.every, "$.triggers.schedule.every", fail)
    if drift is not None and drift.abs_band is not None and drift.rel_band is not None:
        fail("$.triggers.drift", "give abs_band or rel_band, not both")
    rg = cfg.triggers.regimes
    if cfg.triggers.carry is not None and rg is not None and any(
            r.futures_on == "dated" for r in [*rg.regimes, rg.baseline]):
        fail("$.triggers.carry", "carry moves the hedge between perp and dated contracts, "
             "which regimes with futures_on = \"dated\" place themselves: use one of them")
    for i, s in enumerate(cfg.triggers.signals):
        for attr in ("asset", "a", "b"):
            a = getattr(s, attr, None)
            if a is not None and a not in cfg.universe:
                fail(f"$.triggers.signals[{i}].{attr}", f"unknown asset {a!r}")
        if isinstance(s, (FundingStreakCfg, FundingRichCfg, BasisCfg, OpenInterestCfg)) \
                and (s.symbol not in symbols or ":" not in s.symbol):
            fail(f"$.triggers.signals[{i}].symbol", f"{s.symbol!r} is not a declared perp")
        if isinstance(s, DatedBasisCfg) and (s.symbol not in symbols
                                            or not _DATED.search(s.symbol)):
            fail(f"$.triggers.signals[{i}].symbol",
                 f"{s.symbol!r} is not a declared dated contract (e.g. BTC/USDT:USDT-250627)")
    if cfg.bars is not None:
        from engine.feeds.bars import parse_name, timeframe_ns

        try:
            iv = timeframe_ns(cfg.bars.interval)
        except DecodeError:
            fail("$.bars.interval", f"expected e.g. 1m, 15m, 1h, 1d, got {cfg.bars.interval!r}")
        if iv < 60_000_000_000:
            fail("$.bars.interval", f"bars are built from 1m up, got {cfg.bars.interval!r}")
        for a, sym in cfg.bars.symbols.items():
            if a not in cfg.universe:
                fail(f"$.bars.symbols.{a}", f"unknown asset {a!r}")
            if sym not in symbols or not sym.startswith(a + "/"):
                fail(f"$.bars.symbols.{a}", f"{sym!r} is not a declared instrument on {a}")
        for i, f in enumerate(cfg.bars.history):
            try:
                parse_name(f)
            except DecodeError as exc:
                fail(f"$.bars.history[{i}]", exc.detail)
    ex = cfg.execution
    if ex.algo not in ("twap", "vwap"):
        fail("$.execution.algo", f"expected 'twap' or 'vwap', got {ex.algo!r}")
    if ex.mode not in ("marketable", "passive_then_cross"):
        fail("$.execution.mode", f"expected 'marketable' or 'passive_then_cross', got {ex.mode!r}")
    if ex.on_reject not in ("pause", "abort"):
        fail("$.execution.on_reject", f"expected 'pause' or 'abort', got {ex.on_reject!r}")
    if ex.slices < 1 or ex.duration_s < 0 or not 0 <= ex.jitter < 0.5:
        fail("$.execution", "needs slices >= 1, duration_s >= 0 and jitter in [0, 0.5)")
    if ex.max_transient_exposure is not None and ex.max_transient_exposure <= 0:
        fail("$.execution.max_transient_exposure", f"must be > 0, got "
             f"{ex.max_transient_exposure}")
    if ex.max_slippage_bps <= 0:
        fail("$.execution.max_slippage_bps", f"must be > 0, got {ex.max_slippage_bps}")
    r = cfg.risk
    if not 0 < r.max_margin_utilisation <= 1:
        fail("$.risk.max_margin_utilisation", f"must be in (0, 1], got {r.max_margin_utilisation}")
    if r.max_quote_delay_ms <= 0:
        fail("$.risk.max_quote_delay_ms", f"must be > 0, got {r.max_quote_delay_ms}")
    if r.max_gross_leverage <= 0 or r.price_band_bps <= 0 or r.max_price_age_s <= 0:
        fail("$.risk", "max_gross_leverage, price_band_bps and max_price_age_s must be > 0")
    if cfg.backtest is not None:
        _check_backtest(cfg, cfg.backtest, fail)
    names = [s.name for s in cfg.triggers.signals]
    if len(set(names)) != len(names):
        fail("$.triggers.signals", "signal names must be unique (set `name`)")
    if cfg.triggers.regimes is not None:
        for j, r in enumerate(cfg.triggers.regimes.regimes):
            missing = set(r.when) - set(names)
            if missing:
                fail(f"$.triggers.regimes.regimes[{j}].when", f"unknown signals {sorted(missing)}")


def buys_spot(s) -> bool:
    """Whether a strategy can ask for spot bought (core-satellite never trades its spot core;
    a perp-leg policy trades perps only)."""
    if isinstance(s, CoreSatelliteCfg):
        return False
    if isinstance(s, VolTargetCfg):
        return buys_spot(s.base)
    if isinstance(s, (CarrySwitchCfg, BtcAnchorCfg)):
        return True
    return getattr(s, "leg", "spot") == "spot"


def check_streaming_wallets(cfg: EngineConfig, path: str) -> None:
    """Replay, paper and live keep the two wallets apart (bar backtests pool them): a config
    that trades spot and perps with the old `cash` puts it all in the futures wallet, where a
    spot buy cannot reach it. Refuse rather than have every spot buy rejected (-2010)."""
    acct = cfg.account
    symbols = [i.symbol for i in cfg.instruments]
    if (acct.cash and not acct.spot and not acct.futures and any(":" in s for s in symbols)
            and any(":" not in s for s in symbols) and not cfg.accounts.enabled
            and buys_spot(cfg.strategy)):
        raise ConfigError(
            f"{path}: at `$.account.cash`: with spot and perp instruments, cash is the futures "
            "wallet's margin and the spot wallet holds no stablecoin to buy spot with; give "
            "[account.spot] and [account.futures], or allow transfers ([accounts] max_transfer)")


def _check_period(every: str | None, where: str, fail) -> None:
    if every is None:
        return
    from engine.triggers.calendar import period_of

    try:
        period_of(every)
    except ValueError as exc:
        fail(where, str(exc))


def _check_strategy(s, cfg: EngineConfig, where: str, fail) -> None:
    weights = getattr(s, "weights", None)
    if weights is not None:
        unknown = set(weights) - set(cfg.universe)
        if unknown:
            fail(f"{where}.weights", f"assets not in the universe: {sorted(unknown)}")
        declared = getattr(s, "weights_sum", None)
        if declared is not None and abs(sum(weights.values()) - declared) > 1e-9:
            fail(f"{where}.weights", f"weights sum to {sum(weights.values()):g}, "
                                     f"declared weights_sum = {declared:g}")
    leg = getattr(s, "leg", None)
    if leg is not None:
        for asset, legs in cfg.universe.items():
            if getattr(legs, leg) is None:
                fail(f"{where}.leg", f"leg {leg!r} but {asset} has no {leg} instrument")
    if isinstance(s, BtcAnchorCfg) and (s.anchor not in cfg.universe
                                        or cfg.universe[s.anchor].perp is None):
        fail(f"{where}.anchor", f"{s.anchor!r} must be a universe asset with a perp")
    if isinstance(s, CarrySwitchCfg):
        for asset, legs in cfg.universe.items():
            if legs.spot is None or legs.perp is None:
                fail("$.universe", f"carry_switch needs spot and perp for {asset}")
    base = getattr(s, "base", None)
    if base is not None:
        _check_strategy(base, cfg, f"{where}.base", fail)


def _check_backtest(cfg: EngineConfig, bt: BacktestCfg, fail) -> None:
    symbols = {i.symbol for i in cfg.instruments}
    traded = {sym for legs in cfg.universe.values() for sym in (legs.spot, legs.perp) if sym}
    for sym in bt.bars:
        if sym not in symbols:
            fail(f"$.backtest.bars.{sym}", f"not a declared instrument; declared: {sorted(symbols)}")
    missing = traded - set(bt.bars)
    if missing:
        fail("$.backtest.bars", f"no bar file for traded instruments {sorted(missing)}")
    for sym in bt.funding:
        if sym not in symbols or ":" not in sym:
            fail(f"$.backtest.funding.{sym}", "funding needs a declared perp instrument")
    names = [p.name for p in bt.policies]
    if len(set(names)) != len(names):
        fail("$.backtest.policies", "policy names must be unique")
    if not bt.policies and bt.sweep is None:
        fail("$.backtest.policies", "no policies to run")
    for i, p in enumerate(bt.policies):
        if p.strategy is not None:
            _check_strategy(p.strategy, cfg, f"$.backtest.policies[{i}].strategy", fail)
        if p.schedule is not None and p.schedule_minutes is not None:
            fail(f"$.backtest.policies[{i}]", "give schedule or schedule_minutes, not both")
        _check_period(p.schedule, f"$.backtest.policies[{i}].schedule", fail)
        if p.drift is not None and p.drift.abs_band is not None and p.drift.rel_band is not None:
            fail(f"$.backtest.policies[{i}].drift", "give abs_band or rel_band, not both")
    for k in ("start", "end"):
        v = getattr(bt, k)
        if v is not None:
            try:
                parse_utc(v)
            except ValueError:
                fail(f"$.backtest.{k}", f"not an ISO date/time: {v!r}")


def parse_utc(text: str) -> int:
    """ISO date or date-time (UTC unless it says otherwise) -> epoch ns."""
    from datetime import datetime, timezone

    dt = datetime.fromisoformat(text)
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=timezone.utc)
    return int(dt.timestamp()) * 1_000_000_000 + dt.microsecond * 1000


def instrument_venues(cfg: EngineConfig) -> dict[str, str]:
    """Each declared instrument's venue: its own `venue`, else [live].exchange."""
    return {i.symbol: i.venue or cfg.live.exchange for i in cfg.instruments}
