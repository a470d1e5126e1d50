"""Build the engine's parts (portfolio, strategy, statistics, trigger actor) from a config."""

from __future__ import annotations

from engine.core.clock import Clock
from engine.core.errors import ConfigError
from engine.portfolio.instruments import instrument_from_symbol
from engine.portfolio.state import Portfolio
from engine.portfolio.stats import MarketStats
from engine.node import config as c
from engine.triggers.actor import TriggerActor
from engine.triggers.dated import CarryChooser, MovesPending, RollRule
from engine.triggers.bar_rules import AtrSpike, SigmaBand, SmaCross, SmaTrend, SupportBreach
from engine.triggers.market_rules import (BasisRich, DatedBasisRich, FundingRich,
                                          OpenInterestSurge)
from engine.triggers.regime import RegimeMatrix
from engine.triggers.rules import (
    AtrExpansion,
    CorrelationAbove,
    DriftBand,
    FundingStreak,
    Schedule,
    SmaBreak,
)
from strategies.base import Strategy
from strategies.carry import CarrySwitch
from strategies.risk import BtcAnchor, RiskParity, VolTarget
from strategies.simple import CoreSatellite, EqualNotional, FixedWeights


def build_portfolio(cfg: c.EngineConfig, pooled: bool = False) -> Portfolio:
    """The starting portfolio; `pooled`: one cash pool for both wallets (bar backtests)."""
    insts = [instrument_from_symbol(i.symbol, leverage=i.leverage,
                                    maintenance_rate=i.maintenance_rate,
                                    contract_size=i.contract_size) for i in cfg.instruments]
    spot_cash, coins, futures = cfg.account.by_wallet(any(i.kind != "spot" for i in insts))
    p = Portfolio(insts, cash={}, spot_cash=spot_cash, futures_cash=futures, holdings=coins,
                  collateral_haircut=cfg.account.collateral_haircut, pooled=pooled,
                  coinm=cfg.account.coinm)
    for sym, pos in cfg.account.positions.items():
        p.seed_position(sym, pos.qty, pos.entry_price)
    return p


def build_strategy(s, universe) -> Strategy:
    if isinstance(s, c.FixedWeightsCfg):
        return FixedWeights(universe, s.weights, s.leg, s.max_gross_leverage, s.weights_sum)
    if isinstance(s, c.EqualNotionalCfg):
        return EqualNotional(universe, s.gross, s.leg, s.max_gross_leverage)
    if isinstance(s, c.RiskParityCfg):
        return RiskParity(universe, s.method, s.gross, s.window, s.min_returns, s.leg,
                          s.max_gross_leverage)
    if isinstance(s, c.CoreSatelliteCfg):
        return CoreSatellite(universe, s.weights, s.max_gross_leverage, s.weights_sum)
    if isinstance(s, c.BtcAnchorCfg):
        return BtcAnchor(universe, s.weights, s.anchor, s.window, s.min_returns, s.default_beta,
                         s.max_gross_leverage)
    if isinstance(s, c.VolTargetCfg):
        return VolTarget(build_strategy(s.base, universe), s.target_vol, s.window, s.min_returns)
    if isinstance(s, c.CarrySwitchCfg):
        return CarrySwitch(build_strategy(s.base, universe), s.funding_threshold, s.streak,
                           s.basis_threshold, s.rich_perp_fraction, s.neutral_fraction)
    raise TypeError(f"unknown strategy config {type(s).__name__}")


def build_stats(cfg: c.EngineConfig) -> MarketStats:
    step = cfg.stats.sample_seconds
    keep = max(400, cfg.bars.history_bars + 10) if cfg.bars is not None else 400
    return MarketStats(lookback=cfg.stats.lookback, sample_ns=int(step * 1e9),
                       periods_per_year=365 * 86400 / step, bar_keep=keep)


def build_signals(cfg: c.EngineConfig) -> list:
    out = []
    for s in cfg.triggers.signals:
        if isinstance(s, c.AtrCfg):
            out.append(AtrExpansion(s.asset, s.period, s.lookback, s.expansion, s.name))
        elif isinstance(s, c.FundingStreakCfg):
            out.append(FundingStreak(s.symbol, s.threshold, s.k, s.name))
        elif isinstance(s, c.BasisCfg):
            out.append(BasisRich(s.symbol, s.threshold, s.exit_below, s.interval_hours, s.name))
        elif isinstance(s, c.DatedBasisCfg):
            out.append(DatedBasisRich(s.symbol, s.threshold, s.exit_below, s.name))
        elif isinstance(s, c.SmaCfg):
            out.append(SmaBreak(s.asset, s.period, s.above, s.margin, s.name))
        elif isinstance(s, c.CorrelationCfg):
            out.append(CorrelationAbove(s.a, s.b, s.threshold, s.window, s.min_returns, s.name))
        elif isinstance(s, c.AtrSpikeCfg):
            out.append(AtrSpike(s.asset, s.period, s.lookback, s.expansion, s.median_bars,
                                s.name))
        elif isinstance(s, c.FundingRichCfg):
            out.append(FundingRich(s.symbol, s.threshold, s.k, s.high, s.high_hours,
                                   s.interval_hours, s.exit_after, s.name))
        elif isinstance(s, c.SmaTrendCfg):
            out.append(SmaTrend(s.asset, s.period, s.below, s.exit_after, s.name))
        elif isinstance(s, c.SmaCrossCfg):
            out.append(SmaCross(s.asset, s.fast, s.slow, s.golden, s.name))
        elif isinstance(s, c.SigmaBandCfg):
            out.append(SigmaBand(s.asset, s.period, s.k, s.above, s.exit_k, s.name))
        elif isinstance(s, c.SupportBreachCfg):
            out.append(SupportBreach(s.asset, s.closes, s.lookback, s.level, s.hold, s.name))
        elif isinstance(s, c.OpenInterestCfg):
            out.append(OpenInterestSurge(s.symbol, s.rise, s.flat, s.window, s.name))
    names = [x.name for x in out]
    dup = sorted({n for n in names if names.count(n) > 1})
    if dup:
        raise ConfigError(f"$.triggers.signals: names must be unique, {dup} repeat")
    return out


def build_trigger(cfg: c.EngineConfig, portfolio: Portfolio, strategy: Strategy,
                  stats: MarketStats, clock: Clock, sink=None) -> TriggerActor:
    t = cfg.triggers
    drift = None
    if t.drift is not None:
        drift = DriftBand(*t.drift.bands(), t.drift.mode, t.drift.hysteresis,
                          int(t.drift.cooldown_s * 1e9), t.drift.min_trade_notional)
    schedule = None
    if t.schedule is not None:
        schedule = (Schedule(every=t.schedule.every) if t.schedule.every is not None
                    else Schedule(every_ns=int(t.schedule.every_minutes * 60e9)))
    signals = build_signals(cfg)
    regimes = None
    if t.regimes is not None:
        try:
            regimes = RegimeMatrix(list(t.regimes.regimes), t.regimes.baseline,
                                   {s.name for s in signals},
                                   min_hold_ns=int(t.regimes.min_hold_hours * 3600e9),
                                   assets=set(cfg.universe))
        except ConfigError as exc:
            raise ConfigError(f"$.triggers.regimes: {exc}") from None
    roll_ns = None if t.hold_to_delivery else int(t.roll_days_before * 86400e9)
    pending = MovesPending()
    roll = carry = None
    if roll_ns is not None and any(p.inst.is_dated for p in portfolio.perps.values()):
        roll = RollRule(portfolio, roll_ns, t.roll_into, pending)
    if t.carry is not None:
        unknown = sorted(s for s in t.carry.expected_funding
                         if s not in portfolio.perps or portfolio.perps[s].inst.is_dated)
        if unknown:
            raise ConfigError(f"$.triggers.carry.expected_funding: {unknown} are not declared "
                              "perpetuals")
        carry = CarryChooser(portfolio, stats, horizon_ns=int(t.carry.horizon_days * 86400e9),
                             switch_cost=t.carry.switch_cost_bps / 1e4,
                             interval_hours=t.carry.interval_hours, roll_ns=roll_ns,
                             expected_funding=dict(t.carry.expected_funding), pending=pending)
    return TriggerActor(portfolio, strategy, stats, clock, drift=drift, schedule=schedule,
                        signals=signals, regimes=regimes, sink=sink, roll=roll, carry=carry)


def build(cfg: c.EngineConfig, clock: Clock, sink=None, pooled: bool = False):
    """(portfolio, strategy, stats, trigger) wired from one config."""
    portfolio = build_portfolio(cfg, pooled)
    strategy = build_strategy(cfg.strategy, dict(cfg.universe))
    stats = build_stats(cfg)
    trigger = build_trigger(cfg, portfolio, strategy, stats, clock, sink)
    return portfolio, strategy, stats, trigger
