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
    (('cash = { USDT = "100000" }', 'cash = { USDT = "-5" }'), "$.account",
     "must not be negative"),
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
