"""COIN-M in live mode: the real ccxt binancecoinm client with the API key against the local
exchange playing the recorded COIN-M minute (orders, positions, the wallets in coins and the
user-data stream on /dapi). configs/carry_link.toml moves its LINK hedge from the perpetual into
the December quarterly while the venue's funding is negative, and back once it turns; at the
end the venue's wallets and positions, asked by REST, equal the engine's."""

from __future__ import annotations

import asyncio
from decimal import Decimal

import msgspec

from engine.feeds.live import make_exchange
from engine.node.runner import Runner
from tests.conftest import ROOT, shared
from tests.helpers import wait_until
from tests.live.test_live_spot import ENV, _live_cfg

from local_exchange import LocalExchange, account_from_config  # noqa: E402  (on sys.path)

PERP, QUARTERLY = "LINK/USD:LINK", "LINK/USD:LINK-211231"


async def _venue_coinm(port: int) -> tuple[dict, dict]:
    """(COIN-M wallets, positions) as the venue reports them by REST."""
    from engine.feeds.live import LiveEndpoints
    from engine.venues.binance import user_data as ud

    base = f"http://127.0.0.1:{port}"
    c = make_exchange(LiveEndpoints(ws_inverse=f"ws://127.0.0.1:{port}/coinm/ws",
                                    rest_base=base, account_base=base), "binancecoinm",
                      coinm=True)
    c.apiKey, c.secret = ENV["BINANCE_API_KEY"], ENV["BINANCE_API_SECRET"]
    try:
        wallets = ud.wallet_balances(await c.fetch_balance())
        pos = {p["symbol"]: Decimal(p["info"]["positionAmt"])
               for p in await c.fetch_positions([PERP, QUARTERLY])}
    finally:
        await c.close()
    return wallets, pos


async def test_live_carry_moves_a_coinm_hedge_into_the_quarterly_and_back(tmp_path,
                                                                         monkeypatch):
    capture = shared("cryptofeed", "sample_data", "BINANCE_DELIVERY.ws.1.0")
    path = str(ROOT / "configs" / "carry_link.toml")
    ex = LocalExchange([capture], speed=1, account=account_from_config(path),
                       funding_rates={"coinm:linkusd_perp": "-0.00010000"})
    port = await ex.start()
    cfg = _live_cfg(path, port)
    cfg = msgspec.structs.replace(cfg, execution=msgspec.structs.replace(
        cfg.execution, duration_s=2.0, slices=4))
    for k, v in ENV.items():
        monkeypatch.setenv(k, v)
    r = Runner(cfg, path, open(path).read(), [], str(tmp_path / "j.sqlite"), mode="live")

    def settled_in(sym):
        s = r.session
        other = QUARTERLY if sym == PERP else PERP
        return (s is not None and not s.execution.busy and not s.broker.in_flight
                and s.portfolio.perps[sym].qty == -500 and s.portfolio.perps[other].qty == 0)

    def caught_up():
        s, b = r.session, r.session.broker
        return (not s.execution.busy and not b.in_flight and b.venue_coinm
                and r.venue.coinm_differences() == {})

    async def drive():
        await wait_until(lambda: settled_in(QUARTERLY), "the hedge in the quarterly")
        ex.funding_rates["coinm:linkusd_perp"] = "0.00030000"
        await wait_until(lambda: settled_in(PERP), "the hedge back on the perp")
        n = r.reconciliations
        await wait_until(lambda: caught_up() and r.reconciliations >= n + 2,
                         "the venue's streams and two reconciliations")
        r.request_stop("done")

    driver = asyncio.create_task(drive())
    try:
        report = await asyncio.wait_for(r.run(), 100)
        assert driver.done() and driver.exception() is None, "stopped before the end"
        wallets, pos = await _venue_coinm(port)
    finally:
        driver.cancel()
        await ex.stop()
    s = r.session
    into, back = report["rolls"]
    assert (into["rule"], back["rule"]) == ("carry", "carry")
    assert "funding -0.0100%" in into["reason"] and "funding +0.0300%" in back["reason"]
    for move in (into, back):
        assert {leg["state"] for leg in move["legs"].values()} == {"done"}
    # the venue agrees: positions in contracts, the LINK wallet to the last unit (fees in LINK)
    assert pos[PERP] == -500 and pos.get(QUARTERLY, 0) == 0  # (ccxt leaves out a flat one)
    # (it moved: the perp short opened at 15.2 was bought back near 15.07, a gain in LINK);
    # the venue keeps 8 decimals, the engine all of them: within the coin tolerance
    assert wallets["LINK"] == wallets["LINK"].quantize(Decimal("1e-8")) != Decimal(150)
    assert abs(wallets["LINK"] - s.portfolio.wallets["coinm"]["LINK"]) <= \
        cfg.live.coin_tolerance
    assert report["journal_submissions_unique"] and report["client_order_ids_unique"]
    assert len(ex.orders) <= report["children"]
    assert report["journal_fills"] == report["fills"] >= 4
    assert s.guard.state == "ACTIVE"
    # the COIN-M user-data stream carried fills (its listenKey's own socket)
    assert s.broker.stream_fills > 0
