"""Ballast: an asyncio engine that keeps a crypto spot + perpetual portfolio at its target risk."""

__version__ = "0.1.0"
