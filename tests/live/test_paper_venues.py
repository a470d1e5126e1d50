"""Paper mode on Bybit and OKX: the engine on the venue's books through the real ccxt.pro
client (against the local Bybit / OKX exchange replaying the venue's own recording), every
book message checked by the venue's rules, the paper broker bringing net exposure to target
by TWAP on those books."""

from __future__ import annotations

import asyncio
import sys

import msgspec
import pytest

from engine.core.errors import ConfigError
from engine.node.config import load_config, parse_config
from engine.node.runner import Runner
from tests.conftest import ROOT, shared
from tests.helpers import wait_until

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
        await exchange.stop()


async def test_paper_on_okx_hedges_spot_coins_with_the_inverse_perp(tmp_path):
    """The seeds' case on OKX: UNI coins held, OKX's UNI-USD-SWAP shorted by TWAP on OKX's
    recorded book (each message checked by OKX's checksum) until net UNI is 30% of NAV."""
    ex = LocalOkx(shared("cryptofeed", "sample_data", "OKX.ws.1.0"), speed=1.0)
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
    with pytest.raises(ConfigError, match=r"at `\$.instruments`: a Bybit run trades linear"):
        parse_config(base.replace('exchange = "okx"', 'exchange = "bybit"'))
    bad = tmp_path / "bad.toml"
    bad.write_text(base + '\n[markets]\nlisting = "nowhere.json"\n')
    with pytest.raises(ConfigError, match="nowhere.json: cannot read the OKX listing"):
        Runner(load_config(str(bad)), str(bad), bad.read_text(), [], None, mode="paper")


async def test_paper_on_bybit_hedges_spot_coins_with_the_linear_perp(tmp_path):
    """The seeds' case on Bybit: XRP coins held, Bybit's XRPUSDT perp shorted by TWAP on
    Bybit's recorded book (each message's `u`/`seq` checked; best bid/ask from depth 1, apart
    from the book) until net XRP is 30% of NAV."""
    ex = LocalBybit(shared("nautilus_trader", "tests", "test_data", "bybit",
                           "xrpusdt-ob500.data.zip"), speed=0.5)
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
