"""Paper-live mode: the engine on live feeds (ccxt.pro against the local exchange) with the
paper broker brings the 75/25 demo portfolio back to 60/40 by TWAP."""

from __future__ import annotations

import asyncio
import sys

import orjson

import pytest

from engine.node.config import load_config
from engine.node.runner import Runner
from tests.conftest import ROOT, USDM_BTC, USDM_ETH
from tests.helpers import at_local_exchange, wait_until

sys.path.insert(0, str(ROOT / "scripts"))
from local_exchange import LocalExchange  # noqa: E402

CONFIG = str(ROOT / "configs" / "demo_perps.toml")


async def _until_rebalanced(cfg, path: str, tmp_path) -> tuple[Runner, dict]:
    """A paper run of `cfg`, stopped once its first rebalance is over."""
    r = Runner(cfg, path, open(path).read(), [], str(tmp_path / "j.sqlite"), mode="paper")

    async def stop_when_done():
        s = r.session
        await wait_until(lambda: s.pipeline.intents and not s.execution.busy,
                         "the rebalance to finish")
        r.request_stop("done")

    stopper = asyncio.create_task(stop_when_done())
    try:
        return r, await asyncio.wait_for(r.run(), 90)
    finally:
        stopper.cancel()


async def _rebalanced_on(captures, config: str, tmp_path, speed: float = 4, **execution):
    """configs/`config` in paper mode against the local exchange playing `captures`, until
    its first rebalance is over: (runner, report)."""
    ex = LocalExchange(captures, speed=speed)
    port = await ex.start()
    path = str(ROOT / "configs" / config)
    cfg = at_local_exchange(load_config(path), port, **execution)
    try:
        return await _until_rebalanced(cfg, path, tmp_path)
    finally:
        await ex.stop()


async def test_paper_live_rebalances_on_the_live_books(tmp_path):
    ex = LocalExchange([USDM_BTC, USDM_ETH], speed=4)
    port = await ex.start()
    # Live time is wall time: a 3 s TWAP in 6 slices while the exchange plays at x4.
    cfg = at_local_exchange(load_config(CONFIG), port, duration_s=3.0, slices=6, retry_s=0.2)
    try:
        r, report = await _until_rebalanced(cfg, CONFIG, tmp_path)
    finally:
        await ex.stop()
    assert report["intents"] >= 1 and report["fills"] > 0
    assert abs(report["final_weights"]["BTC"] - 0.6) < 0.01
    assert report["journal_fills"] == report["fills"]
    assert r.feed is not None and r.feed.invalid == 0
    # every taker fill was at a price level of the live book at that moment
    assert all(level for _, level in r.session.broker.fill_log)
    assert r.session.guard.state == "ACTIVE"


async def test_a_run_ended_by_duration_is_stopped_with_its_unfinished_parents(tmp_path):
    ex = LocalExchange([USDM_BTC, USDM_ETH], speed=4)
    port = await ex.start()
    # a TWAP far longer than the run
    cfg = at_local_exchange(load_config(CONFIG), port, duration_s=600.0, slices=60)
    r = Runner(cfg, CONFIG, open(CONFIG).read(), [], str(tmp_path / "j.sqlite"), mode="paper",
               duration_s=12.0)
    try:
        report = await asyncio.wait_for(r.run(), 60)
    finally:
        await ex.stop()
    assert report["stopped"] == "duration" and not r.state.finished
    assert report["intents"] >= 1  # (12 s is ample for the first decision here)
    unfinished = {p["symbol"]: p for p in report["unfinished_parents"]}
    assert set(unfinished) == {"BTC/USDT:USDT", "ETH/USDT:USDT"}
    for p in unfinished.values():
        assert p["state"] == "aborted" and "shutdown: duration" in p["reason"]
    import sqlite3

    con = sqlite3.connect(tmp_path / "j.sqlite")
    assert con.execute("SELECT status FROM runs").fetchone() == ("stopped",)


async def test_paper_spot_and_perps_on_live_books_move_margin_then_hedge(tmp_path):
    """The seeds' case in paper mode: spot and USD-M books through two real ccxt.pro clients
    (binance spot, binanceusdm) against the local exchange playing both captures; the futures
    wallet topped up from the spot wallet first, the spot core untouched, net 60/40."""
    spot = [ROOT / "scripts/data/hftbacktest/spot/btcusdt_20240808.gz",
            ROOT / "scripts/data/hftbacktest/spot/ethusdt_20240808.gz"]
    r, report = await _rebalanced_on([USDM_BTC, USDM_ETH, *spot], "demo.toml", tmp_path,
                                     duration_s=3.0, slices=6, retry_s=0.2)
    assert report["spot_end"] == report["spot_start"] == {"BTC": "1.214", "ETH": "9.33"}
    assert abs(report["net_weights"]["BTC"] - 0.6) < 0.01
    assert report["transfers"] == report["journal_transfers"] == 1
    assert report["accounts"]["futures"]["margin_utilisation"] <= 0.8
    assert {sym for sym, _ in r.feed.age} == {"BTC/USDT", "ETH/USDT", "BTC/USDT:USDT",
                                               "ETH/USDT:USDT"}
    assert r.feed.invalid == 0 and all(level for _, level in r.session.broker.fill_log)


async def test_paper_inverse_perps_hedge_spot_coins_on_live_coinm_books(tmp_path):
    """COIN-M in paper mode: the local exchange plays the recorded COIN-M minute (cryptofeed's
    recording: ten books, perps and quarterlies) on /dapi and its streams; a real ccxt.pro
    binancecoinm client feeds the engine, the paper broker shorts LINKUSD_PERP and BCHUSD_PERP
    against the spot coins, margin and fees in each coin's COIN-M wallet."""
    from tests.conftest import shared

    capture = shared("cryptofeed", "sample_data", "BINANCE_DELIVERY.ws.1.0")
    r, report = await _rebalanced_on([capture], "inverse_hedge.toml", tmp_path, speed=2,
                                     duration_s=2.0, slices=4, retry_s=0.2)
    assert report["spot_end"] == report["spot_start"] == {"LINK": "1000", "BCH": "40"}
    for asset in ("LINK", "BCH"):
        assert abs(report["net_weights"][asset] - 0.3) < 0.01
    coinm = report["accounts"]["coinm"]
    assert set(coinm) == {"LINK", "BCH"} and all(0 < a["margin_utilisation"] < 0.8
                                                 for a in coinm.values())
    assert all(report["positions"][f"{c}/USD:{c}"].startswith("-") for c in ("LINK", "BCH"))
    assert report["journal_fills"] == report["fills"] > 0
    assert {sym for sym, _ in r.feed.age} == {"LINK/USD:LINK", "BCH/USD:BCH"}
    assert r.feed.exchange_id("LINK/USD:LINK") == "binancecoinm"
    assert r.feed.invalid == 0 and all(level for _, level in r.session.broker.fill_log)


async def _warmed_from_the_venue(journal: str):
    """configs/sma_stream.toml in paper mode without history files, on the recorded spot
    BTC minutes, until BTC's bars are warm: (local exchange, report, session)."""
    import msgspec

    ex = LocalExchange([ROOT / "scripts/data/hftbacktest/spot/btcusdt_20240808.gz"], speed=4)
    port = await ex.start()
    path = str(ROOT / "configs" / "sma_stream.toml")
    cfg = load_config(path)
    cfg = at_local_exchange(msgspec.structs.replace(
        cfg, bars=msgspec.structs.replace(cfg.bars, history=[])), port)
    r = Runner(cfg, path, open(path).read(), [], journal, mode="paper")
    s = r.session

    async def stop_when_warm():
        await wait_until(lambda: "BTC/USDT" in s.bars_warmed, "the warm-up from the venue")
        r.request_stop("done")

    stopper = asyncio.create_task(stop_when_warm())
    try:
        report = await asyncio.wait_for(r.run(), 60)
    finally:
        stopper.cancel()
        await ex.stop()
    return ex, report, s


async def test_paper_bars_warm_up_from_the_venues_klines(tmp_path):
    """`[bars]` without history files in paper mode: before the first trade the engine asks
    the venue (ccxt fetch_ohlcv against the local exchange, which serves the bundled daily
    klines up to the recording's time) for the bars before it: BTC's SMA(10) is ready on the
    first trade and equals the one of the venue's last ten daily closes."""
    import numpy as np

    from engine.feeds.bars import read_bars

    ex, report, s = await _warmed_from_the_venue(str(tmp_path / "j.sqlite"))
    bars = report["bars"]["BTC"]
    assert (bars["history_bars"], bars["seeded"]) == (60, False)  # closed days only
    assert ex.kline_requests == 1
    daily = [b for b in read_bars(str(ROOT / "scripts/data/oraculo-de-bitcoin/BTC_USDT-1d.feather"))
             if b.ts_event <= 1723075200_000_000_000]  # closed by 2024-08-08 00:00
    assert s.pipeline.stats.sma("BTC", 10) == pytest.approx(
        np.mean([b.close for b in daily[-10:]]), rel=1e-12)
    assert s.pipeline.stats.last_close("BTC") == daily[-1].close


async def test_a_restart_takes_its_bars_from_the_journal(tmp_path):
    """The same paper run started again on its journal: the warm history it journaled the
    first time is read back, and the venue is asked only for what comes after it."""
    journal = str(tmp_path / "j.sqlite")
    asked = []
    for _ in (1, 2):
        ex, report, s = await _warmed_from_the_venue(journal)
        asked.append(ex.kline_starts)
        assert report["bars"]["BTC"]["history_bars"] == 60
        assert s.pipeline.stats.sma("BTC", 10) is not None
    day = 86_400_000
    # the first run asked for the 60 days before 2024-08-08; the second only from the day
    # after the last one it journaled (2024-08-07 closed): none of the 60 again
    assert asked[0] == [1723075200_000 - 60 * day] and asked[1] == [1723075200_000]


async def test_paper_open_interest_polled_from_the_venue_fires_its_rule(tmp_path):
    """Open interest has no stream and was never recorded: the engine polls ccxt's
    fetch_open_interest; the local exchange answers a written series, up 20% within four
    polls while the recorded BTC price stays flat. The rule enters on the poll that completes
    it (a poll answered before the first price is not kept: the rule weighs both)."""
    import msgspec

    from engine.node.config import OpenInterestCfg, TriggersCfg

    series = ["10000"] * 4 + ["12000"]
    ex = LocalExchange([USDM_BTC, USDM_ETH], speed=4, open_interest={"btcusdt": series})
    port = await ex.start()
    cfg = load_config(CONFIG)
    rule = OpenInterestCfg(symbol="BTC/USDT:USDT", rise=0.15, flat=0.01, window=4,
                           poll_s=0.3, name="btc_oi_surge")
    cfg = at_local_exchange(msgspec.structs.replace(
        cfg, triggers=TriggersCfg(signals=[rule])), port)
    r = Runner(cfg, CONFIG, open(CONFIG).read(), [], str(tmp_path / "j.sqlite"), mode="paper")
    s = r.session

    async def stop_on_entry():
        await wait_until(lambda: s.trigger.signal_log, "the open-interest rule to enter")
        r.request_stop("done")

    stopper = asyncio.create_task(stop_on_entry())
    try:
        report = await asyncio.wait_for(r.run(), 60)
    finally:
        stopper.cancel()
        await ex.stop()
    samples = [v for _, v, _ in s.pipeline.stats.open_interest["BTC/USDT:USDT"]]
    assert samples[0] == 10000.0 and samples[-1] == 12000.0 and len(samples) >= 5
    entry = report["signal_log"][0]
    assert (entry["rule"], entry["edge"]) == ("btc_oi_surge", "entry")
    assert entry["value"] == pytest.approx(0.2)
    assert report["intents"] >= 1  # the rule's entry is a rebalance decision


async def test_paper_roll_of_a_coinm_quarterly_into_its_perp(tmp_path):
    """configs/roll_link.toml in paper mode: the local exchange plays the recorded COIN-M
    minute on /dapi; the engine, fed by a real ccxt.pro binancecoinm client, buys the
    LINKUSD_211231 short back and sells LINKUSD_PERP, the two legs paced together."""
    from tests.conftest import shared

    capture = shared("cryptofeed", "sample_data", "BINANCE_DELIVERY.ws.1.0")
    r, report = await _rebalanced_on([capture], "roll_link.toml", tmp_path, speed=2,
                                     duration_s=2.0, slices=4, retry_s=0.2)
    assert report["positions"] == {"LINK/USD:LINK": "-500.0", "LINK/USD:LINK-211231": "0.0"}
    (roll,) = report["rolls"]
    assert {leg["state"] for leg in roll["legs"].values()} == {"done"}
    assert 0 < report["max_transient_deviation"] <= report["max_transient_limit"]
    assert r.feed.exchange_id("LINK/USD:LINK-211231") == "binancecoinm"


async def test_paper_carry_moves_a_coinm_hedge_into_the_quarterly_and_back(tmp_path):
    """configs/carry_link.toml in paper mode: the local exchange plays the recorded COIN-M
    minute and makes LINKUSD_PERP's mark price stream, its funding rate −0.01% per 8 h; the
    engine (a real ccxt.pro binancecoinm client) moves the short hedge into LINKUSD_211231.
    Once it is there the venue's rate turns to +0.03% and the hedge moves back."""
    from tests.conftest import shared

    capture = shared("cryptofeed", "sample_data", "BINANCE_DELIVERY.ws.1.0")
    perp, quarterly = "LINK/USD:LINK", "LINK/USD:LINK-211231"
    ex = LocalExchange([capture], speed=1, funding_rates={"coinm:linkusd_perp": "-0.00010000"})
    port = await ex.start()
    path = str(ROOT / "configs" / "carry_link.toml")
    cfg = at_local_exchange(load_config(path), port, duration_s=2.0, slices=4, retry_s=0.2)
    r = Runner(cfg, path, open(path).read(), [], str(tmp_path / "j.sqlite"), mode="paper")

    def settled_in(sym):
        s = r.session
        return (s is not None and not s.execution.busy
                and s.portfolio.perps[sym].qty == -500 and s.portfolio.perps[
                    quarterly if sym == perp else perp].qty == 0)

    async def drive():
        await wait_until(lambda: settled_in(quarterly), "the hedge in the quarterly")
        ex.funding_rates["coinm:linkusd_perp"] = "0.00030000"
        await wait_until(lambda: settled_in(perp), "the hedge back on the perp")
        r.request_stop("done")

    driver = asyncio.create_task(drive())
    try:
        report = await asyncio.wait_for(r.run(), 90)
    finally:
        driver.cancel()
        await ex.stop()
    assert driver.done() and not driver.cancelled() and driver.exception() is None
    into, back = report["rolls"]
    assert "funding -0.0100%" in into["reason"] and "funding +0.0300%" in back["reason"]
    for move in (into, back):
        assert move["rule"] == "carry"
        assert {leg["state"] for leg in move["legs"].values()} == {"done"}
    assert report["positions"] == {perp: "-500.0", quarterly: "0.0"}
    assert 0 < report["max_transient_deviation"] <= report["max_transient_limit"]


async def test_the_status_page_data_on_a_paper_run(tmp_path):
    """/status of a paper run on live feeds: stream ages from the live feed's own table, the
    working rebalance with its progress, the fills as they come."""
    import aiohttp

    from engine.node.status import StatusServer

    ex = LocalExchange([USDM_BTC, USDM_ETH], speed=4)
    port = await ex.start()
    # a TWAP long enough to be seen working (the watcher stops the run once it has been)
    cfg = at_local_exchange(load_config(CONFIG), port, duration_s=20.0, slices=20, retry_s=0.2)
    r = Runner(cfg, CONFIG, open(CONFIG).read(), [], str(tmp_path / "j.sqlite"), mode="paper")
    server = StatusServer(r, port=0, interval_s=0.1)
    await server.start()
    seen: list[dict] = []

    async def watch():
        """Read the page's own stream: each snapshot as the server pushes it."""
        async with aiohttp.ClientSession() as http:
            async with http.get(f"http://127.0.0.1:{server.port}/events") as resp:
                async for raw in resp.content:
                    if not raw.startswith(b"data: "):
                        continue
                    st = orjson.loads(raw[6:])
                    seen.append(st)
                    assert not st["finished"], "the run ended before its rebalance was seen"
                    if st["rebalances"] and st["recent_fills"]:
                        r.request_stop("seen")
                        return

    watcher = asyncio.create_task(watch())
    try:
        await asyncio.wait_for(r.run(), 90)
        await asyncio.wait_for(watcher, 10)
    finally:
        watcher.cancel()
        await server.stop()
        await ex.stop()
    st = seen[-1]
    assert st["mode"] == "paper" and not st["steering"]
    streams = {(x["symbol"], x["stream"]) for x in st["streams"]}
    assert {("BTC/USDT:USDT", "book"), ("ETH/USDT:USDT", "book")} <= streams
    assert all(0 <= x["age_s"] < 30 for x in st["streams"]), st["streams"]
    working = st["rebalances"][0]
    assert 0 < working["fill_ratio"] < 1 and working["state"] == "running"
    fill = st["recent_fills"][-1]
    assert fill["symbol"] in ("BTC/USDT:USDT", "ETH/USDT:USDT") and float(fill["qty"]) > 0
    legs = {leg["symbol"]: leg for u in st["underlyings"] for leg in u["legs"]}
    assert legs["BTC/USDT:USDT"]["leg"] == "perp" and legs["BTC/USDT:USDT"]["account"] == "futures"
    assert sum(leg["exposure"] for leg in legs.values()) == pytest.approx(
        sum(u["exposure"] for u in st["underlyings"]), abs=0.05)
