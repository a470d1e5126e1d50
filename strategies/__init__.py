"""Allocation policies: portfolio state in, target net exposures out (pure)."""
