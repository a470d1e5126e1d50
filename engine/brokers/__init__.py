"""Brokers behind one interface: paper (fills on the local book), live (ccxt.pro, later)."""
