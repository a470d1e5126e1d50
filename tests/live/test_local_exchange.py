"""The local exchange as a test double: its faults from the command line (what `--help` says
is what it does), a new session after the recording played out gets it again, and signed
requests are checked (see also the signature test in test_live_broker)."""

from __future__ import annotations

import asyncio
import os
import re
import sys

import aiohttp
import pytest

from engine.feeds.live import LiveEndpoints, make_exchange
from tests.conftest import ROOT, USDM_BTC
from tests.helpers import wait_until

sys.path.insert(0, str(ROOT / "scripts"))
from local_exchange import LocalExchange  # noqa: E402


async def _start_cli(*args):
    proc = await asyncio.create_subprocess_exec(
        sys.executable, str(ROOT / "scripts" / "local_exchange.py"), "--port", "0", *args,
        cwd=str(ROOT), stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        env={**os.environ})
    line = (await asyncio.wait_for(proc.stdout.readline(), 60)).decode()
    m = re.search(r"http://127\.0\.0\.1:(\d+) \(WebSocket ws://127\.0\.0\.1:(\d+)/ws\)", line)
    assert m and m.group(1) == m.group(2), line
    port = int(m.group(1))
    # the banner ends with the [live] lines to paste into a config: they name this port
    live = [(await asyncio.wait_for(proc.stdout.readline(), 10)).decode().strip()
            for _ in range(6)]
    assert live == ["[live]", f'ws_linear = "ws://127.0.0.1:{port}/ws"',
                    f'rest_base = "http://127.0.0.1:{port}"',
                    f'account_base = "http://127.0.0.1:{port}"',
                    f'ws_spot = "ws://127.0.0.1:{port}/spot/ws"',
                    f'ws_api_spot = "ws://127.0.0.1:{port}/spot/ws-api/v3"'], live
    return proc, port


async def test_order_faults_given_on_the_command_line_are_what_the_client_meets():
    import ccxt

    proc, port = await _start_cli(str(USDM_BTC), "--fault", "429:2", "--reject",
                                  "BTCUSDT:-2019")
    client = make_exchange(LiveEndpoints(rest_base=f"http://127.0.0.1:{port}"),
                           rate_limit=False)
    client.apiKey, client.secret = "local-test-key", "local-test-secret"
    try:
        seen = []
        for _ in range(3):
            try:
                await client.create_order("BTC/USDT:USDT", "market", "buy", 0.01)
            except ccxt.BaseError as exc:
                seen.append(str(exc))
        assert len(seen) == 3
        assert "-1003" in seen[0] and "-1003" in seen[1]  # the two 429s first
        assert "-2019" in seen[2] and "Margin is insufficient" in seen[2]
    finally:
        await client.close()
        proc.terminate()
        await proc.wait()


async def test_bad_fault_specs_are_refused_in_one_line():
    proc = await asyncio.create_subprocess_exec(
        sys.executable, str(ROOT / "scripts" / "local_exchange.py"), "--stall", "nonsense",
        cwd=str(ROOT), stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode != 0 and b"MARKET@KIND:START:SECONDS" in err
    assert b"Traceback" not in err


async def test_a_session_after_the_recording_ended_gets_it_again():
    ex = LocalExchange([USDM_BTC], speed=400)
    port = await ex.start()

    async def session() -> int:
        got = 0
        async with aiohttp.ClientSession() as http:
            async with http.ws_connect(f"ws://127.0.0.1:{port}/ws") as ws:
                await ws.send_json({"method": "SUBSCRIBE", "params": ["btcusdt@bookTicker"],
                                    "id": 1})
                async for msg in ws:
                    if msg.type != aiohttp.WSMsgType.BINARY and msg.type != \
                            aiohttp.WSMsgType.TEXT:
                        break
                    got += b'"bookTicker"' in (msg.data if isinstance(msg.data, bytes)
                                               else msg.data.encode())
                    if got >= 50:
                        break
        return got

    try:
        assert await session() >= 50
        await wait_until(lambda: ex.position >= len(ex.frames), "the recording to play out",
                         timeout_s=120)
        assert await session() >= 50  # played again for the new session
        assert ex.replays == 1
    finally:
        await ex.stop()


async def test_a_request_with_another_key_is_refused():
    ex = LocalExchange([USDM_BTC], speed=4)
    port = await ex.start()
    client = make_exchange(LiveEndpoints(rest_base=f"http://127.0.0.1:{port}"),
                           rate_limit=False)
    client.apiKey, client.secret = "someone-else", "local-test-secret"
    try:
        with pytest.raises(Exception, match="-2015"):
            await client.fetch_positions(["BTC/USDT:USDT"])
    finally:
        await client.close()
        await ex.stop()
    assert ex.bad_signatures == 1
