"""The compiled Binance frame readers against the msgspec handlers they fall back to.

The readers must give the very event msgspec's typed decode gives on every recorded frame, and
on anything else either the same event or the fallback's own error: they may be faster, never
more lenient."""

from __future__ import annotations

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.venues.binance.frames import BinanceDecoder
from engine.feeds.cryptofeed_capture import frame_lines
from tests.conftest import HFT, USDM_BTC, USDM_ETH, read_lines, shared

KINDS = (b"@depth", b"@bookTicker", b"@trade")


def _frames(lines: list[bytes]) -> list[tuple[int, bytes]]:
    out = []
    for line in lines:
        ts, _, payload = line.partition(b" ")
        out.append((int(ts), payload))
    return out


def _check_capture(market: str, frames) -> dict[str, int]:
    """Every depth/bookTicker/trade frame: compiled == msgspec, and none fell back."""
    dec = BinanceDecoder(market)
    counts: dict[str, int] = {}
    for ts, payload in frames:
        if not payload.startswith(b'{"stream":"'):
            continue
        name = payload[11:payload.find(b'"', 11)]
        kind = next((k for k in KINDS if k in name), None)
        if kind is None:
            continue
        fast = dec.decode_frame(payload, ts)
        handler = dec._handlers[name]
        assert fast == handler.fallback(payload, ts), payload[:120]
        counts[kind.decode()[1:]] = counts.get(kind.decode()[1:], 0) + 1
    assert all(h.fallbacks == 0 for h in dec._handlers.values() if hasattr(h, "fallbacks"))
    return counts


def test_bundled_usdm_frames_equal_msgspec_and_never_fall_back():
    counts = {}
    for path in (USDM_BTC, USDM_ETH):
        for k, n in _check_capture("usdm", _frames(read_lines(path))).items():
            counts[k] = counts.get(k, 0) + n
    # golden counts of the two bundled captures
    assert counts == {"bookTicker": 120_081, "trade": 35_389, "depth": 13_137}


@pytest.mark.shared_data
def test_spot_frames_equal_msgspec_and_never_fall_back():
    shared("hftbacktest", "examples", "spot")
    counts = {p.name: _check_capture("spot", _frames(read_lines(p)))
              for p in sorted((HFT / "spot").glob("*.gz"))}
    assert counts == {  # golden counts of the recorded spot captures
        "btcusdt_20240808.gz": {"depth": 3451, "bookTicker": 28040, "trade": 9757},
        "btcusdt_20240809.gz": {"depth": 3044, "bookTicker": 45134, "trade": 10147},
        "ethusdt_20240808.gz": {"depth": 3434, "bookTicker": 24077, "trade": 6106},
        "ethusdt_20240809.gz": {"depth": 3036, "bookTicker": 34681, "trade": 8409}}


@pytest.mark.shared_data
def test_coinm_frames_with_quarterlies_equal_msgspec_and_never_fall_back():
    path = shared("cryptofeed", "sample_data", "BINANCE_DELIVERY.ws.1.0")
    counts = _check_capture("coinm", _frames([x for x in frame_lines(str(path)) if x]))
    assert counts == {"depth": 2047, "bookTicker": 2240}  # golden: aggTrade stays on msgspec


def _outcome(fn, payload: bytes):
    try:
        return "ok", fn(payload, 7)
    except (msgspec.ValidationError, msgspec.DecodeError, Exception) as exc:  # noqa: BLE001
        return "error", type(exc).__name__


# decimals as Binance writes them and as it never does: signs, exponents, leading zeros, lone
# points, padding, too many digits for the exact path, zero, values at the bounds
decimal_text = st.one_of(
    st.decimals(min_value=0, max_value=10**16, places=8, allow_nan=False).map(str),
    st.from_regex(r"-?0*[0-9]{0,20}(\.[0-9]{0,24})?([eE][-+]?[0-9]{1,3})?", fullmatch=True),
    st.sampled_from(["0", "0.0", "1.", ".5", "01", "00.1", " 1", "1 ", "+1", "1e3", "1E-3",
                     "999999999999999.9", "1000000000000000", "9007199254740993",
                     "0.00000000000000000000001", "\\u0031", "NaN", "Infinity", ""]),
)


def _field(text: str, quoted: bool) -> bytes:
    return (f'"{text}"' if quoted else text).encode()


# values of keys the readers skip: numbers valid and not, literals, strings with control
# characters or escapes, nesting
json_token = st.one_of(
    st.from_regex(r"-?[0-9.eE+\-]{1,8}", fullmatch=True),
    st.sampled_from(["true", "false", "null", "tru", "nul", "[]", "{}", '[1,{"y":null}]', "[1,]",
                     '{"a":}', '"a\\"b"', '"\u00e9"', '"x\x01y"', '""', "[[[[[[[[[[1]]]]]]]]]]"]),
    st.text(max_size=6).map(lambda t: '"' + t + '"'),
)


@settings(max_examples=400, deadline=None)
@given(st.lists(st.tuples(decimal_text, st.booleans()), min_size=4, max_size=4),
       st.permutations(["u", "s", "b", "B", "a", "A", "T", "E", "e"]),
       st.one_of(st.none(), json_token))
def test_book_ticker_reader_is_never_more_lenient_than_msgspec(values, order, extra):
    vals = dict(zip("bBaA", (_field(t, q) for t, q in values)))
    vals.update(u=b"5123107839020", s=b'"BTCUSDT"', T=b"1723161256313", E=b"1723161256313",
                e=b'"bookTicker"')
    body = b",".join(b'"%s":%s' % (k.encode(), vals[k]) for k in order)
    if extra is not None:
        body += b',"x":' + extra.encode("utf-8", "surrogatepass") + b',"zz":true'
    frame = b'{"stream":"btcusdt@bookTicker","data":{' + body + b"}}"
    dec = BinanceDecoder("usdm")
    handler = dec._resolve("btcusdt@bookTicker")
    assert _outcome(handler, frame) == _outcome(handler.fallback, frame)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(decimal_text, decimal_text), max_size=5),
       st.sampled_from([b'"pu":5123107831937,', b"", b'"pu":null,', b'"pu":"5",']),
       st.sampled_from([(b"5123107832006", b"5123107837557"), (b"9", b"8"), (b"-1", b"2"),
                        (b"1.0", b"2")]), st.booleans())
def test_depth_reader_is_never_more_lenient_than_msgspec(levels, pu, ids, spot):
    side = b"[" + b",".join(b'["%s","%s"]' % (p.encode(), q.encode()) for p, q in levels) + b"]"
    frame = (b'{"stream":"btcusdt@depth@0ms","data":{"e":"depthUpdate","E":1723161256299,'
             b'"T":1723161256298,"s":"BTCUSDT","U":' + ids[0] + b',"u":' + ids[1] + b","
             + pu + b'"b":' + side + b',"a":' + side + b"}}")
    dec = BinanceDecoder("spot" if spot else "usdm")
    handler = dec._resolve("btcusdt@depth@0ms")
    assert _outcome(handler, frame) == _outcome(handler.fallback, frame)


@pytest.mark.parametrize("market", ["usdm", "spot"])
def test_every_cut_or_corrupted_recorded_frame_behaves_as_msgspec(usdm_btc_lines, market):
    """Each prefix of a real frame of each kind, and each byte replaced by a quote, a brace or
    a digit: the compiled reader agrees with msgspec (mostly on refusing it)."""
    picked = {}
    for line in usdm_btc_lines:
        payload = line.partition(b" ")[2]
        name = payload[11:payload.find(b'"', 11)]
        for k in KINDS:
            if k in name and k not in picked and len(payload) < 600:
                picked[k] = (name, payload)
    dec = BinanceDecoder(market)
    for name, payload in picked.values():
        handler = dec._resolve(name.decode())
        for cut in range(len(payload)):
            bad = payload[:cut]
            assert _outcome(handler, bad) == _outcome(handler.fallback, bad), bad
        for i in range(len(payload)):
            for b in (b'"', b"}", b"7", b" "):
                bad = payload[:i] + b + payload[i + 1:]
                assert _outcome(handler, bad) == _outcome(handler.fallback, bad), bad


def test_a_symbol_other_than_the_streams_is_refused_as_before():
    frame = (b'{"stream":"btcusdt@bookTicker","data":{"u":1,"s":"ETHUSDT","b":"1.0","B":"1.0",'
             b'"a":"2.0","A":"1.0"}}')
    from engine.core.errors import DecodeError
    with pytest.raises(DecodeError, match="symbol_mismatch|carries s="):
        BinanceDecoder("usdm").decode_frame(frame, 7)


TICKER = (b'{"stream":"btcusdt@bookTicker","data":{"e":"bookTicker","u":5123107839020,'
          b'"s":"BTCUSDT","b":"61800.20","B":"2.507","a":"61800.30","A":"2.510",'
          b'"T":1723161256313,"E":1723161256313}}')


@pytest.mark.parametrize("edit", [
    (b'"A":"2.510",', b'"A":"2.510","x":1-2,'),  # numbers JSON does not allow, skipped keys
    (b'"A":"2.510",', b'"A":"2.510","x":-,'),
    (b'"A":"2.510",', b'"A":"2.510","x":01,'),
    (b'"A":"2.510",', b'"A":"2.510","x":1e,'),
    (b'"A":"2.510",', b'"A":"2.510","x":1.,'),
    (b'"A":"2.510",', b'"A":"2.510","x":-0.5e+3,'),  # a valid one
    (b'"E":1723161256313', b'"E":01723161256313'),  # an id or time with a leading zero
    (b'"u":5123107839020', b'"u":05123107839020'),
    (b'"e":"bookTicker"', b'"e":"book\x02Ticker"'),  # a raw control character
    (b'"A":"2.510",', b'"A":"2.510","x":"a\x01b",'),
    (b'"T":1723161256313,"E":1723161256313', b'"T":0,"E":10000000000000'),  # past int64 ns
    (b'"T":1723161256313,"E":1723161256313', b'"T":99999999999999,"E":1'),
])
def test_hand_edited_frames_are_read_as_msgspec_reads_them(edit):
    old, new = edit
    frame = TICKER.replace(old, new)
    assert frame != TICKER
    handler = BinanceDecoder("usdm")._resolve("btcusdt@bookTicker")
    assert _outcome(handler, frame) == _outcome(handler.fallback, frame)


@settings(max_examples=500, deadline=None)
@given(json_token, st.sampled_from([b'"A":"2.510",', b'"s":"BTCUSDT",', b'"E":1723161256313}']))
def test_a_skipped_value_is_accepted_only_where_msgspec_accepts_it(token, where):
    """A real frame with one more key of any value: the reader agrees with msgspec on it."""
    extra = b'"x":' + token.encode("utf-8", "surrogatepass")
    frame = (TICKER.replace(where, where + extra + b",") if not where.endswith(b"}")
             else TICKER.replace(where, where[:-1] + b"," + extra + b"}"))
    handler = BinanceDecoder("usdm")._resolve("btcusdt@bookTicker")
    assert _outcome(handler, frame) == _outcome(handler.fallback, frame)
