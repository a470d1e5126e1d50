"""Config files: the shipped ones load; bad ones fail at start naming file, field and expectation."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.core.clock import ReplayClock
from engine.core.errors import ConfigError
from engine.node.build import build
from engine.node.config import load_config, parse_config
from tests.conftest import ROOT

CONFIGS = sorted((ROOT / "configs").glob("*.toml"))

GOOD = """
[account]
cash = { USDT = "100000" }

[[instruments]]
symbol = "BTC/USDT"
[[instruments]]
symbol = "ETH/USDT"
[[instruments]]
symbol = "BTC/USDT:USDT"
leverage = 5

[universe.BTC]
spot = "BTC/USDT"
perp = "BTC/USDT:USDT"
[universe.ETH]
spot = "ETH/USDT"

[strategy]
kind = "fixed_weights"
weights = { BTC = 0.6, ETH = 0.4 }

[triggers.drift]
abs_band = 0.03
"""


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.name)
def test_shipped_configs_load_and_build(path: Path):
    cfg = load_config(str(path))
    portfolio, strategy, stats, trigger = build(cfg, ReplayClock())
    assert portfolio.nav > 0 and strategy.universe


def test_a_good_config_builds_every_part():
    cfg = parse_config(GOOD, "good.toml")
    assert cfg.strategy.weights == {"BTC": 0.6, "ETH": 0.4}
    assert cfg.triggers.drift.abs_band == 0.03


@pytest.mark.parametrize("edit, where, what", [
    (("BTC = 0.6, ETH = 0.4", "BTC = 0.6, ETH = 0.3"), "$.strategy.weights",
     "weights sum to 0.9, declared weights_sum = 1"),
    (('perp = "BTC/USDT:USDT"', 'perp = "BTC/USDC:USDC"'), "$.universe.BTC.perp",
     "unknown symbol 'BTC/USDC:USDC'"),
    (("abs_band = 0.03", "abs_band = -0.03"), "$.triggers.drift.abs_band", "Expected `float` > 0"),
    (("abs_band = 0.03", "abs_band = \"wide\""), "$.triggers.drift.abs_band",
     "Expected `float | null`, got `str`"),
    (("abs_band = 0.03", "abs_band = 0.03\nband = 1"), "$.triggers.drift",
     "unknown field `band`"),
    (('kind = "fixed_weights"', 'kind = "magic"'), "$.strategy", "Invalid value 'magic'"),
    (("weights = { BTC = 0.6, ETH = 0.4 }", "weights = { BTC = 0.6, DOGE = 0.4 }"),
     "$.strategy.weights", "assets not in the universe: ['DOGE']"),
    (('spot = "ETH/USDT"', 'spot = "BTC/USDT"'), "$.universe.ETH.spot",
     "is not an instrument on ETH"),
    (("leverage = 5", "leverage = 500"), "$.instruments[2].leverage", "Expected `float` <= 125"),
    (('cash = { USDT = "100000" }', 'cash = { USDT = "-5" }'), "$.account.cash.USDT",
     "must not be negative"),
    (('cash = { USDT = "100000" }', 'cash = { USDT = "1" }\nspot = { BTC = "1" }'),
     "$.account", "give the wallets (spot, futures) or cash and holdings, not both"),
    (('cash = { USDT = "100000" }', 'futures = { USDT = "1", BTC = "1" }'),
     "$.account.futures.BTC", "coins belong in [account.spot]"),
    (('cash = { USDT = "100000" }', 'spot = { ETH = "-1" }'), "$.account.spot.ETH",
     "must not be negative"),
    (('cash = { USDT = "100000" }', 'spot = { ETH = "1" }\ncoinm = { USDT = "1" }'),
     "$.account.coinm.USDT", "the COIN-M wallet holds coins"),
    (('cash = { USDT = "100000" }', 'spot = { ETH = "1" }\ncoinm = { BTC = "1" }'),
     "$.account.coinm.BTC", "no inverse perp on BTC is declared"),
    (("abs_band = 0.03", 'abs_band = 0.03\n[accounts]\nmax_transfer = "0"'),
     "$.accounts.max_transfer", "must be > 0, got 0"),
    (("abs_band = 0.03", 'abs_band = 0.03\n[accounts]\nmax_transfer = "9"\nasset = "BTC"'),
     "$.accounts.asset", "must be a stablecoin, got 'BTC'"),
    (("[triggers.drift]", '[accounts]\nmax_transfer = "9"\nmargin_target = 0.8\n'
      '[triggers.drift]'), "$.accounts",
     "needs return_below < margin_target < top_up_above, got 0.4 / 0.8 / 0.6"),
    (("[triggers.drift]", '[accounts]\nmax_transfer = "9"\ntop_up_above = 0.9\n'
      '[triggers.drift]'), "$.accounts.top_up_above",
     "must not exceed the risk cap max_margin_utilisation = 0.8"),
])
def test_bad_config_names_file_field_and_expectation(edit, where, what):
    bad = GOOD.replace(*edit)
    assert bad != GOOD
    with pytest.raises(ConfigError) as err:
        parse_config(bad, "configs/bad.toml")
    msg = str(err.value)
    assert msg.startswith("configs/bad.toml: ") and where in msg and what in msg, msg


def test_leg_policy_needs_the_leg_on_every_asset():
    with pytest.raises(ConfigError, match=r"\$\.strategy\.leg.*ETH has no perp"):
        parse_config(GOOD.replace('weights = { BTC = 0.6, ETH = 0.4 }',
                                  'weights = { BTC = 0.6, ETH = 0.4 }\nleg = "perp"'), "x.toml")


def test_missing_file_and_broken_toml_are_config_errors(tmp_path):
    with pytest.raises(ConfigError, match="cannot read config"):
        load_config(str(tmp_path / "none.toml"))
    p = tmp_path / "broken.toml"
    p.write_text("[account\ncash=")
    with pytest.raises(ConfigError, match="broken.toml: not valid TOML"):
        load_config(str(p))
    with pytest.raises(ConfigError, match=r"\$\.strategy"):
        parse_config(GOOD.split("[strategy]")[0], "nostrat.toml")


def test_wallets_by_venue_or_by_cash_and_holdings():
    """`[account.spot]` / `[account.futures]` as on the venue; or `cash` (the futures wallet
    when a perp is declared, its margin) and `holdings` (spot coins)."""
    clock = ReplayClock()
    legacy = build(parse_config(GOOD.replace('cash = { USDT = "100000" }',
                                             'cash = { USDT = "100000" }\nholdings = { BTC = "2" }'),
                                "x.toml"), clock)[0]
    assert legacy.wallet("futures") == {"USDT": 100000} and legacy.wallet("spot") == {}
    assert legacy.holdings == {"BTC": 2}
    wallets = build(parse_config(GOOD.replace(
        'cash = { USDT = "100000" }',
        'spot = { USDT = "500", BTC = "2" }\nfutures = { USDT = "7000" }'), "x.toml"), clock)[0]
    assert wallets.wallet("spot") == {"USDT": 500} and wallets.wallet("futures") == {"USDT": 7000}
    assert wallets.holdings == {"BTC": 2}
    assert wallets.margin_balance == 7000  # spot is no margin (collateral_haircut = 0)
    spot_only = GOOD.replace('perp = "BTC/USDT:USDT"\n', "").replace(
        '[[instruments]]\nsymbol = "BTC/USDT:USDT"\nleverage = 5\n', "")
    p = build(parse_config(spot_only, "x.toml"), clock)[0]
    assert p.wallet("spot") == {"USDT": 100000} and not p.perps


def test_streaming_refuses_cash_that_spot_buys_cannot_reach():
    """With spot and perps, `cash` is the futures wallet: a policy that buys spot could not
    pay for it in replay, paper or live (bar backtests pool the wallets and may)."""
    from engine.node.session import PaperSession

    cfg = parse_config(GOOD, "x.toml")  # fixed_weights on the spot leg, BTC perp declared
    with pytest.raises(ConfigError, match=r"x\.toml: at `\$\.account\.cash`: with spot and perp"):
        PaperSession(cfg, cfg_path="x.toml")
    wallets = parse_config(GOOD.replace('cash = { USDT = "100000" }',
                                        'spot = { USDT = "90000" }\nfutures = { USDT = "10000" }'),
                           "x.toml")
    assert PaperSession(wallets).portfolio.wallet("spot") == {"USDT": 90000}
