"""OKX v5 instrument listings (`/api/v5/public/instruments`) as the engine's `MarketSpec`s,
each record parsed by ccxt's own `parse_market` (as Binance's exchangeInfo is): spot, swaps
and dated futures, linear or inverse, with OKX's contract values. The file is either one saved
response or cryptofeed's REST recording (`OKX.0`: one `<url> -> <time>: <response>` a line);
where a record appears twice, the first is kept; the recorder's other lines are skipped."""

from __future__ import annotations

from pathlib import Path

import orjson

from engine.core.errors import ConfigError
from engine.execution.markets import MarketSpec, spec_from_ccxt

# OKX's recorded listing, trimmed to a few instruments (scripts/data/okx/README.md)
BUNDLED = Path(__file__).resolve().parents[3] / "scripts/data/okx/OKX.0"


def read_markets(path: str | Path = BUNDLED) -> dict[str, MarketSpec]:
    import ccxt

    from engine.feeds.capture import iter_lines

    parser = ccxt.okx()
    out: dict[str, MarketSpec] = {}
    try:
        lines = list(iter_lines(str(path)))
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read the OKX listing: {exc.strerror}") from None
    for n, line in enumerate(lines, 1):
        if b" -> " in line[:300]:  # cryptofeed's "<url> -> <time>: <body>"
            url, _, rest = line.partition(b" -> ")
            if b"/public/instruments" not in url:
                continue  # another request of the recording
            line = rest[rest.index(b": ") + 2:]
        elif not line.startswith(b"{"):
            continue  # blank, or the recorder's own lines ("configuration: ...")
        try:
            rows = orjson.loads(line)["data"]
            for r in rows:
                m = parser.parse_market(r)
                if m and m["symbol"] not in out:
                    out[m["symbol"]] = spec_from_ccxt(m)
        except (orjson.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
            raise ConfigError(f"{path}: line {n}: not an OKX instruments response "
                              f"({exc!r})") from None
    if not out:
        raise ConfigError(f"{path}: no instruments")
    return out
