"""The risk guard: pure checks on the projected post-trade state, and the trading state."""
