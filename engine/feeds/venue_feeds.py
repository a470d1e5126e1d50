"""Several venues' live feeds as one, for a cross-venue run (spot on one venue, contracts on
another): one event queue, one table of stream ages (what the status page and the guard's
stale rules read), each symbol's client from the feed of its venue."""

from __future__ import annotations

import asyncio

from engine.feeds.live import LiveFeed


class VenueFeeds:
    def __init__(self, feeds: dict[str, LiveFeed]) -> None:
        self.feeds = feeds
        self.age: dict[tuple[str, str], int] = {}
        self._by_symbol: dict[str, LiveFeed] = {}
        for feed in feeds.values():
            feed.age = self.age  # one table (set before `run` installs any frame tap)
            for sym in feed.symbols:
                self._by_symbol[sym] = feed
        self.symbols = sorted(self._by_symbol)

    @property
    def invalid(self) -> int:
        return sum(f.invalid for f in self.feeds.values())

    @property
    def reconnects(self) -> int:
        return sum(f.reconnects for f in self.feeds.values())

    @property
    def taps(self) -> dict:
        return {f"{venue}:{kind}": tap for venue, f in self.feeds.items()
                for kind, tap in f.taps.items()}

    def _client(self, symbol: str):
        return self._by_symbol[symbol]._client(symbol)

    def exchange_id(self, symbol: str) -> str:
        return self._by_symbol[symbol].exchange_id(symbol)

    async def run(self) -> None:
        """Every venue's feed; the first to fail fails this (the others are cancelled)."""
        tasks = [asyncio.create_task(f.run(), name=f"feed:{venue}")
                 for venue, f in self.feeds.items()]
        try:
            await asyncio.gather(*tasks)
        finally:
            for t in tasks:
                t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

    async def stop(self) -> None:
        for f in self.feeds.values():
            await f.stop()
