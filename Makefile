# Two commands on a fresh machine: `make demo` and `make test`. Both build .venv themselves.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: demo backtest verify-books test bench install clean

# The compiled cores (Cython, engine/**/*.pyx) are built by the install: a changed .pyx reinstalls.
PYX := $(wildcard engine/*/*.pyx engine/*/*/*.pyx)

$(STAMP): pyproject.toml setup.py $(PYX)
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test]'
	touch $(STAMP)

install: $(STAMP)

DEMO_JOURNAL ?= out/demo.sqlite

# The seeds' case on the bundled spot + USD-M captures: a spot core held at 75/25 stays put while
# perps bring net exposure to 60/40 by TWAP on the recorded books (paper fills).
demo: $(STAMP)
	@mkdir -p $(dir $(DEMO_JOURNAL))
	@rm -f $(DEMO_JOURNAL) $(DEMO_JOURNAL)-wal $(DEMO_JOURNAL)-shm
	$(PY) -m engine --log-level error run --config configs/demo.toml --mode replay \
		--journal $(DEMO_JOURNAL) --log-format text

# Rebalancing policies against buy-and-hold on the bundled 5-year daily bars (HTML in out/).
backtest: $(STAMP)
	$(PY) -m engine --log-level error backtest --config configs/backtest_daily.toml

verify-books: $(STAMP)
	$(PY) -m engine replay scripts/data/hftbacktest/usdm/btcusdt_20240808.gz \
		scripts/data/hftbacktest/usdm/ethusdt_20240808.gz \
		scripts/data/hftbacktest/spot/btcusdt_20240808.gz \
		scripts/data/hftbacktest/spot/ethusdt_20240808.gz --verify

test: $(STAMP)
	@bash scripts/ensure_browser.sh
	$(PY) -m pytest -q

bench: $(STAMP)
	$(PY) scripts/bench/replay.py
	$(PY) scripts/bench/trigger_latency.py
	$(PY) scripts/bench/execution.py
	$(PY) scripts/bench/journal.py
	$(PY) scripts/bench/backtest.py

clean:
	rm -rf $(VENV) .pytest_cache .hypothesis build
	find engine \( -name '*.so' -o -name '*.c' \) -delete  # the compiled cores' build output
