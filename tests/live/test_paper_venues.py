"""Paper mode on Bybit and OKX: the engine on the venue's books through the real ccxt.pro
client (against the local Bybit / OKX exchange replaying the venue's own recording), every
book message checked by the venue's rules, the paper broker bringing net exposure to target
by TWAP on those books."""

from __future__ import annotations

import sys

import msgspec
import pytest

from engine.core.errors import ConfigError
from engine.node.config import VenueEndpointsCfg, load_config, parse_config
from engine.node.runner import Runner
from tests.conftest import ROOT, shared
from tests.helpers import run_until_rebalanced

sys.path.insert(0, str(ROOT / "scripts"))
from local_bybit import LocalBybit  # noqa: E402
from local_okx import LocalOkx  # noqa: E402


async def _paper_until_rebalanced(exchange, config: str, ws: str, tmp_path):
    """configs/`config` in paper mode against `exchange` (its public WebSocket base at `ws`),
    stopped once its first rebalance is over: (runner, report)."""
    port = await exchange.start()
    path = str(ROOT / "configs" / config)
    cfg = load_config(path)
    cfg = msgspec.structs.replace(cfg, live=msgspec.structs.replace(
        cfg.live, ws_linear=ws.format(port=port), rest_base=f"http://127.0.0.1:{port}"))
    r = Runner(cfg, path, open(path).read(), [], str(tmp_path / "j.sqlite"), mode="paper")
    try:
        return r, await run_until_rebalanced(r)
    finally:
        await exchange.stop()


async def test_paper_on_okx_hedges_spot_coins_with_the_inverse_perp(tmp_path):
    """The seeds' case on OKX: UNI coins held, OKX's UNI-USD-SWAP shorted by TWAP on OKX's
    recorded book (each message checked by OKX's checksum) until net UNI is 30% of NAV."""
    ex = LocalOkx(shared("cryptofeed", "sample_data", "OKX.ws.1.0"), speed=0.5)
    r, report = await _paper_until_rebalanced(ex, "okx_inverse_hedge.toml",
                                              "ws://127.0.0.1:{port}/ws/v5", tmp_path)
    print(f"\nokx paper: {report['fills']} fills, net {report['net_weights']}, "
          f"{r.feed.book_frames.syncs()['UNI/USD:UNI'].report()}")
    assert report["fills"] > 0 and report["journal_fills"] == report["fills"]
    assert abs(report["net_weights"]["UNI"] - 0.3) < 0.01
    assert report["spot_end"] == report["spot_start"]  # the core is never traded
    checks = r.feed.book_frames.syncs()["UNI/USD:UNI"].report()
    assert checks["checksum_checked"] == checks["checksum_ok"] > 0
    assert all(level for _, level in r.session.broker.fill_log)  # fills walked the live book
    assert r.session.guard.state == "ACTIVE"


def test_a_venue_config_names_what_is_not_wired_in_one_line(tmp_path):
    base = (ROOT / "configs" / "okx_inverse_hedge.toml").read_text()
    with pytest.raises(ConfigError, match=r"at `\$.live.exchange`: .*kraken"):
        parse_config(base.replace('exchange = "okx"', 'exchange = "kraken"'))
    with pytest.raises(ConfigError, match=r"at `\$.instruments`: Bybit trades linear "
                       r"perpetuals only so far, not \['UNI/USD:UNI'\]"):
        parse_config(base.replace('exchange = "okx"', 'exchange = "bybit"'))
    cross = (ROOT / "configs" / "cross_venue.toml").read_text()
    parse_config(cross)
    with pytest.raises(ConfigError, match=r"spot on \['binance', 'okx'\]"):
        parse_config(cross.replace('symbol = "ETH/USDT"', 'symbol = "ETH/USDT"\nvenue = "okx"'))
    with pytest.raises(ConfigError, match=r"at `\$.accounts`: transfers between .* two venues"):
        parse_config(cross + '\n[accounts]\nmax_transfer = "1000"\n')
    bad = tmp_path / "bad.toml"
    bad.write_text(base + "\n[markets]\nlistings = { okx = \"nowhere.json\" }\n")
    with pytest.raises(ConfigError, match="nowhere.json: cannot read the OKX listing"):
        Runner(load_config(str(bad)), str(bad), bad.read_text(), [], None, mode="paper")


async def test_paper_on_bybit_hedges_spot_coins_with_the_linear_perp(tmp_path):
    """The seeds' case on Bybit: XRP coins held, Bybit's XRPUSDT perp shorted by TWAP on
    Bybit's recorded book (each message's `u`/`seq` checked; best bid/ask from depth 1, apart
    from the book) until net XRP is 30% of NAV."""
    ex = LocalBybit(shared("nautilus_trader", "tests", "test_data", "bybit",
                           "xrpusdt-ob500.data.zip"), speed=0.25)
    r, report = await _paper_until_rebalanced(ex, "bybit_hedge.toml",
                                              "ws://127.0.0.1:{port}/v5/public/linear", tmp_path)
    checks = r.feed.book_frames.syncs()["XRP/USDT:USDT"].report()
    print(f"\nbybit paper: {report['fills']} fills, net {report['net_weights']}, {checks}")
    assert report["fills"] > 0 and report["journal_fills"] == report["fills"]
    assert abs(report["net_weights"]["XRP"] - 0.3) < 0.01
    assert report["spot_end"] == report["spot_start"]
    assert checks["sequence_breaks"] == 0 and checks["depth_faults"] == 0
    assert checks["sequence_checked"] > 0
    assert {stream for _, stream in r.feed.age} == {"book", "ticker"}
    assert all(level for _, level in r.session.broker.fill_log)
    assert r.session.guard.state == "ACTIVE"


async def test_paper_cross_venue_binance_spot_core_with_a_bybit_perp_overlay(tmp_path):
    """One engine, two venues: BTC and ETH held on Binance (spot books from the local Binance
    exchange), an XRPUSDT perp bought on Bybit (its book from the local Bybit exchange) until
    net XRP is 20% of the NAV of both; the core untouched, the margin on the Bybit account."""
    from local_exchange import LocalExchange

    from tests.helpers import at_local_exchange

    spot = [ROOT / "scripts/data/hftbacktest/spot/btcusdt_20240808.gz",
            ROOT / "scripts/data/hftbacktest/spot/ethusdt_20240808.gz"]
    binance = LocalExchange(spot, speed=2)
    bybit = LocalBybit(shared("nautilus_trader", "tests", "test_data", "bybit",
                              "xrpusdt-ob500.data.zip"), speed=0.25)
    path = str(ROOT / "configs" / "cross_venue.toml")
    bport = await bybit.start()
    try:
        cfg = at_local_exchange(load_config(path), await binance.start())
        cfg = msgspec.structs.replace(cfg, live=msgspec.structs.replace(cfg.live, venues={
            "bybit": VenueEndpointsCfg(ws_linear=f"ws://127.0.0.1:{bport}/v5/public/linear",
                                       rest_base=f"http://127.0.0.1:{bport}")}))
        r = Runner(cfg, path, open(path).read(), [], str(tmp_path / "j.sqlite"), mode="paper")
        report = await run_until_rebalanced(r)
    finally:
        await bybit.stop()
        await binance.stop()
    print(f"\ncross-venue paper: {report['fills']} fills, net {report['net_weights']}, "
          f"accounts {report['accounts']}")
    assert report["fills"] > 0 and report["journal_fills"] == report["fills"]
    assert abs(report["net_weights"]["XRP"] - 0.2) < 0.01
    assert report["spot_end"] == report["spot_start"] == {"BTC": "0.5", "ETH": "5"}
    assert report["accounts"]["futures"]["margin_utilisation"] <= 0.8
    assert {sym for sym, _ in r.feed.age} == {"BTC/USDT", "ETH/USDT", "XRP/USDT:USDT"}
    assert set(r.feed.feeds) == {"binance", "bybit"}
    checks = r.feed.feeds["bybit"].book_frames.syncs()["XRP/USDT:USDT"].report()
    assert checks["sequence_breaks"] == 0 and checks["sequence_checked"] > 0
    assert all(level for _, level in r.session.broker.fill_log)
    assert r.session.guard.state == "ACTIVE"


CROSS_OKX = """
[account.spot]      # the Binance spot wallet
BTC = "0.5"
ETH = "5"
USDT = "5000"

[account.coinm]     # the OKX account: UNI margins the inverse perp
UNI = "500"

[[instruments]]
symbol = "BTC/USDT"
[[instruments]]
symbol = "ETH/USDT"
[[instruments]]
symbol = "UNI/USD:UNI"
venue = "okx"
leverage = 5
maintenance_rate = 0.01

[universe.UNI]
perp = "UNI/USD:UNI"

[strategy]
kind = "core_satellite"
weights = { UNI = 0.1 }
weights_sum = 0.1
max_gross_leverage = 2.0

[triggers.drift]
abs_band = 0.02
mode = "target"
cooldown_s = 5
min_trade_notional = 20

[execution]
algo = "twap"
duration_s = 3
slices = 3
mode = "marketable"
max_slippage_bps = 40

[risk]
max_margin_utilisation = 0.8
max_gross_leverage = 2.0
price_band_bps = 100
max_price_age_s = 5

[paper]
latency_ms = 5
fees = { maker_bps = "2", taker_bps = "5" }
"""


async def test_paper_cross_venue_binance_spot_core_with_an_okx_inverse_overlay(tmp_path):
    """Binance spot coins beside OKX's UNI-USD-SWAP (priced from its checksummed book, OKX's
    feed having books alone, while Binance's coins are priced from their best bid/ask): the
    overlay buys the perp until net UNI (the margin coin and the perp) is 10% of the NAV."""
    from local_exchange import LocalExchange

    from tests.helpers import at_local_exchange

    spot = [ROOT / "scripts/data/hftbacktest/spot/btcusdt_20240808.gz",
            ROOT / "scripts/data/hftbacktest/spot/ethusdt_20240808.gz"]
    binance = LocalExchange(spot, speed=2)
    okx = LocalOkx(shared("cryptofeed", "sample_data", "OKX.ws.1.0"), speed=0.5)
    path = tmp_path / "cross_okx.toml"
    path.write_text(CROSS_OKX)
    oport = await okx.start()
    try:
        cfg = at_local_exchange(load_config(str(path)), await binance.start())
        cfg = msgspec.structs.replace(cfg, live=msgspec.structs.replace(cfg.live, venues={
            "okx": VenueEndpointsCfg(ws_linear=f"ws://127.0.0.1:{oport}/ws/v5",
                                     rest_base=f"http://127.0.0.1:{oport}")}))
        r = Runner(cfg, str(path), CROSS_OKX, [], str(tmp_path / "j.sqlite"), mode="paper")
        report = await run_until_rebalanced(r)
    finally:
        await okx.stop()
        await binance.stop()
    print(f"\ncross-venue (okx) paper: {report['fills']} fills, net {report['net_weights']}")
    assert report["fills"] > 0 and report["journal_fills"] == report["fills"]
    assert abs(report["net_weights"]["UNI"] - 0.1) < 0.01
    assert report["spot_end"] == report["spot_start"] == {"BTC": "0.5", "ETH": "5"}
    assert set(r.feed.feeds) == {"binance", "okx"}
    checks = r.feed.feeds["okx"].book_frames.syncs()["UNI/USD:UNI"].report()
    assert checks["checksum_checked"] == checks["checksum_ok"] > 0
    assert all(level for _, level in r.session.broker.fill_log)
    assert r.session.guard.state == "ACTIVE"
