"""Bad input, tried as a careless user and a corrupted disk would: every case must end with one
clear line (exit 2 for usage and config, 3 for a journal, 1 for unusable data), never a
traceback; mutated capture frames must be counted as malformed, never crash the replay, and
leave the untouched book in agreement with the venue's bookTicker.

    python scripts/fuzz_inputs.py                 # the CLI matrix + 100,000 mutated frames
    python scripts/fuzz_inputs.py --frames 20000 --json

Prints cases tried, crashes, tracebacks, frames counted as malformed, and the untouched book's
bookTicker agreement; with --json one JSON object on the last line.
"""

from __future__ import annotations

import argparse
import gzip
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

CAPTURES = ROOT / "scripts" / "data" / "hftbacktest" / "usdm"
BTC = CAPTURES / "btcusdt_20240808.gz"
ETH = CAPTURES / "ethusdt_20240808.gz"
DEMO = ROOT / "configs" / "demo_perps.toml"
DAILY = ROOT / "configs" / "backtest_daily.toml"


def _engine(*args: str, cwd: Path = ROOT, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "engine", *args], cwd=str(cwd),
                          capture_output=True, text=True, timeout=timeout)


def _config_case(tmp: Path, name: str, base: Path, old: str, new: str) -> str:
    text = base.read_text()
    if old not in text:
        raise SystemExit(f"fuzz case {name}: {old!r} not in {base.name}")
    p = tmp / f"{name}.toml"
    # configs name their bar files relative to themselves: keep them resolvable
    p.write_text(text.replace(old, new).replace('"../scripts/', f'"{ROOT}/scripts/'))
    return str(p)


def cli_cases(tmp: Path) -> list[tuple]:
    """(name, argv, expected exit code[, what the output must say when the run goes on])."""
    demo = str(DEMO)
    cases: list[tuple[str, list[str], int]] = []
    for name, old, new in [
        ("nan_leverage", "max_gross_leverage = 1.5", "max_gross_leverage = nan"),
        ("inf_margin_cap", "max_margin_utilisation = 0.8", "max_margin_utilisation = inf"),
        ("neg_inf_band", "abs_band = 0.03", "abs_band = -inf"),
        ("nan_price_age", "max_price_age_s = 5", "max_price_age_s = nan"),
        ("nan_price_band", "price_band_bps = 100", "price_band_bps = nan"),
        ("snan_cash", 'cash = { USDT = "100000" }', 'cash = { USDT = "sNaN" }'),
        ("nan_cash", 'cash = { USDT = "100000" }', 'cash = { USDT = "NaN" }'),
        ("inf_cash", 'cash = { USDT = "100000" }', 'cash = { USDT = "Infinity" }'),
        ("neg_fee", 'taker_bps = "5"', 'taker_bps = "-5"'),
        ("nan_fee", 'taker_bps = "5"', 'taker_bps = "NaN"'),
        ("inf_fee", 'taker_bps = "5"', 'taker_bps = "inf"'),
        ("nan_latency", "latency_ms = 5", "latency_ms = nan"),
        ("nan_weight", "weights = { BTC = 0.6, ETH = 0.4 }", "weights = { BTC = nan, ETH = 0.4 }"),
        ("nan_duration", "duration_s = 120", "duration_s = nan"),
        ("inf_duration", "duration_s = 120", "duration_s = inf"),
        ("nan_slippage_cap", "max_slippage_bps = 40", "max_slippage_bps = nan"),
        ("nan_snapshot_every", "snapshot_every_s = 10", "snapshot_every_s = nan"),
        ("unknown_field", "[risk]", "[risk]\nmax_leverage_typo = 2"),
    ]:
        cases.append((f"config:{name}", ["run", "--config", _config_case(tmp, name, DEMO, old,
                                                                           new),
                                         "--mode", "replay"], 2))
    for name, old, new in [
        ("inf_fee_bps", "fee_bps = 10", "fee_bps = inf"),
        ("nan_slippage", "slippage_bps = 5", "slippage_bps = nan"),
        ("neg_fee_bps", "fee_bps = 10", "fee_bps = -1"),
    ]:
        cases.append((f"backtest-config:{name}",
                      ["backtest", "--config", _config_case(tmp, name, DAILY, old, new),
                       "--no-html"], 2))
    not_capture = tmp / "notes.txt"
    not_capture.write_text("these are my notes\n")
    (tmp / "empty").mkdir()
    (tmp / "garbage").mkdir()
    empty_feather = tmp / "empty" / "BTC_USDT-1d.feather"
    empty_feather.write_bytes(b"")
    garbage_feather = tmp / "garbage" / "BTC_USDT-1d.feather"
    garbage_feather.write_bytes(b"ARROW1" + os.urandom(200))
    corrupt = tmp / "corrupt"
    corrupt.mkdir()
    raw = bytearray(BTC.read_bytes())
    for k in range(len(raw) // 2, len(raw) // 2 + 64):  # garble the middle of the stream
        raw[k] ^= 0x5A
    (corrupt / "btcusdt_20240808.gz").write_bytes(bytes(raw))
    cut = tmp / "cut"
    cut.mkdir()
    (cut / "btcusdt_20240808.gz").write_bytes(BTC.read_bytes()[: BTC.stat().st_size // 3])
    bad_bars = _config_case(tmp, "empty_bars", DAILY,
                            '"BTC/USDT" = "../scripts/data/oraculo-de-bitcoin/BTC_USDT-1d.feather"',
                            f'"BTC/USDT" = "{empty_feather}"')
    bad_bars2 = _config_case(tmp, "garbage_bars", DAILY,
                             '"BTC/USDT" = "../scripts/data/oraculo-de-bitcoin/BTC_USDT-1d.feather"',
                             f'"BTC/USDT" = "{garbage_feather}"')
    a_dir = tmp / "a_directory"
    a_dir.mkdir()
    empty_cap = tmp / "btcusdt_20240808.gz"
    with gzip.open(empty_cap, "wb") as fh:
        fh.write(b"")
    garbage_cap = tmp / "ethusdt_20240808.gz"
    with gzip.open(garbage_cap, "wb") as fh:
        fh.write(b"\n".join(b"1723161255088169167 {garbage %d" % i for i in range(50)))
    cases += [
        ("cli:log-level-unknown", ["--log-level", "loud", "replay", str(BTC)], 2),
        ("cli:log-level-after-subcommand", ["replay", str(BTC), "--log-level", "loud"], 2),
        ("cli:status-port-range", ["run", "--config", demo, "--status-port", "70000"], 2),
        ("cli:status-port-negative", ["run", "--config", demo, "--status-port", "-1"], 2),
        ("cli:workers-zero", ["backtest", "--config", str(DAILY), "--workers", "0"], 2),
        ("cli:speed-zero", ["run", "--config", demo, "--speed", "0"], 2),
        ("cli:speed-negative", ["replay", str(BTC), "--speed", "-2"], 2),
        ("cli:duration-zero", ["run", "--config", demo, "--mode", "paper", "--duration", "0"], 2),
        ("cli:duration-nan", ["run", "--config", demo, "--mode", "paper", "--duration", "nan"],
         2),
        ("cli:speed-nan", ["replay", str(BTC), "--speed", "nan"], 2),
        ("cli:input-not-a-capture", ["run", "--config", demo, "--input", str(not_capture)], 2),
        ("cli:replay-not-a-capture", ["replay", str(not_capture)], 2),
        ("cli:replay-empty-capture", ["replay", str(empty_cap)], 2),
        ("cli:replay-empty-capture-usdm", ["replay", str(empty_cap), "--market", "usdm"], 1),
        ("cli:replay-corrupt-gzip-goes-on", ["replay", str(corrupt / "btcusdt_20240808.gz"),
                                             str(ETH), "--market", "usdm"], 0,
         "corrupt_file"),
        ("cli:replay-truncated-gzip-goes-on", ["replay", str(cut / "btcusdt_20240808.gz"),
                                               str(ETH), "--market", "usdm"], 0,
         "file truncated"),
        ("cli:replay-garbage-capture", ["replay", str(garbage_cap), "--market", "usdm"], 1),
        ("cli:journal-is-a-directory", ["run", "--config", demo, "--journal", str(a_dir)], 3),
        ("cli:report-journal-is-a-directory", ["report", "--journal", str(a_dir)], 3),
        ("cli:html-unwritable", ["backtest", "--config", str(DAILY), "--html",
                                 str(not_capture / "r.html")], 2),
        ("cli:html-is-a-directory", ["backtest", "--config", str(DAILY), "--html", str(a_dir)],
         2),
        ("cli:empty-feather", ["backtest", "--config", bad_bars, "--no-html"], 2),
        ("cli:garbage-feather", ["backtest", "--config", bad_bars2, "--no-html"], 2),
        ("cli:config-missing", ["run", "--config", str(tmp / "nope.toml")], 2),
        ("cli:config-is-binary", ["run", "--config", str(garbage_feather)], 2),
    ]
    return cases


def run_cli(tmp: Path) -> dict:
    cases = cli_cases(tmp)
    bad: list[str] = []
    tracebacks = 0
    for name, argv, want, *say in cases:
        try:
            p = _engine(*argv, cwd=tmp)
        except subprocess.TimeoutExpired:
            bad.append(f"{name}: no answer within the timeout")
            print(f"  BAD {name:40s} timed out")
            continue
        err = p.stderr.strip()
        lines = [ln for ln in err.splitlines() if ln.startswith("error") or "error:" in ln]
        if say:  # a case that goes on must still say what it skipped
            lines = [ln for ln in (err + "\n" + p.stdout).splitlines() if say[0] in ln]
        tb = "Traceback" in p.stderr
        tracebacks += tb
        ok = p.returncode == want and not tb and len(lines) >= 1
        if not ok:
            bad.append(f"{name}: exit {p.returncode} (want {want}); stderr: {err[-300:]!r}")
        print(f"  {'ok ' if ok else 'BAD'} {name:40s} exit {p.returncode}: "
              f"{(lines[-1] if lines else err[-120:])[:110]}")
    return {"cli_cases": len(cases), "cli_bad": bad, "cli_tracebacks": tracebacks}


# -- mutated capture frames ----------------------------------------------------------------------
def _mutate(rng: random.Random, frame: bytes) -> bytes:
    kind = rng.randrange(8)
    b = bytearray(frame)
    if kind == 0 and b:  # flip bits
        for _ in range(rng.randint(1, 4)):
            i = rng.randrange(len(b))
            b[i] ^= 1 << rng.randrange(8)
    elif kind == 1:  # truncate
        b = b[:rng.randrange(max(1, len(b)))]
    elif kind == 2:  # swap the symbol inside
        return frame.replace(b'"s":"ETHUSDT"', b'"s":"BTCUSDT"', 1)
    elif kind == 3:  # relabel the stream
        return frame.replace(b"ethusdt@", rng.choice([b"btcusdt@", b"eth|sdt@", b"ETHUSDT@",
                                                       b"ethusdt_x@"]), 1)
    elif kind == 4:  # numbers gone wrong
        return frame.replace(b'"b":"', rng.choice([b'"b":"-', b'"b":"NaN', b'"b":"1e999',
                                                   b'"b":"x']), 1)
    elif kind == 5:  # delete a byte range
        i = rng.randrange(max(1, len(b)))
        del b[i:i + rng.randint(1, 20)]
    elif kind == 6:  # duplicate a byte range
        i = rng.randrange(max(1, len(b)))
        b[i:i] = b[i:i + rng.randint(1, 30)]
    else:  # random bytes
        return os.urandom(rng.randint(1, 200))
    return bytes(b)


def run_frames(n: int, seed: int) -> dict:
    """`n` mutated ETH frames interleaved into the ETH capture (as extra lines: the real chain
    is untouched), replayed beside the untouched BTC capture; both books' tops compared with
    their bookTickers."""
    from engine.feeds.capture import CaptureStats, merge_captures
    from engine.node.replay_session import ReplaySession

    rng = random.Random(seed)
    with gzip.open(ETH, "rb") as fh:
        eth = fh.read().splitlines()
    frames = [ln for ln in eth if b'"stream":"' in ln]
    out: list[bytes] = []
    per = max(1, n // len(eth) + 1)
    made = 0
    for ln in eth:
        out.append(ln)
        for _ in range(per):
            if made >= n:
                break
            ts, _, payload = rng.choice(frames).partition(b" ")
            out.append(ln.partition(b" ")[0] + b" " + _mutate(rng, payload).replace(b"\n", b" "))
            made += 1
    crashes: list[str] = []
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "ethusdt_20240808.gz"
        with gzip.open(path, "wb", compresslevel=1) as fh:
            fh.write(b"\n".join(out) + b"\n")
        stats: list[CaptureStats] = []
        s = ReplaySession()
        t0 = time.perf_counter()
        try:
            for ev in merge_captures([str(BTC), str(path)], stats=stats):
                s.on_event(ev)
            s.finish()
        except Exception as exc:  # the point of the exercise: count, never hide
            crashes.append(f"{type(exc).__name__}: {exc}")
        elapsed = time.perf_counter() - t0
        summary = s.summary(stats)
    eth_stats = next(st for st in stats if st.symbol == "ETH/USDT:USDT")
    btc = summary.get("BTC/USDT:USDT", {})
    e = summary.get("ETH/USDT:USDT", {})
    # a mutated frame may still be a valid, self-consistent message (a flipped digit in a
    # price): those reach the ETH book, so only BTC's book is untouched by construction
    return {
        "frames_mutated": made,
        "frames_malformed": eth_stats.malformed,
        "malformed_by_reason": dict(sorted(eth_stats.skipped.items())),
        "mutated_accepted": made - eth_stats.malformed,
        "books": sorted(s.books.syncs),
        "untouched_bbo_compared": btc.get("bbo_compared", 0),
        "untouched_bbo_agreement": (btc["bbo_agreed"] / btc["bbo_compared"]
                                    if btc.get("bbo_compared") else None),
        "fuzzed_book_gaps": e.get("gaps", 0),
        "crashes": crashes,
        "seconds": round(elapsed, 2),
    }


def main() -> int:
    import logging

    logging.getLogger("engine.feeds.capture").setLevel(logging.ERROR)  # counted, not logged
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--frames", type=int, default=100_000)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--skip-cli", action="store_true")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    out: dict = {}
    with tempfile.TemporaryDirectory() as d:
        if not args.skip_cli:
            print("bad-input matrix:")
            out.update(run_cli(Path(d)))
    print(f"mutating {args.frames:,} capture frames ...")
    out.update(run_frames(args.frames, args.seed))
    print(f"cases tried        {out.get('cli_cases', 0) + out['frames_mutated']:,} "
          f"({out.get('cli_cases', 0)} CLI, {out['frames_mutated']:,} frames)")
    print(f"crashes            {len(out['crashes']) + len(out.get('cli_bad', []))}")
    print(f"tracebacks         {out.get('cli_tracebacks', 0)}")
    print(f"frames malformed   {out['frames_malformed']:,} of {out['frames_mutated']:,} "
          f"(the rest decoded as valid messages)")
    phantom = [b for b in out["books"] if b not in ("BTC/USDT:USDT", "ETH/USDT:USDT")]
    out["phantom_books"] = phantom
    print(f"phantom books      {phantom}")
    agree = out["untouched_bbo_agreement"]
    print(f"untouched book     {out['untouched_bbo_compared']:,} tops vs bookTicker, agreement "
          f"{'-' if agree is None else f'{agree:.2%}'}")
    if args.json:
        import json

        print(json.dumps(out))
    bad = (out.get("cli_bad") or out["crashes"] or agree != 1.0 or out.get("cli_tracebacks")
           or phantom)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
