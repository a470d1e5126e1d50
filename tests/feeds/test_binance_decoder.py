"""Decoding real Binance frames into model events, and refusing bad values."""

from __future__ import annotations

import pytest

from engine.core.errors import DecodeError, UnknownStreamError
from engine.venues.binance.frames import BinanceDecoder, market_of_stream_payload
from engine.venues.binance.symbols import unified_symbol
from engine.model import BestBidAsk, BookDelta, BookSnapshot, MarkPrice, Trade

TS = 1723161255088169167

# Real frames from the bundled USD-M capture and the spot capture.
USDM_TICKER = (b'{"stream":"btcusdt@bookTicker","data":{"e":"bookTicker","u":5123107839020,'
               b'"s":"BTCUSDT","b":"61800.20","B":"2.507","a":"61800.30","A":"2.510",'
               b'"T":1723161256313,"E":1723161256313}}')
USDM_TRADE = (b'{"stream":"btcusdt@trade","data":{"e":"trade","E":1723161256322,"T":1723161256322,'
              b'"s":"BTCUSDT","t":5266583935,"p":"61800.30","q":"0.006","X":"MARKET","m":false}}')
SPOT_TRADE = (b'{"stream":"btcusdt@trade","data":{"e":"trade","E":1723161255343,"s":"BTCUSDT",'
              b'"t":3735683259,"p":"61837.63000000","q":"0.02000000","T":1723161255342,'
              b'"m":true,"M":true}}')
SPOT_TICKER = (b'{"stream":"ethusdt@bookTicker","data":{"u":35346513501,"s":"ETHUSDT",'
               b'"b":"2683.80000000","B":"3.02920000","a":"2683.81000000","A":"31.43950000"}}')
SPOT_DEPTH = (b'{"stream":"ethusdt@depth@100ms","data":{"e":"depthUpdate","E":1723161255308,'
              b'"s":"ETHUSDT","U":35346513499,"u":35346513505,"b":[["2683.80000000","3.02920000"],'
              b'["2500.00000000","352.90500000"]],"a":[["2733.70000000","0.00000000"]]}}')
# Binance's documented COIN-M diff depth payload (BTCUSD quarterly), in a combined stream.
COINM_DEPTH = (b'{"stream":"btcusd_200626@depth@100ms","data":{"e":"depthUpdate","E":1591270260907,'
               b'"T":1591270260891,"s":"BTCUSD_200626","ps":"BTCUSD","U":17285681,"u":17285702,'
               b'"pu":17285675,"b":[["9517.6","10"]],"a":[["9518.5","45"]]}}')
# Binance's documented USD-M mark price payload.
USDM_MARK = (b'{"stream":"btcusdt@markPrice@1s","data":{"e":"markPriceUpdate","E":1562305380000,'
             b'"s":"BTCUSDT","p":"11794.15000000","i":"11784.62659091","P":"11784.25641265",'
             b'"r":"0.00038167","T":1562306400000}}')


def test_usdm_book_ticker_keeps_exact_decimals():
    ev = BinanceDecoder("usdm").decode_frame(USDM_TICKER, TS)
    assert isinstance(ev, BestBidAsk)
    assert ev.symbol == "BTC/USDT:USDT" and ev.exchange == "binanceusdm"
    assert (ev.update_id, ev.bid_price, ev.bid_size, ev.ask_price, ev.ask_size) == (
        5123107839020, 61800.2, 2.507, 61800.3, 2.51)
    assert repr(ev.bid_price) == "61800.2"
    assert ev.ts_event == 1723161256313_000_000 and ev.ts_recv == TS
    assert ev.has_exchange_time


def test_spot_book_ticker_has_no_exchange_time_so_event_time_is_receive_time():
    ev = BinanceDecoder("spot").decode_frame(SPOT_TICKER, TS)
    assert ev.symbol == "ETH/USDT" and ev.exchange == "binance"
    assert ev.ts_event == TS and not ev.has_exchange_time


def test_trade_aggressor_side_from_buyer_is_maker_flag():
    fut = BinanceDecoder("usdm").decode_frame(USDM_TRADE, TS)
    spot = BinanceDecoder("spot").decode_frame(SPOT_TRADE, TS)
    assert isinstance(fut, Trade) and fut.taker_side == "buy" and fut.trade_id == 5266583935
    assert spot.taker_side == "sell" and spot.size == 0.02 and spot.ts_event == 1723161255342_000_000


def test_spot_depth_has_no_prev_id_and_keeps_zero_size_deletes():
    ev = BinanceDecoder("spot").decode_frame(SPOT_DEPTH, TS)
    assert isinstance(ev, BookDelta)
    assert ev.prev_final_update_id is None
    assert (ev.first_update_id, ev.final_update_id) == (35346513499, 35346513505)
    assert ev.asks == ((2733.7, 0.0),)


def test_coinm_depth_maps_to_inverse_symbol_with_contract_sizes():
    ev = BinanceDecoder("coinm").decode_frame(COINM_DEPTH, TS)
    assert ev.symbol == "BTC/USD:BTC-200626" and ev.exchange == "binancecoinm"
    assert ev.prev_final_update_id == 17285675
    assert ev.bids == ((9517.6, 10.0),) and ev.ts_event == 1591270260891_000_000


def test_mark_price_carries_funding_rate_and_next_funding_time():
    ev = BinanceDecoder("usdm").decode_frame(USDM_MARK, TS)
    assert isinstance(ev, MarkPrice)
    assert ev.mark_price == 11794.15 and ev.index_price == 11784.62659091
    assert ev.funding_rate == 0.00038167 and ev.next_funding_ts == 1562306400000_000_000


def test_futures_snapshot_uses_transaction_time_and_file_symbol(usdm_btc_lines):
    snap_line = next(x for x in usdm_btc_lines if b"lastUpdateId" in x)
    ts, _, payload = snap_line.partition(b" ")
    ev = BinanceDecoder("usdm", default_symbol="BTC/USDT:USDT").decode_frame(payload, int(ts))
    assert isinstance(ev, BookSnapshot)
    assert ev.update_id == 5123107852948 and ev.ts_event == 1723161256493_000_000
    assert len(ev.bids) == 1000 and len(ev.asks) == 1000
    assert ev.bids[0] == (61800.2, 2.909)


def test_snapshot_without_a_symbol_to_attach_is_rejected(usdm_btc_lines):
    payload = next(x for x in usdm_btc_lines if b"lastUpdateId" in x).partition(b" ")[2]
    with pytest.raises(DecodeError, match="no symbol"):
        BinanceDecoder("usdm").decode_frame(payload, TS)


@pytest.mark.parametrize("bad, reason", [
    (USDM_TICKER.replace(b'"b":"61800.20"', b'"b":"NaN"'), "invalid_value"),
    (USDM_TICKER.replace(b'"b":"61800.20"', b'"b":"-61800.20"'), "invalid_value"),
    (USDM_TICKER.replace(b'"b":"61800.20"', b'"b":"inf"'), "invalid_value"),
    (USDM_TICKER.replace(b'"B":"2.507"', b'"B":"-1"'), "invalid_value"),
    (USDM_TICKER.replace(b'"b":"61800.20"', b'"b":"abc"'), "invalid_value"),
    (SPOT_DEPTH.replace(b'["2500.00000000"', b'["NaN"'), "invalid_value"),
    (USDM_TICKER[:70], "malformed_json"),
    (b"not json at all", "malformed_json"),
    (b'{"stream":"btcusdt@bookTicker","data":{"u":1}}', "invalid_value"),
])
def test_bad_values_and_broken_frames_raise_decode_error(bad, reason):
    with pytest.raises(DecodeError) as err:
        BinanceDecoder("usdm", default_symbol="BTC/USDT:USDT").decode_frame(bad, TS)
    assert err.value.reason == reason


def test_unknown_stream_is_its_own_error():
    frame = b'{"stream":"btcusdt@kline_1m","data":{"e":"kline","s":"BTCUSDT"}}'
    with pytest.raises(UnknownStreamError):
        BinanceDecoder("usdm").decode_frame(frame, TS)
    with pytest.raises(UnknownStreamError):
        BinanceDecoder("usdm").decode_frame(b'{"result":null,"id":1}', TS)


def test_futures_depth_without_pu_is_rejected():
    frame = COINM_DEPTH.replace(b'"pu":17285675,', b"")
    with pytest.raises(DecodeError, match="pu"):
        BinanceDecoder("coinm").decode_frame(frame, TS)


def test_market_kind_is_inferred_from_frame_shape():
    assert market_of_stream_payload(USDM_TRADE) == "usdm"
    assert market_of_stream_payload(SPOT_TRADE) == "spot"
    assert market_of_stream_payload(SPOT_TICKER) == "spot"
    assert market_of_stream_payload(SPOT_DEPTH) == "spot"
    assert market_of_stream_payload(COINM_DEPTH) == "coinm"
    assert market_of_stream_payload(b"garbage") is None


@pytest.mark.parametrize("mid, market, expected", [
    ("BTCUSDT", "usdm", "BTC/USDT:USDT"),
    ("BTCUSDT", "spot", "BTC/USDT"),
    ("ETHBTC", "spot", "ETH/BTC"),
    ("BTCUSD_PERP", "coinm", "BTC/USD:BTC"),
    ("ETHUSD_240927", "coinm", "ETH/USD:ETH-240927"),
    ("BTCFDUSD", "spot", "BTC/FDUSD"),
])
def test_unified_symbols(mid, market, expected):
    assert unified_symbol(mid, market) == expected


def test_unsplittable_symbol_is_an_error():
    with pytest.raises(DecodeError):
        unified_symbol("XYZ", "spot")
