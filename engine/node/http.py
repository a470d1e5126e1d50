"""Serve an aiohttp app on localhost, port 0 meaning any free one."""

from __future__ import annotations

from aiohttp import web


async def serve(app: web.Application, host: str = "127.0.0.1", port: int = 0
                ) -> tuple[web.AppRunner, int]:
    """Start `app`; returns its runner (call `cleanup()` to stop) and the bound port."""
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    await site.start()
    return runner, runner.addresses[0][1]
