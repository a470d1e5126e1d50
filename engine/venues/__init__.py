"""Venue-specific code, one package per venue: request weights and limits, error codes, quirks.

Nothing outside this package (and the wire decoders in `engine.feeds`) names a venue's codes.
"""
