"""Every bad input of `scripts/fuzz_inputs.py`'s matrix (NaN and infinities in config fields,
negative or NaN fees, bad command-line values, files that are not what they claim, paths that
cannot be used) ends with one clear line and its exit code, never a traceback; plus a slice of
the mutated-frame fuzz on the recorded capture (the script runs 100,000 frames by hand)."""

from __future__ import annotations

import sys

import pytest

from engine.node import cli
from tests.conftest import ROOT

sys.path.insert(0, str(ROOT / "scripts"))
import fuzz_inputs  # noqa: E402


@pytest.fixture(scope="module")
def cases(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("bad")
    return tmp, {c[0]: c for c in fuzz_inputs.cli_cases(tmp)}


def _names():
    import tempfile
    from pathlib import Path

    with tempfile.TemporaryDirectory() as d:
        return [c[0] for c in fuzz_inputs.cli_cases(Path(d))]


@pytest.mark.parametrize("name", _names())
def test_bad_input_is_one_line_and_an_exit_code(cases, name, capsys, monkeypatch):
    tmp, by_name = cases
    _, argv, want, *say = by_name[name]
    monkeypatch.setattr(cli, "_setup_logging", lambda *a, **k: None)  # keep pytest's capture
    monkeypatch.chdir(tmp)
    try:
        code = cli.main(argv)
    except SystemExit as exc:  # argparse
        code = exc.code
    out, err = capsys.readouterr()
    assert code == want, err[-500:]
    if say:
        assert say[0] in out + err
    else:
        lines = [ln for ln in err.splitlines() if "error:" in ln]
        assert len(lines) == 1, err[-500:]
        assert len(lines[0]) < 400  # one line, not a dump
    assert "Traceback" not in err


def test_mutated_frames_are_counted_and_the_untouched_book_agrees():
    got = fuzz_inputs.run_frames(3000, seed=11)
    assert not got["crashes"] and got["frames_mutated"] == 3000
    assert got["frames_malformed"] > 2000  # most mutations break the frame
    assert got["books"] == ["BTC/USDT:USDT", "ETH/USDT:USDT"]  # no phantom book
    assert got["untouched_bbo_agreement"] == 1.0 and got["untouched_bbo_compared"] > 5000
