"""The frames a ccxt.pro client receives, read through the engine's own decoders.

ccxt.pro parses each frame to a dict, updates its caches, resolves a future and wakes the task
awaiting it: about 70 µs a bookTicker frame here, and a frame waits behind every one before it
(scripts/bench/live_latency.py). Its `watch_*` calls also hand over only the latest ticker
when several arrived in between. For the stream kinds it is given, a `FrameTap` takes the raw
frame from the client before ccxt parses it, decodes it with the venue's decoder (the same
code as replay, with its validation), and emits the model event at once; ccxt never sees
those frames. Everything else (subscription replies, the depth diffs ccxt keeps its book from,
mark prices, user data) reaches ccxt as before. Subscribing, reconnecting and resubscribing
stay ccxt's: the feed still calls `watch_*` once per stream, and a closed connection still
fails that call.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from typing import Callable

from engine.core.clock import Clock
from engine.core.errors import DecodeError
from engine.model.events import MarketEvent

log = logging.getLogger("engine.feeds.frame_tap")

# venue frame -> (frame to decode, stream kind), or None for a frame left to ccxt
Classifier = Callable[[bytes], "tuple[bytes, bytes] | None"]
Decode = Callable[[bytes, int], "MarketEvent | list[MarketEvent] | None"]


class FrameTap:
    """Decodes one ccxt.pro exchange's frames of the kinds in `streams` (kind -> the feed's
    stream name, for the ages the risk guard reads) for `symbols`, emitting model events."""

    def __init__(self, classify: Classifier, decode: Decode, streams: dict[bytes, str],
                 symbols: set[str], emit: Callable[[MarketEvent], None], clock: Clock,
                 age: dict[tuple[str, str], int]) -> None:
        self.classify, self.decode, self.streams = classify, decode, streams
        self.symbols, self.emit, self.clock, self.age = symbols, emit, clock, age
        # an unexpected exception while reading a frame: raised by `watch()`, so the feed's
        # task fails and its supervisor halts the run (it must not vanish into ccxt's loop)
        self.failure: BaseException | None = None
        self._failed: asyncio.Future | None = None
        self.frames = 0  # frames decoded here (ccxt never saw them)
        self.invalid = 0  # frames of a tapped kind that failed to decode: dropped, counted
        self.foreign = 0  # well-formed frames for a symbol this feed does not trade: to ccxt
        self._tapped: list[tuple[object, Callable]] = []  # (client, its own handler)
        self._exchange = None  # the exchange tapped, and its own `client` wrapper if it had one
        self._prior_client = None

    def install(self, exchange) -> None:
        """Tap every WebSocket client `exchange` makes from now on (ccxt.pro makes one per
        URL, lazily, on the first `watch_*`; the ones it made already are tapped when next
        asked for). `uninstall` puts everything back."""
        if getattr(exchange, "_frame_tap", None) is self:
            return
        make_client = exchange.client
        tapped = self._tapped = []
        self._exchange = exchange
        self._prior_client = exchange.__dict__.get("client")  # another wrapper, if any

        def client(url):
            c = make_client(url)
            if getattr(c, "_frame_tap", None) is not self:
                original = c.handle_text_or_binary_message
                c.handle_text_or_binary_message = functools.partial(self._guarded, original)
                c._frame_tap = self
                tapped.append((c, original))
            return c

        exchange.client = client
        exchange._frame_tap = self

    def uninstall(self) -> None:
        """The exchange and its clients as they were (a stopped feed decodes nothing more)."""
        exchange = self._exchange
        if exchange is None:
            return
        for c, original in self._tapped:
            c.handle_text_or_binary_message = original
            c._frame_tap = None
        self._tapped = []
        if self._prior_client is None:
            exchange.__dict__.pop("client", None)  # back to the class's method
        else:
            exchange.client = self._prior_client
        exchange._frame_tap = None
        self._exchange = None

    async def watch(self) -> None:
        """Returns never; raises the first unexpected exception met while reading a frame."""
        if self.failure is not None:
            raise self.failure
        self._failed = asyncio.get_running_loop().create_future()
        await self._failed

    def _guarded(self, to_ccxt: Callable, data) -> None:
        try:
            handled = self.on_frame(data)
        except Exception as exc:  # noqa: BLE001 - handed to the feed's task, not swallowed
            log.error("reading a frame failed: %r", exc)
            if self.failure is None:
                self.failure = exc
                if self._failed is not None and not self._failed.done():
                    self._failed.set_exception(exc)
            return
        if not handled:
            to_ccxt(data)  # ccxt's own errors stay ccxt's, as without the tap

    def on_frame(self, data) -> bool:
        """Decode and emit one frame of a tapped kind; False: the frame is for ccxt."""
        raw = data.encode() if type(data) is str else data
        found = self.classify(raw) if type(raw) is bytes else None
        if found is None:
            return False
        frame, kind = found
        stream = self.streams.get(kind)
        if stream is None:
            return False
        now = self.clock.now_ns()
        try:
            ev = self.decode(frame, now)
        except DecodeError as exc:  # a malformed frame or an invalid value: never emitted
            self.invalid += 1
            if self.invalid <= 10 or self.invalid % 1000 == 0:
                log.warning("undecodable %s frame dropped (%d so far): %s", stream,
                            self.invalid, exc)
            return True
        if ev is None:  # consumed with nothing to hand on (a delta waiting for a snapshot)
            self.frames += 1
            return True
        if type(ev) is list:  # several events of one frame (a venue's batch of trades)
            if not ev or ev[0].symbol not in self.symbols:
                return self._foreign(stream, ev[0].symbol) if ev else True
            self.frames += 1
            self.age[(ev[0].symbol, stream)] = now
            for e in ev:
                self.emit(e)
            return True
        if ev.symbol not in self.symbols:
            return self._foreign(stream, ev.symbol)
        self.frames += 1
        self.age[(ev.symbol, stream)] = now
        self.emit(ev)
        return True

    def _foreign(self, stream: str, symbol: str) -> bool:
        """A symbol named otherwise than ours, or another subscriber's stream on a shared
        client: ccxt handles it as it would without the tap (False)."""
        self.foreign += 1
        if self.foreign == 1:
            log.warning("%s frame for %s, not one of this feed's symbols %s: left to ccxt",
                        stream, symbol, sorted(self.symbols))
        return False
