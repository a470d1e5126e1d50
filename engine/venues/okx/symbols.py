"""OKX instrument records (`/api/v5/public/instruments`) and the unified symbols the engine
speaks: `BTC-USDT` -> BTC/USDT, `BTC-USDT-SWAP` -> BTC/USDT:USDT, `UNI-USD-SWAP` -> UNI/USD:UNI,
`BTC-USD-220527` -> BTC/USD:BTC-220527 (ccxt's names for the same markets)."""

from __future__ import annotations

from typing import Iterable, Iterator

import msgspec

from engine.core.errors import ConfigError


class OkxInstrument(msgspec.Struct, frozen=True, kw_only=True):
    instId: str
    instType: str
    baseCcy: str = ""
    quoteCcy: str = ""
    settleCcy: str = ""
    uly: str = ""
    ctType: str = ""
    ctVal: str = ""
    tickSz: str
    lotSz: str
    minSz: str = ""
    expTime: str = ""


class _Response(msgspec.Struct):
    code: str
    data: list[OkxInstrument]


_RESPONSE = msgspec.json.Decoder(_Response)
KINDS = ("SPOT", "SWAP", "FUTURES")


def unified_symbol(inst: OkxInstrument) -> str:
    """ccxt's unified symbol of a spot, swap or dated futures instrument."""
    if inst.instType == "SPOT":
        return f"{inst.baseCcy}/{inst.quoteCcy}"
    if inst.instType not in ("SWAP", "FUTURES"):
        raise ConfigError(f"OKX {inst.instId}: instrument type {inst.instType} not traded here")
    base, _, quote = inst.uly.partition("-")
    if not base or not quote or not inst.settleCcy:
        raise ConfigError(f"OKX {inst.instId}: no underlying or settle currency in the record")
    symbol = f"{base}/{quote}:{inst.settleCcy}"
    if inst.instType == "FUTURES":
        symbol += "-" + inst.instId.rsplit("-", 1)[1]  # the expiry, YYMMDD
    return symbol


def read_instruments(lines: Iterable[bytes]) -> Iterator[OkxInstrument]:
    """Instrument records from REST responses, one per line, as a recorder writes them:
    `<url> -> <time>: <json>` (cryptofeed's `OKX.0`) or the bare JSON response."""
    for line in lines:
        payload = line.split(b": ", 1)[1] if b" -> " in line[:200] else line
        if not payload.strip():
            continue
        try:
            resp = _RESPONSE.decode(payload)
        except (msgspec.DecodeError, msgspec.ValidationError):
            continue  # an options listing or another endpoint's answer
        if resp.code == "0":
            for inst in resp.data:
                if inst.instType in KINDS:
                    yield inst
