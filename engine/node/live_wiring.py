"""The venue clients of paper and live runs, built from the config. Paper: a market-data client.
Live: the client and the broker, the key and secret from the environment (never from a file),
the venue's request budget from its recorded limits (or `[live].rate_limits`), ccxt's own
limiter off because the broker's throttle does that job."""

from __future__ import annotations

import os

from engine.core.errors import ConfigError
from engine.node.config import EngineConfig, instrument_venues


def endpoints(cfg: EngineConfig, venue: str | None = None):
    """Where `venue` is (default [live].exchange): `[live]`'s URLs for [live].exchange, those
    of `[live.venues.<venue>]` for another venue of a cross-venue run."""
    from engine.feeds.live import LiveEndpoints

    live = cfg.live
    if venue is not None and venue != live.exchange:
        v = live.venues.get(venue)
        if v is None:
            return LiveEndpoints()
        return LiveEndpoints(ws_linear=v.ws_linear, ws_spot=v.ws_spot, ws_inverse=v.ws_inverse,
                             rest_base=v.rest_base, account_base=v.account_base,
                             ws_private=v.ws_private)
    return LiveEndpoints(ws_linear=live.ws_linear, rest_base=live.rest_base,
                         account_base=live.account_base, ws_spot=live.ws_spot,
                         ws_api_spot=live.ws_api_spot, ws_inverse=live.ws_inverse,
                         ws_private=live.ws_private)


def market_data_exchange(cfg: EngineConfig, venue: str | None = None):
    """Paper mode: a client for `venue`'s public market data only (no key); Binance's serves
    its USD-M perps."""
    from engine.feeds.live import make_exchange

    venue = venue or cfg.live.exchange
    return make_exchange(endpoints(cfg, venue), venue)


def spot_market_data_exchange(cfg: EngineConfig):
    """A client for the spot market's public data, where the config trades spot (else None;
    Bybit and OKX: None, their one client serves every market kind)."""
    from engine.feeds.live import make_exchange

    venues = instrument_venues(cfg)
    if not any(":" not in s and v == "binance" for s, v in venues.items()):
        return None
    return make_exchange(endpoints(cfg, "binance"), "binance", spot=True)


def coinm_market_data_exchange(cfg: EngineConfig):
    """A client for the COIN-M market's public data, where the config holds an inverse
    contract (else None)."""
    from engine.execution.markets import market_kind
    from engine.feeds.live import make_exchange

    if not any(market_kind(s) == "coinm" and v == "binance"
               for s, v in instrument_venues(cfg).items()):
        return None
    return make_exchange(endpoints(cfg, "binance"), "binancecoinm", coinm=True)


def open_interest_polls(cfg: EngineConfig) -> dict[str, float]:
    """Perp -> seconds between open-interest polls, for the rules that read it."""
    from engine.node.config import OpenInterestCfg

    out: dict[str, float] = {}
    for s in cfg.triggers.signals:
        if isinstance(s, OpenInterestCfg):
            out[s.symbol] = min(out.get(s.symbol, s.poll_s), s.poll_s)
    return out


def live_venue(cfg: EngineConfig, cfg_path: str) -> str:
    """The one venue of a live run ([live].exchange, where every instrument trades), or a
    `ConfigError` saying why the config cannot run live."""
    live = cfg.live
    venues = set(instrument_venues(cfg).values())
    if len(venues) > 1:
        raise ConfigError(f"{cfg_path}: at `$.instruments`: a live run on {sorted(venues)} is "
                          "not wired yet (one venue per live run; paper mode runs across them)")
    if venues != {live.exchange}:
        raise ConfigError(f"{cfg_path}: at `$.live.exchange`: {live.exchange}, but the "
                          f"instruments trade on {sorted(venues)}: a live run's venue is "
                          "[live].exchange")
    return live.exchange


def live_exchange_and_broker(cfg: EngineConfig, cfg_path: str):
    from engine.brokers.live import LiveBroker
    from engine.brokers.throttle import PriorityThrottle
    from engine.core.clock import LiveClock
    from engine.core.ratelimit import RateBudget, RateWindow
    from engine.execution.markets import BUNDLED_USDM, load_markets_offline
    from engine.feeds.live import make_exchange
    from engine.venues.binance.rate_limits import load_windows

    from engine.execution.markets import market_kind

    live = cfg.live
    venues = {live_venue(cfg, cfg_path)}
    key, secret = os.environ.get(live.api_key_env), os.environ.get(live.api_secret_env)
    if not key or not secret:
        raise ConfigError(f"{cfg_path}: live mode needs the API key and secret in the "
                          f"environment variables {live.api_key_env} and {live.api_secret_env}")
    if venues in ({"bybit"}, {"okx"}):
        return _venue_exchange_and_broker(cfg, cfg_path, venues.pop(), key, secret)
    exchange = make_exchange(endpoints(cfg), live.exchange, rate_limit=False)
    exchange.apiKey, exchange.secret = key, secret
    # spot orders, the spot wallet and transfers go through a spot client with the same key
    spot = None
    if any(":" not in i.symbol for i in cfg.instruments) or cfg.accounts.enabled:
        spot = make_exchange(endpoints(cfg), live.exchange, rate_limit=False, spot=True)
        spot.apiKey, spot.secret = key, secret
    info = cfg.markets.exchange_info or BUNDLED_USDM
    markets = load_markets_offline(info, cfg.markets.exchange)
    windows = [RateWindow(counts=w.counts, limit=w.limit, window_ns=int(w.window_s * 1e9))
               for w in live.rate_limits] or load_windows(info)
    clock = LiveClock()
    spot_throttle = None
    if spot is not None:
        from engine.execution.markets import BUNDLED_SPOT

        spot_windows = load_windows(cfg.markets.spot_exchange_info or BUNDLED_SPOT)
        spot_throttle = PriorityThrottle(RateBudget(spot_windows), clock)
        markets.update(load_markets_offline(cfg.markets.spot_exchange_info or BUNDLED_SPOT,
                                            "binance"))
    # COIN-M contracts through a binancecoinm client with the same key, COIN-M's budget
    coinm = coinm_throttle = None
    if any(market_kind(i.symbol) == "coinm" for i in cfg.instruments):
        from engine.execution.markets import BUNDLED_COINM

        coinm = make_exchange(endpoints(cfg), "binancecoinm", rate_limit=False, coinm=True)
        coinm.apiKey, coinm.secret = key, secret
        coinm_info = cfg.markets.coinm_exchange_info or BUNDLED_COINM
        coinm_throttle = PriorityThrottle(RateBudget(load_windows(coinm_info)), clock)
        markets.update(load_markets_offline(coinm_info, "binancecoinm"))
    broker = LiveBroker(exchange, markets, clock,
                        throttle=PriorityThrottle(RateBudget(windows), clock),
                        spot_exchange=spot, spot_throttle=spot_throttle,
                        coinm_exchange=coinm, coinm_throttle=coinm_throttle)
    return exchange, broker


def _venue_exchange_and_broker(cfg: EngineConfig, cfg_path: str, venue: str, key: str,
                               secret: str):
    """Live on Bybit or OKX: one ccxt.pro client (market data, orders, the private stream)
    with the key, the venue's listing as market rules, its request budget, its order module."""
    from engine.brokers.live import LiveBroker
    from engine.brokers.throttle import PriorityThrottle
    from engine.core.clock import LiveClock
    from engine.core.ratelimit import RateBudget, RateWindow
    from engine.feeds.live import make_exchange
    from engine.node.session import venue_markets

    from engine.venues import orders_of

    orders = orders_of(venue)
    live = cfg.live
    exchange = make_exchange(endpoints(cfg), venue, rate_limit=False)
    exchange.apiKey, exchange.secret = key, secret
    if venue == "okx":  # OKX signs with a passphrase too
        env = live.api_passphrase_env
        passphrase = os.environ.get(env) if env else None
        if not passphrase:
            raise ConfigError(f"{cfg_path}: at `$.live.api_passphrase_env`: an OKX key needs "
                              "its passphrase in the environment variable this names")
        exchange.password = passphrase
    markets = venue_markets(cfg, cfg_path, [i.symbol for i in cfg.instruments])
    windows = [RateWindow(counts=w.counts, limit=w.limit, window_ns=int(w.window_s * 1e9))
               for w in live.rate_limits] or orders.WINDOWS
    clock = LiveClock()
    broker = LiveBroker(exchange, markets, clock,
                        throttle=PriorityThrottle(RateBudget(windows), clock),
                        venue_orders=orders)
    return exchange, broker
