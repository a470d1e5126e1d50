"""The status server's own rules, in process: what a snapshot holds where there is no band or
no margin left, a replay's stream ages, requests addressed to another name refused, and a stop
that does not wait for the pages still watching."""

from __future__ import annotations

import asyncio
import time
from decimal import Decimal

import aiohttp
import orjson

from engine.node.config import load_config
from engine.node.runner import Runner
from engine.node.status import SECURITY_HEADERS, StatusServer
from engine.node.status_view import status_payload
from tests.conftest import ROOT

PERPS = str(ROOT / "configs" / "demo_perps.toml")


def _runner(path: str, journal=None) -> Runner:
    from engine.node.runner import resolve_inputs

    cfg = load_config(path)
    inputs = resolve_inputs(cfg, path, None) if cfg.replay.files else []
    return Runner(cfg, path, open(path).read(), inputs, journal)


def test_a_calendar_policy_has_targets_without_a_band(tmp_path):
    text = open(PERPS).read()
    drift = text[text.index("[triggers.drift]"):text.index("[execution]")]
    (tmp_path / "configs").mkdir()
    (tmp_path / "scripts").symlink_to(ROOT / "scripts")  # the config's data, by its own paths
    path = tmp_path / "configs" / "calendar.toml"
    path.write_text(text.replace(drift, '[triggers.schedule]\nevery = "day"\n\n'))
    r = _runner(str(path))
    assert r.session.trigger.drift is None
    st = status_payload(r, 1)  # before any price: nothing known yet, nothing raised
    assert st["rebalances"] == [] and st["streams"] == [] and st["risk_state"] == "ACTIVE"
    assert {u["asset"] for u in st["underlyings"]} == {"BTC", "ETH"}
    assert all(u["band"] is None for u in st["underlyings"])
    orjson.dumps(st)  # all of it travels as JSON


def test_an_account_with_no_margin_left_is_sent_as_exhausted_not_missing():
    r = _runner(PERPS)
    p = r.session.portfolio
    p.on_price("BTC/USDT:USDT", 61800.0)
    p.on_price("ETH/USDT:USDT", 2680.0)
    p.set_cash("USDT", Decimal(0))
    p.on_price("BTC/USDT:USDT", 60000.0)  # a loss on the long: the balance is below zero
    assert p.margin_utilisation == float("inf")
    st = orjson.loads(orjson.dumps(status_payload(r, 1)))
    assert st["margin_exhausted"] is True and st["margin_utilisation"] == 1e9


async def test_replay_stream_ages_requests_by_name_and_a_prompt_stop(tmp_path):
    r = _runner(PERPS, str(tmp_path / "j.sqlite"))
    server = StatusServer(r, port=0, interval_s=0.05)
    await server.start()
    base = f"http://127.0.0.1:{server.port}"
    run = asyncio.create_task(r.run())
    try:
        async with aiohttp.ClientSession() as http:
            async with http.get(f"{base}/status", headers={"Host": "evil.example:80"}) as resp:
                assert resp.status == 421  # a page elsewhere rebinding its name to us
            async with http.get(f"{base}/") as resp:
                assert resp.status == 200 and "text/html" in resp.headers["Content-Type"]
                for k, v in SECURITY_HEADERS.items():
                    assert resp.headers[k] == v
            stream = await http.get(f"{base}/events")  # a page watching, never closed by us
            first = await stream.content.readline()
            assert first.startswith(b"data: ")
            want = {("BTC/USDT:USDT", "book"), ("ETH/USDT:USDT", "book"),
                    ("BTC/USDT:USDT", "ticker"), ("ETH/USDT:USDT", "ticker")}
            deadline = time.monotonic() + 60
            while True:  # a snapshot is at most 50 ms old: ask until one has every stream
                async with http.get(f"{base}/status") as resp:
                    st = await resp.json()
                streams = {(s["symbol"], s["stream"]): s["age_s"] for s in st["streams"]}
                if want <= set(streams):
                    break
                assert time.monotonic() < deadline, f"streams seen: {sorted(streams)}"
            assert all(age >= 0 for age in streams.values())  # in the recording's own clock
            r.request_stop("test")
            await asyncio.wait_for(run, 60)
            # the server stops while the page still watches: its stream ends, nothing waits
            await asyncio.wait_for(server.stop(), 10)
            rest = await asyncio.wait_for(stream.content.read(), 10)  # to its end
            assert rest == b"" or rest.endswith(b"\n\n")  # whole events, then the end
            stream.release()
    finally:
        run.cancel()
        await server.stop()
