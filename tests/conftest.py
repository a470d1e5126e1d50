"""Shared fixtures: where the recorded data lives, and helpers to cut real captures."""

from __future__ import annotations

import gzip
import logging
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED = (ROOT / ".." / "shared" / "data").resolve()
HFT = SHARED / "hftbacktest" / "examples"
BUNDLED = ROOT / "scripts" / "data" / "hftbacktest" / "usdm"

USDM_BTC = BUNDLED / "btcusdt_20240808.gz"
USDM_ETH = BUNDLED / "ethusdt_20240808.gz"


@pytest.fixture(autouse=True)
def _root_logger_restored():
    """A test that runs the command line in this process sets the root logger: its level (to
    `critical`, say) and its handler (one on that test's captured stderr, closed after it).
    The tests after it must still see warnings (caplog), and not through a closed stream.
    pytest's own capture handlers come and go with each phase: they are left to pytest."""
    root = logging.getLogger()
    level, before = root.level, list(root.handlers)

    def ours(h: logging.Handler) -> bool:
        return not type(h).__module__.startswith("_pytest")

    yield
    root.setLevel(level)
    for h in list(root.handlers):
        if ours(h) and h not in before:
            root.removeHandler(h)
    for h in before:
        if ours(h) and h not in root.handlers:
            root.addHandler(h)


def shared(*parts: str) -> Path:
    """A path under ../shared/data; skips the test when the data is not beside the project."""
    p = SHARED.joinpath(*parts)
    if not p.exists():
        pytest.skip(f"shared data not present: {p}")
    return p


def read_lines(path: Path) -> list[bytes]:
    with gzip.open(path, "rb") as fh:
        return fh.read().splitlines()


def write_capture(path: Path, lines: list[bytes]) -> Path:
    """Write capture lines as a gzip file in the recorder's format."""
    with gzip.open(path, "wb", compresslevel=1) as fh:
        fh.write(b"\n".join(lines) + b"\n")
    return path


@pytest.fixture(scope="session")
def usdm_btc_lines() -> list[bytes]:
    return read_lines(USDM_BTC)
