"""Execution: market units, order planning, TWAP/VWAP schedules, parent orders."""
