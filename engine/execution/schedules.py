"""Slice schedules for TWAP and VWAP parents (pure).

A schedule is a list of (time ns, amount) whose amounts are on the lot step and add up to the
parent's amount exactly; slices too small to trade are merged into the next one.
"""

from __future__ import annotations

import random
from decimal import ROUND_DOWN, Decimal


def _split(total: Decimal, weights: list[float], step: Decimal, min_amount: Decimal
           ) -> list[Decimal]:
    """Split `total` by `weights` on the lot step; the rounding remainder goes to the first
    slice (front-loaded, so nothing is left for the end) and slices below `min_amount` roll
    into the next one."""
    wsum = sum(weights)
    if wsum <= 0:
        weights = [1.0] * len(weights)
        wsum = float(len(weights))
    parts = []
    for w in weights:
        raw = total * Decimal(repr(w / wsum))
        parts.append((raw / step).to_integral_value(rounding=ROUND_DOWN) * step)
    parts[0] += total - sum(parts)
    out: list[Decimal] = []
    pending = Decimal(0)
    for p in parts:
        pending += p
        if pending >= max(min_amount, step):
            out.append(pending)
            pending = Decimal(0)
        else:
            out.append(Decimal(0))
    if pending:
        # whatever is left is below the minimum: add it to the last non-empty slice
        for i in range(len(out) - 1, -1, -1):
            if out[i]:
                out[i] += pending
                break
        else:
            out[0] = pending
    return out


def twap_schedule(total: Decimal, start_ns: int, duration_ns: int, slices: int, step: Decimal,
                  min_amount: Decimal = Decimal(0), jitter: float = 0.0, seed: int = 0
                  ) -> list[tuple[int, Decimal]]:
    """`slices` equal slices, the first at `start_ns`, one every `duration_ns / slices` (fewer
    when the amount cannot make that many tradable slices); with `jitter` in [0, 0.5) each
    later time moves by up to ± that fraction of the interval (seeded, so replays repeat)."""
    if slices < 1 or duration_ns < 0:
        raise ValueError("a TWAP needs at least one slice and a non-negative duration")
    if not 0.0 <= jitter < 0.5:
        raise ValueError(f"jitter must be in [0, 0.5), got {jitter}")
    # fewer, larger slices when the amount is too small for `slices` tradable ones
    slices = max(1, min(slices, int(total / max(min_amount, step))))
    interval = duration_ns / slices
    rng = random.Random(seed)
    amounts = _split(total, [1.0] * slices, step, min_amount)
    out = []
    for i, a in enumerate(amounts):
        if not a:
            continue
        t = start_ns + i * interval
        if jitter and i:
            t += rng.uniform(-jitter, jitter) * interval
        out.append((int(t), a))
    return out


def vwap_schedule(total: Decimal, start_ns: int, duration_ns: int, profile: list[float],
                  step: Decimal, min_amount: Decimal = Decimal(0)) -> list[tuple[int, Decimal]]:
    """One slice per profile bucket, sized by the bucket's share of the expected volume."""
    if not profile:
        raise ValueError("a VWAP needs a volume profile with at least one bucket")
    interval = duration_ns / len(profile)
    amounts = _split(total, [max(0.0, v) for v in profile], step, min_amount)
    return [(int(start_ns + i * interval), a) for i, a in enumerate(amounts) if a]


def profile_from_trades(trades: list[tuple[int, float]], end_ns: int, window_ns: int,
                        buckets: int) -> list[float]:
    """Volume per bucket over the `window_ns` before `end_ns`: the recent pattern, assumed to
    repeat over the next window. Empty history gives a flat profile."""
    start = end_ns - window_ns
    vol = [0.0] * buckets
    width = window_ns / buckets
    for ts, size in trades:
        if start <= ts < end_ns:
            vol[min(buckets - 1, int((ts - start) / width))] += size
    return vol if sum(vol) > 0 else [1.0] * buckets


def profile_from_bars(bars: list[tuple[int, float]], bucket_ns: int, buckets: int,
                      start_ns: int) -> list[float]:
    """Average bar volume by time-of-day bucket, for the buckets starting at `start_ns`."""
    day = 86_400_000_000_000
    sums: dict[int, float] = {}
    counts: dict[int, int] = {}
    for ts, v in bars:
        k = (ts % day) // bucket_ns
        sums[k] = sums.get(k, 0.0) + v
        counts[k] = counts.get(k, 0) + 1
    out = []
    for i in range(buckets):
        k = ((start_ns + i * bucket_ns) % day) // bucket_ns
        out.append(sums.get(k, 0.0) / counts[k] if counts.get(k) else 0.0)
    return out if sum(out) > 0 else [1.0] * buckets
